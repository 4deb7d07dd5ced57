"""Each fusion layer against a NumPy implementation of its formula."""

import math

import keras
import numpy as np
import pytest

from mmzoo.fusion import build_fusion, masked_softmax
from mmzoo.registry import FUSIONS

MODALITIES_3 = ["text", "image", "audio"]
DIMS = {"text": 6, "image": 5, "audio": 3}


def _features(rng, modalities, batch=4):
    return {m: rng.normal(size=(batch, DIMS[m])).astype("float32") for m in modalities}


def _presence(modalities, batch=4):
    # Example 1 lacks the second modality, example 2 lacks the first.
    presence = {m: np.ones(batch, "float32") for m in modalities}
    presence[modalities[1]][1] = 0.0
    presence[modalities[0]][2] = 0.0
    return presence


def _dense(layer, x, activation=None):
    y = x @ layer.kernel.numpy() + layer.bias.numpy()
    return {None: y, "tanh": np.tanh(y), "relu": np.maximum(y, 0)}[activation]


def _softmax(scores, present, axis):
    scores = np.where(present > 0, scores, -1e9)
    e = np.exp(scores - scores.max(axis=axis, keepdims=True)) * (present > 0)
    return e / e.sum(axis=axis, keepdims=True)


def _col(p):
    return p[:, None]


def reference(name, layer, h, p):
    mods = layer.modalities
    if name == "concat":
        return np.concatenate([h[m] * _col(p[m]) for m in mods], -1)
    if name in ("late", "hybrid"):
        logits = {m: _dense(layer.heads[m], h[m]) for m in mods}
        if layer.learn_weights:
            theta = layer.weight_logits.numpy()
            w = np.exp(theta) / np.exp(theta).sum()
        else:
            w = np.array(layer.modality_weights or [1.0] * len(mods))
        num = sum(w[i] * _col(p[m]) * logits[m] for i, m in enumerate(mods))
        den = sum(w[i] * _col(p[m]) for i, m in enumerate(mods))
        late = num / np.maximum(den, 1e-6)
        if name == "late":
            return late
        early = np.concatenate([h[m] * _col(p[m]) for m in mods], -1)
        fused = _dense(layer.fused_head, early)
        a = layer.fused_weight
        return a * fused + (1 - a) * late, np.stack([logits[m] for m in mods], 1)
    if name == "attention":
        x = {m: _dense(layer.projections[m], h[m], "tanh") for m in mods}
        context = np.concatenate([x[m] * _col(p[m]) for m in mods], -1)
        scores = np.concatenate([_dense(layer.scorers[m], context) for m in mods], -1)
        present = np.stack([p[m] for m in mods], -1)
        a = _softmax(scores, present, axis=-1)
        return sum(a[:, i:i + 1] * x[m] for i, m in enumerate(mods))
    if name == "gated":
        hidden = {m: _dense(layer.transforms[m], h[m], "tanh") for m in mods}
        joint = np.concatenate([h[m] * _col(p[m]) for m in mods], -1)
        gates = np.stack([_dense(layer.gates[m], joint) for m in mods], 1)
        present = np.stack([p[m] for m in mods], 1)[:, :, None] * np.ones_like(gates)
        z = _softmax(gates, present, axis=1)
        return sum(z[:, i] * hidden[m] for i, m in enumerate(mods))
    if name == "tensor":
        z = [np.concatenate([np.ones((len(p[m]), 1)),
                             _dense(layer.projections[m], h[m], "relu") * _col(p[m])], -1)
             for m in mods]
        out = z[0]
        for factor in z[1:]:
            out = np.einsum("bi,bj->bij", out, factor).reshape(len(out), -1)
        return out
    if name == "low_rank":
        product = 1.0
        for m in mods:
            augmented = np.concatenate([np.ones((len(p[m]), 1)), h[m] * _col(p[m])], -1)
            product = product * np.einsum("bd,rdu->bru", augmented, layer.factors[m].numpy())
        return np.einsum("bru,r->bu", product, layer.rank_weights.numpy()) + layer.bias.numpy()
    raise AssertionError(name)


POOLED_CASES = [
    ("concat", {}),
    ("late", {"num_classes": 3}),
    ("late", {"num_classes": 3, "modality_weights": [1.0, 2.0, 3.0]}),
    ("late", {"num_classes": 3, "learn_weights": True, "modality_weights": [1.0, 2.0, 3.0]}),
    ("hybrid", {"num_classes": 3, "fused_weight": 0.3}),
    ("attention", {"dim": 7}),
    ("gated", {"units": 7}),
    ("tensor", {"dim": 3}),
    ("low_rank", {"units": 7, "rank": 3}),
]


