"""Image captioning: an image backbone's feature grid + an autoregressive caption decoder.

Two decoders share one task class, the training recipe, and in-graph decoding
(`mmzoo.decoding`: greedy, beam search, sampling, with key/value caching):

- `decoder="lstm_attention"`: Show, Attend and Tell (Xu et al. 2015): an LSTM with soft
  (Bahdanau) attention over the grid, the gating scalar beta, a deep output layer, and the
  doubly stochastic attention regulariser added to the loss in training.
- `decoder="transformer"`: the grid (projected, with learned positions and
  `encoder_layers` self-attention blocks) as memory for a pre-norm Transformer decoder
  with causal self-attention and cross-attention.

>>> model = Captioner(decoder="transformer", image_backbone="simple_cnn", image_size=64)
>>> model.adapt_text(["A dog runs on the grass.", "Two people ride bikes."])
>>> model({"image": pixels, "caption": ids})        # [B, T, vocab_size] float32 logits
>>> model.generate(pixels, num_beams=3)["captions"]  # ['a dog runs on the grass', ...]

Training pairs: `prepare_dataset` turns `{"image", "captions": [B, 5] strings}` batches
(flickr8k, coco_captions) into `({"image", "caption": [start, w1, ..., wn]}, [w1, ...,
wn, end])` pairs. In training (`fit`) each image contributes `captions_per_image` of its
captions per epoch (default 1, drawn at random again every epoch, so an epoch is one pass
over the images); validation and `evaluate` use all of them.
"""

import inspect
import weakref

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from mmzoo import caption_metrics, decoding
from mmzoo.backbones import build_backbone
from mmzoo.layers import PositionEmbedding, TrainingOnly, TransformerBlock
from mmzoo.preprocessing import check_vocabulary, decode_images, load_images, text_vectorizer
from mmzoo.preprocessing.text import RESERVED_TOKENS
from mmzoo.registry import TASKS
from mmzoo.tasks.base import Task

START_TOKEN, END_TOKEN = "<start>", "<end>"
PAD_ID, UNK_ID, START_ID, END_ID = 0, 1, 2, 3
DECODERS = ("transformer", "lstm_attention")
_NEG_INF = -1.0e9


def _attend(query, key, value, mask=None):
    """Scaled dot-product attention on projected heads `[B, T, H, d]` x `[B, S, H, d]`;
    `mask` broadcasts to `[B, H, T, S]` (True = may attend). Softmax in float32."""
    scale = 1.0 / float(query.shape[-1]) ** 0.5
    scores = ops.cast(ops.einsum("bthd,bshd->bhts", query, key), "float32") * scale
    if mask is not None:
        scores = ops.where(mask, scores, _NEG_INF)
    weights = ops.cast(ops.softmax(scores, axis=-1), value.dtype)
    return ops.einsum("bhts,bshd->bthd", weights, value)


@keras.saving.register_keras_serializable(package="mmzoo")
class CaptionDecoderBlock(keras.layers.Layer):
    """Pre-norm decoder block: causal self-attention, cross-attention over the image
    memory, feed-forward; each a residual branch.

    `call` runs a whole (teacher-forced) sequence; `step` runs one position against
    cached self-attention keys/values and precomputed image keys/values (`context`),
    with the same arithmetic.

    >>> block = CaptionDecoderBlock(dim=64, num_heads=4, ffn_dim=128)
    >>> y = block(x, memory)                          # [B, T, 64]
    """

    def __init__(self, dim=256, num_heads=4, ffn_dim=1024, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        if dim % num_heads:
            raise ValueError(f"dim ({dim}) must be a multiple of num_heads ({num_heads}).")
        self.dim, self.num_heads = int(dim), int(num_heads)
        self.ffn_dim, self.dropout = int(ffn_dim), float(dropout)
        head_dim = self.dim // self.num_heads
        self.self_norm = keras.layers.LayerNormalization(epsilon=1e-6, name="self_norm")
        self.self_attention = keras.layers.MultiHeadAttention(
            self.num_heads, head_dim, name="self_attention")
        self.cross_norm = keras.layers.LayerNormalization(epsilon=1e-6, name="cross_norm")
        self.cross_attention = keras.layers.MultiHeadAttention(
            self.num_heads, head_dim, name="cross_attention")
        self.ffn_norm = keras.layers.LayerNormalization(epsilon=1e-6, name="ffn_norm")
        self.ffn_hidden = keras.layers.Dense(self.ffn_dim, activation="gelu",
                                             name="ffn_hidden")
        self.ffn_output = keras.layers.Dense(self.dim, name="ffn_output")
        self.drop = keras.layers.Dropout(self.dropout)

    def build(self, x_shape, memory_shape):
        self.self_norm.build(x_shape)
        self.self_attention.build(x_shape, x_shape)
        self.cross_norm.build(x_shape)
        self.cross_attention.build(x_shape, memory_shape)
        self.ffn_norm.build(x_shape)
        self.ffn_hidden.build(x_shape)
        self.ffn_output.build(tuple(x_shape[:-1]) + (self.ffn_dim,))

    def context(self, memory):
        """Image keys and values of the cross-attention, computed once per image."""
        return (self.cross_attention.key_dense(memory),
                self.cross_attention.value_dense(memory))

    def _cross_and_ffn(self, x, context, training):
        attention = self.cross_attention
        query = attention.query_dense(self.cross_norm(x))
        attended = attention.output_dense(_attend(query, *context))
        x = x + self.drop(attended, training=training)
        hidden = self.ffn_output(self.ffn_hidden(self.ffn_norm(x)))
        return x + self.drop(hidden, training=training)

    def call(self, x, memory, training=None):
        attention = self.self_attention
        h = self.self_norm(x)
        length = ops.shape(x)[1]
        positions = ops.arange(length)
        causal = ops.expand_dims(positions[:, None] >= positions[None, :], 0)[None]
        attended = _attend(attention.query_dense(h), attention.key_dense(h),
                           attention.value_dense(h), causal)
        x = x + self.drop(attention.output_dense(attended), training=training)
        return self._cross_and_ffn(x, self.context(memory), training)

    def step(self, x, index, cache, context):
        """One position `x` `[N, 1, dim]` at `index`; `cache` = (keys, values)
        `[N, max_length, heads, head_dim]` of the positions so far. Returns (y, cache)."""
        attention = self.self_attention
        h = self.self_norm(x)
        slots = ops.arange(ops.shape(cache[0])[1])
        here = ops.reshape(ops.equal(slots, index), (1, -1, 1, 1))
        keys = ops.where(here, attention.key_dense(h), cache[0])
        values = ops.where(here, attention.value_dense(h), cache[1])
        visible = ops.reshape(slots <= index, (1, 1, 1, -1))
        attended = _attend(attention.query_dense(h), keys, values, visible)
        x = x + attention.output_dense(attended)
        return self._cross_and_ffn(x, context, False), (keys, values)

    def compute_output_shape(self, x_shape, memory_shape):
        return x_shape

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "num_heads": self.num_heads,
                "ffn_dim": self.ffn_dim, "dropout": self.dropout}


