"""VQA task behaviour: raw inputs, answers outside the vocabulary, metrics, pipeline,
question-only baseline, data sets and `mmzoo train` / `mmzoo evaluate --json`."""

import json

import numpy as np
import pytest
import tensorflow as tf
from tests.tasks.vqa.test_vqa_presets import ANSWERS, QUESTIONS, SMALL, SMALL_FUSION, small_model

import mmzoo
import mmzoo.datasets as mds
from mmzoo.tasks import VQA
from mmzoo.tasks.vqa import metrics
from mmzoo.tasks.vqa.losses import AnswerCrossEntropy
from mmzoo.weights import save_folder
from tests import data_factories as fake
from tests.test_cli import run_cli


@pytest.fixture(scope="module")
def model():
    return small_model("vqa_san")


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("MMZOO_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


def _rgb(rng, height=24, width=30):
    return rng.integers(0, 256, size=(height, width, 3)).astype("uint8")


def test_preset_summary_and_description():
    assert mmzoo.list_models(task="vqa") == ["vqa_concat", "vqa_mfb", "vqa_rn", "vqa_san"]
    info = mmzoo.describe("vqa_san")
    assert info["task"] == "vqa" and info["fusion"] == "stacked_attention"
    assert info["modalities"] == ["image", "question"]
    assert info["backbones"] == {"image": "simple_cnn", "question": "bigru"}
    assert info["parameters"] > 0
    assert mmzoo.describe("vqa_rn")["fusion"] == "relation"


def test_images_of_any_kind_and_size(model, rng, tmp_path):
    answer = mmzoo.pipeline(model)
    rgb = _rgb(rng)
    gray = rgb[..., 0]
    rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 9, "uint8")], -1)
    path = tmp_path / "shape.png"
    path.write_bytes(tf.io.encode_png(rgb).numpy())
    question = "what color is the shape?"
    # RGBA drops alpha; a path, PNG bytes and the array give the same answer scores.
    reference = answer(image=rgb, question=question, top_k=5)
    for same in (rgba, str(path), path.read_bytes()):
        got = answer(image=same, question=question, top_k=5)
        assert [r["answer"] for r in got] == [r["answer"] for r in reference]
        np.testing.assert_allclose([r["score"] for r in got],
                                   [r["score"] for r in reference], atol=1e-5)
    # Grayscale is the RGB image with the channel repeated.
    repeated = answer(image=np.stack([gray] * 3, -1), question=question, top_k=5)
    assert answer(image=gray, question=question, top_k=5) == repeated
    assert answer(image=gray[..., None], question=question, top_k=5) == repeated
    # Other sizes are resized to the backbone's; a large image works too.
    for shape in [(7, 300, 3), (200, 120, 3), (32, 32, 3)]:
        result = answer(image=rng.integers(0, 256, size=shape).astype("uint8"),
                        question=question)
        assert len(result) == 1 and 0.0 <= result[0]["score"] <= 1.0
    assert model.preprocess(image=rgb, question=question)["image"].shape == (1, 32, 32, 3)


def test_unknown_words_empty_and_long_questions_are_answered(model, rng):
    answer = mmzoo.pipeline(model)
    image = _rgb(rng)
    ids = model.preprocess(image=image, question=["zorg blip", "", "what " * 50])["question"]
    unknown = 1  # TextVectorization's [UNK] id
    assert list(ids[0][:2]) == [unknown, unknown] and not ids[0][2:].any()
    assert not ids[1].any()                               # empty: padding only
    assert ids.shape == (3, model.get_config()["sequence_length"])  # long: cut
    results = answer(image=image, question=["zorg blip", "", "what " * 50, "?!"], top_k=2)
    for row in results:
        assert len(row) == 2 and all(np.isfinite(r["score"]) for r in row)
        assert row[0]["score"] >= row[1]["score"]


def test_pipeline_batches_and_repeats_single_inputs(model, rng):
    answer = mmzoo.pipeline(model)
    images = [_rgb(rng), _rgb(rng, 40, 20)]
    one_image = answer(image=images[0], question=QUESTIONS, top_k=3)
    assert len(one_image) == len(QUESTIONS) and all(len(row) == 3 for row in one_image)
    one_question = answer(image=images, question=QUESTIONS[0])
    assert len(one_question) == 2 and all(len(row) == 1 for row in one_question)
    everything = answer(image=images[0], question=QUESTIONS[0], top_k=99)
    assert sorted(r["answer"] for r in everything) == sorted(ANSWERS)
    assert sum(r["score"] for r in everything) == pytest.approx(1.0, abs=1e-5)
    scores = [r["score"] for r in everything]
    assert scores == sorted(scores, reverse=True)
    paired = answer(image=images, question=QUESTIONS[:2])
    assert paired[0] == answer(image=images[0], question=QUESTIONS[0])
    with pytest.raises(ValueError, match="'image' has 2 examples and 'question' 3"):
        answer(image=images, question=QUESTIONS[:3])
    with pytest.raises(ValueError, match="top_k must be at least 1"):
        answer(image=images[0], question="hi", top_k=0)
    with pytest.raises(ValueError, match="'question' is required"):
        answer(image=images[0])
    with pytest.raises(ValueError, match="'image' is required"):
        answer(question="what color is the shape?")
    with pytest.raises(ValueError, match="could not be decoded as an image"):
        answer(image=b"not an image", question="hi")
    with pytest.raises(ValueError, match="'image' must be an image of shape"):
        answer(image=np.zeros((4, 4, 2)), question="hi")
    with pytest.raises(ValueError, match="'question' expects a string or a list"):
        answer(image=images[0], question=3)


