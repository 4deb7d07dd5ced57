"""Text encoders: int32 token ids `[B, T]` (0 = padding) -> pooled + sequence features.

Every encoder masks padding, so a sentence and the same sentence with extra padding give
the same pooled output.

`embeddings="glove.6B.50d"` makes the `token_embedding` layer as wide as the GloVe
vectors (50) and `embeddings_trainable=False` freezes it; the task, which knows the
vocabulary, then writes the vectors with `mmzoo.pretrained.glove.initialize_embedding`.

>>> encoder = BACKBONES.get("bigru")(vocab_size=1000)
>>> encoder(ids)["pooled"].shape  # (B, 128)
>>> encoder = BACKBONES.get("bigru")(vocab_size=1000, embeddings="glove.6B.50d")
>>> initialize_embedding(encoder, vocabulary)  # Coverage(found=..., total=..., ...)
"""

import keras

from mmzoo.backbones.base import encoder_model, transformer_encoder
from mmzoo.layers import MaskedGlobalPooling1D, PaddingMask, PositionEmbedding, ZeroMasked
from mmzoo.pretrained.glove import dimension
from mmzoo.registry import BACKBONES

DEFAULT_EMBED_DIM = 128


def embedding_dim(embed_dim=None, embeddings=None):
    """The token embedding width: `embed_dim` (default 128), or the width of the
    pretrained `embeddings`, which an explicit different `embed_dim` contradicts."""
    if embeddings is None:
        return DEFAULT_EMBED_DIM if embed_dim is None else int(embed_dim)
    width = dimension(embeddings)
    if embed_dim is not None and int(embed_dim) != width:
        raise ValueError(
            f"embed_dim={embed_dim} contradicts embeddings={embeddings!r}, whose vectors "
            f"are {width} wide; leave embed_dim out (or set it to {width}).")
    return width


def _token_inputs(vocab_size, embed_dim, name, embeddings=None, embeddings_trainable=True):
    ids = keras.Input((None,), dtype="int32", name="token_ids")
    mask = PaddingMask(name="padding_mask")(ids)
    embedding = keras.layers.Embedding(
        vocab_size, embedding_dim(embed_dim, embeddings), mask_zero=True,
        name="token_embedding")
    embedding.trainable = bool(embeddings_trainable)
    return ids, mask, embedding(ids)


def _recurrent(cell, bidirectional, vocab_size, embed_dim, units, name, **embedding):
    ids, mask, embedded = _token_inputs(vocab_size, embed_dim, name, **embedding)
    rnn = cell(units, return_sequences=True, return_state=True, name=cell.__name__.lower())
    if bidirectional:
        outputs = keras.layers.Bidirectional(rnn, name="bidirectional")(embedded, mask=mask)
        sequence, states = outputs[0], outputs[1:]
        # LSTM returns (h, c) per direction; keep the hidden states only.
        step = len(states) // 2
        pooled = keras.layers.Concatenate(name="final_states")([states[0], states[step]])
    else:
        sequence, pooled = rnn(embedded, mask=mask)[:2]
    return encoder_model(ids, pooled, sequence, mask, name=name)


@BACKBONES.register("lstm", modality="text")
def lstm(vocab_size=20000, embed_dim=None, units=128, max_length=None,
         embeddings=None, embeddings_trainable=True, name="lstm"):
    """Embedding -> LSTM(units); pooled = the last valid step (the classic design)."""
    return _recurrent(keras.layers.LSTM, False, vocab_size, embed_dim, units, name,
                      embeddings=embeddings, embeddings_trainable=embeddings_trainable)


@BACKBONES.register("bilstm", modality="text")
def bilstm(vocab_size=20000, embed_dim=None, units=64, max_length=None,
           embeddings=None, embeddings_trainable=True, name="bilstm"):
    """Embedding -> bidirectional LSTM; pooled = both final states, `2 * units` wide."""
    return _recurrent(keras.layers.LSTM, True, vocab_size, embed_dim, units, name,
                      embeddings=embeddings, embeddings_trainable=embeddings_trainable)


@BACKBONES.register("bigru", modality="text")
def bigru(vocab_size=20000, embed_dim=None, units=64, max_length=None,
          embeddings=None, embeddings_trainable=True, name="bigru"):
    """Embedding -> bidirectional GRU; pooled = both final states, `2 * units` wide."""
    return _recurrent(keras.layers.GRU, True, vocab_size, embed_dim, units, name,
                      embeddings=embeddings, embeddings_trainable=embeddings_trainable)


@BACKBONES.register("cnn", modality="text")
def cnn(
    vocab_size=20000,
    embed_dim=None,
    filters=64,
    widths=(3, 4, 5),
    max_length=None,
    embeddings=None,
    embeddings_trainable=True,
    name="text_cnn",
):
    """Kim (2014)-style multi-width 1-D convolutions, masked max-pooling over time.

    Padded embeddings are zeroed first, so windows that reach into padding see the same
    zeros as the convolution's own 'same' padding.
    """
    ids, mask, embedded = _token_inputs(vocab_size, embed_dim, name, embeddings,
                                       embeddings_trainable)
    embedded = ZeroMasked(name="zero_padding")(embedded, mask=mask)
    maps = [
        keras.layers.Conv1D(filters, width, padding="same", activation="relu",
                            name=f"conv_{width}")(embedded)
        for width in widths
    ]
    sequence = maps[0] if len(maps) == 1 else keras.layers.Concatenate(name="maps")(maps)
    pooled = MaskedGlobalPooling1D("max", name="max_pool")(sequence, mask=mask)
    return encoder_model(ids, pooled, sequence, mask, name=name)


@BACKBONES.register("transformer", modality="text")
def transformer(
    vocab_size=20000,
    embed_dim=None,
    num_layers=2,
    num_heads=4,
    ffn_dim=256,
    max_length=128,
    dropout=0.1,
    embeddings=None,
    embeddings_trainable=True,
    name="text_transformer",
):
    """A small pre-norm Transformer encoder with learned positions and masked mean pooling."""
    ids, mask, embedded = _token_inputs(vocab_size, embed_dim, name, embeddings,
                                       embeddings_trainable)
    x = PositionEmbedding(max_length, name="positions")(embedded)
    sequence = transformer_encoder(x, num_layers, num_heads, ffn_dim, dropout, mask=mask)
    pooled = MaskedGlobalPooling1D("mean", name="mean_pool")(sequence, mask=mask)
    return encoder_model(ids, pooled, sequence, mask, name=name)
