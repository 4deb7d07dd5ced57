"""Multimodal classification (sentiment, emotion, digits...): `Classifier` and its
pipeline and metrics."""

from mmzoo.tasks.classification.model import Classifier
from mmzoo.tasks.classification.pipeline import ClassificationPipeline

__all__ = ["ClassificationPipeline", "Classifier"]
