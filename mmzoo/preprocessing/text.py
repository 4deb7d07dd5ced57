"""Text -> token ids with Keras' `TextVectorization` (lower-cased, punctuation stripped).

Id 0 is padding and id 1 the out-of-vocabulary token. The vocabulary is a constructor
argument of every task, so it travels in the model config, the `.keras` file, the weights
folder and the SavedModel.

>>> vectorizer = text_vectorizer(vocab_size=1000, sequence_length=8)
>>> vectorizer.adapt(["a red circle", "a blue square"])
>>> vectorizer(["a red square"])  # [[2, 3, 4, 0, 0, 0, 0, 0]] (ids depend on counts)
"""

import keras
import numpy as np
import tensorflow as tf

from mmzoo.layers.tracing import graphs_are_plain

RESERVED_TOKENS = 2  # padding "" and "[UNK]"
PAD_ID, UNK_ID = 0, 1


@keras.saving.register_keras_serializable(package="mmzoo")
class TextVectorizer(keras.layers.TextVectorization):
    """`TextVectorization` whose vocabulary travels in its task's config only.

    Keras also writes an adapted vocabulary as a `.keras` asset, and fails to load the
    asset of a vectorizer saved before `adapt` (no vocabulary yet); mmzoo tasks rebuild
    their vectorizers from the config, so the asset is skipped both ways.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Keras' saving also visits the inner lookup layer on its own.
        self._lookup_layer.save_assets = self.save_assets
        self._lookup_layer.load_assets = self.load_assets

    @property
    def input_label(self):
        """The input this vectorizer reads, for error messages ("question" for
        `question_vectorizer`)."""
        return self.name.removesuffix("_vectorizer")

    def call(self, inputs):
        if not graphs_are_plain():
            inputs = tf.convert_to_tensor(inputs)
            if inputs.dtype == tf.string:
                inputs = checked_utf8(inputs, self.input_label)
        return super().call(inputs)

    def save_assets(self, dir_path):
        pass

    def load_assets(self, dir_path):
        pass


def checked_utf8(strings, name="text"):
    """`strings` (a string tensor), made to depend on a graph assertion that each is
    valid UTF-8, with a message that names input `name` (TensorFlow's own text ops
    would read the bytes without complaint)."""
    repaired = tf.strings.unicode_transcode(strings, "UTF-8", "UTF-8", errors="replace")
    valid = tf.reduce_all(tf.equal(repaired, strings))
    message = (f"Input `{name}` holds bytes that are not valid UTF-8; decode the text "
               "(or replace its bad bytes) first.")
    check = tf.debugging.Assert(valid, [message])
    with tf.control_dependencies([check]):
        return tf.identity(strings)


def text_vectorizer(vocab_size, sequence_length, vocabulary=None, name="text_vectorizer"):
    """A `TextVectorizer` producing int ids padded/truncated to `sequence_length`."""
    if vocabulary is not None and len(vocabulary) == 0:
        vocabulary = None
    if vocabulary is not None and len(vocabulary) + RESERVED_TOKENS > vocab_size:
        raise ValueError(
            f"The vocabulary has {len(vocabulary)} words but vocab_size={vocab_size} "
            f"leaves room for {vocab_size - RESERVED_TOKENS}."
        )
    return TextVectorizer(
        max_tokens=vocab_size,
        output_mode="int",
        output_sequence_length=sequence_length,
        vocabulary=None if vocabulary is None else list(vocabulary),
        name=name,
    )


def has_fixed_vocabulary(tokenizer):
    """True for tokenizers whose vocabulary comes with a pretrained backbone (WordPiece);
    they need no `adapt` and their vocabulary is not a model argument."""
    return bool(getattr(tokenizer, "fixed_vocabulary", False))


def vocabulary_of(vectorizer):
    """The learned words (no padding or OOV token), or `[]` before `adapt`."""
    if has_fixed_vocabulary(vectorizer):
        return list(vectorizer.vocabulary)
    try:
        words = vectorizer.get_vocabulary(include_special_tokens=False)
    except Exception:  # an unadapted lookup table raises on read
        return []
    return [str(word) for word in words]


def check_vocabulary(vectorizer, owner="this model"):
    """Raises a ValueError explaining how to get a vocabulary when there is none."""
    if not has_fixed_vocabulary(vectorizer) and not vocabulary_of(vectorizer):
        raise ValueError(
            f"The text vocabulary of {owner} is empty. Load trained weights "
            "(mmzoo.load(name, weights=...)) or build one from your texts with "
            "model.adapt_text(texts) before passing raw strings."
        )


def as_string_batch(texts, name="text"):
    """A 1-D numpy array of str from a string or a sequence of strings."""
    if isinstance(texts, (str, bytes)):
        texts = [texts]
    array = np.asarray(texts, dtype=object)
    if array.ndim != 1 or not all(isinstance(t, (str, bytes)) for t in array):
        raise ValueError(
            f"'{name}' expects a string or a list of strings, received {texts!r:.80}."
        )
    decoded = []
    for index, text in enumerate(array):
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError as error:
                raise ValueError(
                    f"'{name}' item {index} is not valid UTF-8 ({error.reason} at byte "
                    f"{error.start}); decode it to str first.") from None
        decoded.append(text)
    return np.array(decoded)
