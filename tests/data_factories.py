"""Tiny fake data folders with the layouts of `shared/data/*`, for the dataset tests.

Every factory writes real files (PNG/JPEG via `tf.io.encode_*`, WAV via
`tf.audio.encode_wav`, gzip IDX with correct headers, a CSV written by the `csv` module)
and returns what it wrote so tests can compute the expected splits from the documented
rules. Pixel and sample values encode the label, so tests can check pairings:

- MNIST image of digit d: every pixel is `image_value(d)`; in easy-VQA / Flickr8k the
  images are plain colours too.
- FSDD recording of digit d: every sample is `audio_value(d)` (a DC level in [-1, 1]).
"""

import csv
import gzip
import json
import os
import pathlib
import struct

import numpy as np
import tensorflow as tf

from mmzoo.datasets import _common

EASY_VQA_ANSWERS = ["yes", "no", "circle", "rectangle", "red", "blue"]


def image_value(digit):
    return 10 + 20 * int(digit)


def audio_value(digit):
    return (int(digit) + 1) / 64.0


def digit_of_audio(waveform):
    return int(round(float(waveform[0]) * 64.0)) - 1


def digit_of_image(image):
    return int(round((float(np.median(image)) - 10) / 20.0))


def write_png(path, pixels):
    pixels = np.asarray(pixels, np.uint8)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    pathlib.Path(path).write_bytes(tf.io.encode_png(pixels).numpy())


def write_jpeg(path, pixels):
    pixels = np.asarray(pixels, np.uint8)
    pathlib.Path(path).write_bytes(tf.io.encode_jpeg(pixels, quality=95).numpy())


def write_wav(path, samples, sample_rate=8000):
    samples = np.asarray(samples, np.float32).reshape(-1, 1)
    pathlib.Path(path).write_bytes(tf.audio.encode_wav(samples, sample_rate).numpy())


def truncate(path, keep=0.5):
    """Cuts a file to `keep` of its bytes (a fraction) or to `keep` bytes (an int)."""
    data = pathlib.Path(path).read_bytes()
    size = keep if isinstance(keep, int) else int(len(data) * keep)
    pathlib.Path(path).write_bytes(data[:size])
    return path


# ----- easy-VQA -----------------------------------------------------------------------
def make_easy_vqa(root, num_images=30, questions_per_image=3, test_images=0, size=16):
    """`root/easy_vqa` with `num_images` train images (ids 0..n-1) and optionally a test/
    subfolder; returns `(folder, {"train": rows, "test": rows})`."""
    folder = pathlib.Path(root) / "easy_vqa"
    folder.mkdir(parents=True)
    (folder / "answers.txt").write_text("\n".join(EASY_VQA_ANSWERS) + "\n")
    written = {}
    for part, count in (("train", num_images), ("test", test_images)):
        if not count:
            continue
        (folder / part / "images").mkdir(parents=True)
        rows = []
        for image_id in range(count):
            colour = [(image_id * 37) % 256, (image_id * 91) % 256, 128]
            write_png(folder / part / "images" / f"{image_id}.png",
                      np.broadcast_to(np.array(colour, np.uint8), (size, size, 3)))
            for q in range(questions_per_image):
                answer = EASY_VQA_ANSWERS[(image_id + q) % len(EASY_VQA_ANSWERS)]
                rows.append([f"question {q} about image {image_id}?", answer, image_id])
        (folder / part / "questions.json").write_text(json.dumps(rows))
        written[part] = rows
    return folder, written


def easy_vqa_expected(written):
    """Questions per split by the documented rule (validation = bucket of image id < 10)."""
    sizes = {"train": 0, "validation": 0, "test": len(written.get("test", []))}
    for _, _, image_id in written["train"]:
        bucket = _common.stable_bucket(str(image_id))
        sizes["validation" if bucket < 10 else "train"] += 1
    return sizes


