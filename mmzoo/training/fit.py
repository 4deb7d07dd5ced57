"""Train a preset on a data set and write a weights folder; evaluate weights on a split.

>>> from mmzoo.training import train, evaluate
>>> folder = train("sentiment_late", "avdigits", out="runs/late_avdigits", epochs=10)
>>> evaluate("sentiment_late", weights=str(folder), data="avdigits", split="test")
{'accuracy': 0.97, 'f1_macro': 0.97, 'f1_weighted': 0.97, ..., 'examples': 800}

Training shuffles with the seed, shows Keras progress bars, backs up the state every
epoch (`AtomicBackupAndRestore`: the same command after a kill resumes from the last
finished epoch; the backup is deleted only once the final folder is complete), stops
early on the validation loss (restoring the best weights), appends every epoch to
`history.csv`, then writes the weights folder (`mmzoo.weights.save_folder`: config,
weights, metadata with the data set, split sizes, metrics on validation and test, the
command, seed and library versions, then checksums).

What `seed` fixes: the initial weights, the shuffling order, dropout and augmentation
draws. What it does not: the order of floating-point reductions that TensorFlow's
parallel CPU kernels (and GPUs) choose, so two runs drift apart slowly. With
`deterministic=True` (`--deterministic`) TensorFlow's op determinism is on as well: the
same seed on the same machine and versions gives the same numbers, at some cost in speed.

Scale-out (`strategy=`, see `mmzoo.training.distribute`): "mirrored" (the GPUs of one
machine), "multi_worker" (several machines, `TF_CONFIG`) or "tpu". The model is built
and compiled inside the strategy's scope; `batch_size` is the global batch (split over
the replicas); BatchNorm statistics are those of the global batch; multi-worker input
is sharded by data (`shard_by`); only the chief writes the weights folder, history and
backup. `precision="mixed_float16"` or `"mixed_bfloat16"` builds the model with that
dtype policy (float32 variables; float16 gets Keras' dynamic loss scaling).
"""

import hashlib
import json
import pathlib
import platform
import shlex
import shutil
import sys
import time

import keras
import tensorflow as tf

from mmzoo import datasets, weights
from mmzoo.registry import PRESETS, TASKS
from mmzoo.tasks.feature_cache import features_fingerprint
from mmzoo.training import distribute
from mmzoo.training.backup import AtomicBackupAndRestore
from mmzoo.training.finetune import freeze_backbones as freeze
from mmzoo.zoo import load, merge_config

BACKUP_DIR = "backup"
LR_SCHEDULES = ("constant", "cosine")
HISTORY_FILE = "history.csv"


def load_split(data, split, data_dir=None, batch_size=32, options=None,
               shuffle_seed=None, max_examples=None, drop_remainder=False,
               min_last_batch=0):
    """A batched, prefetched split (None when the split is empty), and its info.

    drop_remainder: leave out the last partial batch (after shuffling: other examples
    every epoch). min_last_batch: leave out a last partial batch of fewer examples than
    this (a strategy's replicas each need one).
    """
    try:
        dataset, info = datasets.load(data, split, data_dir, with_info=True,
                                      **(options or {}))
    except ValueError as error:
        if "empty" in str(error) or "no test" in str(error).lower():
            return None, None
        raise
    if max_examples:
        dataset = dataset.take(max_examples)
    count = int(dataset.cardinality())
    if count > 0 and 0 < count % batch_size < min_last_batch:
        dataset = dataset.take(count - count % batch_size)
    if drop_remainder and 0 <= count < batch_size:
        return None, info  # not one whole batch
    if shuffle_seed is not None:
        dataset = dataset.shuffle(8192, seed=shuffle_seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size, drop_remainder).prefetch(tf.data.AUTOTUNE), info


def build_for_dataset(preset, train_set, info, overrides=None, weights_name=None):
    """`preset` shaped for a data set: the task derives what the data decides (classes,
    answers, sample rate, ...) from `info` and the batched `train_set`'s spec, and
    without weights adapts its vocabularies to `train_set`. Uncompiled.

    >>> train_set, info = load_split("easy_vqa", "train", "../shared/data")
    >>> model = build_for_dataset("vqa_san", train_set, info)
    """
    overrides = dict(overrides or {})
    spec = PRESETS.get(preset)
    config = merge_config(spec["config"], overrides)
    derived = TASKS.get(spec["task"]).dataset_overrides(info, train_set.element_spec, config)
    model = load(preset, weights=weights_name, compile=False, **{**derived, **overrides})
    if weights_name is None:
        model.adapt_to_dataset(train_set)
    return model


