"""Raw inputs in, embeddings, rankings and zero-shot labels out, for retrievers."""

import warnings

import numpy as np

from mmzoo import checks
from mmzoo.preprocessing import as_string_batch, is_batch
from mmzoo.preprocessing.text import UNK_ID
from mmzoo.reprs import pipeline_repr
from mmzoo.tasks.retrieval.index import Index


class RetrievalPipeline:
    """Wraps a `Retriever`: embeddings, search and zero-shot classification, raw inputs.

    Images are paths, encoded bytes or arrays (any size; grayscale and RGBA converted);
    texts are strings. Embeddings are unit-norm numpy `[N, D]`.

    >>> retrieve = mmzoo.pipeline("retrieval_dual_encoder", weights="flickr8k")
    >>> retrieve.embed_images(["dog.jpg", "beach.jpg"]).shape   # (2, 128)
    >>> retrieve.embed_texts(["a dog runs through the snow"])
    >>> retrieve.search(text="a dog in the snow", images=paths, k=3)   # text -> image
    [{'item': 'dog.jpg', 'index': 0, 'score': 0.52}, ...]
    >>> retrieve.search(image="dog.jpg", texts=captions, k=3)         # image -> text
    >>> index = retrieve.index(images=paths)                          # reusable Index
    >>> retrieve.search(text=["a dog", "a beach"], index=index, k=3)  # one list per query
    >>> retrieve("dog.jpg", candidate_labels=["dog", "cat", "beach"])  # zero-shot
    [{'label': 'dog', 'score': 0.71}, {'label': 'beach', 'score': 0.2}, ...]
    """

    def __init__(self, model):
        self.model = model

    def __repr__(self):
        return pipeline_repr(self, embed_dim=self.model.embed_dim,
                             loss=self.model.get_config()["loss"])

    # ----- embeddings ------------------------------------------------------------------
    def embed_images(self, images, batch_size=32):
        """numpy `[N, D]` embeddings of one image or a list/array of images."""
        images = _as_list(images, batch_rank=4)
        if not len(images):
            raise ValueError("'image' is an empty batch; pass at least one image.")
        parts = [self.model.embed("image", self.model.preprocess(
            image=images[start:start + batch_size])["image"], batch_size)
            for start in range(0, len(images), batch_size)]
        return np.concatenate(parts)

    def embed_texts(self, texts, batch_size=256):
        """numpy `[N, D]` embeddings of one string or a list of strings.

        Empty or blank strings raise a ValueError; texts with no word in the model's
        vocabulary give a warning that counts them (their embedding is the [UNK]
        token's alone).
        """
        if texts is None or (not isinstance(texts, (str, bytes)) and not len(texts)):
            raise ValueError("'text' must be a string or a non-empty list of strings, "
                             f"received {texts!r}.")
        texts = as_string_batch(texts, "text")
        blank = [i for i, text in enumerate(texts) if not text.strip()]
        if blank:
            raise ValueError(f"'text' {blank[0]} is empty or blank ({texts[blank[0]]!r}); "
                             "every query and corpus text needs at least one word.")
        ids = self.model.preprocess(text=texts)["text"]
        unknown = np.flatnonzero((ids > UNK_ID).sum(axis=1) == 0)
        if len(unknown):
            warnings.warn(
                f"out_of_vocabulary: {len(unknown)} of {len(texts)} text(s) have no word in "
                f"the model's vocabulary (first: {texts[unknown[0]]!r}); their embeddings "
                "carry no meaning.", stacklevel=2)
        return self.model.embed("text", ids, batch_size)

    def index(self, images=None, texts=None, batch_size=None, verbose=1):
        """An `mmzoo.retrieval.Index` of a corpus of images or of texts."""
        if (images is None) == (texts is None):
            raise ValueError("Pass exactly one corpus: images=[...] or texts=[...].")
        modality = "image" if images is not None else "text"
        corpus = _as_list(images if images is not None else texts,
                          batch_rank=4 if images is not None else 1)
        embed = self.embed_images if images is not None else self.embed_texts
        return Index.from_corpus(
            corpus, embed, modality, batch_size or (32 if images is not None else 256),
            metadata={"model": self.model.name, "embed_dim": self.model.embed_dim},
            verbose=verbose)

    def search(self, text=None, image=None, images=None, texts=None, index=None, k=5,
               verbose=0):
        """Top-k corpus items for text or image queries, best first.

        The corpus is an `Index` (`index=`) or raw `images=` / `texts=` (indexed on the
        fly). Returns `[{"item", "index", "score"}]` per query (a list of them for a
        list of queries); `item` is the path or text, or the row for arrays and bytes.
        """
        if (text is None) == (image is None):
            raise ValueError("Pass exactly one kind of query: text=... or image=....")
        if index is None:
            index = self.index(images=images, texts=texts, verbose=verbose)
        elif images is not None or texts is not None:
            raise ValueError("Pass either index= or a corpus (images= / texts=), not both.")
        modality = "text" if text is not None else "image"
        index.check_query_modality(modality)
        batched = is_batch(text, 1) if text is not None else is_batch(image, 4)
        queries = self.embed_texts(text) if text is not None else self.embed_images(image)
        results = index.results(*index.search(queries, k, query_modality=modality))
        return results if batched else results[0]

    # ----- zero-shot classification ----------------------------------------------------
    def __call__(self, image, candidate_labels=None, hypothesis_template="a photo of {}.",
                 top_k=None):
        """Zero-shot classification: `[{"label", "score"}]` best first for one image (a
        list of them for a list of images; `top_k` keeps the best k). Each label is scored
        through `hypothesis_template.format(label)`; scores are the softmax over the
        labels of the model's logits (InfoNCE models) or per-label sigmoids (SigLIP
        models), as in Hugging Face's zero-shot-image-classification pipeline.
        """
        if isinstance(candidate_labels, str):
            candidate_labels = [candidate_labels]
        labels = [str(label) for label in candidate_labels or []]
        if not labels:
            raise ValueError("candidate_labels is empty; pass at least one label.")
        if "{}" not in hypothesis_template:
            raise ValueError(f"hypothesis_template must contain '{{}}' where the label "
                             f"goes, received {hypothesis_template!r}.")
        batched = is_batch(image, 4)
        texts = self.embed_texts([hypothesis_template.format(label) for label in labels])
        logits = np.asarray(self.model.similarity_logits(self.embed_images(image), texts),
                            np.float64)
        if self.model.get_config()["loss"] == "sigmoid":
            scores = 1.0 / (1.0 + np.exp(-logits))
        else:
            scores = np.exp(logits - logits.max(axis=1, keepdims=True))
            scores /= scores.sum(axis=1, keepdims=True)
        if top_k is not None:
            top_k = checks.integer(top_k, "top_k", minimum=1)
        results = [[{"label": labels[i], "score": float(row[i])}
                    for i in np.argsort(-row, kind="stable")[:top_k]] for row in scores]
        return results if batched else results[0]


def _as_list(values, batch_rank):
    """A sliceable batch: arrays of rank `batch_rank` stay, one item becomes a list."""
    if isinstance(values, np.ndarray) and values.ndim == batch_rank:
        return values
    if isinstance(values, (list, tuple)):
        return list(values)
    return [values]
