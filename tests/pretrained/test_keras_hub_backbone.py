"""The generic KerasHub adapter (`keras_hub` text backbone) on a small random preset.

The preset is written with `save_to_preset` to a local folder and named by its path:
`keras_hub.models.Backbone.from_preset` reads a folder and a hub handle the same way.
"""

import keras
import keras_hub
import numpy as np
import pytest

from mmzoo.backbones import build_backbone, feature_dims, tokenizer_for_backbone
from mmzoo.preprocessing import WordPieceTokenizer
from mmzoo.registry import BACKBONES

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "man", "is", "eat", "##ing",
         "food", "horse", ".", "the"]


@pytest.fixture(scope="module")
def preset(tmp_path_factory):
    keras.utils.set_random_seed(7)
    folder = tmp_path_factory.mktemp("tiny_bert")
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(VOCAB), num_layers=2, num_heads=2, hidden_dim=16,
        intermediate_dim=32, max_sequence_length=24, dropout=0.1)
    backbone.save_to_preset(str(folder))
    keras_hub.models.BertTokenizer(vocabulary=VOCAB, lowercase=True).save_to_preset(str(folder))
    return folder


def test_registered_as_text_backbones():
    assert {"keras_hub", "minilm"} <= set(BACKBONES.names(modality="text"))


def test_loads_a_preset_folder_with_its_weights(preset):
    encoder = build_backbone("text", "keras_hub", preset=str(preset), name="hub_text")
    reference = keras_hub.models.Backbone.from_preset(str(preset))
    hub = next(layer for layer in encoder.layers if isinstance(layer, keras_hub.models.Backbone))
    for loaded, saved in zip(hub.weights, reference.weights):
        np.testing.assert_array_equal(loaded.numpy(), saved.numpy())
    assert feature_dims(encoder) == (16, 16)
    ids = np.array([[2, 5, 6, 7, 8, 9, 12, 3], [2, 5, 11, 3, 0, 0, 0, 0]], "int32")
    out = encoder(ids)
    assert out["pooled"].shape == (2, 16) and out["sequence"].shape == (2, 8, 16)
    np.testing.assert_array_equal(out["sequence_mask"], ids != 0)
    # pooled is the masked mean of the sequence, and BertBackbone saw the same mask.
    expected = reference({"token_ids": ids, "padding_mask": ids != 0,
                          "segment_ids": np.zeros_like(ids)})["sequence_output"]
    np.testing.assert_allclose(out["sequence"][1, :4], expected[1, :4], atol=1e-6)
    np.testing.assert_allclose(out["pooled"][1], np.mean(expected[1, :4], axis=0), atol=1e-6)


def test_padding_does_not_change_pooled_output(preset):
    encoder = build_backbone("text", "keras_hub", preset=preset)
    ids = np.array([[2, 5, 6, 7, 8, 9, 12, 3], [2, 5, 11, 3, 0, 0, 0, 0]], "int32")
    padded = np.concatenate([ids, np.zeros((2, 9), "int32")], axis=1)
    out, out_padded, alone = encoder(ids), encoder(padded), encoder(ids[1:, :4])
    np.testing.assert_allclose(out["pooled"], out_padded["pooled"], atol=1e-5)
    np.testing.assert_allclose(out["pooled"][1:], alone["pooled"], atol=1e-5)


def test_random_init_keeps_the_architecture(preset):
    encoder = build_backbone("text", "keras_hub", preset=preset, weights=None)
    pretrained = build_backbone("text", "keras_hub", preset=preset)
    assert encoder.count_params() == pretrained.count_params()
    ids = np.array([[2, 5, 6, 3]], "int32")
    assert not np.allclose(encoder(ids)["pooled"], pretrained(ids)["pooled"])


def test_tokenizer_for_backbone_reads_the_preset(preset):
    tokenizer = tokenizer_for_backbone("keras_hub", {"preset": str(preset)}, sequence_length=8)
    assert isinstance(tokenizer, WordPieceTokenizer)
    assert tokenizer.vocabulary == VOCAB and tokenizer.lowercase
    np.testing.assert_array_equal(tokenizer(["A man is eating.", "The horse"]),
                                  [[2, 5, 6, 7, 8, 9, 12, 3], [2, 13, 11, 3, 0, 0, 0, 0]])
    assert tokenizer_for_backbone("bigru", {}, 8) is None


def test_bad_options_name_the_problem(preset):
    with pytest.raises(ValueError, match="needs preset="):
        build_backbone("text", "keras_hub")
    with pytest.raises(ValueError, match="max_length=100 exceeds the 24 positions"):
        build_backbone("text", "keras_hub", preset=preset, max_length=100)
    with pytest.raises(ValueError, match="weights must be 'pretrained' or None"):
        build_backbone("text", "keras_hub", preset=preset, weights="imagenet")
    with pytest.raises(KeyError, match="Did you mean 'minilm'"):
        tokenizer_for_backbone("minilmm", {}, 8)


