"""Retrieval presets: build by name, train as the presets do (frozen backbones, cached
features, MLP projections), `.keras` and SavedModel round trips, mixed precision, the
pipeline (embeddings, search, zero-shot) and `mmzoo train / evaluate`. Small
configurations: a small CNN and a word-level text CNN stand for EfficientNet-Lite0 and
MiniLM (the real encoders are exercised by the shipped-weights tests)."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import mmzoo
from mmzoo.listing import summarize
from mmzoo.registry import PRESETS as PRESETS_REGISTRY
from mmzoo.training import train
from tests import data_factories as fake
from tests.helpers import fit_each
from tests.roundtrip import check_in_fresh_process, keras_round_trip
from tests.test_cli import run_cli

PRESETS = mmzoo.list_models(task="retriever")
CAPTIONS = ["a black dog runs on the green grass", "two children play in the white snow",
            "a man in a red shirt rides a bike", "a girl swims in the blue water"]
COLOURS = np.array([[20, 20, 20], [250, 250, 250], [200, 30, 30], [30, 60, 220]], "float32")
METRICS = {"i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10", "i2t_medr",
           "t2i_medr", "images"}
SMALL = {"image_backbone": "simple_cnn", "image_weights": None, "image_size": 32,
         "image_options": {"filters": [16, 32]}, "text_backbone": "cnn",
         "text_options": {"embed_dim": 32}, "vocab_size": 200, "sequence_length": 16,
         "embed_dim": 128, "projection_units": [64]}


def small(preset, **overrides):
    """`preset` with small random towers (the presets' EfficientNet-Lite0 and MiniLM
    are exercised by the shipped-weights tests)."""
    return mmzoo.load(preset, **{**SMALL, **overrides})


def coloured_images(rng, size=32):
    """One noisy picture per caption, in the colour its caption names."""
    noise = rng.normal(0, 20, (len(COLOURS), size, size, 3))
    return np.clip(COLOURS[:, None, None, :] + noise, 0, 255).round().astype("float32")


@pytest.fixture(scope="module")
def trained():
    """preset -> (model, fit losses, tensor inputs), trained as the presets are (frozen
    backbones: cached features, one caption of each image per epoch) 20 epochs of one
    step on 4 images."""
    def setup(preset, rng):
        model = small(preset)
        model.adapt_text(CAPTIONS)
        mmzoo.freeze_backbones(model)
        model.compile(optimizer=keras.optimizers.Adam(3e-3))
        images = coloured_images(np.random.default_rng(0))  # the pictures below
        data = tf.data.Dataset.from_tensor_slices(
            {"image": images, "captions": np.array([[c] * 5 for c in CAPTIONS])}).batch(4)
        assert model.feature_split()[0] is not None
        x = {"image": images, "text": model.preprocess(text=CAPTIONS)["text"]}
        return model, (data,), x

    return fit_each(PRESETS, setup, epochs=20)


def test_presets_are_registered_and_described():
    assert PRESETS == ["retrieval_dual_encoder", "retrieval_siglip"]
    info = summarize("retrieval_siglip")
    assert info["task"] == "retriever" and info["modalities"] == ["image", "text"]
    assert info["loss"] == "sigmoid"
    assert info["backbones"] == {"image": "efficientnet_lite0", "text": "minilm"}
    for preset in PRESETS:
        config = PRESETS_REGISTRY.get(preset)["config"]
        assert config["image_weights"] == "imagenet"
        assert config["text_options"] == {"weights": "pretrained"}
        assert not config["augment"] and not config["word_dropout"]  # frozen towers
    assert PRESETS_REGISTRY.get("retrieval_siglip")["config"]["init_bias"] == -10.0
    clip = small("retrieval_dual_encoder")
    assert float(clip.logits_layer.scale) == pytest.approx(1 / 0.07, rel=1e-5)
    assert clip.logits_layer.max_scale == 100.0 and clip.logits_layer.bias is None
    assert clip.image_encoder.get_layer("hidden_0").units == 64  # the MLP projection
    siglip = small("retrieval_siglip")
    assert float(siglip.logits_layer.scale) == pytest.approx(10.0, rel=1e-5)
    assert float(siglip.logits_layer.bias) == -10.0


@pytest.mark.parametrize("preset", PRESETS)
def test_training_lowers_the_loss(preset, trained):
    _, losses, _ = trained[preset]
    assert np.isfinite(losses).all()
    assert losses[-1] < 0.5 * losses[0], losses


@pytest.mark.parametrize("preset", PRESETS)
def test_outputs_are_unit_norm_float32_embeddings_and_logits(preset, trained):
    model, _, x = trained[preset]
    outputs = model(x, training=False)
    assert set(outputs) == {"image_embeddings", "text_embeddings", "logits"}
    assert all(v.dtype == tf.float32 for v in outputs.values())
    assert outputs["logits"].shape == (4, 4)
    np.testing.assert_allclose(np.linalg.norm(outputs["image_embeddings"], axis=1), 1.0,
                               atol=1e-5)
    np.testing.assert_allclose(model.encode_text(x["text"]), outputs["text_embeddings"],
                               atol=1e-6)
    # A sentence and the same sentence with more padding embed the same.
    padded = np.pad(x["text"], ((0, 0), (0, 8)))
    np.testing.assert_allclose(model.encode_text(padded), outputs["text_embeddings"],
                               atol=1e-5)
    assert set(model.predict(x, verbose=0)) == {"image_embeddings", "text_embeddings"}
    # An example embeds the same alone and in a batch.
    alone = model({k: v[:1] for k, v in x.items()}, training=False)
    for key in ("image_embeddings", "text_embeddings"):
        np.testing.assert_allclose(alone[key][0], outputs[key][0], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("preset", PRESETS)
def test_keras_file_round_trip(preset, trained, tmp_path):
    model, _, x = trained[preset]
    loaded = keras_round_trip(model, x, tmp_path)
    assert loaded.text_vectorizer.get_vocabulary() == model.text_vectorizer.get_vocabulary()
    assert float(loaded.logits_layer.scale) == float(model.logits_layer.scale)
    assert isinstance(loaded.loss, type(model.loss))  # the compiled loss comes back


def test_saved_models_serve_the_same_embeddings_in_a_fresh_process(trained, tmp_path):
    rng = np.random.default_rng(1)
    images = [tf.io.encode_png(rng.integers(0, 256, (20 + 7 * i, 30, 3), dtype=np.uint8))
              .numpy() for i in range(3)]
    texts = ["a dog on the grass", "snow", "a red bike and a blue sky"]
    cases, expected = {}, {}
    for preset, (model, _, x) in trained.items():
        path = str(tmp_path / preset)
        mmzoo.export(model, path)
        retrieve = mmzoo.pipeline(model)
        image_embeddings = retrieve.embed_images(images)
        text_embeddings = retrieve.embed_texts(texts)
        cases[f"{preset}/image"] = {"path": path, "signature": "encode_image",
                                    "inputs": {"image": np.array(images, dtype=object)}}
        expected[f"{preset}/image"] = {"embeddings": image_embeddings}
        cases[f"{preset}/text"] = {"path": path, "signature": "encode_text",
                                   "inputs": {"text": np.array(texts)}}
        expected[f"{preset}/text"] = {"embeddings": text_embeddings,
                                      "out_of_vocabulary": np.zeros(3, bool)}
        cases[f"{preset}/raw"] = {"path": path, "signature": "serving_default",
                                  "inputs": {"image": np.array(images, dtype=object),
                                             "text": np.array(texts[:2])}}
        expected[f"{preset}/raw"] = {
            "image_embeddings": image_embeddings, "text_embeddings": text_embeddings[:2],
            "logits": np.asarray(model.similarity_logits(image_embeddings,
                                                         text_embeddings[:2])),
            "text_out_of_vocabulary": np.zeros(2, bool)}
        cases[f"{preset}/tensors"] = {"path": path, "signature": "serve_tensors",
                                      "inputs": x}
        expected[f"{preset}/tensors"] = {
            k: np.asarray(v) for k, v in model(x, training=False).items()}
    served = check_in_fresh_process(cases, tmp_path)
    assert set(served) == set(cases)
    for key, outputs in expected.items():
        assert set(served[key]) == set(outputs), key
        for name, value in outputs.items():
            atol = 1e-4 if name == "logits" else 1e-5  # logits are scaled by up to 100
            if value.dtype == bool:
                np.testing.assert_array_equal(served[key][name], value, err_msg=key)
            else:
                np.testing.assert_allclose(served[key][name], value, atol=atol,
                                           err_msg=f"{key}/{name}")


@pytest.fixture
def mixed_precision():
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    yield
    keras.mixed_precision.set_global_policy(previous)


@pytest.mark.parametrize("preset", PRESETS)
def test_mixed_precision_training_stays_finite(preset, mixed_precision):
    model = small(preset, max_scale=None, init_scale=1000.0)  # logits up to 1000
    model.adapt_text(CAPTIONS)
    x = {"image": coloured_images(np.random.default_rng(0)),
         "text": model.preprocess(text=CAPTIONS)["text"]}
    assert model.image_encoder.get_layer("projection").compute_dtype == "float16"
    outputs = model(x)
    assert outputs["logits"].dtype == tf.float32
    assert np.isfinite(outputs["logits"].numpy()).all()
    losses = model.fit(x, epochs=3, verbose=0).history["loss"]
    assert np.isfinite(losses).all(), losses


def test_bad_inputs_are_clear_errors(trained):
    model, _, x = trained["retrieval_dual_encoder"]
    with pytest.raises(ValueError, match="'text' is missing.*encode_image"):
        model({"image": x["image"]})
    with pytest.raises(ValueError, match="Input 'text' expected .*integer token ids"):
        model.encode_text(x["image"][:, 0, :, 0])
    with pytest.raises(ValueError, match="Input 'image' expected shape \\[B, \\?, \\?, 3\\]"):
        model.encode_image(x["image"][..., 0])
    with pytest.raises(ValueError, match="loss must be one of"):
        mmzoo.load("retrieval_dual_encoder", loss="triplet")
    fresh = small("retrieval_dual_encoder")
    with pytest.raises(ValueError, match="vocabulary .* is empty"):
        mmzoo.pipeline(fresh).embed_texts("a dog")


# ----- the pipeline ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def retrieve(trained):
    return mmzoo.pipeline(trained["retrieval_dual_encoder"][0])


@pytest.fixture(scope="module")
def pictures():
    """The training pictures as PNG bytes (what a user would pass)."""
    images = coloured_images(np.random.default_rng(0)).astype("uint8")
    return [tf.io.encode_png(image).numpy() for image in images]


def test_embeddings_from_raw_inputs(retrieve, pictures):
    images = retrieve.embed_images(pictures)
    texts = retrieve.embed_texts(CAPTIONS)
    assert images.shape == texts.shape == (4, 128)
    np.testing.assert_allclose(np.linalg.norm(images, axis=1), 1.0, atol=1e-5)
    assert retrieve.embed_texts(CAPTIONS[0]).shape == (1, 128)
    one = retrieve.embed_images(np.asarray(coloured_images(np.random.default_rng(0))[0]))
    assert one.shape == (1, 128)


def test_search_finds_the_trained_pairs_both_ways(retrieve, pictures):
    results = retrieve.search(text=CAPTIONS, images=pictures, k=2)
    assert [row[0]["index"] for row in results] == [0, 1, 2, 3]
    assert all(row[0]["score"] >= row[1]["score"] for row in results)
    best = retrieve.search(image=pictures[2], texts=CAPTIONS, k=4)
    assert best[0]["item"] == CAPTIONS[2] and len(best) == 4
    index = retrieve.index(texts=CAPTIONS, verbose=0)
    assert index.metadata["embed_dim"] == 128
    batched = retrieve.search(image=pictures[:2], index=index, k=1)
    alone = [retrieve.search(image=p, index=index, k=1) for p in pictures[:2]]
    # Ids exactly; scores to a tolerance (oneDNN picks kernels by batch size).
    assert [[r["index"] for r in row] for row in batched] == [
        [r["index"] for r in row] for row in alone]
    np.testing.assert_allclose([row[0]["score"] for row in batched],
                               [row[0]["score"] for row in alone], rtol=1e-5, atol=1e-6)


def test_zero_shot_classification(trained, pictures):
    for preset, (model, _, _) in trained.items():
        classify = mmzoo.pipeline(model)
        results = classify(pictures[3], candidate_labels=CAPTIONS, hypothesis_template="{}")
        assert [r["label"] for r in results][0] == CAPTIONS[3], preset
        scores = [r["score"] for r in results]
        assert scores == sorted(scores, reverse=True) and len(scores) == 4
        if model.get_config()["loss"] == "infonce":
            assert sum(scores) == pytest.approx(1.0, abs=1e-6)
        else:
            assert all(0.0 < s < 1.0 for s in scores)
        batch = classify(pictures[:2], candidate_labels=["dog", "snow"])
        assert len(batch) == 2 and {r["label"] for r in batch[0]} == {"dog", "snow"}
        top = classify(pictures[3], CAPTIONS, "{}", top_k=2)
        assert [r["label"] for r in top] == [r["label"] for r in results[:2]]
        np.testing.assert_allclose([r["score"] for r in top],
                                   [r["score"] for r in results[:2]], rtol=1e-5)


def test_pipeline_rejects_bad_requests(retrieve, pictures):
    with pytest.raises(ValueError, match="The image corpus is empty"):
        retrieve.search(text="a dog", images=[])
    index = retrieve.index(images=pictures, verbose=0)
    with pytest.raises(ValueError, match="stores image embeddings .* received image queries"):
        retrieve.search(image=pictures[0], index=index)
    with pytest.raises(ValueError, match="k=5 is larger than the index \\(4 items\\)"):
        retrieve.search(text="a dog", index=index, k=5)
    with pytest.raises(ValueError, match="exactly one corpus"):
        retrieve.search(text="a dog", images=pictures, texts=CAPTIONS)
    with pytest.raises(ValueError, match="either index= or a corpus"):
        retrieve.search(text="a dog", index=index, texts=CAPTIONS)
    with pytest.raises(ValueError, match="exactly one kind of query"):
        retrieve.search(images=pictures)
    with pytest.raises(ValueError, match="candidate_labels is empty"):
        retrieve(pictures[0], candidate_labels=[])
    with pytest.raises(ValueError, match="top_k must be at least 1"):
        retrieve(pictures[0], candidate_labels=["dog"], top_k=0)
    with pytest.raises(ValueError, match="hypothesis_template must contain"):
        retrieve(pictures[0], candidate_labels=["dog"], hypothesis_template="a photo")
    with pytest.raises(ValueError, match="could not be decoded as an image"):
        retrieve.embed_images(b"not an image")


# ----- data sets, mmzoo train / evaluate -------------------------------------------------
def test_train_and_evaluate_on_a_flickr8k_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("MMZOO_CACHE_DIR", str(tmp_path / "cache"))
    folder, _ = fake.make_flickr8k(tmp_path, num_images=24)  # 20 / 4 images
    overrides = {**SMALL, "image_size": 16, "image_options": {"filters": [4]},
                 "projection_units": [],
                 "text_options": {"embed_dim": 8, "filters": 4}, "embed_dim": 8}
    out = train("retrieval_siglip", "flickr8k", tmp_path / "run", data_dir=str(folder),
                epochs=2, batch_size=8, overrides=overrides,
                data_options={"image_size": 16}, verbose=0, freeze_backbones=True,
                feature_cache_dir=tmp_path / "features")
    assert len(list((tmp_path / "features").glob("*/train/count.json"))) == 1
    metadata = json.loads((out / "metadata.json").read_text())
    assert {f"validation_{key}" for key in METRICS} <= set(metadata["metrics"])
    assert metadata["metrics"]["validation_images"] == 4
    assert metadata["metrics"]["validation_captions"] == 20
    assert len(metadata["history"]) == 2 and "val_loss" in metadata["history"][0]
    config = json.loads((out / "config.json").read_text())["config"]
    assert "photo" in config["vocabulary"]

    result = run_cli("evaluate", "retrieval_siglip", "--weights", str(out), "--data",
                     "flickr8k", "--data-dir", str(folder), "--split", "validation",
                     "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads(result.stdout)  # exactly one JSON object
    assert METRICS <= set(metrics)
    for key in METRICS:
        assert metrics[key] == pytest.approx(metadata["metrics"][f"validation_{key}"]), key


def test_datasets_without_texts_are_rejected():
    spec = {"image": tf.TensorSpec((None, 8, 8, 3)), "question": tf.TensorSpec((None,))}
    with pytest.raises(ValueError, match="images paired with texts"):
        mmzoo.registry.TASKS.get("retriever").dataset_overrides({}, (spec,), {})


def test_word_dropout_only_in_training():
    from mmzoo.tasks.retrieval.towers import TokenDropout

    ids = np.arange(1, 2001).reshape(4, 500).astype("int32")
    layer = TokenDropout(0.25, seed=3)
    np.testing.assert_array_equal(layer(ids), ids)
    dropped = np.asarray(layer(ids, training=True))
    assert 0.2 < np.mean(dropped == 0) < 0.3
    assert np.all((dropped == 0) | (dropped == ids))
    assert TokenDropout.from_config(layer.get_config()).get_config() == layer.get_config()
    model = small("retrieval_dual_encoder", word_dropout=0.2)
    assert model.text_encoder.get_layer("word_dropout").rate == 0.2
    with pytest.raises(ValueError, match="rate must be in"):
        TokenDropout(1.0)
