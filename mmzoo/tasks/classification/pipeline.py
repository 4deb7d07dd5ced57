"""Raw inputs in, readable predictions out, for classifiers (as Hugging Face pipelines).

>>> classify = mmzoo.pipeline("sentiment_late", weights="avdigits")
>>> classify(image="seven.png", audio="seven.wav")
[{'label': '7', 'score': 0.98}]
>>> classify(image=["a.png", "b.png"], audio=["a.wav", "b.wav"], top_k=2)
[[{...}, {...}], [{...}, {...}]]
"""

import numpy as np

from mmzoo import checks
from mmzoo.preprocessing import is_batch
from mmzoo.reprs import pipeline_repr


class ClassificationPipeline:
    """Wraps a `Classifier`: strings, image paths/bytes/arrays, WAV paths/bytes/arrays."""

    def __init__(self, model):
        self.model = model

    def __repr__(self):
        return pipeline_repr(self, labels=len(self.model.labels))

    def __call__(self, text=None, image=None, audio=None, top_k=1):
        top_k = checks.integer(top_k, "top_k", minimum=1)
        batched = is_batch(text, 1) or is_batch(image, 4) or is_batch(audio, 2)
        inputs = self.model.preprocess(text=text, image=image, audio=audio)
        scores = np.asarray(self.model(inputs, training=False))
        labels = self.model.labels
        results = [
            [{"label": labels[i], "score": float(row[i])}
             for i in np.argsort(-row)[: top_k]]
            for row in scores
        ]
        return results if batched else results[0]
