"""Writes notebooks/*.ipynb from the cells below (run after edits; outputs are not kept).

    python tools/make_notebooks.py

tests/test_notebooks.py executes both on a tiny configuration and checks the figures
their text states; tests/test_notebooks.py also checks that these files are what this
script writes.
"""

import pathlib

import nbformat

ROOT = pathlib.Path(__file__).resolve().parents[1]

# mmzoo is not on PyPI: a notebook on Colab installs the wheel the user uploads, or the
# pip source the user names. No address is made up here.
INSTALL = """# Colab only: install mmzoo (elsewhere, `pip install` it first). mmzoo is not on PyPI:
# build its wheel in a checkout (`pip wheel --no-deps -w dist .`) and upload it when
# asked, or set MMZOO_SOURCE to a pip source you can reach (a wheel URL, a git URL).
import sys

MMZOO_SOURCE = None
if "google.colab" in sys.modules:
    if MMZOO_SOURCE is None:
        from google.colab import files
        MMZOO_SOURCE = next(iter(files.upload()))  # mmzoo-<version>-py3-none-any.whl
    !pip install -q "{MMZOO_SOURCE}\""""

FINETUNE = [
    ("markdown", """# Fine-tune a multimodal classifier with mmzoo

Load a preset with shipped weights, fine-tune it on a harder data set, evaluate, export a
SavedModel that takes raw PNG and WAV bytes, reload it with plain TensorFlow and predict.

The data is AV-digits: an MNIST digit image paired with a spoken recording of the same
digit (Free Spoken Digit Dataset). The shipped `avdigits` weights were trained on clean
pairs (test accuracy 0.9856); here we fine-tune them on `avdigits/noisy`, where images
are occluded and drowned in pixel noise and recordings carry white noise, so that
neither modality alone is enough. A full run takes about 10 minutes on a CPU
(Colab: Runtime > Run all)."""),
    ("code", INSTALL),
    ("code", """import os
import pathlib
import tempfile
import urllib.request

import numpy as np

import mmzoo
from mmzoo.quiet import import_tensorflow

tf = import_tensorflow()  # `import tensorflow as tf` without its start-up logs

TINY = os.environ.get("MMZOO_NOTEBOOK_TINY") == "1"  # set by the test suite
DATA_DIR = pathlib.Path(os.environ.get("MMZOO_DATA_DIR", "../../shared/data"))
EXAMPLES = 512 if TINY else None                     # training pairs; None: all 6,364
EPOCHS = 1 if TINY else 3"""),
    ("markdown", """## Data

`mmzoo.datasets.load("avdigits/noisy", ...)` needs a folder holding `mnist/` and `fsdd/`.
Without one (e.g. on Colab), the next cell downloads both public sources. The test
split is always used whole (831 pairs), so the figures below compare."""),
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

def split(name, part, examples=None):
    dataset = mmzoo.datasets.load(name, part, data_dir=str(DATA_DIR))
    if examples:
        dataset = dataset.take(examples)
    return dataset.batch(32).prefetch(tf.data.AUTOTUNE)

train = split("avdigits/noisy", "train", EXAMPLES)
validation = split("avdigits/noisy", "validation", EXAMPLES)
test = split("avdigits/noisy", "test")
print(mmzoo.datasets.info("avdigits/noisy", data_dir=str(DATA_DIR))["splits"])"""),
    ("markdown", """## Load a preset with shipped weights

`sentiment_late` is a late-fusion classifier: an image CNN and a log-mel audio CNN,
each with its own head, logits averaged with learned weights. The clean weights are no
head start on this data: on the noisy test split they score 0.1131, chance level, and
their macro F1 of 0.0226 says that they give nearly every pair the same class. Noise
this strong moves the inputs far from anything they were trained on."""),
    ("code", """model = mmzoo.load("sentiment_late", weights="avdigits")
print(model.modalities, model.labels)
before = model.evaluate_dataset(test)
print(f"noisy test accuracy before fine-tuning: {before['accuracy']:.4f} "
      f"(macro F1 {before['macro_f1']:.4f})")"""),
    ("markdown", """## Fine-tune

First train the fusion and heads with the backbones frozen (their BatchNorm statistics
stay put), then unfreeze everything with a smaller learning rate: 3 epochs each on the
6,364 noisy training pairs. A full run ends at about 0.52 on the test split (0.5199 in
the run that wrote this text; the test suite's run, 1 + 1 epochs on 512 pairs, ends
above 0.25)."""),
    ("code", """import keras

mmzoo.freeze_backbones(model)
model.fit(train, validation_data=validation, epochs=EPOCHS)
mmzoo.freeze_backbones(model, trainable=True)
model.compile(optimizer=keras.optimizers.Adam(1e-4))
model.fit(train, validation_data=validation, epochs=EPOCHS)
after = model.evaluate_dataset(test)
print(f"noisy test accuracy after fine-tuning: {after['accuracy']:.4f}")"""),
    ("markdown", """## Compare with weights trained on the noisy data

The shipped `avdigits_noisy` weights of the same preset were trained from scratch on the
noisy pairs (12 epochs, the best by validation loss kept): 0.6233 on the same test
split. A short fine-tune of the clean weights does not reach them; when the inputs
change this much, the clean features are no shortcut."""),
    ("code", """trained_on_noise = mmzoo.load("sentiment_late", weights="avdigits_noisy")
scratch = trained_on_noise.evaluate_dataset(test)
print(f"shipped avdigits_noisy weights: {scratch['accuracy']:.4f} (recorded "
      f"{trained_on_noise.weights_metadata['metrics']['test_accuracy']:.4f})")"""),
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
model needs neither mmzoo nor any preprocessing code. It is written to a temporary
folder; copy it to wherever you serve models from."""),
    ("code", """export_dir = pathlib.Path(tempfile.mkdtemp(prefix="mmzoo-")) / "sentiment_late_noisy"
mmzoo.export(model, export_dir)
print("exported to", export_dir)

served = tf.saved_model.load(str(export_dir)).signatures["serving_default"]
samples = pathlib.Path(mmzoo.__file__).parent / "samples" / "avdigits"
images = [(samples / f"digit_{d}.png").read_bytes() for d in range(10)]
audios = [(samples / f"digit_{d}.wav").read_bytes() for d in range(10)]
outputs = served(image=tf.constant(images), audio=tf.constant(audios))
print("served labels:", [label.decode() for label in outputs["label"].numpy()])

classify = mmzoo.pipeline(model)
python_side = classify(image=[f"sample:digit_{d}" for d in range(10)],
                       audio=[f"sample:digit_{d}" for d in range(10)])
assert [row[0]["label"] for row in python_side] == [
    label.decode() for label in outputs["label"].numpy()]
print("the SavedModel agrees with the Python pipeline")"""),
]

