"""Caption decoders: a pre-norm Transformer decoder and Show, Attend and Tell's LSTM
with soft attention. Both expose the same decoding interface (`prepare_context`,
`initial_state`, `step`) used by `mmzoo.tasks.captioning.decoding`.

>>> decoder = TransformerCaptionDecoder(vocab_size=1000, max_length=20, dim=128)
>>> logits = decoder(token_ids, memory)   # [B, T, 1000] float32, teacher forcing
"""

import keras
import tensorflow as tf
from keras import ops

from mmzoo.layers import PositionEmbedding
from mmzoo.layers.tracing import graphs_are_plain
from mmzoo.tasks.captioning.losses import token_mean
from mmzoo.tasks.captioning.tokens import NEG_INF, PAD_ID


def _token_embedding(layer, vocab_size, width, embedding_dim):
    """Sets `layer.token_embedding` (`embedding_dim` wide, default `width`) and, when the
    table is narrower than the decoder (e.g. 50-wide GloVe rows), a bias-free
    `embedding_projection` to `width`."""
    layer.embedding_dim = int(embedding_dim or width)
    layer.token_embedding = keras.layers.Embedding(
        vocab_size, layer.embedding_dim, dtype=layer.dtype_policy, name="token_embedding")
    layer.embedding_projection = None
    if layer.embedding_dim != width:
        layer.embedding_projection = keras.layers.Dense(
            width, use_bias=False, dtype=layer.dtype_policy, name="embedding_projection")


def _build_token_embedding(layer, tokens_shape):
    layer.token_embedding.build(tokens_shape)
    if layer.embedding_projection is not None:
        layer.embedding_projection.build(tuple(tokens_shape) + (layer.embedding_dim,))


def _embed(layer, tokens):
    embedded = layer.token_embedding(tokens)
    if layer.embedding_projection is not None:
        embedded = layer.embedding_projection(embedded)
    return embedded


def _attend(query, key, value, mask=None):
    """Scaled dot-product attention on projected heads `[B, T, H, d]` x `[B, S, H, d]`;
    `mask` broadcasts to `[B, H, T, S]` (True = may attend). Softmax in float32."""
    scale = 1.0 / float(query.shape[-1]) ** 0.5
    scores = ops.cast(ops.einsum("bthd,bshd->bhts", query, key), "float32") * scale
    if mask is not None:
        scores = ops.where(mask, scores, NEG_INF)
    weights = ops.cast(ops.softmax(scores, axis=-1), value.dtype)
    return ops.einsum("bhts,bshd->bthd", weights, value)


def _project_in(dense, x):
    """`x` `[N, dim]` through a MultiHeadAttention input projection (kernel `[dim, H,
    d]`) as one 2-D matmul: `[N, H, d]` (what the layer's einsum gives, without its
    transposes)."""
    kernel = ops.cast(dense.kernel, x.dtype)
    dim, heads, depth = kernel.shape
    y = ops.matmul(x, ops.reshape(kernel, (dim, heads * depth)))
    if dense.bias is not None:
        y = y + ops.reshape(ops.cast(dense.bias, x.dtype), (heads * depth,))
    return ops.reshape(y, (-1, heads, depth))


def _project_out(dense, x):
    """`[N, H, d]` through a MultiHeadAttention output projection: `[N, dim]`."""
    kernel = ops.cast(dense.kernel, x.dtype)
    heads, depth, dim = kernel.shape
    y = ops.matmul(ops.reshape(x, (-1, heads * depth)),
                   ops.reshape(kernel, (heads * depth, dim)))
    return y if dense.bias is None else y + ops.cast(dense.bias, x.dtype)


def _attend_one(query, key, value, mask=None):
    """`_attend` for one query position, heads first: `[N, H, d]` x `[N, H, S, d]` ->
    `[N, H, d]`; `mask` broadcasts to `[N, H, 1, S]`."""
    scale = 1.0 / float(query.shape[-1]) ** 0.5
    scores = tf.linalg.matmul(query[:, :, None], key, transpose_b=True)
    scores = ops.cast(scores, "float32") * scale
    if mask is not None:
        scores = ops.where(mask, scores, NEG_INF)
    weights = ops.cast(ops.softmax(scores, axis=-1), value.dtype)
    return tf.linalg.matmul(weights, value)[:, :, 0]


