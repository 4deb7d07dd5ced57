"""A searchable index of embeddings: build from a corpus, search top-k, save and load.

An `Index` holds the embeddings of one modality (the corpus: images or texts) and is
searched with queries of the other modality (text -> image or image -> text retrieval;
pass `query_modality` to search images with images). Scores are dot products, i.e.
cosine similarities for the unit-norm embeddings of mmzoo retrievers. Search is exact:
batched matrix products against chunks of the corpus with `tf.math.top_k`, merged.

>>> retrieve = mmzoo.pipeline("retrieval_dual_encoder", weights="flickr8k")
>>> index = Index.from_corpus(paths, retrieve.embed_images, modality="image")
>>> index.save("photos.npz"); index = Index.load("photos.npz")
>>> scores, rows = index.search(retrieve.embed_texts(["a dog in the snow"]), k=5)
>>> index.results(scores, rows)[0]   # [{'item': 'dog.jpg', 'index': 12, 'score': 0.41}, ...]
"""

import json
import os

import keras
import numpy as np
import tensorflow as tf

MODALITIES = ("image", "text")
FORMAT_VERSION = 1


class Index:
    """Embeddings `[N, D]` of one modality plus the items they stand for.

    Args:
        embeddings: `[N, D]` array (stored as float32).
        items: N ids, texts or paths shown in results (default: row numbers).
        modality: what the corpus holds, "image" or "text".
        query_modality: what it is searched with (default: the other modality).
        metadata: a JSON-serialisable dict saved with the index (e.g. the model).
    """

    def __init__(self, embeddings, items=None, modality="image", query_modality=None,
                 metadata=None):
        _check_modality(modality, "modality")
        query_modality = query_modality or _other(modality)
        _check_modality(query_modality, "query_modality")
        embeddings = np.asarray(embeddings)
        if embeddings.ndim != 2 or embeddings.shape[0] == 0 or embeddings.shape[1] == 0:
            raise ValueError(
                f"An index needs a non-empty [N, D] embeddings matrix; received shape "
                f"{list(embeddings.shape)}. Is the corpus empty?")
        if embeddings.dtype.kind not in "fiu":
            raise ValueError(f"embeddings must be numeric, received dtype {embeddings.dtype}.")
        if not np.isfinite(embeddings).all():
            raise ValueError("embeddings hold NaN or infinite values.")
        if items is not None:
            items = list(items)
            if len(items) != len(embeddings):
                raise ValueError(f"{len(items)} items for {len(embeddings)} embeddings.")
        # One float32 copy, owned by TensorFlow; `embeddings` views it without copying.
        self._corpus = tf.convert_to_tensor(np.ascontiguousarray(embeddings, np.float32))
        self.items = items
        self.modality = modality
        self.query_modality = query_modality
        self.metadata = dict(metadata or {})

    @classmethod
    def from_corpus(cls, corpus, embed, modality, batch_size=64, items=None,
                    query_modality=None, metadata=None, verbose=1):
        """Embeds `corpus` in batches with `embed` (a batch of items -> `[b, D]`), showing
        a `keras.utils.Progbar`; string items (texts, paths) are kept as the items.

        >>> Index.from_corpus(texts, retrieve.embed_texts, modality="text")
        """
        _check_modality(modality, "modality")
        count = len(corpus) if corpus is not None else 0
        if count == 0:
            raise ValueError(f"The {modality} corpus is empty: nothing to index.")
        batch_size = int(batch_size)
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, received {batch_size}.")
        progress = keras.utils.Progbar(count, verbose=verbose, unit_name=modality)
        parts = []
        for start in range(0, count, batch_size):
            batch = corpus[start:start + batch_size]
            parts.append(np.asarray(embed(batch), np.float32))
            progress.add(len(batch))
        if items is None and all(isinstance(item, str) for item in corpus):
            items = list(corpus)
        return cls(np.concatenate(parts), items, modality, query_modality, metadata)

    # ----- properties --------------------------------------------------------------
    def __len__(self):
        return int(self._corpus.shape[0])

    @property
    def dim(self):
        return int(self._corpus.shape[1])

    @property
    def embeddings(self):
        """The stored `[N, D]` float32 embeddings (a read-only view)."""
        return self._corpus.numpy()

    @property
    def nbytes(self):
        """Bytes held by the embeddings."""
        return len(self) * self.dim * 4

    def __repr__(self):
        return (f"Index({len(self)} {self.modality} embeddings of dimension {self.dim}, "
                f"searched with {self.query_modality} queries)")

    # ----- search --------------------------------------------------------------------
    def search(self, queries, k=5, query_modality=None, batch_size=256,
               chunk_size=1 << 16):
        """Top-k by dot product: `(scores [Q, k] float32, indices [Q, k] int64)`, best
        first (equal scores: lower row first).

        queries: `[Q, D]` (or one `[D]`) embeddings; query_modality: their modality,
        checked against the index's. Queries go `batch_size` at a time against corpus
        chunks of `chunk_size` rows, so memory stays `batch_size x chunk_size` scores.
        """
        if query_modality is not None:
            self.check_query_modality(query_modality)
        queries = np.asarray(queries, np.float32)
        if queries.ndim == 1:
            queries = queries[None]
        if queries.ndim != 2 or queries.shape[0] == 0 or queries.shape[1] != self.dim:
            raise ValueError(f"queries must be [Q, {self.dim}] embeddings (Q >= 1) for this "
                             f"index of dimension {self.dim}; received shape "
                             f"{list(queries.shape)}.")
        k = _check_k(k, len(self))
        batch_size, chunk_size = max(1, int(batch_size)), max(k, int(chunk_size))
        scores, indices = [], []
        for start in range(0, len(queries), batch_size):
            batch = tf.constant(queries[start:start + batch_size])
            best_scores, best_indices = _search_batch(batch, self._corpus, k, chunk_size)
            scores.append(best_scores.numpy())
            indices.append(best_indices.numpy())
        return np.concatenate(scores), np.concatenate(indices).astype(np.int64)

    def check_query_modality(self, query_modality):
        """Raises a ValueError unless the index is searched with `query_modality`."""
        _check_modality(query_modality, "query_modality")
        if query_modality != self.query_modality:
            raise ValueError(
                f"This index stores {self.modality} embeddings and is searched with "
                f"{self.query_modality} queries; received {query_modality} queries. "
                f"Build an index of {_other(query_modality)}s, or pass "
                f"query_modality={query_modality!r} when creating the index.")

    def results(self, scores, indices):
        """Readable results: per query `[{"item", "index", "score"}, ...]` best first."""
        items = self.items
        return [[{"item": items[i] if items is not None else int(i), "index": int(i),
                  "score": float(s)} for s, i in zip(row_scores, row_indices)]
                for row_scores, row_indices in zip(scores, indices)]

    # ----- files ---------------------------------------------------------------------
    def save(self, path):
        """Writes an `.npz` (embeddings, items, modalities, metadata); returns its path."""
        path = os.fspath(path)
        if not path.endswith(".npz"):
            path += ".npz"
        items = self.items
        if items is None:
            stored_items, kind = np.zeros((0,), np.int64), "none"
        elif all(isinstance(item, str) for item in items):
            stored_items, kind = np.array(items, dtype=np.str_), "str"
        elif all(isinstance(item, (int, np.integer)) for item in items):
            stored_items, kind = np.array(items, dtype=np.int64), "int"
        else:
            raise ValueError("Only string or integer items can be saved; received "
                             f"{type(next(i for i in items if not isinstance(i, str)))}.")
        header = {"format_version": FORMAT_VERSION, "modality": self.modality,
                  "query_modality": self.query_modality, "items": kind,
                  "metadata": self.metadata}
        np.savez(path, embeddings=self.embeddings, items=stored_items,
                 header=np.array(json.dumps(header)))
        return path

    @classmethod
    def load(cls, path):
        """An `Index` written by `save`."""
        path = os.fspath(path)
        if not os.path.exists(path) and os.path.exists(path + ".npz"):
            path += ".npz"
        if not os.path.exists(path):
            raise FileNotFoundError(f"No index file at {path}.")
        try:
            with np.load(path, allow_pickle=False) as stored:
                header = json.loads(str(stored["header"]))
                embeddings, items = stored["embeddings"], stored["items"]
        except (KeyError, ValueError, OSError) as error:
            raise ValueError(f"{path} is not an mmzoo index file: {error}") from error
        if header.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{path}: unsupported index format version "
                             f"{header.get('format_version')!r} (expected {FORMAT_VERSION}).")
        kind = header["items"]
        items = None if kind == "none" else [str(i) if kind == "str" else int(i)
                                             for i in items]
        return cls(embeddings, items, header["modality"], header["query_modality"],
                   header["metadata"])


