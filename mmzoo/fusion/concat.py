"""Early, late and hybrid fusion.

>>> early = ConcatFusion(["text", "image"])
>>> fused = early({"text": t, "image": i}, presence={"text": p_t, "image": p_i})
>>> late = LateFusion(["text", "image"], num_classes=3, learn_weights=True)
>>> logits = late({"text": t, "image": i})
"""

import math

import keras
from keras import ops

from mmzoo.fusion.base import Fusion
from mmzoo.registry import FUSIONS


@FUSIONS.register("concat")
@keras.saving.register_keras_serializable(package="mmzoo")
class ConcatFusion(Fusion):
    """Early fusion: `concat_m(p_m * h_m)`; a missing modality's slot is zero."""

    def call(self, features, presence=None, sequence_masks=None):
        weights = self.presence_weights(features, presence)
        parts = [ops.cast(features[m], self.compute_dtype) * weights[m]
                 for m in self.modalities]
        return parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=-1)

    def compute_output_shape(self, features_shape, presence_shape=None,
                             sequence_masks_shape=None):
        width = sum(features_shape[m][-1] for m in self.modalities)
        return (features_shape[self.modalities[0]][0], width)


def weighted_average(logits, weights, presence):
    """`sum_m w_m p_m l_m / sum_m w_m p_m` over the modalities in `logits`."""
    total, norm = 0.0, 0.0
    for name, value in logits.items():
        share = weights[name] * presence[name]
        total = total + share * value
        norm = norm + share
    return total / ops.maximum(norm, 1e-6)


class _DecisionFusion(Fusion):
    """Per-modality linear heads whose logits are averaged over present modalities."""

    produces_logits = True

    def __init__(self, modalities, num_classes, modality_weights=None,
                 learn_weights=False, **kwargs):
        # Decision-level layers output logits: float32 even under mixed precision.
        kwargs.setdefault("dtype", "float32")
        super().__init__(modalities, **kwargs)
        self.num_classes = int(num_classes)
        if modality_weights is not None and len(modality_weights) != len(self.modalities):
            raise ValueError(
                f"modality_weights needs one weight per modality {self.modalities}, "
                f"received {modality_weights!r}."
            )
        if modality_weights is not None and min(modality_weights) <= 0:
            raise ValueError(
                f"modality_weights must be positive, received {modality_weights!r}."
            )
        self.modality_weights = (
            None if modality_weights is None else [float(w) for w in modality_weights]
        )
        self.learn_weights = bool(learn_weights)
        self.heads = {
            m: keras.layers.Dense(self.num_classes, dtype=self.dtype_policy, name=f"{m}_head")
            for m in self.modalities
        }

    def build(self, features_shape, presence_shape=None, sequence_masks_shape=None):
        for name in self.modalities:
            self.heads[name].build(features_shape[name])
        initial = self.modality_weights or [1.0] * len(self.modalities)
        if self.learn_weights:
            # Softmax-normalised learned weights, starting at the given (or equal) ones.
            self.weight_logits = self.add_weight(
                shape=(len(self.modalities),),
                initializer=keras.initializers.Constant([math.log(w) for w in initial]),
                name="weight_logits",
            )

    def decision_weights(self):
        if self.learn_weights:
            # A softmax written out: ops.softmax warns on a single modality's axis of 1.
            logits = ops.cast(self.weight_logits, "float32")
            values = ops.exp(logits - ops.max(logits))
            values = values / ops.sum(values)
        else:
            values = ops.array(self.modality_weights or [1.0] * len(self.modalities),
                               dtype="float32")
        return {m: ops.cast(values[i], self.compute_dtype)
                for i, m in enumerate(self.modalities)}

    def unimodal_logits(self, features):
        return {m: self.heads[m](features[m]) for m in self.modalities}

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "modality_weights": self.modality_weights,
            "learn_weights": self.learn_weights,
        }


@FUSIONS.register("late")
@keras.saving.register_keras_serializable(package="mmzoo")
class LateFusion(_DecisionFusion):
    """Decision-level fusion: `logits = sum_m w_m p_m (W_m h_m + b_m) / sum_m w_m p_m`.

    The weights `w_m` are fixed (`modality_weights`, equal by default) or learned
    (`learn_weights=True`, softmax-normalised).
    """

    def call(self, features, presence=None, sequence_masks=None):
        weights = self.presence_weights(features, presence)
        return weighted_average(
            self.unimodal_logits(features), self.decision_weights(), weights
        )

    def compute_output_shape(self, features_shape, presence_shape=None,
                             sequence_masks_shape=None):
        return (features_shape[self.modalities[0]][0], self.num_classes)


@FUSIONS.register("hybrid")
@keras.saving.register_keras_serializable(package="mmzoo")
class HybridFusion(_DecisionFusion):
    """Early and late fusion together (Atrey et al. 2010's "hybrid" fusion).

    `fused = W_f concat_m(p_m h_m) + b_f` is the early decision and `late` the weighted
    average of the unimodal heads (as in `LateFusion`); the output logits are
    `fused_weight * fused + (1 - fused_weight) * late`. It also returns the unimodal
    logits `[B, M, C]`, which the classifier trains with an auxiliary loss weighted by
    its `aux_loss_weight`.
    """

    auxiliary_outputs = True

    def __init__(self, modalities, num_classes, fused_weight=0.5, **kwargs):
        super().__init__(modalities, num_classes, **kwargs)
        if not 0.0 <= fused_weight <= 1.0:
            raise ValueError(f"fused_weight must be in [0, 1], received {fused_weight}.")
        self.fused_weight = float(fused_weight)
        self.fused_head = keras.layers.Dense(self.num_classes, dtype=self.dtype_policy,
                                             name="fused_head")

    def build(self, features_shape, presence_shape=None, sequence_masks_shape=None):
        super().build(features_shape)
        width = sum(features_shape[m][-1] for m in self.modalities)
        self.fused_head.build((None, width))

    def call(self, features, presence=None, sequence_masks=None):
        weights = self.presence_weights(features, presence)
        early = ops.concatenate(
            [ops.cast(features[m], self.compute_dtype) * weights[m]
             for m in self.modalities], axis=-1)
        fused = self.fused_head(early)
        unimodal = self.unimodal_logits(features)
        late = weighted_average(unimodal, self.decision_weights(), weights)
        logits = self.fused_weight * fused + (1.0 - self.fused_weight) * late
        return logits, ops.stack([unimodal[m] for m in self.modalities], axis=1)

    def compute_output_shape(self, features_shape, presence_shape=None,
                             sequence_masks_shape=None):
        batch = features_shape[self.modalities[0]][0]
        return (batch, self.num_classes), (batch, len(self.modalities), self.num_classes)

    def get_config(self):
        return {**super().get_config(), "fused_weight": self.fused_weight}
