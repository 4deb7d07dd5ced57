"""What every backbone returns."""

import keras


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
