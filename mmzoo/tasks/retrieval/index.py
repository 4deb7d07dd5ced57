"""A searchable index of embeddings: build from a corpus, search top-k, save and load.

An `Index` holds the embeddings of one modality (the corpus: images or texts) and is
searched with queries of the other modality (text -> image or image -> text retrieval;
pass `query_modality` to search images with images). Scores are dot products, i.e.
cosine similarities for the unit-norm embeddings of mmzoo retrievers.

Search is exact by default: float32 matrix products against chunks of the corpus on
NumPy's BLAS, one thread per core, with a running top-k (exact_search.py). For corpora
that outgrow it: `storage="bfloat16"` or `"int8"` keeps 1/2 or ~1/4 of the memory
(approximate scores, see storage.py), and `backend="faiss"` searches a faiss index
(`faiss_index="HNSW32"`, `"IVF1024,Flat"`, ...; `pip install mmzoo[faiss]`).

>>> retrieve = mmzoo.pipeline("retrieval_dual_encoder", weights="flickr8k")
>>> index = Index.from_corpus(paths, retrieve.embed_images, modality="image")
>>> index.save("photos.npz"); index = Index.load("photos.npz")
>>> scores, rows = index.search(retrieve.embed_texts(["a dog in the snow"]), k=5)
>>> index.results(scores, rows)[0]   # [{'item': 'dog.jpg', 'index': 12, 'score': 0.41}, ...]
"""

import json
import os
import warnings

import keras
import numpy as np

from mmzoo.tasks.retrieval import exact_search
from mmzoo.tasks.retrieval.faiss_backend import FaissSearcher, import_faiss
from mmzoo.tasks.retrieval.storage import storage_class

MODALITIES = ("image", "text")
BACKENDS = ("exact", "faiss")
FORMAT_VERSION = 2  # 1: float32 embeddings only (still loaded)


