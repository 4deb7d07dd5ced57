"""MVSA-Single (Niu et al. 2016): tweets, each an image and a text, labelled for sentiment.

Layout: `mvsa_single/labelResultAll.txt` (tab-separated, header `ID\\ttext,image`, rows
like `2\\tneutral,positive`: the text's label, then the image's) and
`mvsa_single/data/<id>.jpg` + `mvsa_single/data/<id>.txt` (the tweet) for every listed id.
Files in `data/` without a label row are ignored (counted in `info()["unlabelled"]`).

Labels (`labels=` option): `"combined"` (default) follows Xu and Mao 2017: the two labels
when they agree; the positive or negative one when the other is neutral; pairs labelled
positive and negative are dropped (counted in `info()["dropped"]`). `"text"` and `"image"`
use that modality's own label and keep every row. Class ids: 0 negative, 1 neutral,
2 positive.

Texts: UTF-8 when valid, else GB18030 (the source's other files are GBK: bytes A1 AD are
"…", A1 B0 / A1 B1 the curly double quotes, A8 A6 "é"; cp1252 would turn them into
mojibake), else cp1252 with replacement characters; surrounding whitespace is stripped.
`info()["non_utf8_texts"]` counts the files that were not valid UTF-8,
`info()["text_encodings"]` how many each encoding decoded.

Split: by the id string of the row: md5(id) -> int(first 8 hex digits) % 100: 0-79 train,
80-89 validation, 90-99 test (so an id's split does not depend on the other ids); `all`
is every kept example.

Elements: `({"text": tf.string, "image": float32 [224, 224, 3] 0..255}, label int64)`.
Options: `labels` ("combined", "text", "image"), `image_size` (default 224: the source's
images have a long side of 224 and various aspect ratios, so they are resized to one
square size that batches; models resize to their own input size anyway. `None` keeps each
image's size, `[H, W, 3]` varying), `cache` (default True). A label row whose image or text
file is missing or unreadable raises a `ValueError` naming the file (or, with
`skip_bad=True`, the row is skipped and the file listed in `info()["skipped"]`).

>>> import mmzoo.datasets as mds
>>> train, info = mds.load("mvsa_single", data_dir="../shared/data/mvsa_single",
...                        with_info=True)
>>> info["class_names"], info["splits"], info["dropped"]["count"]
"""

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from mmzoo.datasets import _common as common
from mmzoo.registry import DATASETS

LABEL_FILE = "labelResultAll.txt"
HEADER = ["id", "text,image"]
CLASS_NAMES = ("negative", "neutral", "positive")
LABEL_MODES = ("combined", "text", "image")
DEFAULT_SIZE = 224
ENCODINGS = ("utf-8", "gb18030", "cp1252")
DROPPED = -1  # the stored combined label of a positive + negative pair
LABELLING_RULE = ("combined (Xu and Mao 2017): the two labels when they agree; the positive "
                  "or negative one when the other is neutral; positive + negative pairs "
                  "dropped. text / image: that modality's label, every row kept")
SPLIT_RULE = "by the id: " + common.SPLIT_RULE_80_10_10.replace("key", "id")
LAYOUT = (f"{LABEL_FILE} (tab-separated, header 'ID<TAB>text,image', rows "
          "'<id><TAB><text label>,<image label>') and data/<id>.jpg + data/<id>.txt")


def combined_label(text_label, image_label):
    """The Xu and Mao 2017 label of a pair (class names), None for positive + negative.

    >>> combined_label("neutral", "positive")
    'positive'
    """
    if text_label == image_label:
        return text_label
    if text_label == "neutral":
        return image_label
    if image_label == "neutral":
        return text_label
    return None


def decode_text(data):
    """`(text, encoding)` of a tweet file's bytes: UTF-8, else GB18030, else cp1252.

    >>> decode_text(b"so tired\\xa1\\xad \\n")
    ('so tired…', 'gb18030')
    """
    for encoding in ENCODINGS[:-1]:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        return text.lstrip("\ufeff").strip(), encoding
    return data.decode(ENCODINGS[-1], errors="replace").strip(), ENCODINGS[-1]