def test_question_only_baseline(rng):
    model = small_model("vqa_concat", modalities=("question",))
    assert model.input_names == ["question"]
    assert model.summarize_config(model.get_config())["fusion"] == "none"
    ids = model.question_vectorizer(np.array(QUESTIONS)).numpy().astype("int32")
    history = model.fit(ids, np.arange(4), epochs=3, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert model.predict({"question": ids}, verbose=0).shape == (4, len(ANSWERS))
    result = mmzoo.pipeline(model)(question="what color is the shape?", top_k=2)
    assert len(result) == 2
    with pytest.raises(ValueError, match="no 'image' input"):
        mmzoo.pipeline(model)(image=_rgb(rng), question="hi")
    with pytest.raises(ValueError, match="Unknown input name 'image'"):
        model({"image": np.ones((4, 8, 8, 3), "float32"), "question": ids})


def test_answers_outside_the_vocabulary_are_masked_in_the_loss(model):
    ids = model.convert_labels(tf.constant(["no", "purple", "circle", "yes"])).numpy()
    np.testing.assert_array_equal(ids, [1, -1, 4, 0])
    np.testing.assert_array_equal(model.convert_labels(tf.constant([2, 3])), [2, 3])
    probabilities = np.array([[0.6, 0.1, 0.1, 0.1, 0.1]] * 4, "float32")
    loss = AnswerCrossEntropy()
    masked = float(loss(ids, probabilities))
    kept = -np.mean(np.log(probabilities[[0, 2, 3], [1, 4, 0]]))
    assert masked == pytest.approx(kept, rel=1e-5)
    assert float(loss(np.array([-1, -1]), probabilities[:2])) == 0.0


def _string_dataset(rng, answers, relational=None, batch=4):
    count = len(answers)
    inputs = {"image": rng.uniform(0, 255, size=(count, 20, 20, 3)).astype("float32"),
              "question": np.array([QUESTIONS[i % 4] for i in range(count)]),
              "extra": np.zeros(count, "float32")}
    if relational is not None:
        inputs["relational"] = np.array(relational)
    return tf.data.Dataset.from_tensor_slices((inputs, np.array(answers))).batch(batch)


def test_fit_and_evaluate_on_raw_strings_with_relational_flags(rng):
    model = small_model("vqa_mfb")
    answers = ["yes", "no", "purple", "circle", "red", "yes"]
    relational = [True, False, True, False, False, True]
    dataset = _string_dataset(rng, answers, relational)
    history = model.fit(dataset, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    results = model.evaluate_dataset(dataset)
    scores = np.concatenate([model.predict(model.convert_inputs(x), verbose=0)
                             for x, _ in dataset])
    predicted = [ANSWERS[i] for i in scores.argmax(-1)]
    expected = metrics.vqa_metrics(answers, predicted, relational)
    for key, value in expected.items():
        assert results[key] == pytest.approx(value), key
    assert results["out_of_vocabulary"] == 1 and results["examples"] == 6
    assert set(results) >= {"accuracy", "yes_no_accuracy", "other_accuracy",
                            "relational_accuracy", "non_relational_accuracy", "loss"}
    plain = model.evaluate_dataset(_string_dataset(rng, answers))
    assert "relational_accuracy" not in plain
    json.dumps(results)  # plain Python numbers


def test_vqa_metrics_split_by_question_kind():
    truth = ["yes", "no", "red", "circle", "yes"]
    predicted = ["yes", "yes", "red", "square", "yes"]
    results = metrics.vqa_metrics(truth, predicted, relational=[1, 0, 1, 0, 0])
    assert results["accuracy"] == pytest.approx(3 / 5)
    assert results["yes_no_accuracy"] == pytest.approx(2 / 3)
    assert results["other_accuracy"] == pytest.approx(1 / 2)
    assert results["relational_accuracy"] == pytest.approx(1.0)
    assert results["non_relational_accuracy"] == pytest.approx(1 / 3)
    assert metrics.vqa_metrics(["red"], ["red"])["yes_no_accuracy"] is None
    assert metrics.most_frequent_answer_accuracy(["no", "yes", "yes"], truth) == ("yes", 0.4)
    with pytest.raises(ValueError, match="empty"):
        metrics.vqa_metrics([], [])


def test_sort_of_clevr_evaluation_reports_relational_accuracy():
    model = small_model("vqa_rn", answers=list(mds.sort_of_clevr.ANSWERS))
    dataset, info = mds.load("sort_of_clevr", "test", with_info=True,
                             num_images={"train": 0, "validation": 0, "test": 2})
    assert model.dataset_overrides(info, dataset.element_spec, {})["answers"] == \
        list(mds.sort_of_clevr.ANSWERS)
    results = model.evaluate_dataset(dataset.batch(16))
    assert results["examples"] == 40 and results["out_of_vocabulary"] == 0
    for key in ("relational_accuracy", "non_relational_accuracy", "yes_no_accuracy"):
        assert 0.0 <= results[key] <= 1.0


def test_dataset_overrides_checks_the_inputs():
    spec = ({"question": tf.TensorSpec((), tf.string)}, tf.TensorSpec((), tf.string))
    with pytest.raises(ValueError, match="the model needs \\['image'\\]"):
        VQA.dataset_overrides({"answers": ["a", "b"]}, spec, {})
    assert VQA.dataset_overrides({"answers": ["a", "b"]}, spec,
                                 {"modalities": ["question"]}) == {"answers": ["a", "b"]}


def test_raw_strings_need_a_vocabulary_and_constructor_arguments_are_checked(tmp_path):
    model = mmzoo.load("vqa_san", **SMALL, **SMALL_FUSION["vqa_san"])
    with pytest.raises(ValueError, match="vocabulary of VQA is empty"):
        model.preprocess(image=np.zeros((8, 8, 3)), question="hello")
    with pytest.raises(ValueError, match="vocabulary of VQA is empty"):
        mmzoo.export(model, tmp_path / "never")
    with pytest.raises(ValueError, match="at least 2 distinct"):
        VQA(answers=["yes", "yes"])
    with pytest.raises(ValueError, match="answers must be a list"):
        VQA(answers="yes")
    with pytest.raises(ValueError, match="VQA modalities must be"):
        VQA(modalities=("image",))
    with pytest.raises(ValueError, match="image_pooling must be one of"):
        VQA(image_pooling="max")
    with pytest.raises(KeyError, match="Unknown fusion 'relaton'"):
        mmzoo.load("vqa_rn", fusion="relaton")


def test_weights_folder_round_trip_and_new_answers(model, rng, tmp_path):
    folder = save_folder(model, tmp_path / "run", preset="vqa_san",
                         metadata={"metrics": {"validation_accuracy": 0.5}})
    x = model.preprocess(image=[_rgb(rng), _rgb(rng)], question=QUESTIONS[:2])
    same = mmzoo.load("vqa_san", weights=str(folder))
    np.testing.assert_allclose(same.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-6)
    assert same.answers == ANSWERS
    assert json.loads((folder / "config.json").read_text())["config"]["answers"] == ANSWERS
    wider = mmzoo.load("vqa_san", weights=str(folder), answers=ANSWERS + ["green"])
    assert wider.predict(x, verbose=0).shape == (2, len(ANSWERS) + 1)
    kernel = model.get_layer("image_backbone").get_layer("conv_0").kernel.numpy()
    np.testing.assert_array_equal(
        wider.get_layer("image_backbone").get_layer("conv_0").kernel.numpy(), kernel)


def test_mmzoo_train_and_evaluate_json_on_a_tiny_easy_vqa_folder(tmp_path):
    folder, _ = fake.make_easy_vqa(tmp_path, num_images=40, questions_per_image=3,
                                   test_images=4, size=16)
    out = tmp_path / "run"
    small = ["--set", "image_size=16", "--set", 'image_options={"filters": [4]}',
             "--set", 'text_options={"embed_dim": 4, "units": 4}',
             "--set", 'fusion_options={"dim": 8, "attention_units": 4}']
    trained = run_cli("train", "vqa_san", "--data", "easy_vqa", "--data-dir", str(folder),
                      "--epochs", "1", "--batch-size", "16", "--out", str(out), *small)
    assert trained.returncode == 0, trained.stderr[-2000:]
    metadata = json.loads((out / "metadata.json").read_text())
    config = json.loads((out / "config.json").read_text())
    assert config["task"] == "vqa" and config["config"]["answers"] == fake.EASY_VQA_ANSWERS
    assert config["config"]["vocabulary"]  # adapted on the training questions
    evaluated = run_cli("evaluate", "vqa_san", "--weights", str(out), "--data", "easy_vqa",
                        "--data-dir", str(folder), "--split", "test", "--json")
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    results = json.loads(evaluated.stdout)  # the whole of stdout is one JSON object
    assert {"accuracy", "yes_no_accuracy", "other_accuracy", "loss", "examples"} <= set(
        results)
    assert results["accuracy"] == pytest.approx(metadata["metrics"]["test_accuracy"])
    assert results["examples"] == 12
