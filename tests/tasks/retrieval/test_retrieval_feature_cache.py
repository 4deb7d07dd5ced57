"""Retrievers trained on cached features of frozen towers: the split computes what the
whole model computes (frozen or trainable text tower), training on the cache equals
training on pixels and strings, one caption per image is drawn anew every epoch from
the five cached ones, and validation uses every caption."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import mmzoo

WHAT = ["black dog", "white snow", "red bike", "blue water"]
CAPTIONS = [[f"a {what} picture {k}" for k in ("one", "two", "three", "four", "five")]
            for what in WHAT]
SMALL = {"image_backbone": "simple_cnn", "image_weights": None, "image_size": 32,
         "image_options": {"filters": [8, 16]}, "text_backbone": "cnn",
         "text_options": {"embed_dim": 16}, "vocab_size": 60, "sequence_length": 12,
         "embed_dim": 16, "projection_units": [32], "dropout": 0.0, "augment": False}


def model_of(frozen=("image", "text"), **overrides):
    model = mmzoo.load("retrieval_dual_encoder", **{**SMALL, **overrides})
    model.adapt_text([c for row in CAPTIONS for c in row])
    mmzoo.freeze_backbones(model, modalities=list(frozen))
    return model


def dataset(rng, captions=CAPTIONS):
    images = rng.uniform(0, 255, size=(4, 36, 28, 3)).astype("float32")
    return tf.data.Dataset.from_tensor_slices(
        {"image": images, "captions": np.array(captions)}).batch(4)


@pytest.mark.parametrize("frozen", [("image", "text"), ("image",)])
def test_the_split_computes_what_the_model_computes(frozen, rng):
    model = model_of(frozen)
    extractor, head = model.feature_split()
    data = dataset(rng)
    (stacked,) = next(iter(model.cache_inputs(data)))
    assert stacked["text"].shape == (4, 5, 12)  # every caption of each image
    image_features, text_features = extractor(stacked)
    if "text" in frozen:
        assert text_features.shape[:2] == (4, 5)  # the text backbone's pooled outputs
    else:
        np.testing.assert_array_equal(text_features, stacked["text"])  # ids, for the head
    for k in (0, 3):
        x = next(iter(model.prepare_dataset(data, captions=k)))
        expected = model(x)
        outputs = head([image_features, text_features[:, k]])
        for name in ("image_embeddings", "text_embeddings", "logits"):
            np.testing.assert_allclose(outputs[name], expected[name], atol=1e-5)


@pytest.mark.parametrize("loss", ["infonce", "sigmoid"])
def test_training_on_the_cache_equals_training_on_pixels_and_strings(loss, rng):
    """Five identical captions per image (the draw cannot matter) and no dropout: both
    ways take the same steps on the same pairs."""
    data = dataset(rng, [[row[0]] * 5 for row in CAPTIONS])
    histories, outputs = [], []
    for cache in (True, False):
        keras.utils.set_random_seed(0)
        model = model_of(loss=loss)
        model.compile(optimizer=keras.optimizers.Adam(3e-3))
        history = model.fit(data, validation_data=data, epochs=4, verbose=0,
                            cache_features=cache)
        histories.append(history.history)
        outputs.append(model(next(iter(model.prepare_dataset(data, captions=0))))["logits"])
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(histories[0][key], histories[1][key], rtol=1e-4)
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-4, atol=1e-4)


def test_each_epoch_pairs_every_image_with_one_of_its_cached_captions(rng):
    model = model_of()
    extractor, _ = model.feature_split()
    (stacked,) = next(iter(model.cache_inputs(dataset(rng))))
    features = extractor(stacked)
    cached = tf.data.Dataset.from_tensors((tuple(features),))
    draws = []
    for _ in range(8):
        ((images, texts),) = next(iter(model.head_dataset(cached, training=True)))
        np.testing.assert_array_equal(images, features[0])
        assert texts.shape == (4, features[1].shape[-1])
        chosen = [int(np.argmin(np.abs(features[1][i] - texts[i]).sum(-1)))
                  for i in range(4)]
        for i, k in enumerate(chosen):  # one of the image's own five, exactly
            np.testing.assert_array_equal(texts[i], features[1][i, k])
        draws.append(tuple(chosen))
    assert len(set(draws)) > 1  # drawn anew every epoch
    validation = model.head_dataset(cached, training=False)
    assert int(validation.cardinality()) == 5  # one batch per caption index
    batches = [texts for ((_, texts),) in validation]
    for k, texts in enumerate(batches):
        np.testing.assert_array_equal(texts, features[1][:, k])


def test_no_split_when_caching_would_change_training():
    extractor, reason = model_of(frozen=("text",)).feature_split()
    assert extractor is None and "image backbone is trainable" in reason
    extractor, reason = model_of(augment=True).feature_split()
    assert extractor is None and "augment=True" in reason
    extractor, reason = model_of(word_dropout=0.1).feature_split()
    assert extractor is None and "word_dropout" in reason
    # Word dropout before a trainable text tower happens in the head: fine.
    assert model_of(frozen=("image",), word_dropout=0.1).feature_split()[0] is not None