@keras.saving.register_keras_serializable(package="mmzoo")
class TransformerCaptionDecoder(keras.layers.Layer):
    """Token embedding + learned positions, `num_layers` `CaptionDecoderBlock`s, final
    norm and a float32 vocabulary projection.

    >>> decoder = TransformerCaptionDecoder(vocab_size=1000, max_length=20, dim=64)
    >>> logits = decoder(ids, memory)                  # teacher forcing, [B, T, 1000]
    >>> context = decoder.prepare_context(memory)       # image keys/values, once
    >>> state = decoder.initial_state(context, 20)      # empty self-attention caches
    >>> logits, state = decoder.step(ids[:, 0], 0, state, context)   # [B, 1000]
    """

    def __init__(self, vocab_size, max_length, dim=256, num_layers=2, num_heads=4,
                 ffn_dim=1024, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.max_length = int(vocab_size), int(max_length)
        self.dim, self.num_layers, self.num_heads = int(dim), int(num_layers), int(num_heads)
        self.ffn_dim, self.dropout = int(ffn_dim), float(dropout)
        self.token_embedding = keras.layers.Embedding(self.vocab_size, self.dim,
                                                      name="token_embedding")
        self.positions = PositionEmbedding(self.max_length, name="positions")
        self.drop = keras.layers.Dropout(self.dropout)
        self.blocks = [CaptionDecoderBlock(self.dim, self.num_heads, self.ffn_dim,
                                           self.dropout, name=f"block_{i}")
                       for i in range(self.num_layers)]
        self.final_norm = keras.layers.LayerNormalization(epsilon=1e-6, name="final_norm")
        self.logits = keras.layers.Dense(self.vocab_size, dtype="float32", name="logits")

    def build(self, tokens_shape, memory_shape):
        x_shape = (tokens_shape[0], tokens_shape[1], self.dim)
        self.token_embedding.build(tokens_shape)
        self.positions.build(x_shape)
        for block in self.blocks:
            block.build(x_shape, memory_shape)
        self.final_norm.build(x_shape)
        self.logits.build(x_shape)

    def _head(self, x):
        return ops.cast(self.logits(self.final_norm(x)), "float32")

    def call(self, tokens, memory, training=None):
        x = self.drop(self.positions(self.token_embedding(tokens)), training=training)
        for block in self.blocks:
            x = block(x, memory, training=training)
        return self._head(x)

    def prepare_context(self, memory):
        return [block.context(memory) for block in self.blocks]

    def initial_state(self, context, max_length):
        rows = ops.shape(context[0][0])[0]
        shape = (rows, max_length, self.num_heads, self.dim // self.num_heads)
        zeros = ops.zeros(shape, dtype=context[0][0].dtype)
        return [(zeros, zeros) for _ in self.blocks]

    def step(self, tokens, index, state, context):
        x = self.token_embedding(ops.expand_dims(tokens, 1))
        x = self.positions(x, start=index)
        new_state = []
        for block, cache, block_context in zip(self.blocks, state, context):
            x, cache = block.step(x, index, cache, block_context)
            new_state.append(cache)
        return self._head(x)[:, 0], new_state

    def compute_output_shape(self, tokens_shape, memory_shape):
        return (tokens_shape[0], tokens_shape[1], self.vocab_size)

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size,
                "max_length": self.max_length, "dim": self.dim,
                "num_layers": self.num_layers, "num_heads": self.num_heads,
                "ffn_dim": self.ffn_dim, "dropout": self.dropout}


@keras.saving.register_keras_serializable(package="mmzoo")
class AttentionLSTMDecoder(keras.layers.Layer):
    """Show, Attend and Tell's decoder (Xu et al. 2015, soft attention).

    At step t: e_ti = w^T tanh(W_a a_i + W_h h_{t-1}), alpha_t = softmax(e_t),
    z_t = beta_t * sum_i alpha_ti a_i with the gate beta_t = sigmoid(f_beta(h_{t-1}));
    (h_t, c_t) = LSTM([E y_{t-1}, z_t], (h_{t-1}, c_{t-1})); logits =
    L_o(dropout(E y_{t-1} + L_h h_t + L_z z_t)) (the deep output layer). h_0 and c_0
    are tanh layers of the mean feature. In training the doubly stochastic regulariser
    `attention_regularizer * sum_i (1 - sum_t alpha_ti)^2`, summed over the batch with
    t over the non-padding steps only and divided by the number of those steps (the
    scale of the token-mean cross-entropy), is added with `add_loss`.

    >>> decoder = AttentionLSTMDecoder(vocab_size=1000, embed_dim=64, units=128)
    >>> logits = decoder(ids, features)                 # [B, T, 1000]
    >>> state = decoder.initial_state(decoder.prepare_context(features), 20)  # (h, c)
    """

    def __init__(self, vocab_size, embed_dim=256, units=512, attention_units=256,
                 dropout=0.0, attention_regularizer=1.0, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.embed_dim = int(vocab_size), int(embed_dim)
        self.units, self.attention_units = int(units), int(attention_units)
        self.dropout = float(dropout)
        self.attention_regularizer = float(attention_regularizer)
        dense = keras.layers.Dense
        self.token_embedding = keras.layers.Embedding(self.vocab_size, self.embed_dim,
                                                      name="token_embedding")
        self.init_h = dense(self.units, activation="tanh", name="init_h")
        self.init_c = dense(self.units, activation="tanh", name="init_c")
        self.feature_attention = dense(self.attention_units, name="feature_attention")
        self.hidden_attention = dense(self.attention_units, use_bias=False,
                                      name="hidden_attention")
        self.attention_score = dense(1, name="attention_score")
        self.gate = dense(1, activation="sigmoid", name="gate")
        self.cell = keras.layers.LSTMCell(self.units, name="lstm")
        self.out_hidden = dense(self.embed_dim, name="out_hidden")
        self.out_context = dense(self.embed_dim, name="out_context")
        self.drop = keras.layers.Dropout(self.dropout)
        self.logits = dense(self.vocab_size, dtype="float32", name="logits")

    def build(self, tokens_shape, memory_shape):
        batch, features = memory_shape[0], memory_shape[-1]
        self.token_embedding.build(tokens_shape)
        for layer in (self.init_h, self.init_c, self.feature_attention, self.out_context):
            layer.build((batch, features))
        for layer in (self.hidden_attention, self.gate, self.out_hidden):
            layer.build((batch, self.units))
        self.attention_score.build((batch, self.attention_units))
        self.cell.build((batch, self.embed_dim + features))
        self.logits.build((batch, self.embed_dim))

    def prepare_context(self, memory):
        return {"features": memory, "keys": self.feature_attention(memory)}

    def initial_state(self, context, max_length=None):
        mean = ops.mean(context["features"], axis=1)
        return (self.init_h(mean), self.init_c(mean))

    def _recur(self, embedded, state, context):
        """One LSTM step: returns (h, c, gated context z, attention weights alpha)."""
        h, c = state
        energy = ops.tanh(context["keys"] + ops.expand_dims(self.hidden_attention(h), 1))
        scores = ops.cast(ops.squeeze(self.attention_score(energy), -1), "float32")
        alpha = ops.softmax(scores, axis=-1)
        features = context["features"]
        z = ops.sum(ops.expand_dims(ops.cast(alpha, features.dtype), -1) * features, axis=1)
        z = self.gate(h) * z
        _, (h, c) = self.cell(ops.concatenate([embedded, z], axis=-1), [h, c])
        return h, c, z, alpha

    def _output(self, embedded, h, z, training=None):
        deep = embedded + self.out_hidden(h) + self.out_context(z)
        return ops.cast(self.logits(self.drop(deep, training=training)), "float32")

    def step(self, tokens, index, state, context):
        embedded = self.token_embedding(tokens)
        h, c, z, _ = self._recur(embedded, state, context)
        return self._output(embedded, h, z), (h, c)

    def call(self, tokens, memory, training=None):
        embedded = self.token_embedding(tokens)
        context = self.prepare_context(memory)
        h, c = self.initial_state(context)
        regions = ops.shape(memory)[1]
        start = (h, c, ops.zeros_like(context["features"][:, 0]),
                 ops.zeros((ops.shape(memory)[0], regions), "float32"))

        def recur(carry, embedded_t):
            return self._recur(embedded_t, carry[:2], context)

        hs, _, zs, alphas = tf.scan(lambda carry, e: recur(carry, e),
                                    tf.transpose(embedded, [1, 0, 2]), initializer=start)
        hs, zs = tf.transpose(hs, [1, 0, 2]), tf.transpose(zs, [1, 0, 2])
        if training and self.attention_regularizer:
            self.add_loss(self.attention_penalty(tf.transpose(alphas, [1, 0, 2]), tokens))
        return self._output(embedded, hs, zs, training)

    def attention_penalty(self, alphas, tokens):
        """The doubly stochastic regulariser of `alphas` `[B, T, regions]`."""
        valid = ops.cast(ops.not_equal(tokens, PAD_ID), "float32")
        coverage = ops.sum(alphas * ops.expand_dims(valid, -1), axis=1)
        total = ops.sum(ops.square(1.0 - coverage))
        return self.attention_regularizer * total / ops.maximum(ops.sum(valid), 1.0)

    def compute_output_shape(self, tokens_shape, memory_shape):
        return (tokens_shape[0], tokens_shape[1], self.vocab_size)

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size,
                "embed_dim": self.embed_dim, "units": self.units,
                "attention_units": self.attention_units, "dropout": self.dropout,
                "attention_regularizer": self.attention_regularizer}


@keras.saving.register_keras_serializable(package="mmzoo")
class CaptionLoss(keras.losses.Loss):
    """Token-mean sparse cross-entropy over non-padding targets (id 0 ignored), from
    float32 logits, with optional label smoothing.

    >>> CaptionLoss()(targets, logits)   # a scalar
    """

    def __init__(self, label_smoothing=0.0, name="caption_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "int32")
        log_probs = ops.log_softmax(ops.cast(y_pred, "float32"), axis=-1)
        picked = ops.take_along_axis(log_probs, ops.expand_dims(y_true, -1), axis=-1)
        losses = -ops.squeeze(picked, -1)
        if self.label_smoothing:
            smooth = -ops.mean(log_probs, axis=-1)
            losses = (1.0 - self.label_smoothing) * losses + self.label_smoothing * smooth
        valid = ops.cast(ops.not_equal(y_true, PAD_ID), "float32")
        return ops.sum(losses * valid) / ops.maximum(ops.sum(valid), 1.0)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


# Python-side caches of traced decoding functions, outside Keras' attribute tracking.
_DECODERS = weakref.WeakKeyDictionary()


def _image_encoder(backbone, dim, positions, encoder_layers, num_heads, ffn_dim, dropout,
                   augment):
    """Pixels -> the memory the decoder attends to: `[B, regions, dim]`."""
    images = keras.Input((None, None, 3), dtype="float32", name="images")
    x = images
    if augment:
        x = TrainingOnly(keras.layers.RandomFlip("horizontal"), name="augment_flip")(x)
    grid = backbone(x)["sequence"]
    memory = keras.layers.Dense(dim, name="feature_projection")(grid)
    if positions:
        memory = PositionEmbedding(grid.shape[1], name="grid_positions")(memory)
    for index in range(encoder_layers):
        memory = TransformerBlock(num_heads, dim // num_heads, ffn_dim, dropout,
                                  name=f"encoder_block_{index}")(memory)
    memory = keras.layers.LayerNormalization(epsilon=1e-6, name="memory_norm")(memory)
    return keras.Model(images, memory, name="image_encoder")


@TASKS.register("captioner")
@keras.saving.register_keras_serializable(package="mmzoo")
class Captioner(Task):
    """Image -> caption model with teacher-forced training and in-graph decoding.

    Args:
        decoder: "transformer" or "lstm_attention" (Show, Attend and Tell).
        image_backbone: a name from `BACKBONES` (image); `image_options` its arguments,
            `image_size` the side it sees, `image_weights` None / "imagenet" / a path
            for keras.applications backbones.
        vocab_size: size of the output layer: padding, [UNK], <start>, <end> and at most
            `vocab_size - 4` words. `vocabulary`: the words (the special tokens are
            added in front when missing); built by `adapt_text` from the training
            captions, keeping words seen at least `min_word_count` times.
        sequence_length: decoder positions = the longest caption in tokens (words + end);
            longer captions are cut in training; the default `max_length` of `generate`.
        embed_dim: token embedding (and Transformer model) width; `feature_dim`: width
            of the projected image features (LSTM decoder; the Transformer uses
            `embed_dim`); `num_layers`, `num_heads`, `ffn_dim`: the Transformer decoder;
            `encoder_layers`: self-attention blocks over the grid (Transformer only).
        lstm_units, attention_units: the LSTM decoder and its attention MLP.
        dropout: dropout of the decoder (and the Transformer encoder blocks).
        attention_regularizer: lambda of the doubly stochastic attention loss (LSTM).
        augment: random horizontal flips of the images in training.
        label_smoothing: of the caption cross-entropy.
        captions_per_image: captions per image per training epoch (1..5), see above.
        num_beams, length_penalty: default decoding of `generate`, pipelines, serving
            and `evaluate_dataset`.
    """

    input_dtype_kinds = {
        "image": ("fiu", "pixel values 0..255"),
        "caption": ("iu", "integer token ids"),
    }

    def __init__(
        self,
        decoder="transformer",
        image_backbone="simple_cnn",
        image_options=None,
        image_size=None,
        image_weights=None,
        vocab_size=5000,
        sequence_length=20,
        vocabulary=None,
        min_word_count=1,
        embed_dim=256,
        feature_dim=256,
        num_layers=2,
        num_heads=4,
        ffn_dim=1024,
        encoder_layers=1,
        lstm_units=512,
        attention_units=256,
        dropout=0.1,
        attention_regularizer=1.0,
        augment=True,
        label_smoothing=0.0,
        captions_per_image=1,
        num_beams=3,
        length_penalty=1.0,
        **kwargs,
    ):
        if decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}, received {decoder!r}.")
        sequence_length, vocab_size = int(sequence_length), int(vocab_size)
        if sequence_length < 2:
            raise ValueError(f"sequence_length must be at least 2, received {sequence_length}.")
        if vocab_size < RESERVED_TOKENS + 3:
            raise ValueError(f"vocab_size must be at least 5, received {vocab_size}.")
        if not 1 <= int(captions_per_image) <= 5:
            raise ValueError(
                f"captions_per_image must be 1..5, received {captions_per_image}.")
        decoding.check_decoding_arguments(sequence_length, int(num_beams),
                                          length_penalty=length_penalty)
        vocabulary = _with_special_tokens(vocabulary)
        options = dict(image_options or {})
        options.setdefault("weights", image_weights)
        if image_size is not None:
            options.setdefault("image_size", image_size)
        backbone = build_backbone("image", image_backbone, name="image_backbone", **options)

        transformer = decoder == "transformer"
        memory_dim = embed_dim if transformer else feature_dim
        encoder = _image_encoder(backbone, memory_dim, transformer,
                                 encoder_layers if transformer else 0, num_heads, ffn_dim,
                                 dropout, augment)
        if transformer:
            caption_decoder = TransformerCaptionDecoder(
                vocab_size, sequence_length, embed_dim, num_layers, num_heads, ffn_dim,
                dropout, name="caption_decoder")
        else:
            caption_decoder = AttentionLSTMDecoder(
                vocab_size, embed_dim, lstm_units, attention_units, dropout,
                attention_regularizer, name="caption_decoder")
        inputs = {
            "image": keras.Input((None, None, 3), dtype="float32", name="image"),
            "caption": keras.Input((None,), dtype="int32", name="caption"),
        }
        logits = caption_decoder(inputs["caption"], encoder(inputs["image"]))
        super().__init__(inputs=inputs, outputs=logits, **kwargs)

        self.image_encoder = encoder
        self.caption_decoder = caption_decoder
        self.image_size = backbone.get_layer("resize").height
        self.sequence_length = sequence_length
        self.vocab_size = vocab_size
        self.min_word_count = int(min_word_count)
        self.captions_per_image = int(captions_per_image)
        self.num_beams = int(num_beams)
        self.length_penalty = float(length_penalty)
        self.text_vectorizer = text_vectorizer(
            vocab_size, sequence_length - 1, vocabulary, name="caption_vectorizer")
        self._set_config({
            "decoder": decoder,
            "image_backbone": image_backbone,
            "image_options": dict(image_options or {}),
            "image_size": image_size,
            # Trained weights come from the saved file, never a fresh download.
            "image_weights": None,
            "vocab_size": vocab_size,
            "sequence_length": sequence_length,
            "min_word_count": self.min_word_count,
            "embed_dim": embed_dim,
            "feature_dim": feature_dim,
            "num_layers": num_layers,
            "num_heads": num_heads,
            "ffn_dim": ffn_dim,
            "encoder_layers": encoder_layers,
            "lstm_units": lstm_units,
            "attention_units": attention_units,
            "dropout": dropout,
            "attention_regularizer": attention_regularizer,
            "augment": augment,
            "label_smoothing": label_smoothing,
            "captions_per_image": self.captions_per_image,
            "num_beams": self.num_beams,
            "length_penalty": self.length_penalty,
        })

    @classmethod
    def summarize_config(cls, config):
        """Modalities, backbones and "fusion" (the decoder's attention) of a config."""
        config = {**_defaults(cls), **config}
        decoder = config["decoder"]
        return {
            "modalities": ["image", "text"],
            "backbones": {"image": config["image_backbone"],
                          "text": "transformer decoder" if decoder == "transformer"
                          else "lstm decoder"},
            "fusion": "cross_attention" if decoder == "transformer" else "soft_attention",
        }

    # ----- vocabulary --------------------------------------------------------------
    @property
    def text_vectorizers(self):
        return {"caption": self.text_vectorizer}

    @property
    def vocabulary(self):
        """Every token by id: "", "[UNK]", "<start>", "<end>", then the words."""
        check_vocabulary(self.text_vectorizer, type(self).__name__)
        return [str(w) for w in self.text_vectorizer.get_vocabulary()]

    def adapt_text(self, texts, input_name=None, batch_size=256):
        """Builds the vocabulary from captions (a list of strings or a string dataset):
        the special tokens, then words by decreasing count (ties alphabetical) seen at
        least `min_word_count` times, at most `vocab_size - 4` of them."""
        if isinstance(texts, tf.data.Dataset):
            texts = [t for batch in texts.batch(batch_size).as_numpy_iterator()
                     for t in np.reshape(batch, [-1])]
        elif isinstance(texts, (str, bytes)):
            texts = [texts]
        counts = {}
        for text in texts:
            for word in caption_metrics.tokenize(text):
                counts[word] = counts.get(word, 0) + 1
        words = sorted((w for w, c in counts.items() if c >= self.min_word_count
                        and w not in (START_TOKEN, END_TOKEN)),
                       key=lambda w: (-counts[w], w))
        words = words[: self.vocab_size - RESERVED_TOKENS - 2]
        if not words:
            raise ValueError(
                f"No word occurs at least min_word_count={self.min_word_count} times in "
                f"the {len(texts)} captions given; cannot build a vocabulary.")
        self.text_vectorizer.set_vocabulary([START_TOKEN, END_TOKEN] + words)
        _DECODERS.pop(self, None)
        return self

    def caption_ids(self, captions):
        """Graph-side: caption strings `[N]` -> (decoder inputs `[start, w1..wn]`,
        targets `[w1..wn, end]`), both int32 `[N, sequence_length]`, 0-padded."""
        words = tf.cast(self.text_vectorizer(captions), tf.int32)
        lengths = tf.reduce_sum(tf.cast(words > 0, tf.int32), axis=1)
        rows = tf.shape(words)[0]
        inputs = tf.concat([tf.fill([rows, 1], START_ID), words], axis=1)
        targets = tf.concat([words, tf.zeros([rows, 1], tf.int32)], axis=1)
        end = tf.equal(tf.range(self.sequence_length)[None], lengths[:, None])
        return inputs, tf.where(end, END_ID, targets)

    # ----- training ----------------------------------------------------------------
    def compile(self, optimizer="auto", loss="auto", metrics="auto", **kwargs):
        """Adam(1e-3) and `CaptionLoss` (masked token cross-entropy) unless given; no
        XLA by default (slower to compile, and no faster for these models on CPU)."""
        super().compile(
            optimizer=keras.optimizers.Adam(1e-3) if optimizer == "auto" else optimizer,
            loss=(CaptionLoss(self._task_config["label_smoothing"]) if loss == "auto"
                  else loss),
            metrics=None if metrics == "auto" else metrics,
            **{"jit_compile": False, **kwargs},
        )

    def __call__(self, inputs, *args, **kwargs):
        # Keras' Resizing (the backbones' first layer) defaults to training=True and
        # hands that to the layers after it, so a plain `model(x)` would run BatchNorm on
        # batch statistics and move its averages: inference unless training is asked.
        if not args:
            kwargs.setdefault("training", False)
        return super().__call__(inputs, *args, **kwargs)

    def standardize_inputs(self, inputs):
        inputs = super().standardize_inputs(inputs)
        missing = [name for name, value in inputs.items() if value is None]
        if missing:
            raise ValueError(
                f"Input '{missing[0]}' is missing: the captioner's forward pass takes "
                "{'image': pixels [B, H, W, 3], 'caption': token ids [B, T]}; "
                "to caption images use model.generate(images).")
        return inputs

    # ----- data sets -----------------------------------------------------------------
    def caption_pairs(self, inputs, training=False, seed=None):
        """Graph-side: a batch `{"image", "captions": [B, C]}` (or `"caption": [B]`
        strings) -> `({"image", "caption"}, targets)` with one row per caption used.

        All C captions of each image are used, or in training `captions_per_image` of
        them drawn at random (stateless, from `seed`).
        """
        images = inputs["image"]
        if "captions" in inputs:
            captions = inputs["captions"]
            if training and self.captions_per_image < captions.shape[-1]:
                noise = tf.random.stateless_uniform(tf.shape(captions), seed=seed)
                order = tf.argsort(noise, axis=1)[:, : self.captions_per_image]
                captions = tf.gather(captions, order, batch_dims=1)
            images = tf.repeat(images, tf.shape(captions)[1], axis=0)
            captions = tf.reshape(captions, [-1])
        elif "caption" in inputs and inputs["caption"].dtype == tf.string:
            captions = inputs["caption"]
        else:
            raise ValueError(
                "Captioning data sets yield {'image', 'captions': strings [B, C]} or "
                f"{{'image', 'caption': strings [B]}}; received keys {sorted(inputs)}.")
        caption_inputs, targets = self.caption_ids(captions)
        return {"image": tf.cast(images, tf.float32), "caption": caption_inputs}, targets

    def prepare_dataset(self, dataset, training=False):
        """Maps `caption_pairs` over a batched dataset of caption dicts; datasets of
        `(inputs, targets)` tuples get `convert_inputs` only."""
        if isinstance(dataset.element_spec, tuple):
            return super().prepare_dataset(dataset)
        if training:
            seeds = tf.data.Dataset.random(rerandomize_each_iteration=True).batch(2)
            paired = tf.data.Dataset.zip((dataset, seeds))
            return paired.map(
                lambda inputs, seed: self.caption_pairs(inputs, True, seed),
                num_parallel_calls=tf.data.AUTOTUNE)
        return dataset.map(self.caption_pairs, num_parallel_calls=tf.data.AUTOTUNE)

    def convert_inputs(self, inputs):
        if isinstance(inputs, dict) and "caption" in inputs and \
                inputs["caption"].dtype == tf.string:
            inputs = {**inputs, "caption": self.caption_ids(inputs["caption"])[0]}
        return super().convert_inputs(inputs)

    def fit(self, x=None, y=None, *args, validation_data=None, **kwargs):
        """`keras.Model.fit`; caption data sets are turned into training pairs."""
        if isinstance(x, tf.data.Dataset):
            x = self.prepare_dataset(x, training=True)
        if isinstance(validation_data, tf.data.Dataset):
            validation_data = self.prepare_dataset(validation_data)
        return keras.Model.fit(self, x, y, *args, validation_data=validation_data,
                               **kwargs)

    def dataset_options(self):
        """Load images at the backbone's size (no second resize)."""
        return {"image_size": self.image_size}

    def adapt_to_dataset(self, dataset):
        """Builds the vocabulary from the training captions."""
        captions = []
        for element in dataset:
            inputs = element[0] if isinstance(element, tuple) else element
            key = "captions" if "captions" in inputs else "caption"
            captions.extend(t.decode("utf-8") for t in np.reshape(inputs[key].numpy(), [-1]))
        self.adapt_text(captions)

    def evaluate_dataset(self, dataset, **generate_options):
        """Captions every image (default decoding: beam search with `num_beams`) and
        scores them against the data set's references: bleu1..bleu4, cider (CIDEr-D),
        distinct_captions and examples."""
        references, hypotheses = [], []
        for element in dataset:
            inputs = element[0] if isinstance(element, tuple) else element
            if "captions" not in inputs:
                raise ValueError("evaluate_dataset needs {'image', 'captions'} batches.")
            hypotheses.extend(self.generate(inputs["image"], **generate_options)["captions"])
            references.extend([[c.decode("utf-8") for c in row]
                               for row in inputs["captions"].numpy()])
        if not hypotheses:
            raise ValueError("The dataset is empty: nothing to evaluate.")
        scores = caption_metrics.caption_scores(references, hypotheses)
        return {**scores, "distinct_captions": len(set(hypotheses)),
                "examples": len(hypotheses)}

    # ----- decoding ----------------------------------------------------------------
    def search(self, images, max_length, num_beams=1, length_penalty=1.0,
               early_stopping=True, temperature=None, top_k=None, seed=0, use_cache=True,
               min_length=0, vocabulary_size=None):
        """Graph-side decoding of float32 pixels: `{"tokens": int32 [B, max_length],
        "scores": float32 [B]}`. Arguments as in `generate`; padding, [UNK], <start>
        and ids at or past `vocabulary_size` (default `len(self.vocabulary)`, read
        eagerly) are never generated."""
        return self.search_memory(
            self.image_encoder(images, training=False), max_length, num_beams,
            length_penalty, early_stopping, temperature, top_k, seed, use_cache,
            min_length, vocabulary_size)

    def search_memory(self, memory, max_length, num_beams=1, length_penalty=1.0,
                      early_stopping=True, temperature=None, top_k=None, seed=0,
                      use_cache=True, min_length=0, vocabulary_size=None):
        """`search` from the image encoder's output `memory` `[B, regions, dim]`."""
        step, state, context = self.decoding_step(memory, max_length, use_cache,
                                                  min_length, vocabulary_size)
        return decoding.decode(step, state, context, tf.shape(memory)[0], START_ID, END_ID,
                               max_length, num_beams, length_penalty, early_stopping,
                               temperature, top_k, seed)

    def decoding_step(self, memory, max_length, use_cache=True, min_length=0,
                      vocabulary_size=None):
        """`(step_fn, state, context)` for the functions of `mmzoo.decoding`, one row
        per image of `memory`. The step never picks padding, [UNK], <start>, ids at or
        past `vocabulary_size` (default `len(self.vocabulary)`, read eagerly), nor the
        end token before `min_length` tokens."""
        size = len(self.vocabulary) if vocabulary_size is None else int(vocabulary_size)
        ids = tf.range(self.vocab_size)
        allowed = tf.logical_and(ids >= END_ID, ids < size)[None]
        not_end = tf.not_equal(ids, END_ID)[None]

        def mask(logits, index):
            ok = allowed
            if min_length:
                ok = tf.logical_and(ok, tf.logical_or(not_end, index + 1 >= min_length))
            return tf.where(ok, logits, _NEG_INF)

        decoder = self.caption_decoder
        if use_cache:
            context = decoder.prepare_context(memory)
            state = decoder.initial_state(context, max_length)

            def step(sequences, index, state, context):
                logits, state = decoder.step(sequences[:, index], index, state, context)
                return mask(logits, index), state
        else:
            # What the keras.io example does: re-run the decoder over the whole padded
            # prefix at every step (image keys/values, LSTM states and all).
            context, state = {"memory": memory}, {}

            def step(sequences, index, state, context):
                logits = decoder(sequences[:, :max_length], context["memory"],
                                 training=False)
                return mask(tf.gather(logits, index, axis=1), index), state

        return step, state, context

    def detokenize(self, tokens, vocabulary=None):
        """Graph-side: token ids `[B, L]` -> caption strings `[B]` (special tokens
        dropped, words joined by spaces). `vocabulary`: `self.vocabulary`, read eagerly
        by default."""
        vocabulary = self.vocabulary if vocabulary is None else list(vocabulary)
        tokens = tf.minimum(tokens, len(vocabulary) - 1)
        vocabulary = tf.constant(vocabulary)
        words = tf.ragged.boolean_mask(tf.gather(vocabulary, tokens), tokens > END_ID)
        return tf.strings.reduce_join(words, axis=1, separator=" ")

    def _decoder_function(self, max_length, num_beams, length_penalty, early_stopping,
                          temperature, top_k, use_cache, jit_compile, min_length):
        key = (max_length, num_beams, length_penalty, early_stopping, temperature, top_k,
               use_cache, jit_compile, min_length)
        functions = _DECODERS.setdefault(self, {})
        if key not in functions:
            vocabulary = self.vocabulary
            searching = tf.function(
                lambda images, seed: self.search(
                    images, max_length, num_beams, length_penalty, early_stopping,
                    temperature, top_k, seed, use_cache, min_length, len(vocabulary)),
                jit_compile=jit_compile, reduce_retracing=True, autograph=False)

            def run(images, seed):
                out = searching(images, seed)
                return {**out, "captions": self.detokenize(out["tokens"], vocabulary)}

            functions[key] = tf.function(run, reduce_retracing=True, autograph=False)
        return functions[key]

    def generate(self, images, max_length=None, num_beams=None, length_penalty=None,
                 early_stopping=True, temperature=None, top_k=None, seed=0,
                 use_cache=True, jit_compile=False, min_length=0):
        """Captions for `images`: `{"token_ids": int32 [B, max_length], "captions":
        [str], "scores": float32 [B]}`.

        images: float32 pixels `[B, H, W, 3]` (0..255), or what `load_images` takes
            (paths, encoded bytes, arrays of any size).
        max_length: tokens to generate at most (end token included); default and limit
            `sequence_length`.
        num_beams: beam width (default: the config's `num_beams`, or 1 when sampling
            options are given); 1 = greedy search.
        length_penalty, early_stopping: beam search (see `mmzoo.decoding.beam_search`).
        temperature, top_k: sample instead (with `num_beams=1`), seeded by `seed`.
        use_cache: cached keys/values (or LSTM states); False re-runs the decoder over
            the prefix at every step (same tokens, slower).
        jit_compile: compile the search with XLA.
        min_length: the end token is not generated before this many tokens (the end
            token counts), e.g. `min_length=max_length` for fixed-length benchmarks.

        token_ids hold the generated ids up to and including the end token, zeros after.
        scores are summed log-probabilities (greedy, sampling) or the length-normalised
        beam score.
        """
        max_length = self.sequence_length if max_length is None else max_length
        if num_beams is None:  # sampling options alone ask for sampling, not beams
            sampling = temperature is not None or top_k is not None
            num_beams = 1 if sampling else self.num_beams
        length_penalty = self.length_penalty if length_penalty is None else length_penalty
        decoding.check_decoding_arguments(max_length, num_beams, temperature, top_k,
                                          length_penalty, limit=self.sequence_length,
                                          min_length=min_length)
        check_vocabulary(self.text_vectorizer, type(self).__name__)
        max_length, num_beams = int(max_length), int(num_beams)
        top_k = None if top_k is None else int(top_k)
        pixels = self._pixels(images)
        function = self._decoder_function(
            max_length, num_beams, float(length_penalty), bool(early_stopping),
            None if temperature is None else float(temperature), top_k, bool(use_cache),
            bool(jit_compile), int(min_length))
        out = function(tf.convert_to_tensor(pixels, tf.float32),
                       tf.constant(int(seed), tf.int32))
        return {"token_ids": out["tokens"].numpy(),
                "captions": [c.decode("utf-8") for c in out["captions"].numpy()],
                "scores": out["scores"].numpy()}

    def _pixels(self, images):
        if isinstance(images, (tf.Tensor, np.ndarray)) and len(images.shape) == 4 and \
                np.dtype(images.dtype.name if isinstance(images, tf.Tensor)
                         else images.dtype).kind in "fiu":
            self._check_inputs({"image": images})
            return images
        return load_images(images, self.image_size)

    # ----- raw inputs and export ---------------------------------------------------
    def preprocess(self, image=None, caption=None):
        """Raw inputs -> model inputs (numpy): images (paths, bytes, arrays) and caption
        strings (-> decoder input ids)."""
        inputs = {}
        if image is not None:
            inputs["image"] = load_images(image, self.image_size)
        if caption is not None:
            check_vocabulary(self.text_vectorizer, type(self).__name__)
            strings = tf.constant([caption] if isinstance(caption, str) else list(caption))
            inputs["caption"] = self.caption_ids(strings)[0].numpy()
        if not inputs:
            raise ValueError("No input given; pass image= and/or caption=.")
        return inputs

    def raw_signature(self):
        return {"image": tf.TensorSpec((None,), tf.string, name="image")}

    def preprocess_raw(self, raw):
        return {"image": decode_images(raw["image"], self.image_size)}

    def serving_endpoints(self):
        """`serve` (default): encoded image bytes [B] -> captions by beam search
        (`num_beams`, `length_penalty` of the config, `max_length = sequence_length`);
        `serve_images`: float32 pixels [B, H, W, 3] -> the same; `serve_tensors`: the
        model's own inputs -> teacher-forced logits."""
        vocabulary = self.vocabulary

        def captions_of(images):
            out = self.search(images, self.sequence_length, self.num_beams,
                              self.length_penalty, vocabulary_size=len(vocabulary))
            return {"captions": self.detokenize(out["tokens"], vocabulary),
                    "token_ids": out["tokens"], "scores": out["scores"]}

        def serve(raw):
            return captions_of(self.preprocess_raw(raw)["image"])

        def serve_images(inputs):
            return captions_of(inputs["image"])

        def serve_tensors(inputs):
            return {"logits": self(inputs, training=False)}

        return {
            "serve": (serve, [self.raw_signature()]),
            "serve_images": (serve_images, [{"image": tf.TensorSpec(
                (None, None, None, 3), tf.float32, name="image")}]),
            "serve_tensors": (serve_tensors, [self.tensor_signature()]),
        }


def _with_special_tokens(vocabulary):
    if vocabulary is None or len(vocabulary) == 0:
        return None
    words = [str(w) for w in vocabulary
             if str(w) not in (START_TOKEN, END_TOKEN, "", "[UNK]")]
    return [START_TOKEN, END_TOKEN] + words


def _defaults(cls):
    return {name: parameter.default
            for name, parameter in inspect.signature(cls.__init__).parameters.items()
            if parameter.default is not inspect.Parameter.empty}
