"""Training on cached features of frozen encoders: the task's own weights train, the
encoders do not, every fusion's outputs work, and a saved cache is reused."""

import numpy as np
import pytest
import tensorflow as tf

import mmzoo
from mmzoo.tasks import feature_cache
from tests.helpers import tiny_inputs


def _data(rng, n=24):
    x = tiny_inputs(rng, batch=n, modalities=("image", "audio"), sample_rate=8000)
    y = rng.integers(0, 3, n)
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(8)


def _model(preset="sentiment_late", **overrides):
    return mmzoo.load(preset, modalities=("image", "audio"), sample_rate=8000,
                      num_classes=3, image_size=32, **overrides)


@pytest.mark.parametrize("preset", ["sentiment_late", "sentiment_hybrid", "sentiment_mult"])
def test_the_head_trains_on_cached_features_and_the_encoders_stay(preset, rng):
    model = _model(preset)
    mmzoo.freeze_backbones(model)
    extractor, head = model.feature_split()
    assert extractor is not None and head.count_params() < model.count_params()
    frozen = [w.numpy().copy() for w in model.get_layer("image_backbone").weights]
    trainable = [w.numpy().copy() for w in model.trainable_weights]
    history = model.fit(_data(rng), validation_data=_data(rng), epochs=3, verbose=0)
    assert np.isfinite(history.history["loss"]).all() and "val_loss" in history.history
    assert all(np.array_equal(a, w.numpy()) for a, w in
               zip(frozen, model.get_layer("image_backbone").weights))
    assert any(not np.array_equal(a, w.numpy()) for a, w in
               zip(trainable, model.trainable_weights))


def test_the_split_matches_the_whole_model(rng):
    model = _model()
    mmzoo.freeze_backbones(model)
    extractor, head = model.feature_split()
    x = tiny_inputs(rng, batch=4, modalities=("image", "audio"), sample_rate=8000)
    np.testing.assert_allclose(head(extractor(x)), model(x), atol=1e-6)


def test_no_split_when_nothing_is_frozen_or_modality_dropout_is_on():
    extractor, reason = _model().feature_split()
    assert extractor is None and "no backbone is frozen" in reason
    dropped = _model(modality_dropout=0.3)
    mmzoo.freeze_backbones(dropped)
    extractor, reason = dropped.feature_split()
    assert extractor is None and "modality dropout" in reason
    with pytest.raises(ValueError, match="cache_features=True, but modality dropout"):
        dropped.fit(_data(np.random.default_rng(0)), epochs=1, verbose=0,
                    cache_features=True)


def test_a_saved_cache_is_loaded_not_recomputed(rng, tmp_path):
    model = _model()
    mmzoo.freeze_backbones(model)
    extractor, _ = model.feature_split()
    data = model.prepare_dataset(_data(rng))
    first = list(feature_cache.cached_dataset(extractor, data, tmp_path, verbose=0))

    def refuse(*args, **kwargs):
        raise AssertionError("the extractor ran again")

    again = list(feature_cache.cached_dataset(refuse, data, tmp_path, verbose=0))
    assert len(again) == len(first) == 24
    for (a, label_a), (b, label_b) in zip(first, again):
        assert int(label_a) == int(label_b)
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
