"""mmzoo: prebuilt Keras 3 / TensorFlow models for multimodal learning.

>>> import mmzoo
>>> mmzoo.list_models()
>>> model = mmzoo.load("sentiment_late")
>>> mmzoo.export(model, "out/sentiment_late")
"""

__version__ = "0.1.0"

from mmzoo.export import export
from mmzoo.finetune import freeze_backbones
from mmzoo.pipelines import pipeline
from mmzoo.zoo import describe, list_models, load

__all__ = ["describe", "export", "freeze_backbones", "list_models", "load", "pipeline"]
