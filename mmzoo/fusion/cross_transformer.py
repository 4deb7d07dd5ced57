"""MulT-style cross-modal transformer fusion (Tsai et al. 2019).

>>> fusion = CrossModalTransformerFusion(["text", "audio"], dim=64)
>>> fused = fusion({"text": t_seq, "audio": a_seq}, sequence_masks={"text": t_mask})
>>> fused.shape  # [B, 2 * 64]
"""

import keras
from keras import ops

from mmzoo.fusion.base import Fusion
from mmzoo.layers import MaskedGlobalPooling1D, TransformerBlock
from mmzoo.registry import FUSIONS


def _block_name(source, target, index):
    return f"{source}_to_{target}_{index}"


@FUSIONS.register("cross_transformer")
@keras.saving.register_keras_serializable(package="mmzoo")
class CrossModalTransformerFusion(Fusion):
    """Pairwise cross-modal attention over sequences.

    Each sequence is projected to `dim`. For every ordered pair source -> target, a
    stack of `num_layers` cross-attention blocks lets the target's steps attend to the
    source's steps (`TransformerBlock(x=target, context=source)`). A target's
    representation is the average of its present sources' outputs (its own projection
    when no other modality is present), mean-pooled over its valid steps. The result is
    `concat_t(p_t * pooled_t)`, `M * dim` wide.
    """

    input_kind = "sequence"

    def __init__(self, modalities, dim=64, num_heads=4, num_layers=1, ffn_dim=128,
                 dropout=0.0, **kwargs):
        super().__init__(modalities, **kwargs)
        self.dim = int(dim)
        self.num_heads = int(num_heads)
        self.num_layers = int(num_layers)
        self.ffn_dim = int(ffn_dim)
        self.dropout = float(dropout)
        if self.dim % self.num_heads:
            raise ValueError(f"dim ({dim}) must be divisible by num_heads ({num_heads}).")
        self.projections = self.per_modality_dense(self.dim)
        # A flat dict: Keras saves layers inside dicts, not lists nested in dicts.
        self.blocks = {
            _block_name(source, target, index): TransformerBlock(
                self.num_heads, self.dim // self.num_heads, self.ffn_dim, self.dropout,
                dtype=self.dtype_policy, name=_block_name(source, target, index))
            for target in self.modalities
            for source in self.modalities
            if source != target
            for index in range(self.num_layers)
        }
        self.pool = MaskedGlobalPooling1D("mean", dtype=self.dtype_policy, name="pool")

    def build(self, features_shape, presence_shape=None, sequence_masks_shape=None):
        self.build_per_modality(self.projections, features_shape)
        for block in self.blocks.values():
            block.build((None, None, self.dim), (None, None, self.dim))

    def call(self, features, presence=None, sequence_masks=None, training=None):
        weights = self.presence_weights(features, presence)
        masks = {m: (sequence_masks or {}).get(m) for m in self.modalities}
        projected = {m: self.projections[m](features[m]) for m in self.modalities}
        pooled = []
        for target in self.modalities:
            total, count = 0.0, 0.0
            for source in self.modalities:
                if source == target:
                    continue
                x = projected[target]
                for index in range(self.num_layers):
                    block = self.blocks[_block_name(source, target, index)]
                    x = block(x, context=projected[source], mask=masks[target],
                              context_mask=masks[source], training=training)
                share = ops.expand_dims(weights[source], 1)
                total = total + share * x
                count = count + share
            if isinstance(count, float):  # a single modality: nothing to attend to
                sequence = projected[target]
            else:
                sequence = ops.where(count > 0, total / ops.maximum(count, 1.0),
                                     projected[target])
            vector = ops.cast(self.pool(sequence, mask=masks[target]), self.compute_dtype)
            pooled.append(vector * weights[target])
        return pooled[0] if len(pooled) == 1 else ops.concatenate(pooled, axis=-1)

    def compute_output_shape(self, features_shape, presence_shape=None,
                             sequence_masks_shape=None):
        return (features_shape[self.modalities[0]][0], self.dim * len(self.modalities))

    def get_config(self):
        return {
            **super().get_config(),
            "dim": self.dim,
            "num_heads": self.num_heads,
            "num_layers": self.num_layers,
            "ffn_dim": self.ffn_dim,
            "dropout": self.dropout,
        }
