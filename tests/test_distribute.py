"""Training under tf.distribute on CPU: MirroredStrategy over 2 logical CPU devices
against one device, MultiWorkerMirroredStrategy with 2 local worker processes (trained,
killed, resumed), mixed precision, and the errors of strategies that cannot start."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

import mmzoo
from mmzoo.training import distribute, fit
from tests import data_factories as fake
from tests.test_cli import cli_command
from tests.test_training import TINY_MODEL

TINY = {"image_size": 16, "image_options": {"filters": [4]},
        "audio_options": {"filters": [4], "num_mel_bins": 16}}
# Per-epoch losses and accuracies of the same global batch on 1 and 2 replicas.
# Measured: 7e-7 (float32 sums taken in another order); the bound leaves room for other
# CPUs' kernels.
LOSS_TOLERANCE = 1e-4
# Weights after 8 Adam steps of 1e-3: Adam divides by the gradient's running RMS, so
# rounding in near-zero gradients moves a weight by up to a step. Measured: 3.4e-4.
WEIGHTS_TOLERANCE = 5e-3


@pytest.fixture(scope="module")
def av_folder(tmp_path_factory):
    root, _, _, _ = fake.make_avdigits(tmp_path_factory.mktemp("av"), num_images=200)
    return root


# A small retriever (no dropout); every image's five captions are the same sentence, so
# that no caption is drawn at random.
RETRIEVER = {"image_backbone": "simple_cnn", "image_weights": None, "image_size": 16,
             "image_options": {"filters": [4]}, "text_backbone": "cnn",
             "text_options": {"embed_dim": 8}, "vocab_size": 50, "sequence_length": 12,
             "embed_dim": 16, "projection_units": [], "dropout": 0.0}


@pytest.fixture(scope="module")
def flickr_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("flickr")
    fake.make_flickr8k(root, num_images=40, distinct_captions=False)
    return root


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("MMZOO_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


MIRRORED_SCRIPT = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import mmzoo
    from mmzoo.training import train
    from mmzoo.weights import read_metadata

    av_dir, flickr_dir, root = sys.argv[1:4]
    tiny, retriever = json.loads(sys.argv[4]), json.loads(sys.argv[5])
    common = dict(batch_size=8, max_examples=32, patience=50, verbose=0)
    runs = {}
    # The captioning loss of a global batch whose replicas hold different numbers of
    # tokens (2 and 8): each replica's loss / 2, summed (what Keras does).
    import numpy as np
    from mmzoo.tasks.captioning.losses import CaptionLoss
    # ReductionToOneDevice: no collective ops, whose keys the strategies of the training
    # runs below would meet again.
    two_cpus = tf.distribute.MirroredStrategy(
        ["/cpu:0", "/cpu:1"], cross_device_ops=tf.distribute.ReductionToOneDevice())
    targets = np.array([[5, 0, 0, 0], [6, 0, 0, 0], [5, 6, 2, 3], [4, 3, 2, 6]], "int32")
    logits = np.random.default_rng(0).normal(size=(4, 4, 8)).astype("float32")
    halves = two_cpus.experimental_distribute_values_from_function(
        lambda context: tuple(a[2 * context.replica_id_in_sync_group:][:2]
                              for a in (targets, logits)))
    per_replica = tf.function(lambda: two_cpus.run(
        lambda t, l: CaptionLoss()(t, l) / 2, args=halves))()
    runs["caption_loss"] = {
        "one_device": float(CaptionLoss()(targets, logits)),
        "mirrored": float(two_cpus.reduce("SUM", per_replica, axis=None)),
        "mean_of_replica_means": float(CaptionLoss()(targets[:2], logits[:2])
                                       + CaptionLoss()(targets[2:], logits[2:])) / 2}
    for name, preset, strategy, epochs, extra in [
            ("one_device", "sentiment_hybrid", "default", 2, {}),
            ("mirrored", "sentiment_hybrid", "mirrored", 2, {}),
            ("mirrored_frozen", "sentiment_hybrid", "mirrored", 1,
             {"freeze_backbones": True, "feature_cache_dir": f"{root}/features"}),
            ("retriever_one_device", "retrieval_dual_encoder", "default", 2, {}),
            ("retriever_mirrored", "retrieval_dual_encoder", "mirrored", 2, {})]:
        data, data_dir, overrides = (("avdigits", av_dir, tiny) if preset.startswith("sentiment")
                                     else ("flickr8k", flickr_dir, retriever))
        folder = train(preset, data, f"{root}/{name}", data_dir=data_dir, epochs=epochs,
                       strategy=strategy, overrides=overrides,
                       **common, **extra)
        weights = mmzoo.load(preset, weights=str(folder), compile=False)
        runs[name] = {"metadata": read_metadata(folder),
                      "weights": [w.tolist() for w in weights.get_weights()]}
    print("RESULT" + json.dumps(runs))
""")


