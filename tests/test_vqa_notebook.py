"""notebooks/vqa_quickstart.ipynb runs top to bottom on a tiny configuration."""

import pathlib

import nbformat
import pytest
from nbclient import NotebookClient

from mmzoo.weights import shipped_weights

NOTEBOOK = pathlib.Path(__file__).resolve().parents[1] / "notebooks" / "vqa_quickstart.ipynb"


def test_vqa_quickstart_notebook_executes(shared_data, tmp_path, monkeypatch):
    if "easy_vqa" not in shipped_weights("vqa_san"):
        pytest.skip("vqa_san has no shipped easy_vqa weights")
    monkeypatch.setenv("MMZOO_NOTEBOOK_TINY", "1")
    monkeypatch.setenv("MMZOO_DATA_DIR", str(shared_data))
    monkeypatch.setenv("MMZOO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(notebook, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = "".join(output.get("text", "") for cell in notebook.cells
                      if cell.cell_type == "code" for output in cell.get("outputs", []))
    assert "the SavedModel agrees with the Python pipeline" in outputs
    assert "red circle:" in outputs
    assert (tmp_path / "exported" / "vqa_san" / "saved_model.pb").is_file()
