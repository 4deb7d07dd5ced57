"""The contract every fusion layer keeps.

A fusion layer is called as `fusion(features, presence=None, sequence_masks=None)`:

- `features`: dict modality -> `[B, D_m]` pooled vectors (`input_kind == "pooled"`) or
  `[B, T_m, D_m]` sequences (`input_kind == "sequence"`);
- `presence`: dict modality -> `[B]` (1 = present, 0 = missing); None = all present;
- `sequence_masks`: dict modality -> `[B, T_m]` bool padding masks (sequence fusions).

It returns fused features `[B, F]`, or logits `[B, num_classes]` when
`produces_logits` is True (decision-level fusion). A missing modality never reaches the
output: each layer masks it with `presence`, so callers do not zero-fill inputs.
"""

import keras
from keras import ops


class Fusion(keras.layers.Layer):
    """Base class: holds the ordered modality names and normalises `presence`."""

    input_kind = "pooled"
    produces_logits = False
    auxiliary_outputs = False

    def __init__(self, modalities, **kwargs):
        super().__init__(**kwargs)
        modalities = list(modalities)
        if not modalities or len(set(modalities)) != len(modalities):
            raise ValueError(
                f"{type(self).__name__} needs distinct modality names, "
                f"received {modalities!r}."
            )
        self.modalities = modalities
        # Padding masks arrive explicitly (`sequence_masks`); Keras masks are dropped.
        self.supports_masking = True

    def compute_mask(self, *args, **kwargs):
        return None

    def check_features(self, features):
        """Raises a ValueError naming any modality missing from or extra in `features`."""
        if not isinstance(features, dict):
            raise ValueError(
                f"{type(self).__name__} expects a dict of features keyed by modality "
                f"{self.modalities}, received {type(features).__name__}."
            )
        missing = [m for m in self.modalities if m not in features]
        extra = [m for m in features if m not in self.modalities]
        if missing or extra:
            raise ValueError(
                f"{type(self).__name__} was built for modalities {self.modalities}; "
                f"features are missing {missing} and have unexpected {extra}."
            )

    def presence_weights(self, features, presence):
        """dict modality -> `[B, 1]` presence in the compute dtype (ones when None)."""
        self.check_features(features)
        weights = {}
        for name in self.modalities:
            batch = ops.shape(features[name])[0]
            value = None if presence is None else presence.get(name)
            if value is None:
                value = ops.ones((batch,), dtype=self.compute_dtype)
            weights[name] = ops.expand_dims(ops.cast(value, self.compute_dtype), -1)
        return weights

    def per_modality_dense(self, units, activation=None, prefix="project"):
        """dict modality -> `Dense(units, activation)` named `<prefix>_<modality>`.

        >>> self.projections = self.per_modality_dense(128, "tanh")
        >>> self.build_per_modality(self.projections, features_shape)  # in `build`
        """
        return {m: keras.layers.Dense(units, activation=activation, dtype=self.dtype_policy,
                                      name=f"{prefix}_{m}")
                for m in self.modalities}

    def build_per_modality(self, layers, features_shape):
        """Builds `layers[m]` on `features_shape[m]` for every modality."""
        for m in self.modalities:
            layers[m].build(features_shape[m])

    def get_config(self):
        return {**super().get_config(), "modalities": self.modalities}


def masked_softmax(scores, present, axis):
    """Softmax of `scores` over `axis` ignoring entries where `present` is 0.

    Computed in float32; a row with nothing present gets all-zero weights.
    """
    scores = ops.cast(scores, "float32")
    present = ops.cast(present, "float32") > 0
    scores = ops.where(present, scores, -1e9)
    weights = ops.softmax(scores, axis=axis) * ops.cast(present, "float32")
    return weights / ops.maximum(ops.sum(weights, axis=axis, keepdims=True), 1e-12)
