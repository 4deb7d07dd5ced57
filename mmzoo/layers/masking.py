"""Padding masks computed from token ids."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="mmzoo")
class PaddingMask(keras.layers.Layer):
    """`ids != padding_id` as a boolean `[B, T]` mask.

    >>> PaddingMask()(np.array([[5, 3, 0]]))  # [[True, True, False]]
    """

    def __init__(self, padding_id=0, **kwargs):
        super().__init__(**kwargs)
        self.padding_id = padding_id

    def call(self, ids):
        return ops.not_equal(ids, self.padding_id)

    def compute_output_spec(self, ids):
        return keras.KerasTensor(ids.shape, dtype="bool")

    def get_config(self):
        return {**super().get_config(), "padding_id": self.padding_id}


def apply_mask(x, mask):
    """Zeroes the masked (False) steps of `x` `[B, T, D]` given `mask` `[B, T]`."""
    return x * ops.expand_dims(ops.cast(mask, x.dtype), -1)


@keras.saving.register_keras_serializable(package="mmzoo")
class ZeroMasked(keras.layers.Layer):
    """Zeroes the padded steps of a sequence so convolutions see zeros there.

    >>> ZeroMasked()(x, mask)  # x[b, t] == 0 wherever mask[b, t] is False
    """

    def call(self, x, mask):
        return apply_mask(x, mask)

    def compute_mask(self, x, mask=None):
        return None
