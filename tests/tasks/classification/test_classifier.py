import json

import keras
import numpy as np
import pytest

import mmzoo
from mmzoo.tasks import Classifier
from mmzoo.weights import save_folder
from tests.helpers import TEXTS, tiny_inputs, tiny_labels

SMALL = {"text_options": {"embed_dim": 16}, "vocab_size": 200, "sample_rate": 8000}


def small_model(preset="sentiment_late", **overrides):
    model = mmzoo.load(preset, **{**SMALL, **overrides})
    if "text" in model.modalities:
        model.adapt_text(TEXTS)
    return model


def test_classic_multimodal_sentiment_model_is_sentiment_early():
    model = mmzoo.load("sentiment_early", modalities=("text", "image"),
                       text_backbone="lstm", image_backbone="resnet50", num_classes=3,
                       vocab_size=1000)
    ids = keras.Input((None,), dtype="int32")
    text = keras.layers.LSTM(128)(keras.layers.Embedding(1000, 128)(ids))
    pixels = keras.Input((224, 224, 3))
    image = keras.layers.GlobalAveragePooling2D()(keras.applications.ResNet50(
        include_top=False, weights=None, input_shape=(224, 224, 3))(pixels))
    merged = keras.layers.Concatenate()([text, image])
    classic = keras.Model([ids, pixels], keras.layers.Dense(3, activation="softmax")(merged))
    assert model.count_params() == classic.count_params()
    head = model.get_layer("head_logits")
    assert head.units == 3 and head.kernel.shape == (128 + 2048, 3)
    assert model.get_layer("predictions").activation.__name__ == "softmax"
    assert isinstance(model.optimizer, keras.optimizers.Adam)


def test_missing_modality_is_masked_not_zero_filled(rng):
    model = small_model()
    x = tiny_inputs(rng, sample_rate=8000)
    without_image = model.predict({"text": x["text"], "audio": x["audio"]}, verbose=0)
    zero_image = model.predict({**x, "image": np.zeros_like(x["image"])}, verbose=0)
    full = model.predict(x, verbose=0)
    assert np.isfinite(without_image).all()
    np.testing.assert_allclose(without_image.sum(-1), 1.0, atol=1e-5)
    # The mask, not zeros in the input, changes the output.
    assert np.abs(without_image - zero_image).max() > 1e-4
    assert np.abs(zero_image - full).max() > 1e-4
    # Passing None is the same as leaving the modality out.
    none_image = model.predict({**x, "image": None}, verbose=0)
    np.testing.assert_allclose(none_image, without_image, atol=1e-6)


@pytest.mark.parametrize("preset", mmzoo.list_models(task="classifier"))
def test_every_preset_predicts_with_each_single_modality(preset, rng):
    model = small_model(preset)
    x = tiny_inputs(rng, batch=2, sample_rate=8000)
    for modality in model.modalities:
        scores = model({modality: x[modality]}, training=False).numpy()
        assert scores.shape == (2, 2) and np.isfinite(scores).all()


def test_modality_dropout_trains(rng):
    model = small_model("sentiment_gmu", modality_dropout=0.5)
    x = tiny_inputs(rng, sample_rate=8000)
    history = model.fit(x, tiny_labels(), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_hybrid_loss_adds_the_weighted_unimodal_losses(rng):
    model = small_model("sentiment_hybrid", aux_loss_weight=0.7)
    x = tiny_inputs(rng, sample_rate=8000)
    y = tiny_labels()
    outputs = model({"text": x["text"], "image": x["image"], "audio": None}, training=True)
    loss = float(model.compute_loss(y=y, y_pred=outputs))
    probs = outputs["predictions"].numpy()
    logits, presence = outputs["aux_logits"].numpy(), outputs["aux_presence"].numpy()
    main = -np.log(probs[np.arange(4), y]).mean()
    log_softmax = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    per_head = -log_softmax[np.arange(4), :, y]  # [B, M]
    aux = (per_head * presence).sum() / presence.sum()
    np.testing.assert_array_equal(presence[:, 2], 0.0)  # audio missing
    np.testing.assert_allclose(loss, main + 0.7 * aux, rtol=1e-5)
    # Inference returns the class probabilities only.
    assert model.predict(x, verbose=0).shape == (4, 2)


def test_freeze_backbones_keeps_batchnorm_statistics(rng):
    model = small_model("sentiment_early", modalities=("image", "audio"))
    x, y = tiny_inputs(rng, modalities=("image", "audio"), sample_rate=8000), tiny_labels()
    bn = model.get_layer("image_backbone").get_layer("bn_0")
    head = model.get_layer("head_logits")
    mmzoo.freeze_backbones(model)
    before, head_before = bn.moving_mean.numpy().copy(), head.kernel.numpy().copy()
    model.fit(x, y, epochs=2, verbose=0)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), before)
    assert np.abs(head.kernel.numpy() - head_before).max() > 0  # the head trains
    mmzoo.freeze_backbones(model, trainable=True)
    model.fit(x, y, epochs=1, verbose=0)
    assert np.abs(bn.moving_mean.numpy() - before).max() > 0
    with pytest.raises(ValueError, match="no 'text' backbone"):
        mmzoo.freeze_backbones(model, modalities=["text"])