class Index:
    """Embeddings `[N, D]` of one modality plus the items they stand for.

    Args:
        embeddings: `[N, D]` array (stored as float32).
        items: N ids, texts or paths shown in results (default: row numbers).
        modality: what the corpus holds, "image" or "text".
        query_modality: what it is searched with (default: the other modality).
        metadata: a JSON-serialisable dict saved with the index (e.g. the model).
        storage: "float32" (exact), "bfloat16" or "int8" (less memory, approximate).
        backend: "exact" (scan every row) or "faiss" (approximate, needs faiss-cpu).
        faiss_index: the faiss.index_factory string for backend="faiss".
        faiss_params: faiss search parameters, e.g. {"efSearch": 256} or {"nprobe": 32}.
    """

    def __init__(self, embeddings, items=None, modality="image", query_modality=None,
                 metadata=None, storage="float32", backend="exact", faiss_index="HNSW32",
                 faiss_params=None):
        _check_modality(modality, "modality")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, received {backend!r}.")
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
        stored = storage_class(storage).encode(embeddings)
        searcher = (FaissSearcher.build(embeddings, faiss_index, faiss_params)
                    if backend == "faiss" else None)
        self._setup(stored, items, modality, query_modality, metadata, searcher)

    def _setup(self, stored, items, modality, query_modality, metadata, searcher):
        self._stored, self._faiss = stored, searcher
        self.items = items
        self.modality = modality
        self.query_modality = query_modality
        self.metadata = dict(metadata or {})
        self.backend = "exact" if searcher is None else "faiss"

    @classmethod
    def from_corpus(cls, corpus, embed, modality, batch_size=64, items=None,
                    query_modality=None, metadata=None, verbose=1, **options):
        """Embeds `corpus` in batches with `embed` (a batch of items -> `[b, D]`), showing
        a `keras.utils.Progbar`; string items (texts, paths) are kept as the items.
        `options` (storage, backend, faiss_index, faiss_params) go to `Index`.

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
        return cls(np.concatenate(parts), items, modality, query_modality, metadata,
                   **options)

    # ----- properties --------------------------------------------------------------
    def __len__(self):
        return len(self._stored)

    @property
    def dim(self):
        return int(self._stored.dim)

    @property
    def storage(self):
        return self._stored.name

    @property
    def embeddings(self):
        """The stored `[N, D]` embeddings as float32 (a read-only view for float32
        storage; decoded, so approximate, for bfloat16 and int8)."""
        return self._stored.dense()

    @property
    def nbytes(self):
        """Bytes held by the stored embeddings (plus the faiss index, if any)."""
        return self._stored.nbytes + (self._faiss.nbytes if self._faiss else 0)

    def __repr__(self):
        backend = (f", faiss {self._faiss.spec!r}" if self._faiss else
                   "" if self.storage == "float32" else f", {self.storage}")
        return (f"Index({len(self)} {self.modality} embeddings of dimension {self.dim}, "
                f"searched with {self.query_modality} queries{backend})")

    # ----- search --------------------------------------------------------------------
    def search(self, queries, k=5, query_modality=None, batch_size=256,
               chunk_size=None, threads=None):
        """Top-k by dot product: `(scores [Q, k] float32, indices [Q, k] int64)`, best
        first (equal scores: lower row first).

        queries: `[Q, D]` (or one `[D]`) embeddings; query_modality: their modality,
        checked against the index's. Queries go `batch_size` at a time against corpus
        chunks of `chunk_size` rows (default: ~1 MiB of scores per thread); threads:
        CPU threads of the exact scan (default: the cores this process may use).
        With backend="faiss", a query may get fewer than k rows: the missing ones are
        -1 with score -inf (`results` leaves them out).
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
        if not np.isfinite(queries).all():
            raise ValueError("queries hold NaN or infinite values.")
        k = _check_k(k, len(self))
        batch_size = max(1, int(batch_size))
        scores, indices = [], []
        for start in range(0, len(queries), batch_size):
            batch = queries[start:start + batch_size]
            if self._faiss is not None:
                found = self._faiss.search(batch, k)
            else:
                found = exact_search.top_k(batch, self._stored, k, threads, chunk_size)
            scores.append(found[0])
            indices.append(found[1])
        return np.concatenate(scores), np.concatenate(indices)

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
                  "score": float(s)} for s, i in zip(row_scores, row_indices) if i >= 0]
                for row_scores, row_indices in zip(scores, indices)]

    # ----- files ---------------------------------------------------------------------
    def save(self, path):
        """Writes an `.npz` (embeddings as stored, items, modalities, metadata) and, for
        backend="faiss", the faiss index beside it (`faiss.write_index`, same name with
        `.faiss`); returns the `.npz` path."""
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
                  "metadata": self.metadata, "storage": self.storage,
                  "backend": self.backend}
        if self._faiss is not None:
            header["faiss"] = {"index": self._faiss.spec, "params": self._faiss.params,
                               "file": os.path.basename(_faiss_path(path))}
            self._faiss.write(_faiss_path(path))
        np.savez(path, items=stored_items, header=np.array(json.dumps(header)),
                 **self._stored.arrays())
        return path

    @classmethod
    def load(cls, path):
        """An `Index` written by `save`. A faiss index is read from its `.faiss` file, or
        rebuilt from the stored embeddings (with a warning) when that file is missing."""
        path = os.fspath(path)
        if not os.path.exists(path) and os.path.exists(path + ".npz"):
            path += ".npz"
        if not os.path.exists(path):
            raise FileNotFoundError(f"No index file at {path}.")
        try:
            with np.load(path, allow_pickle=False) as arrays:
                header = json.loads(str(arrays["header"]))
                if header.get("format_version") not in (1, FORMAT_VERSION):
                    raise _UnsupportedVersion(header.get("format_version"))
                stored = storage_class(header.get("storage", "float32")).from_arrays(arrays)
                items = arrays["items"]
        except _UnsupportedVersion as error:
            raise ValueError(f"{path}: unsupported index format version {error} (expected "
                             f"{FORMAT_VERSION} or older).") from None
        except (KeyError, ValueError, OSError) as error:
            raise ValueError(f"{path} is not an mmzoo index file: {error}") from error
        kind = header["items"]
        items = None if kind == "none" else [str(i) if kind == "str" else int(i)
                                             for i in items]
        searcher = None
        if header.get("backend") == "faiss":
            searcher = _load_faiss(path, header["faiss"], stored)
        index = cls.__new__(cls)
        index._setup(stored, items, header["modality"], header["query_modality"],
                     header["metadata"], searcher)
        return index


class _UnsupportedVersion(Exception):
    pass


def _faiss_path(npz_path):
    return npz_path[:-len(".npz")] + ".faiss"


def _load_faiss(path, settings, stored):
    faiss_file = os.path.join(os.path.dirname(path), settings["file"])
    import_faiss()  # a clear ImportError before anything else
    if os.path.exists(faiss_file):
        return FaissSearcher.read(faiss_file, settings["index"], settings["params"])
    warnings.warn(f"{faiss_file} is missing: rebuilding the faiss index "
                  f"{settings['index']!r} from the stored embeddings.", stacklevel=3)
    return FaissSearcher.build(stored.dense(), settings["index"], settings["params"])


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
