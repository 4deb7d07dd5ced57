"""mmzoo.datasets: corrupted files raise errors naming them, or are skipped and counted."""

import gzip
import json
import logging
import struct

import numpy as np
import pytest

import data_factories as fake
import mmzoo.datasets as mds


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MMZOO_CACHE_DIR", str(tmp_path / "mmzoo_cache"))


def count(dataset):
    return sum(1 for _ in dataset)


def test_truncated_wav_names_the_file_or_is_skipped(tmp_path, caplog):
    folder, names = fake.make_fsdd(tmp_path, digits=(1, 2), takes=(0, 7, 15))
    bad = folder / "recordings" / "2_ann_15.wav"
    fake.truncate(bad, 0.5)
    with pytest.raises(ValueError, match=r"fsdd: .*2_ann_15\.wav: cannot decode the 16-bit "
                                         r"PCM WAV.*skip_bad=True"):
        mds.load("fsdd", data_dir=folder)
    # A failed preparation leaves nothing half-written behind: it fails again.
    with pytest.raises(ValueError, match="2_ann_15.wav"):
        mds.info("fsdd", data_dir=folder)
    with caplog.at_level(logging.WARNING, logger="mmzoo.datasets"):
        dataset, info = mds.load("fsdd", split="all", data_dir=folder, skip_bad=True,
                                 with_info=True)
    assert info["skipped"] == {"count": 1, "files": [str(bad)]}
    assert count(dataset) == len(names) - 1 == info["num_examples"]
    assert "2_ann_15.wav" in caplog.text
    # The count survives a reload from the prepared data.
    assert mds.info("fsdd", data_dir=folder, skip_bad=True)["skipped"]["count"] == 1


def test_truncated_png_names_the_file_or_is_skipped(tmp_path):
    folder, written = fake.make_easy_vqa(tmp_path, num_images=12, questions_per_image=2)
    bad = folder / "train" / "images" / "3.png"
    fake.truncate(bad, 0.6)
    with pytest.raises(ValueError, match=r"easy_vqa: .*3\.png: cannot decode the image"):
        mds.load("easy_vqa", data_dir=folder)
    info = mds.info("easy_vqa", data_dir=folder, skip_bad=True)
    assert info["skipped"] == {"count": 1, "files": [str(bad)]}
    assert info["num_examples"] == len(written["train"]) - 2  # image 3's two questions
    assert count(mds.load("easy_vqa", split="all", data_dir=folder, skip_bad=True)) == 22


@pytest.mark.parametrize("row, reason", [
    (["what is it?", "yes"], r"expected \[question, answer, image_id\]"),
    (["what is it?", "yes", 999], "unknown image id 999"),
])
def test_bad_json_rows_name_the_file_and_row(tmp_path, row, reason):
    folder, written = fake.make_easy_vqa(tmp_path, num_images=6, questions_per_image=2)
    rows = written["train"] + [row]
    (folder / "train" / "questions.json").write_text(json.dumps(rows))
    with pytest.raises(ValueError, match=rf"questions\.json row 12: {reason}"):
        mds.load("easy_vqa", data_dir=folder)
    info = mds.info("easy_vqa", data_dir=folder, skip_bad=True)
    assert info["skipped"]["count"] == 1
    assert info["skipped"]["files"][0].endswith("questions.json row 12")
    assert info["num_examples"] == 12


def test_bad_idx_magic_names_the_file(tmp_path):
    folder, _, _ = fake.make_mnist(tmp_path, num_images=10, magic=(2049, 2049))
    for skip_bad in (False, True):  # a bad header cannot be skipped
        with pytest.raises(ValueError, match=r"images-idx3-ubyte\.gz: bad IDX header: magic "
                                             r"number 2049, expected 2051"):
            mds.load("mnist", data_dir=folder, skip_bad=skip_bad)


def test_truncated_idx_payload_is_an_error_or_keeps_the_complete_records(tmp_path):
    folder, _, _ = fake.make_mnist(tmp_path, num_images=10)
    with gzip.open(folder / "images-idx3-ubyte.gz", "rb") as handle:
        data = handle.read()
    with gzip.open(folder / "images-idx3-ubyte.gz", "wb") as handle:
        handle.write(data[: 16 + 7 * 784 + 100])  # 7 complete images of 10
    with pytest.raises(ValueError, match=r"images-idx3-ubyte\.gz: truncated.*7 complete"):
        mds.load("mnist", data_dir=folder)
    info = mds.info("mnist", data_dir=folder, skip_bad=True)
    assert info["num_examples"] == 7 and info["skipped"]["count"] == 2  # images + labels


def test_labels_header_count_mismatch(tmp_path):
    folder, _, labels = fake.make_mnist(tmp_path, num_images=10)
    with gzip.open(folder / "labels-idx1-ubyte.gz", "wb") as handle:
        handle.write(struct.pack(">II", 2049, 9) + labels[:9].tobytes())
    with pytest.raises(ValueError, match=r"labels-idx1-ubyte\.gz: 9 labels for 10 images"):
        mds.load("mnist", data_dir=folder)


def test_flickr8k_bad_image_and_caption_count(tmp_path):
    folder, captions = fake.make_flickr8k(tmp_path, num_images=6)
    names = list(captions)
    fake.truncate(folder / "images" / names[2], 0.5)
    with pytest.raises(ValueError, match=rf"{names[2]}: cannot decode the image"):
        mds.load("flickr8k", data_dir=folder)
    lines = (folder / "captions.txt").read_text().splitlines()
    dropped = [i for i, line in enumerate(lines) if line.startswith(names[4])][0]
    (folder / "captions.txt").write_text("\n".join(lines[:dropped] + lines[dropped + 1:]) + "\n")
    with pytest.raises(ValueError, match=rf"{names[4]}: has 4 captions"):
        mds.load("flickr8k", data_dir=folder)
    info = mds.info("flickr8k", data_dir=folder, skip_bad=True)
    assert info["skipped"]["count"] == 2 and info["num_examples"] == 4
    assert sorted(f.rsplit("/", 1)[-1] for f in info["skipped"]["files"]) == sorted(
        [names[2], names[4]])


def test_avdigits_skips_a_truncated_recording(tmp_path):
    root, _, _, names = fake.make_avdigits(tmp_path, num_images=20, per_split=2)
    bad = root / "fsdd" / "recordings" / names[0]
    fake.truncate(bad, 40)
    with pytest.raises(ValueError, match=names[0]):
        mds.load("avdigits", data_dir=root)
    dataset, info = mds.load("avdigits", split="all", data_dir=root, skip_bad=True,
                             with_info=True)
    assert info["skipped"]["files"] == [str(bad)]
    assert sum(info["recordings"].values()) == len(names) - 1
    for inputs, label in dataset.as_numpy_iterator():
        assert fake.digit_of_audio(inputs["audio"]) == label
        assert np.all(np.isfinite(inputs["image"]))