def test_keras_round_trip(preset, tmp_path):
    encoder = build_backbone("text", "keras_hub", preset=preset, name="text_backbone")
    ids = keras.Input((None,), dtype="int32", name="text")
    logits = keras.layers.Dense(3, name="head")(encoder(ids)["pooled"])
    model = keras.Model(ids, logits)
    batch = np.array([[2, 5, 6, 7, 3, 0], [2, 11, 3, 0, 0, 0]], "int32")
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_array_equal(loaded.predict(batch, verbose=0), model.predict(batch, verbose=0))


# ----- image presets ----------------------------------------------------------------------
SCALE, OFFSET = [1 / 58.4, 1 / 57.1, 1 / 57.4], [-2.1, -2.0, -1.8]


def _image_preset(folder, backbone, image_size=(32, 32)):
    backbone.save_to_preset(str(folder))
    keras_hub.layers.ImageConverter(image_size=image_size, scale=SCALE,
                                    offset=OFFSET).save_to_preset(str(folder))
    return folder


@pytest.fixture(scope="module")
def resnet_preset(tmp_path_factory):
    keras.utils.set_random_seed(8)
    return _image_preset(tmp_path_factory.mktemp("tiny_resnet"), keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[3], stackwise_num_filters=[64, 16],
        stackwise_num_blocks=[1, 1], stackwise_num_strides=[1, 2], block_type="basic_block"))


def test_image_preset_resizes_and_scales_inside_the_model(resnet_preset, rng):
    encoder = build_backbone("image", "keras_hub_image", preset=resnet_preset)
    reference = keras_hub.models.Backbone.from_preset(str(resnet_preset))
    images = rng.uniform(0, 255, size=(2, 32, 32, 3)).astype("float32")
    before = [w.numpy() for w in encoder.weights]
    out = encoder(images)
    # A plain call is inference: the BatchNorm statistics stay as they were.
    keras.tree.map_structure(np.testing.assert_array_equal,
                             [w.numpy() for w in encoder.weights], before)
    grid = np.asarray(reference(images * np.array(SCALE, "float32") + np.array(OFFSET, "float32"),
                                training=False))
    assert out["sequence"].shape == (2, grid.shape[1] * grid.shape[2], 16)
    np.testing.assert_allclose(out["pooled"], grid.mean(axis=(1, 2)), atol=1e-5)
    np.testing.assert_allclose(out["sequence"], grid.reshape(2, -1, 16), atol=1e-5)
    for shape in [(1, 50, 70, 3), (3, 20, 20, 3)]:  # any size in, the preset's size inside
        resized = encoder(rng.uniform(0, 255, size=shape).astype("float32"))
        assert resized["pooled"].shape == (shape[0], 16)
        assert resized["sequence"].shape[1] == out["sequence"].shape[1]


def test_image_preset_with_a_token_sequence(tmp_path, rng):
    preset = _image_preset(tmp_path, keras_hub.models.ViTBackbone(
        image_shape=(32, 32, 3), patch_size=8, num_layers=1, num_heads=2, hidden_dim=16,
        mlp_dim=32))
    encoder = build_backbone("image", "keras_hub_image", preset=preset)
    out = encoder(rng.uniform(0, 255, size=(2, 48, 40, 3)).astype("float32"))
    assert out["pooled"].shape == (2, 16) and out["sequence"].shape == (2, 17, 16)
    np.testing.assert_allclose(out["pooled"], np.mean(out["sequence"], axis=1), atol=1e-6)


def test_image_preset_without_converter_is_refused(tmp_path):
    backbone = keras_hub.models.ViTBackbone(image_shape=(32, 32, 3), patch_size=8, num_layers=1,
                                            num_heads=2, hidden_dim=16, mlp_dim=32)
    backbone.save_to_preset(str(tmp_path))
    with pytest.raises(ValueError, match="has no image converter"):
        build_backbone("image", "keras_hub_image", preset=tmp_path)


def test_image_keras_round_trip(resnet_preset, tmp_path, rng):
    encoder = build_backbone("image", "keras_hub_image", preset=resnet_preset,
                             name="image_backbone")
    images = keras.Input((None, None, 3), name="image")
    model = keras.Model(images, keras.layers.Dense(2, name="head")(encoder(images)["pooled"]))
    batch = rng.uniform(0, 255, size=(2, 40, 30, 3)).astype("float32")
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_array_equal(loaded.predict(batch, verbose=0), model.predict(batch, verbose=0))


def test_mixed_precision(preset):
    ids = np.array([[2, 5, 6, 7, 8, 9, 12, 3], [2, 5, 11, 3, 0, 0, 0, 0]], "int32")
    expected = build_backbone("text", "keras_hub", preset=preset)(ids)["pooled"]
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        encoder = build_backbone("text", "keras_hub", preset=preset)
        out = encoder(ids)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    # Every output in the compute dtype (the pooling computes in float32 inside).
    assert out["pooled"].dtype == "float16" and out["sequence"].dtype == "float16"
    np.testing.assert_allclose(out["pooled"], expected, atol=2e-2)
