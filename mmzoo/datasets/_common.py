"""Machinery shared by the mmzoo data sets: split hashing, the prepared-data cache,
bad-file bookkeeping, the base TFDS builder and the `Spec` that `load` / `info` drive.

Every local data set is a `tfds.core.GeneratorBasedBuilder` (`Builder` below) that reads a
source folder and writes TFRecords under a cache folder keyed by that source folder's
identity (`cache_key`), so re-loading the same folder reuses the prepared data and any
other folder of the same layout gets its own prepared copy.

>>> spec = DATASETS.get("fsdd")
>>> dataset, info = spec.load("train", data_dir="../shared/data/fsdd")
"""

import contextlib
import difflib
import hashlib
import json
import logging
import os
import pathlib
import sys

import tensorflow as tf
import tensorflow_datasets as tfds

from mmzoo.datasets._bad_files import (  # noqa: F401  (the loaders use them as common.*)
    Problems,
    check_image,
    first_line,
    read_bytes,
    wav_to_int16,
)
from mmzoo.preprocessing import decode_image, fit_length, resample, resize

LOG = logging.getLogger("mmzoo.datasets")

SPLITS = ("train", "validation", "test")
ALL = "all"
AUTOTUNE = tf.data.AUTOTUNE

HASH_RULE = "md5(key as UTF-8) -> int(first 8 hex digits, base 16) % 100"
SPLIT_RULE_80_10_10 = f"{HASH_RULE}: 0-79 train, 80-89 validation, 90-99 test"


# ----- stable hashing ------------------------------------------------------------------
def stable_bucket(key):
    """A stable bucket 0..99 of `key` (str() of it): md5, first 8 hex digits, mod 100."""
    digest = hashlib.md5(str(key).encode("utf-8")).hexdigest()
    return int(digest[:8], 16) % 100


def split_80_10_10(key):
    """'train' for buckets 0-79, 'validation' for 80-89, 'test' for 90-99."""
    bucket = stable_bucket(key)
    return "train" if bucket < 80 else "validation" if bucket < 90 else "test"


# ----- the prepared-data cache ---------------------------------------------------------
@contextlib.contextmanager
def preparation_lock(folder):
    """Holds an exclusive lock on `folder/.lock` (POSIX; a no-op elsewhere), so that two
    processes asking for the same data set (parallel test workers, two notebooks)
    prepare it once: the second waits, then finds it prepared."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; TFDS' own temporary folders remain
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cache_root():
    """`$MMZOO_CACHE_DIR`, else `~/.cache/mmzoo/tfds` (read at call time)."""
    return pathlib.Path(os.environ.get("MMZOO_CACHE_DIR") or "~/.cache/mmzoo/tfds").expanduser()


def file_listing(root, relative_paths):
    """`[[relative path, size, mtime_ns], ...]`, sorted, for the cache key."""
    listing = []
    for relative in sorted(set(relative_paths)):
        stat = os.stat(os.path.join(root, relative))
        listing.append([relative, stat.st_size, stat.st_mtime_ns])
    return listing


def list_files(folder, suffixes=None):
    """Sorted names of the plain files in `folder` (optionally with one of `suffixes`)."""
    if not os.path.isdir(folder):
        return []
    names = [entry.name for entry in os.scandir(folder) if entry.is_file()]
    if suffixes:
        names = [n for n in names if n.lower().endswith(tuple(suffixes))]
    return sorted(names)


def cache_key(**parts):
    """The first 16 hex digits of sha256 over the JSON of `parts` (sorted keys)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


# ----- load-time conversions ------------------------------------------------------------
def decoded_image(data, size=None):
    """Encoded image bytes -> uint8 RGB `[H, W, 3]` (bilinear-resized to `size` if given).

    Images are kept as uint8 until after `.cache()` (4x smaller than float32); resized
    values are rounded, so the pipeline gives the same pixels with or without `cache`.
    """
    image = decode_image(data, size)
    return tf.cast(tf.round(tf.clip_by_value(image, 0.0, 255.0)), tf.uint8)


