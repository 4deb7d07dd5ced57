"""`dtype=` per model (issue 11, item 9): every preset built with
`dtype="mixed_float16"` computes every sublayer in float16 except the layers that are
float32 by design, returns float32, and keeps its policy through a `.keras` file; and
every Keras layer that an mmzoo layer creates is given a dtype (a static check)."""

import ast
import pathlib

import keras
import numpy as np
import pytest

import mmzoo
from tests.helpers import preset_inputs, small_preset

MIXED = "mixed_float16"
# Float32 by design: logits and probabilities (a float16 softmax or cross-entropy
# loses precision and overflows), and the unit-normalised retrieval embeddings that
# the similarity logits are computed from.
FLOAT32_LAYERS = {
    "head_logits": "classifier / VQA logits (Dense)",
    "predictions": "softmax probabilities (Activation)",
    "logits": "captioner vocabulary projection; retrieval similarity logits",
    "l2_normalize": "retrieval embeddings (UnitNormalization)",
}
# ... and decision-level fusion layers (`produces_logits`: late, hybrid) with their
# per-modality logit heads ("text_head", ..., "fused_head").


def sublayers(layer, path="", float32_parent=False):
    """(path, layer, float32 by design) for every layer inside `layer`, recursively."""
    for child in layer._flatten_layers(include_self=False, recursive=False):
        child_path = f"{path}/{child.name}"
        by_design = (float32_parent or child.name in FLOAT32_LAYERS
                     or getattr(child, "produces_logits", False))
        yield child_path, child, by_design
        yield from sublayers(child, child_path, by_design)


def policies(model):
    """(layer type, policy) of every sublayer, in order (automatic names such as
    `dropout_3` differ between two builds)."""
    return [(type(layer).__name__, layer.dtype_policy.name)
            for _, layer, _ in sublayers(model)]


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")  # untrained
@pytest.mark.parametrize("preset", mmzoo.list_models())
def test_mixed_precision_reaches_every_sublayer_and_survives_a_keras_file(
        preset, tmp_path, rng):
    model = small_preset(preset, dtype=MIXED)
    assert keras.config.dtype_policy().name == "float32"  # the global policy is left alone
    assert model.dtype_policy.name == MIXED
    float32, mixed, wrong = [], [], []
    for path, layer, by_design in sublayers(model):
        (float32 if by_design else mixed).append(path)
        if layer.dtype_policy.name != ("float32" if by_design else MIXED):
            wrong.append(f"{path}: {type(layer).__name__} {layer.dtype_policy.name}")
    assert not wrong, wrong
    assert float32 and len(mixed) > 10
    assert not [v.path for v in model.weights if v.dtype == "float16"]  # float32 masters

    x = preset_inputs(model, rng, batch=2)
    outputs = model(x)
    outputs = outputs if isinstance(outputs, dict) else {"outputs": outputs}
    assert {keras.backend.standardize_dtype(v.dtype) for v in outputs.values()} == {"float32"}

    path = tmp_path / f"{preset}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.get_config()["dtype"] == MIXED
    assert policies(loaded) == policies(model)
    reloaded = loaded(x)
    reloaded = reloaded if isinstance(reloaded, dict) else {"outputs": reloaded}
    for key, value in outputs.items():
        np.testing.assert_allclose(np.asarray(reloaded[key]), np.asarray(value),
                                   rtol=1e-3, atol=1e-4, err_msg=key)


def test_a_float32_model_has_no_float16_layer():
    model = small_preset("vqa_san", adapt=False)
    assert {policy for _, policy in policies(model)} == {"float32"}
    assert "dtype" not in model.get_config()


# ----- static check: layers created inside mmzoo layers get a dtype ---------------------
MMZOO = pathlib.Path(mmzoo.__file__).parent


def _dotted(node):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


def _classes():
    """name -> (file, ClassDef, base names) for every class in mmzoo/."""
    found = {}
    for path in sorted(MMZOO.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                found[node.name] = (path, node, [_dotted(b) or "" for b in node.bases])
    return found


def _subclasses(classes, roots):
    """Names of the classes whose bases reach one of `roots` (dotted or bare names)."""
    names, grown = set(), True
    while grown:
        grown = False
        for name, (_, _, bases) in classes.items():
            if name not in names and any(b in roots or b.split(".")[-1] in names
                                         for b in bases):
                names.add(name)
                grown = True
    return names


def test_layers_created_inside_custom_layers_pass_a_dtype():
    """A sublayer built without `dtype=` takes Keras' global policy, not its parent's:
    wrong whenever a model's `dtype=` differs from the global one. Task models are
    exempt: they build their functional graph under their own policy."""
    classes = _classes()
    keras_layer_bases = {"keras.layers.Layer", "keras.Layer", "Layer"} | {
        b for _, _, bases in classes.values() for b in bases
        if b.startswith("keras.layers.")}
    models = _subclasses(classes, {"keras.Model", "keras.models.Model"})
    layers = _subclasses(classes, keras_layer_bases) - models
    assert {"TransformerBlock", "AttentionLSTMDecoder", "LateFusion"} <= layers
    missing = []
    for name in sorted(layers):
        path, node, _ = classes[name]
        for call in ast.walk(node):
            if not isinstance(call, ast.Call) or not _dotted(call.func):
                continue
            callee = _dotted(call.func)
            creates_layer = ((callee.startswith("keras.layers.")
                              and callee.split(".")[-1][:1].isupper())
                             or callee.split(".")[-1] in layers)
            keywords = {keyword.arg for keyword in call.keywords}  # None: **kwargs
            if creates_layer and not keywords & {"dtype", None}:
                missing.append(f"{path.relative_to(MMZOO.parent)}:{call.lineno} "
                               f"{name}: {callee}(...)")
    assert not missing, "layers created without dtype=:\n" + "\n".join(missing)
