"""Adapters from TFDS catalog data sets to the mmzoo input contract.

These call `tfds.load(...)` for real, so the first use downloads and prepares the data
(internet needed) into TFDS' `data_dir` (`data_dir=` here, default `~/tensorflow_datasets`).
`skip_bad` does not apply (TFDS validates its own data).

- `coco_captions` (TFDS `coco_captions/2014`): `{"image", "captions" [5]}`; splits
  train -> train+restval (Karpathy), validation -> val, test -> test.
- `clevr`: `({"image", "question"}, answer)`, one element per question; train,
  validation, test (TFDS' test answers are empty strings).
- `spoken_digit`: `({"audio"}, digit)`, resampled from 8 kHz to `sample_rate`; TFDS' only
  split `train` is split by the take in `audio/filename` as in `fsdd`: 0-4 test,
  5-9 validation, 10+ train.
- `imdb_reviews`: `({"text"}, label)` with 0 neg / 1 pos; train -> train[:90%],
  validation -> train[90%:], test -> test.

`all` is the union of the three. TFDS decodes the images (in parallel); resizing runs in
a parallel map. COCO images with more than 5 captions keep the first 5,
fewer are repeated cyclically to 5. `cache` defaults to False for `coco_captions` and
`clevr` (decoded images would not fit in memory) and True for the others.

>>> import mmzoo.datasets as mds
>>> train = mds.load("imdb_reviews", split="train")      # downloads on first use
>>> coco = mds.load("coco_captions", split="validation", image_size=224)
"""

import difflib

import tensorflow as tf
import tensorflow_datasets as tfds

from mmzoo.datasets import _common as common
from mmzoo.registry import DATASETS

CLEVR_ANSWERS = (
    "yes", "no", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10",
    "gray", "red", "blue", "green", "brown", "purple", "cyan", "yellow",
    "cube", "sphere", "cylinder", "rubber", "metal", "large", "small",
)
NUM_CAPTIONS = 5


class CatalogSpec:
    """A TFDS catalog data set mapped onto the mmzoo contract."""

    kind = "catalog"
    name = None
    tfds_name = None
    split_map = {}
    load_options = {}
    modalities = ()

    def options(self, given):
        defaults = {**self.load_options}
        defaults.setdefault("cache", True)
        unknown = sorted(set(given) - set(defaults))
        if unknown:
            raise TypeError(
                f"Unknown option(s) {', '.join(map(repr, unknown))} for data set "
                f"{self.name!r}. Valid options: {', '.join(sorted(defaults))}.")
        return {**defaults, **given}

    def full_name(self, config):
        return self.tfds_name if config is None else f"{self.tfds_name.split('/')[0]}/{config}"

    def resolve(self, split):
        valid = [*self.split_map]
        if split not in self.split_map:
            close = difflib.get_close_matches(str(split), valid, n=1, cutoff=0.5)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"Unknown split {split!r} for data set {self.name!r}.{hint} "
                             f"Valid splits: {', '.join(valid)}.")
        return self.split_map[split]

    def load(self, split="train", data_dir=None, skip_bad=False, config=None, options=None):
        del skip_bad
        options = self.options(dict(options or {}))
        dataset, tfds_info = tfds.load(self.full_name(config), split=self.resolve(split),
                                       data_dir=data_dir, shuffle_files=False,
                                       with_info=True)
        dataset = self.convert(dataset, split, options)
        return dataset, self.describe(tfds_info, options)

    def info(self, data_dir=None, skip_bad=False, config=None, options=None):
        del skip_bad
        options = self.options(dict(options or {}))
        return self.describe(tfds.builder(self.full_name(config), data_dir=data_dir).info,
                             options)

    def describe(self, tfds_info, options):
        sizes = {}
        for split, tfds_split in self.split_map.items():
            if split == common.ALL:
                continue
            try:
                sizes[split] = int(tfds_info.splits[tfds_split].num_examples)
            except (KeyError, ValueError, TypeError, AttributeError):
                sizes[split] = None  # unknown until TFDS has prepared the data
        known = [v for v in sizes.values() if v is not None]
        return {
            "name": self.name, "kind": self.kind, "tfds_name": tfds_info.full_name,
            "description": next(iter((tfds_info.description or "").strip().splitlines()), ""),
            "splits": sizes, "num_examples": sum(known) if len(known) == len(sizes) else None,
            "split_rule": "; ".join(f"{k} -> {v}" for k, v in self.split_map.items()),
            "options": dict(options), "skipped": {"count": 0, "files": []},
            **self.extra_info(options),
        }

    def extra_info(self, options):
        return {}

    def convert(self, dataset, split, options):
        raise NotImplementedError