def train(preset, data, out, data_dir=None, epochs=10, batch_size=32, seed=0,
          weights_name=None, learning_rate=1e-3, patience=3, overrides=None,
          data_options=None, max_examples=None, verbose="auto", command=None,
          lr_schedule="constant", deterministic=False, freeze_backbones=False,
          feature_cache_dir=None, strategy="default", tpu=None, precision=None,
          shard_by="data", sync_batch_norm=True, callbacks=None):
    """Trains `preset` on `data`'s train split (validation split for early stopping).

    `batch_size`: the global batch, split over the strategy's replicas.
    `lr_schedule`: "constant", or "cosine" (cosine decay from `learning_rate` to 0 over
    `epochs`, which calms the late epochs of small, noisy data sets).
    `deterministic`: TensorFlow op determinism (see the module doc).
    `freeze_backbones`: train the fusion and head only (pretrained encoders stay as they
    are); their outputs are then computed once per example and cached in memory, or in
    `feature_cache_dir` (a folder shared by runs: entries are keyed by the frozen
    encoders' weights and the data) so that later runs skip the encoders entirely. The
    cache works with the default and mirrored strategies; multi_worker and tpu runs
    train through the frozen encoders (same result, slower) and say so.
    `strategy`: a name in `distribute.STRATEGIES` or a `tf.distribute.Strategy`; `tpu`:
    the TPU to use with "tpu". `precision`: None (the preset's), or one of
    `distribute.PRECISIONS`. `shard_by`: multi-worker input sharding (`distribute.shard`).
    `sync_batch_norm`: BatchNorm statistics over the global batch when there are several
    replicas (False: per replica). `callbacks`: more Keras callbacks for `fit`.
    """
    # First: a multi-worker strategy must exist before TensorFlow runs any op.
    strategy = distribute.make_strategy(strategy, tpu)
    if lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, received {lr_schedule!r}.")
    if precision is not None and precision not in distribute.PRECISIONS:
        raise ValueError(f"precision must be one of {distribute.PRECISIONS}, "
                         f"received {precision!r}.")
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    out = pathlib.Path(out)
    overrides = dict(overrides or {})
    if precision is not None:
        overrides["dtype"] = precision
    data_options = dict(data_options or {})
    replicas = strategy.num_replicas_in_sync
    if batch_size < replicas:
        raise ValueError(f"batch_size is the global batch, split over the replicas: "
                         f"{batch_size} cannot feed {replicas} replicas.")
    # With several replicas every training step is a whole global batch, split evenly:
    # each epoch leaves out its last len % batch_size examples (others every epoch, as
    # the order is reshuffled). Validation keeps a last partial batch unless it cannot
    # give every replica an example (an empty replica batch breaks some layers).
    train_set, info = load_split(data, "train", data_dir, batch_size, data_options,
                                 shuffle_seed=seed, max_examples=max_examples,
                                 drop_remainder=replicas > 1)
    if train_set is None:
        raise ValueError(f"The train split of {data!r} is empty" + (
            f" or smaller than one global batch ({batch_size})." if replicas > 1 else "."))
    # Several workers: a last partial batch is cut into the workers' parts in order, so
    # a worker can get an empty part, which some layers cannot take (oneDNN convolutions
    # on 0 examples): the validation loss of early stopping takes whole batches only.
    # (The final metrics are computed in each process on every example: predict_dataset.)
    whole_batches = distribute.is_multi_worker(strategy)
    validation_set, _ = load_split(data, "validation", data_dir, batch_size, data_options,
                                   max_examples=max_examples, min_last_batch=replicas,
                                   drop_remainder=whole_batches)
    train_set = distribute.shard(train_set, shard_by)
    if validation_set is not None:
        validation_set = distribute.shard(validation_set, shard_by)

    # Again: preparing a data set for the first time draws from the same generators, and
    # the initial weights must not depend on whether this run prepared it.
    keras.utils.set_random_seed(seed)
    with strategy.scope():
        model = build_for_dataset(preset, train_set, info, overrides, weights_name)
        if freeze_backbones:
            freeze(model)
        model.compile(optimizer=keras.optimizers.Adam(
            _schedule(lr_schedule, learning_rate, epochs, train_set)))
    cache_features = _feature_cache_allowed(freeze_backbones, strategy)
    cache_dir = cache_features and _feature_cache_dir(
        feature_cache_dir, model, validation_set or train_set,
        dict(data=data, data_dir=str(pathlib.Path(data_dir).resolve()) if data_dir else None,
             options=data_options, max_examples=max_examples)) or None

    backup = out / BACKUP_DIR
    resumed_from = _backed_up_epoch(backup)
    if resumed_from:
        print(f"Resuming from the backup of epoch {resumed_from} in {backup}",
              file=sys.stderr)
    monitor = "val_loss" if validation_set is not None else "loss"
    # Non-chief workers of a multi-worker run write to a scratch folder, deleted after.
    with distribute.writing_dir(out, strategy) as folder:
        # The history row is written before the backup: a kill between the two makes the
        # resumed run repeat that epoch, and `_read_history` keeps the repeat's row.
        all_callbacks = [
            keras.callbacks.CSVLogger(str(folder / HISTORY_FILE), append=True),
            AtomicBackupAndRestore(backup),
            keras.callbacks.EarlyStopping(monitor=monitor, patience=patience,
                                          restore_best_weights=True),
            keras.callbacks.TerminateOnNaN(),
            *(callbacks or []),
        ]
        folder.mkdir(parents=True, exist_ok=True)
        started = time.time()
        if distribute.strategy_name(strategy) == "default":
            distribute.advance_shuffle_like_keras(train_set)
        with strategy.scope(), distribute.synchronized_batch_norm(
                model, strategy, sync_batch_norm):
            cache_option = {"feature_cache_dir": cache_dir} if cache_dir else {}
            model.fit(train_set, validation_data=validation_set, epochs=epochs,
                      callbacks=all_callbacks, verbose=verbose,
                      cache_features=cache_features, **cache_option)
        seconds = time.time() - started

        results = {}
        for split in ("validation", "test"):
            dataset, _ = load_split(data, split, data_dir, batch_size, data_options,
                                    max_examples=max_examples)
            if dataset is not None:
                results[split] = model.evaluate_dataset(dataset)
        metadata = {
            "preset": preset,
            "dataset": data,
            "data_dir": str(pathlib.Path(data_dir).resolve()) if data_dir else None,
            "data_options": data_options,
            "split_sizes": info.get("splits"),
            "max_examples": max_examples,
            "metrics": {f"{split}_{k}": v for split, values in results.items()
                        for k, v in values.items()},
            "epochs_requested": epochs,
            "history": _read_history(folder / HISTORY_FILE),
            "resumed_from_epoch": resumed_from,
            "train_seconds_this_run": round(seconds, 1),
            "batch_size": batch_size,
            "learning_rate": learning_rate,
            "lr_schedule": lr_schedule,
            "seed": seed,
            "deterministic": bool(deterministic),
            "frozen_backbones": bool(freeze_backbones),
            "pretrained_sources": pretrained_sources(model),
            **distribute.describe(strategy),
            "precision": model.dtype_policy.name,
            "sync_batch_norm": bool(sync_batch_norm),
            "shard_by": shard_by,
            "overrides": overrides,
            "command": command or _current_command(),
            "versions": versions(),
        }
        weights.save_folder(model, folder, preset=preset, metadata=metadata)
    if distribute.is_chief(strategy):
        shutil.rmtree(backup, ignore_errors=True)  # only now: the final folder is complete
    distribute.barrier(strategy)  # every worker returns once the chief's folder is written
    return out


