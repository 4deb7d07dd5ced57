"""The VQA fusion layers (hadamard, mfb, mfb_coattention, relation, stacked_attention)
against NumPy implementations of their formulas, plus config and `.keras` round trips."""

import keras
import numpy as np
import pytest

import mmzoo.tasks  # noqa: F401  (registers stacked_attention)
from mmzoo.fusion import build_fusion
from mmzoo.fusion.bilinear import signed_sqrt
from mmzoo.fusion.relation import grid_coordinates

# The fusions this file tests (tests/test_fusion.py covers the others).
TESTED_FUSIONS = ("hadamard", "mfb", "mfb_coattention", "relation", "stacked_attention")
MODALITIES = ["image", "question"]
B, N, T, DV, DQ = 3, 9, 5, 6, 4


@pytest.fixture
def inputs(rng):
    grid = rng.normal(size=(B, N, DV)).astype("float32")
    words = rng.normal(size=(B, T, DQ)).astype("float32")
    mask = np.arange(T)[None] < np.array([[5], [2], [1]])
    vector = rng.normal(size=(B, DQ)).astype("float32")
    return {"grid": grid, "words": words, "mask": mask, "vector": vector}


def _randomize(layer, rng, scale=0.5):
    for weight in layer.weights:
        weight.assign(rng.normal(size=weight.shape).astype("float32") * scale)


def _dense(layer, x, activation=None):
    y = x @ layer.kernel.numpy()
    if layer.use_bias:
        y = y + layer.bias.numpy()
    return {None: y, "tanh": np.tanh(y), "relu": np.maximum(y, 0)}[activation]


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _masked_softmax(x, valid, axis):
    e = np.exp(np.where(valid, x, -1e9) - np.where(valid, x, -1e9).max(axis, keepdims=True))
    e = e * valid
    return e / np.maximum(e.sum(axis, keepdims=True), 1e-12)


def _mfb(x, y, factors, eps=1e-8):
    """SumPool_k(x * y), signed square root, L2 normalisation (the documented formula)."""
    joint = x * y
    pooled = joint.reshape(*joint.shape[:-1], -1, factors).sum(-1)
    powered = np.sign(pooled) * (np.sqrt(np.abs(pooled) + eps) - np.sqrt(eps))
    norm = np.sqrt(np.maximum((powered ** 2).sum(-1, keepdims=True), 1e-12))
    return powered / norm


# ----- hadamard and MFB ---------------------------------------------------------------

