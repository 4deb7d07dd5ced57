"""Every captioning preset: builds by name, trains as the presets do (frozen image
backbone, cached grids, GloVe word vectors), `.keras` and SavedModel round trips,
raw-input pipelines and errors. Small configurations: a small CNN stands for
EfficientNet-Lite0 (the real encoders are exercised by the shipped-weights tests)."""

import h5py  # noqa: F401  (keras.applications weights files)
import keras
import numpy as np
import pytest
import tensorflow as tf

import mmzoo
from mmzoo.listing import summarize
from mmzoo.registry import PRESETS as PRESETS_REGISTRY
from tests.helpers import fit_each
from tests.roundtrip import check_in_fresh_process, keras_round_trip

PRESETS = mmzoo.list_models(task="captioner")
CAPTIONS = ["A dog runs on the grass.", "Two people ride bikes on a road",
            "A black dog jumps over a log", "A man in a red shirt climbs a rock"]
# Small versions of each preset (same architecture, narrower layers; GloVe rows as the
# presets, projected to the decoder's width; a small random CNN for the image backbone).
SMALL = {"image_backbone": "simple_cnn", "image_weights": None, "image_size": 32,
         "image_options": {"filters": [8, 16]}, "vocab_size": 40, "min_word_count": 1,
         "sequence_length": 12, "embed_dim": 32, "feature_dim": 32, "num_heads": 4,
         "ffn_dim": 64, "lstm_units": 32, "attention_units": 16,
         "word_embeddings": "glove.6B.50d"}


def small_model(preset, **overrides):
    config = {**SMALL, **overrides}
    if "image_backbone" in overrides and "image_options" not in overrides:
        config.pop("image_options")  # the small CNN's options are not the backbone's
    model = mmzoo.load(preset, **config)
    model.adapt_text(CAPTIONS)
    return model


def caption_batch(rng, batch=4):
    images = rng.uniform(0, 255, size=(batch, 36, 28, 3)).astype("float32")
    return {"image": images, "captions": np.array([[c] * 5 for c in CAPTIONS[:batch]])}


def test_every_captioning_preset_is_tested_and_its_trained_part_ships_under_8_mib():
    assert set(PRESETS) == {"caption_sat", "caption_transformer"}
    for preset in PRESETS:
        info = summarize(preset)
        assert info["task"] == "captioner" and info["modalities"] == ["image", "text"]
        config = PRESETS_REGISTRY.get(preset)["config"]
        assert config["image_backbone"] == "efficientnet_lite0"
        assert config["image_weights"] == "imagenet" and not config["augment"]
        assert config["word_embeddings"] == "glove.6B.50d"
        # The same shapes without fetching the pretrained weights: what a weights
        # folder keeps is what trains with the backbone frozen.
        model = mmzoo.load(preset, image_weights=None, word_embeddings=None,
                           embedding_dim=50)
        mmzoo.freeze_backbones(model)
        trained = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        assert trained * 4 < 6.5 * 2 ** 20, (preset, trained)
        assert model.caption_decoder.token_embedding.output_dim == 50
    assert mmzoo.load("caption_sat", image_weights=None, word_embeddings=None) \
        .caption_decoder.attention_regularizer == 1.0


@pytest.fixture(scope="module")
def trained():
    """preset -> (model, losses, tensor inputs), each trained as the presets are (frozen
    image backbone: cached grids) 8 epochs of 1 step on 4 images."""
    def setup(preset, rng):
        model = small_model(preset)
        mmzoo.freeze_backbones(model)
        model.compile(optimizer=keras.optimizers.Adam(3e-3))
        data = tf.data.Dataset.from_tensor_slices(caption_batch(rng)).batch(4)
        assert model.feature_split()[0] is not None
        x, _ = next(iter(model.prepare_dataset(data)))
        return model, (data,), {k: v.numpy()[::5] for k, v in x.items()}  # a row per image

    return fit_each(PRESETS, setup)


@pytest.mark.parametrize("preset", PRESETS)
def test_training_lowers_the_loss(preset, trained):
    model, losses, x = trained[preset]
    assert np.isfinite(losses).all()
    assert losses[-1] < losses[0], losses
    logits = model.predict(x, verbose=0)
    assert logits.shape == (4, 12, 40) and logits.dtype == np.float32


