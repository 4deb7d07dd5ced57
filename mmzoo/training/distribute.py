"""Training on several devices and machines with `tf.distribute`.

Strategies by name, which worker is the chief, where each worker may write, how the
data is sharded, and BatchNorm statistics over the global batch.

>>> strategy = make_strategy("mirrored")           # every local GPU
>>> with strategy.scope():                          # variables made here are mirrored
...     model = mmzoo.load("sentiment_late", compile=False)
...     model.compile()
>>> with synchronized_batch_norm(model, strategy):  # statistics of the global batch
...     model.fit(shard(train.batch(64), "data"), epochs=3)  # 64 per step in all

Batch sizes are global (the Keras convention): with 4 replicas and `batch_size=64`
each replica computes 16 examples a step, and the loss and gradients are those of the
64. Scale the learning rate yourself when you grow the global batch.
"""

import contextlib
import hashlib
import json
import os
import pathlib
import shutil
import socket
import tempfile

import keras
import tensorflow as tf

from mmzoo.tasks.distributed_fit import in_multi_worker_mode

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")
SHARD_POLICIES = ("data", "file", "auto")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")

TPU_HELP = (
    "On Colab: Runtime > Change runtime type > TPU, then pip install tensorflow-tpu of "
    "the same version as tensorflow (see README: 'Training on several GPUs, several "
    "machines and a Colab TPU'). On a Cloud TPU VM the default (tpu='local') finds the "
    "attached chips; for a TPU node pass --tpu NAME or --tpu grpc://IP:8470.")


def make_strategy(strategy="default", tpu=None):
    """A `tf.distribute.Strategy` from a name in `STRATEGIES` (an instance is returned as
    it is).

    default: the current strategy (one device). mirrored: synchronous replicas on every
    local GPU, or every logical CPU device when there is no GPU (one unless configured
    with `tf.config.set_logical_device_configuration`). multi_worker: one process per
    machine, its cluster from the `TF_CONFIG` environment variable; create it before
    TensorFlow runs anything else in the process. tpu: the TPU named by `tpu` (a name,
    `grpc://ip:port`, or "local": the chips of this TPU VM; default `$TPU_NAME` or
    "local"); a ValueError says how to get one when none answers.

    >>> make_strategy("mirrored").num_replicas_in_sync   # e.g. 4 on a 4-GPU machine
    """
    if isinstance(strategy, tf.distribute.Strategy):
        return strategy
    if strategy in (None, "default"):
        return tf.distribute.get_strategy()
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES} or a tf.distribute.Strategy, "
                         f"received {strategy!r}.")
    if strategy == "multi_worker" and not os.environ.get("TF_CONFIG"):
        raise ValueError(
            "strategy 'multi_worker' needs the TF_CONFIG environment variable on every "
            "worker: {\"cluster\": {\"worker\": [\"host1:port\", \"host2:port\"]}, "
            "\"task\": {\"type\": \"worker\", \"index\": 0}} (index 1 on the second...).")
    key = (strategy, tpu)
    # One instance per process: strategies made later in the same process reuse the
    # collective-op keys of earlier ones, and the replicas then exchange mismatched
    # tensors ("Shape mismatch in the collective instance").
    if key not in _MADE:
        _MADE[key] = _new_strategy(strategy, tpu)
    return _MADE[key]


_MADE = {}


def _new_strategy(name, tpu):
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tpu_strategy(tpu)


def tpu_strategy(tpu=None):
    """`TPUStrategy` over the TPU `tpu` (see `make_strategy`); a ValueError naming what was
    tried when no TPU is reachable."""
    name = tpu or os.environ.get("TPU_NAME") or "local"
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=name)
        if name != "local":
            tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    except (ValueError, RuntimeError, ImportError, tf.errors.OpError) as error:
        reason = str(error).splitlines()[0][:200]
        raise ValueError(f"No TPU reachable at tpu={name!r} ({type(error).__name__}: "
                         f"{reason}). {TPU_HELP}") from error


def strategy_name(strategy):
    """The `STRATEGIES` name of a strategy instance (its class name otherwise)."""
    for kind, name in ((tf.distribute.MultiWorkerMirroredStrategy, "multi_worker"),
                       (tf.distribute.MirroredStrategy, "mirrored"),
                       (tf.distribute.TPUStrategy, "tpu")):
        if isinstance(strategy, kind):
            return name
    if type(strategy).__name__ == "_DefaultDistributionStrategy":
        return "default"
    return type(strategy).__name__


is_multi_worker = in_multi_worker_mode


def worker_task(strategy):
    """`(task_type, task_id)` of this process in a multi-worker cluster, else None."""
    if not is_multi_worker(strategy):
        return None
    resolver = strategy.cluster_resolver
    return resolver.task_type, resolver.task_id


