"""Whisper's log-mel frontend as Keras layers (TensorFlow ops, exportable).

`WhisperLogMel` turns float32 waveforms `[B, samples]` at any `sample_rate` into the
80-bin log-mel features `[B, frames, 80]` that Whisper's encoder was trained on, as
`whisper/audio.py` `log_mel_spectrogram` computes them (16 kHz, 25 ms Hann windows,
10 ms hop, slaney mel filters, log10, an 8-decade floor per clip, `(x + 4) / 4`).
`WhisperFrameMask` marks which encoder positions hold the clip rather than padding.

>>> mel = WhisperLogMel(sample_rate=8000, pad_to_seconds=None)(waveforms)  # 1 s clips
>>> mel.shape
(B, 100, 80)
"""

import math

import keras
import numpy as np
import tensorflow as tf

WHISPER_RATE = 16000
N_FFT = 400
HOP_LENGTH = 160
N_MELS = 80
MAX_SECONDS = 30.0          # Whisper's context: 3000 mel frames -> 1500 positions
ENCODER_STRIDE = 2          # conv2 halves the frame rate


def _hz_to_mel(hz):
    """Slaney's mel scale (librosa's default, htk=False): linear below 1 kHz, log above."""
    hz = np.asarray(hz, np.float64)
    linear = hz / (200.0 / 3.0)
    log_step = np.log(6.4) / 27.0
    logarithmic = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / log_step
    return np.where(hz >= 1000.0, logarithmic, linear)


def _mel_to_hz(mel):
    mel = np.asarray(mel, np.float64)
    log_step = np.log(6.4) / 27.0
    return np.where(mel >= 15.0, 1000.0 * np.exp(log_step * (mel - 15.0)),
                    mel * (200.0 / 3.0))


def mel_filters(sample_rate=WHISPER_RATE, n_fft=N_FFT, n_mels=N_MELS):
    """`[n_mels, n_fft // 2 + 1]` float32: librosa.filters.mel(sr, n_fft, n_mels) with
    its defaults (slaney scale, triangles area-normalised to 2 / bandwidth), the bank
    Whisper ships as `mel_filters.npz`."""
    fft_freqs = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    mel_edges = np.linspace(_hz_to_mel(0.0), _hz_to_mel(sample_rate / 2.0), n_mels + 2)
    hz_edges = _mel_to_hz(mel_edges)
    widths = np.diff(hz_edges)
    ramps = hz_edges[:, None] - fft_freqs[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (hz_edges[2:] - hz_edges[:-2]))[:, None]
    return weights.astype(np.float32)


def resample_linear(waveforms, source_rate, target_rate):
    """Linear-interpolation resampling along the last axis of `[B, samples]` float32.

    Same rule as `mmzoo.preprocessing.audio.resample` (one clip), batched: output length
    `ceil(samples * target / source)`, sample i read at input position
    `i * source / target`. Identity when the rates match.
    """
    if int(source_rate) == int(target_rate):
        return waveforms
    length = tf.shape(waveforms)[-1]
    ratio = float(source_rate) / float(target_rate)
    out_length = tf.cast(tf.math.ceil(tf.cast(length, tf.float64) / ratio), tf.int32)
    position = tf.cast(tf.range(out_length), tf.float64) * ratio
    left = tf.minimum(tf.cast(tf.floor(position), tf.int32), length - 1)
    right = tf.minimum(left + 1, length - 1)
    fraction = tf.cast(position - tf.cast(left, tf.float64), waveforms.dtype)
    return (tf.gather(waveforms, left, axis=-1) * (1.0 - fraction)
            + tf.gather(waveforms, right, axis=-1) * fraction)


def _check_pad_to_seconds(pad_to_seconds):
    if pad_to_seconds is None:
        return None
    pad_to_seconds = float(pad_to_seconds)
    if not 0.0 < pad_to_seconds <= MAX_SECONDS:
        raise ValueError(f"pad_to_seconds must be in (0, {MAX_SECONDS:g}] or None; "
                         f"received {pad_to_seconds}.")
    return pad_to_seconds


def clip_samples(num_samples, sample_rate):
    """Samples at 16 kHz of a clip of `num_samples` at `sample_rate` (a TF scalar)."""
    num_samples = tf.cast(num_samples, tf.float64)
    return tf.cast(tf.math.ceil(num_samples * WHISPER_RATE / float(sample_rate)), tf.int32)


