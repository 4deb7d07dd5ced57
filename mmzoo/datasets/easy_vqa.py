"""easy-VQA: simple shapes, questions about them, 13 one-word answers.

Layout: `easy_vqa/answers.txt` (one answer per line) and one or both of the source's
split folders `easy_vqa/train/` and `easy_vqa/test/`, each holding `questions.json` (a JSON
list of `[question, answer, image_id]`) and `images/<id>.png`.

Splits: `test` is the `test/` subfolder. `validation` is a fixed slice of `train/` by
IMAGE id, so all questions of one image fall on the same side: md5(str(image_id)) ->
int(first 8 hex digits) % 100 < 10 (about 10% of the images) go to `validation`, the rest
to `train`. Each split needs only its own folder: a folder with `answers.txt` and `test/`
alone loads `test` (evaluation data), one with `train/` alone (the shared copy) loads
`train` and `validation`; asking for a split whose folder is absent raises a `ValueError`
naming that folder.

Elements: `({"image": float32 [64, 64, 3] 0..255, "question": tf.string}, answer tf.string)`,
one per question. The questions of one image are consecutive: shuffle with a buffer of a
few hundred or more. `info()["answers"]` is the answer vocabulary (`answers.txt`). Options:
`image_size` (default None: the folder's image size; images of varying sizes are resized
to 64), `cache` (default True: decoded images are cached once per image).

>>> import mmzoo.datasets as mds
>>> train = mds.load("easy_vqa", data_dir="../shared/data/easy_vqa")
>>> train.shuffle(1000).batch(32)
"""

import collections
import json
import os

import tensorflow as tf
import tensorflow_datasets as tfds

from mmzoo.datasets import _common as common
from mmzoo.registry import DATASETS

DEFAULT_SIZE = 64
FOLDERS = ("train", "test")
FOLDER_OF_SPLIT = {"train": "train", "validation": "train", "test": "test"}
LAYOUT = ("answers.txt and at least one of train/, test/, each with questions.json "
          "([question, answer, image_id] rows) and images/<image_id>.png")
VALIDATION_PERCENT = 10
SPLIT_RULE = (f"test = the test/ subfolder; train/ is split by image id: "
              f"{common.HASH_RULE.replace('key', 'str(image_id)')} < {VALIDATION_PERCENT} "
              "-> validation, else train (all questions of an image on one side)")


def read_answers(source):
    path = source / "answers.txt"
    with open(path, encoding="utf-8-sig") as handle:
        answers = [line.strip() for line in handle if line.strip()]
    if not answers:
        raise ValueError(f"easy_vqa: {path} lists no answers.")
    return answers


def image_names(folder):
    return common.list_files(os.path.join(folder, "images"), (".png", ".jpg", ".jpeg"))


def read_questions(folder, answers, problems):
    """`{image_id: [(question, answer), ...]}` in file order; bad rows are reported."""
    path = folder / "questions.json"
    try:
        with open(path, encoding="utf-8-sig") as handle:
            rows = json.load(handle)
    except (OSError, ValueError) as error:
        raise ValueError(f"easy_vqa: {path}: cannot read the JSON file: {error}") from None
    if not isinstance(rows, list):
        raise ValueError(f"easy_vqa: {path}: expected a JSON list of [question, answer, "
                         f"image_id] rows, found a {type(rows).__name__}.")
    images = set(os.path.splitext(n)[0] for n in image_names(folder))
    known = set(answers)
    grouped = collections.OrderedDict()
    for number, row in enumerate(rows):
        where = f"{path} row {number}"
        if not isinstance(row, list) or len(row) != 3:
            problems.bad(where, f"expected [question, answer, image_id], found {row!r:.80}")
            continue
        question, answer, image_id = row
        if not isinstance(question, str) or not isinstance(answer, str) or isinstance(
                image_id, bool) or not isinstance(image_id, (int, str)):
            problems.bad(where, "expected [question (str), answer (str), image_id (int)], "
                                f"found {row!r:.80}")
            continue
        if str(image_id) not in images:
            problems.bad(where, f"unknown image id {image_id!r}: no "
                                f"{folder / 'images' / f'{image_id}.png'}")
            continue
        if answer not in known:
            problems.bad(where, f"answer {answer!r} is not in answers.txt")
            continue
        grouped.setdefault(str(image_id), []).append((question, answer))
    return grouped


def image_file(folder, image_id):
    for name in (f"{image_id}.png", f"{image_id}.jpg", f"{image_id}.jpeg"):
        if (folder / "images" / name).is_file():
            return folder / "images" / name
    return folder / "images" / f"{image_id}.png"


def present_folders(source):
    """The source split folders (`train`, `test`) that `source` holds."""
    return [part for part in FOLDERS if (source / part).is_dir()]


def split_of_image(image_id):
    bucket = common.stable_bucket(str(image_id))
    return "validation" if bucket < VALIDATION_PERCENT else "train"