def _check_not_quantized(*attentions):
    for attention in attentions:
        for dense in (attention.query_dense, attention.key_dense, attention.value_dense,
                      attention.output_dense):
            if getattr(dense, "quantization_mode", None):
                raise NotImplementedError("Cached decoding reads the attention kernels "
                                          "directly; quantized ones are not supported.")


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
        self.self_norm = keras.layers.LayerNormalization(
            epsilon=1e-6, dtype=self.dtype_policy, name="self_norm")
        self.self_attention = keras.layers.MultiHeadAttention(
            self.num_heads, head_dim, dtype=self.dtype_policy, name="self_attention")
        self.cross_norm = keras.layers.LayerNormalization(
            epsilon=1e-6, dtype=self.dtype_policy, name="cross_norm")
        self.cross_attention = keras.layers.MultiHeadAttention(
            self.num_heads, head_dim, dtype=self.dtype_policy, name="cross_attention")
        self.ffn_norm = keras.layers.LayerNormalization(
            epsilon=1e-6, dtype=self.dtype_policy, name="ffn_norm")
        self.ffn_hidden = keras.layers.Dense(self.ffn_dim, activation="gelu",
                                             dtype=self.dtype_policy, name="ffn_hidden")
        self.ffn_output = keras.layers.Dense(self.dim, dtype=self.dtype_policy,
                                             name="ffn_output")
        self.drop = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)

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

    def step_context(self, memory):
        """`context` for `step`: keys and values heads first, `[N, H, regions, d]`."""
        return tuple(ops.transpose(t, (0, 2, 1, 3)) for t in self.context(memory))

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
        `[N, heads, max_length, head_dim]` of the positions so far, `context` from
        `step_context`. Returns (y, cache). The same arithmetic as `call`, with 2-D
        matmuls on the layers' kernels (no per-step transposes of the image keys)."""
        attention, cross = self.self_attention, self.cross_attention
        _check_not_quantized(attention, cross)
        x = x[:, 0]
        h = self.self_norm(x)
        slots = ops.arange(ops.shape(cache[0])[2])
        here = ops.reshape(ops.equal(slots, index), (1, 1, -1, 1))
        keys = ops.where(here, _project_in(attention.key_dense, h)[:, :, None], cache[0])
        values = ops.where(here, _project_in(attention.value_dense, h)[:, :, None],
                           cache[1])
        visible = ops.reshape(slots <= index, (1, 1, 1, -1))
        attended = _attend_one(_project_in(attention.query_dense, h), keys, values,
                               visible)
        x = x + _project_out(attention.output_dense, attended)
        query = _project_in(cross.query_dense, self.cross_norm(x))
        x = x + _project_out(cross.output_dense, _attend_one(query, *context))
        x = x + self.ffn_output(self.ffn_hidden(self.ffn_norm(x)))
        return x[:, None], (keys, values)

    def compute_output_shape(self, x_shape, memory_shape):
        return x_shape

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "num_heads": self.num_heads,
                "ffn_dim": self.ffn_dim, "dropout": self.dropout}