@keras.saving.register_keras_serializable(package="mmzoo")
class WhisperLogMel(keras.layers.Layer):
    """Waveforms `[B, samples]` at `sample_rate` -> Whisper log-mel `[B, frames, 80]`.

    Steps (whisper/audio.py): resample to 16 kHz (linear interpolation: fine for the
    8 kHz -> 16 kHz of spoken digits, not a band-limited resampler); zero-pad or cut to
    `pad_to_seconds`; STFT with `n_fft=400`, hop 160, periodic Hann window, centred with
    reflect padding (torch.stft's defaults); the last frame dropped; power spectrum;
    80 slaney mel filters; `log10(max(x, 1e-10))`; `max(x, max_of_the_clip - 8)`;
    `(x + 4) / 4`. Output frames: `samples_16k // 160` (3000 for 30 s).

    `pad_to_seconds=30.0` (default) is what Whisper does: every clip becomes 30 s, the
    length the encoder was trained on, so features are the faithful ones, at the cost
    of computing 3000 frames (1500 encoder positions) even for a 1 s clip: about 30x
    the work of the clip alone, and more for attention, which grows with the square.
    `pad_to_seconds=None` keeps the clip's own length (cut at 30 s): 1 s gives 100
    frames and the encoder slices its positions to 50. The encoder has never seen
    short contexts, so its features differ from the padded ones (they are still
    useful features, and far cheaper). Any value in (0, 30] pads or cuts to that length.
    Clips must hold more than 200 samples at 16 kHz (reflect padding).

    Computed in float32 whatever the dtype policy (log10 of 1e-10 underflows in fp16).

    >>> WhisperLogMel(sample_rate=16000)(tf.zeros((2, 16000))).shape
    TensorShape([2, 3000, 80])
    """

    def __init__(self, sample_rate=WHISPER_RATE, pad_to_seconds=MAX_SECONDS, **kwargs):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        self.sample_rate = int(sample_rate)
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive; received {sample_rate}.")
        self.pad_to_seconds = _check_pad_to_seconds(pad_to_seconds)
        self._filters = mel_filters().T  # [201, 80]
        # Hann, periodic (torch.hann_window's default, which whisper uses).
        self._window = (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(N_FFT) / N_FFT)).astype(
            np.float32)

    def _fixed_samples(self):
        if self.pad_to_seconds is None:
            return None
        return round(self.pad_to_seconds * WHISPER_RATE)

    def call(self, waveforms):
        waveforms = tf.cast(waveforms, tf.float32)
        audio = resample_linear(waveforms, self.sample_rate, WHISPER_RATE)
        target = self._fixed_samples() or int(MAX_SECONDS * WHISPER_RATE)
        audio = audio[:, :target]
        if self.pad_to_seconds is not None:
            audio = tf.pad(audio, [[0, 0], [0, target - tf.shape(audio)[1]]])
        audio = tf.pad(audio, [[0, 0], [N_FFT // 2, N_FFT // 2]], mode="REFLECT")
        frames = tf.signal.frame(audio, N_FFT, HOP_LENGTH)[:, :-1]  # [B, T, 400]
        spectrum = tf.signal.rfft(frames * self._window)
        power = tf.math.real(spectrum) ** 2 + tf.math.imag(spectrum) ** 2
        mel = tf.tensordot(power, tf.constant(self._filters), axes=[[2], [0]])
        log_mel = tf.math.log(tf.maximum(mel, 1e-10)) / math.log(10.0)
        peak = tf.reduce_max(log_mel, axis=[1, 2], keepdims=True)
        log_mel = tf.maximum(log_mel, peak - 8.0)
        return (log_mel + 4.0) / 4.0

    def compute_output_shape(self, input_shape):
        samples = self._fixed_samples()
        frames = None if samples is None else samples // HOP_LENGTH
        return (input_shape[0], frames, N_MELS)

    def get_config(self):
        return {**super().get_config(), "sample_rate": self.sample_rate,
                "pad_to_seconds": self.pad_to_seconds}


@keras.saving.register_keras_serializable(package="mmzoo")
class WhisperFrameMask(keras.layers.Layer):
    """`[B, L]` bool: which encoder positions hold the clip, not `pad_to_seconds` padding.

    Called on `(waveforms, sequence)`: the clip's mel frames are
    `samples_16k // 160`; an encoder position holds the clip when its centre frame
    (2 t) does, i.e. the first `ceil(frames / 2)` positions (at least one). Every clip
    of a batch has the same number of samples, so the rows are equal.

    >>> WhisperFrameMask(sample_rate=8000)([waveforms, sequence])  # 1 s: first 50 True
    """

    def __init__(self, sample_rate=WHISPER_RATE, **kwargs):
        super().__init__(**kwargs)
        self.sample_rate = int(sample_rate)

    def call(self, inputs):
        waveforms, sequence = inputs
        samples = clip_samples(tf.shape(waveforms)[1], self.sample_rate)
        frames = samples // HOP_LENGTH
        valid = tf.maximum((frames + ENCODER_STRIDE - 1) // ENCODER_STRIDE, 1)
        shape = tf.shape(sequence)
        positions = tf.range(shape[1])[None, :]
        return tf.broadcast_to(positions < valid, shape[:2])

    def compute_output_shape(self, input_shapes):
        return tuple(input_shapes[1][:2])

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(tuple(inputs[1].shape[:2]), dtype="bool")

    def get_config(self):
        return {**super().get_config(), "sample_rate": self.sample_rate}
