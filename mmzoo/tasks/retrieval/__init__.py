"""Image-text retrieval: `Retriever` (dual encoder), its towers, contrastive losses,
the searchable `Index`, retrieval metrics and pipeline."""

from mmzoo.tasks.retrieval.index import Index
from mmzoo.tasks.retrieval.model import Retriever
from mmzoo.tasks.retrieval.pipeline import RetrievalPipeline

__all__ = ["Index", "RetrievalPipeline", "Retriever"]