@keras.saving.register_keras_serializable(package="mmzoo")
class TransformerCaptionDecoder(keras.layers.Layer):
    """Token embedding + learned positions, `num_layers` `CaptionDecoderBlock`s, final
    norm and a float32 vocabulary projection.

    `embedding_dim` (default `dim`): width of the token table; a narrower table (e.g.
    GloVe's 50) is projected to `dim` by `embedding_projection`.

    >>> decoder = TransformerCaptionDecoder(vocab_size=1000, max_length=20, dim=64)
    >>> logits = decoder(ids, memory)                  # teacher forcing, [B, T, 1000]
    >>> context = decoder.prepare_context(memory)       # image keys/values, once
    >>> state = decoder.initial_state(context, 20)      # empty self-attention caches
    >>> logits, state = decoder.step(ids[:, 0], 0, state, context)   # [B, 1000]
    """

    def __init__(self, vocab_size, max_length, dim=256, num_layers=2, num_heads=4,
                 ffn_dim=1024, dropout=0.0, embedding_dim=None, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.max_length = int(vocab_size), int(max_length)
        self.dim, self.num_layers, self.num_heads = int(dim), int(num_layers), int(num_heads)
        self.ffn_dim, self.dropout = int(ffn_dim), float(dropout)
        _token_embedding(self, self.vocab_size, self.dim, embedding_dim)
        self.positions = PositionEmbedding(self.max_length, dtype=self.dtype_policy,
                                           name="positions")
        self.drop = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)
        self.blocks = [CaptionDecoderBlock(self.dim, self.num_heads, self.ffn_dim,
                                           self.dropout, dtype=self.dtype_policy,
                                           name=f"block_{i}")
                       for i in range(self.num_layers)]
        self.final_norm = keras.layers.LayerNormalization(
            epsilon=1e-6, dtype=self.dtype_policy, name="final_norm")
        self.logits = keras.layers.Dense(self.vocab_size, dtype="float32", name="logits")

    def build(self, tokens_shape, memory_shape):
        x_shape = (tokens_shape[0], tokens_shape[1], self.dim)
        _build_token_embedding(self, tokens_shape)
        self.positions.build(x_shape)
        for block in self.blocks:
            block.build(x_shape, memory_shape)
        self.final_norm.build(x_shape)
        self.logits.build(x_shape)

    def _head(self, x):
        return ops.cast(self.logits(self.final_norm(x)), "float32")

    def call(self, tokens, memory, training=None):
        x = self.drop(self.positions(_embed(self, tokens)), training=training)
        for block in self.blocks:
            x = block(x, memory, training=training)
        return self._head(x)

    def prepare_context(self, memory):
        return [block.step_context(memory) for block in self.blocks]

    def initial_state(self, context, max_length):
        rows = ops.shape(context[0][0])[0]
        shape = (rows, self.num_heads, max_length, self.dim // self.num_heads)
        zeros = ops.zeros(shape, dtype=context[0][0].dtype)
        return [(zeros, zeros) for _ in self.blocks]

    def step(self, tokens, index, state, context):
        x = _embed(self, ops.expand_dims(tokens, 1))
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
                "ffn_dim": self.ffn_dim, "dropout": self.dropout,
                "embedding_dim": self.embedding_dim}


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

    `embedding_dim` (default `embed_dim`): width of the token table; a narrower table
    (e.g. GloVe's 50) is projected to `embed_dim`, and E y stands for that projection.

    >>> decoder = AttentionLSTMDecoder(vocab_size=1000, embed_dim=64, units=128)
    >>> logits = decoder(ids, features)                 # [B, T, 1000]
    >>> state = decoder.initial_state(decoder.prepare_context(features), 20)  # (h, c)
    """

    def __init__(self, vocab_size, embed_dim=256, units=512, attention_units=256,
                 dropout=0.0, attention_regularizer=1.0, embedding_dim=None, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.embed_dim = int(vocab_size), int(embed_dim)
        self.units, self.attention_units = int(units), int(attention_units)
        self.dropout = float(dropout)
        self.attention_regularizer = float(attention_regularizer)
        def dense(units, **options):
            return keras.layers.Dense(units, **{"dtype": self.dtype_policy, **options})

        _token_embedding(self, self.vocab_size, self.embed_dim, embedding_dim)
        self.init_h = dense(self.units, activation="tanh", name="init_h")
        self.init_c = dense(self.units, activation="tanh", name="init_c")
        self.feature_attention = dense(self.attention_units, name="feature_attention")
        self.hidden_attention = dense(self.attention_units, use_bias=False,
                                      name="hidden_attention")
        self.attention_score = dense(1, name="attention_score")
        self.gate = dense(1, activation="sigmoid", name="gate")
        self.cell = keras.layers.LSTMCell(self.units, dtype=self.dtype_policy, name="lstm")
        self.out_hidden = dense(self.embed_dim, name="out_hidden")
        self.out_context = dense(self.embed_dim, name="out_context")
        self.drop = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)
        self.logits = dense(self.vocab_size, dtype="float32", name="logits")

    def build(self, tokens_shape, memory_shape):
        batch, features = memory_shape[0], memory_shape[-1]
        _build_token_embedding(self, tokens_shape)
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
        embedded = _embed(self, tokens)
        h, c, z, _ = self._recur(embedded, state, context)
        return self._output(embedded, h, z), (h, c)

    def call(self, tokens, memory, training=None):
        embedded = _embed(self, tokens)
        context = self.prepare_context(memory)
        h, c = self.initial_state(context)
        regions = ops.shape(memory)[1]
        start = (h, c, ops.zeros_like(context["features"][:, 0]),
                 ops.zeros((ops.shape(memory)[0], regions), "float32"))

        def recur(carry, embedded_t):
            return self._recur(embedded_t, carry[:2], context)

        steps = embedded.shape[1]
        if graphs_are_plain() and steps is not None:
            # Unrolled: TFLite's builtin ops cannot run tf.scan's TensorLists over a
            # dynamic batch. The same steps, so the same values.
            carry, outputs = start, []
            for t in range(steps):
                carry = recur(carry, embedded[:, t])
                outputs.append(carry)
            hs, _, zs, alphas = (ops.stack(parts, axis=1) for parts in zip(*outputs))
        else:
            hs, _, zs, alphas = tf.scan(recur, tf.transpose(embedded, [1, 0, 2]),
                                        initializer=start)
            hs, zs, alphas = (tf.transpose(t, [1, 0, 2]) for t in (hs, zs, alphas))
        if training and self.attention_regularizer:
            self.add_loss(self.attention_penalty(alphas, tokens))
        return self._output(embedded, hs, zs, training)

    def attention_penalty(self, alphas, tokens):
        """The doubly stochastic regulariser of `alphas` `[B, T, regions]`."""
        valid = ops.cast(ops.not_equal(tokens, PAD_ID), "float32")
        coverage = ops.sum(alphas * ops.expand_dims(valid, -1), axis=1)
        total = ops.sum(ops.square(1.0 - coverage))
        return self.attention_regularizer * token_mean(total, ops.sum(valid))

    def compute_output_shape(self, tokens_shape, memory_shape):
        return (tokens_shape[0], tokens_shape[1], self.vocab_size)

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size,
                "embed_dim": self.embed_dim, "units": self.units,
                "attention_units": self.attention_units, "dropout": self.dropout,
                "attention_regularizer": self.attention_regularizer,
                "embedding_dim": self.embedding_dim}
