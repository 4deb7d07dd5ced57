"""Compiled inference (`Task.infer`, `predict` on small batches, the pipelines): one trace
per input signature whatever the batch and sizes, the outputs of `model(x)`, the
checks of `model(x)`; the compiled preprocessing gives the eager results. Speed is
measured in benchmarks/latency.py, never here."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import mmzoo
from mmzoo.preprocessing import text_vectorizer, vectorize
from mmzoo.preprocessing.image import decode_image, load_image
from mmzoo.tasks.captioning.generation import _DECODERS
from mmzoo.tasks.compiled import inference_function, tracing_count
from tests.test_inference_by_default import _model_and_inputs

FAMILIES = ["sentiment_late", "sentiment_hybrid", "vqa_san", "caption_sat",
            "retrieval_dual_encoder"]


def _first(inputs, count):
    return {name: value[:count] for name, value in inputs.items()}


def _assert_close(actual, expected, atol=1e-5):
    keras.tree.map_structure(
        lambda a, b: np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5,
                                                atol=atol), actual, expected)


@pytest.mark.parametrize("preset", FAMILIES)
def test_infer_equals_the_call_and_traces_once_per_signature(preset, rng):
    model, inputs = _model_and_inputs(preset, rng)
    _assert_close(model.infer(inputs), model(inputs))
    for _ in range(3):
        model.infer(inputs)
    # Another batch size (and, for images, another size) reuses the same trace.
    smaller = _first(inputs, 2)
    if "image" in smaller:
        smaller["image"] = rng.uniform(0, 255, (2, 45, 37, 3)).astype("float32")
    _assert_close(model.infer(smaller), model(smaller))
    assert tracing_count(model) == 1


@pytest.mark.parametrize("preset", FAMILIES)
def test_predict_on_a_small_batch_is_compiled_and_equals_keras_predict(preset, rng):
    model, inputs = _model_and_inputs(preset, rng)
    expected = keras.Model.predict(model, {k: v for k, v in inputs.items()}, verbose=0)
    for batch in (3, 1, 2, 3):
        predicted = model.predict(_first(inputs, batch), verbose=0)
        _assert_close(predicted, keras.tree.map_structure(lambda e, n=batch: e[:n], expected))
    assert keras.tree.map_structure(lambda p: isinstance(p, np.ndarray), predicted)
    assert tracing_count(model) == 1  # the predict step, traced once
    # More examples than one batch go through Keras' own loop (and agree).
    many = {k: np.concatenate([v] * 12) for k, v in inputs.items()}
    _assert_close(model.predict(many, verbose=0),
                  keras.tree.map_structure(lambda e: np.concatenate([e] * 12), expected))
    assert tracing_count(model) == 1


def test_each_set_of_modalities_is_traced_once(rng):
    model, inputs = _model_and_inputs("sentiment_late", rng)
    subsets = [("text", "image", "audio"), ("image",), ("audio", "text"), ("image",)]
    for names in subsets * 2:
        given = {name: inputs[name] for name in names}
        _assert_close(model.infer(given), model(given))
    assert tracing_count(model) == 3


def test_infer_checks_inputs_as_the_call_does(rng):
    model, inputs = _model_and_inputs("sentiment_late", rng)
    bad = dict(inputs, image=inputs["image"][:, :, :, :1])
    with pytest.raises(ValueError, match="Input 'image' expected shape"):
        model.infer(bad)
    nan = dict(inputs, audio=np.full_like(inputs["audio"], np.nan))
    with pytest.raises(ValueError, match="Input 'audio' holds"):
        model.infer(nan)
    with pytest.raises(ValueError, match="Unknown input name 'imgae'"):
        model.infer({"imgae": inputs["image"]})
    # The graph's own checks are in the compiled function (what Python cannot see).
    function = inference_function(model, ("image", "audio"))
    with pytest.raises(tf.errors.InvalidArgumentError, match="batch size that disagrees"):
        function({"image": tf.constant(inputs["image"]),
                  "audio": tf.constant(inputs["audio"][:1])})
    assert not model.infer({"image": inputs["image"].astype("uint8")}).dtype.is_integer


def test_infer_leaves_saving_alone(rng, tmp_path):
    model, inputs = _model_and_inputs("vqa_san", rng)
    expected = model.infer(inputs)
    model.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras")
    _assert_close(reloaded.infer(inputs), expected)


def test_the_pipelines_run_the_compiled_call(rng):
    model, _ = _model_and_inputs("sentiment_late", rng)
    classify = mmzoo.pipeline(model)
    images = rng.uniform(0, 255, (3, 40, 40, 3)).astype("float32")
    for count in (1, 3, 2):
        results = classify(text=["a good day"] * count, image=images[:count])
    assert tracing_count(model) == 1
    scores = np.asarray(model(model.preprocess(text=["a good day"] * 2, image=images[:2])))
    assert [r[0]["label"] for r in results] == [model.labels[i] for i in scores.argmax(1)]
    np.testing.assert_allclose([r[0]["score"] for r in results], scores.max(1), rtol=1e-5)

    model, _ = _model_and_inputs("vqa_san", rng)
    answer = mmzoo.pipeline(model)
    for question in ("what color is it?", "is there a circle?", "what shape?"):
        result = answer(image=images[0], question=question, top_k=2)
    assert tracing_count(model) == 1
    scores = np.asarray(model(model.preprocess(image=images[0], question="what shape?")))[0]
    assert result[0]["answer"] == model.answers[int(scores.argmax())]
    np.testing.assert_allclose(result[0]["score"], scores.max(), rtol=1e-5)


def test_captioning_and_retrieval_trace_once_per_option_set(rng):
    captioner, _ = _model_and_inputs("caption_sat", rng)
    for count, size in ((1, 32), (3, 40), (2, 32)):
        captioner.generate(rng.uniform(0, 255, (count, size, size, 3)).astype("float32"),
                           num_beams=2, max_length=5)
    assert [f.experimental_get_tracing_count() for f in _DECODERS[captioner].values()] == [1]

    retriever, _ = _model_and_inputs("retrieval_dual_encoder", rng)
    retrieve = mmzoo.pipeline(retriever)
    for count in (1, 4, 2):
        retrieve.embed_images(list(rng.uniform(0, 255, (count, 32, 32, 3))))
        retrieve.embed_texts(["a dog runs"] * count)
    counts = {k: f.experimental_get_tracing_count()
              for k, f in retriever._encode_steps.items()}
    assert counts == {"image": 1, "text": 1}


def test_compiled_vectorizing_follows_a_new_vocabulary():
    vectorizer = text_vectorizer(vocab_size=20, sequence_length=4)
    vectorizer.adapt(["red circle", "red square"])
    first = vectorize(vectorizer, np.array(["red circle", "blue"]))
    np.testing.assert_array_equal(first, vectorizer(["red circle", "blue"]).numpy())
    assert first.dtype == np.int32
    vectorizer.adapt(["blue blue blue triangle"])  # a new lookup table
    np.testing.assert_array_equal(vectorize(vectorizer, np.array(["red circle", "blue"])),
                                  vectorizer(["red circle", "blue"]).numpy())


def test_compiled_image_decoding_equals_the_eager_ops_and_names_bad_bytes(rng):
    pixels = rng.integers(0, 256, (30, 20, 3)).astype("uint8")
    png = tf.io.encode_png(pixels).numpy()
    np.testing.assert_allclose(load_image(png, 16), decode_image(png, 16).numpy(), atol=1e-4)
    np.testing.assert_array_equal(load_image(png), pixels.astype("float32"))
    with pytest.raises(ValueError, match="not a PNG, JPEG, GIF or BMP image"):
        load_image(b"GIF9 nope", 16)
