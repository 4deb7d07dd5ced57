"""Pretrained encoders inside task models: raw strings through MiniLM's own tokenizer,
GloVe rows for an adapted vocabulary, weights folders that keep only what training
changed, and round trips."""

import json

import h5py
import numpy as np
import pytest

import mmzoo
from mmzoo import weights as weights_lib
from mmzoo.preprocessing.wordpiece import WordPieceTokenizer
from mmzoo.pretrained.glove import glove_matrix

TEXTS = ["what a wonderful day at the beach", "this is the worst film ever",
         "the train is late again", "i love my new puppy"]


@pytest.fixture(scope="module")
def minilm_model():
    model = mmzoo.load("sentiment_late", modalities=("text",), text_backbone="minilm",
                       text_options={"weights": "pretrained"}, num_classes=2,
                       sequence_length=16)
    return model


def test_minilm_text_goes_through_its_wordpiece_tokenizer(minilm_model):
    assert isinstance(minilm_model.text_vectorizer, WordPieceTokenizer)
    ids = minilm_model.preprocess(text=TEXTS)["text"]
    assert ids.shape == (4, 16) and (ids[:, 0] == 101).all()  # [CLS]
    minilm_model.adapt_text(TEXTS)  # a fixed vocabulary: nothing to adapt
    config = minilm_model.get_config()
    assert config["text_options"]["weights"] is None and config.get("vocabulary") is None
    assert minilm_model.pretrained_init == {"text_options": {"weights": "pretrained"}}


def test_a_weights_folder_keeps_only_the_trained_variables(minilm_model, tmp_path):
    ids = minilm_model.preprocess(text=TEXTS)["text"]
    mmzoo.freeze_backbones(minilm_model)
    minilm_model.fit({"text": ids}, np.array([1, 0, 0, 1]), epochs=2, verbose=0)
    folder = weights_lib.save_folder(minilm_model, tmp_path / "run", preset="sentiment_late")
    config = json.loads((folder / "config.json").read_text())
    assert config["pretrained_init"] == {"text_options": {"weights": "pretrained"}}
    with h5py.File(folder / "model.weights.h5") as handle:
        assert handle.attrs[weights_lib.PARTIAL_ATTRIBUTE]
        kept = handle.attrs["variables_kept"]
    assert 0 < kept < 10  # the heads, not MiniLM's ~100 arrays
    assert (folder / "model.weights.h5").stat().st_size < 1_000_000
    loaded = mmzoo.load("sentiment_late", weights=str(folder))
    np.testing.assert_allclose(loaded.predict({"text": ids}, verbose=0),
                               minilm_model.predict({"text": ids}, verbose=0), atol=1e-5)


def test_glove_rows_follow_the_adapted_vocabulary():
    model = mmzoo.load("sentiment_early", modalities=("text",), text_backbone="bigru",
                       text_options={"embeddings": "glove.6B.50d"}, vocab_size=100)
    model.adapt_text(TEXTS)
    words = model.text_vectorizer.get_vocabulary()[2:]
    expected, coverage = glove_matrix(words)
    table = model.get_layer("text_backbone").get_layer("token_embedding").embeddings.numpy()
    np.testing.assert_allclose(table[: len(words) + 2], expected, atol=1e-6)
    assert model.embedding_coverage["text"].fraction == coverage.fraction > 0.9
    assert model.get_config()["text_options"]["embeddings"] is None
    rebuilt = model.rebuilt_with_pretrained_init()
    np.testing.assert_allclose(
        rebuilt.get_layer("text_backbone").get_layer("token_embedding").embeddings.numpy(),
        table, atol=1e-6)
