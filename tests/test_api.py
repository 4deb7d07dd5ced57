import json

import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

import mmzoo
from mmzoo import weights as weights_lib
from mmzoo.training import ship_folder
from tests.helpers import TEXTS, tiny_inputs, tiny_labels


def test_import_mmzoo_does_not_import_tensorflow():
    import subprocess
    import sys

    code = "import sys, mmzoo; assert 'tensorflow' not in sys.modules; mmzoo.load"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_list_and_describe():
    names = mmzoo.list_models()
    assert {"sentiment_early", "sentiment_late", "sentiment_hybrid", "sentiment_attention",
            "sentiment_tfn", "sentiment_lmf", "sentiment_gmu", "sentiment_mult"} <= set(names)
    assert mmzoo.list_models(task="classifier") == sorted(
        n for n in names if n.startswith("sentiment_"))
    info = mmzoo.describe("sentiment_tfn")
    assert info["task"] == "classifier" and info["fusion"] == "tensor"
    assert info["modalities"] == ["text", "image", "audio"]
    assert info["parameters"] == mmzoo.load("sentiment_tfn").count_params()


@pytest.fixture(scope="module")
def image_audio_model():
    model = mmzoo.load("sentiment_early", modalities=("image", "audio"), sample_rate=8000,
                       num_classes=3, class_names=["cat", "dog", "bird"])
    return model


def _wav(path, rate, seconds=0.5, rng=np.random.default_rng(0)):
    wave = (rng.normal(size=(int(rate * seconds), 1)) * 0.1).astype("float32")
    path.write_bytes(tf.audio.encode_wav(wave, rate).numpy())
    return str(path)


def test_pipeline_returns_sorted_labels_and_scores(image_audio_model, tmp_path, rng):
    classify = mmzoo.pipeline(image_audio_model)
    image = rng.integers(0, 255, size=(30, 20)).astype("uint8")  # grayscale
    audio = _wav(tmp_path / "clip.wav", rate=16000)               # resampled to 8 kHz
    result = classify(image=image, audio=audio, top_k=3)
    assert [r["label"] for r in result] != [] and len(result) == 3
    assert {r["label"] for r in result} == {"cat", "dog", "bird"}
    scores = [r["score"] for r in result]
    assert scores == sorted(scores, reverse=True)
    assert abs(sum(scores) - 1.0) < 1e-5
    top = classify(image=image, audio=audio)
    assert top == result[:1]
    rgba = np.concatenate([np.stack([image] * 3, -1), np.full((30, 20, 1), 7, "uint8")], -1)
    batch = classify(image=[rgba, image], audio=[audio, audio], top_k=2)
    assert len(batch) == 2 and all(len(row) == 2 for row in batch)
    # RGBA is RGB with the alpha dropped: the same grayscale picture, same scores.
    assert batch[0][0]["score"] == pytest.approx(batch[1][0]["score"], abs=1e-6)
    only_image = classify(image=image)
    assert 0.0 <= only_image[0]["score"] <= 1.0


def test_pipeline_rejects_bad_raw_inputs(image_audio_model, tmp_path):
    classify = mmzoo.pipeline(image_audio_model)
    with pytest.raises(ValueError, match="no 'text' input"):
        classify(text="hello")
    with pytest.raises(ValueError, match="top_k must be at least 1"):
        classify(image=np.zeros((4, 4)), top_k=0)
    with pytest.raises(FileNotFoundError, match="nope.png"):
        classify(image=str(tmp_path / "nope.png"))
    with pytest.raises(ValueError, match="could not be decoded as an image"):
        classify(image=b"not an image")
    with pytest.raises(ValueError, match="could not be decoded as a 16-bit PCM WAV"):
        classify(audio=b"RIFF....")
    with pytest.raises(ValueError, match="'image' must be an image of shape"):
        classify(image=np.zeros((4, 4, 2)))
    with pytest.raises(ValueError, match="'audio' must be a non-empty 1-D waveform"):
        classify(audio=np.zeros((0,), "float32"))
    with pytest.raises(ValueError, match="No input given"):
        classify()


