"""A few examples of every data set from the real folders in ../shared/data."""

import tempfile

import pytest
import tensorflow as tf

import mmzoo.datasets as mds


@pytest.fixture(scope="module")
def real_cache():
    """A fresh prepared-data cache, deleted afterwards (avdigits alone is ~120 MB)."""
    with tempfile.TemporaryDirectory(prefix="mmzoo_real_cache") as folder:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("MMZOO_CACHE_DIR", folder)
            yield


def shapes(element):
    return tf.nest.map_structure(lambda t: (tuple(t.shape), t.dtype), element)


@pytest.mark.parametrize("name, folder, split, expected", [
    ("easy_vqa", "easy_vqa", "validation",
     ({"image": ((64, 64, 3), tf.float32), "question": ((), tf.string)}, ((), tf.string))),
    ("fsdd", "fsdd", "train", ({"audio": ((8000,), tf.float32)}, ((), tf.int64))),
    ("mnist", "mnist", "test", ({"image": ((28, 28, 3), tf.float32)}, ((), tf.int64))),
    ("avdigits", "", "test", ({"image": ((28, 28, 3), tf.float32),
                               "audio": ((8000,), tf.float32)}, ((), tf.int64))),
    ("avdigits/noisy", "", "validation", ({"image": ((28, 28, 3), tf.float32),
                                           "audio": ((8000,), tf.float32)}, ((), tf.int64))),
    ("flickr8k", "flickr8k_1k", "test",
     {"image": ((224, 224, 3), tf.float32), "captions": ((5,), tf.string)}),
])
def test_real_folders_load(shared_data, real_cache, name, folder, split, expected):
    dataset, info = mds.load(name, split=split, data_dir=shared_data / folder, with_info=True)
    assert info["splits"][split] > 0 and info["skipped"]["count"] == 0
    for element in dataset.take(3):
        assert shapes(element) == expected
    image = (element[0] if isinstance(element, tuple) else element).get("image")
    if image is not None:
        assert 0.0 <= float(tf.reduce_min(image)) and float(tf.reduce_max(image)) <= 255.0


def test_real_split_sizes(shared_data, real_cache):
    # easy_vqa: 4,000 images / 38,575 questions; fsdd: takes 5..49 only; mnist: 8,000.
    easy = mds.info("easy_vqa", data_dir=shared_data / "easy_vqa")
    assert sum(easy["num_images"].values()) == 4000 and easy["num_examples"] == 38575
    assert len(easy["answers"]) == 13 and easy["splits"]["test"] == 0
    fsdd = mds.info("fsdd", data_dir=shared_data / "fsdd")
    assert fsdd["splits"] == {"train": 2400, "validation": 300, "test": 0}
    assert mds.info("mnist", data_dir=shared_data / "mnist")["num_examples"] == 8000
    assert mds.info("flickr8k", data_dir=shared_data / "flickr8k_1k")["num_examples"] == 900
    av = mds.info("avdigits", data_dir=shared_data)
    assert av["num_examples"] == 8000 and av["unpaired"] == 0 and min(av["splits"].values()) > 0
