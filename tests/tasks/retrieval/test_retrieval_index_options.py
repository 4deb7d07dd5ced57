"""`Index` options for large corpora: bfloat16 / int8 storage and the faiss backend
(skipped without faiss-cpu): recall against exact search, save/load, clear errors."""

import os
import sys

import numpy as np
import pytest

from mmzoo.tasks.retrieval import Index

# Recall@10 against exact float32 search on 2,000 random unit vectors of dimension 32
# (measured: bfloat16 0.997, int8 0.989, HNSW32 1.0, IVF32 with 16 of 32 lists 0.90).
RECALL_BOUNDS = {"bfloat16": 0.98, "int8": 0.95, "HNSW32": 0.95, "IVF32,Flat": 0.75}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(1)
    corpus = rng.normal(size=(2000, 32)).astype("float32")
    queries = rng.normal(size=(50, 32)).astype("float32")
    corpus /= np.linalg.norm(corpus, axis=1, keepdims=True)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    _, exact = Index(corpus).search(queries, k=10)
    return corpus, queries, exact


def recall(rows, exact):
    return np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(rows, exact)])


def brute_force_rows(queries, corpus, k):
    return np.argsort(-(queries @ corpus.T), axis=1, kind="stable")[:, :k]


@pytest.mark.parametrize("storage, bytes_per_row", [("bfloat16", 64), ("int8", 36)])
def test_compact_storage_searches_its_stored_values_exactly(data, storage, bytes_per_row):
    corpus, queries, exact = data
    index = Index(corpus, storage=storage)
    assert index.storage == storage and index.nbytes == len(corpus) * bytes_per_row
    stored = index.embeddings  # decoded float32
    tolerance = 2.0 ** -8 if storage == "bfloat16" else 1 / 254  # relative to the row max
    assert np.all(np.abs(stored - corpus) <= tolerance * np.abs(corpus).max(axis=1,
                                                                            keepdims=True))
    scores, rows = index.search(queries, k=10, chunk_size=300)
    # Exact search over the stored (rounded) values ...
    np.testing.assert_array_equal(rows, brute_force_rows(queries, stored, 10))
    np.testing.assert_allclose(scores, np.take_along_axis(queries @ stored.T, rows, 1),
                               atol=1e-6)
    # ... which are close to the float32 top-10.
    assert recall(rows, exact) >= RECALL_BOUNDS[storage]


@pytest.mark.parametrize("storage", ["bfloat16", "int8"])
def test_compact_storage_round_trips_through_a_smaller_file(tmp_path, data, storage):
    corpus, queries, _ = data
    smaller = os.path.getsize(Index(corpus, storage=storage).save(tmp_path / "small"))
    assert smaller < 0.55 * os.path.getsize(Index(corpus).save(tmp_path / "float32"))
    index = Index(corpus, storage=storage, items=[f"p{i}" for i in range(len(corpus))])
    path = index.save(tmp_path / storage)
    loaded = Index.load(path)
    assert loaded.storage == storage and loaded.items == index.items
    np.testing.assert_array_equal(loaded.embeddings, index.embeddings)
    for got, expected in zip(loaded.search(queries, k=5), index.search(queries, k=5)):
        np.testing.assert_array_equal(got, expected)
    assert storage in repr(loaded)


# ----- faiss -------------------------------------------------------------------------
def test_faiss_backend_recall(data):
    pytest.importorskip("faiss")
    corpus, queries, exact = data
    for spec in ("HNSW32", "IVF32,Flat"):
        index = Index(corpus, backend="faiss", faiss_index=spec)
        scores, rows = index.search(queries, k=10)
        assert rows.dtype == np.int64 and scores.shape == (50, 10)
        assert recall(rows, exact) >= RECALL_BOUNDS[spec], spec
        found = rows >= 0
        np.testing.assert_allclose(  # faiss' scores are the dot products of its rows
            scores[found], np.einsum("qd,qd->q", np.repeat(queries, 10, 0)[found.ravel()],
                                     corpus[rows[found]]), atol=1e-5)
    # Probing every list of a flat IVF is exhaustive: the exact ids.
    everything = Index(corpus, backend="faiss", faiss_index="IVF32,Flat",
                       faiss_params={"nprobe": 32})
    assert recall(everything.search(queries, k=10)[1], exact) == 1.0


def test_faiss_backend_saves_its_index_beside_the_npz(tmp_path, data):
    pytest.importorskip("faiss")
    corpus, queries, _ = data
    index = Index(corpus, backend="faiss", faiss_index="IVF32,Flat",
                  faiss_params={"nprobe": 4}, metadata={"model": "m"})
    path = index.save(tmp_path / "corpus")
    assert os.path.exists(tmp_path / "corpus.faiss")
    loaded = Index.load(path)
    assert loaded.backend == "faiss" and loaded.metadata == {"model": "m"}
    assert "faiss 'IVF32,Flat'" in repr(loaded)
    for got, expected in zip(loaded.search(queries, k=10), index.search(queries, k=10)):
        np.testing.assert_array_equal(got, expected)
    os.remove(tmp_path / "corpus.faiss")  # rebuilt from the stored embeddings
    with pytest.warns(UserWarning, match="corpus.faiss is missing: rebuilding"):
        rebuilt = Index.load(path)
    assert recall(rebuilt.search(queries, k=10)[1], index.search(queries, k=10)[1]) > 0.9


def test_faiss_rows_it_did_not_find_are_left_out_of_results(data):
    pytest.importorskip("faiss")
    corpus, queries, _ = data
    # One probed list of 64 holds ~30 rows: asking for 100 leaves -1 rows.
    index = Index(corpus[:2000], backend="faiss", faiss_index="IVF64,Flat",
                  faiss_params={"nprobe": 1})
    scores, rows = index.search(queries[:3], k=100)
    assert (rows == -1).any() and np.all(scores[rows == -1] == -np.inf)
    results = index.results(scores, rows)
    assert [len(r) for r in results] == list((rows >= 0).sum(axis=1))


def test_faiss_errors_are_named(data, monkeypatch):
    pytest.importorskip("faiss")
    corpus, _, _ = data
    with pytest.raises(ValueError, match="faiss cannot build 'IVF,Nonsense'"):
        Index(corpus, backend="faiss", faiss_index="IVF,Nonsense")
    with pytest.raises(ValueError, match="faiss_params .*nprobe.* do not apply to 'HNSW32'"):
        Index(corpus, backend="faiss", faiss_index="HNSW32", faiss_params={"nprobe": 4})
    monkeypatch.setitem(sys.modules, "faiss", None)  # as if it were not installed
    with pytest.raises(ImportError, match="pip install 'mmzoo\\[faiss\\]'"):
        Index(corpus, backend="faiss")
