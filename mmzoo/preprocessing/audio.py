"""Audio: WAV bytes, file paths or arrays -> float32 mono waveforms at a sample rate.

Decoding and resampling are TensorFlow ops, so the exported SavedModel takes WAV bytes.
Clips are zero-padded or cut to a fixed number of samples so they batch.

>>> decode_wav(tf.io.read_file("seven.wav"), sample_rate=8000, num_samples=8000).shape
(8000,)
"""

import functools
import os

import numpy as np
import tensorflow as tf

from mmzoo.preprocessing.batch import as_items, read_file, tf_error_message


def resample(waveform, source_rate, target_rate):
    """Linear-interpolation resampling of a 1-D waveform (exact when rates match)."""
    waveform = tf.convert_to_tensor(waveform, tf.float32)
    source_rate = tf.cast(source_rate, tf.float64)
    target_rate = tf.cast(target_rate, tf.float64)

    def interpolate():
        length = tf.shape(waveform)[0]
        out_length = tf.cast(
            tf.math.ceil(tf.cast(length, tf.float64) * target_rate / source_rate), tf.int32)
        position = tf.cast(tf.range(out_length), tf.float64) * source_rate / target_rate
        left = tf.minimum(tf.cast(tf.floor(position), tf.int32), length - 1)
        right = tf.minimum(left + 1, length - 1)
        fraction = tf.cast(position - tf.cast(left, tf.float64), tf.float32)
        return (tf.gather(waveform, left) * (1.0 - fraction)
                + tf.gather(waveform, right) * fraction)

    return tf.cond(tf.equal(source_rate, target_rate), lambda: waveform, interpolate)


def fit_length(waveform, num_samples):
    """Zero-pads or cuts a 1-D waveform to exactly `num_samples`."""
    waveform = waveform[:num_samples]
    padding = num_samples - tf.shape(waveform)[0]
    return tf.ensure_shape(tf.pad(waveform, [[0, padding]]), (num_samples,))


def decode_wav(data, sample_rate, num_samples=None, name="audio"):
    """Decodes 16-bit PCM WAV bytes to mono float32 in [-1, 1] at `sample_rate`.

    Channels are averaged; other rates are resampled; `num_samples` pads or cuts.
    Raises `tf.errors.InvalidArgumentError` naming input `name` for bytes that are not a
    16-bit PCM WAV file with at least one sample.
    """
    data = tf.convert_to_tensor(data, dtype=tf.string)
    checks = [
        tf.debugging.Assert(tf.strings.length(data) > 0,
                            [f"Input `{name}`: WAV bytes are empty"]),
        tf.debugging.Assert(tf.logical_or(
            tf.strings.length(data) == 0,
            tf.logical_and(tf.equal(tf.strings.substr(data, 0, 4), b"RIFF"),
                           tf.equal(tf.strings.substr(data, 8, 4), b"WAVE"))),
            [f"Input `{name}` is not a WAV file (no RIFF/WAVE header)"]),
    ]
    # The usual layout has the fmt chunk first, with bits per sample at byte 34.
    fmt_first = tf.logical_and(tf.strings.length(data) >= 36,
                               tf.equal(tf.strings.substr(data, 12, 4), b"fmt "))
    bits = tf.cond(fmt_first, lambda: tf.cast(tf.io.decode_raw(
        tf.strings.substr(data, 34, 2), tf.uint16)[0], tf.int32), lambda: tf.constant(16))
    checks.append(tf.debugging.Assert(tf.equal(bits, 16), [
        f"Input `{name}`: only 16-bit PCM WAV is supported; this file has", bits,
        "bits per sample"]))
    with tf.control_dependencies(checks):
        audio, rate = tf.audio.decode_wav(data)
    has_samples = tf.debugging.Assert(
        tf.shape(audio)[0] > 0, [f"Input `{name}`: the WAV file holds no samples"])
    with tf.control_dependencies([has_samples]):
        audio = tf.identity(audio)
    waveform = resample(tf.reduce_mean(audio, axis=-1), rate, sample_rate)
    return waveform if num_samples is None else fit_length(waveform, num_samples)