class CocoCaptions(CatalogSpec):
    name = "coco_captions"
    tfds_name = "coco_captions/2014"
    split_map = {"train": "train+restval", "validation": "val", "test": "test",
                 "all": "train+restval+val+test"}
    load_options = {"image_size": 224, "cache": False}
    modalities = ("image", "captions")

    def convert(self, dataset, split, options):
        size = options["image_size"]
        shape = (int(size), int(size), 3) if size else None

        def decode(example):
            texts = example["captions"]["text"]
            count = tf.shape(texts)[0]
            cycled = tf.gather(texts, tf.range(NUM_CAPTIONS) % tf.maximum(count, 1))
            captions = tf.cond(count > 0, lambda: cycled,
                               lambda: tf.fill([NUM_CAPTIONS], ""))
            return common.resized_image(example["image"], size), tf.ensure_shape(
                captions, (NUM_CAPTIONS,))

        def finish(image, captions):
            return {"image": common.float_image(image, shape), "captions": captions}

        return common.finish(dataset, decode, finish, options["cache"])

    def extra_info(self, options):
        return {"num_captions": NUM_CAPTIONS, "label": None}


class Clevr(CatalogSpec):
    name = "clevr"
    tfds_name = "clevr"
    split_map = {"train": "train", "validation": "validation", "test": "test",
                 "all": "train+validation+test"}
    load_options = {"image_size": None, "cache": False}
    modalities = ("image", "question")

    def convert(self, dataset, split, options):
        size = options["image_size"]
        shape = (int(size), int(size), 3) if size else None

        def decode(example):
            pairs = example["question_answer"]
            count = tf.minimum(tf.shape(pairs["question"])[0], tf.shape(pairs["answer"])[0])
            return (common.resized_image(example["image"], size), pairs["question"][:count],
                    pairs["answer"][:count])

        def expand(image, questions, answers):
            image = common.float_image(image, shape)
            rows = tf.data.Dataset.from_tensor_slices((questions, answers))
            return rows.map(lambda q, a: ({"image": image, "question": q}, a))

        return common.finish(dataset, decode, cache=options["cache"]).flat_map(expand)

    def extra_info(self, options):
        return {"answers": list(CLEVR_ANSWERS)}


class SpokenDigit(CatalogSpec):
    name = "spoken_digit"
    tfds_name = "spoken_digit"
    split_map = {"train": "train", "validation": "train", "test": "train", "all": "train"}
    load_options = {"sample_rate": 8000, "clip_seconds": 1.0}
    modalities = ("audio",)
    SOURCE_RATE = 8000

    @staticmethod
    def take_of(file_name):
        """The take of `<digit>_<speaker>_<take>.wav`; 10 (train) if the name differs."""
        pattern = r"^.*_(\d+)\.wav$"
        matched = tf.strings.regex_full_match(file_name, pattern)
        digits = tf.where(matched, tf.strings.regex_replace(file_name, pattern, r"\1"), "10")
        return tf.strings.to_number(digits, tf.int32)

    def convert(self, dataset, split, options):
        if split != common.ALL:
            low, high = {"test": (0, 5), "validation": (5, 10), "train": (10, 1 << 30)}[split]

            def keep(example):
                take = self.take_of(example["audio/filename"])
                return (take >= low) & (take < high)

            dataset = dataset.filter(keep)
        rate = int(options["sample_rate"])
        num_samples = common.num_samples_of(options)

        def decode(example):
            return example["audio"], example["label"]

        def finish(samples, label):
            return ({"audio": common.float_audio(samples, self.SOURCE_RATE, rate, num_samples)},
                    tf.cast(label, tf.int64))

        return common.finish(dataset, decode, finish, options["cache"])

    def describe(self, tfds_info, options):
        described = super().describe(tfds_info, options)
        described["tfds_splits"] = described["splits"]
        described["splits"] = {s: None for s in common.SPLITS}  # known only after filtering
        described["num_examples"] = None
        described["split_rule"] = ("TFDS split 'train' filtered by the take of "
                                   "audio/filename: 0-4 test, 5-9 validation, 10+ train")
        return described

    def extra_info(self, options):
        return {"class_names": [str(d) for d in range(10)],
                "source_sample_rate": self.SOURCE_RATE,
                "sample_rate": int(options["sample_rate"]),
                "clip_seconds": float(options["clip_seconds"]),
                "num_samples": common.num_samples_of(options)}


class ImdbReviews(CatalogSpec):
    name = "imdb_reviews"
    tfds_name = "imdb_reviews"
    split_map = {"train": "train[:90%]", "validation": "train[90%:]", "test": "test",
                 "all": "train+test"}
    modalities = ("text",)

    def convert(self, dataset, split, options):
        def decode(example):
            return {"text": example["text"]}, example["label"]

        return common.finish(dataset, decode, cache=options["cache"])

    def extra_info(self, options):
        return {"class_names": ["neg", "pos"]}


for _spec, _task in ((CocoCaptions(), "captioning"), (Clevr(), "vqa"),
                     (SpokenDigit(), "classification"), (ImdbReviews(), "classification")):
    DATASETS.register(_spec.name, _spec, kind="catalog", modalities=_spec.modalities,
                      task=_task)