VQA = [
    ("markdown", """# Visual question answering with mmzoo

Ask questions about images with a trained model, fine-tune it on a few examples, and
export a SavedModel that takes PNG/JPEG bytes and question strings.

The model is `vqa_san`, a Stacked Attention Network (Yang et al. 2016): a small CNN
turns the image into an 8x8 grid of features, a BiGRU encodes the question, and two
attention hops pick the grid cells that matter for the question. Its shipped
`easy_vqa` weights were trained on easy-VQA (64x64 images of one shape; 13 answers).
Runs on a CPU in a few minutes (Colab: Runtime > Run all)."""),
    ("code", INSTALL),
    ("code", """import os
import pathlib
import tempfile

import numpy as np

import mmzoo
from mmzoo.quiet import import_tensorflow

tf = import_tensorflow()  # `import tensorflow as tf` without its start-up logs

TINY = os.environ.get("MMZOO_NOTEBOOK_TINY") == "1"  # set by the test suite
DATA_DIR = pathlib.Path(os.environ.get("MMZOO_DATA_DIR", "../../shared/data"))
EXAMPLES = 64 if TINY else 2000                      # fine-tuning questions
EPOCHS = 1 if TINY else 2"""),
    ("markdown", """## Load the trained model

`mmzoo.load` builds the preset and loads its shipped weights (checked against their
sha256); the answer vocabulary and the question vocabulary come with them."""),
    ("code", """model = mmzoo.load("vqa_san", weights="easy_vqa")
print("answers:", model.answers)
print("recorded metrics:", {k: round(v, 4) for k, v in model.weights_metadata["metrics"].items()
                            if k.endswith("accuracy")})"""),
    ("markdown", """## Ask questions

`mmzoo.pipeline` takes images as paths, encoded bytes or arrays (grayscale and RGBA are
converted, any size is resized) and questions as strings. One image with several
questions is answered once per question. Here we draw our own pictures with NumPy, in
easy-VQA's style: one flat shape on a pale background, in one of its eight colours (its
green is pure green: a darker green, (30, 170, 60), is answered "teal"). All three
pictures are answered correctly: the colour, the shape, and both yes/no questions."""),
    ("code", """COLOURS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255),
           "black": (0, 0, 0), "gray": (128, 128, 128), "teal": (0, 128, 128),
           "brown": (165, 42, 42), "yellow": (255, 255, 0)}  # easy-VQA's colours

def picture(shape, colour, size=64, centre=(30, 34), radius=13):
    \"\"\"One flat shape on a pale background, like easy-VQA's images.\"\"\"
    rows, cols = np.mgrid[:size, :size] + 0.5
    cy, cx = centre
    if shape == "circle":
        mask = (rows - cy) ** 2 + (cols - cx) ** 2 <= radius ** 2
    elif shape == "rectangle":
        mask = (abs(rows - cy) <= radius * 0.7) & (abs(cols - cx) <= radius)
    else:  # triangle
        top, bottom = cy - radius, cy + radius * 0.8
        mask = (rows >= top) & (rows <= bottom) & (
            abs(cols - cx) <= (rows - top) * radius / (bottom - top))
    image = np.empty((size, size, 3), np.uint8)
    image[:] = (245, 240, 235)
    image[mask] = COLOURS[colour]
    return image

answer = mmzoo.pipeline(model)
print(answer)
questions = ["what color is the shape?", "what shape is in the image?",
             "is there a red shape?", "does the image not contain a circle?"]
for shape, colour in [("circle", "red"), ("rectangle", "blue"), ("triangle", "green")]:
    replies = answer(image=picture(shape, colour), question=questions)
    print(f"{colour} {shape}:", [r[0]["answer"] for r in replies])"""),
    ("markdown", """Other sizes are resized (a 192x128 yellow circle is still yellow); a grayscale
image is repeated to RGB (a blue triangle in gray levels is a black triangle to the
model); unknown words become `[UNK]` and an empty question is answered from the image
alone, so their answers are guesses."""),
    ("code", """big = np.kron(picture("circle", "yellow"), np.ones((3, 2, 1), np.uint8))  # 192 x 128
print("big:", answer(image=big, question="what color is the shape?", top_k=3))
gray = picture("triangle", "blue").mean(-1).astype(np.uint8)
print("gray:", [r[0]["answer"] for r in answer(
    image=gray, question=["what shape is in the image?", "what color is the shape?"])])
print(answer(image=picture("circle", "red"), question="zorgle the blip?"))
print(answer(image=picture("circle", "red"), question=""))"""),
    ("markdown", """## Evaluate and fine-tune on a small set

The easy-VQA folder (`answers.txt`, `train/questions.json`, `train/images/`) comes from
the shared data folder, or from the easy-VQA repository on Colab. The loader holds out
a validation split by image id. The shipped weights are near perfect there (recorded:
0.9997), and a short fine-tune with the backbones frozen keeps them at 0.99 or above."""),
    ("code", """easy_vqa = DATA_DIR / "easy_vqa"
if not (easy_vqa / "answers.txt").exists():
    !git clone -q --depth 1 https://github.com/vzhou842/easy-VQA /tmp/easy-VQA
    easy_vqa = pathlib.Path("/tmp/easy-VQA/easy_vqa/data")

train = (mmzoo.datasets.load("easy_vqa", "train", data_dir=str(easy_vqa))
         .shuffle(4096, seed=0, reshuffle_each_iteration=False)  # the same questions
         .take(EXAMPLES).batch(32))                               # in every epoch
validation = mmzoo.datasets.load("easy_vqa", "validation", data_dir=str(easy_vqa))
validation = validation.take(256 if TINY else 3732).batch(64)
before = model.evaluate_dataset(validation)
print("before:", {k: round(v, 4) for k, v in before.items() if k.endswith("accuracy")})"""),
    ("code", """import keras

mmzoo.freeze_backbones(model)            # keep the CNN and the question encoder
model.compile(optimizer=keras.optimizers.Adam(3e-4))
model.fit(train, epochs=EPOCHS)          # raw strings and answer strings: fit maps them
after = model.evaluate_dataset(validation)
print("after:", {k: round(v, 4) for k, v in after.items() if k.endswith("accuracy")})"""),
    ("markdown", """## Export and serve

The SavedModel's `serving_default` takes encoded image bytes and question strings and
returns the top answers with their scores; `serve_tensors` takes the model's own
tensors and returns every answer's score. Serving needs neither mmzoo nor any
preprocessing code. It is written to a temporary folder; copy it to wherever you serve
models from."""),
    ("code", """export_dir = pathlib.Path(tempfile.mkdtemp(prefix="mmzoo-")) / "vqa_san"
mmzoo.export(model, export_dir)
print("exported to", export_dir)

served = tf.saved_model.load(str(export_dir)).signatures["serving_default"]
images = [tf.io.encode_png(picture(s, c)).numpy()
          for s, c in [("circle", "red"), ("rectangle", "blue"), ("triangle", "green")]]
asked = ["what color is the shape?", "what shape is in the image?", "is there a blue shape?"]
outputs = served(image=tf.constant(images), question=tf.constant(asked))
served_answers = [row[0].decode() for row in outputs["answers"].numpy()]
print("served:", served_answers, outputs["scores"].numpy()[:, 0].round(3))

python_side = answer(image=images, question=asked)
assert served_answers == [row[0]["answer"] for row in python_side]
np.testing.assert_allclose(outputs["scores"].numpy()[:, 0],
                           [row[0]["score"] for row in python_side], atol=1e-5)
print("the SavedModel agrees with the Python pipeline")"""),
]

NOTEBOOKS = {"finetune_sentiment": FINETUNE, "vqa_quickstart": VQA}


def build(name, cells):
    """The notebook `name` made of `cells` (ids numbered, so rewrites diff cleanly)."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    notebook.metadata["colab"] = {"provenance": []}
    notebook.cells = [nbformat.v4.new_markdown_cell(source) if kind == "markdown"
                      else nbformat.v4.new_code_cell(source) for kind, source in cells]
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"{name}-{index:02d}"
    return notebook


def main():
    for name, cells in NOTEBOOKS.items():
        path = ROOT / "notebooks" / f"{name}.ipynb"
        nbformat.write(build(name, cells), path)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
