"""int8 inference of a Keras image model on CPU: post-training quantization with
TensorFlow's TFLite converter, run by LiteRT (`ai-edge-litert`, the maintained successor
of `tf.lite.Interpreter`) and its XNNPACK kernels, which use AVX512-VNNI / AVX-VNNI
int8 instructions where the CPU has them.

Weights are quantized per channel and activations per tensor, with ranges measured on
calibration images: use a few hundred images like the ones the model will see. The
result is a snapshot of the weights at conversion time (quantize again after training).
Inputs and outputs stay float32. On a 2-core AVX512-VNNI CPU, the keras.io-sized
captioner's image encoder (EfficientNetB0 at 299x299) runs 2.9x faster than TensorFlow's
float32 graph at batch 1 and 2.1x at batch 32 (benchmarks/README.md).

>>> backbone = Int8Model.quantize(extractor, calibration_pixels)   # ~10-30 s, once
>>> features = backbone(pixels)        # float32 [B, ...] like extractor(pixels)
>>> backbone.save("backbone.int8.tflite"); Int8Model.load("backbone.int8.tflite")

Needs `pip install ai-edge-litert` (mmzoo's `int8` extra). One `Int8Model` must not be
called from several threads at once (LiteRT interpreters are not thread-safe).
"""

import contextlib
import os
import pathlib
import warnings

import keras
import numpy as np
import tensorflow as tf

from mmzoo.quiet import captured_output

INSTALL_HINT = "pip install ai-edge-litert  (or mmzoo's extra: pip install 'mmzoo[int8]')"


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as error:
        raise ImportError(f"int8 inference runs on LiteRT, which is not installed: "
                          f"{INSTALL_HINT}") from error
    return Interpreter


def _cpu_count():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class Int8Model:
    """A quantized copy of a one-input, one-output Keras model (see the module
    docstring). Call it on float32 arrays `[B, *input_shape]`; it returns float32
    `[B, *output_shape]` as numpy. `num_threads`: CPU threads (default: all this
    process may use)."""

    def __init__(self, flatbuffer, num_threads=None):
        self.flatbuffer = bytes(flatbuffer)
        self.num_threads = _cpu_count() if num_threads is None else int(num_threads)
        self._interpreter_class = _interpreter_class()
        with captured_output((1, 2)):
            probe = self._interpreter_class(model_content=self.flatbuffer, num_threads=1)
        inputs, outputs = probe.get_input_details(), probe.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError(f"An Int8Model has one input and one output; this file has "
                             f"{len(inputs)} and {len(outputs)}.")
        self.input_shape = tuple(int(d) for d in inputs[0]["shape"][1:])
        self.output_shape = tuple(int(d) for d in outputs[0]["shape"][1:])
        self._runners = {}

    @classmethod
    def quantize(cls, model, calibration, num_threads=None, verbose=False):
        """Quantizes `model` (Keras, one float32 input, one output or a list of one)
        with ranges measured on `calibration`: float32 inputs `[N, *input_shape]` (N >=
        1; a few hundred recommended), which also fix the input shape."""
        calibration = np.asarray(calibration, dtype="float32")
        if calibration.ndim < 2 or len(calibration) == 0:
            raise ValueError(f"calibration must be a non-empty batch of inputs [N, ...]; "
                             f"received shape {calibration.shape}.")
        _interpreter_class()  # fail before a long conversion when LiteRT is missing
        mixed = sorted({layer.dtype_policy.name for layer in model._flatten_layers()
                        if layer.dtype_policy.compute_dtype in ("float16", "bfloat16")})
        if mixed:
            raise ValueError(f"Int8Model quantizes a float32 model; {model.name} computes "
                             f"in {', '.join(mixed)} (TFLite cannot quantize those "
                             "graphs): load the model without a mixed-precision dtype.")
        inputs = keras.Input(calibration.shape[1:], dtype="float32", name="inputs")
        outputs = keras.tree.flatten(model(inputs))
        if len(outputs) != 1:
            raise ValueError(f"Int8Model quantizes a model with one output; {model.name} "
                             f"has {len(outputs)}.")
        wrapper = keras.Model(inputs, outputs[0], name=f"{model.name}_int8")
        converter = tf.lite.TFLiteConverter.from_keras_model(wrapper)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([row[None]] for row in calibration)
        quiet = contextlib.nullcontext() if verbose else captured_output((1, 2))
        with quiet, warnings.catch_warnings():
            # Inputs stay float32 (quantized inside), so no input statistics are needed.
            warnings.filterwarnings("ignore", "Statistics for quantized inputs")
            flatbuffer = converter.convert()
        return cls(flatbuffer, num_threads)

    @classmethod
    def load(cls, path, num_threads=None):
        """An `Int8Model` from a `.tflite` file written by `save`."""
        return cls(pathlib.Path(path).read_bytes(), num_threads)

    def save(self, path):
        """Writes the quantized model as a `.tflite` file; returns its path."""
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.flatbuffer)
        return path

    def __repr__(self):
        return (f"Int8Model(input_shape={self.input_shape}, output_shape="
                f"{self.output_shape}, {len(self.flatbuffer) / 2**20:.1f} MiB, "
                f"num_threads={self.num_threads})")

    def __call__(self, inputs):
        inputs = np.asarray(inputs, dtype="float32")
        if inputs.shape[1:] != self.input_shape:
            raise ValueError(f"This Int8Model takes inputs of shape [B, "
                             f"{', '.join(map(str, self.input_shape))}] (fixed when it "
                             f"was quantized); received shape {inputs.shape}.")
        if len(inputs) == 0:
            return np.zeros((0, *self.output_shape), "float32")
        interpreter, input_index, output_index = self._runner(len(inputs))
        interpreter.set_tensor(input_index, inputs)
        interpreter.invoke()
        return interpreter.get_tensor(output_index)

    def _runner(self, batch):
        # One interpreter per batch size (resizing one re-plans its memory and
        # XNNPACK's kernels); the two most recent sizes are kept.
        if batch not in self._runners:
            with captured_output((1, 2)):
                interpreter = self._interpreter_class(model_content=self.flatbuffer,
                                                      num_threads=self.num_threads)
                index = interpreter.get_input_details()[0]["index"]
                interpreter.resize_tensor_input(index, (batch, *self.input_shape))
                interpreter.allocate_tensors()
            output = interpreter.get_output_details()[0]["index"]
            while len(self._runners) >= 2:
                self._runners.pop(next(iter(self._runners)))
            self._runners[batch] = (interpreter, index, output)
        return self._runners[batch]
