"""SavedModel (and TFLite) export with raw-input serving signatures.

The SavedModel's `serving_default` (alias of `serve`) takes raw inputs: strings,
encoded image bytes, WAV bytes (one per example), so a served model needs no mmzoo code.
Each task also exports `serve_tensors`, taking the model's own input tensors, and may add
task-specific endpoints (retrieval's `encode_image` / `encode_text`).

>>> mmzoo.export(model, "out/sentiment_late")
>>> served = tf.saved_model.load("out/sentiment_late")
>>> served.signatures["serving_default"](image=png_bytes, audio=wav_bytes)["label"]
>>> mmzoo.export(model, "out/sentiment_late.tflite")       # format from the suffix
>>> mmzoo.export(model, "out/late", format="tflite")           # writes out/late.tflite
"""

import contextlib
import logging
import os
import pathlib
import tempfile
import warnings

import keras
import tensorflow as tf

from mmzoo.layers.tracing import plain_graphs

FORMATS = ("saved_model", "tflite")


def export(model, path, format=None, verbose=False):
    """Writes `model` to `path` as a SavedModel directory or a `.tflite` file; returns
    the path written.

    `format=None` means "tflite" for a path ending in `.tflite`, else "saved_model".
    A TFLite path without a suffix gets `.tflite` appended; any other suffix raises.
    """
    path = pathlib.Path(path)
    if format is None:
        format = "tflite" if path.suffix == ".tflite" else "saved_model"
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, received {format!r}.")
    if format == "tflite":
        return export_tflite(model, tflite_path(path))
    if path.suffix == ".tflite":
        raise ValueError(f"{path} names a .tflite file but format is 'saved_model' (a "
                         "folder): pass format='tflite' or a folder path.")
    archive = keras.export.ExportArchive()
    archive.track(model)
    for name, (function, signature) in model.serving_endpoints().items():
        archive.add_endpoint(name, function, input_signature=signature)
    with _tensorflow_logs(verbose):
        archive.write_out(os.fspath(path), verbose=verbose)
    return pathlib.Path(path)


@contextlib.contextmanager
def _tensorflow_logs(verbose):
    """Without `verbose`, TensorFlow's Python logger says only warnings and errors while
    writing (not "INFO:tensorflow:Assets written to: ..." once per SavedModel)."""
    logger = tf.get_logger()
    previous = logger.level
    if not verbose:
        logger.setLevel(max(previous, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(previous)


def tflite_path(path):
    """`path` with `.tflite` appended when it has no suffix; another suffix raises."""
    path = pathlib.Path(path)
    if path.suffix == "":
        return path.with_name(path.name + ".tflite")
    if path.suffix != ".tflite":
        raise ValueError(f"A TFLite file name ends in .tflite; received {path} (suffix "
                         f"{path.suffix!r}).")
    return path


def export_tflite(model, path, signature="serve_tensors"):
    """Converts one endpoint (the model's tensor inputs by default) to a `.tflite` file
    that runs on TFLite's standard interpreter (builtin ops only) for every preset.

    The file's text inputs (token ids: `text`, `question`, `caption`) have a fixed
    length, the model's `sequence_length` (what `model.preprocess` produces): recurrent
    layers (the GRU/LSTM text encoders, caption_sat's LSTM decoder) are traced
    unrolled over that many steps, since TFLite's builtin ops cannot run the
    TensorList loops of a recurrence over a dynamic batch. Images and audio keep
    dynamic shapes; the batch stays dynamic everywhere. A model that still needs
    TensorFlow ops (a custom backbone) is written with Select ops and a warning that
    the interpreter must link the Flex delegate. Raw-input endpoints (string and image
    decoding) are not convertible; preprocess on the device instead.

    >>> export_tflite(model, "m.tflite")
    >>> from ai_edge_litert.interpreter import Interpreter   # pip install ai-edge-litert
    >>> runner = Interpreter("m.tflite").get_signature_runner("serve_tensors")
    >>> runner(image=pixels, text=model.preprocess(text=["a fine day"])["text"])
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    endpoints = model.serving_endpoints()
    if signature not in endpoints:
        raise ValueError(f"signature must be one of {sorted(endpoints)}, received "
                         f"{signature!r}.")
    function, (specs,) = endpoints[signature]
    specs = fixed_length_specs(specs, tflite_sequence_length(model))
    with tempfile.TemporaryDirectory() as saved:
        with plain_graphs(), unrolled_recurrences(model):
            # Not archive.track(model): that traces every sub-model's default
            # signature (with dynamic lengths, which an unrolled RNN refuses). Only
            # the variables this endpoint uses are needed here.
            archive = keras.export.ExportArchive()
            archive.add_endpoint(signature, function, input_signature=[specs])
            archive.write_out(saved, verbose=False)
        try:
            flatbuffer = _convert(saved, signature, select_ops=False)
        except Exception:  # the converter raises ConverterError and others
            try:
                flatbuffer = _convert(saved, signature, select_ops=True)
            except Exception as error:
                raise ValueError(
                    f"TFLite conversion of {model.name} failed: {error}") from error
            warnings.warn(
                f"{model.name} needs TensorFlow Select ops in TFLite: run it with an "
                "interpreter that links the Flex delegate.", stacklevel=2)
    path.write_bytes(flatbuffer)
    return path


def tflite_sequence_length(model):
    """The token length of a TFLite file's text inputs: the model's
    `sequence_length` (None when it has none: lengths stay dynamic)."""
    length = model.get_config().get("sequence_length")
    return None if length is None else int(length)


def fixed_length_specs(specs, length):
    """`specs` with the length of every integer `[B, None]` input (token ids) set to
    `length`."""
    if length is None:
        return specs

    def fix(spec):
        if spec.dtype.is_integer and spec.shape.rank == 2 and spec.shape[1] is None:
            return tf.TensorSpec((spec.shape[0], length), spec.dtype, name=spec.name)
        return spec

    return tf.nest.map_structure(fix, specs)


@contextlib.contextmanager
def unrolled_recurrences(model):
    """Traces `model`'s Keras RNN layers unrolled (inputs need a static length).

    Keras 3.15's unrolled RNN zeroes the masked outputs of a `go_backwards` layer
    with the mask in the original order, not the reversed one, which wipes the
    backward half of a Bidirectional sequence. The backward layers therefore keep
    their last valid output at masked steps instead (zero_output_for_mask=False):
    for right-padded ids (0 = padding at the end) that is the zero the loop gives;
    for a 0 inside the ids it differs only at that masked step, which every consumer
    of a text sequence masks (the states and pooled outputs are the same).
    """
    layers = [layer for layer in model._flatten_layers(include_self=False, recursive=True)
              if isinstance(layer, keras.layers.RNN)]
    saved = [(layer.unroll, layer.zero_output_for_mask) for layer in layers]
    try:
        for layer in layers:
            layer.unroll = True
            if layer.go_backwards:
                layer.zero_output_for_mask = False
        yield layers
    finally:
        for layer, (unroll, zero_output) in zip(layers, saved):
            layer.unroll, layer.zero_output_for_mask = unroll, zero_output


def _convert(saved_model_dir, signature, select_ops):
    converter = tf.lite.TFLiteConverter.from_saved_model(
        saved_model_dir, signature_keys=[signature])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS] + (
        [tf.lite.OpsSet.SELECT_TF_OPS] if select_ops else [])
    return converter.convert()
