"""`mmzoo.pipeline`: raw inputs in, readable predictions out, for every task family.

>>> classify = mmzoo.pipeline("sentiment_late", weights="avdigits")
>>> classify(image="sample:digit_7", audio="sample:digit_7")   # or file paths
[{'label': '7', 'score': 0.99...}]
>>> print(classify)
ClassificationPipeline(model='classifier', preset='sentiment_late', data='avdigits', ...)

Each family keeps its pipeline beside its model (`mmzoo/tasks/<family>/pipeline.py`).
"""

from mmzoo.quiet import import_tensorflow

import_tensorflow()  # before the tasks import it: without its start-up logs

from mmzoo.tasks.captioning.pipeline import CaptioningPipeline  # noqa: E402
from mmzoo.tasks.classification.pipeline import ClassificationPipeline  # noqa: E402
from mmzoo.tasks.retrieval.pipeline import RetrievalPipeline  # noqa: E402
from mmzoo.tasks.vqa.pipeline import VQAPipeline  # noqa: E402
from mmzoo.zoo import load  # noqa: E402

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
