"""Shipped retrieval weights beat the random-ranking floor and reproduce their recorded
recall on their recorded split (skipped without ../shared/data)."""

import numpy as np
import pytest

import mmzoo
from mmzoo.tasks.retrieval.metrics import random_ranking_floor
from mmzoo.training import evaluate
from mmzoo.weights import read_metadata, resolve_weights, shipped_weights

SHIPPED = sorted((preset, name) for preset, names in shipped_weights().items()
                 if preset.startswith("retrieval_") for name in names)
RECALLS = ("i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10")


@pytest.fixture(scope="module", autouse=True)
def _cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MMZOO_CACHE_DIR", str(tmp_path_factory.mktemp("retrieval_cache")))
        yield


def test_flickr8k_weights_are_shipped_and_small():
    assert [name for _, name in SHIPPED] == ["flickr8k"]
    for preset, name in SHIPPED:
        size = (resolve_weights(preset, name) / "model.weights.h5").stat().st_size
        assert size < 8 * 2 ** 20, (preset, name, size)


@pytest.mark.parametrize("preset, name", SHIPPED)
def test_shipped_weights_reproduce_their_recorded_recall(preset, name, shared_data):
    metadata = read_metadata(resolve_weights(preset, name))
    recorded = metadata["metrics"]
    results = evaluate(preset, name, "flickr8k", split="test",
                       data_dir=shared_data / "flickr8k_1k",
                       data_options=metadata["data_options"])
    assert results["images"] == recorded["test_images"] == 105
    for key in RECALLS:  # points of percent
        assert abs(results[key] - recorded[f"test_{key}"]) <= 0.5, (key, results)
    for key in ("i2t_medr", "t2i_medr"):
        assert results[key] == pytest.approx(recorded[f"test_{key}"], abs=0.5), key
    # A wide margin over chance: the six recalls add up to at least 2.5 times chance's,
    # each recall@10 is at least twice chance's, each median rank below 3/4 of chance's.
    floor = random_ranking_floor(results["images"])
    assert sum(results[k] for k in RECALLS) >= 2.5 * sum(floor[k] for k in RECALLS)
    for key in ("i2t_r10", "t2i_r10"):
        assert results[key] >= 2 * floor[key], (key, results[key], floor[key])
    for key in ("i2t_medr", "t2i_medr"):
        assert results[key] < 0.75 * floor[key], (key, results[key], floor[key])


@pytest.mark.parametrize("preset, name", SHIPPED)
def test_the_pipeline_retrieves_test_images_from_their_captions(preset, name, shared_data):
    """Text -> image search on 10 test photos with the raw files, as a user would."""
    import csv

    from mmzoo.datasets import split_80_10_10

    folder = shared_data / "flickr8k_1k"
    with open(folder / "captions.txt", newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))[1:]
    captions = {}
    for row in rows:
        captions.setdefault(row[0], []).append(",".join(row[1:]))
    names = sorted(n for n in captions if split_80_10_10(n) == "test")[:10]
    retrieve = mmzoo.pipeline(preset, weights=name)
    index = retrieve.index(images=[str(folder / "images" / n) for n in names], verbose=0)
    results = retrieve.search(text=[captions[n][0] for n in names], index=index, k=5)
    hits = np.mean([any(r["index"] == i for r in row) for i, row in enumerate(results)])
    assert hits > 0.5  # chance: 5 of 10
