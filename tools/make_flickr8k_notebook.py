"""Writes notebooks/flickr8k_caption_search.ipynb from the cells below, and executes it
(the shipped Flickr8k weights on the shared data) so that it shows real outputs.

    python -m tools.make_flickr8k_notebook [--data-dir ../shared/data] [--no-run]
"""

import argparse
import os
import pathlib

import nbformat

from tools.make_notebooks import INSTALL, build

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "flickr8k_caption_search.ipynb"

CELLS = [
    ("markdown", """# Caption and search photos with mmzoo's Flickr8k models

The shipped `flickr8k` weights: a captioner and a dual encoder, both on pretrained
encoders (EfficientNet-Lite0 for images; GloVe word vectors for the caption decoder,
MiniLM for the retriever's texts), trained on the 6,378 training photos of Flickr8k
(the folder holds no official test photo). Everything below runs on the first photos of
the **validation** split, in file order: nothing is picked. Runs on a CPU in a few
minutes (Colab: Runtime > Run all; point `DATA_DIR` at a Flickr8k folder:
`captions.txt` + `images/`)."""),
    ("code", INSTALL),
    ("code", """import csv
import os
import pathlib

import numpy as np
import tensorflow as tf

import mmzoo
from mmzoo.datasets.flickr8k import split_of_image

TINY = os.environ.get("MMZOO_NOTEBOOK_TINY") == "1"  # set by the test suite
DATA_DIR = pathlib.Path(os.environ.get("MMZOO_DATA_DIR", "../../shared/data")) / "flickr8k"

captions = {}
with open(DATA_DIR / "captions.txt", newline="", encoding="utf-8") as handle:
    for row in list(csv.reader(handle))[1:]:
        captions.setdefault(row[0], []).append(",".join(row[1:]).strip())
validation = [name for name in captions if split_of_image(name) == "validation"]
if TINY:
    validation = validation[:40]
paths = [str(DATA_DIR / "images" / name) for name in validation]
print(len(paths), "validation photos")"""),
    ("markdown", """## Captions

`mmzoo.pipeline(preset, weights="flickr8k")` takes file paths, bytes or arrays; the
default decoding is the preset's beam search (width 3)."""),
    ("code", """captioner = "{captioner}"  # the captioning preset with flickr8k weights
caption = mmzoo.pipeline(captioner, weights="flickr8k")
for path, result in zip(paths[:8], caption(image=paths[:8])):
    name = pathlib.Path(path).name
    print(f"{name}\\n  generated: {result[0]['generated_text']}\\n"
          f"  reference: {captions[name][0]}")"""),
    ("code", """# Other decodings of the first photo: greedy, wider beams, sampling.
for options in ({"num_beams": 1}, {"num_beams": 5},
                {"temperature": 0.8, "top_k": 20, "seed": 1}):
    print(options, caption(image=paths[0], **options)[0]["generated_text"])"""),
    ("markdown", """## Search

The retriever embeds photos and texts into one space: an index of the validation photos,
searched with free text and with each photo's own first caption (the own photo in
`**`), and zero-shot labels."""),
    ("code", """retriever = "{retriever}"  # the retrieval preset with flickr8k weights
retrieve = mmzoo.pipeline(retriever, weights="flickr8k")
index = retrieve.index(images=paths, verbose=0)
for query in ["a dog running in the snow", "children playing on a beach",
              "a man riding a bike on a dirt path"]:
    found = retrieve.search(text=query, index=index, k=3)
    print(query, "->", [(pathlib.Path(r["item"]).name, round(r["score"], 2)) for r in found])"""),
    ("code", """found = retrieve.search(text=[captions[n][0] for n in validation[:6]], index=index, k=3)
for name, row in zip(validation, found):
    names = [pathlib.Path(r["item"]).name for r in row]
    print(captions[name][0], "->", [f"**{n}**" if n == name else n for n in names])"""),
    ("code", """labels = ["dog", "cat", "horse", "child", "beach", "snow", "water", "grass",
          "mountain", "city street", "bicycle"]
for name, result in zip(validation[:6], retrieve(paths[:6], candidate_labels=labels)):
    print(name, [(r["label"], round(r["score"], 2)) for r in result[:3]],
          "|", captions[name][0])"""),
    ("markdown", """## Export: beam search inside the SavedModel

`mmzoo.export` writes a SavedModel whose default signature takes encoded image bytes
and returns captions, decoded by beam search inside the graph; a plain TensorFlow process
serves it without mmzoo."""),
    ("code", """import tempfile

folder = tempfile.mkdtemp()
mmzoo.export(mmzoo.load(captioner, weights="flickr8k"), f"{folder}/captioner")
served = tf.saved_model.load(f"{folder}/captioner").signatures["serving_default"]
raw = tf.constant([tf.io.read_file(p).numpy() for p in paths[:3]])
from_saved = [c.decode() for c in served(image=raw)["captions"].numpy()]
from_python = [r[0]["generated_text"] for r in caption(image=paths[:3])]
print(from_saved)
assert from_saved == from_python
print("the SavedModel agrees with the Python pipeline")"""),
]


def shipped(task):
    """The preset of `task` that ships `flickr8k` weights."""
    import mmzoo
    from mmzoo.weights import shipped_weights

    return next(p for p in mmzoo.list_models(task=task) if "flickr8k" in shipped_weights(p))


def cells_with_presets(cells=CELLS):
    """CELLS with the shipped captioning and retrieval presets' names filled in."""
    names = {"captioner": shipped("captioner"), "retriever": shipped("retriever")}
    return [(kind, source.replace("{captioner}", names["captioner"])
             .replace("{retriever}", names["retriever"])) for kind, source in cells]


def write(path, cells):
    notebook = build(NOTEBOOK.stem, cells_with_presets(cells))
    nbformat.write(notebook, path)
    return notebook


def without_logs(notebook):
    """The notebook without TensorFlow's logs (start-up lines on stderr, retracing
    warnings): what is kept is what the cells print and return."""
    def is_log(output):
        return output.get("name") == "stderr" or all(
            line.startswith("WARNING:tensorflow:")
            for line in output.get("text", "").splitlines() if line) and output.get("text")

    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if not is_log(o)]
    return notebook


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--no-run", action="store_true")
    args = parser.parse_args()
    notebook = write(NOTEBOOK, CELLS)
    if not args.no_run:
        from nbclient import NotebookClient

        os.environ["MMZOO_DATA_DIR"] = args.data_dir
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        NotebookClient(notebook, timeout=1800, kernel_name="python3",
                       resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
        nbformat.write(without_logs(notebook), NOTEBOOK)
    print(f"wrote {NOTEBOOK}")


if __name__ == "__main__":
    main()
