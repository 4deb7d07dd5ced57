"""What `keras.Model.fit` (Keras 3.15, TensorFlow backend) needs to train under a
`tf.distribute` strategy with several replicas (keras-team/keras#20585).

Keras builds the model on one peeked batch, which it makes by averaging the replicas'
parts element by element (`strategy.reduce("MEAN", batch)`): integer token ids become
floats, which mmzoo's input checks rightly refuse; parts of different sizes (a last
partial batch) cannot be averaged; and MultiWorkerMirroredStrategy takes single tensors
only. `DistributedFit` builds on the first local replica's part instead. With several
workers, Keras also averages the per-step logs with `strategy.reduce("MEAN", log,
axis=0)`, which fails on scalar logs: each scalar log is returned as a `[1]` vector,
which that reduce averages over every replica of every worker into the same scalar on
all workers (early stopping then stops them all on the same epoch).

Without a strategy, Keras builds the optimizer's slots and the metrics' variables while
it traces the train step; a `tf.function` that creates variables is traced twice, so
the first `fit` call took twice its tracing time (10 s instead of 5 for
sentiment_attention). `DistributedFit` builds them beforehand, from the data's shapes.

>>> class Task(DistributedFit, keras.Model): ...
"""

import tensorflow as tf


def in_multi_worker_mode(strategy):
    return (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
            and strategy.extended._in_multi_worker_mode())


class DistributedFit:
    """Mixin for a `keras.Model` subclass (listed before it)."""

    def train_step(self, data):
        return self._reducible_logs(super().train_step(data))

    def test_step(self, data):
        return self._reducible_logs(super().test_step(data))

    def _reducible_logs(self, logs):
        if not isinstance(logs, dict) or not in_multi_worker_mode(self.distribute_strategy):
            return logs
        return {name: (tf.reshape(value, [1])
                       if tf.is_tensor(value) and value.shape.rank == 0 else value)
                for name, value in logs.items()}

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = getattr(self, "_distribute_strategy", None)
        if strategy is None:
            if iterator is not None:
                # The dataset's element spec, not a batch: drawing one would move a
                # seeded shuffle on to its next order.
                dataset = getattr(iterator, "_distributed_dataset", None)
                if dataset is None:
                    return None  # Keras then builds while tracing, as before
                data_batch = dataset.element_spec
            return self._symbolic_build(data_batch=data_batch)
        if iterator is not None and strategy.num_replicas_in_sync > 1:
            for _, _, batches in iterator:
                data_batch = tf.nest.map_structure(
                    lambda value: (strategy.experimental_local_results(value)[0]
                                   if isinstance(value, tf.distribute.DistributedValues)
                                   else value),
                    next(batches))
                break
            iterator = None
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)