def evaluate(preset, weights_name, data, split="test", data_dir=None, batch_size=64,
             data_options=None, max_examples=None, modalities=None):
    """Metrics of `preset` with `weights_name` on one split of `data`.

    `modalities`: give the model only these inputs (the others are masked inside its
    fusion, as when a user leaves them out), e.g. ("text",) for a text + image model.
    """
    model = load(preset, weights=weights_name, compile=False)
    options = {**model.dataset_options(), **(data_options or {})}
    dataset, _ = load_split(data, split, data_dir, batch_size, options,
                            max_examples=max_examples)
    if dataset is None:
        raise ValueError(f"The {split!r} split of {data!r} is empty.")
    if modalities:
        unknown = [m for m in modalities if m not in model.input_names]
        if unknown:
            raise ValueError(f"modalities {unknown} are not inputs of {preset!r}, which "
                             f"takes {model.input_names}.")
        dataset = dataset.map(lambda inputs, *rest: (
            {k: v for k, v in inputs.items() if k in modalities or k not in
             model.input_names}, *rest))
    results = {**model.evaluate_dataset(dataset), "dataset": data, "split": split}
    if modalities:
        results["modalities"] = list(modalities)
    return results


def pretrained_sources(model):
    """Where the model's pretrained initial weights came from: source name, package and
    version (or download), licence; {} for a model trained from scratch."""
    from mmzoo.pretrained import SOURCES

    config = model.get_config()
    sources = {}
    for key, value in model.pretrained_init.items():
        modality = key.split("_")[0]
        backbone = config.get(f"{modality}_backbone")
        names = [value.get("embeddings")] if isinstance(value, dict) else []
        names += [backbone, f"{backbone}_imagenet"]
        for name in filter(None, names):
            if name in SOURCES:
                spec = SOURCES[name]
                sources[modality] = {
                    "source": name, "licence": spec["licence"],
                    "package": (f"{spec['package']}=={spec['version']}" if "package" in spec
                                else spec.get("url"))}
                break
    return sources


