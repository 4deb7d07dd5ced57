"""Shipped VQA weights reproduce the metrics recorded in their metadata.json."""

import json
import os
import pathlib
import subprocess

import pytest

from mmzoo.training import evaluate
from mmzoo.weights import read_metadata, resolve_weights, shipped_weights
from tests.conftest import REPO
from tests.test_cli import cli_command

SHIPPED = sorted((preset, name) for preset, names in shipped_weights().items()
                 if preset.startswith("vqa_") for name in names)
# Where each data set's recorded numbers are compared (the reported split), and the
# loader options that load just that split (Sort-of-CLEVR's test images do not depend
# on the other splits' sizes).
SPLITS = {"easy_vqa": ("validation", {}),
          "sort_of_clevr": ("test", {"num_images": {"train": 0, "validation": 0,
                                                    "test": 200}})}
KEYS = ("accuracy", "yes_no_accuracy", "other_accuracy", "relational_accuracy",
        "non_relational_accuracy")


@pytest.fixture(scope="module", autouse=True)
def _cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MMZOO_CACHE_DIR", str(tmp_path_factory.mktemp("vqa_weights_cache")))
        yield


def test_the_required_weights_are_shipped():
    assert ("vqa_san", "easy_vqa") in SHIPPED
    assert ("vqa_rn", "sort_of_clevr") in SHIPPED
    for preset, name in SHIPPED:
        size = (resolve_weights(preset, name) / "model.weights.h5").stat().st_size
        assert size < 8 * 2 ** 20, (preset, name, size)


@pytest.mark.parametrize("preset, name", SHIPPED)
def test_shipped_weights_reproduce_their_recorded_metrics(preset, name, shared_data):
    metadata = read_metadata(resolve_weights(preset, name))
    data = metadata["dataset"]
    split, options = SPLITS[data]
    source = shared_data / "easy_vqa" if data == "easy_vqa" else None
    results = evaluate(preset, name, data, split=split, data_dir=source,
                       data_options=options, max_examples=metadata.get("max_examples"))
    recorded = metadata["metrics"]
    assert results["examples"] == recorded[f"{split}_examples"]
    for key in KEYS:
        if f"{split}_{key}" in recorded and recorded[f"{split}_{key}"] is not None:
            assert abs(results[key] - recorded[f"{split}_{key}"]) <= 0.005, (key, results)


def test_mmzoo_evaluate_prints_the_metrics_as_one_json_object(shared_data):
    """The lead's command, run from the repository root as documented."""
    relative = os.path.relpath(shared_data, REPO)
    result = subprocess.run(
        cli_command() + ["evaluate", "vqa_san", "--weights", "easy_vqa", "--data", "easy_vqa",
                         "--data-dir", relative, "--split", "validation", "--json"],
        capture_output=True, text=True, timeout=900, cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads(result.stdout)
    assert {"accuracy", "yes_no_accuracy", "other_accuracy", "examples"} <= set(metrics)
    recorded = read_metadata(pathlib.Path(resolve_weights("vqa_san", "easy_vqa")))["metrics"]
    assert abs(metrics["accuracy"] - recorded["validation_accuracy"]) <= 0.005
