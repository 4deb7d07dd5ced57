"""Visual question answering: `VQA`, its answer loss, metrics and pipeline."""

from mmzoo.tasks.vqa.model import VQA
from mmzoo.tasks.vqa.pipeline import VQAPipeline

__all__ = ["VQA", "VQAPipeline"]
