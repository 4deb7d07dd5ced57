"""MNIST handwritten digits from standard gzip IDX files.

Layout: `mnist/images-idx3-ubyte.gz` (magic 2051, `[N, rows, cols]` uint8) and
`mnist/labels-idx1-ubyte.gz` (magic 2049, `[N]` uint8). A bad header (magic number,
number of dimensions, counts that disagree) raises a `ValueError` naming the file even
with `skip_bad=True` (nothing of the file can be trusted); a file shorter than its header
says raises too, or with `skip_bad=True` keeps the complete records and counts the rest.

Split: by a stable hash of the example index `i` (0-based position in the IDX files):
md5(str(i)) -> int(first 8 hex digits) % 100: 0-79 train, 80-89 validation, 90-99 test.

Elements: `({"image": float32 [28, 28, 3] 0..255}, label int64)` (grayscale repeated to
3 channels). Options: `image_size` (default None: keep rows x cols), `cache` (True).

>>> import mmzoo.datasets as mds
>>> test = mds.load("mnist", split="test", data_dir="../shared/data/mnist")
"""

import gzip
import os
import struct
import zlib

import numpy as np
import tensorflow_datasets as tfds

from mmzoo.datasets import _common as common
from mmzoo.registry import DATASETS

IMAGES_FILE = "images-idx3-ubyte.gz"
LABELS_FILE = "labels-idx1-ubyte.gz"
IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
SPLIT_RULE = ("by the example index i (0-based position in the IDX files): "
              + common.SPLIT_RULE_80_10_10.replace("key", "str(i)"))


def _read_gzip(path):
    try:
        with gzip.open(path, "rb") as handle:
            return handle.read()
    except (OSError, EOFError, zlib.error) as error:
        raise ValueError(f"mnist: {path}: cannot read the gzip IDX file: {error}") from None


def read_idx(path, magic, problems):
    """The uint8 array of one gzip IDX file, `[N, rows, cols]` (2051) or `[N]` (2049)."""
    data = _read_gzip(path)
    ndim = 3 if magic == IMAGES_MAGIC else 1
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise ValueError(f"mnist: {path}: bad IDX header: the file holds {len(data)} bytes, "
                         f"fewer than the {header_size}-byte header.")
    found = struct.unpack(">I", data[:4])[0]
    if found != magic:
        kind = "images ([N, rows, cols] uint8)" if magic == IMAGES_MAGIC else "labels ([N] uint8)"
        raise ValueError(f"mnist: {path}: bad IDX header: magic number {found}, expected "
                         f"{magic} for {kind}. The file is not a standard MNIST IDX file "
                         f"(skip_bad cannot skip a whole IDX file).")
    dims = struct.unpack(f">{ndim}I", data[4:header_size])
    if 0 in dims[1:]:
        raise ValueError(f"mnist: {path}: bad IDX header: dimensions {dims}.")
    record = int(np.prod(dims[1:])) if ndim > 1 else 1
    payload = np.frombuffer(data, dtype=np.uint8, offset=header_size)
    complete = payload.size // record
    if complete < dims[0] or payload.size != dims[0] * record:
        if complete < dims[0]:
            problems.bad(path, f"truncated: the header says {dims[0]} records, the file "
                               f"holds {complete} complete ones (records {complete}.."
                               f"{dims[0] - 1} are missing)")
        else:
            problems.bad(path, f"{payload.size - dims[0] * record} bytes after the "
                               f"{dims[0]} records the header announces")
    count = min(complete, dims[0])
    return payload[: count * record].reshape((count, *dims[1:]))


def read_mnist(folder, problems):
    """`(images [N, rows, cols] uint8, labels [N] int64)` of a folder with the two files."""
    images = read_idx(os.path.join(folder, IMAGES_FILE), IMAGES_MAGIC, problems)
    labels = read_idx(os.path.join(folder, LABELS_FILE), LABELS_MAGIC, problems)
    if len(images) != len(labels):
        problems.bad(os.path.join(folder, LABELS_FILE),
                     f"{len(labels)} labels for {len(images)} images in {IMAGES_FILE}")
    count = min(len(images), len(labels))
    return images[:count], labels[:count].astype(np.int64)


def check_mnist_folder(folder, dataset="mnist"):
    missing = [n for n in (IMAGES_FILE, LABELS_FILE) if not os.path.isfile(os.path.join(folder, n))]
    if missing:
        raise FileNotFoundError(f"{dataset}: {folder} lacks {', '.join(missing)} "
                                f"(expected {IMAGES_FILE} and {LABELS_FILE}).")


def valid_labels(images, labels, folder, problems):
    """Indices whose label is a digit 0-9 (others are bad rows)."""
    keep = []
    for index, label in enumerate(labels):
        if 0 <= label <= 9:
            keep.append(index)
        else:
            problems.bad(f"{os.path.join(folder, LABELS_FILE)} record {index}",
                         f"label {label} is not a digit 0-9")
    return keep


class MnistBuilder(common.Builder, skip_registration=True):
    """TFDS builder of a local MNIST folder (two gzip IDX files)."""

    name = "mmzoo_mnist"

    def _info(self):
        return self.make_info(
            {
                "image": tfds.features.Image(shape=(None, None, 1)),
                "label": tfds.features.ClassLabel(names=[str(d) for d in range(10)]),
                "index": tfds.features.Scalar(dtype=np.int64),
            },
            description=f"MNIST digits from IDX files. Split {SPLIT_RULE}.",
            supervised_keys=("image", "label"),
        )

    def _split_generators(self, dl_manager):
        del dl_manager
        images, labels = read_mnist(self.source_dir, self.problems)
        self.record("image_shape", [int(images.shape[1]), int(images.shape[2])])
        by_split = {split: [] for split in common.SPLITS}
        for index in valid_labels(images, labels, self.source_dir, self.problems):
            by_split[common.split_80_10_10(index)].append(index)
        return {split: self._generate_examples(images, labels, indices)
                for split, indices in by_split.items() if indices}

    def _generate_examples(self, images, labels, indices):
        for index in indices:
            yield index, {"image": images[index][..., None], "label": labels[index],
                          "index": index}


def image_shape(builder, options):
    """The static `[H, W, 3]` of the loaded images."""
    if options.get("image_size"):
        return (int(options["image_size"]),) * 2 + (3,)
    shape = builder.info.metadata.get("image_shape")
    return None if shape is None else (*shape, 3)


class MnistSpec(common.Spec):
    name = "mnist"
    builder = MnistBuilder
    folder = "mnist"
    load_options = {"image_size": None}
    split_rule = SPLIT_RULE
    layout = f"{IMAGES_FILE} and {LABELS_FILE} (gzip IDX) holding at least one image"
    modalities = ("image",)

    def check_source(self, source):
        check_mnist_folder(source)

    def source_files(self, source):
        return [IMAGES_FILE, LABELS_FILE]

    def read(self, builder, split, options):
        size = options["image_size"]
        shape = image_shape(builder, options)

        def decode(example):
            return common.decoded_image(example["image"], size), example["label"]

        def convert(image, label):
            return {"image": common.float_image(image, shape)}, label

        return common.finish(self.as_dataset(builder, split), decode, convert, options["cache"])

    def extra_info(self, builder, options):
        return {"class_names": [str(d) for d in range(10)],
                "image_shape": list(image_shape(builder, options) or [])}


DATASETS.register("mnist", MnistSpec(), kind="local", modalities=("image",),
                  task="classification")
