"""SavedModel (and TFLite) export with raw-input serving signatures.

The SavedModel's `serving_default` (alias of `serve`) takes raw inputs: strings,
encoded image bytes, WAV bytes (one per example), so a served model needs no mmzoo code.
Each task also exports `serve_tensors`, taking the model's own input tensors, and may add
task-specific endpoints (retrieval's `encode_image` / `encode_text`).

>>> mmzoo.export(model, "out/sentiment_late")
>>> served = tf.saved_model.load("out/sentiment_late")
>>> served.signatures["serving_default"](image=png_bytes, audio=wav_bytes)["label"]
"""

import os
import pathlib

import keras
import tensorflow as tf

FORMATS = ("saved_model", "tflite")


def export(model, path, format="saved_model", verbose=False):
    """Writes `model` to `path` as a SavedModel directory or a `.tflite` file."""
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, received {format!r}.")
    endpoints = model.serving_endpoints()
    if format == "tflite":
        return export_tflite(model, path, endpoints)
    archive = keras.export.ExportArchive()
    archive.track(model)
    for name, (function, signature) in endpoints.items():
        archive.add_endpoint(name, function, input_signature=signature)
    archive.write_out(os.fspath(path), verbose=verbose)
    return pathlib.Path(path)


def export_tflite(model, path, endpoints=None):
    """Converts the `serve_tensors` endpoint to a `.tflite` file (TF Select ops allowed).

    Raises a ValueError naming the model when the converter cannot handle it.
    """
    endpoints = endpoints or model.serving_endpoints()
    function, signature = endpoints["serve_tensors"]
    concrete = tf.function(function).get_concrete_function(*signature)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], model)
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.TFLITE_BUILTINS,
        tf.lite.OpsSet.SELECT_TF_OPS,
    ]
    try:
        flatbuffer = converter.convert()
    except Exception as error:  # the converter raises ConverterError and others
        raise ValueError(f"TFLite conversion of {model.name} failed: {error}") from error
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(flatbuffer)
    return path
