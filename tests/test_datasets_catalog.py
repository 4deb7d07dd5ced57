"""TFDS catalog adapters, offline with `tfds.testing.mock_data`."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

import mmzoo.datasets as mds


def spec_of(dataset):
    return tf.nest.map_structure(lambda s: (tuple(s.shape), s.dtype), dataset.element_spec)


def from_examples(examples, signature):
    def as_dataset(self, *args, **kwargs):
        del self, args, kwargs
        return tf.data.Dataset.from_generator(lambda: iter(examples),
                                              output_signature=signature)
    return as_dataset


def test_random_mock_data_matches_the_contract():
    with tfds.testing.mock_data(num_examples=3):
        imdb, info = mds.load("imdb_reviews", split="validation", with_info=True)
        assert spec_of(imdb) == ({"text": ((), tf.string)}, ((), tf.int64))
        assert len(list(imdb)) == 3 and info["class_names"] == ["neg", "pos"]
        coco = mds.load("coco_captions", split="train", image_size=32)
        assert spec_of(coco) == {"image": ((32, 32, 3), tf.float32), "captions": ((5,), tf.string)}
        for element in coco.as_numpy_iterator():
            assert 0 <= element["image"].min() and element["image"].max() <= 255
        clevr, info = mds.load("clevr", split="test", image_size=16, with_info=True)
        assert spec_of(clevr) == ({"image": ((16, 16, 3), tf.float32),
                                   "question": ((), tf.string)}, ((), tf.string))
        assert len(list(clevr)) > 0 and "cylinder" in info["answers"]
        digits = mds.load("spoken_digit", split="all")
        assert spec_of(digits) == ({"audio": ((8000,), tf.float32)}, ((), tf.int64))
        assert mds.info("coco_captions")["tfds_name"].startswith("coco_captions/2014")
        with pytest.raises(ValueError, match="Valid splits: train, validation, test, all"):
            mds.load("imdb_reviews", split="unsupervised")


def test_spoken_digit_splits_by_take_and_resamples():
    names = ["3_ann_0.wav", "3_ann_4.wav", "4_ann_5.wav", "4_ann_12.wav", "5_bob_30.wav",
             "odd-name.wav"]
    examples = [{"audio": np.full(400, 16384, np.int64), "label": np.int64(int(n[0]) if
                 n[0].isdigit() else 0), "audio/filename": n} for n in names]
    signature = {"audio": tf.TensorSpec((None,), tf.int64), "label": tf.TensorSpec((), tf.int64),
                 "audio/filename": tf.TensorSpec((), tf.string)}
    with tfds.testing.mock_data(as_dataset_fn=from_examples(examples, signature)):
        sizes = {split: len(list(mds.load("spoken_digit", split=split)))
                 for split in ("train", "validation", "test", "all")}
        assert sizes == {"train": 3, "validation": 1, "test": 2, "all": 6}
        inputs, label = next(iter(mds.load("spoken_digit", split="test", sample_rate=16000)))
        assert inputs["audio"].shape == (16000,) and int(label) == 3
        assert float(inputs["audio"][100]) == pytest.approx(0.5)
        assert float(inputs["audio"][-1]) == 0.0


def test_coco_captions_are_cut_or_cycled_to_five():
    examples = [
        {"image": np.full((10, 20, 3), 7, np.uint8),
         "captions": {"text": np.array([b"a", b"b"]), "id": np.array([1, 2])}},
        {"image": np.full((30, 8, 3), 9, np.uint8),
         "captions": {"text": np.array([str(i).encode() for i in range(7)]),
                      "id": np.arange(7)}},
    ]
    signature = {"image": tf.TensorSpec((None, None, 3), tf.uint8),
                 "captions": {"text": tf.TensorSpec((None,), tf.string),
                              "id": tf.TensorSpec((None,), tf.int64)}}
    with tfds.testing.mock_data(as_dataset_fn=from_examples(examples, signature)):
        first, second = list(mds.load("coco_captions", split="test", image_size=8)
                             .as_numpy_iterator())
    assert first["captions"].tolist() == [b"a", b"b", b"a", b"b", b"a"]
    assert second["captions"].tolist() == [b"0", b"1", b"2", b"3", b"4"]
    assert first["image"].shape == (8, 8, 3) and np.all(first["image"] == 7.0)


def test_clevr_gives_one_example_per_question():
    examples = [{"image": np.full((12, 16, 3), 5, np.uint8),
                 "question_answer": {"question": np.array([b"q1", b"q2", b"q3"]),
                                     "answer": np.array([b"yes", b"2", b"cube"])}}]
    signature = {"image": tf.TensorSpec((None, None, 3), tf.uint8),
                 "question_answer": {"question": tf.TensorSpec((None,), tf.string),
                                     "answer": tf.TensorSpec((None,), tf.string)}}
    with tfds.testing.mock_data(as_dataset_fn=from_examples(examples, signature)):
        elements = list(mds.load("clevr", split="validation").as_numpy_iterator())
    assert [(x["question"], a) for x, a in elements] == [
        (b"q1", b"yes"), (b"q2", b"2"), (b"q3", b"cube")]
    assert elements[0][0]["image"].shape == (12, 16, 3)
