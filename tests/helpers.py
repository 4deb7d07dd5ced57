"""Small builders shared by the tests."""

import keras
import numpy as np

TEXTS = ["a good happy day", "a bad sad day", "the film was good", "the film was bad"]


def tiny_inputs(rng, batch=4, modalities=("text", "image", "audio"), sample_rate=16000,
                vocab=20):
    inputs = {
        "text": rng.integers(1, vocab, size=(batch, 6)).astype("int32"),
        "image": rng.uniform(0, 255, size=(batch, 32, 32, 3)).astype("float32"),
        "audio": (rng.normal(size=(batch, sample_rate)) * 0.1).astype("float32"),
    }
    inputs["text"][:, 4:] = 0
    return {m: inputs[m] for m in modalities}


def tiny_labels(batch=4, num_classes=2):
    return np.arange(batch) % num_classes


def fit_each(presets, setup, epochs=8):
    """preset -> (model, per-epoch training losses, tensor inputs) for the families'
    "trained" fixtures. `setup(preset, rng)` returns `(model, fit_arguments, inputs)`;
    each model is fitted `epochs` epochs on its arguments, seeded 0.

    >>> fit_each(["vqa_san"], lambda p, rng: (model, (x, y), x))
    """
    rng = np.random.default_rng(0)
    trained = {}
    for preset in presets:
        keras.utils.set_random_seed(0)
        model, fit_arguments, inputs = setup(preset, rng)
        history = model.fit(*fit_arguments, epochs=epochs, verbose=0)
        trained[preset] = (model, history.history["loss"], inputs)
    return trained
