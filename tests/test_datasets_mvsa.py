"""mvsa_single: the labelling rule, text decoding, splits, bad and empty folders."""

import numpy as np
import pytest
import tensorflow as tf

import data_factories as fake
import mmzoo.datasets as mds
from mmzoo.datasets import mvsa_single
from mmzoo.datasets._common import split_80_10_10

CLASSES = ["negative", "neutral", "positive"]
# Xu and Mao 2017, written out for every (text label, image label); None = dropped.
COMBINED = {
    ("negative", "negative"): "negative", ("negative", "neutral"): "negative",
    ("negative", "positive"): None,
    ("neutral", "negative"): "negative", ("neutral", "neutral"): "neutral",
    ("neutral", "positive"): "positive",
    ("positive", "negative"): None, ("positive", "neutral"): "positive",
    ("positive", "positive"): "positive",
}


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MMZOO_CACHE_DIR", str(tmp_path / "mmzoo_cache"))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """20 labelled ids (every label pair at least twice) and 2 unlabelled ones."""
    return fake.make_mvsa_single(tmp_path_factory.mktemp("mvsa"), ids=range(1, 21),
                                 unlabelled=(98, 99))


def elements(dataset):
    """`{id: (text, image, label)}`, the id read back from the text."""
    out = {}
    for inputs, label in dataset.as_numpy_iterator():
        text = inputs["text"].decode("utf-8")
        out[text.split()[1]] = (text, inputs["image"], int(label))
    return out


def expected_label(row, labels):
    if labels == "combined":
        name = COMBINED[(row["text_label"], row["image_label"])]
    else:
        name = row[f"{labels}_label"]
    return None if name is None else CLASSES.index(name)


def test_labelling_rule_for_every_pair():
    assert len(COMBINED) == 9
    for (text, image), expected in COMBINED.items():
        assert mvsa_single.combined_label(text, image) == expected, (text, image)


def test_texts_decode_tolerantly():
    for data, text, encoding in fake.MVSA_TEXTS:
        assert mvsa_single.decode_text(data) == (text, encoding)
    assert mvsa_single.decode_text("\ufeffhi \n".encode("utf-8")) == ("hi", "utf-8")


@pytest.mark.parametrize("labels", ["combined", "text", "image"])
def test_labels_texts_images_and_counts(folder, labels):
    folder, rows = folder
    kept = [r for r in rows if expected_label(r, labels) is not None]
    dataset, info = mds.load("mvsa_single", split="all", data_dir=folder, labels=labels,
                             with_info=True)
    assert tf.nest.map_structure(lambda s: (tuple(s.shape), s.dtype), dataset.element_spec) == (
        {"text": ((), tf.string), "image": ((224, 224, 3), tf.float32)}, ((), tf.int64))
    got = elements(dataset)
    assert sorted(got) == sorted(r["id"] for r in kept) and int(dataset.cardinality()) == len(kept)
    for row in kept:
        text, image, label = got[row["id"]]
        assert text == row["text"] and label == expected_label(row, labels)
        assert abs(float(np.median(image)) - fake.mvsa_value(row["id"])) <= 2  # paired image
    dropped = [r for r in rows if COMBINED[(r["text_label"], r["image_label"])] is None]
    assert len(dropped) == 4  # (negative, positive) and (positive, negative), twice each
    assert info["num_examples"] == len(kept) == (16 if labels == "combined" else 20)
    assert info["dropped"]["count"] == 4 and info["dropped"]["applies"] == (labels == "combined")
    assert info["rows"] == 20 and info["unlabelled"] == 2
    assert info["class_names"] == CLASSES and info["labels"] == labels
    assert "Xu and Mao" in info["labelling_rule"] and info["skipped"]["count"] == 0
    encodings = [r["encoding"] for r in rows]
    assert info["non_utf8_texts"] == 10 == sum(e != "utf-8" for e in encodings)
    assert info["text_encodings"] == {"utf-8": 10, "gb18030": 5, "cp1252": 5}
    for split in ("train", "validation", "test"):
        names = [CLASSES[expected_label(r, labels)] for r in kept
                 if split_80_10_10(r["id"]) == split]
        assert info["class_counts"][split] == {c: names.count(c) for c in CLASSES}
        assert info["splits"][split] == len(names)


def test_splits_are_disjoint_cover_all_and_follow_the_id_hash(folder):
    folder, rows = folder
    seen = {}
    for split in ("train", "validation", "test"):
        ids = elements(mds.load("mvsa_single", split=split, data_dir=folder, labels="text"))
        assert ids and all(split_80_10_10(i) == split for i in ids)
        for i in ids:
            assert seen.setdefault(i, split) == split
    assert sorted(seen) == sorted(r["id"] for r in rows)


def split_of_ids(root):
    """`{id: split}` read from the loaded splits (labels="text" keeps every row)."""
    sizes = mds.info("mvsa_single", data_dir=root, labels="text")["splits"]
    return {i: split for split in sizes if sizes[split]
            for i in elements(mds.load("mvsa_single", split=split, data_dir=root,
                                       labels="text", image_size=8))}


def test_the_split_of_an_id_does_not_depend_on_the_other_ids(folder, tmp_path):
    other, _ = fake.make_mvsa_single(tmp_path, ids=[*range(11, 21), *range(500, 512)])
    first, second = split_of_ids(folder[0]), split_of_ids(other)
    assert len(first) == 20 and len(second) == 22
    assert all(first[str(i)] == second[str(i)] for i in range(11, 21))


def test_image_size_option(folder):
    folder, _ = folder
    small = mds.load("mvsa_single", split="all", data_dir=folder, labels="image",
                     image_size=16)
    assert small.element_spec[0]["image"].shape == (16, 16, 3)
    native = mds.load("mvsa_single", split="all", data_dir=folder, labels="image",
                      image_size=None)
    assert native.element_spec[0]["image"].shape.as_list() == [None, None, 3]
    for inputs, _ in native.take(3).as_numpy_iterator():
        ident = int(inputs["text"].split()[1])
        assert inputs["image"].shape == (24 + ident % 5, 32 - ident % 3, 3)


def test_unknown_labels_option_lists_the_valid_ones(folder):
    with pytest.raises(ValueError, match=r"labels='both'.*'combined', 'text', 'image'"):
        mds.load("mvsa_single", data_dir=folder[0], labels="both")


@pytest.mark.parametrize("suffix", ["jpg", "txt"])
def test_missing_file_names_it_or_is_skipped(tmp_path, suffix):
    folder, _ = fake.make_mvsa_single(tmp_path, ids=range(1, 11))
    missing = folder / "data" / f"4.{suffix}"
    missing.unlink()
    with pytest.raises(ValueError, match=rf"mvsa_single: .*4\.{suffix}: listed in "
                                         r"labelResultAll\.txt but the file is missing"):
        mds.load("mvsa_single", data_dir=folder)
    info = mds.info("mvsa_single", data_dir=folder, skip_bad=True, labels="text")
    assert info["skipped"] == {"count": 1, "files": [str(missing)]}
    assert info["num_examples"] == 9
    ids = elements(mds.load("mvsa_single", split="all", data_dir=folder, skip_bad=True,
                            labels="text"))
    assert "4" not in ids and len(ids) == 9


def test_bad_label_rows_name_the_line(tmp_path):
    folder, _ = fake.make_mvsa_single(tmp_path, ids=range(1, 6))
    with open(folder / "labelResultAll.txt", "a") as handle:
        handle.write("6\thappy,positive\n")
    with pytest.raises(ValueError, match=r"labelResultAll\.txt line 7: unknown label\(s\) "
                                         r"'happy'"):
        mds.info("mvsa_single", data_dir=folder)
    info = mds.info("mvsa_single", data_dir=folder, skip_bad=True, labels="text")
    assert info["skipped"]["count"] == 1 and info["num_examples"] == 5


def test_empty_folders_say_what_was_expected(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"mvsa_single: .*empty lacks "
                                                r"labelResultAll\.txt, data/ \(expected"):
        mds.load("mvsa_single", data_dir=tmp_path / "empty")
    header_only = tmp_path / "header_only"
    (header_only / "data").mkdir(parents=True)
    (header_only / "labelResultAll.txt").write_text("ID\ttext,image\n")
    with pytest.raises(ValueError, match=r"no examples at all in .*header_only\. "
                                         r"Expected: labelResultAll\.txt"):
        mds.load("mvsa_single", data_dir=header_only)
    (header_only / "labelResultAll.txt").write_text("2\tneutral,positive\n")
    with pytest.raises(ValueError, match=r"first line must be the header"):
        mds.load("mvsa_single", data_dir=header_only)
