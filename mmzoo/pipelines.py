"""`mmzoo.pipeline`: raw inputs in, readable predictions out, for every task family.

>>> classify = mmzoo.pipeline("sentiment_late", weights="avdigits")
>>> classify(image="seven.png", audio="seven.wav")
[{'label': '7', 'score': 0.98}]

Each family keeps its pipeline beside its model (`mmzoo/tasks/<family>/pipeline.py`).
"""

from mmzoo.tasks.captioning.pipeline import CaptioningPipeline
from mmzoo.tasks.classification.pipeline import ClassificationPipeline
from mmzoo.tasks.retrieval.pipeline import RetrievalPipeline
from mmzoo.tasks.vqa.pipeline import VQAPipeline
from mmzoo.zoo import load

_PIPELINES = {"classifier": ClassificationPipeline, "vqa": VQAPipeline,
              "retriever": RetrievalPipeline, "captioner": CaptioningPipeline}


def pipeline(name_or_model, weights=None, **overrides):
    """A callable for preset `name_or_model` (or a model) that takes raw inputs."""
    if isinstance(name_or_model, str):
        model = load(name_or_model, weights=weights, **overrides)
    else:
        model = name_or_model
    task = type(model).__name__.lower()
    if task not in _PIPELINES:
        raise ValueError(f"No pipeline for {type(model).__name__} models.")
    return _PIPELINES[task](model)