def test_the_attention_regulariser_is_added_in_training_only(trained):
    model, _, x = trained["caption_sat"]
    targets = np.concatenate([x["caption"][:, 1:], np.zeros((4, 1), "int32")], axis=1)
    loss = model.compute_loss(x, targets, model(x, training=False))
    model(x, training=True)
    penalty = float(sum(model.losses))
    assert penalty > 0
    with_penalty = model.compute_loss(x, targets, model(x, training=True))
    assert float(with_penalty) > float(loss)
    model(x, training=False)
    assert not model.losses  # inference adds nothing


@pytest.mark.parametrize("preset", PRESETS)
def test_keras_file_round_trip(preset, trained, tmp_path):
    model, _, x = trained[preset]
    loaded = keras_round_trip(model, x, tmp_path)
    assert loaded.vocabulary == model.vocabulary
    assert loaded.generate(x["image"])["captions"] == model.generate(x["image"])["captions"]


def _png(image):
    return tf.io.encode_png(np.asarray(image, dtype=np.uint8)).numpy()


def raw_images(rng):
    """Encoded images of several sizes, grayscale, RGBA and JPEG."""
    return np.array([
        _png(rng.integers(0, 256, size=(40, 50, 3))),
        _png(rng.integers(0, 256, size=(20, 20, 1))),
        _png(rng.integers(0, 256, size=(64, 30, 4))),
        tf.io.encode_jpeg(rng.integers(0, 256, size=(33, 33, 3)).astype(np.uint8)).numpy(),
    ], dtype=object)


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    return {preset: str(mmzoo.export(model, tmp_path_factory.mktemp(preset) / "saved"))
            for preset, (model, _, _) in trained.items()}


def test_saved_models_serve_the_same_captions_in_a_fresh_process(trained, exported,
                                                                 tmp_path):
    rng = np.random.default_rng(1)
    cases, expected = {}, {}
    for preset, (model, _, x) in trained.items():
        path = exported[preset]
        cases[f"{preset}/tensors"] = {"path": path, "signature": "serve_tensors",
                                      "inputs": x}
        expected[f"{preset}/tensors"] = {"logits": model.predict(x, verbose=0)}
        raw = raw_images(rng)
        cases[f"{preset}/raw"] = {"path": path, "signature": "serving_default",
                                  "inputs": {"image": raw}}
        python_side = mmzoo.pipeline(model)(image=list(raw))  # beam search, width 3
        expected[f"{preset}/raw"] = {"captions": [r[0]["generated_text"]
                                                  for r in python_side]}
        cases[f"{preset}/images"] = {"path": path, "signature": "serve_images",
                                     "inputs": {"image": x["image"]}}
        generated = model.generate(x["image"])
        expected[f"{preset}/images"] = {"captions": generated["captions"],
                                        "token_ids": generated["token_ids"]}
    served = check_in_fresh_process(cases, tmp_path)
    assert set(served) == set(cases)
    for key, outputs in expected.items():
        if "logits" in outputs:
            np.testing.assert_allclose(served[key]["logits"], outputs["logits"],
                                       atol=1e-5, err_msg=key)
        else:
            assert [c.decode() for c in served[key]["captions"]] == outputs["captions"], key
        if "token_ids" in outputs:
            np.testing.assert_array_equal(served[key]["token_ids"], outputs["token_ids"])


