"""Task models, one subpackage per family, registered in `mmzoo.registry.TASKS`.

| family | task | model, and beside it |
|---|---|---|
| `classification/` | `classifier` | `Classifier`; metrics, pipeline |
| `vqa/` | `vqa` | `VQA`; answer loss, metrics, pipeline |
| `captioning/` | `captioner` | `Captioner`; decoders, loss, decoding (greedy / beam / sampling), caption metrics, pipeline |
| `retrieval/` | `retriever` | `Retriever`; towers, contrastive losses, `Index`, retrieval metrics, pipeline |

What every task shares is in `base.py`.
"""

from mmzoo.tasks.base import Task
from mmzoo.tasks.captioning import Captioner
from mmzoo.tasks.classification import Classifier
from mmzoo.tasks.retrieval import Retriever
from mmzoo.tasks.vqa import VQA

__all__ = ["Captioner", "Classifier", "Retriever", "Task", "VQA"]