# ----- FSDD ---------------------------------------------------------------------------
def make_fsdd(root, digits=range(10), speakers=("ann",), takes=(0, 5, 10, 11),
              num_samples=400, rate=8000):
    """`root/fsdd/recordings/<digit>_<speaker>_<take>.wav`; returns (folder, names)."""
    folder = pathlib.Path(root) / "fsdd"
    (folder / "recordings").mkdir(parents=True)
    names = []
    for digit in digits:
        for speaker in speakers:
            for take in takes:
                name = f"{digit}_{speaker}_{take}.wav"
                length = num_samples + 7 * int(take)
                write_wav(folder / "recordings" / name,
                          np.full(length, audio_value(digit), np.float32), rate)
                names.append(name)
    return folder, names


def fsdd_expected(names):
    sizes = {"train": 0, "validation": 0, "test": 0}
    for name in names:
        take = int(name[:-4].split("_")[2])
        sizes["test" if take < 5 else "validation" if take < 10 else "train"] += 1
    return sizes


# ----- MNIST --------------------------------------------------------------------------
def make_mnist(root, num_images=60, rows=28, cols=28, magic=(2051, 2049)):
    """`root/mnist/{images,labels}-idx?-ubyte.gz`; labels are `i % 10` shuffled
    deterministically, pixels `image_value(label)` with a 1-pixel index mark."""
    folder = pathlib.Path(root) / "mnist"
    folder.mkdir(parents=True)
    labels = np.array([(i * 7) % 10 for i in range(num_images)], np.uint8)
    images = np.zeros((num_images, rows, cols), np.uint8)
    for i, label in enumerate(labels):
        images[i] = image_value(label)
        images[i, 0, 0] = i % 256  # makes images distinct
    with gzip.open(folder / "images-idx3-ubyte.gz", "wb") as handle:
        handle.write(struct.pack(">IIII", magic[0], num_images, rows, cols) + images.tobytes())
    with gzip.open(folder / "labels-idx1-ubyte.gz", "wb") as handle:
        handle.write(struct.pack(">II", magic[1], num_images) + labels.tobytes())
    return folder, images, labels


def split_sizes_80_10_10(keys):
    sizes = {"train": 0, "validation": 0, "test": 0}
    for key in keys:
        sizes[_common.split_80_10_10(key)] += 1
    return sizes


# ----- AV-digits ----------------------------------------------------------------------
def make_avdigits(root, num_images=40, per_split=2, missing=()):
    """`root/{mnist,fsdd}`: enough recordings that every digit has `per_split` in each
    split by the file-name hash (except the `(split, digit)` pairs in `missing`)."""
    root = pathlib.Path(root)
    _, images, labels = make_mnist(root, num_images)
    folder = root / "fsdd" / "recordings"
    folder.mkdir(parents=True)
    names = []
    for digit in range(10):
        counts = {"train": 0, "validation": 0, "test": 0}
        take = 0
        while min(counts.values()) < per_split and take < 500:
            name = f"{digit}_bob_{take}.wav"
            split = _common.split_80_10_10(name)
            take += 1
            if counts[split] >= per_split or (split, digit) in missing:
                continue
            counts[split] += 1
            write_wav(folder / name, np.full(300 + 5 * take, audio_value(digit), np.float32))
            names.append(name)
            if all(counts[s] >= per_split or (s, digit) in missing for s in counts):
                break
    return root, images, labels, names


