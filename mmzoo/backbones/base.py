"""What every backbone returns."""

import keras

from mmzoo.layers import TransformerBlock

# Faster-moving BatchNorm statistics than Keras' 0.99: with a few hundred steps per
# epoch on small data sets, 0.99 leaves inference-mode statistics far from the data.
BN_MOMENTUM = 0.9


def encoder_model(inputs, pooled, sequence, sequence_mask=None, name=None):
    """A `keras.Model` with outputs `{"pooled": [B, D], "sequence": [B, L, D'], ...}`.

    `sequence_mask` (`[B, L]` bool) is present only where the sequence can be padded
    (text); image grids and audio frames are always fully valid.
    """
    outputs = {"pooled": pooled, "sequence": sequence}
    if sequence_mask is not None:
        outputs["sequence_mask"] = sequence_mask
    return keras.Model(inputs, outputs, name=name)


def feature_dims(backbone):
    """`(pooled_dim, sequence_dim)` of a backbone model."""
    return backbone.output["pooled"].shape[-1], backbone.output["sequence"].shape[-1]


def conv_blocks(x, filters):
    """Conv(3x3)-BatchNorm-ReLU-MaxPool blocks, one per width in `filters`."""
    for index, width in enumerate(filters):
        x = keras.layers.Conv2D(width, 3, padding="same", use_bias=False,
                                name=f"conv_{index}")(x)
        x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"bn_{index}")(x)
        x = keras.layers.ReLU(name=f"relu_{index}")(x)
        x = keras.layers.MaxPooling2D(name=f"pool_{index}")(x)
    return x


def transformer_encoder(x, num_layers, num_heads, ffn_dim, dropout, mask=None):
    """`num_layers` pre-norm TransformerBlocks then a final LayerNormalization."""
    dim = x.shape[-1]
    for index in range(num_layers):
        x = TransformerBlock(num_heads, dim // num_heads, ffn_dim, dropout,
                             name=f"block_{index}")(x, mask=mask)
    return keras.layers.LayerNormalization(epsilon=1e-6, name="final_norm")(x)
