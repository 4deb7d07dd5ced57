"""Audio encoders: float32 mono waveform `[B, samples]` -> pooled + frame features.

`keras.layers.MelSpectrogram` runs inside the model (25 ms windows, 10 ms hop, log-mel
in dB), so callers feed raw waveforms at the encoder's `sample_rate`.

>>> encoder = BACKBONES.get("mel_cnn")(sample_rate=8000)
>>> encoder(waveforms)["sequence"].shape  # (B, frames / 8, 128)
"""

import keras

from mmzoo.backbones.base import BN_MOMENTUM, conv_blocks, encoder_model
from mmzoo.layers import DecibelFloor, TrainingOnly
from mmzoo.registry import BACKBONES

# MelSpectrogram clamps at `top_db` below the peak of the whole *batch*; this value
# leaves only its fixed floor (min_power, -100 dB) and DecibelFloor clamps per clip.
_NO_BATCH_FLOOR = 1e6


def mel_frontend(sample_rate, num_mel_bins, augment=False):
    """Waveform input and its log-mel image `[B, frames, num_mel_bins, 1]`.

    With `augment`, training shifts the log-mel image in time (up to 10% of the clip)
    and erases random time-frequency rectangles (SpecAugment-style masking); both are
    no-ops at inference.
    """
    waveform = keras.Input((None,), dtype="float32", name="waveform")
    window = int(round(0.025 * sample_rate))
    fft_length = 1 << (window - 1).bit_length()
    mel = keras.layers.MelSpectrogram(
        fft_length=fft_length,
        sequence_stride=int(round(0.010 * sample_rate)),
        sequence_length=window,
        sampling_rate=sample_rate,
        num_mel_bins=num_mel_bins,
        max_freq=sample_rate / 2,
        top_db=_NO_BATCH_FLOOR,
        name="log_mel",
    )(waveform)
    mel = DecibelFloor(80.0, name="db_floor")(mel)
    x = keras.layers.Permute((2, 1), name="time_major")(mel)
    x = keras.layers.Reshape((-1, num_mel_bins, 1), name="add_channel")(x)
    # Per-mel-bin BatchNorm standardises the dB scale (as in PANNs).
    x = keras.layers.BatchNormalization(axis=2, momentum=BN_MOMENTUM, name="mel_norm")(x)
    if augment:
        x = TrainingOnly(keras.layers.RandomTranslation(0.1, 0.0, fill_mode="constant"),
                         name="time_shift")(x)
        x = TrainingOnly(keras.layers.RandomErasing(
            factor=0.5, scale=(0.02, 0.15), fill_value=0.0, value_range=(-10.0, 10.0)),
            name="spec_mask")(x)
    return waveform, x


@BACKBONES.register("mel_cnn", modality="audio")
def mel_cnn(sample_rate=16000, num_mel_bins=64, filters=(32, 64, 128), augment=False,
            name="mel_cnn"):
    """2-D CNN over the log-mel image; sequence = frames (frequency averaged)."""
    waveform, x = mel_frontend(sample_rate, num_mel_bins, augment)
    grid = conv_blocks(x, filters)
    pooled = keras.layers.GlobalAveragePooling2D(name="avg_pool")(grid)
    sequence = keras.layers.AveragePooling2D(
        pool_size=(1, grid.shape[2]), name="frequency_pool"
    )(grid)
    sequence = keras.layers.Reshape((-1, grid.shape[3]), name="frames")(sequence)
    return encoder_model(waveform, pooled, sequence, name=name)


@BACKBONES.register("mel_crnn", modality="audio")
def mel_crnn(
    sample_rate=16000, num_mel_bins=64, filters=(32, 64), units=128, augment=False,
    name="mel_crnn",
):
    """CNN front end, then a GRU over time; pooled = the GRU's final state."""
    waveform, x = mel_frontend(sample_rate, num_mel_bins, augment)
    grid = conv_blocks(x, filters)
    frames = keras.layers.Reshape((-1, grid.shape[2] * grid.shape[3]), name="frames")(grid)
    sequence, pooled = keras.layers.GRU(
        units, return_sequences=True, return_state=True, name="gru"
    )(frames)
    return encoder_model(waveform, pooled, sequence, name=name)
