"""`model(x)` is inference unless `training=True` is passed, for every preset: it equals
`model.predict(x)` and changes no variable (BatchNorm moving statistics included)."""

import keras
import numpy as np
import pytest

import mmzoo
from mmzoo.backbones import build_backbone
from mmzoo.layers import Resize
from mmzoo.listing import summarize
from tests.helpers import TEXTS, tiny_inputs
from tests.tasks.captioning.test_caption_presets import SMALL as CAPTION_SMALL
from tests.tasks.vqa.test_vqa_presets import QUESTIONS
from tests.tasks.vqa.test_vqa_presets import small_model as small_vqa

RETRIEVAL_SMALL = {"image_backbone": "simple_cnn", "image_weights": None, "image_size": 32,
                   "image_options": {"filters": [4, 8]}, "text_backbone": "cnn",
                   "text_options": {"embed_dim": 8}, "embed_dim": 8, "vocab_size": 50,
                   "sequence_length": 8, "projection_units": [8]}


def _model_and_inputs(preset, rng):
    family = summarize(preset)["task"]
    if family == "classifier":
        model = mmzoo.load(preset, image_size=32, sample_rate=8000)
        model.adapt_text(TEXTS)
        return model, tiny_inputs(rng, batch=3, sample_rate=8000,
                                  vocab=model.text_vectorizer.vocabulary_size())
    if family == "vqa":
        model = small_vqa(preset)
        ids = model.question_vectorizer(np.array(QUESTIONS[:3])).numpy().astype("int32")
        return model, {"image": rng.uniform(0, 255, (3, 32, 32, 3)).astype("float32"),
                       "question": ids}
    if family == "captioner":
        model = mmzoo.load(preset, **CAPTION_SMALL)
        model.adapt_text(TEXTS)
        return model, model.preprocess(
            image=rng.uniform(0, 255, (3, 32, 32, 3)).astype("float32"),
            caption=TEXTS[:3])
    model = mmzoo.load(preset, **RETRIEVAL_SMALL)
    model.adapt_text(TEXTS)
    return model, {"image": rng.uniform(0, 255, (3, 32, 32, 3)).astype("float32"),
                   "text": model.preprocess(text=TEXTS[:3])["text"]}


@pytest.mark.parametrize("preset", mmzoo.list_models())
def test_call_is_inference_and_changes_no_variable(preset, rng):
    model, inputs = _model_and_inputs(preset, rng)
    model.predict(inputs, verbose=0)  # builds everything first
    before = [v.numpy().copy() for v in model.variables]
    called = model(inputs)
    after = [v.numpy() for v in model.variables]
    changed = [v.path for v, a, b in zip(model.variables, before, after)
               if not np.array_equal(a, b)]
    assert not changed, f"model(x) changed {changed}"
    predicted = model.predict(inputs, verbose=0)
    if isinstance(called, dict):  # the retriever's predict returns the embeddings only
        called = {key: called[key] for key in predicted}
    keras.tree.map_structure(
        lambda a, b: np.testing.assert_allclose(np.asarray(a), b, rtol=1e-5, atol=1e-6),
        called, predicted)


def test_training_true_still_trains_the_batchnorm_statistics(rng):
    model, inputs = _model_and_inputs("vqa_san", rng)
    model.predict(inputs, verbose=0)
    moving = [v for v in model.variables if "moving_mean" in v.path]
    before = [v.numpy().copy() for v in moving]
    model(inputs, training=True)
    assert any(not np.array_equal(a, v.numpy()) for a, v in zip(before, moving))


def test_a_backbone_called_alone_is_inference(rng):
    """The cause: Keras' Resizing defaults to training=True and hands it on."""
    backbone = build_backbone("image", "simple_cnn", image_size=32)
    images = rng.uniform(0, 255, (2, 40, 40, 3)).astype("float32")
    backbone(images)
    moving = [v.numpy().copy() for v in backbone.variables if "moving" in v.path]
    backbone(images)
    assert all(np.array_equal(a, v.numpy()) for a, v in
               zip(moving, [v for v in backbone.variables if "moving" in v.path]))
    assert isinstance(backbone.get_layer("resize"), Resize)
