"""Flickr8k: photos with five human captions each (captioning and image-text retrieval).

Layout: `flickr8k/captions.txt` (CSV with the header `image,caption` and five rows per
image, captions quoted when they hold commas; parsed with the `csv` module) and
`flickr8k/images/<file>.jpg`. Any folder of this layout loads (the default is
`../shared/data/flickr8k`, 7,091 photos of 224x224; the retired 900-image `flickr8k_1k`
has the same layout).

Split: by the image file name: md5(file name) -> int(first 8 hex digits) % 100: 80-89
validation (the validation buckets of the 80/10/10 rule, so the earlier validation images
stay validation), the other 90 buckets train. There is no `test` split: Flickr8k's
official test images are held out of these folders (`split="test"` raises a
`ValueError` saying so); `all` is train + validation.

Elements: just the inputs dict (no label), `{"image": float32 [224, 224, 3] 0..255,
"captions": tf.string [5]}` with the captions in file order; captioning and retrieval
tasks build their own targets. An image with other than 5 captions, a listed image that
is missing or does not decode raises a `ValueError` naming it (or is skipped with
`skip_bad=True`). Options: `image_size` (default 224: bilinear resize to a square, an
exact copy for images already 224x224; `None` keeps each image's size), `cache`
(default True).

>>> import mmzoo.datasets as mds
>>> train = mds.load("flickr8k", data_dir="../shared/data/flickr8k", image_size=128)
>>> for inputs in train.batch(8).take(1): print(inputs["captions"].shape)  # (8, 5)
"""

import csv

import tensorflow_datasets as tfds

from mmzoo.datasets import _common as common
from mmzoo.registry import DATASETS

NUM_CAPTIONS = 5
DEFAULT_SIZE = 224
VALIDATION_BUCKETS = range(80, 90)
SPLIT_RULE = (f"by the image file name: {common.HASH_RULE.replace('key', 'file name')}: "
              f"{VALIDATION_BUCKETS.start}-{VALIDATION_BUCKETS.stop - 1} validation, "
              "the other buckets train (no test split: Flickr8k's official test images are "
              "not in the folder)")
LAYOUT = ("captions.txt (CSV with the header 'image,caption', five rows per image) and "
          "images/<file>.jpg")


def split_of_image(name):
    """'validation' for the buckets 80-89 of the image file name, else 'train'."""
    return "validation" if common.stable_bucket(name) in VALIDATION_BUCKETS else "train"


def read_captions(source, problems):
    """`{file name: [caption, ...]}` in file order (bad rows are reported)."""
    path = source / "captions.txt"
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    if not rows or [c.strip().lower() for c in rows[0][:2]] != ["image", "caption"]:
        raise ValueError(f"flickr8k: {path}: the first row must be the header "
                         f"'image,caption'; found {rows[0] if rows else '(empty file)'}.")
    captions = {}
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) < 2 or not row[0].strip():
            problems.bad(f"{path} line {line}", f"expected 'image,caption', found {row!r:.80}")
            continue
        # An unquoted caption with commas splits into more fields: join them back.
        name, caption = row[0].strip(), ",".join(row[1:]).strip()
        captions.setdefault(name, []).append(caption)
    return captions


class Flickr8kBuilder(common.Builder, skip_registration=True):
    """TFDS builder of a local Flickr8k folder: one example per image."""

    name = "mmzoo_flickr8k"
    VERSION = tfds.core.Version("2.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release (80/10/10 split).",
                     "2.0.0": "train / validation split (buckets 80-89 validation), no test."}

    def _info(self):
        return self.make_info(
            {
                "image": tfds.features.Image(shape=(None, None, 3)),
                "captions": tfds.features.Sequence(tfds.features.Text(), length=NUM_CAPTIONS),
                "file_name": tfds.features.Text(),
            },
            description=f"Flickr8k photos with 5 captions each. Split {SPLIT_RULE}.",
        )

    def _split_generators(self, dl_manager):
        del dl_manager
        captions = read_captions(self.source_dir, self.problems)
        by_split = {split: [] for split in common.SPLITS}
        for name, texts in captions.items():
            if len(texts) != NUM_CAPTIONS:
                self.problems.bad(self.source_dir / "images" / name,
                                  f"has {len(texts)} captions in captions.txt, expected "
                                  f"{NUM_CAPTIONS}")
                continue
            by_split[split_of_image(name)].append((name, texts))
        return {split: self._generate_examples(items)
                for split, items in by_split.items() if items}

    def _generate_examples(self, items):
        for name, texts in items:
            path = self.source_dir / "images" / name
            if not path.is_file():
                self.problems.bad(path, "listed in captions.txt but the file is missing")
                continue
            data = common.read_bytes(path, self.problems)
            if data is None or common.check_image(data, path, self.problems) is None:
                continue
            yield name, {"image": data, "captions": texts, "file_name": name}


class Flickr8kSpec(common.Spec):
    name = "flickr8k"
    builder = Flickr8kBuilder
    folder = "flickr8k"
    load_options = {"image_size": DEFAULT_SIZE}
    split_rule = SPLIT_RULE
    layout = LAYOUT
    modalities = ("image", "captions")

    def check_source(self, source):
        missing = [p for p in ("captions.txt", "images") if not (source / p).exists()]
        if missing:
            raise FileNotFoundError(f"flickr8k: {source} lacks {', '.join(missing)} "
                                    f"(expected {LAYOUT}).")

    def source_files(self, source):
        return ["captions.txt"] + [f"images/{n}" for n in common.list_files(source / "images")]

    def empty_split_reason(self, builder, split):
        if split == "test":
            return ("flickr8k has train and validation splits only (Flickr8k's official "
                    "test images are held out of the folder); evaluate on 'validation'")
        return super().empty_split_reason(builder, split)

    def read(self, builder, split, options):
        size = options["image_size"]
        shape = None if not size else (int(size), int(size), 3)

        def decode(example):
            return common.decoded_image(example["image"], size), example["captions"]

        def convert(image, captions):
            return {"image": common.float_image(image, shape), "captions": captions}

        return common.finish(self.as_dataset(builder, split), decode, convert, options["cache"])

    def extra_info(self, builder, options):
        size = options["image_size"]
        return {"num_captions": NUM_CAPTIONS, "label": None,
                "image_shape": [int(size), int(size), 3] if size else [None, None, 3]}


DATASETS.register("flickr8k", Flickr8kSpec(), kind="local", modalities=("image", "captions"),
                  task="captioning")
