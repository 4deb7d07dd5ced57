"""The first `fit` and `evaluate` trace their step once: the optimizer's slots and the
metrics' variables are built before tracing (`mmzoo.tasks.distributed_fit`), so
TensorFlow does not trace a step again after it created variables."""

import numpy as np

from mmzoo.tasks.base import Task
from tests.helpers import preset_inputs, small_preset


def test_fit_and_evaluate_trace_their_step_once(monkeypatch, rng):
    traces = {"train": 0, "test": 0}
    train_step, test_step = Task.train_step, Task.test_step

    def counted_train_step(self, data):
        traces["train"] += 1
        return train_step(self, data)

    def counted_test_step(self, data):
        traces["test"] += 1
        return test_step(self, data)

    monkeypatch.setattr(Task, "train_step", counted_train_step)
    monkeypatch.setattr(Task, "test_step", counted_test_step)
    model = small_preset("sentiment_late")
    x, y = preset_inputs(model, rng, batch=8), np.arange(8) % 2
    history = model.fit(x, y, batch_size=4, epochs=2, validation_data=(x, y), verbose=0)
    assert traces == {"train": 1, "test": 1}
    assert len(history.history["loss"]) == 2
    assert np.isfinite(history.history["val_loss"]).all()
    assert model.optimizer.built and model.optimizer.iterations.numpy() == 4
