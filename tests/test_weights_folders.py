"""Weights folders: shipped names cannot be shadowed, every folder verifies its own
checksums, another preset's folder is refused, files are written atomically."""

import json

import numpy as np
import pytest

import mmzoo
from mmzoo import weights as weights_lib
from tests.helpers import TEXTS, tiny_inputs, tiny_labels


@pytest.fixture(scope="module")
def trained_folder(tmp_path_factory):
    model = mmzoo.load("sentiment_early", modalities=("text", "audio"), sample_rate=8000,
                       vocab_size=100, text_options={"embed_dim": 8})
    model.adapt_text(TEXTS)
    x = tiny_inputs(np.random.default_rng(0), modalities=("text", "audio"), sample_rate=8000)
    model.fit(x, tiny_labels(), epochs=1, verbose=0)
    folder = weights_lib.save_folder(model, tmp_path_factory.mktemp("w") / "run",
                                     preset="sentiment_early", metadata={"seed": 0})
    return folder, model, x


def test_save_folder_writes_checksums_last_and_no_leftovers(trained_folder):
    folder, _, _ = trained_folder
    checksums = json.loads((folder / "checksums.json").read_text())
    assert set(checksums) == {"config.json", "model.weights.h5", "metadata.json"}
    assert checksums["model.weights.h5"] == weights_lib.sha256(folder / "model.weights.h5")
    assert sorted(p.name for p in folder.iterdir()) == [
        "checksums.json", "config.json", "metadata.json", "model.weights.h5"]
    assert weights_lib.is_complete(folder)


def test_a_flipped_byte_in_a_folder_given_by_path_is_caught(trained_folder, tmp_path):
    folder, _, _ = trained_folder
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in folder.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    data = bytearray((copy / "model.weights.h5").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / "model.weights.h5").write_bytes(bytes(data))
    with pytest.raises(weights_lib.WeightsError,
                       match=f"Checksum mismatch for {copy}/model.weights.h5"):
        mmzoo.load("sentiment_early", weights=str(copy))


def test_a_folder_in_the_working_directory_does_not_shadow_shipped_weights(
        tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "avdigits").mkdir()
    (tmp_path / "avdigits" / "config.json").write_text("{}")
    (tmp_path / "avdigits" / "model.weights.h5").write_bytes(b"not weights")
    folder = weights_lib.resolve_weights("sentiment_late", "avdigits")
    assert folder == weights_lib.weights_root() / "sentiment_late" / "avdigits"
    assert mmzoo.load("sentiment_late", weights="avdigits").class_names[7] == "7"


def test_another_presets_folder_is_refused_naming_both(trained_folder):
    folder, _, _ = trained_folder
    with pytest.raises(weights_lib.WeightsError,
                       match="trained as preset 'sentiment_early', not 'sentiment_late'"):
        mmzoo.load("sentiment_late", weights=str(folder))


def test_a_corrupt_config_names_the_file(trained_folder, tmp_path):
    folder, _, _ = trained_folder
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in folder.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    (copy / "config.json").write_text('{"task": "classifier",')
    (copy / "checksums.json").unlink()
    with pytest.warns(UserWarning), pytest.raises(
            weights_lib.WeightsError, match=f"{copy}/config.json is not valid JSON"):
        mmzoo.load("sentiment_early", weights=str(copy))


def test_a_kill_during_save_leaves_the_previous_files_whole(trained_folder, tmp_path,
                                                            monkeypatch):
    folder, model, x = trained_folder
    target = weights_lib.save_folder(model, tmp_path / "run", preset="sentiment_early")
    before = {p.name: p.read_bytes() for p in target.iterdir()}

    def killed(self, *args, **kwargs):
        raise KeyboardInterrupt("killed while writing the weights")

    monkeypatch.setattr(type(model), "save_weights", killed)
    with pytest.raises(KeyboardInterrupt):
        weights_lib.save_folder(model, target, preset="sentiment_early")
    monkeypatch.undo()
    assert not weights_lib.is_complete(target)  # the rewrite did not finish
    for name in ("config.json", "model.weights.h5"):
        assert (target / name).read_bytes() == before[name]  # never half-written
    assert [p.name for p in target.iterdir() if p.name.startswith(".")] == []


def test_a_new_head_drops_the_trained_class_names():
    model = mmzoo.load("sentiment_late", weights="avdigits", num_classes=3)
    assert model.num_classes == 3 and model.labels == ["LABEL_0", "LABEL_1", "LABEL_2"]
    named = mmzoo.load("sentiment_late", weights="avdigits", num_classes=2,
                       class_names=["odd", "even"])
    assert named.labels == ["odd", "even"]
