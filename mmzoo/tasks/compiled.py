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

import weakref

import numpy as np
import tensorflow as tf

# model -> {(step, input names): tf.function}; outside Keras' attribute tracking, so
# neither `.keras` files nor SavedModels see the functions, and a model dropped by its
# user is freed (the functions hold only a weak reference to it).
_FUNCTIONS = weakref.WeakKeyDictionary()
STEPS = ("call", "predict")


def inference_function(model, names, step="call"):
    """The cached `tf.function` running `model` on the inputs `names` (a tuple, in the
    model's input order): `step="call"` is `model(x, training=False)`, `"predict"` the
    model's `predict_step` (what `predict` returns; e.g. the retriever's embeddings)."""
    if step not in STEPS:
        raise ValueError(f"step must be one of {STEPS}, received {step!r}.")
    functions = _FUNCTIONS.setdefault(model, {})
    key = (step, tuple(names))
    if key not in functions:
        specs = {name: tf.TensorSpec(model._inputs_struct[name].shape,
                                     model._inputs_struct[name].dtype, name=name)
                 for name in names}
        functions[key] = tf.function(_runner(weakref.ref(model), step),
                                     input_signature=[specs])
    return functions[key]


def _runner(model_reference, step):
    def run(inputs):
        model = model_reference()
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


def tracing_count(model):
    """How many times `model`'s cached inference functions have been traced in all."""
    return sum(function.experimental_get_tracing_count()
               for function in _FUNCTIONS.get(model, {}).values())


def forget(model):
    """Drops `model`'s cached functions (they are rebuilt on the next call)."""
    _FUNCTIONS.pop(model, None)
