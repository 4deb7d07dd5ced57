"""The shipped captioning weights reproduce their recorded metrics and name the main
object of the images more often than chance (skipped without ../shared/data)."""

import csv

import pytest

import mmzoo
from mmzoo.datasets._common import split_80_10_10
from mmzoo.tasks.captioning import metrics as caption_metrics
from mmzoo.weights import shipped_weights

SHIPPED = [(preset, name) for preset in mmzoo.list_models(task="captioner")
           for name in shipped_weights(preset)]
pytestmark = pytest.mark.skipif(not SHIPPED, reason="no captioning weights shipped")


def _split(shared_data, split, image_size):
    data = mmzoo.datasets.load("flickr8k", split, data_dir=shared_data / "flickr8k_1k",
                               image_size=image_size)
    return data.batch(64)


@pytest.fixture(scope="module", params=SHIPPED, ids=lambda p: "/".join(p))
def shipped(request):
    preset, name = request.param
    return mmzoo.load(preset, weights=name)


def test_shipped_weights_reproduce_their_recorded_metrics(shipped, shared_data):
    metadata = shipped.weights_metadata
    recorded = metadata["metrics"]
    options = metadata.get("data_options") or {}
    assert options.get("image_size") == shipped.image_size
    results = shipped.evaluate_dataset(_split(shared_data, "validation", shipped.image_size))
    assert results["examples"] == recorded["validation_examples"]
    for key in ("bleu1", "bleu2", "bleu3", "bleu4", "cider"):
        assert results[key] == pytest.approx(recorded[f"validation_{key}"], abs=0.005), key
    assert results["distinct_captions"] >= 10


def _test_files(folder):
    """(image paths, references) of the test split, in captions.txt order."""
    captions = {}
    with open(folder / "captions.txt", newline="", encoding="utf-8") as handle:
        for row in list(csv.reader(handle))[1:]:
            captions.setdefault(row[0], []).append(",".join(row[1:]))
    files = [(str(folder / "images" / name), texts) for name, texts in captions.items()
             if split_80_10_10(name) == "test"]
    return [path for path, _ in files], [texts for _, texts in files]


def test_readme_example_names_the_main_object_more_often_than_chance(shipped,
                                                                      shared_data):
    # As in the benchmarks README: the pipeline on the test images' files.
    paths, references = _test_files(shared_data / "flickr8k_1k")
    results = mmzoo.pipeline(shipped)(image=paths)
    captions = [row[0]["generated_text"] for row in results]
    mentions = caption_metrics.object_mentions(references, captions)["main_object"]
    assert mentions["images"] > 50
    assert mentions["hit_rate"] > mentions["chance_rate"] + 0.1, mentions
    assert len(set(captions)) >= 10