# Full scale of integer PCM, as WAV decoding uses: int16 /32768, int32 /2**31, uint8 8-bit.
_PCM_SCALE = {np.dtype("int16"): 32768.0, np.dtype("int32"): 2.0 ** 31,
              np.dtype("int8"): 128.0}


def pcm_to_float(array, name="audio"):
    """Integer PCM samples (int8/16/32, uint8 8-bit WAV) -> float32 in [-1, 1]; float
    arrays pass unchanged. Other integer types raise a ValueError naming the input.

    >>> pcm_to_float(np.array([16384, -32768], "int16"))   # [0.5, -1.0]
    """
    array = np.asarray(array)
    if array.dtype.kind == "f":
        return array
    if array.dtype == np.uint8:
        return (array.astype(np.float32) - 128.0) / 128.0
    if array.dtype in _PCM_SCALE:
        return (array / _PCM_SCALE[array.dtype]).astype(np.float32)
    raise ValueError(
        f"'{name}' must be float32 samples in [-1, 1] or integer PCM (int16, int32, "
        f"uint8); received dtype {array.dtype}.")


def check_clip_length(num_samples, min_samples, name="audio", index=None):
    """Raises a ValueError naming the clip when it is shorter than `min_samples`."""
    if min_samples and num_samples < min_samples:
        which = f"'{name}'" if index is None else f"'{name}' clip {index}"
        raise ValueError(
            f"{which} has {num_samples} samples; at least {min_samples} are needed (one "
            "analysis window). A [samples, channels] array is one multi-channel clip: "
            "down-mix it first (audio.mean(axis=1)) or pass it in a list.")


@functools.cache
def compiled_wav_decoder(sample_rate, num_samples=None):
    """`decode_wav(data, sample_rate, num_samples)` traced once (eagerly its ops and
    conditions cost ~5 ms per clip)."""
    return tf.function(lambda data: decode_wav(data, sample_rate, num_samples),
                       input_signature=[tf.TensorSpec((), tf.string)])


def load_audio(audio, sample_rate, num_samples=None, name="audio", min_samples=None):
    """One clip from a WAV path, WAV bytes or an array already at `sample_rate`: 1-D
    mono, or 2-D `[samples, channels]` (averaged to mono, as WAV decoding does);
    integer PCM is scaled to [-1, 1]."""
    if isinstance(audio, (str, os.PathLike)):
        audio = read_file(audio, name, "audio")
    if isinstance(audio, bytes):
        try:
            return compiled_wav_decoder(sample_rate, num_samples)(audio).numpy()
        except tf.errors.InvalidArgumentError as error:
            raise ValueError(
                f"'{name}' could not be decoded as a 16-bit PCM WAV file with at least "
                f"one sample ({len(audio)} bytes): {tf_error_message(error)}"
            ) from None
    array = np.asarray(audio)
    if array.dtype.kind not in "iuf":
        raise ValueError(
            f"'{name}' must be a waveform array, a WAV path or WAV bytes; received "
            f"{type(audio).__name__} of dtype {array.dtype}.")
    if array.ndim == 2 and 1 <= array.shape[1] <= 8 and array.shape[0] > array.shape[1]:
        array = pcm_to_float(array, name).mean(axis=1)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(
            f"'{name}' must be a non-empty 1-D waveform or a [samples, channels] array "
            f"(or a WAV path or bytes); received shape {array.shape}.")
    array = pcm_to_float(array, name).astype(np.float32)
    if not np.isfinite(array).all():
        raise ValueError(f"'{name}' holds NaN or infinite samples; expected finite values.")
    check_clip_length(array.size, min_samples, name)
    return array if num_samples is None else fit_length(array, num_samples).numpy()


def load_audios(clips, sample_rate, num_samples, name="audio", min_samples=None):
    """A batch `[B, num_samples]` from one clip or a list of paths/bytes/arrays (a 2-D
    array is a batch of mono clips `[B, samples]`)."""
    items = as_items(clips, 2, name)
    return np.stack([load_audio(clip, sample_rate, num_samples,
                                name if len(items) == 1 else f"{name}[{index}]", min_samples)
                     for index, clip in enumerate(items)])
