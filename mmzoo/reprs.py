"""Readable reprs for pipelines: what model they wrap and what it answers with.

>>> mmzoo.pipeline("sentiment_late", weights="avdigits")
ClassificationPipeline(model='classifier', preset='sentiment_late', data='avdigits', task='classifier', modalities=['text', 'image', 'audio'], labels=10)
"""

from mmzoo.registry import TASKS


def pipeline_repr(pipeline, **details):
    """`Name(model=..., preset=..., data=..., task=..., modalities=..., **details)`;
    preset and data come from the weights' metadata when the model has any."""
    model = pipeline.model
    metadata = getattr(model, "weights_metadata", None) or {}
    fields = {"model": model.name, "preset": metadata.get("preset"),
              "data": metadata.get("dataset"), "task": task_name(model),
              "modalities": list(getattr(model, "modalities", []) or []) or None,
              **details}
    shown = ", ".join(f"{key}={value!r}" for key, value in fields.items()
                      if value is not None)
    return f"{type(pipeline).__name__}({shown})"


def task_name(model):
    """The `TASKS` name of `model`'s class ("classifier", "vqa", ...), else its class name."""
    return next((name for name in TASKS if TASKS.get(name) is type(model)),
                type(model).__name__)
