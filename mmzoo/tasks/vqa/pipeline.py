"""Raw inputs in, ranked answers out, for VQA models."""

import numpy as np

from mmzoo import checks
from mmzoo.preprocessing import is_batch
from mmzoo.reprs import pipeline_repr


class VQAPipeline:
    """Wraps a `VQA` model: questions as strings, images as paths, bytes or arrays.

    >>> answer = mmzoo.pipeline("vqa_san", weights="easy_vqa")
    >>> answer(image="shape.png", question="what color is the shape?", top_k=3)
    [{'answer': 'blue', 'score': 0.97}, {'answer': 'teal', 'score': 0.02}, ...]
    >>> answer(image=["a.png", "b.png"], question="what shape is in the image?")
    [[{...}], [{...}]]

    A list of images or of questions gives one list per example (one image with
    several questions, or one question with several images, is repeated). Grayscale
    and RGBA images are converted to RGB and any size is resized; unknown words become
    the `[UNK]` token and an empty question is answered from the image alone.
    """

    def __init__(self, model):
        self.model = model

    def __repr__(self):
        return pipeline_repr(self, labels=len(self.model.answers))

    def __call__(self, image=None, question=None, top_k=1):
        top_k = checks.integer(top_k, "top_k", minimum=1)
        batched = is_batch(question, 1) or is_batch(image, 4)
        inputs = self.model.preprocess(image=image, question=question)
        scores = np.asarray(self.model(inputs, training=False))
        answers = self.model.answers
        results = [
            [{"answer": answers[i], "score": float(row[i])}
             for i in np.argsort(-row, kind="stable")[: top_k]]
            for row in scores
        ]
        return results if batched else results[0]
