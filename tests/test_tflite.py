"""Every preset's TFLite file runs on the standard interpreter (builtin ops only, no
Flex delegate) and gives the Keras model's outputs, at two batch sizes.

Presets are built small (the families' test sizes, short text) so that the unrolled
recurrences convert quickly; the architecture is the preset's.
"""

import warnings

import numpy as np
import pytest
import tensorflow as tf

import mmzoo
from mmzoo.exporting import tflite_sequence_length
from mmzoo.registry import PRESETS

TEXTS = ["a good happy day", "a bad sad day", "the film was good", "a dog in the snow"]
ANSWERS = ["yes", "no", "red", "blue", "circle"]
SMALL_VQA = {"image_size": 32, "image_options": {"filters": [4, 8]}, "vocab_size": 50,
             "sequence_length": 8, "text_options": {"embed_dim": 8, "units": 8},
             "answers": ANSWERS}
SMALL = {
    "classifier": {"vocab_size": 50, "sequence_length": 8, "sample_rate": 8000,
                   "text_options": {"embed_dim": 16, "units": 16},
                   "image_options": {"filters": [8, 16]}},
    "vqa": SMALL_VQA,
    "captioner": {"image_size": 32, "image_options": {"filters": [8, 16]},
                  "vocab_size": 40, "min_word_count": 1, "sequence_length": 8,
                  "embed_dim": 32, "feature_dim": 32, "num_heads": 4, "ffn_dim": 64,
                  "lstm_units": 32, "attention_units": 16},
    "retriever": {"vocab_size": 50, "sequence_length": 8,
                  "image_options": {"filters": [8, 16]}},
}
SMALL_FUSION = {  # VQA fusions narrowed as in tests/tasks/vqa/test_vqa_presets.py
    "vqa_concat": {"fusion_options": {"units": 16}, "head_units": [16]},
    "vqa_san": {"fusion_options": {"dim": 16, "attention_units": 8}, "head_units": [16]},
    "vqa_mfb": {"fusion_options": {"units": 8, "factors": 2, "attention_units": 8}},
    "vqa_rn": {"fusion_options": {"g_units": [16, 16], "f_units": [16]},
               "image_options": {"filters": [4, 8, 8]}},
}


def small_model(preset):
    task = PRESETS.get(preset)["task"]
    model = mmzoo.load(preset, **{**SMALL[task], **SMALL_FUSION.get(preset, {})})
    model.adapt_text(TEXTS)
    return model


def tensor_inputs(model, rng, batch):
    """The model's own inputs, text padded to `sequence_length` by its vectorizer."""
    texts = [TEXTS[i % len(TEXTS)] for i in range(batch)]
    inputs = {}
    for name, spec in model.tensor_signature().items():
        if name == "caption":  # decoder inputs: [start, w1..wn], 0-padded
            inputs[name] = model.caption_ids(tf.constant(texts))[0].numpy()
        elif spec.dtype == tf.int32:
            vectorizer = model.text_vectorizers[name]
            inputs[name] = np.asarray(vectorizer(np.array(texts))).astype("int32")
        elif name == "image":
            inputs[name] = rng.uniform(0, 255, size=(batch, 36, 28, 3)).astype("float32")
        else:
            inputs[name] = (rng.normal(size=(batch, 8000)) * 0.1).astype("float32")
    return inputs


@pytest.mark.parametrize("preset", mmzoo.list_models())
def test_tflite_file_runs_on_builtin_ops_and_matches_keras(preset, tmp_path):
    model = small_model(preset)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the Select-ops fallback warns
        path = mmzoo.export(model, tmp_path / f"{preset}.tflite", format="tflite")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
        interpreter = tf.lite.Interpreter(model_path=str(path))
    ops = {op["op_name"] for op in interpreter._get_ops_details()}
    assert not [op for op in ops if op.startswith("Flex") or op == "CUSTOM"], ops
    assert not {"WHILE", "READ_VARIABLE"} & ops, ops  # unrolled, weights frozen
    runner = interpreter.get_signature_runner("serve_tensors")
    length = tflite_sequence_length(model)
    for name, detail in runner.get_input_details().items():
        if detail["dtype"] == np.int32:
            assert list(detail["shape_signature"]) == [-1, length], name
    rng = np.random.default_rng(0)
    for batch in (3, 1):
        x = tensor_inputs(model, rng, batch)
        got = runner(**x)
        expected = model(x)
        if not isinstance(expected, dict):
            (key,) = got
            expected = {key: expected}
        assert set(got) == set(expected)
        for key, value in expected.items():
            np.testing.assert_allclose(got[key], np.asarray(value), rtol=1e-4, atol=2e-5,
                                       err_msg=f"{preset} {key} batch {batch}")
