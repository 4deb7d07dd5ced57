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
    """Converts one endpoint (the model's tensor inputs by default) to a `.tflite` file.

    TFLite builtin ops are tried first. Recurrent text encoders (GRU/LSTM over masked
    sequences) need TensorFlow Select ops; the file is then written with them and a
    warning says the interpreter must link the Flex delegate. Raw-input endpoints
    (string and image decoding) are not convertible; preprocess on the device instead.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as saved:
        with plain_graphs():
            export(model, saved)
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


def _convert(saved_model_dir, signature, select_ops):
    converter = tf.lite.TFLiteConverter.from_saved_model(
        saved_model_dir, signature_keys=[signature])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS] + (
        [tf.lite.OpsSet.SELECT_TF_OPS] if select_ops else [])
    return converter.convert()