def resized_image(image, size=None):
    """A decoded uint8 `[H, W, C]` image -> uint8 RGB, bilinear-resized to `size` if given."""
    image = tf.convert_to_tensor(image)
    if image.shape.rank == 3 and image.shape[-1] == 1:
        image = tf.repeat(image, 3, axis=-1)
    if size is None:
        return tf.cast(image, tf.uint8)
    return tf.cast(tf.round(tf.clip_by_value(resize(image, size), 0.0, 255.0)), tf.uint8)


def float_image(image, shape=None):
    """uint8 `[H, W, 3]` -> float32 0..255 with the static `shape` when known."""
    image = tf.cast(image, tf.float32)
    if shape is not None:
        image = tf.ensure_shape(image, tuple(shape))
    return image


def float_audio(samples, source_rate, sample_rate, num_samples):
    """int16 samples at `source_rate` -> float32 `[num_samples]` in [-1, 1] at `sample_rate`."""
    waveform = tf.cast(samples, tf.float32) / 32768.0
    return fit_length(resample(waveform, source_rate, sample_rate), num_samples)


def num_samples_of(options):
    return int(round(float(options["clip_seconds"]) * int(options["sample_rate"])))


def finish(dataset, decode, convert=None, cache=True):
    """`decode` (parallel) -> optional in-memory `.cache()` -> `convert` (parallel)."""
    dataset = dataset.map(decode, num_parallel_calls=AUTOTUNE)
    if cache:
        dataset = dataset.cache()
    if convert is None:
        return dataset
    return dataset.map(convert, num_parallel_calls=AUTOTUNE)


