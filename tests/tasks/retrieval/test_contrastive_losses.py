"""Contrastive losses and logits against NumPy references; mixed-precision stability."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from mmzoo.tasks.retrieval import losses


def _log_softmax(x):
    x = x - x.max(axis=1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=1, keepdims=True))


def info_nce_reference(logits, ids):
    positives = (ids[:, None] == ids[None, :]).astype(np.float64)
    rows = -(positives / positives.sum(1, keepdims=True) * _log_softmax(logits)).sum(1)
    cols = -(positives.T / positives.T.sum(1, keepdims=True) * _log_softmax(logits.T)).sum(1)
    return 0.5 * (rows + cols).mean()


def sigmoid_reference(logits, ids):
    signs = np.where(ids[:, None] == ids[None, :], 1.0, -1.0)
    return np.log1p(np.exp(-signs * logits)).sum() / len(logits)


@pytest.mark.parametrize("ids", [np.arange(5), np.array([0, 1, 1, 2, 0])])
def test_losses_match_numpy_references(ids, rng):
    logits = rng.normal(size=(5, 5)) * 3
    np.testing.assert_allclose(losses.InfoNCE()(ids, logits), info_nce_reference(logits, ids),
                               rtol=1e-5)
    np.testing.assert_allclose(losses.SigmoidPairwise()(ids, logits),
                               sigmoid_reference(logits, ids), rtol=1e-5)


def test_without_ids_the_diagonal_is_positive(rng):
    logits = rng.normal(size=(4, 4)).astype("float32")
    for loss in (losses.InfoNCE(), losses.SigmoidPairwise()):
        np.testing.assert_allclose(losses.contrastive_loss(loss, None, logits),
                                   loss(np.arange(4), logits), rtol=1e-6)


def test_a_duplicated_image_is_not_a_false_negative():
    # Rows 0 and 1 are the same image, so caption 1 belongs to image 0 as well.
    logits = tf.Variable([[5.0, 5.0, -5.0], [5.0, 5.0, -5.0], [-5.0, -5.0, 5.0]])

    def gradient(loss, ids):
        with tf.GradientTape() as tape:
            value = loss(ids, logits)
        return value, tape.gradient(value, logits).numpy()

    _, with_ids = gradient(losses.InfoNCE(), [7, 7, 3])
    _, without = gradient(losses.InfoNCE(), [0, 1, 2])
    assert abs(with_ids[0, 1]) < 1e-3 < 0.05 < without[0, 1]  # without ids: pushed apart
    value, with_ids = gradient(losses.SigmoidPairwise(), [7, 7, 3])
    assert float(value) < 0.05 and with_ids[0, 1] <= 0
    assert gradient(losses.SigmoidPairwise(), [0, 1, 2])[1][0, 1] > 0.3


def test_perfect_separation_drives_the_losses_to_zero():
    logits = 50.0 * np.eye(4) - 25.0
    assert float(losses.InfoNCE()(np.arange(4), logits)) < 1e-6
    assert float(losses.SigmoidPairwise()(np.arange(4), logits)) < 1e-6


def test_losses_serialize_by_name():
    for loss in (losses.InfoNCE(), losses.SigmoidPairwise()):
        config = keras.losses.serialize(loss)
        assert config["registered_name"].startswith("mmzoo>")
        restored = keras.losses.deserialize(config)
        assert type(restored) is type(loss) and restored.name == loss.name
    assert isinstance(losses.get("sigmoid"), losses.SigmoidPairwise)
    with pytest.raises(ValueError, match="Unknown contrastive loss 'clip'.*infonce"):
        losses.get("clip")


def test_contrastive_logits_scale_bias_clamp_and_config(rng):
    a = rng.normal(size=(3, 8)).astype("float32")
    b = rng.normal(size=(2, 8)).astype("float32")
    clip = losses.ContrastiveLogits()
    np.testing.assert_allclose(clip(a, b), a @ b.T / 0.07, rtol=1e-5)
    assert float(clip.scale) == pytest.approx(1 / 0.07, rel=1e-6)
    siglip = losses.ContrastiveLogits(init_scale=10.0, max_scale=None, init_bias=-10.0)
    np.testing.assert_allclose(siglip(a, b), 10 * a @ b.T - 10, rtol=1e-5, atol=1e-5)
    assert [w.name for w in siglip.trainable_weights] == ["log_scale", "bias"]

    # CLIP's clamp: the scale never exceeds 100, in the forward pass and after a step.
    clip.log_scale.assign(math.log(1000.0))
    np.testing.assert_allclose(clip(a, b), 100 * a @ b.T, rtol=1e-5)
    optimizer = keras.optimizers.SGD(1.0)
    optimizer.apply([tf.constant(-1.0)], [clip.log_scale])  # pushes log_scale up
    assert float(clip.log_scale) == pytest.approx(math.log(100.0))

    restored = losses.ContrastiveLogits.from_config(siglip.get_config())
    assert restored.get_config() == siglip.get_config()
    with pytest.raises(ValueError, match="init_scale <= max_scale"):
        losses.ContrastiveLogits(init_scale=200.0, max_scale=100.0)


@pytest.fixture
def mixed_precision():
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    yield
    keras.mixed_precision.set_global_policy(previous)


def test_finite_under_mixed_precision_for_logits_beyond_float16(mixed_precision, rng):
    # float16 overflows past 65504 and its exp past ~11: a naive softmax gives inf/NaN.
    huge = np.array([[1e5, -1e5, 3e4], [-2e5, 1e5, 0.0], [7e4, 7e4, -7e4]], "float32")
    for loss in (losses.InfoNCE(), losses.SigmoidPairwise()):
        logits = tf.Variable(huge)
        with tf.GradientTape() as tape:
            value = loss(np.arange(3), logits)
        gradient = tape.gradient(value, logits)
        assert value.dtype == tf.float32
        assert np.isfinite(float(value)) and np.isfinite(gradient.numpy()).all()
        # float16 logits at the edge of the range are taken to float32 first.
        edge = tf.constant([[6e4, -6e4], [-6e4, 6e4]], tf.float16)
        assert np.isfinite(float(loss(np.arange(2), edge)))

    layer = losses.ContrastiveLogits()  # float32 whatever the global policy
    assert layer.compute_dtype == "float32"
    a = (rng.normal(size=(4, 16)) * 300).astype("float16")  # unnormalised, big
    logits = layer(a, a)
    assert logits.dtype == tf.float32 and np.isfinite(logits.numpy()).all()
    assert np.abs(logits.numpy()).max() > 65504  # beyond float16
    assert np.isfinite(float(losses.InfoNCE()(np.arange(4), logits)))
    assert keras.mixed_precision.global_policy().name == "mixed_float16"
