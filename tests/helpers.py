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


# ----- every preset, built small ------------------------------------------------------
SMALL_TEXTS = ["a good happy day", "a bad sad day", "the film was good", "a dog in the snow"]
# Narrower layers and short text per task family (the families' test sizes); the
# architecture stays the preset's.
SMALL_OVERRIDES = {
    "classifier": {"vocab_size": 50, "sequence_length": 8, "sample_rate": 8000,
                   "text_options": {"embed_dim": 16, "units": 16},
                   "image_options": {"filters": [8, 16]}},
    "vqa": {"image_size": 32, "image_options": {"filters": [4, 8]}, "vocab_size": 50,
            "sequence_length": 8, "text_options": {"embed_dim": 8, "units": 8},
            "answers": ["yes", "no", "red", "blue", "circle"]},
    # The captioning and retrieval presets' pretrained encoders (EfficientNet-Lite0,
    # GloVe, MiniLM) are replaced by small random ones, as in their family tests.
    "captioner": {"image_backbone": "simple_cnn", "image_weights": None, "image_size": 32,
                  "image_options": {"filters": [8, 16]}, "word_embeddings": None,
                  "vocab_size": 40, "min_word_count": 1, "sequence_length": 8,
                  "embed_dim": 32, "feature_dim": 32, "num_heads": 4, "ffn_dim": 64,
                  "lstm_units": 32, "attention_units": 16},
    "retriever": {"image_backbone": "simple_cnn", "image_weights": None, "image_size": 32,
                  "image_options": {"filters": [8, 16]}, "text_backbone": "cnn",
                  "text_options": {"embed_dim": 16}, "vocab_size": 50,
                  "sequence_length": 8, "embed_dim": 32, "projection_units": [32]},
}
SMALL_FUSION_OVERRIDES = {  # as in tests/tasks/vqa/test_vqa_presets.py
    "vqa_concat": {"fusion_options": {"units": 16}, "head_units": [16]},
    "vqa_san": {"fusion_options": {"dim": 16, "attention_units": 8}, "head_units": [16]},
    "vqa_mfb": {"fusion_options": {"units": 8, "factors": 2, "attention_units": 8}},
    "vqa_rn": {"fusion_options": {"g_units": [16, 16], "f_units": [16]},
               "image_options": {"filters": [4, 8, 8]}},
}


def small_preset(preset, adapt=True, **overrides):
    """`mmzoo.load(preset)` with the small overrides of its task family, its text
    vocabulary adapted to `SMALL_TEXTS` unless `adapt=False`.

    >>> model = small_preset("vqa_san", dtype="mixed_float16")
    """
    import mmzoo
    from mmzoo.zoo import PRESETS  # importing zoo registers the presets

    task = PRESETS.get(preset)["task"]
    model = mmzoo.load(preset, **{**SMALL_OVERRIDES[task],
                                  **SMALL_FUSION_OVERRIDES.get(preset, {}), **overrides})
    if adapt:
        model.adapt_text(SMALL_TEXTS)
    return model


def preset_inputs(model, rng, batch):
    """Tensor inputs for any task model: token ids from its vectorizers when adapted
    (random ids below `vocab_size` otherwise), 36x28 images, one second of audio."""
    import tensorflow as tf

    from mmzoo.preprocessing.text import vocabulary_of

    texts = np.array([SMALL_TEXTS[i % len(SMALL_TEXTS)] for i in range(batch)])
    length = model.get_config().get("sequence_length", 8)
    inputs = {}
    for name, spec in model.tensor_signature().items():
        if spec.dtype == tf.int32:
            vectorizer = model.text_vectorizers.get(name)
            if vectorizer is None or not vocabulary_of(vectorizer):
                ids = rng.integers(1, 20, size=(batch, length)).astype("int32")
                ids[:, length // 2:] = 0
            elif name == "caption":  # decoder inputs: [start, w1..wn], 0-padded
                ids = model.caption_ids(tf.constant(texts))[0].numpy()
            else:
                ids = np.asarray(vectorizer(texts)).astype("int32")
            inputs[name] = ids
        elif name == "image":
            inputs[name] = rng.uniform(0, 255, size=(batch, 36, 28, 3)).astype("float32")
        else:
            rate = getattr(model, "sample_rate", 16000)
            inputs[name] = (rng.normal(size=(batch, rate)) * 0.1).astype("float32")
    return inputs