def test_hadamard_matches_numpy_reference(rng, inputs):
    layer = build_fusion("hadamard", MODALITIES, units=7)
    features = {"image": inputs["grid"][:, 0], "question": inputs["vector"]}
    presence = {"image": np.array([1.0, 0.0, 1.0], "float32"),
                "question": np.array([1.0, 1.0, 0.0], "float32")}
    layer(features, presence=presence)
    _randomize(layer, rng)
    out = layer(features, presence=presence).numpy()
    expected = 1.0
    for m in MODALITIES:
        p = presence[m][:, None]
        expected = expected * (p * _dense(layer.projections[m], features[m], "tanh") + 1 - p)
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_mfb_matches_numpy_reference(rng, inputs):
    layer = build_fusion("mfb", MODALITIES, units=4, factors=3, dropout=0.3)
    features = {"image": inputs["grid"][:, 0], "question": inputs["vector"]}
    layer(features)
    _randomize(layer, rng)
    out = layer(features, training=False).numpy()
    x = _dense(layer.projections["image"], features["image"])
    y = _dense(layer.projections["question"], features["question"])
    np.testing.assert_allclose(out, _mfb(x, y, 3), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(out, axis=-1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="exactly two modalities"):
        build_fusion("mfb", ["image", "question", "audio"])


def test_signed_sqrt_is_the_power_normalisation_with_finite_gradients():
    import tensorflow as tf

    z = np.array([-4.0, -1e-3, 0.0, 1e-3, 9.0], "float32")
    np.testing.assert_allclose(signed_sqrt(z), np.sign(z) * np.sqrt(np.abs(z)), atol=1e-4)
    variable = tf.Variable(z)
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(signed_sqrt(variable))
    assert np.isfinite(tape.gradient(total, variable).numpy()).all()


def mfb_coattention_reference(layer, grid, words, mask):
    hidden = _dense(layer.question_hidden, words, "relu")
    scores = _dense(layer.question_scores, hidden)                      # [B, T, G]
    attention = _masked_softmax(scores, mask[..., None], axis=1)
    attended = np.einsum("btg,btd->bgd", attention, words).reshape(len(words), -1)
    joint = _mfb(_dense(layer.attention_grid, grid),
                 _dense(layer.attention_query, attended)[:, None], layer.factors)
    scores = _dense(layer.image_scores, _dense(layer.image_hidden, joint, "relu"))
    image_attention = _softmax(scores, axis=1)                          # [B, N, G']
    image = np.einsum("bng,bnd->bgd", image_attention, grid).reshape(len(grid), -1)
    return _mfb(_dense(layer.output_grid, image), _dense(layer.output_query, attended),
                layer.factors)


def test_mfb_coattention_matches_numpy_reference(rng, inputs):
    layer = build_fusion("mfb_coattention", MODALITIES, units=4, factors=3,
                         attention_units=5, question_glimpses=2, image_glimpses=3)
    features = {"image": inputs["grid"], "question": inputs["words"]}
    masks = {"question": inputs["mask"]}
    layer(features, sequence_masks=masks)
    _randomize(layer, rng)
    out = layer(features, sequence_masks=masks, training=False).numpy()
    expected = mfb_coattention_reference(layer, inputs["grid"], inputs["words"],
                                         inputs["mask"])
    assert out.shape == (B, 4)
    np.testing.assert_allclose(out, expected, atol=1e-5)
    # Padded words never reach the output.
    changed = inputs["words"].copy()
    changed[~inputs["mask"]] = 100.0
    again = layer({"image": inputs["grid"], "question": changed}, sequence_masks=masks)
    np.testing.assert_allclose(again, out, atol=1e-5)


# ----- relation network ----------------------------------------------------------------

def relation_reference(layer, grid, query):
    """f(sum_{i,j} g([o_i; o_j; q])) with the pairs built explicitly."""
    coords = grid_coordinates(grid.shape[1])
    objects = np.concatenate([grid, np.broadcast_to(coords, (len(grid), *coords.shape))], -1)
    outputs = []
    for b in range(len(grid)):
        total = 0.0
        for i in range(len(objects[b])):
            for j in range(len(objects[b])):
                x = np.concatenate([objects[b, i], objects[b, j], query[b]])
                for k in range(len(layer.g_units)):
                    x = _dense(layer.g_layers[f"g_{k}"], x, "relu")
                total = total + x
        outputs.append(total)
    x = np.stack(outputs)
    for k in range(len(layer.f_units)):
        x = _dense(layer.f_layers[f"f_{k}"], x, "relu")
    return x


def test_grid_coordinates_are_row_major_xy():
    np.testing.assert_allclose(grid_coordinates(4), [[-1, -1], [1, -1], [-1, 1], [1, 1]])
    with pytest.raises(ValueError, match="must be a square"):
        grid_coordinates(6)


def test_relation_matches_numpy_reference(rng, inputs):
    layer = build_fusion("relation", MODALITIES, g_units=(5, 6, 4), f_units=(3,),
                         dropout=0.5)
    features = {"image": inputs["grid"], "question": inputs["vector"]}
    layer(features)
    _randomize(layer, rng, scale=0.3)
    out = layer(features, training=False).numpy()
    expected = relation_reference(layer, inputs["grid"], inputs["vector"])
    assert out.shape == (B, 3)
    np.testing.assert_allclose(out, expected, atol=1e-4, rtol=1e-5)


def test_relation_pools_a_word_sequence_over_its_mask(rng, inputs):
    layer = build_fusion("relation", MODALITIES, g_units=(5,), f_units=(), pooling="mean")
    masks = {"question": inputs["mask"]}
    out = layer({"image": inputs["grid"], "question": inputs["words"]},
                sequence_masks=masks).numpy()
    valid = inputs["mask"][..., None]
    mean = (inputs["words"] * valid).sum(1) / valid.sum(1)
    pooled = layer({"image": inputs["grid"], "question": mean}).numpy()
    np.testing.assert_allclose(out, pooled, atol=1e-5)
    with pytest.raises(ValueError, match="pooling must be one of"):
        build_fusion("relation", MODALITIES, pooling="max")


# ----- stacked attention ---------------------------------------------------------------

def stacked_attention_reference(layer, grid, query):
    regions = _dense(layer.grid_projection, grid, "tanh")
    u = _dense(layer.query_projection, query, "tanh")
    for k in range(layer.hops):
        hop = f"hop_{k}"
        hidden = np.tanh(_dense(layer.attend_grid[hop], regions)
                         + _dense(layer.attend_query[hop], u)[:, None])
        p = _softmax(_dense(layer.scores[hop], hidden)[..., 0], axis=-1)
        u = np.einsum("bn,bnd->bd", p, regions) + u
    return u


def test_stacked_attention_matches_numpy_reference(rng, inputs):
    layer = build_fusion("stacked_attention", MODALITIES, dim=7, attention_units=5, hops=2)
    features = {"image": inputs["grid"], "question": inputs["vector"]}
    layer(features)
    _randomize(layer, rng)
    out = layer(features).numpy()
    np.testing.assert_allclose(
        out, stacked_attention_reference(layer, inputs["grid"], inputs["vector"]), atol=1e-5)


# ----- round trips --------------------------------------------------------------------

CASES = [
    ("hadamard", {"units": 5}, "pooled"),
    ("mfb", {"units": 4, "factors": 2}, "pooled"),
    ("mfb_coattention", {"units": 4, "factors": 2, "attention_units": 3}, "words"),
    ("relation", {"g_units": (4, 4), "f_units": (3,)}, "vector"),
    ("stacked_attention", {"dim": 4, "attention_units": 3, "hops": 3}, "vector"),
]


def _case_features(kind, inputs):
    if kind == "pooled":
        return {"image": inputs["grid"][:, 0], "question": inputs["vector"]}, None
    if kind == "words":
        return ({"image": inputs["grid"], "question": inputs["words"]},
                {"question": inputs["mask"]})
    return {"image": inputs["grid"], "question": inputs["vector"]}, None


def test_every_vqa_fusion_has_a_round_trip_case():
    assert {name for name, _, _ in CASES} == set(TESTED_FUSIONS)


@pytest.mark.parametrize("name, options, kind", CASES)
def test_config_and_keras_file_round_trip(name, options, kind, inputs, rng, tmp_path):
    features, masks = _case_features(kind, inputs)
    layer = build_fusion(name, MODALITIES, **options)
    layer(features, sequence_masks=masks)
    _randomize(layer, rng, scale=0.3)
    out = layer(features, sequence_masks=masks).numpy()
    clone = keras.layers.deserialize(keras.layers.serialize(layer))
    assert clone.get_config() == layer.get_config()
    clone(features, sequence_masks=masks)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(features, sequence_masks=masks), out, atol=1e-6)

    symbolic = {m: keras.Input(v.shape[1:], name=m) for m, v in features.items()}
    symbolic_masks = None
    if masks:
        symbolic_masks = {"question": keras.Input((T,), dtype="bool", name="mask")}
    model = keras.Model([symbolic, symbolic_masks] if masks else symbolic,
                        build_fusion(name, MODALITIES, name="fusion", **options)(
                            symbolic, sequence_masks=symbolic_masks))
    model.get_layer("fusion").set_weights(layer.get_weights())
    model_inputs = [features, masks] if masks else features
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)  # no custom_objects
    np.testing.assert_allclose(loaded.predict(model_inputs, verbose=0), out, atol=1e-5)