@pytest.mark.slow
def test_mirrored_on_two_cpus_gives_the_loss_curve_of_one_device(
        av_folder, flickr_folder, tmp_path):
    """Same global batch (8, 4 per replica), same seed: the same losses every epoch and
    the same weights. sentiment_hybrid: BatchNorm statistics over the global batch, and
    an auxiliary loss added by hand; retrieval_dual_encoder: InfoNCE over the global
    batch's logits (each replica's 4 pairs alone give other losses). The captioning
    loss is the global batch's token mean when the replicas hold different numbers of
    tokens."""
    result = subprocess.run(
        [sys.executable, "-c", MIRRORED_SCRIPT, str(av_folder), str(flickr_folder),
         str(tmp_path), json.dumps(TINY), json.dumps(RETRIEVER)],
        capture_output=True, text=True, timeout=900, check=False,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-3000:]
    runs = json.loads(result.stdout.split("RESULT", 1)[1])
    for single, mirrored in (("one_device", "mirrored"),
                             ("retriever_one_device", "retriever_mirrored")):
        one, two = runs[single]["metadata"], runs[mirrored]["metadata"]
        assert (one["strategy"], one["replicas"]) == ("default", 1)
        assert (two["strategy"], two["replicas"]) == ("mirrored", 2)
        assert len(two["history"]) == 2
        for key in ("loss", "val_loss"):
            np.testing.assert_allclose([row[key] for row in two["history"]],
                                       [row[key] for row in one["history"]],
                                       atol=LOSS_TOLERANCE, err_msg=f"{mirrored} {key}")
        for weight_two, weight_one in zip(runs[mirrored]["weights"], runs[single]["weights"]):
            np.testing.assert_allclose(weight_two, weight_one, atol=WEIGHTS_TOLERANCE)
    np.testing.assert_allclose([row["accuracy"] for row in runs["mirrored"]["metadata"]["history"]],
                               [row["accuracy"] for row in runs["one_device"]["metadata"]["history"]],
                               atol=LOSS_TOLERANCE)
    caption = runs["caption_loss"]
    np.testing.assert_allclose(caption["mirrored"], caption["one_device"], rtol=1e-5)
    assert abs(caption["mean_of_replica_means"] - caption["one_device"]) > 0.05, caption
    # The feature cache of frozen encoders works under MirroredStrategy.
    frozen = runs["mirrored_frozen"]["metadata"]
    assert frozen["frozen_backbones"] and frozen["replicas"] == 2
    assert np.isfinite(frozen["history"][0]["loss"])
    assert "Feature cache off" not in result.stderr
    assert list(tmp_path.glob("features/*/train/count.json"))  # the cached features


def _start_workers(command, scratch):
    """Two `mmzoo train --strategy multi_worker` processes on localhost ports."""
    workers = []
    for index, config in enumerate(distribute.local_cluster(2)):
        env = {**os.environ, "TF_CONFIG": config, "TMPDIR": str(scratch),
               "TF_CPP_MIN_LOG_LEVEL": "3"}
        log = open(scratch.parent / f"worker{index}.log", "w")
        workers.append((subprocess.Popen(cli_command() + command, env=env, stdout=log,
                                         stderr=subprocess.STDOUT,
                                         start_new_session=True), log))
    return workers


def _stop(workers):
    for process, log in workers:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        log.close()


@pytest.mark.slow
def test_two_workers_train_back_up_are_killed_and_resume(av_folder, tmp_path):
    out, scratch = tmp_path / "run", tmp_path / "worker_tmp"
    scratch.mkdir()
    epochs = 4
    command = ["train", "sentiment_early", "--data", "avdigits", "--data-dir",
               str(av_folder), "--epochs", str(epochs), "--batch-size", "8",
               "--max-examples", "32", "--patience", "50", "--out", str(out),
               "--strategy", "multi_worker", *TINY_MODEL]
    backup = out / "backup" / "training_metadata.json"
    mmzoo.datasets.info("avdigits", data_dir=av_folder)  # prepared once, not by both
    workers = _start_workers(command, scratch)
    try:
        deadline = time.time() + 600
        while time.time() < deadline and all(p.poll() is None for p, _ in workers):
            if backup.exists() and json.loads(backup.read_text() or "{}").get("epoch", 0) >= 1:
                break
            time.sleep(0.05)
        assert all(p.poll() is None for p, _ in workers), (
            "a worker ended before the kill: "
            + (tmp_path / "worker0.log").read_text()[-2000:])
    finally:
        _stop(workers)
    killed_at = json.loads(backup.read_text())["epoch"]
    assert not (out / "metadata.json").exists()
    # Only the chief wrote the backup: one weights file, no worker folders beside it.
    assert sorted(p.name for p in (out / "backup").iterdir()) == [
        "latest.weights.h5", "training_metadata.json"]

    workers = _start_workers(command, scratch)  # the same command resumes
    try:
        for process, _ in workers:
            assert process.wait(timeout=900) == 0, (
                (tmp_path / "worker0.log").read_text()[-3000:]
                + (tmp_path / "worker1.log").read_text()[-3000:])
    finally:
        _stop(workers)
    for index in range(2):
        log = (tmp_path / f"worker{index}.log").read_text()
        assert f"Resuming from the backup of epoch {killed_at}" in log
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["strategy"] == "multi_worker"
    assert (metadata["replicas"], metadata["workers"]) == (2, 2)
    assert metadata["resumed_from_epoch"] == killed_at
    assert [row["epoch"] for row in metadata["history"]] == list(range(epochs))
    assert not (out / "backup").exists()
    # The non-chief's scratch folders (backups, final folder) are gone.
    assert [p.name for p in scratch.iterdir() if p.name.startswith("mmzoo-")] == []


