"""Bad files in local data sets: reading, checking and counting them (raise a ValueError
naming the file, or with `skip_bad` skip and count it).

>>> problems = Problems(skip_bad=True)
>>> data = read_bytes(path, problems)   # None (and counted) when unreadable
"""

import logging

import numpy as np
import tensorflow as tf

from mmzoo.preprocessing import decode_image, decode_wav

LOG = logging.getLogger("mmzoo.datasets")


class Problems:
    """Raises a `ValueError` naming a bad file/row, or with `skip_bad` logs and counts it.

    The skipped names live in `builder.info.metadata["skipped"]`, which TFDS writes to
    `metadata.json` beside the prepared data, so `info()` reports them on later loads.
    """

    def __init__(self, dataset, skip_bad, metadata):
        self.dataset = dataset
        self.skip_bad = skip_bad
        self.skipped = metadata.setdefault("skipped", [])

    def bad(self, what, reason):
        message = f"{self.dataset}: {what}: {reason}"
        if not self.skip_bad:
            raise ValueError(f"{message} (pass skip_bad=True to skip bad files and rows)")
        LOG.warning("skipping %s", message)
        self.skipped.append(str(what))


def first_line(error):
    text = getattr(error, "message", None) or str(error)
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def read_bytes(path, problems):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as error:
        problems.bad(path, f"cannot read the file: {error}")
        return None


def check_image(data, path, problems):
    """Decodes `data` eagerly (so truncation is caught now); its `(H, W)` or None if bad."""
    try:
        return tuple(decode_image(data).shape[:2])
    except tf.errors.InvalidArgumentError as error:
        problems.bad(path, "cannot decode the image (truncated, empty or not "
                           f"PNG/JPEG/GIF/BMP): {first_line(error)}")
        return None


def wav_to_int16(data, path, problems, sample_rate):
    """Decodes 16-bit PCM WAV bytes eagerly to mono int16 at `sample_rate`, or None if bad."""
    try:
        waveform = decode_wav(data, sample_rate).numpy()
    except tf.errors.InvalidArgumentError as error:
        problems.bad(path, "cannot decode the 16-bit PCM WAV file (truncated, empty or "
                           f"another format): {first_line(error)}")
        return None
    if waveform.size == 0:
        problems.bad(path, "the WAV file holds no samples")
        return None
    return np.clip(np.round(waveform * 32768.0), -32768, 32767).astype(np.int16)