@pytest.mark.parametrize("count", [2, 3])
@pytest.mark.parametrize("name, options", POOLED_CASES)
def test_pooled_fusion_matches_numpy_reference(name, options, count, rng):
    modalities = MODALITIES_3[:count]
    if "modality_weights" in options:
        options = {**options, "modality_weights": options["modality_weights"][:count]}
    layer = build_fusion(name, modalities, **options)
    h, p = _features(rng, modalities), _presence(modalities)
    layer(h, presence=p)  # builds
    # Random biases and weights, so that the reference checks every term.
    for weight in layer.weights:
        weight.assign(rng.normal(size=weight.shape).astype("float32") * 0.5)
    out = layer(h, presence=p)
    expected = reference(name, layer, h, p)
    if isinstance(expected, tuple):
        np.testing.assert_allclose(out[0], expected[0], atol=1e-5)
        np.testing.assert_allclose(out[1], expected[1], atol=1e-5)
    else:
        np.testing.assert_allclose(out, expected, atol=1e-5, rtol=1e-5)


def test_learned_late_weights_over_one_modality_are_one_without_a_warning(rng):
    """One modality: its learned weight is exactly 1 (the head's logits), the weight
    still gets a (zero) gradient, and Keras' size-1 softmax warning is not raised."""
    import warnings

    import tensorflow as tf

    layer = build_fusion("late", MODALITIES_3[:1], num_classes=3, learn_weights=True)
    h = _features(rng, MODALITIES_3[:1])
    p = {MODALITIES_3[0]: np.ones(4, "float32")}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with tf.GradientTape() as tape:
            out = layer(h, presence=p)
        gradient = tape.gradient(out, layer.weight_logits)
    head = layer.heads[MODALITIES_3[0]]
    np.testing.assert_allclose(out, _dense(head, h[MODALITIES_3[0]]), atol=1e-5)
    assert gradient is not None
    np.testing.assert_allclose(gradient, 0.0, atol=1e-5)


@pytest.mark.parametrize("name, options", POOLED_CASES)
def test_missing_modality_features_never_reach_the_output(name, options, rng):
    layer = build_fusion(name, MODALITIES_3, **options)
    h, p = _features(rng, MODALITIES_3), _presence(MODALITIES_3)
    out = layer(h, presence=p)
    changed = {m: v.copy() for m, v in h.items()}
    changed["image"][1] = 1000.0  # example 1 lacks image
    changed["text"][2] = -1000.0  # example 2 lacks text
    out_changed = layer(changed, presence=p)
    first = out[0] if isinstance(out, tuple) else out
    second = out_changed[0] if isinstance(out_changed, tuple) else out_changed
    np.testing.assert_allclose(first, second, atol=1e-5)


@pytest.mark.parametrize("name, options", POOLED_CASES[:1] + POOLED_CASES[4:])
def test_fusion_config_round_trip(name, options, rng):
    layer = build_fusion(name, MODALITIES_3, **options)
    h = _features(rng, MODALITIES_3)
    out = layer(h)
    clone = keras.layers.deserialize(keras.layers.serialize(layer))
    clone(h)
    clone.set_weights(layer.get_weights())
    out_clone = clone(h)
    first = out[0] if isinstance(out, tuple) else out
    second = out_clone[0] if isinstance(out_clone, tuple) else out_clone
    np.testing.assert_allclose(first, second, atol=1e-6)


def test_gated_two_modalities_is_the_sigmoid_gmu(rng):
    layer = build_fusion("gated", ["image", "audio"], units=4)
    h = _features(rng, ["image", "audio"])
    out = layer(h).numpy()
    joint = np.concatenate([h["image"], h["audio"]], -1)
    z = 1 / (1 + np.exp(-(_dense(layer.gates["image"], joint)
                          - _dense(layer.gates["audio"], joint))))
    expected = (z * _dense(layer.transforms["image"], h["image"], "tanh")
                + (1 - z) * _dense(layer.transforms["audio"], h["audio"], "tanh"))
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_masked_softmax_with_nothing_present_is_zero_not_nan():
    weights = masked_softmax(np.array([[1.0, 2.0]]), np.array([[0.0, 0.0]]), axis=-1)
    np.testing.assert_array_equal(weights, [[0.0, 0.0]])


