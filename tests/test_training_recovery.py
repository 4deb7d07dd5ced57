"""Training state that a kill or a damaged file cannot lose (issue 11, items 15 and 16):
an unreadable backup is named, a kill during the final write keeps the backup so the
rerun resumes, and `--deterministic` is recorded and repeats a run."""

import json

import pytest

import mmzoo
from mmzoo import weights as weights_lib
from mmzoo.training import train
from tests import data_factories as fake
from tests.test_cli import run_cli
from tests.test_training import train_command

TINY_OVERRIDES = {"image_size": 16, "image_options": {"filters": [4]},
                  "audio_options": {"filters": [4], "num_mel_bins": 16}}  # test_training's


@pytest.fixture(scope="module")
def av_folder(tmp_path_factory):
    root, _, _, _ = fake.make_avdigits(tmp_path_factory.mktemp("av"), num_images=60)
    return root


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("MMZOO_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


def test_a_truncated_backup_names_the_file_and_says_to_delete_it(av_folder, tmp_path):
    out = tmp_path / "run"
    backup = out / "backup"
    backup.mkdir(parents=True)
    truncated = backup / "latest.weights.h5"
    truncated.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(40))  # an HDF5 file cut short
    (backup / "training_metadata.json").write_text('{"epoch": 1, "batch": 0}')

    result = run_cli(*train_command(av_folder, out, epochs=2))
    assert result.returncode == 2, result.stderr[-2000:]
    (message,) = [line for line in result.stderr.splitlines()
                  if line.startswith("mmzoo train: error:")]
    assert str(truncated) in message and "Delete it" in message
    assert "Traceback" not in result.stderr


def test_a_kill_during_the_final_write_keeps_the_backup_and_the_rerun_resumes(
        av_folder, tmp_path, monkeypatch):
    out = tmp_path / "run"
    write_json = weights_lib._write_json

    def killed_before_metadata(path, value):
        if path.name == weights_lib.METADATA_FILE:  # config and weights are written
            raise KeyboardInterrupt("killed")
        write_json(path, value)

    monkeypatch.setattr(weights_lib, "_write_json", killed_before_metadata)
    with pytest.raises(KeyboardInterrupt):
        train("sentiment_early", "avdigits", out, data_dir=str(av_folder), epochs=2,
              batch_size=8, patience=50, overrides=TINY_OVERRIDES, verbose=0)
    monkeypatch.undo()
    backup = out / "backup"
    assert (backup / "latest.weights.h5").stat().st_size > 0
    assert json.loads((backup / "training_metadata.json").read_text())["epoch"] == 2
    assert not weights_lib.is_complete(out)
    (out / ".writing-killed").mkdir()  # what a real kill leaves of the scratch folder

    resumed = run_cli(*train_command(av_folder, out, epochs=2))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "Resuming from the backup of epoch 2" in resumed.stderr
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["resumed_from_epoch"] == 2 and metadata["deterministic"] is False
    assert [row["epoch"] for row in metadata["history"]] == [0, 1]
    assert weights_lib.is_complete(out) and not backup.exists()
    model = mmzoo.load("sentiment_early", weights=str(out))  # checksums verify
    assert model.weights_metadata["resumed_from_epoch"] == 2


def test_deterministic_is_recorded_and_two_runs_give_the_same_epoch(av_folder, tmp_path):
    runs = []
    for name in ("first", "second"):
        out = tmp_path / name
        result = run_cli(*train_command(av_folder, out, epochs=1), "--seed", "3",
                         "--deterministic")
        assert result.returncode == 0, result.stderr[-2000:]
        runs.append(json.loads((out / "metadata.json").read_text()))
    first, second = runs
    assert first["deterministic"] is True and first["seed"] == 3
    assert "--deterministic" in first["command"]
    validation = {k: v for k, v in first["history"][0].items() if k.startswith("val_")}
    assert validation and "val_loss" in validation
    assert {k: second["history"][0][k] for k in validation} == validation  # exactly
    assert first["metrics"] == second["metrics"]
