"""Bilinear fusion: element-wise products, MFB, and MFB with co-attention (VQA).

>>> HadamardFusion(["image", "question"], units=256)(
...     {"image": v, "question": q})                          # [B, 256]
>>> MFBFusion(["image", "question"], units=256, factors=5)(
...     {"image": v, "question": q})                          # [B, 256]
>>> MFBCoAttentionFusion(["image", "question"], units=256)(
...     {"image": grid, "question": words},                   # [B, N, Di], [B, T, Dq]
...     sequence_masks={"question": word_mask})               # [B, 256]

MFB (Yu et al. 2017, "Multi-modal Factorized Bilinear Pooling with Co-Attention Learning
for Visual Question Answering") approximates a full bilinear map `z_i = x^T W_i y` by
`k` rank-one factors per output: `z = SumPool_k(U^T x * V^T y)` (an `o * k` wide
element-wise product summed over windows of `k`), followed by power normalisation
(signed square root) and L2 normalisation.
"""

import keras
from keras import ops

from mmzoo.fusion.base import Fusion, masked_softmax
from mmzoo.registry import FUSIONS

# sign(z) * (sqrt(|z| + eps) - sqrt(eps)): within 1e-4 of sign(z) sqrt(|z|) and with a
# finite gradient at z = 0 (the plain signed square root has an infinite one there).
_SQRT_EPSILON = 1e-8


def signed_sqrt(z):
    """Power normalisation `sign(z) sqrt(|z|)` with a finite gradient at 0."""
    return ops.sign(z) * (ops.sqrt(ops.abs(z) + _SQRT_EPSILON) - _SQRT_EPSILON ** 0.5)


def l2_normalize(z, axis=-1):
    """`z / ||z||` along `axis` (zero vectors stay zero)."""
    return z * ops.rsqrt(ops.maximum(ops.sum(ops.square(z), axis=axis, keepdims=True),
                                     1e-12))


def mfb_pool(x_projected, y_projected, factors, dropout_layer=None, training=None):
    """MFB of already projected `[..., o * k]` inputs: sum-pool over `k`, power, L2.

    The two inputs broadcast against each other (e.g. `[B, N, o*k]` and `[B, 1, o*k]`).
    """
    joint = x_projected * y_projected
    if dropout_layer is not None:
        joint = dropout_layer(joint, training=training)
    units = joint.shape[-1] // factors
    pooled = ops.sum(ops.reshape(joint, (-1, *joint.shape[1:-1], units, factors)), axis=-1)
    # The normalisations run in float32 (under mixed precision too).
    normalized = l2_normalize(signed_sqrt(ops.cast(pooled, "float32")))
    return ops.cast(normalized, joint.dtype)


def _two_modalities(layer, modalities):
    if len(modalities) != 2:
        raise ValueError(
            f"{type(layer).__name__} fuses exactly two modalities, received {modalities!r}.")


def _grid_and_query(layer, grid):
    """(grid modality, query modality) of a two-modality attention fusion."""
    _two_modalities(layer, layer.modalities)
    if grid not in layer.modalities:
        raise ValueError(
            f"{type(layer).__name__}: grid={grid!r} is not one of the modalities "
            f"{layer.modalities}.")
    return grid, next(m for m in layer.modalities if m != grid)


