"""Stacked Attention Networks (Yang et al. 2016) as a fusion layer: question-guided
attention hops over an image grid.

>>> fusion = StackedAttentionFusion(["image", "question"], dim=128, hops=2)
>>> fused = fusion({"image": grid, "question": question_vector})   # [B, 128]
"""

import keras
from keras import ops

from mmzoo.fusion.base import Fusion
from mmzoo.fusion.relation import pool_query
from mmzoo.registry import FUSIONS


@FUSIONS.register("stacked_attention")
@keras.saving.register_keras_serializable(package="mmzoo")
class StackedAttentionFusion(Fusion):
    """Stacked Attention Networks (Yang et al. 2016): question-guided attention hops.

    `features`: `{grid: [B, N, D_v]` (an image backbone's flattened feature grid),
    `query: [B, D_q]` or `[B, T, D_q]` (mean-pooled over `sequence_masks[query]`)}.
    Regions `v_i = tanh(W_v f_i + b_v)` and the query `u = tanh(W_u q + b_u)` are
    projected to `dim`; each of `hops` hops computes
    `h_A = tanh(W_I V + (W_Q u + b))` (`[N, attention_units]`),
    `p = softmax_i(w_P^T h_A + b_P)`, `v~ = sum_i p_i v_i` and `u <- v~ + u`.
    Output: the final `u`, `[B, dim]`. A missing modality (presence 0) is zeroed: a
    missing grid contributes no `v~`, a missing query starts from `u = 0`.
    """

    input_kind = "sequence"
    # The VQA task passes its question encoder's pooled vector rather than its words.
    pooled_queries = True

    def __init__(self, modalities, dim=256, attention_units=256, hops=2, grid="image",
                 **kwargs):
        super().__init__(modalities, **kwargs)
        if len(self.modalities) != 2 or grid not in self.modalities:
            raise ValueError(
                f"StackedAttentionFusion attends over one grid with one query: it needs "
                f"two modalities including grid={grid!r}, received {self.modalities!r}.")
        self.grid = grid
        self.query = next(m for m in self.modalities if m != grid)
        self.dim = int(dim)
        self.attention_units = int(attention_units)
        self.hops = int(hops)
        if self.hops < 1:
            raise ValueError(f"hops must be at least 1, received {hops}.")
        def dense(units, **options):
            return keras.layers.Dense(units, dtype=self.dtype_policy, **options)

        self.grid_projection = dense(self.dim, activation="tanh", name="project_grid")
        self.query_projection = dense(self.dim, activation="tanh", name="project_query")
        self.attend_grid = {f"hop_{k}": dense(self.attention_units, use_bias=False,
                                              name=f"attend_grid_{k}")
                            for k in range(self.hops)}
        self.attend_query = {f"hop_{k}": dense(self.attention_units,
                                               name=f"attend_query_{k}")
                             for k in range(self.hops)}
        self.scores = {f"hop_{k}": dense(1, name=f"attention_{k}") for k in range(self.hops)}

    def build(self, features_shape, presence_shape=None, sequence_masks_shape=None):
        grid_shape = features_shape[self.grid]
        if len(grid_shape) != 3:
            raise ValueError(
                f"StackedAttentionFusion: '{self.grid}' must be a grid [B, N, D], "
                f"received shape {list(grid_shape)}.")
        self.grid_projection.build(grid_shape)
        self.query_projection.build((None, features_shape[self.query][-1]))
        for k in range(self.hops):
            self.attend_grid[f"hop_{k}"].build((None, None, self.dim))
            self.attend_query[f"hop_{k}"].build((None, self.dim))
            self.scores[f"hop_{k}"].build((None, None, self.attention_units))

    def call(self, features, presence=None, sequence_masks=None):
        weights = self.presence_weights(features, presence)
        regions = self.grid_projection(features[self.grid])  # [B, N, dim]
        query = pool_query(ops.cast(features[self.query], self.compute_dtype),
                           (sequence_masks or {}).get(self.query))
        u = self.query_projection(query) * weights[self.query]
        for k in range(self.hops):
            hop = f"hop_{k}"
            hidden = ops.tanh(self.attend_grid[hop](regions)
                              + ops.expand_dims(self.attend_query[hop](u), 1))
            scores = ops.cast(ops.squeeze(self.scores[hop](hidden), -1), "float32")
            attention = ops.cast(ops.softmax(scores, axis=-1), self.compute_dtype)
            attended = ops.einsum("bn,bnd->bd", attention, regions)
            u = attended * weights[self.grid] + u
        return u

    def compute_output_shape(self, features_shape, presence_shape=None,
                             sequence_masks_shape=None):
        return (features_shape[self.grid][0], self.dim)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim,
                "attention_units": self.attention_units, "hops": self.hops,
                "grid": self.grid}