@pytest.fixture
def shipped(tmp_path, monkeypatch, rng):
    """A weights root with one shipped folder, as `weights/` in the repository."""
    model = mmzoo.load("sentiment_early", modalities=("text", "audio"), sample_rate=8000,
                       vocab_size=100, text_options={"embed_dim": 8})
    model.adapt_text(TEXTS)
    x = tiny_inputs(rng, modalities=("text", "audio"), sample_rate=8000)
    model.fit(x, tiny_labels(), epochs=1, verbose=0)
    weights_lib.save_folder(model, tmp_path / "sentiment_early" / "demo",
                            preset="sentiment_early", metadata={"metrics": {"accuracy": 0.75}})
    weights_lib.update_manifest(tmp_path)
    monkeypatch.setenv("MMZOO_WEIGHTS_DIR", str(tmp_path))
    return tmp_path, model, x


def test_shipped_weights_load_by_name_with_verified_checksums(shipped):
    root, model, x = shipped
    loaded = mmzoo.load("sentiment_early", weights="demo")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-6)
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["sentiment_early/demo"]["metrics"] == {"accuracy": 0.75}
    assert mmzoo.describe("sentiment_early")["weights"] == {"demo": {"accuracy": 0.75}}


def test_weights_folders_hold_the_model_without_optimizer_slots(shipped, tmp_path):
    import h5py

    root, model, x = shipped
    assert model.optimizer is not None and model.optimizer.variables  # trained
    with h5py.File(root / "sentiment_early" / "demo" / "model.weights.h5") as handle:
        assert "optimizer" not in handle and "layers" in handle
    target = ship_folder(root / "sentiment_early" / "demo", "sentiment_early",
                                     "copy", root=tmp_path / "shipped")
    assert json.loads((target.parent.parent / "manifest.json").read_text()).keys() == {
        "sentiment_early/copy"}
    copy = mmzoo.load("sentiment_early", weights=str(target))
    np.testing.assert_allclose(copy.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-6)


def test_modified_or_truncated_weights_fail_clearly(shipped):
    root, _, _ = shipped
    path = root / "sentiment_early" / "demo" / "model.weights.h5"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(weights_lib.WeightsError, match="Checksum mismatch .*model.weights.h5"):
        mmzoo.load("sentiment_early", weights="demo")
    path.write_bytes(data)
    mmzoo.load("sentiment_early", weights="demo")  # restored: loads again


def test_truncated_weights_in_an_unlisted_folder_fail_clearly(shipped, tmp_path):
    root, _, _ = shipped
    folder = root / "sentiment_early" / "demo"
    path = folder / "model.weights.h5"
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(weights_lib.WeightsError, match="Checksum mismatch .*model.weights.h5"):
        mmzoo.load("sentiment_early", weights=str(folder))
    (folder / "checksums.json").unlink()  # a folder written before mmzoo 0.2
    with pytest.warns(UserWarning, match="has no checksums.json"), \
            pytest.raises(weights_lib.WeightsError, match="Could not read .*model.weights.h5"):
        mmzoo.load("sentiment_early", weights=str(folder))


def test_unknown_weights_name_lists_shipped_ones(shipped):
    with pytest.raises(weights_lib.WeightsError, match="Shipped weights for 'sentiment_early': \\['demo'\\]"):
        mmzoo.load("sentiment_early", weights="imagenet21k")
    with pytest.raises(weights_lib.WeightsError, match="trained on a 'classifier'|are for a"):
        folder = shipped[0] / "sentiment_early" / "demo"
        config = json.loads((folder / "config.json").read_text())
        config["task"] = "vqa"
        (folder / "config.json").write_text(json.dumps(config))
        (folder / "checksums.json").unlink()
        with pytest.warns(UserWarning, match="cannot be verified"):
            mmzoo.load("sentiment_early", weights=str(folder))


def test_tflite_export_matches_the_model(image_audio_model, tmp_path, rng):
    path = mmzoo.export(image_audio_model, tmp_path / "model.tflite", format="tflite")
    x = tiny_inputs(rng, batch=2, modalities=("image", "audio"), sample_rate=8000)
    runner = Interpreter(model_path=str(path)).get_signature_runner()
    np.testing.assert_allclose(runner(**x)["scores"],
                               image_audio_model.predict(x, verbose=0), atol=1e-5)
    with pytest.raises(ValueError, match="format must be one of"):
        mmzoo.export(image_audio_model, tmp_path / "x", format="onnx")