@FUSIONS.register("hadamard")
@keras.saving.register_keras_serializable(package="mmzoo")
class HadamardFusion(Fusion):
    """Element-wise product of projected features: `prod_m act(W_m h_m + b_m)`.

    The easy-VQA baseline's fusion (image and question vectors multiplied), and the
    multimodal low-rank bilinear pooling of Kim et al. 2017 (MLB) before its output
    projection. A missing modality (presence 0) contributes a factor of ones, so the
    output is then the product of the present modalities' projections.
    `features`: dict modality -> `[B, D_m]`; output `[B, units]`.
    """

    def __init__(self, modalities, units=256, activation="tanh", **kwargs):
        super().__init__(modalities, **kwargs)
        self.units = int(units)
        self.activation = activation
        self.projections = self.per_modality_dense(self.units, activation)

    def build(self, features_shape, presence_shape=None, sequence_masks_shape=None):
        self.build_per_modality(self.projections, features_shape)

    def call(self, features, presence=None, sequence_masks=None):
        weights = self.presence_weights(features, presence)
        product = None
        for m in self.modalities:
            projected = self.projections[m](features[m])
            factor = weights[m] * projected + (1.0 - weights[m])
            product = factor if product is None else product * factor
        return product

    def compute_output_shape(self, features_shape, presence_shape=None,
                             sequence_masks_shape=None):
        return (features_shape[self.modalities[0]][0], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": self.activation}


@FUSIONS.register("mfb")
@keras.saving.register_keras_serializable(package="mmzoo")
class MFBFusion(Fusion):
    """Multi-modal Factorized Bilinear pooling of two modalities (Yu et al. 2017).

    `z = L2(signed_sqrt(SumPool_k(dropout(U^T x * V^T y))))` with `U`, `V` linear maps
    (with bias) to `units * factors`; output `[B, units]`.
    `features`: `{a: [B, D_a], b: [B, D_b]}`. A missing modality (presence 0) zeroes its
    projection, so the product and the output are zero for that example.
    """

    def __init__(self, modalities, units=256, factors=5, dropout=0.1, **kwargs):
        super().__init__(modalities, **kwargs)
        _two_modalities(self, self.modalities)
        self.units = int(units)
        self.factors = int(factors)
        self.dropout = float(dropout)
        self.projections = self.per_modality_dense(self.units * self.factors)
        self.dropout_layer = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy,
                                                  name="dropout")

    def build(self, features_shape, presence_shape=None, sequence_masks_shape=None):
        self.build_per_modality(self.projections, features_shape)

    def call(self, features, presence=None, sequence_masks=None, training=None):
        weights = self.presence_weights(features, presence)
        first, second = (self.projections[m](features[m]) * weights[m]
                         for m in self.modalities)
        return mfb_pool(first, second, self.factors, self.dropout_layer, training)

    def compute_output_shape(self, features_shape, presence_shape=None,
                             sequence_masks_shape=None):
        return (features_shape[self.modalities[0]][0], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "factors": self.factors,
                "dropout": self.dropout}