def read_labels(source, problems):
    """`[(id, text label, image label), ...]` in file order; bad rows are reported."""
    path = source / LABEL_FILE
    try:
        lines = path.read_bytes().decode("utf-8-sig").splitlines()
    except UnicodeDecodeError as error:
        raise ValueError(f"mvsa_single: {path}: not UTF-8 text: {error}") from None
    header = [field.strip().lower() for field in lines[0].split("\t")] if lines else []
    if header != HEADER:
        found = repr(lines[0][:80]) if lines else "(empty file)"
        raise ValueError(f"mvsa_single: {path}: the first line must be the header "
                         f"'ID<TAB>text,image'; found {found}.")
    rows, seen = [], {}
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        fields = line.split("\t")
        labels = [label.strip().lower() for label in fields[-1].split(",")]
        ident = fields[0].strip()
        if len(fields) != 2 or len(labels) != 2 or not ident or "/" in ident or "\\" in ident:
            problems.bad(where, f"expected '<id><TAB><text label>,<image label>', found "
                                f"{line!r:.80}")
            continue
        unknown = [label for label in labels if label not in CLASS_NAMES]
        if unknown:
            problems.bad(where, f"unknown label(s) {', '.join(map(repr, unknown))}; "
                                f"expected {', '.join(CLASS_NAMES)}")
            continue
        if ident in seen:
            problems.bad(where, f"id {ident!r} is listed again (first at line {seen[ident]})")
            continue
        seen[ident] = number
        rows.append((ident, *labels))
    return rows


def empty_counts():
    return {mode: {split: [0] * len(CLASS_NAMES) for split in common.SPLITS}
            for mode in LABEL_MODES}


class MvsaSingleBuilder(common.Builder, skip_registration=True):
    """TFDS builder of a local MVSA-Single folder: one example per label row.

    Every row is stored with both labels and the combined one (-1 when dropped), so the
    `labels=` option is applied at load time without preparing the folder again.
    """

    name = "mmzoo_mvsa_single"

    def _info(self):
        return self.make_info(
            {
                "image": tfds.features.Image(shape=(None, None, 3)),
                "text": tfds.features.Text(),
                "text_label": tfds.features.ClassLabel(names=list(CLASS_NAMES)),
                "image_label": tfds.features.ClassLabel(names=list(CLASS_NAMES)),
                "combined_label": tfds.features.Scalar(dtype=np.int64),
                "id": tfds.features.Text(),
            },
            description=("MVSA-Single tweets (image + text) with a text and an image "
                         f"sentiment label. Labels: {LABELLING_RULE}. Split {SPLIT_RULE}."),
        )

    def _split_generators(self, dl_manager):
        del dl_manager
        rows = read_labels(self.source_dir, self.problems)
        listed = {ident for ident, _, _ in rows}
        in_data = {name.rsplit(".", 1)[0]
                   for name in common.list_files(self.source_dir / "data", (".jpg", ".txt"))}
        self.record("rows", len(rows))
        self.record("unlabelled", len(in_data - listed))
        self.record("class_counts", empty_counts())
        self.record("dropped", {split: 0 for split in common.SPLITS})
        self.record("text_encodings", {encoding: 0 for encoding in ENCODINGS})
        by_split = {split: [] for split in common.SPLITS}
        for row in rows:
            by_split[common.split_80_10_10(row[0])].append(row)
        return {split: self._generate_examples(split, items)
                for split, items in by_split.items() if items}

    def _read_pair(self, ident):
        """`(image bytes, text, encoding)` of one id, or None (bad, reported)."""
        image_path = self.source_dir / "data" / f"{ident}.jpg"
        text_path = self.source_dir / "data" / f"{ident}.txt"
        for path in (image_path, text_path):
            if not path.is_file():
                self.problems.bad(path, f"listed in {LABEL_FILE} but the file is missing")
                return None
        image = common.read_bytes(image_path, self.problems)
        if image is None or common.check_image(image, image_path, self.problems) is None:
            return None
        data = common.read_bytes(text_path, self.problems)
        return None if data is None else (image, *decode_text(data))

    def _generate_examples(self, split, rows):
        counts = self.info.metadata["class_counts"]
        dropped = self.info.metadata["dropped"]
        encodings = self.info.metadata["text_encodings"]
        for ident, text_label, image_label in rows:
            pair = self._read_pair(ident)
            if pair is None:
                continue
            image, text, encoding = pair
            encodings[encoding] += 1
            combined = combined_label(text_label, image_label)
            for mode, label in (("text", text_label), ("image", image_label),
                                ("combined", combined)):
                if label is not None:
                    counts[mode][split][CLASS_NAMES.index(label)] += 1
            if combined is None:
                dropped[split] += 1
            yield ident, {
                "image": image,
                "text": text,
                "text_label": CLASS_NAMES.index(text_label),
                "image_label": CLASS_NAMES.index(image_label),
                "combined_label": DROPPED if combined is None else CLASS_NAMES.index(combined),
                "id": ident,
            }