def _feature_cache_allowed(freeze_backbones, strategy):
    """"auto" (cache the frozen encoders' features when the model can), or False with a
    message for strategies the cache does not support: it runs the encoders outside the
    replicated step, over all the data, in every process."""
    name = distribute.strategy_name(strategy)
    if freeze_backbones and name in ("multi_worker", "tpu"):
        print(f"Feature cache off under strategy {name!r}: the frozen encoders run in "
              "every step (same result, slower). It works with the default and mirrored "
              "strategies.", file=sys.stderr)
        return False
    return "auto"


def _feature_cache_dir(root, model, probe_set, data_identity):
    """`root/<key>` for the cached features of `model`'s frozen encoders on this data, or
    None (no root, or nothing to cache). The key holds what the encoders compute on the
    first batch of `probe_set` (an unshuffled split) and the data's identity."""
    if root is None:
        return None
    extractor, _ = model.feature_split()
    if extractor is None:
        return None
    probe = next(iter(model.cache_inputs(probe_set.take(1))))[0]
    text = json.dumps({"encoders": features_fingerprint(extractor, probe), **data_identity},
                      sort_keys=True, default=str)
    return pathlib.Path(root) / hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def _schedule(name, learning_rate, epochs, train_set):
    steps = int(train_set.cardinality())
    if name == "constant" or steps <= 0:  # unknown cardinality: stay constant
        return learning_rate
    return keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=epochs * steps)


def versions():
    import numpy
    import tensorflow_datasets

    import mmzoo

    return {"mmzoo": mmzoo.__version__, "tensorflow": tf.__version__,
            "keras": keras.__version__, "tensorflow_datasets": tensorflow_datasets.__version__,
            "numpy": numpy.__version__, "python": platform.python_version()}


def _backed_up_epoch(backup):
    path = backup / "training_metadata.json"
    if not path.exists():
        return 0
    try:
        return int(json.loads(path.read_text()).get("epoch", 0))
    except (json.JSONDecodeError, ValueError, AttributeError) as error:
        raise weights.WeightsError(
            f"The training backup's {path} cannot be read ({error}). Delete {backup} to "
            "train from the start.") from None


def _read_history(path):
    """Rows of history.csv, one per epoch (a repeated epoch keeps its last row)."""
    if not path.exists():
        return []
    lines = path.read_text().strip().splitlines()
    header = lines[0].split(",")
    rows = {}
    for line in lines[1:]:
        row = {k: (int(v) if k == "epoch" else float(v)) for k, v in zip(header, line.split(","))}
        rows[row["epoch"]] = row
    return [rows[epoch] for epoch in sorted(rows)]


def _current_command():
    argv = list(sys.argv)
    if argv and argv[0].endswith(("mmzoo", "cli.py", "__main__.py")):
        argv[0] = "mmzoo"
    return shlex.join(argv)
