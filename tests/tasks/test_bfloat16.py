"""Every shipped model runs in bfloat16 (`dtype="mixed_bfloat16"`): its layers compute in
bfloat16, its variables and outputs stay float32, and the outputs are those of the
float32 model within bfloat16's precision (8 significant bits: a few thousandths of a
unit-norm embedding, a few hundredths of a probability), top-1 unchanged on the bundled
samples. Speed and accuracy on the evaluation splits are in benchmarks/bfloat16.py."""

import pathlib
import warnings

import keras
import numpy as np
import pytest

import mmzoo
from mmzoo.tasks import building
from mmzoo.weights import shipped_weights

SHIPPED = sorted((preset, name) for preset, names in shipped_weights().items()
                 for name in names)
SAMPLES = pathlib.Path(mmzoo.__file__).parent / "samples"
DIGITS = [SAMPLES / "avdigits" / f"digit_{d}.png" for d in (0, 3, 7, 9)]
WAVS = [SAMPLES / "avdigits" / f"digit_{d}.wav" for d in (0, 3, 7, 9)]
PHOTOS = [SAMPLES / "mvsa" / f"post_{n}.jpg" for n in (1, 2, 3, 4)]
POSTS = [(SAMPLES / "mvsa" / f"post_{n}.txt").read_text().strip() for n in (1, 2, 3, 4)]
QUESTIONS = ["what color is the shape?", "is there a circle?", "what shape is it?",
             "is there a red shape?"]
# Largest differences measured on these inputs: probabilities 0.027 (vqa_mfb),
# softmax of the captioner's and retriever's logits 0.004. Embeddings are unit vectors
# compared by direction: the EfficientNet-Lite0 + MiniLM retriever moves single
# coordinates by up to 0.012 in bfloat16 (of values around 0.06) while every row keeps
# a cosine above 0.99 with its float32 row.
PROBABILITY_ATOL, EMBEDDING_MIN_COSINE = 0.06, 0.99


def _inputs(model):
    task = type(model).__name__
    if task == "Classifier":
        raw = {"text": POSTS, "image": DIGITS, "audio": WAVS}
        return model.preprocess(**{m: raw[m] for m in model.modalities})
    if task == "VQA":
        return model.preprocess(image=DIGITS, question=QUESTIONS)
    if task == "Captioner":
        return model.preprocess(image=PHOTOS, caption=["a dog runs through the grass"] * 4)
    return model.preprocess(image=PHOTOS, text=POSTS)


def _softmax(logits):
    exp = np.exp(logits - logits.max(-1, keepdims=True))
    return exp / exp.sum(-1, keepdims=True)


def _probabilities(model, outputs):
    """name -> float32 numpy outputs, logits turned into probabilities."""
    outputs = outputs if isinstance(outputs, dict) else {"predictions": outputs}
    arrays = {name: np.asarray(value) for name, value in outputs.items()}
    for name in ("logits",) if "logits" in arrays else ():
        arrays[name] = _softmax(arrays[name])
    if type(model).__name__ == "Captioner":
        arrays["predictions"] = _softmax(arrays["predictions"])
    return arrays


@pytest.mark.filterwarnings("ignore:dtype='mixed_bfloat16'")
@pytest.mark.parametrize("preset, weights", SHIPPED)
def test_every_shipped_model_runs_in_bfloat16_close_to_float32(preset, weights):
    full = mmzoo.load(preset, weights=weights, compile=False)
    half = mmzoo.load(preset, weights=weights, compile=False, dtype="mixed_bfloat16")
    assert half.dtype_policy.name == "mixed_bfloat16"
    computing = {layer.compute_dtype for layer in half._flatten_layers()
                 if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))}
    assert "bfloat16" in computing
    assert {v.dtype for v in half.variables} <= {"float32", "int64", "int32", "string"}

    inputs = _inputs(full)
    expected = _probabilities(full, full.infer(inputs))
    actual = _probabilities(half, half.infer(inputs))
    assert set(actual) == set(expected)
    for name, value in actual.items():
        assert value.dtype == np.float32, name
        if name.endswith("embeddings"):
            cosines = (value * expected[name]).sum(-1) / (
                np.linalg.norm(value, axis=-1) * np.linalg.norm(expected[name], axis=-1))
            assert cosines.min() > EMBEDDING_MIN_COSINE, (name, cosines)
        else:
            np.testing.assert_allclose(value, expected[name], atol=PROBABILITY_ATOL,
                                       err_msg=name)
        if name in ("predictions", "logits"):
            np.testing.assert_array_equal(value.argmax(-1), expected[name].argmax(-1))
    if {"image_embeddings", "text_embeddings"} <= set(actual):
        # The same best text per image wherever float32 does not nearly tie.
        scores = expected["image_embeddings"] @ expected["text_embeddings"].T
        top_two = np.sort(scores, -1)[:, -2:]
        clear = top_two[:, 1] - top_two[:, 0] > 0.02
        half_scores = actual["image_embeddings"] @ actual["text_embeddings"].T
        np.testing.assert_array_equal(half_scores.argmax(-1)[clear], scores.argmax(-1)[clear])
    if type(half).__name__ == "Captioner":
        captions = half.generate(inputs["image"][:2], max_length=8)["captions"]
        assert all(isinstance(c, str) and c for c in captions)


def test_emulated_bfloat16_is_announced(monkeypatch):
    monkeypatch.setattr(building, "native_bfloat16", lambda: False)
    with pytest.warns(UserWarning, match="no native bfloat16"):
        mmzoo.load("vqa_concat", dtype="mixed_bfloat16", compile=False)
    monkeypatch.setattr(building, "native_bfloat16", lambda: True)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*no native bfloat16")
        mmzoo.load("vqa_concat", dtype="mixed_bfloat16", compile=False)


def test_native_bfloat16_reads_the_machine():
    assert building.native_bfloat16() in (True, False, None)
