"""The keras.io "Image captioning" example's model and greedy loop, re-created for timing.

Re-built from the example's architecture (its published sizes, our own code), with
random weights (no network here):

- CNN: `keras.applications.EfficientNetB0` (no top) at 299x299, its 10x10x1280 output
  reshaped to 100 grid features of 1280.
- Encoder block: LayerNorm -> Dense(512, relu) -> self-attention (1 head, key_dim 512)
  -> residual + LayerNorm.
- Decoder block: token embedding (vocab 10,000, 512) scaled by sqrt(512) + learned
  positions (25); causal, padding-masked self-attention (2 heads, key_dim 512, dropout
  0.1) + residual + LayerNorm; cross-attention (2 heads, key_dim 512) over the encoder
  output + residual + LayerNorm; Dense(512, relu) -> dropout -> Dense(512) + residual +
  LayerNorm -> dropout -> Dense(10,000, softmax).
- Generation, per batch of images: the CNN and the encoder are called once, then at
  every step the captions so far are re-tokenised by a `TextVectorization` layer (25
  ids, the last dropped -> 24), the decoder re-runs over the whole padded prefix, and
  the argmax at the current position is looked up and appended to the strings. All
  from Python, eagerly, as in the example. `tokens` steps are always run (no stop at
  <end>), so both sides of a comparison generate the same number of tokens.

>>> model = KerasIOCaptioner()
>>> model.generate(pixels, tokens=20)      # pixels [B, 299, 299, 3] -> B strings
['<start> word12 word7 ...', ...]
"""

import warnings

import keras
import numpy as np
import tensorflow as tf

IMAGE_SIZE, EMBED_DIM, FF_DIM, VOCAB_SIZE, SEQ_LENGTH = 299, 512, 512, 10000, 25


def _standardize(strings):
    # The example lower-cases and strips punctuation except < and > (<start>, <end>).
    return tf.strings.regex_replace(tf.strings.lower(strings),
                                    r"[!\"#$%&'()*+,\-./:;=?@\[\\\]^_`{|}~]", "")


class EncoderBlock(keras.layers.Layer):
    def __init__(self, dim=EMBED_DIM, heads=1, **kwargs):
        super().__init__(**kwargs)
        self.norm_in = keras.layers.LayerNormalization()
        self.dense = keras.layers.Dense(dim, activation="relu")
        self.attention = keras.layers.MultiHeadAttention(heads, key_dim=dim)
        self.norm_out = keras.layers.LayerNormalization()

    def call(self, features, training=False):
        x = self.dense(self.norm_in(features))
        return self.norm_out(x + self.attention(x, x, x, training=training))


class DecoderBlock(keras.layers.Layer):
    def __init__(self, dim=EMBED_DIM, ffn=FF_DIM, heads=2, vocab=VOCAB_SIZE,
                 length=SEQ_LENGTH, **kwargs):
        super().__init__(**kwargs)
        self.tokens = keras.layers.Embedding(vocab, dim)
        self.positions = keras.layers.Embedding(length, dim)
        self.scale = float(dim) ** 0.5
        self.self_attention = keras.layers.MultiHeadAttention(heads, dim, dropout=0.1)
        self.cross_attention = keras.layers.MultiHeadAttention(heads, dim, dropout=0.1)
        self.norms = [keras.layers.LayerNormalization() for _ in range(3)]
        self.ffn_in = keras.layers.Dense(ffn, activation="relu")
        self.ffn_out = keras.layers.Dense(dim)
        self.drop_ffn, self.drop_out = keras.layers.Dropout(0.3), keras.layers.Dropout(0.5)
        self.out = keras.layers.Dense(vocab, activation="softmax")

    def call(self, ids, memory, training=False, mask=None):
        length = tf.shape(ids)[1]
        x = self.tokens(ids) * self.scale + self.positions(tf.range(length))[None]
        causal = tf.linalg.band_part(tf.ones((length, length), tf.int32), -1, 0)[None]
        padding, combined = None, causal
        if mask is not None:
            padding = tf.cast(mask[:, :, None], tf.int32)
            combined = tf.minimum(tf.cast(mask[:, None, :], tf.int32), causal)
        x = self.norms[0](x + self.self_attention(x, x, x, attention_mask=combined,
                                                  training=training))
        x = self.norms[1](x + self.cross_attention(x, memory, memory,
                                                   attention_mask=padding,
                                                   training=training))
        hidden = self.ffn_out(self.drop_ffn(self.ffn_in(x), training=training))
        x = self.drop_out(self.norms[2](hidden + x), training=training)
        return self.out(x)


class KerasIOCaptioner:
    """The example's three parts (`cnn`, `encoder`, `decoder`), its vectorizer and its
    eager greedy loop; random weights, a synthetic 10,000-word vocabulary."""

    def __init__(self, seed=0):
        keras.utils.set_random_seed(seed)
        base = keras.applications.EfficientNetB0(
            include_top=False, weights=None, input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3))
        grid = keras.layers.Reshape((-1, base.output.shape[-1]))(base.output)
        self.cnn = keras.Model(base.input, grid)
        self.encoder = EncoderBlock()
        self.decoder = DecoderBlock()
        self.vectorization = keras.layers.TextVectorization(
            max_tokens=VOCAB_SIZE, output_sequence_length=SEQ_LENGTH,
            standardize=_standardize)
        words = ["<start>", "<end>"] + [f"word{i}" for i in range(VOCAB_SIZE - 4)]
        self.vectorization.set_vocabulary(words)
        self.index_lookup = dict(enumerate(self.vectorization.get_vocabulary()))

    def generate(self, images, tokens=20):
        """The example's `generate_caption` loop over a batch: B caption strings."""
        features = self.cnn(images)
        memory = self.encoder(features, training=False)
        captions = ["<start> "] * len(features)
        for i in range(tokens):
            ids = self.vectorization(captions)[:, :-1]
            mask = tf.math.not_equal(ids, 0)
            with warnings.catch_warnings():  # "does not support masking": as keras.io
                warnings.simplefilter("ignore")
                predictions = self.decoder(ids, memory, training=False, mask=mask)
            picked = np.argmax(predictions[:, i, :], axis=-1)
            captions = [c + " " + self.index_lookup[int(t)]
                        for c, t in zip(captions, picked)]
        return captions
