"""`mmzoo train` / `mmzoo evaluate` end to end on a tiny AV-digits folder."""

import json
import os
import signal
import subprocess
import time

import pytest

from tests import data_factories as fake
from tests.test_cli import cli_command, run_cli

TINY_MODEL = ["--set", "image_size=16", "--set", 'image_options={"filters": [4]}',
              "--set", 'audio_options={"filters": [4], "num_mel_bins": 16}']


@pytest.fixture(scope="module")
def av_folder(tmp_path_factory):
    root, _, _, _ = fake.make_avdigits(tmp_path_factory.mktemp("av"), num_images=200)
    return root


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("MMZOO_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


def train_command(av_folder, out, epochs):
    return ["train", "sentiment_early", "--data", "avdigits", "--data-dir", str(av_folder),
            "--epochs", str(epochs), "--batch-size", "8", "--patience", "50",
            "--out", str(out), *TINY_MODEL]


def test_train_writes_a_weights_folder_and_evaluate_prints_one_json_object(av_folder,
                                                                           tmp_path):
    out = tmp_path / "run"
    result = run_cli(*train_command(av_folder, out, epochs=2))
    assert result.returncode == 0, result.stderr[-2000:]
    assert {"config.json", "model.weights.h5", "metadata.json", "history.csv"} <= {
        p.name for p in out.iterdir()}
    assert not (out / "backup").exists()  # removed after a completed run
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["dataset"] == "avdigits" and metadata["seed"] == 0
    assert metadata["command"].startswith("mmzoo train sentiment_early")
    assert set(metadata["split_sizes"]) == {"train", "validation", "test"}
    assert len(metadata["history"]) == 2
    assert {"tensorflow", "keras", "mmzoo"} <= set(metadata["versions"])
    config = json.loads((out / "config.json").read_text())["config"]
    assert config["modalities"] == ["image", "audio"] and config["num_classes"] == 10

    evaluated = run_cli("evaluate", "sentiment_early", "--weights", str(out), "--data",
                        "avdigits", "--data-dir", str(av_folder), "--split", "test", "--json")
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    metrics = json.loads(evaluated.stdout)  # the whole of stdout is one JSON object
    assert metrics["accuracy"] == pytest.approx(metadata["metrics"]["test_accuracy"])
    assert metrics["examples"] == metadata["split_sizes"]["test"]


def test_a_killed_run_resumes_from_its_backup(av_folder, tmp_path):
    out = tmp_path / "run"
    command = train_command(av_folder, out, epochs=8)
    process = subprocess.Popen(cli_command() + command, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    backup = out / "backup" / "training_metadata.json"
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if backup.exists() and json.loads(backup.read_text() or "{}").get("epoch", 0) >= 2:
            break
        time.sleep(0.05)
    assert process.poll() is None, "training finished before it could be killed"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    killed_at = json.loads(backup.read_text())["epoch"]
    assert not (out / "metadata.json").exists()

    resumed = run_cli(*command)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"Resuming from the backup of epoch {killed_at}" in resumed.stderr
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["resumed_from_epoch"] == killed_at
    # history.csv spans both processes: every epoch once, none repeated or lost.
    assert [row["epoch"] for row in metadata["history"]] == list(range(8))
