"""Inference-only execution of a functional Keras model with every BatchNormalization
folded into the convolution before it.

`folded_call(model)` returns a function that computes `model(x, training=False)` with
each bias-free `Conv2D` / `DepthwiseConv2D` whose only consumer is a channels-last
`BatchNormalization` run as one convolution with a bias: kernel * scale and offset
computed from the live variables at every call (one multiply per kernel weight, ~4 ms
for EfficientNetB0's 4M; never stale after training or `load_weights`). TensorFlow's CPU
graph optimiser then fuses convolution + bias (+ activation) into one oneDNN kernel,
which it cannot do across a BatchNormalization's separate multiply and add. Swish
activations are written as `x * sigmoid(x)` (`tf.nn.silu`'s custom gradient blocks
that fusion too). EfficientNetB0 at 299x299 in a `tf.function` on a 2-core AVX-512 CPU:
15-35% less time (batch 1 and 32). Nested functional models are folded too; anything
else runs as usual (the same values up to float rounding).

>>> encode = tf.function(folded_call(model.image_encoder))
>>> encode(pixels)     # == model.image_encoder(pixels, training=False), faster
"""

import keras
import tensorflow as tf


def _consumers(model):
    """{id(layer): [layers reading its output]} in `model`'s own graph."""
    consumers = {}
    for layer in model.layers:
        for node in layer._inbound_nodes:
            for tensor in node.input_tensors:
                producer = tensor._keras_history.operation
                consumers.setdefault(id(producer), []).append(layer)
    return consumers


def _only_user(layer, consumers, kind):
    users = consumers.get(id(layer), [])
    if len(layer._inbound_nodes) == 1 and len(users) == 1 and isinstance(users[0], kind):
        return users[0]
    return None


def _fold_pairs(model):
    """{id(conv): bn} for the conv -> BN pairs of `model`'s own graph that fold."""
    consumers, pairs = _consumers(model), {}
    for layer in model.layers:
        norm = _only_user(layer, consumers, keras.layers.BatchNormalization)
        if (isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D))
                and norm is not None and not layer.use_bias
                and layer.data_format == "channels_last" and norm.axis in (-1, 3)
                and len(norm._inbound_nodes) == 1):
            pairs[id(layer)] = norm
    return pairs


def _folded_conv(conv, norm):
    def call(x, *args, **kwargs):
        # In float32 (the variables' dtype), cast to the compute dtype at the end.
        scale = tf.math.rsqrt(norm.moving_variance + norm.epsilon)
        if norm.scale:
            scale = scale * norm.gamma
        offset = -norm.moving_mean * scale
        if norm.center:
            offset = offset + norm.beta
        kernel = conv.kernel
        if isinstance(conv, keras.layers.DepthwiseConv2D):
            kernel = kernel * tf.reshape(scale, tf.shape(kernel)[2:])
        else:
            kernel = kernel * scale
        kernel, offset = tf.cast(kernel, x.dtype), tf.cast(offset, x.dtype)
        if hasattr(conv, "convolution_op"):
            y = conv.convolution_op(x, kernel)
        else:
            y = _depthwise(conv, x, kernel)
        y = tf.nn.bias_add(y, offset)
        if conv.activation in (keras.activations.silu, keras.activations.swish):
            return _swish(y)
        return conv.activation(y)

    return call


def _depthwise(conv, x, kernel):
    return keras.ops.depthwise_conv(x, kernel, strides=conv.strides, padding=conv.padding,
                                    dilation_rate=conv.dilation_rate,
                                    data_format=conv.data_format)


def _swish(x):
    # Without tf.nn.silu's custom gradient (an IdentityN op that keeps the optimiser from
    # fusing the activation into the convolution before it).
    return x * tf.sigmoid(x)


def _foldable(model):
    return isinstance(model, keras.Model) and hasattr(model, "_run_through_graph") and \
        hasattr(model, "_nodes_by_depth") and len(getattr(model, "inputs", None) or ()) == 1


def _identity(x, *args, **kwargs):
    return x


def folded_call(model):
    """`model(x, training=False)` with BatchNormalization folded into convolutions (see
    the module docstring); a non-functional model is returned as a plain inference
    call (as is a model with several inputs)."""
    if not _foldable(model):
        return lambda x: model(x, training=False)
    pairs = _fold_pairs(model)
    skipped = {id(norm) for norm in pairs.values()}
    nested = {}

    def operation_fn(operation):
        if id(operation) in pairs:
            return _folded_conv(operation, pairs[id(operation)])
        if id(operation) in skipped:
            return _identity
        if isinstance(operation, keras.layers.Activation) and \
                operation.activation in (keras.activations.silu, keras.activations.swish):
            return lambda x, *args, **kwargs: _swish(x)
        if _foldable(operation):
            if id(operation) not in nested:
                inner = folded_call(operation)
                nested[id(operation)] = lambda x, *args, **kwargs: inner(x)
            return nested[id(operation)]

        def run(*args, **kwargs):
            if "training" in getattr(operation, "_call_context_args", {}):
                kwargs["training"] = False
            return operation(*args, **kwargs)

        return run

    def call(x):
        outputs = model._run_through_graph(model._standardize_inputs(x),
                                           operation_fn=operation_fn)
        return outputs[0] if isinstance(outputs, (list, tuple)) and \
            len(outputs) == 1 else outputs

    return call
