"""Modality attention and gated multimodal units (GMU).

>>> AttentionFusion(["text", "audio"], dim=64)({"text": t, "audio": a})  # [B, 64]
>>> GatedFusion(["text", "image"], units=64)({"text": t, "image": i})     # [B, 64]
"""

import keras
from keras import ops

from mmzoo.fusion.base import Fusion, masked_softmax
from mmzoo.registry import FUSIONS


@FUSIONS.register("attention")
@keras.saving.register_keras_serializable(package="mmzoo")
class AttentionFusion(Fusion):
    """Modality attention: `fused = sum_i a_i x_i`, `a = softmax_i(W_i h)`.

    `x_i = tanh(P_i h_i)` projects each modality to `dim`, `h = concat_i(p_i x_i)` is the
    joint context and `W_i` a per-modality scoring vector; the softmax runs over the
    present modalities only.
    """

    def __init__(self, modalities, dim=128, **kwargs):
        super().__init__(modalities, **kwargs)
        self.dim = int(dim)
        self.projections = self.per_modality_dense(self.dim, "tanh")
        self.scorers = self.per_modality_dense(1, prefix="score")

    def build(self, features_shape, presence_shape=None, sequence_masks_shape=None):
        self.build_per_modality(self.projections, features_shape)
        for m in self.modalities:
            self.scorers[m].build((None, self.dim * len(self.modalities)))

    def call(self, features, presence=None, sequence_masks=None):
        weights = self.presence_weights(features, presence)
        projected = {m: self.projections[m](features[m]) for m in self.modalities}
        context = ops.concatenate([projected[m] * weights[m] for m in self.modalities], -1)
        scores = ops.concatenate([self.scorers[m](context) for m in self.modalities], -1)
        present = ops.concatenate([weights[m] for m in self.modalities], -1)
        attention = ops.cast(masked_softmax(scores, present, axis=-1), self.compute_dtype)
        stacked = ops.stack([projected[m] for m in self.modalities], axis=1)
        return ops.sum(stacked * ops.expand_dims(attention, -1), axis=1)

    def compute_output_shape(self, features_shape, presence_shape=None,
                             sequence_masks_shape=None):
        return (features_shape[self.modalities[0]][0], self.dim)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim}


@FUSIONS.register("gated")
@keras.saving.register_keras_serializable(package="mmzoo")
class GatedFusion(Fusion):
    """Gated Multimodal Unit (Arevalo et al. 2017), for any number of modalities.

    `h_i = tanh(W_i x_i)`, gate logits `g_i = G_i [p_1 x_1; ...; p_M x_M]`,
    `z = softmax_i(g_i)` per unit over present modalities, output `sum_i z_i h_i`.
    For two modalities this is the paper's `z h_1 + (1 - z) h_2` with
    `z = sigmoid(g_1 - g_2)`.
    """

    def __init__(self, modalities, units=128, **kwargs):
        super().__init__(modalities, **kwargs)
        self.units = int(units)
        self.transforms = self.per_modality_dense(self.units, "tanh", prefix="transform")
        self.gates = self.per_modality_dense(self.units, prefix="gate")

    def build(self, features_shape, presence_shape=None, sequence_masks_shape=None):
        joint = sum(features_shape[m][-1] for m in self.modalities)
        for m in self.modalities:
            self.transforms[m].build(features_shape[m])
            self.gates[m].build((None, joint))

    def call(self, features, presence=None, sequence_masks=None):
        weights = self.presence_weights(features, presence)
        inputs = {m: ops.cast(features[m], self.compute_dtype) for m in self.modalities}
        joint = ops.concatenate([inputs[m] * weights[m] for m in self.modalities], -1)
        hidden = ops.stack([self.transforms[m](inputs[m]) for m in self.modalities], 1)
        logits = ops.stack([self.gates[m](joint) for m in self.modalities], 1)
        present = ops.expand_dims(
            ops.concatenate([weights[m] for m in self.modalities], -1), -1)
        gates = ops.cast(masked_softmax(logits, present, axis=1), self.compute_dtype)
        return ops.sum(gates * hidden, axis=1)

    def compute_output_shape(self, features_shape, presence_shape=None,
                             sequence_masks_shape=None):
        return (features_shape[self.modalities[0]][0], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units}