def test_weights_folder_round_trip_and_new_head(rng, tmp_path):
    model = small_model("sentiment_late", modalities=("text", "image"))
    x = tiny_inputs(rng, modalities=("text", "image"))
    model.fit(x, tiny_labels(), epochs=1, verbose=0)
    folder = save_folder(model, tmp_path / "run", preset="sentiment_late",
                         metadata={"metrics": {"accuracy": 0.5}})
    same = mmzoo.load("sentiment_late", weights=str(folder))
    np.testing.assert_allclose(same.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-6)
    assert same.weights_metadata["metrics"]["accuracy"] == 0.5
    assert same.text_vectorizer.get_vocabulary() == model.text_vectorizer.get_vocabulary()
    wider = mmzoo.load("sentiment_late", weights=str(folder), num_classes=5)
    assert wider.predict(x, verbose=0).shape == (4, 5)
    trained = model.get_layer("image_backbone").get_layer("conv_0").kernel.numpy()
    copied = wider.get_layer("image_backbone").get_layer("conv_0").kernel.numpy()
    np.testing.assert_array_equal(trained, copied)
    config = json.loads((folder / "config.json").read_text())
    assert config["task"] == "classifier" and config["config"]["image_weights"] is None


@pytest.mark.parametrize("inputs, message", [
    ({"txt": np.ones((2, 3), "int32")}, "Unknown input name 'txt'. Did you mean 'text'"),
    ({"image": np.ones((2, 8, 8), "float32")}, "Input 'image' expected shape \\[B, \\?, \\?, 3\\]"),
    ({"image": np.ones((2, 8, 8, 4), "float32")}, "received shape \\[2, 8, 8, 4\\]"),
    ({"text": np.ones((2, 3), "float32")}, "Input 'text' expected .* integer token ids"),
    ({"text": np.array([["a", "b"]])}, "raw inputs go through mmzoo.pipeline"),
    ({"audio": np.ones((2, 800), "complex64")},  # integer PCM is scaled instead
     "'audio' must be float32 samples in \\[-1, 1\\] or integer PCM"),
    ({"audio": np.ones((0, 800), "float32")}, "Input 'audio' is empty"),
    ({"text": np.ones((2, 3), "int32"), "audio": np.ones((3, 800), "float32")},
     "disagree on the batch size"),
    ({}, "No input given"),
    (np.ones((2, 3), "int32"), "expects a dict keyed by input name"),
])
def test_bad_inputs_raise_errors_naming_the_input(inputs, message):
    model = small_model()
    with pytest.raises(ValueError, match=message):
        model(inputs)
    with pytest.raises(ValueError, match=message):
        model.predict(inputs, verbose=0)


def test_bad_constructor_arguments():
    with pytest.raises(KeyError, match="Did you mean 'sentiment_late'"):
        mmzoo.load("sentiment_lat")
    with pytest.raises(KeyError, match="Unknown fusion 'lte'.*'late'"):
        mmzoo.load("sentiment_late", fusion="lte")
    with pytest.raises(KeyError, match="Unknown image backbone 'resnet5'"):
        mmzoo.load("sentiment_late", image_backbone="resnet5")
    with pytest.raises(ValueError, match="modalities must be distinct names"):
        mmzoo.load("sentiment_late", modalities=("text", "video"))
    with pytest.raises(ValueError, match="Unknown argument 'num_class'"):
        mmzoo.load("sentiment_late", num_class=3)
    with pytest.raises(ValueError, match="class_names has 2 names"):
        Classifier(num_classes=3, class_names=["a", "b"])
    with pytest.raises(KeyError, match="Unknown task 'translator'"):
        mmzoo.list_models(task="translator")


def test_text_requires_a_vocabulary_for_raw_strings():
    model = mmzoo.load("sentiment_late", **SMALL)
    with pytest.raises(ValueError, match="vocabulary of this model is empty"):
        model.preprocess(text="hello")
    with pytest.raises(ValueError, match="vocabulary of Classifier is empty"):
        mmzoo.export(model, "/tmp/never-written")


@pytest.mark.parametrize("preset", mmzoo.list_models(task="classifier"))
def test_mixed_precision_keeps_float32_outputs_and_finite_loss(preset, rng):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = small_model(preset)
        x = tiny_inputs(rng, sample_rate=8000)
        scores = model(x, training=False)
        assert scores.dtype == "float32" and np.isfinite(scores).all()
        model.compile(run_eagerly=True)  # the numerics, without tracing a graph
        loss = model.fit(x, tiny_labels(), epochs=1, verbose=0).history["loss"][0]
        assert np.isfinite(loss)
    finally:
        keras.mixed_precision.set_global_policy("float32")
