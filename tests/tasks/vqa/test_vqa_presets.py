"""Every VQA preset: builds by name, trains, `.keras` and SavedModel round trips."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import mmzoo
from tests.helpers import fit_each
from tests.roundtrip import check_in_fresh_process, keras_round_trip

PRESETS = mmzoo.list_models(task="vqa")
ANSWERS = ["yes", "no", "red", "blue", "circle"]
QUESTIONS = ["is there a red shape?", "what color is the shape?",
             "what shape is in the image?", "does the image contain a blue circle?"]

# Small versions of each preset (same architecture, narrower layers).
SMALL = {"image_size": 32, "image_options": {"filters": [4, 8]}, "vocab_size": 50,
         "text_options": {"embed_dim": 8, "units": 8}, "answers": ANSWERS}
SMALL_FUSION = {
    "vqa_concat": {"fusion_options": {"units": 16}, "head_units": [16]},
    "vqa_san": {"fusion_options": {"dim": 16, "attention_units": 8}, "head_units": [16],
                "dropout": 0.0},
    "vqa_mfb": {"fusion_options": {"units": 8, "factors": 2, "attention_units": 8}},
    "vqa_rn": {"fusion_options": {"g_units": [16, 16], "f_units": [16], "dropout": 0.0},
               "image_options": {"filters": [4, 8, 8]}},
}


def small_model(preset, **overrides):
    model = mmzoo.load(preset, **{**SMALL, **SMALL_FUSION.get(preset, {}), **overrides})
    model.adapt_text(QUESTIONS)
    return model


def tiny_batch(model, rng, batch=4):
    ids = model.question_vectorizer(np.array(QUESTIONS[:batch])).numpy().astype("int32")
    images = rng.uniform(0, 255, size=(batch, 36, 28, 3)).astype("float32")
    return {"image": images, "question": ids}, np.arange(batch) % len(ANSWERS)


def test_every_vqa_preset_is_tested():
    assert set(PRESETS) == {"vqa_concat", "vqa_san", "vqa_mfb", "vqa_rn"}
    assert set(SMALL_FUSION) == set(PRESETS)


@pytest.fixture(scope="module")
def trained():
    """preset -> (model, losses, tensor inputs), each trained 8 steps on 4 examples."""
    def setup(preset, rng):
        model = small_model(preset)
        x, y = tiny_batch(model, rng)
        return model, (x, y), x

    return fit_each(PRESETS, setup)


@pytest.mark.parametrize("preset", PRESETS)
def test_training_lowers_the_loss(preset, trained):
    model, losses, x = trained[preset]
    assert np.isfinite(losses).all()
    assert losses[-1] < losses[0], losses
    scores = model.predict(x, verbose=0)
    assert scores.shape == (4, len(ANSWERS)) and scores.dtype == np.float32
    np.testing.assert_allclose(scores.sum(-1), 1.0, atol=1e-5)


@pytest.mark.parametrize("preset", PRESETS)
def test_an_example_gets_the_same_answer_scores_alone_and_in_a_batch(preset, trained):
    model, _, x = trained[preset]
    batched = np.asarray(model(x, training=False))
    alone = np.asarray(model({k: v[:1] for k, v in x.items()}, training=False))
    np.testing.assert_allclose(alone[0], batched[0], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("preset", PRESETS)
def test_keras_file_round_trip(preset, trained, tmp_path):
    model, _, x = trained[preset]
    loaded = keras_round_trip(model, x, tmp_path)
    assert loaded.question_vectorizer.get_vocabulary() == \
        model.question_vectorizer.get_vocabulary()
    assert loaded.answers == ANSWERS


def _png(image):
    return tf.io.encode_png(np.asarray(image, dtype=np.uint8)).numpy()


def raw_inputs(rng):
    """Encoded images of several sizes, grayscale and RGBA, and awkward questions."""
    images = [
        _png(rng.integers(0, 256, size=(40, 50, 3))),
        _png(rng.integers(0, 256, size=(20, 20, 1))),          # grayscale
        _png(rng.integers(0, 256, size=(64, 30, 4))),          # RGBA
        tf.io.encode_jpeg(rng.integers(0, 256, size=(33, 33, 3)).astype(np.uint8)).numpy(),
    ]
    questions = ["What COLOR is the shape?", "", "zorg blip frobnicate?",
                 "is there a red shape"]
    return {"image": np.array(images, dtype=object), "question": np.array(questions)}


def test_saved_models_serve_the_same_outputs_in_a_fresh_process(trained, tmp_path):
    rng = np.random.default_rng(1)
    cases, expected = {}, {}
    for preset, (model, _, x) in trained.items():
        path = str(tmp_path / preset)
        mmzoo.export(model, path)
        cases[f"{preset}/tensors"] = {"path": path, "signature": "serve_tensors",
                                      "inputs": x}
        expected[f"{preset}/tensors"] = {"scores": model.predict(x, verbose=0)}
        raw = raw_inputs(rng)
        cases[f"{preset}/raw"] = {"path": path, "signature": "serving_default",
                                  "inputs": raw}
        python_side = mmzoo.pipeline(model)(image=list(raw["image"]),
                                            question=list(raw["question"]), top_k=5)
        expected[f"{preset}/raw"] = {
            "scores": np.array([[d["score"] for d in row] for row in python_side]),
            "answers": [[d["answer"] for d in row] for row in python_side]}
    served = check_in_fresh_process(cases, tmp_path)
    assert set(served) == set(cases)
    for key, outputs in expected.items():
        np.testing.assert_allclose(served[key]["scores"], outputs["scores"], atol=1e-5,
                                   err_msg=key)
        if "answers" in outputs:
            assert served[key]["answers"].shape == (4, 5), key
            assert served[key]["answers"].dtype == object, key
            top = [[a.decode() for a in row] for row in served[key]["answers"]]
            assert [row[0] for row in top] == [row[0] for row in outputs["answers"]], key


@pytest.mark.parametrize("inputs, message", [
    ({"imag": np.ones((2, 8, 8, 3), "float32"), "question": np.ones((2, 3), "int32")},
     "Unknown input name 'imag'. Did you mean 'image'"),
    ({"image": np.ones((2, 8, 8), "float32"), "question": np.ones((2, 3), "int32")},
     "Input 'image' expected shape \\[B, \\?, \\?, 3\\]"),
    ({"image": np.ones((2, 8, 8, 1), "float32"), "question": np.ones((2, 3), "int32")},
     "Input 'image' .* received shape \\[2, 8, 8, 1\\]"),
    ({"image": np.ones((2, 8, 8, 3), "float32"), "question": np.ones((2, 3), "float32")},
     "Input 'question' expected .* integer token ids"),
    ({"image": np.ones((2, 8, 8, 3), "float32"), "question": np.array([["a", "b"]] * 2)},
     "raw inputs go through mmzoo.pipeline"),
    ({"image": np.ones((0, 8, 8, 3), "float32"), "question": np.ones((0, 3), "int32")},
     "Input 'image' is empty"),
    ({"image": np.ones((2, 8, 8, 3), "float32"), "question": np.ones((3, 3), "int32")},
     "disagree on the batch size"),
    ({"image": np.ones((2, 8, 8, 3), "float32")}, "Input 'question' is missing"),
    ({"question": np.ones((2, 3), "int32")}, "Input 'image' is missing"),
    ({}, "No input given"),
])
@pytest.mark.parametrize("preset", ["vqa_san", "vqa_rn"])
def test_bad_inputs_raise_errors_naming_the_input(preset, trained, inputs, message):
    model = trained[preset][0]
    with pytest.raises(ValueError, match=message):
        model(inputs)
    with pytest.raises(ValueError, match=message):
        model.predict(inputs, verbose=0)


@pytest.mark.parametrize("preset", PRESETS)
def test_mixed_precision_keeps_float32_outputs_and_finite_loss(preset):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = small_model(preset)
        x, y = tiny_batch(model, np.random.default_rng(0))
        scores = model(x, training=False)
        assert scores.dtype == "float32" and np.isfinite(scores).all()
        model.compile(run_eagerly=True)  # the numerics, without tracing a graph
        loss = model.fit(x, y, epochs=1, verbose=0).history["loss"][0]
        assert np.isfinite(loss)
    finally:
        keras.mixed_precision.set_global_policy("float32")
