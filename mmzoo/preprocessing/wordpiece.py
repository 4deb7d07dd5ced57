"""Raw strings -> BERT WordPiece ids `[B, sequence_length]`, as one serializable layer.

`WordPieceTokenizer` wraps KerasHub's `BertTokenizer` (lower-casing, accent stripping,
splitting on whitespace / punctuation / CJK, then WordPiece) and `StartEndPacker`
(`[CLS] ... [SEP]`, truncated, padded with id 0). Its vocabulary and normalisation
settings are constructor arguments, returned by `get_config()`: a model config alone
rebuilds the layer, without the pretrained package or a KerasHub preset folder.

It runs the same TensorFlow graph in every call, eager or traced, so `model(x)`,
`tf.data` and an exported SavedModel tokenize identically. Some of its ops (NFD
normalisation, regex split, fast WordPiece) come from TensorFlow Text: a process that
loads such a SavedModel must `import tensorflow_text` first (it registers them);
without it, `tf.saved_model.load` fails with "Op type not registered 'NormalizeUTF8'"
(or another tf-text op).

Ids equal those of the source's Hugging Face `tokenizer.json` (tested on punctuation,
accents, CJK, unknown words, truncation). Known difference: Greek final sigma ("ΟΔΟΣ"
lower-cases to "οδοσ" here, "οδος" in Python).

>>> tokenizer = WordPieceTokenizer.from_preset(mmzoo.pretrained.fetch("minilm"), 16)
>>> tokenizer(["A man is eating food."])  # [[101, 1037, 2158, 2003, 5983, 2833, 1012, 102, 0, ...]]
"""

import pathlib
import re

import keras

PAD_ID = 0  # the mmzoo text contract: id 0 is padding (BERT's [PAD] is id 0 as well)
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


