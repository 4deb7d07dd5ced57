"""Tensor Fusion (TFN) and Low-rank Multimodal Fusion (LMF).

>>> TensorFusion(["text", "image", "audio"], dim=8)(features)   # [B, 9 ** 3]
>>> LowRankFusion(["text", "image"], units=64, rank=4)(features) # [B, 64]
"""

import math

import keras
from keras import ops

from mmzoo.fusion.base import Fusion
from mmzoo.registry import FUSIONS


def _with_one(x):
    """`[1; x]` along the last axis."""
    return ops.concatenate([ops.ones_like(x[:, :1]), x], axis=-1)


@FUSIONS.register("tensor")
@keras.saving.register_keras_serializable(package="mmzoo")
class TensorFusion(Fusion):
    """TFN (Zadeh et al. 2017): `flatten(outer_m [1; z_m])` with `z_m = p_m relu(P_m h_m)`.

    The appended 1 keeps every unimodal and bimodal term, so a missing modality
    (`z_m = 0`) reduces the product to the interactions of the others. The output has
    `(dim + 1) ** M` features, so `dim` is kept small.
    """

    def __init__(self, modalities, dim=16, **kwargs):
        super().__init__(modalities, **kwargs)
        self.dim = int(dim)
        self.projections = self.per_modality_dense(self.dim, "relu")

    def build(self, features_shape, presence_shape=None, sequence_masks_shape=None):
        self.build_per_modality(self.projections, features_shape)

    def call(self, features, presence=None, sequence_masks=None):
        weights = self.presence_weights(features, presence)
        product = None
        for m in self.modalities:
            factor = _with_one(self.projections[m](features[m]) * weights[m])
            if product is None:
                product = factor
                continue
            outer = ops.expand_dims(product, -1) * ops.expand_dims(factor, 1)
            product = ops.reshape(outer, (-1, outer.shape[1] * outer.shape[2]))
        return product

    def compute_output_shape(self, features_shape, presence_shape=None,
                             sequence_masks_shape=None):
        return (features_shape[self.modalities[0]][0],
                (self.dim + 1) ** len(self.modalities))

    def get_config(self):
        return {**super().get_config(), "dim": self.dim}


@FUSIONS.register("low_rank")
@keras.saving.register_keras_serializable(package="mmzoo")
class LowRankFusion(Fusion):
    """LMF (Liu et al. 2018): `sum_r lambda_r prod_m ([1; p_m h_m] W_m^(r)) + b`.

    Equivalent to a TFN followed by a linear layer whose weight tensor has rank `rank`,
    at a cost linear (not exponential) in the number of modalities.
    """

    def __init__(self, modalities, units=128, rank=4, **kwargs):
        super().__init__(modalities, **kwargs)
        self.units = int(units)
        self.rank = int(rank)

    def build(self, features_shape, presence_shape=None, sequence_masks_shape=None):
        self.factors = {}
        for m in self.modalities:
            fan_in = features_shape[m][-1] + 1
            limit = math.sqrt(6.0 / (fan_in + self.units))
            self.factors[m] = self.add_weight(
                shape=(self.rank, fan_in, self.units),
                initializer=keras.initializers.RandomUniform(-limit, limit),
                name=f"factor_{m}",
            )
        self.rank_weights = self.add_weight(
            shape=(self.rank,), initializer="glorot_uniform", name="rank_weights")
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")

    def call(self, features, presence=None, sequence_masks=None):
        weights = self.presence_weights(features, presence)
        product = None
        for m in self.modalities:
            augmented = _with_one(ops.cast(features[m], self.compute_dtype) * weights[m])
            factor = ops.einsum("bd,rdu->bru", augmented,
                                ops.cast(self.factors[m], self.compute_dtype))
            product = factor if product is None else product * factor
        rank_weights = ops.cast(self.rank_weights, self.compute_dtype)
        return ops.einsum("bru,r->bu", product, rank_weights) + ops.cast(
            self.bias, self.compute_dtype)

    def compute_output_shape(self, features_shape, presence_shape=None,
                             sequence_masks_shape=None):
        return (features_shape[self.modalities[0]][0], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "rank": self.rank}
