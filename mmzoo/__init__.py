"""mmzoo: prebuilt Keras 3 / TensorFlow models for multimodal learning.

>>> import mmzoo
>>> mmzoo.list_models()
>>> model = mmzoo.load("sentiment_late")
>>> mmzoo.export(model, "out/sentiment_late")

The names below load on first use, so `import mmzoo` (and `mmzoo --help`) does not
import TensorFlow. The Keras classes of mmzoo models are registered (for
`keras.saving.load_model`) on first use, or at `import mmzoo` when Keras is already
imported: `import keras, mmzoo; keras.saving.load_model("model.keras")`.
"""

import importlib
import sys

__version__ = "0.1.0"

_API = {
    "load": "mmzoo.zoo",
    "list_models": "mmzoo.zoo",
    "describe": "mmzoo.zoo",
    "export": "mmzoo.exporting",
    "pipeline": "mmzoo.pipelines",
    "freeze_backbones": "mmzoo.training",
}
_SUBPACKAGES = ("datasets",)

__all__ = sorted(_API) + list(_SUBPACKAGES)


def _register_keras_objects():
    importlib.import_module("mmzoo.tasks")


def __getattr__(name):
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    if name in _SUBPACKAGES:
        return importlib.import_module(f"mmzoo.{name}")
    raise AttributeError(f"module 'mmzoo' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))


if "keras" in sys.modules:
    _register_keras_objects()
