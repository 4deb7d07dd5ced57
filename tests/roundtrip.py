"""Round-trip checks shared by the task tests.

`keras_round_trip(model, inputs, folder)` saves `model` as `.keras`, loads it back
without custom objects and checks its class, config and predictions (equal, not close).
`check_in_fresh_process(cases)` writes each case's inputs, runs one new Python process
that loads every SavedModel with `tf.saved_model.load` (no mmzoo import) and calls the
named signatures, and returns their outputs for the caller to compare.
"""

import pickle
import subprocess
import sys
import textwrap

import keras
import numpy as np

_SCRIPT = textwrap.dedent("""
    import os, pickle, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import tensorflow as tf
    assert "mmzoo" not in sys.modules
    with open(sys.argv[1], "rb") as handle:
        cases = pickle.load(handle)
    results = {}
    for key, case in cases.items():
        served = tf.saved_model.load(case["path"])
        signature = served.signatures[case["signature"]]
        outputs = signature(**{k: tf.constant(v) for k, v in case["inputs"].items()})
        results[key] = {k: v.numpy() for k, v in outputs.items()}
    with open(sys.argv[2], "wb") as handle:
        pickle.dump(results, handle)
""")


def check_in_fresh_process(cases, workdir):
    """cases: key -> {"path", "signature", "inputs"}; returns key -> outputs dict."""
    cases_file, results_file = workdir / "cases.pkl", workdir / "results.pkl"
    with open(cases_file, "wb") as handle:
        pickle.dump(cases, handle)
    completed = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(cases_file), str(results_file)],
        capture_output=True, text=True, timeout=900,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    with open(results_file, "rb") as handle:
        return pickle.load(handle)


def keras_round_trip(model, inputs, folder):
    """Saves `model` to `folder/model.keras`, loads it (no custom_objects) and asserts the
    same class, config and predictions on `inputs`; returns the loaded model for the
    family's own checks."""
    path = folder / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is type(model)
    assert loaded.get_config() == model.get_config()
    keras.tree.map_structure(np.testing.assert_array_equal,
                             loaded.predict(inputs, verbose=0), model.predict(inputs, verbose=0))
    return loaded
