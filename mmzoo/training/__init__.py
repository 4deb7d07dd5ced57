"""Training, evaluation and fine-tuning of mmzoo models.

>>> from mmzoo.training import train, evaluate
>>> folder = train("sentiment_late", "avdigits", out="runs/late_avdigits", epochs=10)
>>> evaluate("sentiment_late", weights=str(folder), data="avdigits", split="test")
>>> mmzoo.freeze_backbones(model)    # fine-tune fusion + head only

See `fit.py` (train / evaluate, resume, early stopping), `distribute.py` (strategies,
global batches, the chief worker), `finetune.py` (freezing backbones) and `shipping.py`
(copying a run into the shipped weights).

>>> train("sentiment_late", "avdigits", out="runs/late", strategy="mirrored",
...       batch_size=256, precision="mixed_float16")   # every local GPU
"""

from mmzoo.training.finetune import backbones, freeze_backbones
from mmzoo.training.fit import (
    build_for_dataset,
    evaluate,
    load_split,
    train,
    versions,
)
from mmzoo.training.shipping import ship_folder

__all__ = ["backbones", "build_for_dataset", "evaluate", "freeze_backbones", "load_split",
           "ship_folder", "train", "versions"]