class EasyVqaBuilder(common.Builder, skip_registration=True):
    """TFDS builder of a local easy-VQA folder: one TFDS example per image."""

    name = "mmzoo_easy_vqa"
    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {"1.0.0": "Initial release.",
                     "1.1.0": "train/ is optional (a test/-only folder loads); records the "
                              "split folders present."}

    def _info(self):
        return self.make_info(
            {
                "image": tfds.features.Image(shape=(None, None, 3)),
                "image_id": tfds.features.Text(),
                "questions": tfds.features.Sequence(tfds.features.Text()),
                "answers": tfds.features.Sequence(tfds.features.Text()),
            },
            description=("easy-VQA: one example per image with its questions and answers "
                         f"(mmzoo loads one element per question). Split {SPLIT_RULE}."),
        )

    def _split_generators(self, dl_manager):
        del dl_manager
        answers = read_answers(self.source_dir)
        self.record("answers", answers)
        self.record("questions", {split: 0 for split in common.SPLITS})
        self.record("image_shapes", {})
        self.record("folders", present_folders(self.source_dir))
        parts = {"train": [], "validation": [], "test": []}
        if (self.source_dir / "train").is_dir():
            train = read_questions(self.source_dir / "train", answers, self.problems)
            for image_id, rows in train.items():
                parts[split_of_image(image_id)].append(("train", image_id, rows))
        if (self.source_dir / "test").is_dir():
            test = read_questions(self.source_dir / "test", answers, self.problems)
            parts["test"] = [("test", image_id, rows) for image_id, rows in test.items()]
        return {split: self._generate_examples(split, items)
                for split, items in parts.items() if items}

    def _generate_examples(self, split, items):
        counts = self.info.metadata["questions"]
        shapes = self.info.metadata["image_shapes"]
        for folder, image_id, rows in items:
            path = image_file(self.source_dir / folder, image_id)
            data = common.read_bytes(path, self.problems)
            shape = None if data is None else common.check_image(data, path, self.problems)
            if shape is None:
                continue
            shape_key = f"{shape[0]}x{shape[1]}"
            shapes[shape_key] = shapes.get(shape_key, 0) + 1
            counts[split] += len(rows)
            yield f"{folder}/{image_id}", {
                "image": data,
                "image_id": image_id,
                "questions": [q for q, _ in rows],
                "answers": [a for _, a in rows],
            }


def image_size_of(builder, options, default=DEFAULT_SIZE):
    """`(resize_to or None, static shape)`: resize only if asked or sizes vary."""
    if options.get("image_size"):
        size = int(options["image_size"])
        return size, (size, size, 3)
    shapes = builder.info.metadata.get("image_shapes") or {}
    if len(shapes) == 1:
        height, width = (int(v) for v in next(iter(shapes)).split("x"))
        return None, (height, width, 3)
    return default, (default, default, 3)


class EasyVqaSpec(common.Spec):
    name = "easy_vqa"
    builder = EasyVqaBuilder
    folder = "easy_vqa"
    load_options = {"image_size": None}
    split_rule = SPLIT_RULE
    layout = LAYOUT
    modalities = ("image", "question")

    def check_source(self, source):
        folders = present_folders(source)
        missing = [] if (source / "answers.txt").is_file() else ["answers.txt"]
        if not folders:
            missing.append("a train/ or test/ subfolder")
        for part in folders:
            missing += [f"{part}/{name}" for name in ("questions.json", "images")
                        if not (source / part / name).exists()]
        if missing:
            raise FileNotFoundError(f"easy_vqa: {source} lacks {', '.join(missing)} "
                                    f"(expected {LAYOUT}).")

    def source_files(self, source):
        files = ["answers.txt"]
        for part in ("train", "test"):
            if (source / part / "questions.json").is_file():
                files.append(f"{part}/questions.json")
                files += [f"{part}/images/{n}" for n in image_names(source / part)]
        return files

    def split_sizes(self, builder, options=None):
        counts = builder.info.metadata.get("questions") or {}
        return {split: int(counts.get(split, 0)) for split in common.SPLITS}

    def empty_split_reason(self, builder, split):
        folder = FOLDER_OF_SPLIT[split]
        if folder not in (builder.info.metadata.get("folders") or FOLDERS):
            hint = {"test": " (the shared copy of easy-VQA holds only the train split; "
                            "evaluate on 'validation')",
                    "train": " (the source's train/ folder holds both the train and "
                             "validation splits)"}[folder]
            return (f"the folder has no {folder}/ subfolder "
                    f"({builder.source_dir / folder}){hint}")
        return "no image of the folder falls into it"

    def read(self, builder, split, options):
        size, shape = image_size_of(builder, options)

        def decode(example):
            return (common.decoded_image(example["image"], size),
                    example["questions"], example["answers"])

        def expand(image, questions, answers):
            image = common.float_image(image, shape)
            rows = tf.data.Dataset.from_tensor_slices((questions, answers))
            return rows.map(lambda question, answer: ({"image": image, "question": question},
                                                      answer))

        dataset = common.finish(self.as_dataset(builder, split), decode,
                                cache=options["cache"])
        dataset = dataset.flat_map(expand)
        return common.with_cardinality(dataset, common.count_of(self.split_sizes(builder), split))

    def extra_info(self, builder, options):
        images = {s: builder.info.splits[s].num_examples if s in builder.info.splits else 0
                  for s in common.SPLITS}
        return {"answers": list(builder.info.metadata.get("answers") or []),
                "num_images": images,
                "folders": list(builder.info.metadata.get("folders") or []),
                "image_shape": list(image_size_of(builder, options)[1])}


DATASETS.register("easy_vqa", EasyVqaSpec(), kind="local", modalities=("image", "question"),
                  task="vqa")