# ----- errors and options (in process) ------------------------------------------------
def test_multi_worker_without_tf_config_names_it(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        distribute.make_strategy("multi_worker")


def test_tpu_that_is_not_there_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("TPU_NAME", raising=False)
    with pytest.raises(ValueError, match=r"No TPU reachable at tpu='local'.*Colab"):
        distribute.make_strategy("tpu")
    assert float(tf.reduce_sum(tf.ones(3))) == 3.0  # TensorFlow still works after


def test_unknown_strategy_precision_and_shard_policy_are_named(tmp_path):
    with pytest.raises(ValueError, match="strategy must be one of .*'mirorred'"):
        distribute.make_strategy("mirorred")
    with pytest.raises(ValueError, match="precision must be one of .*'fp16'"):
        fit.train("sentiment_early", "avdigits", tmp_path, precision="fp16")
    with pytest.raises(ValueError, match="shard policy must be one of .*'rows'"):
        distribute.shard(tf.data.Dataset.range(3), "rows")


def test_shard_sets_the_auto_shard_policy():
    policy = tf.data.experimental.AutoShardPolicy
    for name, expected in (("data", policy.DATA), ("file", policy.FILE)):
        dataset = distribute.shard(tf.data.Dataset.range(3), name)
        assert dataset.options().experimental_distribute.auto_shard_policy == expected


def test_default_strategy_is_the_chief_and_writes_in_place(tmp_path):
    strategy = distribute.make_strategy("default")
    assert distribute.strategy_name(strategy) == "default"
    assert distribute.is_chief(strategy)
    with distribute.writing_dir(tmp_path / "out", strategy) as folder:
        assert folder == tmp_path / "out"


def test_feature_cache_is_turned_off_with_a_message_on_multi_worker_and_tpu(
        monkeypatch, capsys):
    strategy = distribute.make_strategy("default")
    assert fit._feature_cache_allowed(True, strategy) == "auto"
    for name in ("multi_worker", "tpu"):
        monkeypatch.setattr(distribute, "strategy_name", lambda _, name=name: name)
        assert fit._feature_cache_allowed(True, strategy) is False
        assert f"Feature cache off under strategy {name!r}" in capsys.readouterr().err


class _OptimizerProbe(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.optimizer = type(self.model.optimizer).__name__


def test_mixed_float16_trains_with_loss_scaling(av_folder, tmp_path):
    probe = _OptimizerProbe()
    folder = fit.train("sentiment_early", "avdigits", tmp_path / "run", data_dir=av_folder,
                       epochs=1, batch_size=8, max_examples=16, overrides=TINY,
                       precision="mixed_float16", verbose=0, callbacks=[probe])
    assert probe.optimizer == "LossScaleOptimizer"  # Keras' dynamic loss scaling
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["precision"] == "mixed_float16"
    assert np.isfinite(metadata["history"][0]["loss"])
    mixed = mmzoo.load("sentiment_early", weights=str(folder), compile=False)
    assert mixed.dtype_policy.name == "mixed_float16"  # the folder keeps its precision
    full = mmzoo.load("sentiment_early", weights=str(folder), compile=False, dtype="float32")
    rng = np.random.default_rng(0)
    inputs = {"image": rng.uniform(0, 255, (2, 16, 16, 3)).astype("float32"),
              "audio": rng.normal(size=(2, 8000)).astype("float32")}
    np.testing.assert_allclose(np.asarray(mixed(inputs), "float32"),
                               np.asarray(full(inputs)), atol=1e-2)


def test_cli_offers_the_strategies_and_precisions_of_the_library():
    from mmzoo.cli import build_parser

    subcommands = build_parser()._subparsers._group_actions[0].choices
    options = {action.dest: action for action in subcommands["train"]._actions}
    assert tuple(options["strategy"].choices) == distribute.STRATEGIES
    assert tuple(options["precision"].choices) == distribute.PRECISIONS