@FUSIONS.register("mfb_coattention")
@keras.saving.register_keras_serializable(package="mmzoo")
class MFBCoAttentionFusion(Fusion):
    """MFB with co-attention (Yu et al. 2017, MFB-CoAtt), for a grid and a sequence.

    `features`: `{grid: [B, N, D_v]` (e.g. an image backbone's flattened feature grid),
    `query: [B, T, D_q]` (e.g. the question encoder's word states) or `[B, D_q]`}, with
    `sequence_masks[query]` `[B, T]` marking valid words. Steps:

    1. question self-attention (skipped for a `[B, D_q]` query): for each of
       `question_glimpses` glimpses g, `a_g = softmax_t(w_g^T relu(W q_t + b) + c_g)`
       over the valid words, `q~ = concat_g sum_t a_g,t q_t`;
    2. question-guided image attention: `m_n = MFB(v_n, q~)` for every region n,
       `b_g = softmax_n(w'_g^T relu(W' m_n + b') + c'_g)`, `v~ = concat_g sum_n b_g,n v_n`;
    3. output `MFB(v~, q~)`, `[B, units]`.

    Each MFB is `L2(signed_sqrt(SumPool_k(dropout(U^T x * V^T y))))` (see `MFBFusion`).
    A missing modality (presence 0) zeroes its features, so the bilinear products and the
    output are zero for that example.
    """

    input_kind = "sequence"

    def __init__(self, modalities, units=256, factors=5, attention_units=256,
                 question_glimpses=2, image_glimpses=2, dropout=0.1, grid="image",
                 **kwargs):
        super().__init__(modalities, **kwargs)
        self.grid, self.query = _grid_and_query(self, grid)
        self.units = int(units)
        self.factors = int(factors)
        self.attention_units = int(attention_units)
        self.question_glimpses = int(question_glimpses)
        self.image_glimpses = int(image_glimpses)
        self.dropout = float(dropout)
        width = self.units * self.factors

        def dense(units, **options):
            return keras.layers.Dense(units, dtype=self.dtype_policy, **options)

        self.question_hidden = dense(self.attention_units, activation="relu",
                                     name="question_attention_hidden")
        self.question_scores = dense(self.question_glimpses, name="question_attention")
        self.attention_grid = dense(width, name="attention_project_grid")
        self.attention_query = dense(width, name="attention_project_query")
        self.image_hidden = dense(self.attention_units, activation="relu",
                                  name="image_attention_hidden")
        self.image_scores = dense(self.image_glimpses, name="image_attention")
        self.output_grid = dense(width, name="output_project_grid")
        self.output_query = dense(width, name="output_project_query")
        self.attention_dropout = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name="attention_dropout")
        self.output_dropout = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name="output_dropout")

    def _query_width(self, query_dim):
        return query_dim * (self.question_glimpses if self._sequence_query else 1)

    def build(self, features_shape, presence_shape=None, sequence_masks_shape=None):
        grid_shape, query_shape = features_shape[self.grid], features_shape[self.query]
        if len(grid_shape) != 3:
            raise ValueError(
                f"{type(self).__name__}: '{self.grid}' must be a grid [B, N, D], "
                f"received shape {list(grid_shape)}.")
        self._sequence_query = len(query_shape) == 3
        grid_dim, query_dim = grid_shape[-1], query_shape[-1]
        if self._sequence_query:
            self.question_hidden.build(query_shape)
            self.question_scores.build((None, None, self.attention_units))
        attended_query = self._query_width(query_dim)
        self.attention_grid.build(grid_shape)
        self.attention_query.build((None, attended_query))
        self.image_hidden.build((None, None, self.units))
        self.image_scores.build((None, None, self.attention_units))
        self.output_grid.build((None, grid_dim * self.image_glimpses))
        self.output_query.build((None, attended_query))

    def call(self, features, presence=None, sequence_masks=None, training=None):
        weights = self.presence_weights(features, presence)
        grid = ops.cast(features[self.grid], self.compute_dtype) * ops.expand_dims(
            weights[self.grid], 1)
        query = ops.cast(features[self.query], self.compute_dtype)
        if len(query.shape) == 3:
            query = query * ops.expand_dims(weights[self.query], 1)
            mask = (sequence_masks or {}).get(self.query)
            if mask is None:
                mask = ops.ones(ops.shape(query)[:2], dtype="bool")
            scores = self.question_scores(self.question_hidden(query))  # [B, T, G]
            attention = masked_softmax(scores, ops.expand_dims(mask, -1), axis=1)
            attended = ops.einsum("btg,btd->bgd",
                                  ops.cast(attention, self.compute_dtype), query)
            query = ops.reshape(attended, (-1, attended.shape[1] * attended.shape[2]))
        else:
            query = query * weights[self.query]
        joint = mfb_pool(self.attention_grid(grid),
                         ops.expand_dims(self.attention_query(query), 1),
                         self.factors, self.attention_dropout, training)  # [B, N, units]
        scores = self.image_scores(self.image_hidden(joint))  # [B, N, G']
        attention = ops.cast(ops.softmax(ops.cast(scores, "float32"), axis=1),
                             self.compute_dtype)
        attended = ops.einsum("bng,bnd->bgd", attention, grid)
        image = ops.reshape(attended, (-1, attended.shape[1] * attended.shape[2]))
        return mfb_pool(self.output_grid(image), self.output_query(query), self.factors,
                        self.output_dropout, training)

    def compute_output_shape(self, features_shape, presence_shape=None,
                             sequence_masks_shape=None):
        return (features_shape[self.grid][0], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "factors": self.factors,
                "attention_units": self.attention_units,
                "question_glimpses": self.question_glimpses,
                "image_glimpses": self.image_glimpses, "dropout": self.dropout,
                "grid": self.grid}
