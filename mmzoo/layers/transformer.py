"""Pre-norm transformer blocks built from Keras' MultiHeadAttention."""

import keras
from keras import ops


def _attention_mask(query_mask, key_mask):
    """`[B, Tq, Tk]` mask from per-step masks (either may be None)."""
    if query_mask is None and key_mask is None:
        return None
    if key_mask is None:
        return ops.expand_dims(ops.cast(query_mask, "bool"), -1)
    key = ops.expand_dims(ops.cast(key_mask, "bool"), 1)
    if query_mask is None:
        return key
    return ops.logical_and(ops.expand_dims(ops.cast(query_mask, "bool"), -1), key)


@keras.saving.register_keras_serializable(package="mmzoo")
class TransformerBlock(keras.layers.Layer):
    """Pre-norm block: x + MHA(LN(x), LN(context)), then x + FFN(LN(x)).

    Self-attention when `context` is None, cross-attention (queries from `x`, keys and
    values from `context`) otherwise. Padded keys are never attended to; a padded query
    step produces an output that the caller's masked pooling ignores. Only a
    cross-attention block has a `context_norm` (a self-attention block built one
    before 0.2 and never used it, so training warned that it had no gradients; files
    saved then still load: Keras skips the unused weights).

    >>> block = TransformerBlock(num_heads=2, key_dim=16, ffn_dim=64)
    >>> y = block(x, mask=x_mask)                               # self-attention
    >>> y = block(x, context=z, mask=x_mask, context_mask=z_mask)  # cross-attention
    """

    def __init__(self, num_heads=4, key_dim=32, ffn_dim=256, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.ffn_dim = ffn_dim
        self.dropout = dropout
        self.query_norm = keras.layers.LayerNormalization(
            epsilon=1e-6, dtype=self.dtype_policy, name="query_norm")
        self.attention = keras.layers.MultiHeadAttention(
            num_heads, key_dim, dropout=dropout, dtype=self.dtype_policy, name="attention"
        )
        self.ffn_norm = keras.layers.LayerNormalization(
            epsilon=1e-6, dtype=self.dtype_policy, name="ffn_norm")
        self.ffn_hidden = keras.layers.Dense(ffn_dim, activation="gelu",
                                             dtype=self.dtype_policy, name="ffn_hidden")
        self.drop = keras.layers.Dropout(dropout, dtype=self.dtype_policy)

    def build(self, x_shape, context_shape=None):
        input_shape = x_shape
        dim = input_shape[-1]
        self.query_norm.build(input_shape)
        if context_shape is not None:  # cross-attention
            self.context_norm = keras.layers.LayerNormalization(
                epsilon=1e-6, dtype=self.dtype_policy, name="context_norm")
            self.context_norm.build(context_shape)
        self.attention.build(input_shape, context_shape or input_shape)
        self.ffn_norm.build(input_shape)
        self.ffn_hidden.build(input_shape)
        self.ffn_output = keras.layers.Dense(dim, dtype=self.dtype_policy, name="ffn_output")
        self.ffn_output.build(tuple(input_shape[:-1]) + (self.ffn_dim,))

    def call(self, x, context=None, mask=None, context_mask=None, training=None):
        query = self.query_norm(x)
        if context is None:
            context, context_mask = query, mask
        else:
            context = self.context_norm(context)
        attended = self.attention(
            query,
            context,
            attention_mask=_attention_mask(mask, context_mask),
            training=training,
        )
        x = x + self.drop(attended, training=training)
        hidden = self.ffn_output(self.ffn_hidden(self.ffn_norm(x)))
        return x + self.drop(hidden, training=training)

    def compute_output_shape(self, x_shape, context_shape=None):
        return x_shape

    def compute_mask(self, x, mask=None, **kwargs):
        return mask

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "key_dim": self.key_dim,
            "ffn_dim": self.ffn_dim,
            "dropout": self.dropout,
        }
