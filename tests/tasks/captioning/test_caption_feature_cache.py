"""Captioners trained on cached image grids (frozen backbone): the split computes what
the whole model computes, training on the cache equals training on pixels, captions are
drawn anew every epoch, GloVe rows follow the vocabulary and travel in weights folders,
and `mmzoo train --freeze-backbones --feature-cache` / `mmzoo evaluate` work on a
Flickr8k folder."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import mmzoo
from mmzoo.preprocessing.text import vocabulary_of
from mmzoo.pretrained.glove import glove_matrix
from mmzoo.training import train
from tests import data_factories as fake
from tests.test_cli import run_cli

PRESETS = ["caption_sat", "caption_transformer"]
IMAGES = ["dog", "bikes", "log", "rock"]
# Five different captions per image, so that draws can be told apart.
CAPTIONS = [[f"a {what} picture number {k} of {n} words" for k, n in
             zip(range(5), ["one", "two", "three", "four", "five"])] for what in IMAGES]
SMALL = {"image_backbone": "simple_cnn", "image_weights": None, "image_size": 32,
         "image_options": {"filters": [8, 16]}, "vocab_size": 40, "min_word_count": 1,
         "sequence_length": 12, "embed_dim": 32, "feature_dim": 32, "num_heads": 4,
         "ffn_dim": 64, "lstm_units": 32, "attention_units": 16, "dropout": 0.0,
         "augment": False}


def model_of(preset, **overrides):
    model = mmzoo.load(preset, **{**SMALL, **overrides})
    model.adapt_text([c for row in CAPTIONS for c in row])
    mmzoo.freeze_backbones(model)
    return model


def dataset(rng, batch=4):
    images = rng.uniform(0, 255, size=(4, 36, 28, 3)).astype("float32")
    return tf.data.Dataset.from_tensor_slices(
        {"image": images, "captions": np.array(CAPTIONS)}).batch(batch)


@pytest.mark.parametrize("preset", PRESETS)
def test_the_split_computes_what_the_model_computes(preset, rng):
    model = model_of(preset)
    extractor, head = model.feature_split()
    data = dataset(rng)
    x, _ = next(iter(model.prepare_dataset(data)))  # 5 rows per image
    grids = extractor(next(iter(data))["image"])
    ids = tf.reshape(x["caption"], (4, 5, -1))
    np.testing.assert_allclose(head([grids, ids]), model(x), atol=1e-5)
    # The head projects each image's grid once, whatever the number of its captions.
    assert head.get_layer("rows_per_caption") is not None


@pytest.mark.parametrize("preset", PRESETS)
def test_training_on_cached_grids_equals_training_on_pixels(preset, rng):
    """All five captions per image and no dropout: nothing random, so both ways take
    the same steps (the cache only shuffles the images within the one batch)."""
    data = dataset(rng)
    histories, logits = [], []
    for cache in (True, False):
        keras.utils.set_random_seed(0)
        model = model_of(preset, captions_per_image=5)
        model.compile(optimizer=keras.optimizers.Adam(3e-3))
        history = model.fit(data, validation_data=data, epochs=3, verbose=0,
                            cache_features=cache)
        histories.append(history.history)
        x, _ = next(iter(model.prepare_dataset(data)))
        logits.append(model(x).numpy())
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(histories[0][key], histories[1][key], rtol=1e-4)
    # Outputs, not weights: Adam turns the round-off gradients of parameters the loss
    # does not depend on (the attention scores' bias, under a softmax) into full steps.
    np.testing.assert_allclose(logits[0], logits[1], atol=1e-4)


def test_each_epoch_draws_other_captions_of_each_image(rng):
    model = model_of("caption_sat", captions_per_image=2)
    extractor, _ = model.feature_split()
    grids = extractor(next(iter(dataset(rng)))["image"])
    cached = tf.data.Dataset.from_tensors(((grids,), {"captions": tf.constant(CAPTIONS)}))
    own = [model.caption_ids(tf.constant(row))[0].numpy() for row in CAPTIONS]
    head_data = model.head_dataset(cached, training=True)
    epochs = []
    for _ in range(6):
        (_, ids), targets = next(iter(head_data))
        assert ids.shape == (4, 2, 12) and targets.shape == (8, 12)
        for image, drawn in enumerate(ids.numpy()):
            assert len({tuple(row) for row in drawn}) == 2  # without replacement
            for row in drawn:  # each drawn caption is one of the image's own
                assert any(np.array_equal(row, candidate) for candidate in own[image])
        epochs.append(ids.numpy().tobytes())
    assert len(set(epochs)) > 1  # drawn anew each epoch
    (_, every), _ = next(iter(model.head_dataset(cached, training=False)))
    assert every.shape == (4, 5, 12)  # validation: all five


def test_no_split_when_the_backbone_trains_or_images_are_flipped():
    model = mmzoo.load("caption_sat", **SMALL)
    extractor, reason = model.feature_split()
    assert extractor is None and "image backbone is trainable" in reason
    flipped = mmzoo.load("caption_sat", **{**SMALL, "augment": True})
    mmzoo.freeze_backbones(flipped)
    extractor, reason = flipped.feature_split()
    assert extractor is None and "flips the images" in reason
    with pytest.raises(ValueError, match="cache_features=True, but augment=True"):
        flipped.adapt_text(["a dog"]).compile()
        flipped.fit(dataset(np.random.default_rng(0)), epochs=1, verbose=0,
                    cache_features=True)


@pytest.mark.parametrize("preset", PRESETS)
def test_glove_rows_follow_the_vocabulary_and_travel_in_a_weights_folder(preset, rng,
                                                                          tmp_path):
    model = model_of(preset, word_embeddings="glove.6B.50d")
    table = model.caption_decoder.token_embedding.embeddings.numpy()
    words = vocabulary_of(model.text_vectorizer)
    assert words[:2] == ["<start>", "<end>"]
    expected, coverage = glove_matrix(words)
    np.testing.assert_allclose(table[: len(words) + 2], expected, atol=1e-6)
    assert model.embedding_coverage["caption"].found == coverage.found > 5
    assert model.caption_decoder.embedding_projection.kernel.shape == (50, 32)
    config = model.get_config()
    assert config["word_embeddings"] is None and config["embedding_dim"] == 50
    assert model.pretrained_init == {"word_embeddings": "glove.6B.50d"}
    rebuilt = model.rebuilt_with_pretrained_init()
    np.testing.assert_allclose(rebuilt.caption_decoder.token_embedding.embeddings, table,
                               atol=1e-6)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    model.fit(dataset(rng), epochs=2, verbose=0)
    folder = mmzoo.weights.save_folder(model, tmp_path / "run", preset=preset)
    assert json.loads((folder / "config.json").read_text())["pretrained_init"] == {
        "word_embeddings": "glove.6B.50d"}
    loaded = mmzoo.load(preset, weights=str(folder))
    x, _ = next(iter(model.prepare_dataset(dataset(rng))))
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-5)
    with pytest.raises(ValueError, match="embedding_dim=32 contradicts word_embeddings"):
        mmzoo.load(preset, **{**SMALL, "word_embeddings": "glove.6B.50d",
                              "embedding_dim": 32})


def test_mmzoo_train_caches_the_grids_once_and_evaluate_reads_any_folder(tmp_path,
                                                                          monkeypatch):
    monkeypatch.setenv("MMZOO_CACHE_DIR", str(tmp_path / "cache"))
    folder, _ = fake.make_flickr8k(tmp_path, num_images=16)
    overrides = {key: value for key, value in SMALL.items() if key != "vocab_size"}
    runs, written, start = [], [], None
    for name in ("first", "second"):  # the second goes on from the first's weights
        out = train("caption_transformer", "flickr8k", tmp_path / name,
                    data_dir=str(folder), epochs=1, batch_size=4, overrides=overrides,
                    freeze_backbones=True, feature_cache_dir=tmp_path / "features",
                    weights_name=start, verbose=0)
        start = str(out)
        runs.append(json.loads((out / "metadata.json").read_text()))
        written.append(sorted(p.stat().st_mtime_ns for p in
                              (tmp_path / "features").glob("*/*/count.json")))
    # One cache (the frozen backbone is the same), computed once, read by the second.
    entries = list((tmp_path / "features").iterdir())
    assert len(entries) == 1
    assert {p.name for p in entries[0].iterdir()} == {"train", "validation"}
    assert written[0] == written[1] and len(written[0]) == 2
    assert runs[0]["frozen_backbones"] and len(runs[1]["history"]) == 1
    assert runs[1]["history"][-1]["loss"] < runs[0]["history"][0]["loss"]
    result = run_cli("evaluate", "caption_transformer", "--weights", str(tmp_path / "first"),
                     "--data", "flickr8k", "--data-dir", str(folder), "--split", "all",
                     "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads(result.stdout)  # exactly one JSON object
    assert metrics["examples"] == 16 and metrics["split"] == "all"
    assert {"bleu1", "bleu4", "cider", "distinct_captions"} <= set(metrics)
