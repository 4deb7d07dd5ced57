"""Approximate search with faiss (`pip install mmzoo[faiss]`, i.e. `faiss-cpu`), for
corpora that outgrow exact search: an inner-product faiss index built by
`faiss.index_factory`, e.g. "HNSW32" (graph, no training) or "IVF1024,Flat" (clusters,
trained on the corpus) or "IVF1024,PQ32" (compressed).

faiss runs its own OpenMP threads, which compete with TensorFlow's thread pools when
both work in one process (see benchmarks/README.md, "Searching an index").

>>> searcher = FaissSearcher.build(embeddings, "HNSW32", {"efSearch": 128})
>>> scores, rows = searcher.search(queries, k=10)   # rows -1 where fewer than k found
"""

import numpy as np

# Search parameters used unless given: faiss' own defaults (efSearch 16, nprobe 1) trade
# away most of the recall at the sizes an mmzoo corpus has.
DEFAULT_PARAMS = {"HNSW": {"efSearch": 128}, "IVF": {"nprobe": 16}}


def import_faiss():
    """The faiss module, or an ImportError that says how to install it."""
    try:
        import faiss
    except ImportError as error:
        raise ImportError("backend='faiss' needs the faiss-cpu package: "
                          "pip install 'mmzoo[faiss]' (or pip install faiss-cpu).") from error
    return faiss


class FaissSearcher:
    """A faiss index over the corpus rows (row i of the corpus is faiss id i)."""

    def __init__(self, index, spec, params):
        self.index, self.spec, self.params = index, spec, dict(params)
        self._apply_params()

    @classmethod
    def build(cls, embeddings, spec="HNSW32", params=None):
        """Builds (and trains, for IVF / PQ) `spec` on `embeddings` [N, D]."""
        faiss = import_faiss()
        embeddings = np.ascontiguousarray(embeddings, np.float32)
        if not isinstance(spec, str) or not spec:
            raise ValueError(f"faiss_index must be a faiss.index_factory string such as "
                             f"'HNSW32' or 'IVF256,Flat', received {spec!r}.")
        try:
            index = faiss.index_factory(embeddings.shape[1], spec, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as error:
            raise ValueError(f"faiss cannot build {spec!r}: {error}") from error
        if not index.is_trained:
            index.train(embeddings)
        index.add(embeddings)
        return cls(index, spec, _with_defaults(spec, params))

    def search(self, queries, k):
        """`(scores [Q, k] float32, rows [Q, k] int64)`; -1 rows (score -inf) where the
        index found fewer than k (IVF with few probed lists)."""
        scores, rows = self.index.search(np.ascontiguousarray(queries, np.float32), k)
        scores = np.where(rows < 0, -np.inf, scores).astype(np.float32)
        return scores, rows.astype(np.int64)

    def _apply_params(self):
        if self.params:
            text = ",".join(f"{name}={value}" for name, value in self.params.items())
            try:
                import_faiss().ParameterSpace().set_index_parameters(self.index, text)
            except RuntimeError as error:
                raise ValueError(f"faiss_params {self.params} do not apply to "
                                 f"{self.spec!r}: {error}") from error

    def write(self, path):
        import_faiss().write_index(self.index, path)

    @classmethod
    def read(cls, path, spec, params):
        return cls(import_faiss().read_index(path), spec, params)

    @property
    def nbytes(self):
        """Bytes of the serialised faiss index (about what it holds in memory)."""
        return int(import_faiss().serialize_index(self.index).nbytes)


def _with_defaults(spec, params):
    merged = {}
    for family, defaults in DEFAULT_PARAMS.items():
        if family in spec:
            merged.update(defaults)
    merged.update(params or {})
    return merged
