"""`mmzoo.tasks.retrieval.Index`: building, exact search, save/load and clear errors."""

import json

import numpy as np
import pytest

from mmzoo.tasks.retrieval import Index, exact_search


def unit_vectors(rng, count, dim=16):
    vectors = rng.normal(size=(count, dim)).astype("float32")
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def brute_force(queries, corpus, k):
    scores = queries @ corpus.T
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, order, axis=1), order


@pytest.fixture
def many_parts(monkeypatch):
    """Splits even tiny searches over several threads (parts of the corpus)."""
    monkeypatch.setattr(exact_search, "MIN_WORK_PER_PART", 1)


@pytest.mark.parametrize("chunk_size", [7, 64, None])
@pytest.mark.parametrize("threads", [1, 3])
def test_search_matches_brute_force(rng, many_parts, chunk_size, threads):
    corpus, queries = unit_vectors(rng, 300), unit_vectors(rng, 13)
    index = Index(corpus, modality="image")
    scores, rows = index.search(queries, k=6, batch_size=5, chunk_size=chunk_size,
                                threads=threads)
    expected_scores, expected_rows = brute_force(queries, corpus, 6)
    np.testing.assert_array_equal(rows, expected_rows)
    np.testing.assert_allclose(scores, expected_scores, atol=1e-6)
    assert rows.dtype == np.int64 and scores.shape == (13, 6)
    one_scores, one_rows = index.search(queries[0], k=6)  # a single [D] query
    np.testing.assert_array_equal(one_rows, rows[:1])


def test_equal_scores_keep_the_lower_row_first(rng, many_parts):
    corpus = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    _, rows = Index(corpus).search([[0.0, 1.0]], k=3, chunk_size=2)
    np.testing.assert_array_equal(rows, [[0, 2, 4]])
    # Many ties, across chunks and threads: a few distinct integer vectors repeated.
    corpus = rng.integers(-1, 2, size=(400, 3)).astype("float32")
    queries = rng.integers(-1, 2, size=(9, 3)).astype("float32")
    for chunk_size, threads in [(16, 1), (50, 2), (None, 4)]:
        scores, rows = Index(corpus).search(queries, k=25, chunk_size=chunk_size,
                                            threads=threads)
        expected_scores, expected_rows = brute_force(queries, corpus, 25)
        np.testing.assert_array_equal(rows, expected_rows)
        np.testing.assert_array_equal(scores, expected_scores)


def test_search_leaves_the_blas_threads_as_they_were(rng):
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas_threads():
        return [pool["num_threads"] for pool in threadpoolctl.threadpool_info()
                if pool["user_api"] == "blas"]

    before = blas_threads()
    Index(unit_vectors(rng, 5000, dim=64)).search(unit_vectors(rng, 64, dim=64), k=3,
                                                  threads=2)
    assert blas_threads() == before


def test_from_corpus_embeds_in_batches_with_a_progress_bar(rng, capsys):
    texts = [f"caption {i}" for i in range(10)]
    table = {text: vector for text, vector in zip(texts, unit_vectors(rng, 10))}
    batches = []

    def embed(batch):
        batches.append(len(batch))
        return np.stack([table[text] for text in batch])

    index = Index.from_corpus(texts, embed, modality="text", batch_size=4)
    assert batches == [4, 4, 2]
    assert "10/10" in capsys.readouterr().out  # keras.utils.Progbar
    assert index.items == texts and index.modality == "text"
    assert index.query_modality == "image" and len(index) == 10 and index.dim == 16
    scores, rows = index.search(table["caption 3"], k=1, query_modality="image")
    assert index.results(scores, rows) == [[{"item": "caption 3", "index": 3,
                                             "score": pytest.approx(1.0, abs=1e-6)}]]
    arrays = Index.from_corpus(np.zeros((3, 4, 4, 3)), lambda b: np.ones((len(b), 2)),
                               modality="image", verbose=0)
    assert arrays.items is None and arrays.results(*arrays.search([1.0, 0.0], k=1)) == [
        [{"item": 0, "index": 0, "score": 1.0}]]


