"""Learned position embeddings."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="mmzoo")
class PositionEmbedding(keras.layers.Layer):
    """Adds a learned embedding of each position to `[B, T, D]`, `T <= max_length`.

    >>> PositionEmbedding(max_length=64)(token_embeddings)  # same shape
    """

    def __init__(self, max_length, **kwargs):
        super().__init__(**kwargs)
        self.max_length = int(max_length)
        self.supports_masking = True

    def build(self, input_shape):
        self.embeddings = self.add_weight(
            shape=(self.max_length, input_shape[-1]),
            initializer=keras.initializers.RandomNormal(stddev=0.02),
            name="embeddings",
        )

    def call(self, x, start=0):
        length = ops.shape(x)[1]
        positions = ops.slice(self.embeddings, (start, 0), (length, ops.shape(x)[2]))
        return x + ops.cast(positions, x.dtype)

    def get_config(self):
        return {**super().get_config(), "max_length": self.max_length}
