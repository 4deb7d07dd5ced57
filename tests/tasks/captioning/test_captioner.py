"""Captioner data handling: vocabulary, training pairs from Flickr8k-layout folders, and
`mmzoo train` / `mmzoo evaluate --json` end to end on a tiny folder."""

import json

import numpy as np
import pytest
import tensorflow as tf

import mmzoo
from mmzoo.tasks.captioning import Captioner
from mmzoo.tasks.captioning.tokens import END_ID, START_ID
from mmzoo.training import load_split, train
from tests import data_factories as fake
from tests.tasks.captioning.test_caption_presets import SMALL
from tests.test_cli import run_cli


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder, captions = fake.make_flickr8k(tmp_path_factory.mktemp("flickr"), num_images=20)
    return folder, captions


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("MMZOO_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


def test_vocabulary_special_tokens_counts_and_config():
    model = Captioner(**{**SMALL, "min_word_count": 2, "vocab_size": 9})
    model.adapt_text(["a dog, a cat.", "A DOG runs", "the dog", "cat"])
    # padding, [UNK], <start>, <end>, then words seen twice or more by count (ties a-z)
    assert model.vocabulary == ["", "[UNK]", "<start>", "<end>", "a", "dog", "cat"]
    config = model.get_config()
    assert config["vocabulary"] == ["<start>", "<end>", "a", "dog", "cat"]
    assert Captioner.from_config(config).vocabulary == model.vocabulary
    # A vocabulary given without the special tokens gets them in front.
    assert Captioner(**{**SMALL, "vocabulary": ["dog", "a"]}).vocabulary[2:] == [
        "<start>", "<end>", "dog", "a"]
    with pytest.raises(ValueError, match="No word occurs at least min_word_count=2"):
        Captioner(**{**SMALL, "min_word_count": 2}).adapt_text(["one two three"])


def test_caption_ids_shift_the_targets_and_cut_long_captions():
    model = Captioner(**{**SMALL, "sequence_length": 6})
    model.adapt_text(["a dog runs on the grass"])
    ids = {w: i for i, w in enumerate(model.vocabulary)}
    inputs, targets = model.caption_ids(tf.constant(["A dog runs!", "a dog runs on the grass"]))
    a, dog, runs, on, the = (ids[w] for w in ["a", "dog", "runs", "on", "the"])
    np.testing.assert_array_equal(inputs, [[START_ID, a, dog, runs, 0, 0],
                                           [START_ID, a, dog, runs, on, the]])
    np.testing.assert_array_equal(targets, [[a, dog, runs, END_ID, 0, 0],
                                            [a, dog, runs, on, the, END_ID]])


def test_flickr8k_batches_become_training_pairs(folder):
    data_dir, captions = folder
    dataset, _ = load_split("flickr8k", "train", str(data_dir), batch_size=4,
                            options={"image_size": 32})
    model = Captioner(**SMALL)
    model.adapt_to_dataset(dataset)
    assert {"photo", "number", "caption"} <= set(model.vocabulary)
    element = next(iter(dataset))
    x, y = next(iter(model.prepare_dataset(dataset.take(1))))  # all five captions
    assert x["image"].shape == (20, 32, 32, 3) and x["caption"].shape == (20, 12)
    np.testing.assert_array_equal(x["image"][:5], tf.repeat(element["image"][:1], 5, 0))
    np.testing.assert_array_equal(x["caption"][:, 0], START_ID)
    words = x["caption"].numpy()[:, 1:] > 0  # targets are the inputs shifted left
    np.testing.assert_array_equal(y.numpy()[:, :-1][words], x["caption"].numpy()[:, 1:][words])
    assert (np.sum(y == END_ID, axis=1) == 1).all()
    # Training draws `captions_per_image` of them per image, afresh every epoch.
    model_two = Captioner(**{**SMALL, "captions_per_image": 2,
                             "vocabulary": model.get_config()["vocabulary"]})
    training = model_two.prepare_dataset(dataset.take(1), training=True)
    epochs = [next(iter(training))[0]["caption"].numpy() for _ in range(4)]
    assert epochs[0].shape == (8, 12)
    assert any(not np.array_equal(epochs[0], other) for other in epochs[1:])


def test_mmzoo_train_then_evaluate_json(folder, tmp_path):
    data_dir, _ = folder
    out = train("caption_transformer", "flickr8k", tmp_path / "run", data_dir=str(data_dir),
                epochs=2, batch_size=8, overrides=SMALL, data_options={"image_size": 32},
                verbose=0)
    metadata = json.loads((out / "metadata.json").read_text())
    recorded = metadata["metrics"]
    assert {"validation_bleu1", "validation_bleu4", "validation_cider",
            "validation_distinct_captions", "validation_examples"} <= set(recorded)
    assert not any(key.startswith("test_") for key in recorded)  # flickr8k has no test
    result = run_cli("evaluate", "caption_transformer", "--weights", str(out), "--data",
                     "flickr8k", "--data-dir", str(data_dir), "--split", "validation",
                     "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads(result.stdout)  # the whole of stdout is one JSON object
    for key in ("bleu1", "bleu2", "bleu3", "bleu4", "cider", "distinct_captions",
                "examples"):
        assert metrics[key] == pytest.approx(recorded[f"validation_{key}"]), key
    assert metrics["examples"] == metadata["split_sizes"]["validation"]
    loaded = mmzoo.load("caption_transformer", weights=str(out))
    assert loaded.vocabulary[:4] == ["", "[UNK]", "<start>", "<end>"]
