import h5py
import keras
import numpy as np
import pytest

from mmzoo.backbones import build_backbone, feature_dims
from mmzoo.registry import BACKBONES

TEXT = ["lstm", "bilstm", "bigru", "cnn", "transformer"]


def _text_backbone(name):
    return build_backbone("text", name, vocab_size=60, embed_dim=16, max_length=12)


@pytest.mark.parametrize("name", TEXT)
def test_text_padding_does_not_change_pooled_output(name, rng):
    backbone = _text_backbone(name)
    ids = rng.integers(2, 60, size=(2, 5)).astype("int32")
    ids[1, 3:] = 0  # the second sentence is 3 tokens long
    padded = np.concatenate([ids, np.zeros((2, 6), "int32")], axis=1)
    short = backbone(ids[1:, :3])
    out, out_padded = backbone(ids), backbone(padded)
    np.testing.assert_allclose(out["pooled"], out_padded["pooled"], atol=1e-5)
    np.testing.assert_allclose(out["pooled"][1:], short["pooled"], atol=1e-5)
    np.testing.assert_array_equal(out_padded["sequence_mask"][1], [1] * 3 + [0] * 8)
    pooled_dim, sequence_dim = feature_dims(backbone)
    assert out["pooled"].shape == (2, pooled_dim)
    assert out_padded["sequence"].shape == (2, 11, sequence_dim)


def test_lstm_is_the_classic_single_lstm():
    backbone = build_backbone("text", "lstm", vocab_size=100, embed_dim=8)
    lstm = backbone.get_layer("lstm")
    assert lstm.units == 128
    # Embedding + one LSTM(128), nothing else with weights.
    assert backbone.count_params() == 100 * 8 + 4 * 128 * (8 + 128 + 1)


@pytest.mark.parametrize("name, size", [("simple_cnn", 64), ("vit", 32)])
def test_image_backbones_take_any_input_size(name, size, rng):
    options = {"patch_size": 8} if name == "vit" else {}
    backbone = build_backbone("image", name, image_size=size, **options)
    for shape in [(2, 20, 30, 3), (1, size, size, 3), (1, 100, 80, 3)]:
        out = backbone(rng.uniform(0, 255, size=shape).astype("float32"))
        assert out["pooled"].shape == (shape[0], feature_dims(backbone)[0])
        assert np.isfinite(out["pooled"]).all()


@pytest.mark.parametrize("name, channels", [
    ("resnet50", 2048), ("mobilenet_v2", 1280), ("efficientnet_b0", 1280)])
def test_keras_applications_backbones(name, channels, rng):
    backbone = build_backbone("image", name, image_size=64)
    out = backbone(rng.uniform(0, 255, size=(1, 50, 70, 3)).astype("float32"))
    assert out["pooled"].shape == (1, channels)
    assert out["sequence"].shape == (1, 4, channels)  # 64 / 32 = 2 -> 2 x 2 grid


def _network(backbone):
    return next(layer for layer in backbone.layers if isinstance(layer, keras.Model))


@pytest.mark.parametrize("suffix", [".weights.h5", ".h5"])
def test_application_weights_from_a_local_file(tmp_path, suffix):
    source = keras.applications.MobileNetV2(
        include_top=False, weights=None, input_shape=(96, 96, 3))
    for weight in source.weights[:3]:
        weight.assign(np.full(weight.shape, 0.125, "float32"))
    path = str(tmp_path / f"mobilenet{suffix}")
    if suffix == ".weights.h5":
        source.save_weights(path)
    else:  # the legacy layout of the files keras.applications downloads
        from keras.src.legacy.saving import legacy_h5_format

        with h5py.File(path, "w") as handle:
            legacy_h5_format.save_weights_to_hdf5_group(handle, source)
    backbone = build_backbone("image", "mobilenet_v2", image_size=96, weights=path)
    loaded = _network(backbone).weights
    for expected, actual in zip(source.weights, loaded):
        np.testing.assert_array_equal(expected.numpy(), actual.numpy())


def test_application_weights_path_must_exist(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.h5"):
        build_backbone("image", "resnet50", weights=str(tmp_path / "missing.h5"))


def test_backbones_without_pretrained_weights_say_so():
    with pytest.raises(ValueError, match="simple_cnn has no pretrained weights"):
        build_backbone("image", "simple_cnn", weights="imagenet")


@pytest.mark.parametrize("name", ["mel_cnn", "mel_crnn"])
def test_audio_sample_rate_is_a_config_value(name, rng):
    slow = build_backbone("audio", name, sample_rate=8000)
    fast = build_backbone("audio", name, sample_rate=16000)
    one_second_slow = slow(rng.normal(size=(2, 8000)).astype("float32") * 0.1)
    one_second_fast = fast(rng.normal(size=(2, 16000)).astype("float32") * 0.1)
    # 10 ms hops: the same number of frames for one second at either rate.
    assert one_second_slow["sequence"].shape == one_second_fast["sequence"].shape
    assert slow.get_layer("log_mel").sampling_rate == 8000
    assert np.isfinite(one_second_slow["pooled"]).all()


@pytest.mark.parametrize("name", ["mel_cnn", "mel_crnn"])
def test_audio_features_do_not_depend_on_the_other_clips_of_the_batch(name, rng):
    """A quiet, half-silent clip gets the same features alone and next to a loud one
    (Keras' MelSpectrogram floors at the batch's peak - top_db; ours per clip)."""
    encoder = build_backbone("audio", name, sample_rate=8000)
    quiet = np.concatenate([rng.normal(size=4000) * 1e-3, np.zeros(4000)]).astype("float32")
    loud = (rng.normal(size=8000) * 0.9).astype("float32")
    alone = np.asarray(encoder(quiet[None], training=False)["pooled"])
    batched = np.asarray(encoder(np.stack([quiet, loud]), training=False)["pooled"])
    np.testing.assert_allclose(batched[0], alone[0], rtol=1e-4, atol=1e-5)


def test_decibel_floor_clamps_each_example_at_its_own_peak():
    from mmzoo.layers import DecibelFloor

    decibels = np.array([[[0.0, -50.0, -100.0]], [[-60.0, -90.0, -100.0]]], "float32")
    floored = np.asarray(DecibelFloor(40.0)(decibels))
    np.testing.assert_array_equal(floored, [[[0.0, -40.0, -40.0]], [[-60.0, -90.0, -100.0]]])
    with pytest.raises(ValueError, match="top_db must be positive"):
        DecibelFloor(0.0)


def test_unknown_backbone_lists_close_names():
    with pytest.raises(KeyError, match="Did you mean 'bigru'"):
        build_backbone("text", "bigruu")
    with pytest.raises(KeyError, match="Unknown image backbone 'bigru'"):
        build_backbone("image", "bigru")
    with pytest.raises(ValueError, match="Unknown modality 'video'"):
        build_backbone("video", "bigru")


def test_every_backbone_is_registered():
    assert BACKBONES.names(modality="text") == sorted(TEXT + ["keras_hub", "minilm"])
    assert BACKBONES.names(modality="image") == [
        "efficientnet_b0", "efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2",
        "keras_hub_image", "mobilenet_v2", "resnet50", "simple_cnn", "vit"]
    assert BACKBONES.names(modality="audio") == ["mel_cnn", "mel_crnn", "whisper_tiny"]
