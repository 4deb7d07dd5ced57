"""Where `mmzoo.export` writes: the format follows a `.tflite` suffix, a TFLite path
without one gets it, and a suffix that contradicts the format is refused."""

import pathlib

import pytest

from mmzoo import exporting


@pytest.fixture
def written(monkeypatch):
    """Records the paths export_tflite would write (no model, no conversion)."""
    paths = []
    monkeypatch.setattr(exporting, "export_tflite", lambda model, path: paths.append(path))
    return paths


def test_tflite_path_without_a_suffix_gets_one(written):
    exporting.export(None, "exp_tfl", format="tflite")
    exporting.export(None, pathlib.Path("out/model.tflite"), format="tflite")
    exporting.export(None, "out/late.tflite")  # format from the suffix
    assert written == [pathlib.Path("exp_tfl.tflite"), pathlib.Path("out/model.tflite"),
                       pathlib.Path("out/late.tflite")]


def test_contradicting_suffixes_are_refused(written):
    with pytest.raises(ValueError, match=r"A TFLite file name ends in .tflite; received "
                                         r"model.onnx \(suffix '.onnx'\)"):
        exporting.export(None, "model.onnx", format="tflite")
    with pytest.raises(ValueError, match="names a .tflite file but format is 'saved_model'"):
        exporting.export(None, "late.tflite", format="saved_model")
    with pytest.raises(ValueError, match="format must be one of"):
        exporting.export(None, "late", format="onnx")
    assert written == []