# ----- the base TFDS builder -----------------------------------------------------------
class Builder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """A TFDS builder of mmzoo that reads `source_dir` (its manual/source folder).

    Not registered in the TFDS catalog (several names clash with catalog data sets such as
    `mnist`); `mmzoo.datasets.load` creates it with a `data_dir` keyed by the source.
    Keyword arguments: `source_dir`, `skip_bad` and the prep-time `options` (a dict).
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    # No checksums file beside the code (nothing is downloaded); this also spares TFDS'
    # code-path lookup, which needs the optional `importlib_resources` package.
    code_path = None

    def __init__(self, *, source_dir=None, skip_bad=False, options=None, **kwargs):
        self.source_dir = None if source_dir is None else pathlib.Path(source_dir)
        self.skip_bad = bool(skip_bad)
        self.options = dict(options or {})
        super().__init__(**kwargs)

    def make_info(self, features, description, supervised_keys=None):
        return tfds.core.DatasetInfo(
            builder=self,
            description=description,
            features=tfds.features.FeaturesDict(features),
            supervised_keys=supervised_keys,
            metadata=tfds.core.MetadataDict(),
        )

    @property
    def problems(self):
        if not hasattr(self, "_problems"):
            self._problems = Problems(self.name, self.skip_bad, self.info.metadata)
        return self._problems

    def record(self, key, value):
        """Stores a JSON-able `value` in the metadata TFDS writes beside the data."""
        self.info.metadata[key] = value


# ----- the spec that load()/info() drive -----------------------------------------------
class Spec:
    """How `mmzoo.datasets.load` prepares and reads one data set.

    Subclasses set the class attributes and override `source_files`, `check_source`,
    `read` and `extra_info`; everything else (options, cache key, splits) is shared.
    """

    name = None
    builder = None            # a `Builder` subclass
    folder = None             # default folder under ../shared/data ("" = data/ itself)
    prep_options = {}         # prepared-data options (part of the cache key)
    load_options = {}         # read-time options (not part of the cache key)
    split_rule = ""
    layout = ""               # the expected files, for errors about empty folders
    kind = "local"
    modalities = ()

    # -- options and names --------------------------------------------------------
    def configs(self):
        return [config.name for config in (self.builder.BUILDER_CONFIGS or [])]

    def config_name(self, config):
        names = self.configs()
        if config is None:
            return names[0] if names else None
        if config not in names:
            valid = ", ".join(f"{self.name}/{n}" for n in names) or f"{self.name} (no configs)"
            raise ValueError(f"Unknown config {config!r} of data set {self.name!r}. "
                             f"Valid: {valid}.")
        return config

    def options(self, given):
        defaults = {**self.prep_options, **self.load_options, "cache": True}
        unknown = sorted(set(given) - set(defaults))
        if unknown:
            raise TypeError(
                f"Unknown option(s) {', '.join(map(repr, unknown))} for data set "
                f"{self.name!r}. Valid options: {', '.join(sorted(defaults))}.")
        return {**defaults, **given}

    def constants(self, config):
        """Module constants that change the prepared data (part of the cache key)."""
        return {}

    # -- the source folder ----------------------------------------------------------
    def source(self, data_dir):
        if self.folder is None:
            return None
        if data_dir is None:
            default = pathlib.Path.cwd().parent / "shared" / "data" / self.folder
            if not default.is_dir():
                raise FileNotFoundError(
                    f"No folder given for data set {self.name!r} and the default "
                    f"{default} does not exist; pass data_dir=<folder with the layout of "
                    f"shared/data/{self.folder or ''}>.")
            data_dir = default
        path = pathlib.Path(data_dir).expanduser().resolve()
        if not path.is_dir():
            raise FileNotFoundError(f"data_dir for {self.name!r} is not a folder: {path}")
        try:
            self.check_source(path)
        except FileNotFoundError:
            # A parent of the data sets (like shared/data) holding this one's usual
            # subfolder is accepted too, so one --data-dir serves every data set.
            nested = path / self.folder if self.folder else None
            if nested is None or not nested.is_dir():
                raise
            self.check_source(nested)
            path = nested
        return path

    def check_source(self, source):
        """Raises `FileNotFoundError` naming what the folder's layout lacks."""

    def source_files(self, source):
        """Relative paths of the files the builder reads (their stats key the cache)."""
        return []

    # -- preparation ----------------------------------------------------------------
    def prepare(self, data_dir=None, skip_bad=False, config=None, options=None):
        """The prepared builder for this source (prepares it the first time only)."""
        options = self.options(dict(options or {}))
        config = self.config_name(config)
        source = self.source(data_dir)
        prep = {key: options[key] for key in self.prep_options}
        key = cache_key(
            dataset=self.name, config=config, version=str(self.builder.VERSION),
            source=None if source is None else str(source),
            files=[] if source is None else file_listing(source, self.source_files(source)),
            skip_bad=bool(skip_bad), options=prep, constants=self.constants(config))
        tfds_dir = cache_root() / self.name / key
        builder = self.builder(data_dir=str(tfds_dir), config=config, source_dir=source,
                               skip_bad=skip_bad, options=prep)
        info_file = pathlib.Path(builder.data_dir) / "dataset_info.json"
        if not info_file.is_file():
            with preparation_lock(tfds_dir):
                if not info_file.is_file():  # another process may have prepared it
                    LOG.info("preparing %s from %s into %s", self.name, source,
                             builder.data_dir)
                    # TFDS prints its progress lines; stdout stays for results (`--json`).
                    with contextlib.redirect_stdout(sys.stderr):
                        builder.download_and_prepare(
                            download_dir=str(tfds_dir / "downloads"),
                            download_config=tfds.download.DownloadConfig(
                                compute_stats=tfds.download.ComputeStatsMode.SKIP))
            # Read what was prepared (by this process or, while it waited, another).
            builder = self.builder(data_dir=str(tfds_dir), config=config, source_dir=source,
                                   skip_bad=skip_bad, options=prep)
        skipped = builder.info.metadata.get("skipped") or []
        if skipped:
            LOG.warning("%s: %d bad file(s)/row(s) were skipped when %s was prepared "
                        "(see info()['skipped']).", self.name, len(skipped), source)
        return builder, options

    # -- splits ---------------------------------------------------------------------
    def split_sizes(self, builder, options=None):
        """Examples per split (0 for an empty split); `options` are the load options."""
        return {s: builder.info.splits[s].num_examples if s in builder.info.splits else 0
                for s in SPLITS}

    def empty_split_reason(self, builder, split):
        return "the source folder has no examples that the split rule puts there"

    def no_examples_message(self, builder):
        if builder.source_dir is None:
            return f"Data set {self.name!r} has no examples at all."
        skipped = len(builder.info.metadata.get("skipped") or [])
        note = f" ({skipped} bad file(s)/row(s) were skipped)" if skipped else ""
        expected = f" Expected: {self.layout}." if self.layout else ""
        return (f"Data set {self.name!r} has no examples at all in {builder.source_dir}"
                f"{note}.{expected}")

    def tfds_split(self, builder, split, options=None):
        """`split` -> a TFDS split string; `all` is the union of the non-empty splits."""
        sizes = self.split_sizes(builder, options)
        valid = [*SPLITS, ALL]
        if split not in valid:
            close = difflib.get_close_matches(str(split), valid, n=1, cutoff=0.5)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"Unknown split {split!r} for data set {self.name!r}.{hint} "
                             f"Valid splits: {', '.join(valid)}.")
        present = [s for s in SPLITS if sizes[s] > 0]
        if not present:
            raise ValueError(self.no_examples_message(builder))
        if split == ALL:
            return "+".join(present)
        if sizes[split] == 0:
            where = f" for {builder.source_dir}" if builder.source_dir else ""
            raise ValueError(
                f"The {split!r} split of data set {self.name!r} is empty{where}: "
                f"{self.empty_split_reason(builder, split)}. "
                f"Non-empty splits: {', '.join(present + [ALL]) if present else '(none)'}.")
        return split

    # -- reading ----------------------------------------------------------------------
    def as_dataset(self, builder, split, skip_decoding=("image",)):
        decoders = {name: tfds.decode.SkipDecoding() for name in skip_decoding}
        return builder.as_dataset(split=split, shuffle_files=False, decoders=decoders or None)

    def read(self, builder, split, options):
        raise NotImplementedError

    def extra_info(self, builder, options):
        return {}

    def describe(self, builder, options, config=None):
        sizes = self.split_sizes(builder, options)
        skipped = list(builder.info.metadata.get("skipped") or [])
        name = self.name if not self.configs() else f"{self.name}/{builder.builder_config.name}"
        described = {
            "name": name,
            "kind": self.kind,
            "description": builder.info.description,
            "version": str(builder.version),
            "configs": self.configs(),
            "source": None if builder.source_dir is None else str(builder.source_dir),
            "prepared_dir": str(builder.data_dir),
            "splits": sizes,
            "num_examples": sum(sizes.values()),
            "split_rule": self.split_rule,
            "options": {k: v for k, v in options.items()},
            "skipped": {"count": len(skipped), "files": skipped},
        }
        described.update(self.extra_info(builder, options))
        return described

    def load(self, split="train", data_dir=None, skip_bad=False, config=None, options=None):
        builder, options = self.prepare(data_dir, skip_bad, config, options)
        tfds_split = self.tfds_split(builder, split, options)
        dataset = self.read(builder, tfds_split, options)
        return dataset, self.describe(builder, options)

    def info(self, data_dir=None, skip_bad=False, config=None, options=None):
        builder, options = self.prepare(data_dir, skip_bad, config, options)
        return self.describe(builder, options)


def count_of(sizes, split):
    """Examples in a TFDS split string such as 'train+validation'."""
    return sum(sizes[part] for part in split.split("+"))


def with_cardinality(dataset, count):
    return dataset.apply(tf.data.experimental.assert_cardinality(count))
