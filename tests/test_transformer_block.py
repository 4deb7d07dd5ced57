"""TransformerBlock: only cross-attention blocks have a context_norm, so training a
self-attention stack no longer warns "Gradients do not exist", and files saved when
every block had one still load with the same outputs."""

import pathlib
import warnings

import keras
import numpy as np
import pytest

import mmzoo
from mmzoo.layers import TransformerBlock

OLD_FILES = pathlib.Path(__file__).resolve().parent / "data" / "caption_transformer_0.1"


def _norm_names(layer):
    return sorted(v.path.split("/", 1)[1] for v in layer.weights if "norm" in v.path)


def test_only_cross_attention_blocks_have_a_context_norm(rng):
    x = rng.normal(size=(2, 5, 8)).astype("float32")
    z = rng.normal(size=(2, 3, 6)).astype("float32")
    self_block = TransformerBlock(num_heads=2, key_dim=4, ffn_dim=16, name="self_block")
    cross_block = TransformerBlock(num_heads=2, key_dim=4, ffn_dim=16, name="cross_block")
    self_block(x)
    cross_block(x, context=z)
    assert _norm_names(self_block) == ["ffn_norm/beta", "ffn_norm/gamma",
                                       "query_norm/beta", "query_norm/gamma"]
    assert _norm_names(cross_block) == ["context_norm/beta", "context_norm/gamma",
                                        "ffn_norm/beta", "ffn_norm/gamma",
                                        "query_norm/beta", "query_norm/gamma"]
    assert cross_block.context_norm.gamma.shape == (6,)


def test_caption_transformer_trains_without_gradient_warnings(rng):
    model = mmzoo.load("caption_transformer", image_backbone="simple_cnn",
                       image_weights=None, word_embeddings=None,
                       image_options={"filters": [4, 8]},
                       image_size=16, vocab_size=30, embed_dim=8, num_heads=2, ffn_dim=16,
                       num_layers=1, encoder_layers=1, sequence_length=6, min_word_count=1)
    texts = ["a dog runs on the grass", "two children play in the snow"]
    model.adapt_text(texts)
    images = rng.uniform(0, 255, (2, 16, 16, 3)).astype("float32")
    inputs = {"image": images, **model.preprocess(caption=texts)}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.train_on_batch(inputs, model.preprocess(caption=texts)["caption"])
    messages = [str(w.message) for w in caught]
    assert not [m for m in messages if "Gradients do not exist" in m], messages


def test_caption_transformer_saved_before_the_fix_loads_with_equal_outputs():
    expected = np.load(OLD_FILES / "expected.npz")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        model = keras.saving.load_model(OLD_FILES / "captioner.keras")
    assert not [v.path for v in model.weights if "context_norm" in v.path]
    output = model({"image": expected["images"], "caption": expected["caption"]},
                   training=False)
    np.testing.assert_allclose(np.asarray(output), expected["output"], atol=1e-6)


@pytest.mark.parametrize("preset, weights", [("sentiment_mult", "avdigits_noisy"),
                                             ("caption_sat", "flickr8k")])
def test_shipped_weights_still_load(preset, weights):
    model = mmzoo.load(preset, weights=weights, compile=False)
    assert model.weights_metadata["preset"] == preset
