"""Task models: backbones + fusion + a head, registered in `mmzoo.registry.TASKS`."""

from mmzoo.tasks.base import Task
from mmzoo.tasks.classifier import Classifier
from mmzoo.tasks.vqa import VQA

__all__ = ["Classifier", "Task", "VQA"]
from mmzoo.tasks.retriever import Retriever  # noqa: E402

__all__ += ["Retriever"]
from mmzoo.tasks.captioner import Captioner  # noqa: E402

__all__ += ["Captioner"]
