"""The notebooks run top to bottom on a tiny configuration (as Colab would run them),
print the figures their text states, and leave nothing in their working folder."""

import ast
import os
import pathlib
import re

import nbformat
import pytest
from nbclient import NotebookClient

from mmzoo.weights import shipped_weights
from tools.make_notebooks import NOTEBOOKS, build

NOTEBOOK_DIR = pathlib.Path(__file__).resolve().parents[1] / "notebooks"


def execute(name, shared_data, tmp_path, monkeypatch):
    """(markdown text with single spaces, printed text) of notebook `name` run in
    `tmp_path`."""
    monkeypatch.setenv("MMZOO_NOTEBOOK_TINY", "1")
    monkeypatch.setenv("MMZOO_DATA_DIR", str(shared_data))
    monkeypatch.setenv("MMZOO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    notebook = nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)
    client = NotebookClient(notebook, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    markdown = " ".join(" ".join(cell.source.split()) for cell in notebook.cells
                        if cell.cell_type == "markdown")  # one space between words
    printed = "".join(output.get("text", "") for cell in notebook.cells
                      if cell.cell_type == "code" for output in cell.get("outputs", []))
    assert sorted(os.listdir(tmp_path)) == ["cache"], "the notebook wrote into its folder"
    assert not (NOTEBOOK_DIR / "exported").exists()
    return markdown, printed


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_notebook_files_are_what_the_generator_writes(name):
    stored = nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)
    assert nbformat.writes(stored) == nbformat.writes(build(name, NOTEBOOKS[name])), \
        "run: python tools/make_notebooks.py"


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_colab_install_cell_names_no_made_up_address(name):
    install = build(name, NOTEBOOKS[name]).cells[1].source
    assert "MMZOO_SOURCE = None" in install and "files.upload()" in install
    assert "pip wheel --no-deps" in install
    assert not re.search(r"https?://", install)


@pytest.mark.slow  # a minute or two each
def test_finetune_sentiment_prints_what_its_text_states(shared_data, tmp_path, monkeypatch):
    markdown, printed = execute("finetune_sentiment", shared_data, tmp_path, monkeypatch)
    # Evaluated on the whole test split in every run, so the text's figures are exact.
    assert "noisy test accuracy before fine-tuning: 0.1131 (macro F1 0.0226)" in printed
    assert "shipped avdigits_noisy weights: 0.6233 (recorded 0.6233)" in printed
    for figure in ("0.1131", "0.0226", "0.6233"):
        assert figure in markdown
    after = float(re.search(r"after fine-tuning: ([\d.]+)", printed).group(1))
    assert "the test suite's run, 1 + 1 epochs on 512 pairs, ends above 0.25" in markdown
    assert 0.25 < after < 0.6233
    assert "the SavedModel agrees with the Python pipeline" in printed


@pytest.mark.slow  # a minute or two each
def test_vqa_quickstart_prints_what_its_text_states(shared_data, tmp_path, monkeypatch):
    if "easy_vqa" not in shipped_weights("vqa_san"):
        pytest.skip("vqa_san has no shipped easy_vqa weights")
    markdown, printed = execute("vqa_quickstart", shared_data, tmp_path, monkeypatch)
    assert "All three pictures are answered correctly" in markdown
    for line in ["red circle: ['red', 'circle', 'yes', 'no']",
                 "blue rectangle: ['blue', 'rectangle', 'no', 'yes']",
                 "green triangle: ['green', 'triangle', 'no', 'yes']"]:
        assert line in printed.splitlines()
    assert "a 192x128 yellow circle is still yellow" in markdown
    assert "big: [{'answer': 'yellow'" in printed
    assert "a black triangle to the model" in markdown
    assert "gray: ['triangle', 'black']" in printed
    assert "keeps them at 0.99 or above" in markdown
    for stage in ("before", "after"):
        line = next(l for l in printed.splitlines() if l.startswith(f"{stage}: "))
        accuracies = ast.literal_eval(line.split(": ", 1)[1])
        assert accuracies["accuracy"] >= 0.99, line
    assert "VQAPipeline(model='vqa', preset='vqa_san', data='easy_vqa'" in printed
    assert "the SavedModel agrees with the Python pipeline" in printed


def _flickr8k_weights_shipped():
    return any("flickr8k" in shipped_weights(p) for p in ("caption_sat", "caption_transformer"))


def test_flickr8k_notebook_cells_are_what_the_generator_writes():
    """The Flickr8k notebook keeps its outputs (real captions and searches): its cells'
    sources are the generator's, and its install cell names no made-up address."""
    from tools.make_flickr8k_notebook import NOTEBOOK, cells_with_presets

    if not _flickr8k_weights_shipped():
        pytest.skip("no flickr8k weights shipped")
    stored = nbformat.read(NOTEBOOK, as_version=4)
    expected = cells_with_presets()
    assert [(c.cell_type, c.source) for c in stored.cells] == expected, \
        "run: python -m tools.make_flickr8k_notebook"
    install = expected[1][1]
    assert "MMZOO_SOURCE = None" in install and not re.search(r"https?://", install)
    printed = "".join(o.get("text", "") for c in stored.cells if c.cell_type == "code"
                      for o in c.get("outputs", []))
    assert "the SavedModel agrees with the Python pipeline" in printed  # it was run


@pytest.mark.slow  # ~40 s: the captioner's export traces its beam search
def test_flickr8k_notebook_runs_on_the_first_validation_photos(shared_data, tmp_path,
                                                               monkeypatch):
    if not _flickr8k_weights_shipped():
        pytest.skip("no flickr8k weights shipped")
    (tmp_path / "cache").mkdir()  # nothing is cached here (execute checks the folder)
    _, printed = execute("flickr8k_caption_search", shared_data, tmp_path, monkeypatch)
    assert "40 validation photos" in printed
    assert printed.count("generated: ") == 8
    assert "the SavedModel agrees with the Python pipeline" in printed
