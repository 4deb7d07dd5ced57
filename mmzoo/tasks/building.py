"""Helpers tasks use while they build themselves: the classification head, backbone
options as configs keep them, text tokenizers, per-model dtype policies, defaults.

>>> logits = dense_head(fused, head_units=[256], dropout=0.2, num_outputs=10)
>>> with dtype_policy_scope("mixed_bfloat16"):
...     ...   # every layer created here takes that policy
"""

import contextlib
import functools
import inspect
import warnings

import keras

from mmzoo.backbones import tokenizer_for_backbone
from mmzoo.preprocessing.text import text_vectorizer


def dense_head(x, head_units, dropout, num_outputs):
    """The MLP head of the classifier and VQA tasks: (dropout, ReLU Dense) per entry of
    `head_units`, dropout, then float32 logits (also under mixed precision).

    >>> logits = dense_head(fused, head_units=[256], dropout=0.2, num_outputs=10)
    """
    for index, units in enumerate(head_units):
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"head_dropout_{index}")(x)
        x = keras.layers.Dense(units, activation="relu", name=f"head_hidden_{index}")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    return keras.layers.Dense(num_outputs, dtype="float32", name="head_logits")(x)


DTYPES = ("float32", "float16", "bfloat16", "mixed_float16", "mixed_bfloat16")

# Backbone options that only choose initial weights: configs keep them as None.
INITIALIZER_OPTIONS = ("weights", "embeddings")


def config_options(options):
    """Backbone options as a config keeps them: initialisers set to None (a rebuilt model
    takes its weights from its file, not from a pretrained source)."""
    return {key: (None if key in INITIALIZER_OPTIONS else value)
            for key, value in dict(options or {}).items()}


def text_tokenizer(backbone, options, vocab_size, sequence_length, vocabulary=None,
                   name="text_vectorizer"):
    """What turns raw strings into `backbone`'s token ids: the pretrained backbone's own
    WordPiece tokenizer (MiniLM, KerasHub presets: a fixed vocabulary), else a
    `TextVectorizer` over `vocabulary` (adapted from the training texts when None)."""
    tokenizer = tokenizer_for_backbone(backbone, options, sequence_length)
    if tokenizer is not None:
        return tokenizer
    return text_vectorizer(vocab_size, sequence_length, vocabulary, name=name)


@contextlib.contextmanager
def dtype_policy_scope(dtype):
    """Layers created inside take `dtype` (a policy name) as their dtype policy; None
    leaves Keras' global policy."""
    if dtype is None:
        yield
        return
    name = dtype if isinstance(dtype, str) else getattr(dtype, "name", None)
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES} or None, received {dtype!r}.")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


@functools.cache
def native_bfloat16():
    """True where bfloat16 arithmetic is native: a GPU, or a CPU with AVX512-BF16 or
    AMX-BF16 (TensorFlow's oneDNN kernels use them); False for a Linux CPU without
    them, where oneDNN emulates bfloat16 and it runs slower than float32; None when
    the CPU cannot be read."""
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        return True
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            flags = next((line.split() for line in cpuinfo if line.startswith("flags")), [])
    except OSError:
        return None
    return bool({"avx512_bf16", "amx_bf16"} & set(flags)) if flags else None


def _warn_if_emulated(dtype):
    if dtype is not None and "bfloat16" in str(dtype) and native_bfloat16() is False:
        warnings.warn(
            f"dtype={dtype!r}: this CPU has no native bfloat16 (AVX512-BF16 or AMX-BF16), "
            "so bfloat16 is emulated and runs slower than float32 here; it pays off on "
            "CPUs that have it and on GPUs (see benchmarks/README.md).", stacklevel=2)


def built_under_dtype_policy(init):
    """Wraps a task's `__init__` so that `dtype=` (KerasHub's per-model convention)
    applies to every layer the task builds, and is kept in its config."""

    @functools.wraps(init)
    def build(self, *args, **kwargs):
        dtype = kwargs.get("dtype")
        if isinstance(dtype, dict):  # a serialized policy, from a config
            dtype = kwargs["dtype"] = dtype.get("config", {}).get("name")
        _warn_if_emulated(dtype)
        with dtype_policy_scope(dtype):
            init(self, *args, **kwargs)
        self._explicit_dtype = dtype

    # Keras reads the constructor's argument spec (not following __wrapped__).
    build.__signature__ = inspect.signature(init)
    return build


def constructor_defaults(cls):
    """The default values of `cls.__init__`'s arguments (a task's default config)."""
    return {name: parameter.default
            for name, parameter in inspect.signature(cls.__init__).parameters.items()
            if parameter.default is not inspect.Parameter.empty}


def plain_structure(value):
    """Nested dicts and lists (Keras' tracked wrappers included) as plain new ones.

    >>> plain_structure({"a": [1, (2, 3)]})
    {'a': [1, [2, 3]]}
    """
    if isinstance(value, dict):
        return {key: plain_structure(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_structure(item) for item in value]
    return value
