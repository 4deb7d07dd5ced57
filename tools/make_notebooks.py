"""Writes notebooks/finetune_sentiment.ipynb from the cells below (run after edits).

    python tools/make_notebooks.py
"""

import pathlib

import nbformat

ROOT = pathlib.Path(__file__).resolve().parents[1]

FINETUNE = [
    ("markdown", """# Fine-tune a multimodal classifier with mmzoo

Load a preset with shipped weights, fine-tune it on a harder data set, evaluate, export a
SavedModel that takes raw PNG and WAV bytes, reload it with plain TensorFlow and predict.

The data is AV-digits: an MNIST digit image paired with a spoken recording of the same
digit (Free Spoken Digit Dataset). The shipped `avdigits` weights were trained on clean
pairs; here we fine-tune them on `avdigits/noisy`, where images are occluded and noisy
and recordings carry white noise, so that neither modality alone is enough.
Runs on a CPU in a few minutes (Colab: Runtime > Run all)."""),
    ("code", """# Colab only: install mmzoo (elsewhere, install it with pip first).
import sys
if "google.colab" in sys.modules:
    !pip install -q "git+https://github.com/mmzoo/mmzoo" """),
    ("code", """import os
import pathlib
import urllib.request

import numpy as np
import tensorflow as tf

import mmzoo

TINY = os.environ.get("MMZOO_NOTEBOOK_TINY") == "1"  # set by the test suite
DATA_DIR = pathlib.Path(os.environ.get("MMZOO_DATA_DIR", "../../shared/data"))
EXAMPLES = 96 if TINY else None                      # None: whole splits
EPOCHS = 1 if TINY else 3"""),
    ("markdown", """## Data

`mmzoo.datasets.load("avdigits/noisy", ...)` needs a folder holding `mnist/` and `fsdd/`.
Without one (e.g. on Colab), the next cell downloads both public sources."""),
    ("code", """if not (DATA_DIR / "fsdd").is_dir():
    DATA_DIR = pathlib.Path("data")
    (DATA_DIR / "mnist").mkdir(parents=True, exist_ok=True)
    for name, target in [("t10k-images-idx3-ubyte.gz", "images-idx3-ubyte.gz"),
                         ("t10k-labels-idx1-ubyte.gz", "labels-idx1-ubyte.gz")]:
        urllib.request.urlretrieve(
            f"https://storage.googleapis.com/cvdf-datasets/mnist/{name}",
            DATA_DIR / "mnist" / target)
    !git clone -q --depth 1 https://github.com/Jakobovski/free-spoken-digit-dataset /tmp/fsdd
    !mkdir -p {DATA_DIR}/fsdd && cp -r /tmp/fsdd/recordings {DATA_DIR}/fsdd/

def split(name, part):
    dataset = mmzoo.datasets.load(name, part, data_dir=str(DATA_DIR))
    if EXAMPLES:
        dataset = dataset.take(EXAMPLES)
    return dataset.batch(32).prefetch(tf.data.AUTOTUNE)

train = split("avdigits/noisy", "train").cache()
validation = split("avdigits/noisy", "validation")
test = split("avdigits/noisy", "test")
print(mmzoo.datasets.info("avdigits/noisy", data_dir=str(DATA_DIR))["splits"])"""),
    ("markdown", """## Load a preset with shipped weights

`sentiment_late` is a late-fusion classifier: an image CNN and a log-mel audio CNN,
each with its own head, logits averaged with learned weights. The clean weights are
a strong start, but the noisy data is new to them."""),
    ("code", """model = mmzoo.load("sentiment_late", weights="avdigits")
print(model.modalities, model.labels)
before = model.evaluate_dataset(test)
print("noisy test accuracy before fine-tuning:", round(before["accuracy"], 4))"""),
    ("markdown", """## Fine-tune

First train the fusion and heads with the backbones frozen (their BatchNorm statistics
stay put), then unfreeze everything with a smaller learning rate."""),
    ("code", """import keras

mmzoo.freeze_backbones(model)
model.fit(train, validation_data=validation, epochs=EPOCHS)
mmzoo.freeze_backbones(model, trainable=True)
model.compile(optimizer=keras.optimizers.Adam(1e-4))
model.fit(train, validation_data=validation, epochs=EPOCHS)
after = model.evaluate_dataset(test)
print("noisy test accuracy after fine-tuning:", round(after["accuracy"], 4))"""),
    ("markdown", """## Missing modalities

Call the model with any subset of its inputs: the missing modality is masked inside the
fusion layer."""),
    ("code", """inputs, labels = next(iter(test))
for name, subset in [("image + audio", inputs),
                     ("image only", {"image": inputs["image"]}),
                     ("audio only", {"audio": inputs["audio"]})]:
    predicted = model.predict(subset, verbose=0).argmax(-1)
    print(f"{name:<14} accuracy on one batch: {np.mean(predicted == labels.numpy()):.2f}")"""),
    ("markdown", """## Export and serve

The SavedModel's `serving_default` takes encoded image bytes and WAV bytes, so a served
model needs neither mmzoo nor any preprocessing code."""),
    ("code", """export_dir = pathlib.Path("exported/sentiment_late_noisy")
mmzoo.export(model, export_dir)

served = tf.saved_model.load(str(export_dir)).signatures["serving_default"]
samples = pathlib.Path(mmzoo.__file__).parent / "samples" / "avdigits"
images = [(samples / f"digit_{d}.png").read_bytes() for d in range(10)]
audios = [(samples / f"digit_{d}.wav").read_bytes() for d in range(10)]
outputs = served(image=tf.constant(images), audio=tf.constant(audios))
print("served labels:", [label.decode() for label in outputs["label"].numpy()])

classify = mmzoo.pipeline(model)
python_side = classify(image=[samples / f"digit_{d}.png" for d in range(10)],
                       audio=[str(samples / f"digit_{d}.wav") for d in range(10)])
assert [row[0]["label"] for row in python_side] == [
    label.decode() for label in outputs["label"].numpy()]
print("the SavedModel agrees with the Python pipeline")"""),
]


def write(path, cells):
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    notebook.metadata["colab"] = {"provenance": []}
    notebook.cells = [nbformat.v4.new_markdown_cell(source) if kind == "markdown"
                      else nbformat.v4.new_code_cell(source) for kind, source in cells]
    nbformat.write(notebook, path)
    print(f"wrote {path}")


if __name__ == "__main__":
    write(ROOT / "notebooks" / "finetune_sentiment.ipynb", FINETUNE)