@keras.saving.register_keras_serializable(package="mmzoo")
class WordPieceTokenizer(keras.layers.Layer):
    """A batch of strings `[B]` -> int32 ids `[B, sequence_length]`.

    Args:
        vocabulary: the WordPiece vocabulary, a list of tokens (id = position); it must
            hold `[PAD]` at id 0, `[UNK]`, `[CLS]`, `[SEP]` and `[MASK]`.
        sequence_length: length of every output row (`[CLS]` and `[SEP]` included).
        lowercase: lower-case (Unicode case folding) before WordPiece.
        strip_accents: remove accents (NFD, drop combining marks); `None` follows
            `lowercase`, as Hugging Face's BERT tokenizers do.
        special_tokens_in_strings: map "[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]"
            typed in a text to their ids (as Hugging Face does); False reads them as
            plain text.

    A scalar string gives one row `[sequence_length]`. Texts longer than
    `sequence_length - 2` word pieces are cut, keeping the final `[SEP]`.
    """

    fixed_vocabulary = True  # comes with the pretrained backbone: no adapt()

    def __init__(self, vocabulary, sequence_length=128, lowercase=True,
                 strip_accents=None, special_tokens_in_strings=True, **kwargs):
        kwargs["dtype"] = "int32"
        super().__init__(**kwargs)
        # Strings stay tf tensors (Keras would try to make backend tensors of them).
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        vocabulary = [str(token) for token in vocabulary]
        sequence_length = int(sequence_length)
        if sequence_length < 2:
            raise ValueError(
                f"sequence_length must leave room for [CLS] and [SEP] (at least 2), "
                f"received {sequence_length}.")
        missing = [t for t in SPECIAL_TOKENS if t not in vocabulary]
        if missing:
            raise ValueError(f"The WordPiece vocabulary lacks {', '.join(missing)} "
                             f"({len(vocabulary)} tokens received).")
        if vocabulary[PAD_ID] != "[PAD]":
            raise ValueError(
                f"mmzoo text ids use 0 for padding, but this vocabulary has "
                f"{vocabulary[PAD_ID]!r} at id 0 and [PAD] at id {vocabulary.index('[PAD]')}.")
        self.vocabulary = vocabulary
        self.sequence_length = sequence_length
        self.lowercase = bool(lowercase)
        self.strip_accents = None if strip_accents is None else bool(strip_accents)
        self.special_tokens_in_strings = bool(special_tokens_in_strings)
        self._build_layers()
        self.built = True

    def _build_layers(self):
        import keras_hub

        strip = self.lowercase if self.strip_accents is None else self.strip_accents
        # Lower-casing happens in `call` (see there), so KerasHub's is off.
        # _allow_python_workflow=False: eager calls take the same tf-text path as
        # tf.function / tf.data / SavedModel, instead of KerasHub's pure-Python path.
        self._wordpiece = keras_hub.models.BertTokenizer(
            vocabulary=self.vocabulary, lowercase=False, strip_accents=strip,
            special_tokens=["[UNK]"], special_tokens_in_strings=self.special_tokens_in_strings,
            dtype="int32", _allow_python_workflow=False, name="bert_tokenizer")
        self._packer = keras_hub.layers.StartEndPacker(
            sequence_length=self.sequence_length,
            start_value=self._wordpiece.cls_token_id,
            end_value=self._wordpiece.sep_token_id,
            pad_value=PAD_ID, dtype="int32", _allow_python_workflow=False, name="packer")

    @classmethod
    def from_preset(cls, preset, sequence_length=128, trusted=False, **kwargs):
        """The tokenizer of a KerasHub preset (a local folder or a hub handle) whose
        tokenizer is a WordPiece one (BERT family).

        trusted: the preset is mmzoo's own checksummed conversion (MiniLM), whose
        vocabulary file may be read while a `.keras` file loads in Keras' safe mode
        (which refuses vocabulary files outside the archive; other presets still do).
        """
        import contextlib

        import keras_hub
        from keras.src.saving.serialization_lib import SafeModeScope

        scope = SafeModeScope(False) if trusted else contextlib.nullcontext()
        with scope:
            hub_tokenizer = keras_hub.models.Tokenizer.from_preset(
                str(preset) if isinstance(preset, pathlib.Path) else preset)
        if not isinstance(hub_tokenizer, keras_hub.tokenizers.WordPieceTokenizer):
            raise ValueError(
                f"mmzoo's WordPieceTokenizer wraps WordPiece vocabularies only; the preset "
                f"{preset} has a {type(hub_tokenizer).__name__}.")
        return cls(hub_tokenizer.get_vocabulary(), sequence_length,
                   lowercase=hub_tokenizer.lowercase,
                   strip_accents=hub_tokenizer.strip_accents, **kwargs)

    @property
    def vocabulary_size(self):
        return len(self.vocabulary)

    def call(self, texts):
        import tensorflow as tf

        texts = tf.convert_to_tensor(texts, dtype=tf.string)
        # Hugging Face's BertNormalizer: whitespace -> " ", other control and format
        # characters removed; then Unicode lower-casing (not KerasHub's case folding,
        # which turns "ß" into "ss" and "ς" into "σ" where BERT's vocabularies do not).
        texts = tf.strings.regex_replace(texts, r"[\t\n\r]", " ")
        texts = tf.strings.regex_replace(texts, r"[\p{C}\x{FFFD}]", "")
        if self.lowercase:
            texts = self._lower(texts)
        return self._packer(self._wordpiece(texts))

    def _lower(self, texts):
        import tensorflow as tf

        if not self.special_tokens_in_strings:
            return tf.strings.lower(texts, encoding="utf-8")
        # Special tokens keep their case: park them on private-use characters (which
        # the cleaning above has removed from the text) while lower-casing.
        for index, token in enumerate(SPECIAL_TOKENS):
            texts = tf.strings.regex_replace(texts, re.escape(token), chr(0xE000 + index))
        texts = tf.strings.lower(texts, encoding="utf-8")
        for index, token in enumerate(SPECIAL_TOKENS):
            texts = tf.strings.regex_replace(texts, chr(0xE000 + index), token)
        return texts

    def compute_output_spec(self, texts):
        return keras.KerasTensor(tuple(texts.shape) + (self.sequence_length,), dtype="int32")

    def detokenize(self, ids):
        """Ids `[B, L]` -> a list of str, without `[CLS]`, `[SEP]` and padding (eager)."""
        import tensorflow as tf

        ids = tf.convert_to_tensor(ids)
        special = tf.constant([PAD_ID, self._wordpiece.cls_token_id,
                               self._wordpiece.sep_token_id], ids.dtype)
        keep = tf.reduce_all(tf.not_equal(ids[..., None], special), axis=-1)
        texts = self._wordpiece.detokenize(tf.ragged.boolean_mask(ids, keep))
        texts = texts.numpy().tolist() if hasattr(texts, "numpy") else texts
        return [t.decode("utf-8") if isinstance(t, bytes) else str(t) for t in texts]

    def get_config(self):
        return {**super().get_config(), "vocabulary": list(self.vocabulary),
                "sequence_length": self.sequence_length, "lowercase": self.lowercase,
                "strip_accents": self.strip_accents,
                "special_tokens_in_strings": self.special_tokens_in_strings}
