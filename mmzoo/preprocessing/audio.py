"""Audio: WAV bytes, file paths or arrays -> float32 mono waveforms at a sample rate.

Decoding and resampling are TensorFlow ops, so the exported SavedModel takes WAV bytes.
Clips are zero-padded or cut to a fixed number of samples so they batch.

>>> decode_wav(tf.io.read_file("seven.wav"), sample_rate=8000, num_samples=8000).shape
(8000,)
"""

import os

import numpy as np
import tensorflow as tf

from mmzoo.preprocessing.batch import as_items


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


def decode_wav(data, sample_rate, num_samples=None):
    """Decodes 16-bit PCM WAV bytes to mono float32 in [-1, 1] at `sample_rate`.

    Channels are averaged; other rates are resampled; `num_samples` pads or cuts.
    Raises `tf.errors.InvalidArgumentError` for bytes that are not a WAV file.
    """
    data = tf.convert_to_tensor(data, dtype=tf.string)
    tf.debugging.assert_greater(tf.strings.length(data), 0, message="WAV bytes are empty")
    audio, rate = tf.audio.decode_wav(data)
    waveform = resample(tf.reduce_mean(audio, axis=-1), rate, sample_rate)
    return waveform if num_samples is None else fit_length(waveform, num_samples)


def load_audio(audio, sample_rate, num_samples=None, name="audio"):
    """One clip from a WAV path, WAV bytes or a 1-D array (already at `sample_rate`)."""
    if isinstance(audio, (str, os.PathLike)):
        if not os.path.exists(audio):
            raise FileNotFoundError(f"'{name}': no such audio file: {audio}")
        with open(audio, "rb") as handle:
            audio = handle.read()
    if isinstance(audio, bytes):
        try:
            return decode_wav(audio, sample_rate, num_samples).numpy()
        except tf.errors.InvalidArgumentError as error:
            raise ValueError(
                f"'{name}' could not be decoded as a 16-bit PCM WAV file "
                f"({len(audio)} bytes): {error.message.splitlines()[0]}"
            ) from None
    array = np.asarray(audio)
    if array.dtype.kind not in "iuf" or array.ndim != 1 or array.size == 0:
        raise ValueError(
            f"'{name}' must be a non-empty 1-D waveform (or a WAV path or bytes); "
            f"received shape {array.shape} dtype {array.dtype}."
        )
    array = array.astype(np.float32)
    return array if num_samples is None else fit_length(array, num_samples).numpy()


def load_audios(clips, sample_rate, num_samples, name="audio"):
    """A batch `[B, num_samples]` from one clip or a list of paths/bytes/arrays."""
    return np.stack([load_audio(clip, sample_rate, num_samples, name)
                     for clip in as_items(clips, 2, name)])
