"""The pipelines' one compiled call on encoded inputs (`Task.infer_raw` for classifiers
and VQA, `raw_logits` for zero-shot retrieval): decoding inside, the results of
`preprocess` + the model (within float tolerance: the graph and the eager decoding
round differently), one trace per set of inputs whatever the batch, and the errors of
`preprocess` for bytes the graph cannot decode. Speed: benchmarks/latency.py."""

import numpy as np
import pytest
import tensorflow as tf

import mmzoo
from mmzoo.tasks.compiled import inference_function, tracing_count
from mmzoo.tasks.retrieval import compiled as retrieval_compiled
from tests.test_inference_by_default import _model_and_inputs


def _png(rng, size=40):
    pixels = rng.integers(0, 256, (size, size, 3)).astype("uint8")
    return tf.io.encode_png(pixels).numpy()


def _wav(rng, sample_rate, seconds=0.5):
    samples = rng.uniform(-0.5, 0.5, (int(sample_rate * seconds), 1)).astype("float32")
    return tf.audio.encode_wav(samples, sample_rate).numpy()


def test_classification_pipeline_decodes_in_one_compiled_call(rng, tmp_path):
    model, _ = _model_and_inputs("sentiment_late", rng)
    classify = mmzoo.pipeline(model)
    images = [_png(rng) for _ in range(3)]
    clips = [_wav(rng, 8000) for _ in range(3)]
    texts = ["a good day", "a bad day", "a red square"]
    for count in (1, 3, 2):
        results = classify(text=texts[:count], image=images[:count], audio=clips[:count],
                           top_k=len(model.labels))
    raw = inference_function(model, ("text", "image", "audio"), "raw")
    assert raw.experimental_get_tracing_count() == 1
    assert tracing_count(model) == 1  # nothing ran through `preprocess` + `infer`
    expected = np.asarray(model(model.preprocess(text=texts[:2], image=images[:2],
                                                 audio=clips[:2])))
    for row, scores in zip(results, expected):
        by_label = {entry["label"]: entry["score"] for entry in row}
        np.testing.assert_allclose([by_label[label] for label in model.labels], scores,
                                   rtol=1e-4, atol=1e-5)
    # File paths are read and go the same way; one item is one example.
    path = tmp_path / "image.png"
    path.write_bytes(images[0])
    single = classify(text=texts[0], image=str(path), audio=clips[0], top_k=1)
    assert single[0]["label"] == results[0][0]["label"]
    np.testing.assert_allclose(single[0]["score"], results[0][0]["score"], rtol=1e-4)
    assert raw.experimental_get_tracing_count() == 1


def test_inputs_the_graph_cannot_take_go_through_preprocess(rng):
    model, _ = _model_and_inputs("sentiment_late", rng)
    classify = mmzoo.pipeline(model)
    with pytest.raises(ValueError, match="'image'"):
        classify(text="a good day", image=b"GIF9 not an image", audio=_wav(rng, 8000))
    # Arrays take the preprocess path (and `infer`).
    pixels = rng.uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    results = classify(text=["a good day"] * 2, image=pixels, top_k=1)
    assert len(results) == 2  # (the bad bytes above traced the raw function)
    assert inference_function(model, ("text", "image")).experimental_get_tracing_count() == 1


def test_vqa_pipeline_decodes_in_one_compiled_call(rng):
    model, _ = _model_and_inputs("vqa_san", rng)
    answer = mmzoo.pipeline(model)
    image = _png(rng)
    for question in ("what color is it?", "is there a circle?", "what shape?"):
        result = answer(image=image, question=question, top_k=2)
    assert inference_function(model, ("image", "question"), "raw") \
        .experimental_get_tracing_count() == 1
    scores = np.asarray(model(model.preprocess(image=image, question="what shape?")))[0]
    assert result[0]["answer"] == model.answers[int(scores.argmax())]
    np.testing.assert_allclose(result[0]["score"], scores.max(), rtol=1e-4, atol=1e-5)


def test_zero_shot_retrieval_runs_one_compiled_call(rng):
    model, _ = _model_and_inputs("retrieval_dual_encoder", rng)
    retrieve = mmzoo.pipeline(model)
    images = [_png(rng, 32) for _ in range(3)]
    labels = ["dog", "cat", "beach"]
    for count, names in ((1, labels), (3, labels[:2]), (2, labels)):
        compiled = retrieve(images[:count] if count > 1 else images[0],
                            candidate_labels=names)
    assert retrieval_compiled._FUNCTIONS[model].experimental_get_tracing_count() == 1
    # The same images as arrays take the embedding path: the same scores.
    arrays = np.stack([tf.io.decode_png(image).numpy().astype("float32")
                       for image in images[:2]])
    eager = retrieve(arrays, candidate_labels=labels)
    for got, want in zip(compiled, eager):
        got, want = ({e["label"]: e["score"] for e in row} for row in (got, want))
        np.testing.assert_allclose([got[label] for label in labels],
                                   [want[label] for label in labels], rtol=1e-4, atol=1e-5)
    with pytest.warns(UserWarning, match="out_of_vocabulary: 1 of 2"):
        retrieve(images[0], candidate_labels=["a good film", "zqxj"], hypothesis_template="{}")
    with pytest.raises(ValueError, match="'image'"):
        retrieve(b"GIF9 not an image", candidate_labels=labels)
