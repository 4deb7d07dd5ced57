"""Shipped retrieval weights: small, trained on `flickr8k` (never the retired
`flickr8k_1k`), above the acceptance bar on validation, reproducing their recorded recall
on the first validation images, searching validation photos from their captions and
labelling them zero-shot with everyday words (the data checks are skipped without
../shared/data).

Runtime: embedding all 713 validation images and 3,565 captions (MiniLM) takes about a
minute of CPU, so the test re-scores the first `subset_metrics["examples"]` (128) images
and their 640 captions, whose metrics the benchmark script recorded when it shipped the
weights; the whole split is reproduced by `mmzoo evaluate <preset> --weights flickr8k
--data flickr8k --data-dir DIR --split validation --json` (benchmarks/README.md).
"""

import csv
import json

import numpy as np
import pytest

import mmzoo
from mmzoo.datasets.flickr8k import split_of_image
from mmzoo.tasks.retrieval.metrics import random_ranking_floor
from mmzoo.training import evaluate
from mmzoo.weights import read_metadata, resolve_weights, shipped_weights
from tests import data_factories as fake
from tests.test_cli import run_cli

SHIPPED = sorted((preset, name) for preset, names in shipped_weights().items()
                 if preset.startswith("retrieval_") for name in names)
RECALLS = ("i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10")


@pytest.fixture(scope="module", autouse=True)
def _cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MMZOO_CACHE_DIR", str(tmp_path_factory.mktemp("retrieval_cache")))
        yield


def test_one_retriever_ships_trained_on_flickr8k_and_small():
    assert [name for _, name in SHIPPED] == ["flickr8k"]
    for preset, name in SHIPPED:
        folder = resolve_weights(preset, name)
        for path in folder.iterdir():
            assert path.stat().st_size < 7 * 2 ** 20, path
        metadata = read_metadata(folder)
        assert metadata["dataset"] == "flickr8k" and metadata["frozen_backbones"]
        assert "flickr8k_1k" not in str(metadata)
        recorded = metadata["metrics"]
        # The acceptance bar of the issue, on the whole validation split (713 images,
        # fewer than 1,000: the gallery is the split).
        assert recorded["validation_images"] == 713
        assert recorded["validation_t2i_r10"] >= 50 and recorded["validation_i2t_r10"] >= 60


@pytest.mark.parametrize("preset, name", SHIPPED)
def test_shipped_weights_reproduce_their_recorded_subset_recall(preset, name, shared_data):
    subset = read_metadata(resolve_weights(preset, name))["subset_metrics"]
    results = evaluate(preset, name, "flickr8k", split=subset["split"],
                       data_dir=shared_data / "flickr8k", max_examples=subset["examples"])
    assert results["images"] == subset["examples"] == 128 and results["captions"] == 640
    for key in RECALLS:  # points of percent
        assert abs(results[key] - subset["metrics"][key]) <= 0.5, (key, results)
    for key in ("i2t_medr", "t2i_medr"):
        assert results[key] == pytest.approx(subset["metrics"][key], abs=0.5), key
    # Far above chance on this gallery.
    floor = random_ranking_floor(results["images"])
    for key in ("i2t_r10", "t2i_r10"):
        assert results[key] >= 4 * floor[key], (key, results[key], floor[key])


def _validation_files(folder, count):
    captions = {}
    with open(folder / "captions.txt", newline="", encoding="utf-8") as handle:
        for row in list(csv.reader(handle))[1:]:
            captions.setdefault(row[0], []).append(",".join(row[1:]))
    names = [n for n in captions if split_of_image(n) == "validation"][:count]
    return [str(folder / "images" / n) for n in names], [captions[n] for n in names]


@pytest.mark.parametrize("preset, name", SHIPPED)
def test_the_pipeline_finds_validation_photos_and_labels_them(preset, name, shared_data):
    """As a user would: raw files and strings, the first 20 validation photos."""
    paths, captions = _validation_files(shared_data / "flickr8k", 20)
    retrieve = mmzoo.pipeline(preset, weights=name)
    index = retrieve.index(images=paths, verbose=0)
    results = retrieve.search(text=[texts[0] for texts in captions], index=index, k=3)
    hits = np.mean([any(r["index"] == i for r in row) for i, row in enumerate(results)])
    assert hits >= 0.6  # chance: 3 of 20
    # Zero-shot: photos whose captions say "dog" get "dog" over "cat" and "beach".
    labels = ["dog", "cat", "beach"]
    dogs = [p for p, texts in zip(paths, captions) if all("dog" in t for t in texts)]
    assert len(dogs) >= 3
    assert all(r[0]["label"] == "dog" for r in retrieve(dogs, candidate_labels=labels))


@pytest.mark.parametrize("preset, name", SHIPPED)
def test_evaluate_reads_any_folder_of_the_layout_with_split_all(preset, name, tmp_path):
    """`mmzoo evaluate ... --split all --json` on a folder the test makes: every image
    and caption scored, the same metrics as in-process evaluation."""
    folder, captions = fake.make_flickr8k(tmp_path, num_images=6)
    result = run_cli("evaluate", preset, "--weights", name, "--data", "flickr8k",
                     "--data-dir", str(folder), "--split", "all", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads(result.stdout)  # exactly one JSON object
    assert metrics["split"] == "all"
    assert metrics["images"] == 6 and metrics["captions"] == 30 == 5 * len(captions)
    expected = evaluate(preset, name, "flickr8k", split="all", data_dir=str(folder))
    for key in (*RECALLS, "i2t_medr", "t2i_medr"):
        assert metrics[key] == pytest.approx(expected[key], abs=1e-6), key
        assert 0 <= metrics[key] <= 100


@pytest.mark.parametrize("preset, name", SHIPPED)
def test_served_text_encoder_refuses_blank_texts(preset, name):
    """The exported `encode_text` refuses empty and blank strings, naming `text`, also
    with a subword tokenizer (MiniLM's WordPiece gives a blank text [CLS] [SEP] ids)."""
    import tensorflow as tf

    model = mmzoo.load(preset, weights=name, compile=False)
    function, signature = model.serving_endpoints()["encode_text"]
    encode_text = tf.function(function, input_signature=signature)
    embeddings = encode_text({"text": tf.constant(["a dog runs on the beach"])})["embeddings"]
    assert embeddings.shape[0] == 1 and np.isfinite(embeddings.numpy()).all()
    for blank in ("", "   "):
        with pytest.raises(tf.errors.InvalidArgumentError, match="`text` holds an empty"):
            encode_text({"text": tf.constant(["a dog", blank])})
