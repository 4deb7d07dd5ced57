"""Fusion layers, registered in `mmzoo.registry.FUSIONS`.

| name | layer | output |
|---|---|---|
| `concat` | early fusion | `concat_m h_m` |
| `late` | decision-level, fixed or learned weights | logits |
| `hybrid` | early + late decisions, auxiliary unimodal losses | logits |
| `attention` | modality attention | `dim` |
| `tensor` | TFN outer product | `(dim + 1) ** M` |
| `low_rank` | LMF | `units` |
| `gated` | GMU | `units` |
| `cross_transformer` | MulT cross-modal attention over sequences | `M * dim` |
| `hadamard` | element-wise product of projections (MLB-style) | `units` |
| `mfb` | MFB factorized bilinear pooling of two vectors | `units` |
| `mfb_coattention` | MFB with question and image attention (grid + words) | `units` |
| `relation` | Relation Network over grid cells, conditioned on a query | `f_units[-1]` |
| `stacked_attention` | SAN: question-guided attention hops over a grid | `dim` |

>>> from mmzoo.fusion import build_fusion
>>> fusion = build_fusion("gated", ["image", "audio"], units=64)
"""

from mmzoo.fusion.attention import AttentionFusion, GatedFusion
from mmzoo.fusion.base import Fusion, masked_softmax
from mmzoo.fusion.bilinear import HadamardFusion, MFBCoAttentionFusion, MFBFusion
from mmzoo.fusion.concat import ConcatFusion, HybridFusion, LateFusion
from mmzoo.fusion.cross_transformer import CrossModalTransformerFusion
from mmzoo.fusion.relation import RelationFusion
from mmzoo.fusion.stacked_attention import StackedAttentionFusion
from mmzoo.fusion.tensor import LowRankFusion, TensorFusion
from mmzoo.registry import FUSIONS


def build_fusion(fusion, modalities, **options):
    """Builds the fusion layer registered as `fusion` for `modalities`."""
    return FUSIONS.get(fusion)(list(modalities), **options)


__all__ = [
    "AttentionFusion",
    "ConcatFusion",
    "CrossModalTransformerFusion",
    "Fusion",
    "GatedFusion",
    "HadamardFusion",
    "HybridFusion",
    "LateFusion",
    "LowRankFusion",
    "MFBCoAttentionFusion",
    "MFBFusion",
    "RelationFusion",
    "StackedAttentionFusion",
    "TensorFusion",
    "build_fusion",
    "masked_softmax",
]
