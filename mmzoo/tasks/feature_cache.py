"""Training at the head's speed: frozen encoders run once per example, not once per epoch.

When backbones of a task model are frozen (`mmzoo.freeze_backbones`) and nothing
random happens before them (no modality dropout, no augmentation in a frozen backbone),
the model splits into an *extractor* (inputs -> the frozen backbones' outputs, the
modality presence and the inputs of the trainable backbones) and a *head* (those tensors
-> the model's outputs) that shares the task's own layers. `fit_with_cached_features` runs the extractor over the training data
once, keeps its outputs in a `tf.data` cache (memory, or a file with `cache_dir`), and
trains the head on them: the task's weights are the head's, so the model is trained.

>>> mmzoo.freeze_backbones(model)
>>> model.fit(train.batch(32), epochs=10)   # Task.fit caches when it can
>>> model.feature_split()                   # (extractor, head), or (None, reason)
"""

import hashlib
import json
import os
import pathlib
import tempfile
import weakref

import keras
import numpy as np
import tensorflow as tf

from mmzoo.tasks.distributed_fit import DistributedFit


class _HeadTrainer(DistributedFit, keras.Model):
    """Trains `head` (a functional cut of `task`) with the task's loss; metrics are the
    task's compiled ones, on its main output."""

    def __init__(self, task, head, **kwargs):
        super().__init__(**kwargs)
        # Not a tracked sublayer: the trainer's weights (backups, early stopping's best
        # weights) are the head's, not the frozen encoders'.
        self._task = weakref.ref(task)
        self.head = head

    def call(self, features, training=None):
        return self.head(features, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return self._task().compute_loss(x, y, y_pred, sample_weight, training=training)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if isinstance(y_pred, dict) and "predictions" in y_pred:
            y_pred = y_pred["predictions"]  # fusions with auxiliary outputs
        return super().compute_metrics(x, y, y_pred, sample_weight)


def frozen_feature_split(model, backbones, cut_after=(), random_reason=None):
    """`(extractor, head)` cut after the frozen ones among `backbones` and `cut_after`
    (layers of the model's top-level graph), or `(None, reason)` when caching would
    change training: no backbone is frozen, a frozen one augments its inputs, or
    `random_reason` (e.g. modality dropout). Trainable backbones stay in the head, their
    (cached) inputs among its inputs."""
    frozen = [b for b in backbones if not b.trainable]
    if not frozen:
        return None, "no backbone is frozen (see mmzoo.freeze_backbones)"
    for backbone in frozen:
        if any(type(sub).__name__ == "TrainingOnly"
               for sub in backbone._flatten_layers(include_self=False)):
            return None, f"{backbone.name} augments its inputs in training"
    if random_reason:
        return None, random_reason
    return graph_cut(model, frozen + list(cut_after))


def graph_cut(model, before_layers):
    """Splits a functional `model` after `before_layers` (layers of its top-level graph):
    the extractor computes their outputs that later layers use; the head takes those
    tensors and gives the model's outputs, with the model's own layers."""
    skipped = {id(layer) for layer in before_layers}
    produced = []
    for layer in before_layers:
        for node in layer._inbound_nodes:
            produced.extend(node.output_tensors)
    produced_ids = {id(tensor): tensor for tensor in produced}
    used = {}
    for layer in model.layers:
        if id(layer) in skipped:
            continue
        for node in layer._inbound_nodes:
            for tensor in node.input_tensors:
                if id(tensor) in produced_ids:
                    used[id(tensor)] = tensor
    tensors = [produced_ids[key] for key in produced_ids if key in used]
    extractor = keras.Model(model.inputs, tensors, name=f"{model.name}_extractor")
    head = keras.Model(tensors, model.output, name=f"{model.name}_head")
    return extractor, head


def frozen_tower_cut(tower, backbone_name):
    """`(extractor, tail)` of a nested functional `tower` (a captioner's image encoder,
    a retriever's tower): inputs -> the frozen backbone's outputs that the tower uses,
    and those outputs (a list) -> the tower's outputs (a list), with the tower's own
    layers."""
    return graph_cut(tower, [tower.get_layer(backbone_name)])


def with_step_seeds(dataset):
    """`(element, seed)` pairs: a stateless-random seed `[2]` int64 per element, drawn
    anew every epoch (random ops inside `Dataset.map` would repeat their draws each
    epoch under a global seed)."""
    seeds = tf.data.Dataset.random(rerandomize_each_iteration=True).batch(2)
    return tf.data.Dataset.zip((dataset, seeds))


def cached_dataset(extractor, dataset, cache_dir=None, verbose=1, what="features"):
    """A batched `(inputs, *carried)` dataset (`Task.cache_inputs`) -> unbatched
    `(features, *carried)` computed by `extractor` (inference) in one pass with a
    progress bar, cached in memory and, with `cache_dir`, saved there
    (`tf.data.Dataset.save`, renamed into place when complete) for later runs to load
    instead of computing."""
    saved = pathlib.Path(cache_dir) / "data" if cache_dir else None
    if saved is not None and (saved.parent / "count.json").exists():
        count = json.loads((saved.parent / "count.json").read_text())["examples"]
        loaded = tf.data.Dataset.load(str(saved))
        return loaded.apply(tf.data.experimental.assert_cardinality(count))
    extract = tf.function(lambda x: extractor(x, training=False), reduce_retracing=True)
    features = dataset.map(
        lambda x, *carried: (tuple(keras.tree.flatten(extract(x))), *carried))
    features = features.unbatch().cache()
    total = int(dataset.cardinality())
    progress = keras.utils.Progbar(total if total > 0 else None, verbose=verbose,
                                   unit_name=f"batch of {what}")
    count = 0
    for step, batch in enumerate(features.batch(_batch_size(dataset))):
        count += int(tf.shape(tf.nest.flatten(batch)[0])[0])
        progress.update(step + 1)
    if saved is not None:
        saved.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=saved.parent) as scratch:
            features.save(f"{scratch}/data")
            os.replace(f"{scratch}/data", saved)
        (saved.parent / "count.json").write_text(json.dumps({"examples": count}))
    return features.apply(tf.data.experimental.assert_cardinality(count))


