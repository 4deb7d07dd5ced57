"""Image encoders: float32 pixels `[B, H, W, 3]` in 0..255 -> pooled + grid features.

Every encoder resizes to its `image_size` and normalises pixels itself, so callers feed
raw pixels of any size. The `sequence` output is the final feature grid flattened to
`[B, h * w, C]` (for attention over regions).

>>> encoder = BACKBONES.get("resnet50")(image_size=224, weights="imagenet")
>>> encoder(images)["pooled"].shape  # (B, 2048)
"""

import os

import keras

from mmzoo.backbones.base import conv_blocks, encoder_model, transformer_encoder
from mmzoo.layers import PixelNormalization, PositionEmbedding, Resize
from mmzoo.registry import BACKBONES


def _image_inputs(image_size, pixel_mode):
    images = keras.Input((None, None, 3), dtype="float32", name="images")
    x = Resize(image_size, image_size, name="resize")(images)
    return images, PixelNormalization(pixel_mode, name="pixel_normalization")(x)


def _grid_outputs(images, grid, name):
    pooled = keras.layers.GlobalAveragePooling2D(name="avg_pool")(grid)
    height, width, channels = grid.shape[1:]
    sequence = keras.layers.Reshape((height * width, channels), name="grid")(grid)
    return encoder_model(images, pooled, sequence, name=name)


@BACKBONES.register("simple_cnn", modality="image")
def simple_cnn(image_size=64, filters=(32, 64, 128), weights=None, name="simple_cnn"):
    """Conv-BatchNorm-ReLU-MaxPool blocks; a fast baseline for small images."""
    _no_pretrained_weights("simple_cnn", weights)
    images, x = _image_inputs(image_size, "unit")
    return _grid_outputs(images, conv_blocks(x, filters), name)


@BACKBONES.register("vit", modality="image")
def vit(
    image_size=64,
    patch_size=8,
    embed_dim=128,
    num_layers=4,
    num_heads=4,
    ffn_dim=256,
    dropout=0.0,
    weights=None,
    name="vit",
):
    """A small Vision Transformer: patch embedding, learned positions, mean-pooled tokens."""
    _no_pretrained_weights("vit", weights)
    if image_size % patch_size:
        raise ValueError(
            f"image_size ({image_size}) must be a multiple of patch_size ({patch_size})."
        )
    images, x = _image_inputs(image_size, "symmetric")
    x = keras.layers.Conv2D(embed_dim, patch_size, strides=patch_size,
                            name="patch_embedding")(x)
    num_patches = (image_size // patch_size) ** 2
    x = keras.layers.Reshape((num_patches, embed_dim), name="patches")(x)
    x = PositionEmbedding(num_patches, name="positions")(x)
    sequence = transformer_encoder(x, num_layers, num_heads, ffn_dim, dropout)
    pooled = keras.layers.GlobalAveragePooling1D(name="mean_pool")(sequence)
    return encoder_model(images, pooled, sequence, name=name)


def _application(constructor, pixel_mode, image_size, weights, name, source):
    """A keras.applications network without its top; "imagenet" weights come through
    `mmzoo.pretrained.fetch(source)` (downloaded once into the mmzoo cache)."""
    if weights == "imagenet":
        from mmzoo.pretrained import fetch, source as source_spec

        weights = str(fetch(source) / source_spec(source)["file_name"])
    elif weights is not None and not os.path.exists(weights):
        raise FileNotFoundError(
            f"{name}: weights must be None, 'imagenet' or an existing .h5 file; "
            f"received {weights!r}, which does not exist."
        )
    images, x = _image_inputs(image_size, pixel_mode)
    network = constructor(
        include_top=False, weights=weights, input_shape=(image_size, image_size, 3)
    )
    return _grid_outputs(images, network(x), name)


@BACKBONES.register("resnet50", modality="image")
def resnet50(image_size=224, weights=None, name="resnet50"):
    """`keras.applications.ResNet50` without its top; `weights` None, 'imagenet' or a path."""
    return _application(keras.applications.ResNet50, "caffe", image_size, weights, name,
                        "resnet50_imagenet")


@BACKBONES.register("mobilenet_v2", modality="image")
def mobilenet_v2(image_size=224, weights=None, name="mobilenet_v2"):
    """`keras.applications.MobileNetV2` without its top; `weights` None, 'imagenet' or a path."""
    rows = min((96, 128, 160, 192, 224), key=lambda r: abs(r - image_size))
    return _application(keras.applications.MobileNetV2, "symmetric", image_size, weights,
                        name, f"mobilenet_v2_imagenet_{rows}")


@BACKBONES.register("efficientnet_b0", modality="image")
def efficientnet_b0(image_size=224, weights=None, name="efficientnet_b0"):
    """`keras.applications.EfficientNetB0` (it normalises 0..255 pixels itself)."""
    return _application(keras.applications.EfficientNetB0, "raw", image_size, weights,
                        name, "efficientnet_b0_imagenet")


def _no_pretrained_weights(backbone, weights):
    if weights is not None:
        raise ValueError(
            f"{backbone} has no pretrained weights; received weights={weights!r}. "
            "Use weights=None, or resnet50 / mobilenet_v2 / efficientnet_b0."
        )