def test_fusion_rejects_wrong_modalities(rng):
    layer = build_fusion("concat", ["text", "image"])
    with pytest.raises(ValueError, match="missing \\['image'\\]"):
        layer({"text": rng.normal(size=(2, 3)).astype("float32"),
               "audio": rng.normal(size=(2, 3)).astype("float32")})
    with pytest.raises(ValueError, match="distinct modality names"):
        build_fusion("concat", ["text", "text"])
    with pytest.raises(KeyError, match="Did you mean 'tensor'"):
        build_fusion("tensr", ["text", "image"])


# ----- cross-modal transformer ----------------------------------------------------

def _layer_norm(x, layer):
    mean = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + layer.epsilon) * layer.gamma.numpy() + layer.beta.numpy()


def _gelu(x):
    return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


def _mha(layer, query, value, mask):
    q = np.einsum("btd,dhk->bthk", query, layer._query_dense.kernel.numpy()) \
        + layer._query_dense.bias.numpy()
    k = np.einsum("btd,dhk->bthk", value, layer._key_dense.kernel.numpy()) \
        + layer._key_dense.bias.numpy()
    v = np.einsum("btd,dhk->bthk", value, layer._value_dense.kernel.numpy()) \
        + layer._value_dense.bias.numpy()
    scores = np.einsum("bqhk,bshk->bhqs", q, k) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = np.where(mask[:, None], scores, -1e9)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    out = np.einsum("bhqs,bshk->bqhk", weights, v)
    return np.einsum("bqhk,hkd->bqd", out, layer._output_dense.kernel.numpy()) \
        + layer._output_dense.bias.numpy()


def _block(block, x, context, x_mask, context_mask):
    query = _layer_norm(x, block.query_norm)
    ctx = _layer_norm(context, block.context_norm)
    mask = np.ones((x.shape[0], x.shape[1], context.shape[1]), bool)
    if context_mask is not None:
        mask &= context_mask[:, None, :]
    x = x + _mha(block.attention, query, ctx, mask)
    hidden = _gelu(_layer_norm(x, block.ffn_norm) @ block.ffn_hidden.kernel.numpy()
                   + block.ffn_hidden.bias.numpy())
    return x + hidden @ block.ffn_output.kernel.numpy() + block.ffn_output.bias.numpy()


def cross_transformer_reference(layer, seqs, presence, masks):
    mods = layer.modalities
    projected = {m: seqs[m] @ layer.projections[m].kernel.numpy()
                 + layer.projections[m].bias.numpy() for m in mods}
    pooled = []
    for target in mods:
        total, count = 0.0, 0.0
        for source in mods:
            if source == target:
                continue
            x = projected[target]
            for index in range(layer.num_layers):
                block = layer.blocks[f"{source}_to_{target}_{index}"]
                x = _block(block, x, projected[source], masks.get(target), masks.get(source))
            share = presence[source][:, None, None]
            total, count = total + share * x, count + share
        seq = np.where(count > 0, total / np.maximum(count, 1.0), projected[target])
        valid = masks.get(target, np.ones(seq.shape[:2], bool))[..., None]
        vector = (seq * valid).sum(1) / np.maximum(valid.sum(1), 1)
        pooled.append(vector * presence[target][:, None])
    return np.concatenate(pooled, -1)


@pytest.mark.parametrize("count", [2, 3])
def test_cross_transformer_matches_numpy_reference(count, rng):
    mods = MODALITIES_3[:count]
    lengths = {"text": 7, "image": 4, "audio": 5}
    seqs = {m: rng.normal(size=(4, lengths[m], DIMS[m])).astype("float32") for m in mods}
    masks = {"text": np.arange(7)[None] < np.array([[7], [3], [1], [5]])}
    presence = _presence(mods)
    layer = build_fusion("cross_transformer", mods, dim=8, num_heads=2, num_layers=2,
                         ffn_dim=16)
    layer(seqs, presence=presence, sequence_masks=masks)
    for weight in layer.weights:
        weight.assign(rng.normal(size=weight.shape).astype("float32") * 0.3)
    out = layer(seqs, presence=presence, sequence_masks=masks).numpy()
    expected = cross_transformer_reference(layer, seqs, presence, masks)
    assert out.shape == (4, 8 * count)
    np.testing.assert_allclose(out, expected, atol=1e-4, rtol=1e-4)


def test_every_registered_fusion_is_tested():
    from tests.fusion.test_fusion_vqa import TESTED_FUSIONS

    import mmzoo.tasks  # noqa: F401  (tasks register their own fusions too)

    tested = {name for name, _ in POOLED_CASES} | {"cross_transformer"} | set(TESTED_FUSIONS)
    assert set(FUSIONS.names()) == tested
