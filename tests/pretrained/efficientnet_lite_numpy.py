"""A NumPy forward pass of EfficientNet-Lite0, written from the PyTorch state dict alone.

It shares no code with mmzoo's Keras builder: its own convolution (im2col + einsum),
depthwise convolution, BatchNorm and ReLU6, reading the `.pth` names directly, so that
agreement with the Keras model checks the converter (transposes, names) and the
builder (strides, padding, skips) together.

>>> logits = forward(state, pixels)  # pixels: [B, 224, 224, 3] already normalised
"""

import numpy as np

BN_EPSILON = 1e-3
STAGE_STRIDES = (1, 2, 2, 2, 1, 2, 1)
# blocks per stage (kernel sizes, widths and expansions are read from the weights)
REPEATS = {"efficientnet_lite0": (1, 2, 2, 3, 3, 4, 1),
           "efficientnet_lite1": (1, 3, 3, 4, 4, 5, 1),
           "efficientnet_lite2": (1, 3, 3, 4, 4, 5, 1)}


def tf_same_padding(size, kernel, stride):
    """(before, after) zero padding of TensorFlow's 'same' for one spatial axis."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _pad(x, kernel, stride):
    (top, bottom) = tf_same_padding(x.shape[1], kernel, stride)
    (left, right) = tf_same_padding(x.shape[2], kernel, stride)
    return np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))


def _patches(x, kernel, stride):
    """[B, H', W', k, k, C] windows of the padded NHWC `x`."""
    x = _pad(x, kernel, stride)
    windows = np.lib.stride_tricks.sliding_window_view(x, (kernel, kernel), axis=(1, 2))
    return windows[:, ::stride, ::stride].transpose(0, 1, 2, 4, 5, 3)


def conv2d(x, weight, stride=1):
    """x NHWC, weight PyTorch OIHW."""
    kernel = weight.shape[-1]
    if kernel == 1 and stride == 1:
        return np.einsum("bhwc,oc->bhwo", x, weight[:, :, 0, 0], optimize=True)
    return np.einsum("bhwijc,ocij->bhwo", _patches(x, kernel, stride), weight, optimize=True)


def depthwise_conv2d(x, weight, stride=1):
    """x NHWC, weight PyTorch (C, 1, kh, kw)."""
    return np.einsum("bhwijc,cij->bhwc", _patches(x, weight.shape[-1], stride),
                     weight[:, 0], optimize=True)


def batch_norm(x, state, prefix):
    scale = state[f"{prefix}.weight"] / np.sqrt(state[f"{prefix}.running_var"] + BN_EPSILON)
    return (x - state[f"{prefix}.running_mean"]) * scale + state[f"{prefix}.bias"]


def relu6(x):
    return np.clip(x, 0.0, 6.0)


def features(state, x, repeats=REPEATS["efficientnet_lite0"]):
    """The head conv's activations [B, h, w, 1280] of normalised NHWC pixels."""
    x = relu6(batch_norm(conv2d(x, state["_conv_stem.weight"], 2), state, "_bn0"))
    index = 0
    for stage_repeats, stride in zip(repeats, STAGE_STRIDES):
        for repeat in range(stage_repeats):
            prefix = f"_blocks.{index}"
            inputs = x
            if f"{prefix}._expand_conv.weight" in state:
                x = relu6(batch_norm(conv2d(x, state[f"{prefix}._expand_conv.weight"]),
                                     state, f"{prefix}._bn0"))
            block_stride = stride if repeat == 0 else 1
            x = depthwise_conv2d(x, state[f"{prefix}._depthwise_conv.weight"], block_stride)
            x = relu6(batch_norm(x, state, f"{prefix}._bn1"))
            x = batch_norm(conv2d(x, state[f"{prefix}._project_conv.weight"]),
                           state, f"{prefix}._bn2")
            if block_stride == 1 and inputs.shape[-1] == x.shape[-1]:
                x = x + inputs
            index += 1
    assert f"_blocks.{index}._project_conv.weight" not in state, "more blocks than repeats"
    return relu6(batch_norm(conv2d(x, state["_conv_head.weight"]), state, "_bn1"))


def forward(state, x, repeats=REPEATS["efficientnet_lite0"]):
    """ImageNet logits [B, 1000] of normalised NHWC pixels."""
    pooled = features(state, x, repeats).mean(axis=(1, 2))
    return pooled @ state["_fc.weight"].T + state["_fc.bias"]
