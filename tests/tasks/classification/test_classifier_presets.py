"""Every classifier preset: builds by name, trains, `.keras` and SavedModel round trips."""

import numpy as np
import pytest
import tensorflow as tf

import mmzoo
from tests.helpers import TEXTS, fit_each, tiny_inputs, tiny_labels
from tests.roundtrip import check_in_fresh_process, keras_round_trip

PRESETS = mmzoo.list_models(task="classifier")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """preset -> (model, fit losses, tensor inputs), each trained 8 steps on 4 examples."""
    def setup(preset, rng):
        model = mmzoo.load(preset)
        model.adapt_text(TEXTS)
        x = tiny_inputs(rng, vocab=model.text_vectorizer.vocabulary_size())
        return model, (x, tiny_labels()), x

    return fit_each(PRESETS, setup)


@pytest.mark.parametrize("preset", PRESETS)
def test_training_lowers_the_loss(preset, trained):
    _, losses, _ = trained[preset]
    assert np.isfinite(losses).all()
    assert losses[-1] < losses[0], losses


@pytest.mark.parametrize("preset", PRESETS)
def test_keras_file_round_trip(preset, trained, tmp_path):
    model, _, x = trained[preset]
    loaded = keras_round_trip(model, x, tmp_path)
    assert loaded.text_vectorizer.get_vocabulary() == model.text_vectorizer.get_vocabulary()


@pytest.mark.parametrize("preset", PRESETS)
def test_an_example_gets_the_same_prediction_alone_and_in_a_batch(preset, trained):
    """Nothing at inference mixes the examples of a batch (BatchNorm statistics, a
    batch-wide spectrogram floor): a quiet, half-silent clip next to loud ones."""
    model, _, x = trained[preset]
    x = dict(x)
    audio = x["audio"].copy()
    audio[0, : audio.shape[1] // 2] *= 1e-3
    audio[0, audio.shape[1] // 2:] = 0.0
    audio[1:] *= 8.0
    x["audio"] = audio.clip(-1, 1)
    batched = np.asarray(model(x, training=False))
    alone = np.asarray(model({k: v[:1] for k, v in x.items()}, training=False))
    np.testing.assert_allclose(alone[0], batched[0], rtol=1e-4, atol=1e-5)


def _raw_inputs(rng, model):
    images = rng.integers(0, 256, size=(2, 40, 50, 3), dtype=np.uint8)
    waves = (rng.normal(size=(2, 12000)) * 0.2).clip(-1, 1).astype("float32")
    return {
        "text": np.array(["a good day", "the film was bad and sad"]),
        "image": np.array([tf.io.encode_png(image).numpy() for image in images],
                          dtype=object),
        "audio": np.array([tf.audio.encode_wav(w[:, None], model.sample_rate).numpy()
                           for w in waves], dtype=object),
    }


def test_saved_models_serve_the_same_outputs_in_a_fresh_process(trained, tmp_path):
    rng = np.random.default_rng(1)
    cases, expected = {}, {}
    for preset, (model, _, x) in trained.items():
        path = str(tmp_path / preset)
        mmzoo.export(model, path)
        cases[f"{preset}/tensors"] = {"path": path, "signature": "serve_tensors",
                                      "inputs": x}
        expected[f"{preset}/tensors"] = {"scores": model.predict(x, verbose=0)}
        raw = _raw_inputs(rng, model)
        cases[f"{preset}/raw"] = {"path": path, "signature": "serving_default",
                                  "inputs": raw}
        python_side = mmzoo.pipeline(model)(
            text=list(raw["text"]), image=list(raw["image"]), audio=list(raw["audio"]),
            top_k=model.num_classes)
        scores = np.array([[dict((d["label"], d["score"]) for d in row)[label]
                            for label in model.labels] for row in python_side])
        expected[f"{preset}/raw"] = {"scores": scores,
                                     "label": [row[0]["label"] for row in python_side]}
    served = check_in_fresh_process(cases, tmp_path)
    assert set(served) == set(cases)
    for key, outputs in expected.items():
        np.testing.assert_allclose(served[key]["scores"], outputs["scores"], atol=1e-5,
                                   err_msg=key)
        if "label" in outputs:
            assert [b.decode() for b in served[key]["label"]] == outputs["label"], key
