"""The notebooks run top to bottom on a tiny configuration (as Colab would run them)."""

import pathlib

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = pathlib.Path(__file__).resolve().parents[1] / "notebooks"


@pytest.mark.parametrize("name", ["finetune_sentiment.ipynb"])
def test_notebook_executes(name, shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("MMZOO_NOTEBOOK_TINY", "1")
    monkeypatch.setenv("MMZOO_DATA_DIR", str(shared_data))
    monkeypatch.setenv("MMZOO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(notebook, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = "".join(output.get("text", "") for cell in notebook.cells
                      if cell.cell_type == "code" for output in cell.get("outputs", []))
    assert "the SavedModel agrees with the Python pipeline" in outputs
    assert (tmp_path / "exported").is_dir()
