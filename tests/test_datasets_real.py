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
    ("flickr8k", "flickr8k", "validation",
     {"image": ((224, 224, 3), tf.float32), "captions": ((5,), tf.string)}),
    ("mvsa_single", "mvsa_single", "test",
     ({"text": ((), tf.string), "image": ((224, 224, 3), tf.float32)}, ((), tf.int64))),
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
    flickr = mds.info("flickr8k", data_dir=shared_data / "flickr8k")
    assert flickr["num_examples"] == 7091
    assert flickr["splits"] == {"train": 6378, "validation": 713, "test": 0}
    av = mds.info("avdigits", data_dir=shared_data)
    assert av["num_examples"] == 8000 and av["unpaired"] == 0 and min(av["splits"].values()) > 0


def test_real_mvsa_single_counts(shared_data, real_cache):
    """The figures of shared/data/README.md: 4,424 rows, ~4,066 kept, ~59/30/10%."""
    folder = shared_data / "mvsa_single"
    info = mds.info("mvsa_single", data_dir=folder)
    assert info["rows"] == 4424 and info["num_examples"] == 4066
    assert info["dropped"]["count"] == 358 == info["rows"] - info["num_examples"]
    assert info["non_utf8_texts"] == 1018 and info["text_encodings"]["cp1252"] == 0
    assert info["splits"] == {"train": 3207, "validation": 413, "test": 446}
    assert info["skipped"]["count"] == 0 and info["unlabelled"] == 0
    totals = {c: sum(info["class_counts"][s][c] for s in info["splits"])
              for c in info["class_names"]}
    assert totals == {"negative": 1229, "neutral": 417, "positive": 2420}
    assert abs(totals["positive"] / 4066 - 0.59) < 0.01
    for labels in ("text", "image"):
        assert mds.info("mvsa_single", data_dir=folder, labels=labels)["num_examples"] == 4424
    everything = mds.load("mvsa_single", split="all", data_dir=folder, image_size=8)
    texts = [inputs["text"].decode() for inputs, _ in everything.as_numpy_iterator()]
    assert sum("\u2026" in t for t in texts) > 700  # GBK "…" (A1 AD) decoded, as in the source
    assert not any("\ufffd" in t for t in texts)
