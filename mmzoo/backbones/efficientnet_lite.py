"""EfficientNet-Lite image encoders (Lite0/1/2), pretrained on ImageNet-1k.

EfficientNet-Lite is EfficientNet without squeeze-excitation, with ReLU6 instead of swish
and with the stem (32) and head (1280) widths fixed across sizes; it is not
keras.applications' EfficientNetB0. Built here from standard Keras layers with stable
names: `stem_conv`, `block_<i>_expand_conv | _dwconv | _project_conv` (+ `_bn`, `_relu`,
`_add`), `head_conv`, `head_bn`, `head_relu`.

Matching the weights' TensorFlow origin: pixels are normalised as (x - 127) / 128,
strided convolutions pad like TensorFlow's 'same' (asymmetric, written as an explicit
`ZeroPadding2D` + 'valid'), BatchNorm epsilon is 1e-3 (EfficientNet's TensorFlow
builder; the state dict does not record it). On scikit-image's sample photographs these
choices gave both the most confident right classes and the pre-BatchNorm statistics
closest to the stored moving averages; PyTorch-style symmetric padding or ImageNet
mean/std normalisation gave worse on both. BatchNorm keeps Keras' momentum 0.99 (that of
EfficientNet's training), not the 0.9 of mmzoo's from-scratch backbones.

Outputs: `pooled` [B, 1280] (global average of the head) and `sequence`, the head's
feature grid flattened ([B, 49, 1280] at 224x224).

>>> encoder = BACKBONES.get("efficientnet_lite0")(weights="imagenet")
>>> encoder(images)["sequence"].shape                  # (B, 49, 1280)
>>> classify = efficientnet_lite_classifier("efficientnet_lite0")   # ImageNet logits
>>> set_trainable_blocks(encoder, last_n=2)            # fine-tune blocks 14, 15 + head
"""

import math
import os
import pathlib

import keras
import numpy as np

from mmzoo.backbones.image import _grid_outputs, _image_inputs
from mmzoo.registry import BACKBONES

BN_EPSILON = 1e-3
HEAD_WIDTH = 1280
STEM_WIDTH = 32
NUM_CLASSES = 1000
# (repeats, kernel, stride, expand ratio, output channels) of EfficientNet-B0's 7 stages
BASE_STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
               (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
# width multiplier, depth multiplier, training resolution, dropout before the classifier
VARIANTS = {
    "efficientnet_lite0": (1.0, 1.0, 224, 0.2),
    "efficientnet_lite1": (1.0, 1.1, 240, 0.2),
    "efficientnet_lite2": (1.1, 1.2, 260, 0.3),
}


def round_filters(filters, width, divisor=8):
    """EfficientNet's channel rounding: nearest multiple of 8, never 10% below."""
    scaled = filters * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * scaled else rounded


def block_specs(variant):
    """One dict per MBConv block: kernel, stride, expand, in/out channels, skip."""
    width, depth, _, _ = _variant(variant)
    specs, channels = [], STEM_WIDTH
    for stage, (repeats, kernel, stride, expand, out) in enumerate(BASE_STAGES):
        if 0 < stage < len(BASE_STAGES) - 1:  # Lite keeps the first and last stage
            repeats = math.ceil(depth * repeats)
        out = round_filters(out, width)
        for repeat in range(repeats):
            block_stride = stride if repeat == 0 else 1
            specs.append({"kernel": kernel, "stride": block_stride, "expand": expand,
                          "in": channels, "out": out,
                          "skip": block_stride == 1 and channels == out})
            channels = out
    return specs


def _variant(variant):
    if variant not in VARIANTS:
        raise ValueError(f"Unknown EfficientNet-Lite variant {variant!r}; expected one of "
                         f"{sorted(VARIANTS)}.")
    return VARIANTS[variant]


def _same_padding(size, kernel, stride):
    """TensorFlow 'same' (before, after) padding of one spatial axis."""
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _conv(x, filters, kernel, stride, name, norm_name, depthwise=False):
    """Conv (or depthwise conv) + BatchNorm; strided ones padded like TF 'same'."""
    padding = "same"
    if stride > 1:
        x = keras.layers.ZeroPadding2D(
            (_same_padding(x.shape[1], kernel, stride), _same_padding(x.shape[2], kernel, stride)),
            name=f"{name}_pad")(x)
        padding = "valid"
    if depthwise:
        x = keras.layers.DepthwiseConv2D(kernel, stride, padding=padding, use_bias=False,
                                         name=name)(x)
    else:
        x = keras.layers.Conv2D(filters, kernel, stride, padding=padding, use_bias=False,
                                name=name)(x)
    return keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=norm_name)(x)


