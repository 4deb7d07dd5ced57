"""int8 inference (`mmzoo.int8.Int8Model`, `Captioner.int8_image_backbone`): the
quantized model tracks the float one, batches of any size, a `.tflite` round trip, the
captioner's int8 path equals its own float32 search on the int8 grid, and errors that
name the bad input."""

import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

pytest.importorskip("ai_edge_litert")

from mmzoo.int8 import Int8Model
from tests.helpers import small_preset


def conv_model():
    keras.utils.set_random_seed(0)
    images = keras.Input((16, 16, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(images)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False)(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU(6.0)(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same")(x)
    x = keras.layers.Conv2D(12, 1, activation="relu")(x)
    grid = keras.layers.Reshape((64, 12))(x)
    return keras.Model(images, grid)


@pytest.fixture(scope="module")
def quantized():
    model = conv_model()
    rng = np.random.default_rng(0)
    calibration = rng.uniform(0, 255, (24, 16, 16, 3)).astype("float32")
    return model, Int8Model.quantize(model, calibration)


def close_to(reference, value):
    """int8 error well under the output's range, and a near-perfect correlation."""
    scale = np.abs(reference).max()
    assert np.abs(value - reference).max() < 0.1 * scale
    assert np.corrcoef(value.ravel(), reference.ravel())[0, 1] > 0.99


def test_int8_model_tracks_the_float_model_at_every_batch_size(quantized):
    model, int8 = quantized
    assert int8.input_shape == (16, 16, 3) and int8.output_shape == (64, 12)
    pixels = np.random.default_rng(1).uniform(0, 255, (5, 16, 16, 3)).astype("float32")
    reference = model(pixels, training=False).numpy()
    whole = int8(pixels)
    assert whole.shape == (5, 64, 12) and whole.dtype == np.float32
    close_to(reference, whole)
    # Rows do not depend on the batch they are in (static ranges, one interpreter per
    # batch size; a third size evicts the oldest).
    for batch in (1, 2, 5, 1):
        np.testing.assert_allclose(int8(pixels[:batch]), whole[:batch], atol=1e-6)
    assert int8(pixels[:0]).shape == (0, 64, 12)


def test_int8_model_round_trips_through_a_tflite_file(quantized, tmp_path):
    _, int8 = quantized
    path = int8.save(tmp_path / "grid.int8.tflite")
    loaded = Int8Model.load(path, num_threads=1)
    pixels = np.random.default_rng(2).uniform(0, 255, (3, 16, 16, 3)).astype("float32")
    np.testing.assert_allclose(loaded(pixels), int8(pixels), atol=1e-6)
    assert "input_shape=(16, 16, 3)" in repr(loaded) and "num_threads=1" in repr(loaded)


def test_int8_model_rejects_bad_inputs(quantized):
    model, int8 = quantized
    with pytest.raises(ValueError, match=r"\[B, 16, 16, 3\].*\(2, 8, 8, 3\)"):
        int8(np.zeros((2, 8, 8, 3), "float32"))
    with pytest.raises(ValueError, match="non-empty.*shape \\(0, 16, 16, 3\\)"):
        Int8Model.quantize(model, np.zeros((0, 16, 16, 3), "float32"))
    two = keras.Model(model.input, [model.output, model.output])
    with pytest.raises(ValueError, match="one output.*has 2"):
        Int8Model.quantize(two, np.zeros((1, 16, 16, 3), "float32"))
    images = keras.Input((16, 16, 3))
    mixed = keras.Model(images, keras.layers.Conv2D(4, 3, dtype="mixed_bfloat16",
                                                    name="mixed_conv")(images))
    with pytest.raises(ValueError, match="float32 model.*computes in mixed_bfloat16"):
        Int8Model.quantize(mixed, np.zeros((1, 16, 16, 3), "float32"))


def test_without_litert_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    with pytest.raises(ImportError, match="pip install ai-edge-litert"):
        Int8Model.quantize(conv_model(), np.zeros((1, 16, 16, 3), "float32"))


@pytest.fixture(scope="module")
def captioner():
    keras.utils.set_random_seed(0)
    model = small_preset("caption_transformer")
    rng = np.random.default_rng(3)
    calibration = rng.uniform(0, 255, (16, 32, 32, 3)).astype("float32")
    return model, model.int8_image_backbone(calibration)


def test_captioner_int8_backbone_feeds_its_float32_search(captioner):
    model, int8 = captioner
    assert int8.input_shape == (32, 32, 3)
    pixels = np.random.default_rng(4).uniform(0, 255, (3, 32, 32, 3)).astype("float32")
    backbone, tail = model._backbone_cut()
    close_to(tf.nest.flatten(backbone([pixels], training=False))[0].numpy(), int8(pixels))

    out = model.generate(pixels, max_length=6, num_beams=2, image_backbone=int8)
    assert out["token_ids"].shape == (3, 6) and len(out["captions"]) == 3
    memory = tf.nest.flatten(tail([int8(pixels)], training=False))[0]
    expected = model.search_memory(memory, 6, num_beams=2)
    np.testing.assert_array_equal(out["token_ids"], expected["tokens"].numpy())
    np.testing.assert_allclose(out["scores"], expected["scores"].numpy(), rtol=1e-4,
                               atol=1e-4)


def test_captioning_pipeline_passes_the_int8_backbone_on(captioner):
    import mmzoo

    model, int8 = captioner
    caption = mmzoo.pipeline(model)
    image = np.random.default_rng(5).uniform(0, 255, (32, 32, 3)).astype("uint8")
    ours = caption(image=image, max_length=5, num_beams=1, image_backbone=int8)
    direct = model.generate(model.preprocess(image=[image])["image"], max_length=5,
                            num_beams=1, image_backbone=int8)
    assert ours == [{"generated_text": direct["captions"][0]}]


def test_captioner_rejects_a_backbone_that_does_not_fit(captioner, quantized):
    model, int8 = captioner
    _, other = quantized  # another model's backbone: grids of 64 x 12
    pixels = np.zeros((1, 32, 32, 3), "float32")
    with pytest.raises(TypeError, match="Int8Model.*received str"):
        model.generate(pixels, image_backbone="int8")
    with pytest.raises(ValueError, match=r"grids of shape \(64, 12\)"):
        model.generate(np.zeros((1, 16, 16, 3), "float32"), image_backbone=other)
    with pytest.raises(ValueError, match=r"\[B, 32, 32, 3\].*\(1, 40, 40, 3\)"):
        model.generate(np.zeros((1, 40, 40, 3), "float32"), image_backbone=int8)
