"""Task models: backbones + fusion + a head, registered in `mmzoo.registry.TASKS`."""

from mmzoo.tasks.base import Task
from mmzoo.tasks.classifier import Classifier

__all__ = ["Classifier", "Task"]
from mmzoo.tasks.retriever import Retriever  # noqa: E402

__all__ += ["Retriever"]