def _relu6(x, name):
    return keras.layers.ReLU(6.0, name=name)(x)


def feature_grid(x, variant="efficientnet_lite0"):
    """The head's ReLU6 activations [B, h, w, 1280] of (x - 127) / 128 pixels."""
    x = _relu6(_conv(x, STEM_WIDTH, 3, 2, "stem_conv", "stem_bn"), "stem_relu")
    for index, spec in enumerate(block_specs(variant)):
        prefix = f"block_{index}"
        inputs = x
        if spec["expand"] != 1:
            x = _conv(x, spec["in"] * spec["expand"], 1, 1, f"{prefix}_expand_conv",
                      f"{prefix}_expand_bn")
            x = _relu6(x, f"{prefix}_expand_relu")
        x = _conv(x, None, spec["kernel"], spec["stride"], f"{prefix}_dwconv",
                  f"{prefix}_dwconv_bn", depthwise=True)
        x = _relu6(x, f"{prefix}_dwconv_relu")
        x = _conv(x, spec["out"], 1, 1, f"{prefix}_project_conv", f"{prefix}_project_bn")
        if spec["skip"]:
            x = keras.layers.Add(name=f"{prefix}_add")([x, inputs])
    return _relu6(_conv(x, HEAD_WIDTH, 1, 1, "head_conv", "head_bn"), "head_relu")


def efficientnet_lite(variant="efficientnet_lite0", image_size=None, weights=None, name=None):
    """The `variant` encoder: raw 0..255 pixels of any size -> `pooled`, `sequence`.

    `image_size` defaults to the variant's training resolution (224, 240, 260);
    `weights`: None (random), "imagenet" (fetched via `mmzoo.pretrained`), a converted
    `.npz`, a folder holding `<variant>.weights.npz`, or a Keras `.weights.h5`.
    """
    image_size = image_size or _variant(variant)[2]
    images, x = _image_inputs(image_size, "lite")
    backbone = _grid_outputs(images, feature_grid(x, variant), name or variant)
    if weights is not None:
        load_pretrained(backbone, variant, weights)
    return backbone


@BACKBONES.register("efficientnet_lite0", modality="image")
def efficientnet_lite0(image_size=224, weights=None, name="efficientnet_lite0"):
    """EfficientNet-Lite0 (4.7M parameters with its ImageNet head); `weights` None,
    "imagenet" or a path (see `efficientnet_lite`)."""
    return efficientnet_lite("efficientnet_lite0", image_size, weights, name)


@BACKBONES.register("efficientnet_lite1", modality="image")
def efficientnet_lite1(image_size=240, weights=None, name="efficientnet_lite1"):
    """EfficientNet-Lite1 (5.4M parameters with its head); trained at 240x240."""
    return efficientnet_lite("efficientnet_lite1", image_size, weights, name)


@BACKBONES.register("efficientnet_lite2", modality="image")
def efficientnet_lite2(image_size=260, weights=None, name="efficientnet_lite2"):
    """EfficientNet-Lite2 (6.1M parameters with its head); trained at 260x260."""
    return efficientnet_lite("efficientnet_lite2", image_size, weights, name)


