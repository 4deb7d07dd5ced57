"""Compiled inference for callers that wait on a few examples (pipelines, `predict` on
a small batch): `model(x)` through a `tf.function` traced once per input signature and
kept per model.

An eager Keras call of a functional model dispatches every op from Python (60-300 ms
for the shipped presets at batch 1) and `keras.Model.predict` builds a data adapter
per call (~135 ms); the traced graph runs in a few milliseconds, as the exported
SavedModel does. The signature is the model's own input specs (batch and any
unfixed dimension `None`), one per set of inputs given (a classifier called with
image and audio, or image alone), so new batch sizes, image sizes or clip lengths never
retrace. Inside, the call is `model(x, training=False)`: the graph checks of
`mmzoo.tasks.inputs.graph_checks` run as in `model(x)`.

>>> function = inference_function(model, ("image", "audio"))
>>> function({"image": pixels, "audio": waves})       # == model(x, training=False)
>>> tracing_count(model)                              # 1, however often it is called
"""

import os
import weakref

import numpy as np
import tensorflow as tf

from mmzoo.preprocessing import read_file

# model -> {(step, input names): tf.function}; outside Keras' attribute tracking, so
# neither `.keras` files nor SavedModels see the functions, and a model dropped by its
# user is freed (the functions hold only a weak reference to it).
_FUNCTIONS = weakref.WeakKeyDictionary()
STEPS = ("call", "predict", "raw")


def inference_function(model, names, step="call"):
    """The cached `tf.function` running `model` on the inputs `names` (a tuple, in the
    model's input order): `step="call"` is `model(x, training=False)`, `"predict"` the
    model's `predict_step` (what `predict` returns; e.g. the retriever's embeddings),
    `"raw"` `model(model.preprocess_raw(x))` on one string per example (encoded image
    and WAV bytes, texts), as the exported SavedModel's `serve` does."""
    if step not in STEPS:
        raise ValueError(f"step must be one of {STEPS}, received {step!r}.")
    functions = _FUNCTIONS.setdefault(model, {})
    key = (step, tuple(names))
    if key not in functions:
        if step == "raw":
            specs = {name: tf.TensorSpec((None,), tf.string, name=name) for name in names}
        else:
            specs = {name: tf.TensorSpec(model._inputs_struct[name].shape,
                                         model._inputs_struct[name].dtype, name=name)
                     for name in names}
        functions[key] = tf.function(_runner(weakref.ref(model), step),
                                     input_signature=[specs])
    return functions[key]


def _runner(model_reference, step):
    def run(inputs):
        model = model_reference()
        if step == "raw":
            return model(model.preprocess_raw(inputs), training=False)
        full = {name: inputs.get(name) for name in model.input_names}
        if step == "predict":
            return model.predict_step((full,))
        return model(full, training=False)

    return run


def as_input_tensors(model, inputs):
    """The given (non-None) entries of a standardized input dict as tensors of the
    model's input dtypes (cast as Keras' own call casts them)."""
    tensors = {}
    for name, value in inputs.items():
        if value is None:
            continue
        dtype = model._inputs_struct[name].dtype
        if isinstance(value, tf.Tensor):
            tensors[name] = value if value.dtype == dtype else tf.cast(value, dtype)
        else:
            tensors[name] = tf.convert_to_tensor(np.asarray(value).astype(dtype, copy=False))
    return tensors


def run_compiled(model, inputs, step="call"):
    """Runs a standardized input dict (`Task.standardize_inputs`) through the cached
    function of its signature; returns what `model(x)` (or `predict_step`) returns."""
    tensors = as_input_tensors(model, inputs)
    names = tuple(name for name in model.input_names if name in tensors)
    return inference_function(model, names, step)(tensors)


def encoded_batch(model, raw):
    """The raw inputs as equal-length lists of encoded items (the bytes of file paths,
    bytes, and strings for text inputs), ready for the `"raw"` step; None when any
    input is something else (arrays, a missing required input, lengths that differ),
    for the caller to go through `preprocess`, which broadcasts or raises."""
    texts = set(model.text_vectorizers)
    accepted = set(model.raw_signature())
    batch = {}
    for name, value in raw.items():
        if value is None:
            continue
        items = list(value) if isinstance(value, (list, tuple)) else [value]
        if name not in accepted or not items:
            return None
        if name in texts:
            if not all(isinstance(item, str) for item in items):
                return None
        elif all(isinstance(item, (str, bytes, os.PathLike)) for item in items):
            items = [item if isinstance(item, bytes) else read_file(item, name, name)
                     for item in items]
        else:
            return None
        batch[name] = items
    if (not batch or len({len(items) for items in batch.values()}) != 1
            or any(name not in batch for name in model.required_inputs)):
        return None
    return batch


def run_encoded(model, batch):
    """Runs an `encoded_batch` through the cached `"raw"` function of its inputs."""
    names = tuple(name for name in model.raw_signature() if name in batch)
    return inference_function(model, names, "raw")(
        {name: tf.constant(items, tf.string) for name, items in batch.items()})


def tracing_count(model):
    """How many times `model`'s cached inference functions have been traced in all."""
    return sum(function.experimental_get_tracing_count()
               for function in _FUNCTIONS.get(model, {}).values())


def forget(model):
    """Drops `model`'s cached functions (they are rebuilt on the next call)."""
    _FUNCTIONS.pop(model, None)
