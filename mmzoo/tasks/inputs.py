"""Input checks every task shares: in Python (eager calls, with errors that name the
input, the expected and the received shape or dtype) and in the graph (traced calls,
`tf.function`, exported SavedModels), where shapes and values are known only at run time.

>>> check_arrays({"image": pixels, "audio": waves}, model._inputs_struct, kinds)
>>> inputs = graph_checks({"image": pixels_tensor, "audio": waves_tensor})
"""

import keras
import numpy as np
import tensorflow as tf

from mmzoo.layers.tracing import graphs_are_plain

# Accepted dtype kinds per input (numpy kind codes), and how to describe them.
DEFAULT_DTYPE_KINDS = {"int32": ("iu", "integer token ids"), "float32": ("fiu", "float32")}


def is_symbolic(inputs):
    """True for Keras' symbolic tensors (functional model construction)."""
    values = inputs.values() if isinstance(inputs, dict) else [inputs]
    return any(isinstance(value, keras.KerasTensor) for value in values)


def check_arrays(given, references, dtype_kinds):
    """Checks arrays (numpy or eager tensors) against the model's input specs.

    given: name -> array (absent modalities left out); references: name -> Keras input;
    dtype_kinds: name -> (numpy kind codes, description). Raises a ValueError that names
    the input for a wrong dtype, rank or fixed dimension, an empty batch, non-finite
    values, or batch sizes that disagree.
    """
    batch_sizes = {}
    for name, value in given.items():
        reference = references[name]
        shape = tuple(getattr(value, "shape", np.shape(value)))
        dtype = dtype_of(value)
        kinds, wanted = dtype_kinds.get(
            name, DEFAULT_DTYPE_KINDS.get(reference.dtype, ("fiu", reference.dtype)))
        expected = f"shape {shape_text(reference.shape)} of {wanted}"
        if dtype is not None and dtype.kind not in kinds:
            hint = ""
            if dtype.kind in "OSU":
                hint = " (raw inputs go through mmzoo.pipeline or model.preprocess)"
            raise ValueError(f"Input '{name}' expected {expected}, received dtype {dtype}{hint}.")
        if len(shape) != len(reference.shape) or any(
                want is not None and got is not None and want != got
                for want, got in zip(reference.shape[1:], shape[1:])):
            raise ValueError(f"Input '{name}' expected {expected}, received shape {list(shape)}.")
        if shape[0] == 0 or any(d == 0 for d in shape[1:]):
            raise ValueError(
                f"Input '{name}' is empty (shape {list(shape)}); "
                f"expected {expected} with at least one example.")
        if dtype is not None and dtype.kind == "f" and not tf.is_symbolic_tensor(value):
            finite = np.isfinite(np.asarray(value))
            if not finite.all():
                raise ValueError(
                    f"Input '{name}' holds {int(finite.size - finite.sum())} NaN or infinite "
                    f"value(s) of {finite.size}; expected finite {wanted}.")
        if shape[0] is not None:
            batch_sizes[name] = shape[0]
    if len(set(batch_sizes.values())) > 1:
        raise ValueError(f"Inputs disagree on the batch size: {batch_sizes}.")


def graph_checks(inputs, empty_means_absent=False, dtypes=None):
    """The run-time checks of `check_arrays` as graph assertions: the given inputs agree
    on the batch size, have at least one example, and float inputs are finite.

    With `empty_means_absent` (tasks whose modalities are optional), an input with an
    empty batch counts as absent: the others must agree and one must be non-empty.
    Returns the inputs as tensors (cast to `dtypes[name]` when given), made to depend
    on the assertions.
    """
    dtypes = dtypes or {}
    inputs = {name: None if value is None else tf.cast(tf.convert_to_tensor(value),
                                                       dtypes.get(name, value.dtype))
              for name, value in inputs.items()}
    given = {name: value for name, value in inputs.items() if value is not None}
    if not given or graphs_are_plain():
        return inputs
    names = list(given)
    sizes = {name: tf.shape(value)[0] for name, value in given.items()}
    batch = tf.reduce_max(tf.stack(list(sizes.values())))
    listed = ", ".join(f"`{name}`" for name in names)
    checks = []
    if not _in_replica_of_several():
        checks.append(tf.debugging.Assert(batch > 0, [
            f"Every input is an empty batch ({listed}); expected at least one example."]))
    for name in names:
        size = sizes[name]
        if empty_means_absent:
            agrees = tf.logical_or(tf.equal(size, batch), tf.equal(size, 0))
        else:
            agrees = tf.equal(size, batch)
        if len(names) > 1:
            checks.append(tf.debugging.Assert(agrees, [
                f"Input `{name}` has a batch size that disagrees with the other inputs "
                f"({listed}):", size, batch]))
        if given[name].dtype.is_floating:
            checks.append(tf.debugging.Assert(
                tf.reduce_all(tf.math.is_finite(given[name])),
                [f"Input `{name}` holds NaN or infinite values; expected finite numbers."]))
    with tf.control_dependencies(checks):
        return {name: (tf.identity(value) if value is not None else None)
                for name, value in inputs.items()}


def _in_replica_of_several():
    """Inside a replica's step of a strategy with several replicas, where TensorFlow may
    give a replica an empty part of a final partial batch (1 example on 2 replicas: 1 + 0)."""
    return (tf.distribute.has_strategy() and not tf.distribute.in_cross_replica_context()
            and tf.distribute.get_strategy().num_replicas_in_sync > 1)


def dtype_of(value):
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        return np.asarray(value).dtype
    try:
        return np.dtype(getattr(dtype, "as_numpy_dtype", dtype))
    except TypeError:
        return np.dtype(str(dtype)) if str(dtype) != "string" else np.dtype(object)


def shape_text(shape):
    return "[" + ", ".join("B" if i == 0 else ("?" if d is None else str(d))
                           for i, d in enumerate(shape)) + "]"