@tf.function(reduce_retracing=True)
def _search_chunk(queries, chunk, k):
    return tf.math.top_k(tf.matmul(queries, chunk, transpose_b=True), k=k)


def _search_batch(queries, corpus, k, chunk_size):
    """Exact top-k of `queries @ corpus^T`, one corpus chunk at a time, then merged."""
    size = int(corpus.shape[0])
    if size <= chunk_size:
        return _search_chunk(queries, corpus, tf.constant(k))
    scores, indices = [], []
    for start in range(0, size, chunk_size):
        chunk = corpus[start:start + chunk_size]
        top = _search_chunk(queries, chunk, tf.constant(min(k, int(chunk.shape[0]))))
        scores.append(top.values)
        indices.append(top.indices + start)
    scores, indices = tf.concat(scores, axis=1), tf.concat(indices, axis=1)
    # Chunks are in row order, so equal scores keep the lower row first.
    best = tf.math.top_k(scores, k=k)
    return best.values, tf.gather(indices, best.indices, batch_dims=1)


def _check_k(k, size):
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, received {k!r}.")
    if k > size:
        raise ValueError(f"k={k} is larger than the index ({size} items); use k <= {size}.")
    return int(k)


def _check_modality(modality, name):
    if modality not in MODALITIES:
        raise ValueError(f"{name} must be one of {MODALITIES}, received {modality!r}.")


def _other(modality):
    return "text" if modality == "image" else "image"
