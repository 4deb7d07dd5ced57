"""Every preset's TFLite file runs on the standard interpreter (builtin ops only, no
Flex delegate) and gives the Keras model's outputs, at two batch sizes.

Presets are built small (the families' test sizes, short text) so that the unrolled
recurrences convert quickly; the architecture is the preset's.
"""

import warnings

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

import mmzoo
from mmzoo.exporting import tflite_sequence_length
from tests.helpers import preset_inputs, small_preset


@pytest.mark.parametrize("preset", mmzoo.list_models())
def test_tflite_file_runs_on_builtin_ops_and_matches_keras(preset, tmp_path):
    model = small_preset(preset)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the Select-ops fallback warns
        path = mmzoo.export(model, tmp_path / f"{preset}.tflite", format="tflite")
    interpreter = Interpreter(model_path=str(path))
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
        x = preset_inputs(model, rng, batch)
        got = runner(**x)
        expected = model(x)
        if not isinstance(expected, dict):
            (key,) = got
            expected = {key: expected}
        assert set(got) == set(expected)
        for key, value in expected.items():
            np.testing.assert_allclose(got[key], np.asarray(value), rtol=1e-4, atol=2e-5,
                                       err_msg=f"{preset} {key} batch {batch}")
