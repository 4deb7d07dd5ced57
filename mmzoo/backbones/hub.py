"""KerasHub backbones as mmzoo encoders: any text or image preset, and MiniLM.

`keras_hub` (registered as a text backbone) wraps any KerasHub text `Backbone` preset -
a local preset folder or a hub handle ("hf://...", "kaggle://...", which need the
network the first time) - in the mmzoo encoder contract: int32 token ids `[B, T]` with 0
= padding in; `sequence` `[B, T, D]`, `sequence_mask` (ids != 0) and `pooled` = the mean
over the valid tokens (sentence-transformers' pooling) out. The backbone sees
`padding_mask` = ids != 0 and `segment_ids` = 0.

`keras_hub_image` does the same for image presets: raw pixels in, resized and scaled
by the preset's `ImageConverter` settings inside the model (see its docstring).

`minilm` is the text adapter on `mmzoo.pretrained.fetch("minilm")` (sentence-transformers
all-MiniLM-L6-v2, 384 wide). Its `pooled` output is the sentence embedding before
sentence-transformers' final L2 normalisation. KerasHub's `BertBackbone` computes GELU
with the tanh approximation (as Google's original BERT did); MiniLM was trained with
the exact (erf) GELU of Hugging Face's BERT, and the approximation moves its pooled
output by up to 1.2e-3, so `minilm` runs `ExactGeluBertBackbone` (and `keras_hub` does
with `exact_gelu=True`).

Token ids come from `tokenizer_for_backbone(name, options, sequence_length)`: an
`mmzoo.preprocessing.WordPieceTokenizer` with the preset's vocabulary for these
backbones, `None` for the word-level ones (they keep `TextVectorization`).

>>> encoder = BACKBONES.get("minilm")()                  # pretrained, 22.7M parameters
>>> encoder = BACKBONES.get("keras_hub")(preset="hf://google-bert/bert-base-uncased")
>>> tokenize = tokenizer_for_backbone("minilm", {}, sequence_length=64)
>>> encoder(tokenize(["A man is eating food."]))["pooled"].shape   # (1, 384)

Inside a saved model the KerasHub backbone is stored by its config and weights, so a
`.keras` file reloads without the preset, the source package or the network.
"""

import os
import pathlib

import keras
import keras_hub

from mmzoo.backbones.base import encoder_model
from mmzoo.layers import MaskedGlobalPooling1D, PaddingMask
from mmzoo.pretrained import fetch
from mmzoo.pretrained.minilm import ARCHITECTURE as MINILM_ARCHITECTURE
from mmzoo.registry import BACKBONES


@keras.saving.register_keras_serializable(package="mmzoo")
class HubTextInputs(keras.layers.Layer):
    """Token ids `[B, T]` -> the input dict of a KerasHub text backbone: `token_ids`,
    `padding_mask` (ids != padding_id, int32) and, when `segment_ids`, zeros."""

    def __init__(self, padding_id=0, segment_ids=True, **kwargs):
        super().__init__(**kwargs)
        self.padding_id = int(padding_id)
        self.segment_ids = bool(segment_ids)

    def call(self, ids):
        ids = keras.ops.cast(ids, "int32")
        valid = keras.ops.not_equal(ids, self.padding_id)
        inputs = {"token_ids": ids, "padding_mask": keras.ops.cast(valid, "int32")}
        if self.segment_ids:
            inputs["segment_ids"] = keras.ops.zeros_like(ids)
        return inputs

    def compute_output_spec(self, ids):
        names = ["token_ids", "padding_mask"] + (["segment_ids"] if self.segment_ids else [])
        return {name: keras.KerasTensor(ids.shape, dtype="int32") for name in names}

    def get_config(self):
        return {**super().get_config(), "padding_id": self.padding_id,
                "segment_ids": self.segment_ids}