@pytest.mark.parametrize("items", [None, ["a.jpg", "b.jpg", "c.jpg"], [10, 20, 30]])
def test_save_and_load_round_trip(tmp_path, rng, items):
    index = Index(unit_vectors(rng, 3), items, modality="image",
                  metadata={"model": "retrieval_dual_encoder", "embed_dim": 16})
    path = index.save(tmp_path / "photos")  # the .npz suffix is added
    assert path.endswith("photos.npz")
    loaded = Index.load(path)
    np.testing.assert_array_equal(loaded.embeddings, index.embeddings)
    assert loaded.items == items and loaded.modality == "image"
    assert loaded.query_modality == "text" and loaded.metadata == index.metadata
    assert Index.load(tmp_path / "photos").items == items  # suffix optional on load
    assert "3 image embeddings of dimension 16" in repr(loaded)


def test_bad_input_is_a_clear_error(tmp_path, rng):
    with pytest.raises(ValueError, match="The image corpus is empty"):
        Index.from_corpus([], lambda batch: batch, modality="image")
    with pytest.raises(ValueError, match="non-empty \\[N, D\\].*corpus empty"):
        Index(np.zeros((0, 16)))
    index = Index(unit_vectors(rng, 5), modality="image")
    with pytest.raises(ValueError, match="stores image embeddings and is searched with "
                                         "text queries; received image queries"):
        index.search(unit_vectors(rng, 1), k=1, query_modality="image")
    with pytest.raises(ValueError, match="k=6 is larger than the index \\(5 items\\)"):
        index.search(unit_vectors(rng, 1), k=6)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        index.search(unit_vectors(rng, 1), k=0)
    with pytest.raises(ValueError, match="queries must be \\[Q, 16\\].*received shape \\[1, 8\\]"):
        index.search(unit_vectors(rng, 1, dim=8), k=1)
    with pytest.raises(ValueError, match="queries hold NaN"):
        index.search(np.full((1, 16), np.nan), k=1)
    with pytest.raises(ValueError, match="storage must be one of .*'float16'"):
        Index(unit_vectors(rng, 2), storage="float16")
    with pytest.raises(ValueError, match="backend must be one of .*'annoy'"):
        Index(unit_vectors(rng, 2), backend="annoy")
    with pytest.raises(ValueError, match="modality must be one of"):
        Index(unit_vectors(rng, 2), modality="audio")
    with pytest.raises(ValueError, match="2 items for 5 embeddings"):
        Index(unit_vectors(rng, 5), items=["a", "b"])
    with pytest.raises(ValueError, match="NaN or infinite"):
        Index(np.full((2, 3), np.nan))
    with pytest.raises(FileNotFoundError, match="No index file"):
        Index.load(tmp_path / "missing.npz")
    np.savez(tmp_path / "other.npz", weights=np.zeros(3))
    with pytest.raises(ValueError, match="not an mmzoo index file"):
        Index.load(tmp_path / "other.npz")


def test_files_of_the_first_format_still_load(tmp_path, rng):
    embeddings = unit_vectors(rng, 4)
    header = {"format_version": 1, "modality": "text", "query_modality": "image",
              "items": "str", "metadata": {"model": "m"}}
    np.savez(tmp_path / "old.npz", embeddings=embeddings, items=np.array(list("abcd")),
             header=np.array(json.dumps(header)))
    index = Index.load(tmp_path / "old.npz")
    assert index.storage == "float32" and index.backend == "exact"
    assert index.items == list("abcd") and index.query_modality == "image"
    np.testing.assert_array_equal(index.embeddings, embeddings)
    header["format_version"] = 9
    np.savez(tmp_path / "new.npz", embeddings=embeddings, items=np.array(list("abcd")),
             header=np.array(json.dumps(header)))
    with pytest.raises(ValueError, match="unsupported index format version 9"):
        Index.load(tmp_path / "new.npz")
