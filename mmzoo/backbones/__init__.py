"""Modality encoders, registered in `mmzoo.registry.BACKBONES` by name and modality.

>>> from mmzoo.backbones import build_backbone
>>> encoder = build_backbone("image", "simple_cnn", image_size=64)
"""

from mmzoo.backbones import (  # noqa: F401  (registers the factories)
    audio,
    efficientnet_lite,
    hub,
    image,
    text,
    whisper,
)
from mmzoo.backbones.base import encoder_model, feature_dims
from mmzoo.backbones.hub import tokenizer_for_backbone
from mmzoo.registry import BACKBONES

MODALITIES = ("text", "image", "audio")


def build_backbone(modality, backbone, **options):
    """Builds the `modality` encoder registered as `backbone` (options go to its factory)."""
    if modality not in MODALITIES:
        raise ValueError(f"Unknown modality {modality!r}; expected one of {MODALITIES}.")
    return BACKBONES.get(backbone, modality=modality)(**options)


__all__ = ["MODALITIES", "build_backbone", "encoder_model", "feature_dims",
           "tokenizer_for_backbone"]
