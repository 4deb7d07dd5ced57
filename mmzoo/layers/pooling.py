"""Pooling over time that ignores padded steps."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="mmzoo")
class MaskedGlobalPooling1D(keras.layers.Layer):
    """Mean or max over the valid steps of `[B, T, D]`.

    A row with no valid step pools to zeros (not NaN or -inf). Computed in float32,
    returned in the layer's compute dtype.

    >>> MaskedGlobalPooling1D("max")(sequence, mask=mask)  # [B, D]
    """

    def __init__(self, mode="mean", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("mean", "max"):
            raise ValueError(f"mode must be 'mean' or 'max', received {mode!r}.")
        self.mode = mode

    def call(self, x, mask=None):
        x = ops.cast(x, "float32")
        if mask is None:
            mask = ops.ones(ops.shape(x)[:2], dtype="bool")
        valid = ops.expand_dims(ops.cast(mask, "float32"), -1)
        if self.mode == "mean":
            total = ops.sum(x * valid, axis=1)
            pooled = total / ops.maximum(ops.sum(valid, axis=1), 1.0)
        else:
            lowest = ops.min(x, axis=(1, 2), keepdims=True) - 1.0
            pooled = ops.max(ops.where(valid > 0, x, lowest), axis=1)
            pooled = ops.where(ops.sum(valid, axis=1) > 0, pooled, 0.0)
        return ops.cast(pooled, self.compute_dtype)

    def compute_output_shape(self, x_shape, mask_shape=None):
        return (x_shape[0], x_shape[2])

    def compute_mask(self, x, mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}