def is_chief(strategy):
    """Whether this process writes the run's files: always, except on the non-chief
    workers of a multi-worker cluster (the chief is task "chief", or worker 0 when the
    cluster names no chief)."""
    task = worker_task(strategy)
    if task is None:
        return True
    task_type, task_id = task
    if task_type == "chief":
        return True
    cluster = strategy.cluster_resolver.cluster_spec().as_dict()
    return task_type == "worker" and task_id == 0 and "chief" not in cluster


@contextlib.contextmanager
def writing_dir(path, strategy):
    """Yields where this worker writes what belongs in `path`: `path` itself on the chief;
    on other workers a temporary folder, deleted on exit. Every worker must still write
    (a save may read variables through collective ops that all workers join), but only
    the chief's files are kept: this is Keras' ModelCheckpoint / BackupAndRestore rule for
    MultiWorkerMirroredStrategy.

    >>> with writing_dir(out, strategy) as folder:
    ...     model.save_weights(folder / "model.weights.h5")
    """
    if is_chief(strategy):
        yield pathlib.Path(path)
        return
    task_type, task_id = worker_task(strategy)
    # Named after `path`: the next run of a killed worker clears what it left.
    digest = hashlib.sha256(str(pathlib.Path(path).resolve()).encode("utf-8")).hexdigest()
    scratch = pathlib.Path(tempfile.gettempdir()) / f"mmzoo-{task_type}{task_id}-{digest[:16]}"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def shard(dataset, policy="data"):
    """`dataset` with its auto-shard policy for multi-worker input: "data" (default: every
    worker reads the whole pipeline and keeps every n-th global batch slice; the right
    choice for mmzoo's data sets, which are one or a few TFRecord files decoded and
    cached in memory), "file" (each worker reads its own files: for large catalog data
    sets with many more files than workers) or "auto" (TensorFlow's choice: files, else
    data). On one machine the policy does not matter: each global batch is split over
    the replicas.

    >>> train = shard(train, "data")
    """
    policies = {"data": tf.data.experimental.AutoShardPolicy.DATA,
                "file": tf.data.experimental.AutoShardPolicy.FILE,
                "auto": tf.data.experimental.AutoShardPolicy.AUTO}
    if policy not in policies:
        raise ValueError(f"shard policy must be one of {SHARD_POLICIES}, received {policy!r}.")
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = policies[policy]
    return dataset.with_options(options)


@contextlib.contextmanager
def synchronized_batch_norm(model, strategy, enabled=True):
    """While inside, the model's BatchNormalization layers compute their training
    statistics over the global batch (all replicas) when `strategy` has several
    replicas: the same function of the same global batch as on one device, for two
    small all-reduces per layer and step. Their configs are restored on exit, so saved
    models do not change."""
    layers = []
    if enabled and strategy.num_replicas_in_sync > 1:
        layers = [layer for layer in model._flatten_layers(include_self=False)
                  if isinstance(layer, keras.layers.BatchNormalization)
                  and not layer.synchronized]
    for layer in layers:
        layer.synchronized = True
    try:
        yield len(layers)
    finally:
        for layer in layers:
            layer.synchronized = False


def advance_shuffle_like_keras(dataset):
    """Draws one batch of `dataset`, as Keras' `fit` does under a strategy to build the
    distributed model: that draw starts an iteration, which moves a seeded
    `shuffle(reshuffle_each_iteration=True)` on to its next order. Doing the same on one
    device makes every epoch see the same order whatever the strategy."""
    next(iter(dataset.take(1)))


def barrier(strategy):
    """Returns when every worker of a multi-worker cluster got here (a collective
    all-reduce); at once otherwise."""
    if is_multi_worker(strategy):
        strategy.reduce(tf.distribute.ReduceOp.SUM,
                        strategy.run(lambda: tf.constant(1.0)), axis=None)


def describe(strategy):
    """What a weights folder's metadata records about the run's distribution."""
    task = worker_task(strategy)
    info = {"strategy": strategy_name(strategy), "replicas": strategy.num_replicas_in_sync}
    if task is not None:
        cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
        info["workers"] = sum(len(hosts) for hosts in cluster.values()) or None
    return info


def local_cluster(workers=2):
    """`TF_CONFIG` values (JSON) for `workers` worker processes on this machine, on free
    127.0.0.1 ports: one per process, worker 0 the chief. For trying multi-worker
    training (and testing it) without a cluster.

    >>> for config in local_cluster(2):
    ...     subprocess.Popen(["mmzoo", "train", ..., "--strategy", "multi_worker"],
    ...                      env={**os.environ, "TF_CONFIG": config})
    """
    sockets = [socket.socket() for _ in range(workers)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        hosts = [f"127.0.0.1:{sock.getsockname()[1]}" for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
    return [json.dumps({"cluster": {"worker": hosts}, "task": {"type": "worker", "index": i}})
            for i in range(workers)]
