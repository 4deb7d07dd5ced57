"""What `keras.Model.fit` (Keras 3.15, TensorFlow backend) needs to train under
`tf.distribute.MultiWorkerMirroredStrategy` (keras-team/keras#20585).

Two steps of Keras' `fit` fail with several workers: building the model on a peeked
batch averages the whole `(x, y)` structure with one `strategy.reduce` (which this
strategy takes for single tensors only), and the per-step logs are averaged over the
replicas with `strategy.reduce("MEAN", log, axis=0)`, which fails on scalar logs.
`MultiWorkerFit` builds on the first local replica's part of the batch, and returns each
scalar log as a `[1]` vector, which that reduce averages over every replica of every
worker into the same scalar on all workers (early stopping then stops them all on the
same epoch). Single-machine strategies keep Keras' own path.

>>> class Task(MultiWorkerFit, keras.Model): ...
"""

import tensorflow as tf


def in_multi_worker_mode(strategy):
    return (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
            and strategy.extended._in_multi_worker_mode())


class MultiWorkerFit:
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
        if iterator is not None and in_multi_worker_mode(strategy):
            for _, _, batches in iterator:
                data_batch = tf.nest.map_structure(
                    lambda value: (strategy.experimental_local_results(value)[0]
                                   if isinstance(value, tf.distribute.DistributedValues)
                                   else value),
                    next(batches))
                break
            iterator = None
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)