# ----- Flickr8k -----------------------------------------------------------------------
def make_flickr8k(root, num_images=12, captions_per_image=5, name="flickr8k",
                  distinct_captions=True):
    """`root/<name>/{captions.txt, images/*.jpg}`; image sizes vary; caption 1 of
    image 0 contains commas (distinct_captions=False: an image's captions are the same
    sentence, so that no caption is drawn at random). Returns `(folder, {file name:
    [captions]})`."""
    folder = pathlib.Path(root) / name
    (folder / "images").mkdir(parents=True)
    captions = {}
    for i in range(num_images):
        name = f"{1000 + i}_photo.jpg"
        height, width = 20 + 3 * i, 30 + 2 * (i % 4)
        write_jpeg(folder / "images" / name, np.full((height, width, 3), (40 + 15 * i) % 256))
        if not distinct_captions:
            texts = [f"A photo number {i} ."] * captions_per_image
        else:
            texts = [f"A photo number {i} , caption {c} ." for c in range(captions_per_image)]
        if i == 0 and distinct_captions:
            texts[1] = "A dog, a cat, and a bird , together ."
        captions[name] = texts
    with open(folder / "captions.txt", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "caption"])
        for name, texts in captions.items():
            for text in texts:
                writer.writerow([name, text])
    return folder, captions


def flickr8k_expected(names):
    """Images per split by the documented rule: buckets 80-89 validation, else train."""
    sizes = {"train": 0, "validation": 0, "test": 0}
    for name in names:
        sizes["validation" if 80 <= _common.stable_bucket(name) < 90 else "train"] += 1
    return sizes


# ----- MVSA-Single --------------------------------------------------------------------
MVSA_CLASSES = ("negative", "neutral", "positive")
MVSA_PAIRS = [(text, image) for text in MVSA_CLASSES for image in MVSA_CLASSES]
# (bytes written after "tweet <id> ", the text the loader must decode, the encoding)
MVSA_TEXTS = [
    ("so happy \u2713 #yes \n".encode("utf-8"), "so happy \u2713 #yes", "utf-8"),
    (b"caf\xa8\xa6 tired\xa1\xad \n", "caf\u00e9 tired\u2026", "gb18030"),  # GBK bytes
    (b"caf\xe9 \x80 \n", "caf\u00e9 \u20ac", "cp1252"),  # not valid UTF-8 nor GB18030
    (b"plain text\n", "plain text", "utf-8"),
]


def mvsa_value(ident):
    """The grey level of the fake image of tweet `ident` (recoverable through JPEG)."""
    return 20 + (int(ident) * 29) % 200


def make_mvsa_single(root, ids=range(1, 21), unlabelled=(), name="mvsa_single"):
    """`root/<name>/{labelResultAll.txt, data/<id>.jpg, data/<id>.txt}`.

    Row k (id `ids[k]`) has the labels `MVSA_PAIRS[k % 9]` (every combination) and the
    text `tweet <id> ` + `MVSA_TEXTS[k % 4]`; images vary in size, grey level
    `mvsa_value(id)`. `unlabelled` ids get files but no label row. Returns
    `(folder, [{"id", "text_label", "image_label", "text", "encoding"}, ...])`.
    """
    folder = pathlib.Path(root) / name
    (folder / "data").mkdir(parents=True)
    rows = []
    for k, ident in enumerate(list(ids) + list(unlabelled)):
        data, text, encoding = MVSA_TEXTS[k % len(MVSA_TEXTS)]
        (folder / "data" / f"{ident}.txt").write_bytes(f"tweet {ident} ".encode() + data)
        shape = (24 + int(ident) % 5, 32 - int(ident) % 3, 3)
        write_jpeg(folder / "data" / f"{ident}.jpg", np.full(shape, mvsa_value(ident)))
        if ident in unlabelled:
            continue
        text_label, image_label = MVSA_PAIRS[k % len(MVSA_PAIRS)]
        rows.append({"id": str(ident), "text_label": text_label, "image_label": image_label,
                     "text": f"tweet {ident} {text}", "encoding": encoding})
    lines = ["ID\ttext,image"] + [f"{r['id']}\t{r['text_label']},{r['image_label']}"
                                  for r in rows]
    (folder / "labelResultAll.txt").write_text("\n".join(lines) + "\n")
    return folder, rows


def listdir(folder):
    return sorted(os.listdir(folder))