LABEL_FEATURE = {"combined": "combined_label", "text": "text_label", "image": "image_label"}


class MvsaSingleSpec(common.Spec):
    name = "mvsa_single"
    builder = MvsaSingleBuilder
    folder = "mvsa_single"
    load_options = {"image_size": DEFAULT_SIZE, "labels": "combined"}
    split_rule = SPLIT_RULE
    layout = LAYOUT
    modalities = ("image", "text")

    def options(self, given):
        options = super().options(given)
        if options["labels"] not in LABEL_MODES:
            raise ValueError(f"mvsa_single: labels={options['labels']!r} is not one of "
                             f"{', '.join(map(repr, LABEL_MODES))}.")
        return options

    def check_source(self, source):
        missing = [] if (source / LABEL_FILE).is_file() else [LABEL_FILE]
        if not (source / "data").is_dir():
            missing.append("data/")
        if missing:
            raise FileNotFoundError(f"mvsa_single: {source} lacks {', '.join(missing)} "
                                    f"(expected {LAYOUT}).")

    def source_files(self, source):
        return [LABEL_FILE] + [f"data/{name}" for name in common.list_files(source / "data")]

    def class_counts(self, builder, options=None):
        mode = (options or {}).get("labels", "combined")
        counts = builder.info.metadata.get("class_counts") or empty_counts()
        return {split: dict(zip(CLASS_NAMES, counts[mode][split])) for split in common.SPLITS}

    def split_sizes(self, builder, options=None):
        return {split: sum(counts.values())
                for split, counts in self.class_counts(builder, options).items()}

    def read(self, builder, split, options):
        size = options["image_size"]
        shape = (int(size), int(size), 3) if size else None
        feature = LABEL_FEATURE[options["labels"]]
        dataset = self.as_dataset(builder, split)
        if options["labels"] == "combined":
            dataset = dataset.filter(lambda example: example["combined_label"] != DROPPED)

        def decode(example):
            return (common.decoded_image(example["image"], size), example["text"],
                    tf.cast(example[feature], tf.int64))

        def convert(image, text, label):
            return {"text": text, "image": common.float_image(image, shape)}, label

        dataset = common.finish(dataset, decode, convert, options["cache"])
        sizes = self.split_sizes(builder, options)
        return common.with_cardinality(dataset, common.count_of(sizes, split))

    def extra_info(self, builder, options):
        metadata = builder.info.metadata
        dropped = dict(metadata.get("dropped") or {})
        encodings = dict(metadata.get("text_encodings") or {})
        size = options["image_size"]
        return {
            "class_names": list(CLASS_NAMES),
            "labels": options["labels"],
            "labelling_rule": LABELLING_RULE,
            "class_counts": self.class_counts(builder, options),
            "rows": int(metadata.get("rows") or 0),
            "dropped": {"count": sum(dropped.values()), "splits": dropped,
                        "applies": options["labels"] == "combined"},
            "non_utf8_texts": sum(n for enc, n in encodings.items() if enc != "utf-8"),
            "text_encodings": encodings,
            "unlabelled": int(metadata.get("unlabelled") or 0),
            "image_shape": [int(size), int(size), 3] if size else [None, None, 3],
        }


DATASETS.register("mvsa_single", MvsaSingleSpec(), kind="local",
                  modalities=("image", "text"), task="classification")
