"""mmzoo: prebuilt Keras 3 / TensorFlow models for multimodal learning.

>>> import mmzoo
>>> mmzoo.list_models()
>>> model = mmzoo.load("sentiment_late")
>>> mmzoo.export(model, "out/sentiment_late")

The names below load on first use, so `import mmzoo` (and `mmzoo --help`, `mmzoo
list`, `mmzoo.list_models()`, `mmzoo.describe(name)`) does not import TensorFlow; the
first name that needs it imports it without its start-up logs (`mmzoo.quiet`). The
Keras classes of mmzoo models are registered (for `keras.saving.load_model`) on first
use, or at `import mmzoo` when Keras is already imported:
`import keras, mmzoo; keras.saving.load_model("model.keras")`.
"""

import importlib
import sys

__version__ = "0.1.0"

_API = {
    "load": "mmzoo.zoo",
    "list_models": "mmzoo.listing",
    "describe": "mmzoo.listing",
    "export": "mmzoo.exporting",
    "pipeline": "mmzoo.pipelines",
    "freeze_backbones": "mmzoo.training",
}
_SUBPACKAGES = ("datasets",)

__all__ = sorted(_API) + list(_SUBPACKAGES)


def _register_keras_objects():
    importlib.import_module("mmzoo.tasks")


# Listing and describing presets read data files only; the rest needs TensorFlow,
# which is imported without its start-up logs (MMZOO_VERBOSE=1 keeps them).
_WITHOUT_TENSORFLOW = ("mmzoo.listing",)


def __getattr__(name):
    if name in _API:
        if _API[name] not in _WITHOUT_TENSORFLOW:
            importlib.import_module("mmzoo.quiet").import_tensorflow()
        return getattr(importlib.import_module(_API[name]), name)
    if name in _SUBPACKAGES:
        importlib.import_module("mmzoo.quiet").import_tensorflow()
        return importlib.import_module(f"mmzoo.{name}")
    raise AttributeError(f"module 'mmzoo' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))


if "keras" in sys.modules:
    _register_keras_objects()
