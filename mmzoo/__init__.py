"""mmzoo: prebuilt Keras 3 / TensorFlow models for multimodal learning.

>>> import mmzoo
>>> mmzoo.list_models()
>>> model = mmzoo.load("sentiment_late")
>>> mmzoo.export(model, "out/sentiment_late")

The names below load on first use, so `import mmzoo` (and `mmzoo --help`) does not
import TensorFlow.
"""

import importlib

__version__ = "0.1.0"

_API = {
    "load": "mmzoo.zoo",
    "list_models": "mmzoo.zoo",
    "describe": "mmzoo.zoo",
    "export": "mmzoo.exporting",
    "pipeline": "mmzoo.pipelines",
    "freeze_backbones": "mmzoo.finetune",
}
_SUBPACKAGES = ("datasets",)

__all__ = sorted(_API) + list(_SUBPACKAGES)


def __getattr__(name):
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    if name in _SUBPACKAGES:
        return importlib.import_module(f"mmzoo.{name}")
    raise AttributeError(f"module 'mmzoo' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
