"""Free Spoken Digit Dataset (FSDD): spoken digits 0-9, 8 kHz mono 16-bit WAV.

Layout: `fsdd/recordings/<digit>_<speaker>_<take>.wav`.
Split (the source's own rule, by take): takes 0-4 test, 5-9 validation, 10+ train.
The shared copy holds only takes 5..49, so its `test` split is empty and
`load("fsdd", split="test")` raises a `ValueError` saying so.

Elements: `({"audio": float32 [clip_seconds * sample_rate] in [-1, 1]}, label int64)`.
Options: `sample_rate` (default 8000, the source rate; other rates are resampled
linearly), `clip_seconds` (default 1.0; zero-padded or cut), `cache` (default True).

>>> import mmzoo.datasets as mds
>>> train = mds.load("fsdd", split="train", data_dir="../shared/data/fsdd")
>>> train.batch(32).prefetch(tf.data.AUTOTUNE)
"""

import os
import re

import numpy as np
import tensorflow_datasets as tfds

from mmzoo.datasets import _common as common
from mmzoo.registry import DATASETS

SOURCE_RATE = 8000
FILE_PATTERN = re.compile(r"^(\d)_([^_]+)_(\d+)\.wav$", re.IGNORECASE)
SPLIT_RULE = ("by take in <digit>_<speaker>_<take>.wav (the source's rule): takes 0-4 "
              "test, 5-9 validation, 10 and above train")


def split_of_take(take):
    return "test" if take < 5 else "validation" if take < 10 else "train"


def parse_name(name):
    """`(digit, speaker, take)` of a recording file name, or None if it does not match."""
    match = FILE_PATTERN.match(name)
    if not match:
        return None
    return int(match.group(1)), match.group(2), int(match.group(3))


def recording_names(source):
    return common.list_files(os.path.join(source, "recordings"), (".wav",))


def read_recording(path, problems):
    """int16 mono samples at 8 kHz of one WAV file, or None (bad, skipped)."""
    data = common.read_bytes(path, problems)
    return None if data is None else common.wav_to_int16(data, path, problems, SOURCE_RATE)


def audio_feature():
    return tfds.features.Tensor(shape=(None,), dtype=np.int16,
                                encoding=tfds.features.Encoding.BYTES)


class FsddBuilder(common.Builder, skip_registration=True):
    """TFDS builder of a local FSDD folder (`recordings/*.wav`)."""

    name = "mmzoo_fsdd"

    def _info(self):
        return self.make_info(
            {
                "audio": audio_feature(),
                "label": tfds.features.ClassLabel(names=[str(d) for d in range(10)]),
                "speaker": tfds.features.Text(),
                "file_name": tfds.features.Text(),
            },
            description=("Free Spoken Digit Dataset: int16 mono samples at 8 kHz. "
                         f"Split {SPLIT_RULE}."),
            supervised_keys=("audio", "label"),
        )

    def _split_generators(self, dl_manager):
        del dl_manager
        by_split = {split: [] for split in common.SPLITS}
        for name in recording_names(self.source_dir):
            parsed = parse_name(name)
            if parsed is None:
                self.problems.bad(self.source_dir / "recordings" / name,
                                  "the file name is not <digit>_<speaker>_<take>.wav")
                continue
            by_split[split_of_take(parsed[2])].append(name)
        return {split: self._generate_examples(names)
                for split, names in by_split.items() if names}

    def _generate_examples(self, names):
        for name in names:
            digit, speaker, _ = parse_name(name)
            samples = read_recording(self.source_dir / "recordings" / name, self.problems)
            if samples is None:
                continue
            yield name, {"audio": samples, "label": digit, "speaker": speaker,
                         "file_name": name}


class FsddSpec(common.Spec):
    name = "fsdd"
    builder = FsddBuilder
    folder = "fsdd"
    load_options = {"sample_rate": SOURCE_RATE, "clip_seconds": 1.0}
    split_rule = SPLIT_RULE
    layout = "recordings/<digit>_<speaker>_<take>.wav (16-bit PCM WAV files)"
    modalities = ("audio",)

    def check_source(self, source):
        if not (source / "recordings").is_dir():
            raise FileNotFoundError(f"fsdd: {source} has no recordings/ subfolder "
                                    "(expected recordings/<digit>_<speaker>_<take>.wav).")

    def source_files(self, source):
        return [f"recordings/{name}" for name in recording_names(source)]

    def empty_split_reason(self, builder, split):
        takes = {"test": "0-4", "validation": "5-9", "train": "10 and above"}[split]
        return (f"it has no recordings with takes {takes} (the shared copy of FSDD holds "
                "only takes 5-49, the source's train split)")

    def read(self, builder, split, options):
        num_samples = common.num_samples_of(options)
        rate = int(options["sample_rate"])

        def decode(example):
            return example["audio"], example["label"]

        def convert(samples, label):
            audio = common.float_audio(samples, SOURCE_RATE, rate, num_samples)
            return {"audio": audio}, label

        dataset = self.as_dataset(builder, split, skip_decoding=())
        return common.finish(dataset, decode, convert, options["cache"])

    def extra_info(self, builder, options):
        return {"class_names": [str(d) for d in range(10)],
                "source_sample_rate": SOURCE_RATE,
                "sample_rate": int(options["sample_rate"]),
                "clip_seconds": float(options["clip_seconds"]),
                "num_samples": common.num_samples_of(options)}


DATASETS.register("fsdd", FsddSpec(), kind="local", modalities=("audio",),
                  task="classification")