def test_bad_image_bytes_fail_clearly_in_python_and_in_the_saved_model(trained, exported):
    model = trained["caption_transformer"][0]
    caption = mmzoo.pipeline(model)
    with pytest.raises(ValueError, match="could not be decoded as an image \\(0 bytes\\)"
                                         ": Input `image`: image bytes are empty"):
        caption(image=b"")
    with pytest.raises(ValueError, match="could not be decoded as an image \\(12 bytes\\)"):
        caption(image=b"not an image")
    served = tf.saved_model.load(exported["caption_transformer"])
    serve = served.signatures["serving_default"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="image bytes are empty"):
        serve(image=tf.constant([b""]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="unknown image file format"):
        serve(image=tf.constant([b"not an image"]))


def test_pipeline_outputs_and_argument_errors(trained, rng):
    model = trained["caption_sat"][0]
    caption = mmzoo.pipeline(model)
    image = rng.integers(0, 255, size=(30, 20)).astype("uint8")  # grayscale
    single = caption(image=image, num_beams=1)
    assert isinstance(single, list) and len(single) == 1
    assert isinstance(single[0]["generated_text"], str)
    batch = caption(image=[image, image, image], batch_size=2, num_beams=2, max_length=5)
    assert len(batch) == 3 and all(len(row) == 1 for row in batch)
    assert batch[0] == batch[2]
    assert len(batch[0][0]["generated_text"].split()) <= 5
    with pytest.raises(ValueError, match="max_length must be a positive integer"):
        caption(image=image, max_length=0)
    with pytest.raises(ValueError, match="num_beams \\(the beam width\\) must be"):
        caption(image=image, num_beams=0)
    with pytest.raises(ValueError, match="No input given"):
        caption()
    with pytest.raises(ValueError, match="'image' must be an image of shape"):
        caption(image=np.zeros((4, 4, 2)))


@pytest.mark.parametrize("inputs, message", [
    ({"imag": np.ones((2, 8, 8, 3), "float32"), "caption": np.ones((2, 3), "int32")},
     "Unknown input name 'imag'. Did you mean 'image'"),
    ({"image": np.ones((2, 8, 8), "float32"), "caption": np.ones((2, 3), "int32")},
     "Input 'image' expected shape \\[B, \\?, \\?, 3\\]"),
    ({"image": np.ones((2, 8, 8, 3), "float32"), "caption": np.ones((2, 3), "float32")},
     "Input 'caption' expected .* integer token ids"),
    ({"image": np.ones((2, 8, 8, 3), "float32"), "caption": np.array([["a", "b"]] * 2)},
     "raw inputs go through mmzoo.pipeline"),
    ({"image": np.ones((2, 8, 8, 3), "float32")}, "Input 'caption' is missing"),
    ({"image": np.ones((2, 8, 8, 3), "float32"), "caption": np.ones((3, 3), "int32")},
     "disagree on the batch size"),
])
def test_bad_tensor_inputs_raise_errors_naming_the_input(trained, inputs, message):
    model = trained["caption_transformer"][0]
    with pytest.raises(ValueError, match=message):
        model(inputs)


@pytest.mark.parametrize("preset", PRESETS)
def test_mixed_precision_keeps_float32_logits_and_finite_loss(preset, rng):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = small_model(preset)
        data = tf.data.Dataset.from_tensor_slices(caption_batch(rng)).batch(4)
        x, _ = next(iter(model.prepare_dataset(data)))
        logits = model(x, training=False)
        assert logits.dtype == "float32" and np.isfinite(logits).all()
        model.compile()
        loss = model.fit(data, epochs=1, verbose=0).history["loss"][0]
        assert np.isfinite(loss)
        assert model.generate(x["image"][:2], num_beams=2)["token_ids"].shape == (2, 12)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_any_image_backbone_works_including_applications_with_local_weights(tmp_path,
                                                                           rng):
    source = keras.applications.MobileNetV2(include_top=False, weights=None,
                                            input_shape=(64, 64, 3))
    source.weights[0].assign(np.full(source.weights[0].shape, 0.125, "float32"))
    path = str(tmp_path / "mobilenet.weights.h5")
    source.save_weights(path)
    model = small_model("caption_transformer", image_backbone="mobilenet_v2",
                        image_size=64, image_weights=path)
    network = next(layer for layer in model.image_encoder.get_layer(
        "image_backbone").layers if isinstance(layer, keras.Model))
    np.testing.assert_array_equal(network.weights[0].numpy(), source.weights[0].numpy())
    assert model.get_config()["image_weights"] is None  # weights travel in the file
    images = rng.uniform(0, 255, size=(2, 50, 70, 3)).astype("float32")
    assert len(model.generate(images)["captions"]) == 2
    vit = small_model("caption_sat", image_backbone="vit")  # ViT's defaults, 32x32
    assert vit.image_encoder.output.shape[1] == 16  # (32 / 8) ** 2 patches
    assert len(vit.generate(images, num_beams=1)["captions"]) == 2
