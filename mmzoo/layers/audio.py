"""Spectrogram post-processing that treats every clip of a batch on its own."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="mmzoo")
class DecibelFloor(keras.layers.Layer):
    """Clamps a dB spectrogram at `top_db` below each example's own peak.

    `keras.layers.MelSpectrogram(top_db=...)` takes the peak over the whole batch, so a
    clip's features (and the model's prediction) change with the clips batched next to
    it; librosa's `power_to_db(S, top_db=80)` on one clip is what this layer computes,
    per example.

    >>> DecibelFloor(80.0)(log_mel)  # [B, ...] dB values, each >= its own max - 80
    """

    def __init__(self, top_db=80.0, **kwargs):
        super().__init__(**kwargs)
        if top_db is not None and float(top_db) <= 0:
            raise ValueError(f"top_db must be positive or None, received {top_db}.")
        self.top_db = None if top_db is None else float(top_db)

    def call(self, decibels):
        if self.top_db is None:
            return decibels
        axes = tuple(range(1, len(decibels.shape)))
        peak = ops.max(decibels, axis=axes, keepdims=True)
        return ops.maximum(decibels, peak - self.top_db)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "top_db": self.top_db}
