"""Shipped classifier weights reproduce their recorded test accuracy (within 0.5 points)."""

import json
import pathlib

import pytest

from mmzoo.training import evaluate
from mmzoo.weights import read_manifest, weights_root

SHIPPED = sorted(key for key in read_manifest()
                 if json.loads((weights_root() / key / "config.json").read_text())["task"]
                 == "classifier")
# test_mvsa_weights.py reproduces the MVSA-Single weights (all their metrics).
REPRODUCED_ELSEWHERE = {"sentiment_late/mvsa_single"}


@pytest.mark.parametrize("key", [key for key in SHIPPED if key not in REPRODUCED_ELSEWHERE])
def test_recorded_accuracy_reproduces(key, shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("MMZOO_CACHE_DIR", str(tmp_path / "cache"))
    preset, name = key.split("/")
    metadata = json.loads((weights_root() / key / "metadata.json").read_text())
    data_dir = shared_data if metadata["dataset"].startswith("avdigits") else (
        pathlib.Path(shared_data) / metadata["dataset"].split("/")[0])
    result = evaluate(preset, name, metadata["dataset"], split="test", data_dir=str(data_dir),
                      data_options=metadata.get("data_options"))
    assert result["examples"] == metadata["metrics"]["test_examples"]
    assert abs(result["accuracy"] - metadata["metrics"]["test_accuracy"]) <= 0.005


def test_sentiment_late_ships_avdigits_weights():
    assert {"sentiment_late/avdigits", "sentiment_late/avdigits_noisy"} <= set(SHIPPED)
