"""Shared building blocks used by backbones, fusion layers and tasks."""

from mmzoo.layers.audio import DecibelFloor
from mmzoo.layers.augment import TrainingOnly
from mmzoo.layers.image import PixelNormalization, Resize
from mmzoo.layers.masking import PaddingMask, ZeroMasked, apply_mask
from mmzoo.layers.pooling import MaskedGlobalPooling1D
from mmzoo.layers.positional import PositionEmbedding
from mmzoo.layers.presence import ModalityInputs
from mmzoo.layers.transformer import TransformerBlock
from mmzoo.layers.whisper_frontend import WhisperFrameMask, WhisperLogMel

__all__ = [
    "DecibelFloor",
    "ModalityInputs",
    "MaskedGlobalPooling1D",
    "PaddingMask",
    "PixelNormalization",
    "PositionEmbedding",
    "Resize",
    "TrainingOnly",
    "TransformerBlock",
    "WhisperFrameMask",
    "WhisperLogMel",
    "ZeroMasked",
    "apply_mask",
]