@keras.saving.register_keras_serializable(package="mmzoo")
class ExactGeluBertBackbone(keras_hub.models.BertBackbone):
    """KerasHub's `BertBackbone` with the exact (erf) GELU in its feed-forward layers,
    as in Hugging Face's BERT. Same constructor, config and weights.

    >>> exact = ExactGeluBertBackbone.from_config(bert_backbone.get_config())
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The layers are built by the functional construction above; Keras runs their
        # `call` again on every call, so the new activation is what computes.
        for index in range(self.num_layers):
            block = self.get_layer(f"transformer_layer_{index}")
            block.activation = keras.activations.gelu  # approximate=False
            block._feedforward_intermediate_dense.activation = block.activation


def with_exact_gelu(bert_backbone):
    """An `ExactGeluBertBackbone` holding the weights of a KerasHub `BertBackbone`."""
    if not isinstance(bert_backbone, keras_hub.models.BertBackbone):
        raise ValueError(f"exact_gelu applies to BertBackbone presets, not "
                         f"{type(bert_backbone).__name__}.")
    exact = ExactGeluBertBackbone.from_config(bert_backbone.get_config())
    exact.set_weights(bert_backbone.get_weights())
    return exact


def hub_text_encoder(hub_backbone, name):
    """Wraps a built KerasHub text backbone in the mmzoo encoder contract."""
    expected = {tensor.name for tensor in keras.tree.flatten(hub_backbone.input)}
    if not {"token_ids", "padding_mask"} <= expected:
        raise ValueError(
            f"{type(hub_backbone).__name__} is not a KerasHub text backbone mmzoo can "
            f"drive: it takes {sorted(expected)}, not token_ids + padding_mask.")
    ids = keras.Input((None,), dtype="int32", name="token_ids")
    mask = PaddingMask(name="padding_mask")(ids)
    hub_inputs = HubTextInputs(segment_ids="segment_ids" in expected,
                               name="hub_inputs")(ids)
    outputs = hub_backbone({key: hub_inputs[key] for key in expected})
    sequence = outputs["sequence_output"] if isinstance(outputs, dict) else outputs
    pooled = MaskedGlobalPooling1D("mean", name="mean_pool")(sequence, mask=mask)
    return encoder_model(ids, pooled, sequence, mask, name=name)


def load_hub_backbone(preset, weights="pretrained", dtype=None):
    """`keras_hub.models.Backbone.from_preset`; `weights=None` keeps the random init."""
    if weights not in ("pretrained", None):
        raise ValueError(
            f"weights must be 'pretrained' or None for a KerasHub preset, received "
            f"{weights!r}; name another preset with preset=.")
    if isinstance(preset, os.PathLike):
        preset = os.fspath(preset)
    kwargs = {} if dtype is None else {"dtype": dtype}
    return keras_hub.models.Backbone.from_preset(
        preset, load_weights=weights == "pretrained", **kwargs)


def _check_length(hub_backbone, max_length):
    limit = getattr(hub_backbone, "max_sequence_length", None)
    if max_length is not None and limit is not None and int(max_length) > limit:
        raise ValueError(
            f"max_length={max_length} exceeds the {limit} positions of "
            f"{type(hub_backbone).__name__}.")


@BACKBONES.register("keras_hub", modality="text")
def keras_hub_text(preset=None, weights="pretrained", exact_gelu=False, dtype=None,
                   vocab_size=None, max_length=None, name="keras_hub"):
    """Any KerasHub text backbone preset (folder or hub handle) as an mmzoo encoder.

    `weights=None` builds the preset's architecture with random weights. `exact_gelu`
    (BERT presets only) swaps KerasHub's tanh-approximate GELU for the exact one, for
    weights trained with Hugging Face's BERT. `vocab_size` is accepted and ignored (the
    preset fixes its vocabulary); `max_length` is checked against the positions.
    """
    if preset is None:
        raise ValueError("The keras_hub backbone needs preset= (a KerasHub preset folder "
                         "or a handle such as 'hf://google-bert/bert-base-uncased').")
    hub_backbone = load_hub_backbone(preset, weights, dtype)
    if exact_gelu:
        hub_backbone = with_exact_gelu(hub_backbone)
    _check_length(hub_backbone, max_length)
    return hub_text_encoder(hub_backbone, name)


@BACKBONES.register("minilm", modality="text")
def minilm(weights="pretrained", dtype=None, vocab_size=None, max_length=None,
           name="minilm"):
    """sentence-transformers all-MiniLM-L6-v2 (BERT: 6 layers, 384 wide, 12 heads).

    `weights`: "pretrained" (`mmzoo.pretrained.fetch("minilm")`), a KerasHub preset
    folder of the same architecture, or None for a random init (no source package
    needed). `pooled` is the masked mean of the last layer (not L2-normalised).
    """
    if weights is None:
        kwargs = {} if dtype is None else {"dtype": dtype}
        hub_backbone = ExactGeluBertBackbone(**MINILM_ARCHITECTURE, **kwargs)
    else:
        hub_backbone = with_exact_gelu(
            load_hub_backbone(_minilm_preset(weights), "pretrained", dtype))
    _check_length(hub_backbone, max_length)
    return hub_text_encoder(hub_backbone, name)


def _minilm_preset(weights):
    if weights in ("pretrained", "minilm", None):
        return fetch("minilm")
    path = pathlib.Path(weights).expanduser()
    if not (path / "config.json").is_file():
        raise ValueError(
            f"weights for minilm must be 'pretrained', None or a KerasHub preset folder; "
            f"{weights!r} is not a folder with a config.json.")
    return path


@BACKBONES.register("keras_hub_image", modality="image")
def keras_hub_image(preset=None, weights="pretrained", image_size=None, dtype=None,
                    name="keras_hub_image"):
    """Any KerasHub image backbone preset as an mmzoo image encoder.

    Raw pixels `[B, H, W, 3]` 0..255 of any size are resized and rescaled inside the
    model as the preset's `ImageConverter` says (its `image_size`, `scale`, `offset`,
    crop and interpolation; `image_size=` overrides the size), then run through the
    backbone. A feature grid `[B, h, w, C]` gives `pooled` = its average and `sequence`
    = `[B, h * w, C]`; a token sequence `[B, N, D]` (ViT-like) gives its mean.
    """
    if preset is None:
        raise ValueError("The keras_hub_image backbone needs preset= (a KerasHub preset "
                         "folder or a handle such as 'kaggle://keras/resnetv2/...').")
    hub_backbone = load_hub_backbone(preset, weights, dtype)
    converter = _image_converter(preset)
    height, width = _pair(image_size or converter.image_size)
    images = keras.Input((None, None, 3), dtype="float32", name="images")
    # training=False: Resizing's `call` defaults to training=True, which would otherwise
    # put the whole call (the backbone's BatchNorm included) in training mode.
    x = keras.layers.Resizing(height, width, interpolation=converter.interpolation,
                              crop_to_aspect_ratio=converter.crop_to_aspect_ratio,
                              name="resize")(images, training=False)
    x = keras.layers.Rescaling(_plain(converter.scale, 1.0), _plain(converter.offset, 0.0),
                               name="rescale")(x)
    features = hub_backbone(x)
    if isinstance(features, dict) or len(features.shape) not in (3, 4):
        raise ValueError(f"{type(hub_backbone).__name__} returns {features!r}; mmzoo needs "
                         "one feature grid [B, h, w, C] or token sequence [B, N, D].")
    if len(features.shape) == 4:
        pooled = keras.layers.GlobalAveragePooling2D(name="avg_pool")(features)
        sequence = keras.layers.Reshape((-1, features.shape[-1]), name="grid")(features)
    else:
        pooled = MaskedGlobalPooling1D("mean", name="mean_pool")(features)
        sequence = features
    return encoder_model(images, pooled, sequence, name=name)


def _image_converter(preset):
    try:
        return keras_hub.layers.ImageConverter.from_preset(
            os.fspath(preset) if isinstance(preset, os.PathLike) else preset)
    except FileNotFoundError as error:
        raise ValueError(
            f"The preset {preset} has no image converter (image_converter.json), so mmzoo "
            "does not know how to resize and scale pixels for it.") from error


def _pair(size):
    if size is None:
        raise ValueError("The preset's image converter has no image_size; pass image_size=.")
    return (int(size), int(size)) if isinstance(size, (int, float)) else tuple(map(int, size))


def _plain(value, default):
    """A float or a list of floats (config-friendly) from a converter's scale/offset."""
    if value is None:
        return default
    value = keras.ops.convert_to_numpy(value).astype("float64")
    return float(value) if value.ndim == 0 else [float(v) for v in value.reshape(-1)]


def tokenizer_for_backbone(backbone_name, options=None, sequence_length=128):
    """The `WordPieceTokenizer` that feeds text backbone `backbone_name` built with
    `options` (its factory's arguments), or None for word-level backbones (they use
    `TextVectorization`)."""
    from mmzoo.preprocessing.wordpiece import WordPieceTokenizer

    options = dict(options or {})
    BACKBONES.get(backbone_name, modality="text")  # unknown names list the close ones
    if backbone_name == "minilm":
        preset = _minilm_preset(options.get("weights", "pretrained"))
    elif backbone_name == "keras_hub":
        preset = options.get("preset")
        if preset is None:
            raise ValueError("The keras_hub backbone needs preset= in its options.")
    else:
        return None
    return WordPieceTokenizer.from_preset(preset, sequence_length,
                                          trusted=backbone_name == "minilm",
                                          name=f"{backbone_name}_tokenizer")