def efficientnet_lite_classifier(variant="efficientnet_lite0", weights="imagenet",
                                 image_size=None, classifier_activation=None, name=None):
    """The encoder plus its 1000-way ImageNet head: raw pixels -> logits [B, 1000]
    (probabilities with `classifier_activation="softmax"`).

    >>> classify = efficientnet_lite_classifier()
    >>> int(np.argmax(classify(cat_pixels)[0]))   # 285, Egyptian cat
    """
    backbone = efficientnet_lite(variant, image_size, None, name=variant)
    x = keras.layers.Dropout(_variant(variant)[3], name="top_dropout")(backbone.output["pooled"])
    logits = keras.layers.Dense(NUM_CLASSES, activation=classifier_activation,
                                dtype="float32", name="predictions")(x)
    model = keras.Model(backbone.input, logits, name=name or f"{variant}_classifier")
    if weights is not None:
        load_pretrained(model, variant, weights)
    return model


def weights_path(variant, weights):
    """The file that `weights` ("imagenet", a folder or a file) names for `variant`."""
    from mmzoo.pretrained import verify_folder
    from mmzoo.pretrained.efficientnet_lite import weights_file_name

    if weights == "imagenet":
        from mmzoo.pretrained import fetch

        return fetch(variant) / weights_file_name(variant)
    path = pathlib.Path(os.fspath(weights)).expanduser()
    if path.is_dir():
        if (path / "SHA256SUMS.json").exists():
            verify_folder(path)
        path = path / weights_file_name(variant)
    if not path.is_file():
        raise FileNotFoundError(
            f"{variant}: weights must be None, 'imagenet', a converted .npz, a folder "
            f"holding {weights_file_name(variant)} or a .weights.h5 file; {path} does not "
            "exist.")
    return path


def load_pretrained(model, variant, weights):
    """Sets `model`'s variables from `weights` (see `weights_path`); every variable of
    the model must be in the file, and the file's ImageNet head is used only by a model
    that has a `predictions` layer."""
    path = weights_path(variant, weights)
    if path.suffix != ".npz":
        model.load_weights(path)
        return model
    with np.load(path) as stored:
        arrays = {key: stored[key] for key in stored.files}
    used = set()
    for layer in model.layers:
        for variable in layer.weights:
            key = f"{layer.name}/{variable.name}"
            if key not in arrays:
                raise ValueError(f"{path} has no array for {key} of {model.name}; is it "
                                 f"the weights file of {variant}?")
            if tuple(arrays[key].shape) != tuple(variable.shape):
                raise ValueError(f"{path}: {key} has shape {arrays[key].shape}, "
                                 f"{model.name} expects {tuple(variable.shape)}; is it the "
                                 f"weights file of {variant}?")
            variable.assign(arrays[key])
            used.add(key)
    unused = sorted(key for key in set(arrays) - used if not key.startswith("predictions/"))
    if unused:
        raise ValueError(f"{path} holds arrays that {model.name} has no variable for "
                         f"({', '.join(unused[:3])}...); is it the weights file of {variant}?")
    return model


def block_count(backbone):
    """The number of MBConv blocks of an EfficientNet-Lite encoder (16 for Lite0)."""
    names = {layer.name.split("_")[1] for layer in backbone.layers
             if layer.name.startswith("block_")}
    return len(names)


def set_trainable_blocks(backbone, last_n, head=True):
    """Freezes the encoder except its last `last_n` MBConv blocks (and the head conv when
    `head`); the stem is frozen, layers after the head (a classifier) are left as they
    are. Frozen BatchNorm layers run in inference mode (Keras does this for
    `trainable=False`), so their statistics stay those of ImageNet. Re-compile a compiled
    model afterwards. `last_n=0, head=False` freezes everything.

    >>> set_trainable_blocks(encoder, last_n=2)    # blocks 14 and 15 + head train
    """
    total = block_count(backbone)
    if not 0 <= last_n <= total:
        raise ValueError(f"last_n must be in 0..{total} for {backbone.name}; received {last_n}.")
    first_trainable = total - last_n
    backbone.trainable = True
    for layer in backbone.layers:
        if layer.name.startswith("block_"):
            layer.trainable = int(layer.name.split("_")[1]) >= first_trainable
        elif layer.name.startswith("head_"):
            layer.trainable = head
        elif layer.name.startswith("stem_"):
            layer.trainable = False
    return backbone