def features_fingerprint(extractor, batch):
    """sha256 of what an extractor computes on one batch of inputs (and of its output
    specs): two runs whose frozen encoders and preprocessing agree get the same value,
    whatever the names Keras gave their layers."""
    outputs = keras.tree.flatten(extractor(batch, training=False))
    digest = hashlib.sha256()
    for output in outputs:
        array = keras.ops.convert_to_numpy(output)
        digest.update(f"{array.shape}{array.dtype}".encode("utf-8"))
        digest.update(np.round(array.astype("float64"), 5).tobytes())
    return digest.hexdigest()


def fit_with_cached_features(model, x, validation_data=None, epochs=1, batch_size=None,
                             shuffle_buffer=8192, seed=None, cache_dir=None, callbacks=None,
                             verbose="auto", split=None, **fit_kwargs):
    """Trains `model`'s head on cached features of its frozen encoders.

    x / validation_data: batched `tf.data.Dataset`s as `model.fit` takes them (raw strings
    allowed). batch_size: of the head's training (default: x's batch size). The cache
    holds what `model.cache_inputs` gives (features and what the task carries beside
    them); `model.head_dataset` turns shuffled batches of it into the head's training
    data every epoch (e.g. drawing one caption per image). Returns the Keras `History`.
    Callbacks see the head trainer, whose weights are the model's trainable ones.
    """
    extractor, head = split or model.feature_split()
    if extractor is None:
        raise ValueError(f"Cannot cache the features of {model.name}: {head}.")
    batch_size = batch_size or _batch_size(x)
    progress = 0 if verbose == 0 else 1
    train = cached_dataset(extractor, model.cache_inputs(x),
                           cache_dir and f"{cache_dir}/train", progress, "training features")
    train = train.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    train = model.head_dataset(train.batch(batch_size), training=True)
    train = train.prefetch(tf.data.AUTOTUNE)
    validation = None
    if validation_data is not None:
        validation = cached_dataset(extractor, model.cache_inputs(validation_data),
                                    cache_dir and f"{cache_dir}/validation", progress,
                                    "validation features")
        validation = model.head_dataset(validation.batch(batch_size), training=False)
        validation = validation.prefetch(tf.data.AUTOTUNE)
    trainer = _HeadTrainer(model, head, name=f"{model.name}_head_trainer")
    compiled = model.get_compile_config() or {}
    metrics = keras.saving.deserialize_keras_object(compiled.get("metrics"))
    trainer.compile(optimizer=model.optimizer, metrics=metrics, jit_compile=False)
    trainer(next(iter(train))[0])  # built before fit, as BackupAndRestore needs
    fit_kwargs.setdefault("shuffle", False)  # shuffled above, per epoch
    return trainer.fit(train, validation_data=validation, epochs=epochs,
                       callbacks=callbacks, verbose=verbose, **fit_kwargs)


def _batch_size(dataset):
    """The batch size of a batched dataset: its static leading dimension, else that of
    its first element (`batch()` without `drop_remainder` leaves it unknown)."""
    spec = tf.nest.flatten(dataset.element_spec)[0]
    size = spec.shape[0] if spec.shape.rank else None
    if size:
        return int(size)
    for element in dataset.take(1):
        first = tf.nest.flatten(element)[0]
        return int(tf.shape(first)[0]) if first.shape.rank else 32
    return 32
