"""mmzoo.datasets: the public API, the local builders on tiny folders, the cache."""

import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import data_factories as fake
import mmzoo.datasets as mds
from mmzoo.datasets import avdigits, flickr8k, fsdd
from mmzoo.datasets._common import split_80_10_10, stable_bucket
from mmzoo.registry import DATASETS

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    path = tmp_path / "mmzoo_cache"
    monkeypatch.setenv("MMZOO_CACHE_DIR", str(path))
    return path


def spec_of(dataset):
    return tf.nest.map_structure(lambda s: (tuple(s.shape), s.dtype), dataset.element_spec)


def count(dataset):
    return sum(1 for _ in dataset)


# ----- API ---------------------------------------------------------------------------
def test_list_datasets_registers_every_dataset():
    names = mds.list_datasets()
    assert names == sorted(["avdigits", "clevr", "coco_captions", "easy_vqa", "flickr8k",
                            "fsdd", "imdb_reviews", "mnist", "mvsa_single", "sort_of_clevr",
                            "spoken_digit"])
    assert mds.list_datasets("local") == ["avdigits", "easy_vqa", "flickr8k", "fsdd", "mnist",
                                          "mvsa_single"]
    assert mds.list_datasets("catalog") == ["clevr", "coco_captions", "imdb_reviews",
                                            "spoken_digit"]
    assert mds.list_datasets("synthetic") == ["sort_of_clevr"]
    assert all(name in DATASETS for name in names)


def test_unknown_names_give_helpful_errors(tmp_path):
    with pytest.raises(KeyError, match=r"Did you mean 'mnist'.*Registered: avdigits"):
        mds.load("mnsit")
    with pytest.raises(ValueError, match=r"Unknown config 'loud'.*avdigits/clean, avdigits/noisy"):
        mds.load("avdigits/loud", data_dir=tmp_path)
    folder, _ = fake.make_fsdd(tmp_path, digits=(1,), takes=(10,))
    with pytest.raises(ValueError, match=r"Unknown split 'trian'.*Did you mean 'train'.*"
                                         r"train, validation, test, all"):
        mds.load("fsdd", split="trian", data_dir=folder)
    with pytest.raises(TypeError, match=r"Unknown option\(s\) 'image_size'.*clip_seconds"):
        mds.load("fsdd", data_dir=folder, image_size=3)


def test_missing_default_folder_tells_to_pass_data_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="pass data_dir="):
        mds.load("easy_vqa")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="lacks answers.txt"):
        mds.load("easy_vqa", data_dir=tmp_path / "empty")
    fake.make_mnist(tmp_path / "only_mnist")
    with pytest.raises(FileNotFoundError, match="PARENT folder"):
        mds.load("avdigits", data_dir=tmp_path / "only_mnist")


def test_parent_of_the_data_sets_is_accepted_as_data_dir(tmp_path):
    """`--data-dir ../shared/data` works for every data set, as for avdigits."""
    folder, names = fake.make_fsdd(tmp_path)
    assert folder.parent == tmp_path and folder.name == "fsdd"
    direct = [int(y) for _, y in mds.load("fsdd", split="all", data_dir=folder)]
    parent = [int(y) for _, y in mds.load("fsdd", split="all", data_dir=tmp_path)]
    assert parent == direct and len(parent) == len(names)
    with pytest.raises(FileNotFoundError, match="lacks answers.txt"):
        mds.load("easy_vqa", data_dir=tmp_path)  # no easy_vqa/ below it either


def test_import_mmzoo_does_not_import_tensorflow_datasets():
    code = "import sys, mmzoo; print('tensorflow_datasets' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, cwd=REPO, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_stable_bucket_is_md5_based():
    import hashlib
    assert stable_bucket("7") == int(hashlib.md5(b"7").hexdigest()[:8], 16) % 100
    assert split_80_10_10(7) == split_80_10_10("7")


# ----- easy-VQA ----------------------------------------------------------------------
def test_easy_vqa_splits_specs_and_contents(tmp_path):
    folder, written = fake.make_easy_vqa(tmp_path, num_images=30, questions_per_image=3,
                                         test_images=4)
    expected = fake.easy_vqa_expected(written)
    assert expected["validation"] > 0 and expected["test"] == 12
    train, info = mds.load("easy_vqa", data_dir=folder, with_info=True)
    assert spec_of(train) == ({"image": ((16, 16, 3), tf.float32), "question": ((), tf.string)},
                              ((), tf.string))
    assert info["splits"] == expected and info["answers"] == fake.EASY_VQA_ANSWERS
    assert info["num_examples"] == sum(expected.values())
    for split in ("train", "validation", "test"):
        dataset = mds.load("easy_vqa", split=split, data_dir=folder)
        assert int(dataset.cardinality()) == expected[split]
        seen = 0
        for inputs, answer in dataset.as_numpy_iterator():
            seen += 1
            image_id = int(inputs["question"].decode().split("image ")[1].rstrip("?"))
            if split != "test":  # all questions of an image on the side its id hashes to
                side = "validation" if stable_bucket(str(image_id)) < 10 else "train"
                assert side == split
            assert inputs["image"][0, 0].tolist() == [(image_id * 37) % 256,
                                                      (image_id * 91) % 256, 128]
            assert answer.decode() in fake.EASY_VQA_ANSWERS
        assert seen == expected[split]
    everything = mds.load("easy_vqa", split="all", data_dir=folder)
    assert count(everything) == sum(expected.values())
    small = mds.load("easy_vqa", split="validation", data_dir=folder, image_size=8)
    assert spec_of(small)[0]["image"] == ((8, 8, 3), tf.float32)


def test_easy_vqa_without_test_folder_has_an_empty_test_split(tmp_path):
    folder, written = fake.make_easy_vqa(tmp_path, num_images=12)
    info = mds.info("easy_vqa", data_dir=folder)
    assert info["splits"]["test"] == 0
    with pytest.raises(ValueError, match="has no test/ subfolder"):
        mds.load("easy_vqa", split="test", data_dir=folder)
    expected = fake.easy_vqa_expected(written)
    assert count(mds.load("easy_vqa", split="all", data_dir=folder)) == sum(expected.values())


def test_easy_vqa_with_only_a_test_folder_loads_the_test_split(tmp_path):
    """Evaluation data: answers.txt + test/, no train/."""
    folder, written = fake.make_easy_vqa(tmp_path, num_images=0, test_images=5,
                                         questions_per_image=2)
    assert not (folder / "train").exists()
    test, info = mds.load("easy_vqa", split="test", data_dir=folder, with_info=True)
    assert info["splits"] == {"train": 0, "validation": 0, "test": 10}
    assert info["folders"] == ["test"]
    questions = sorted(inputs["question"].decode() for inputs, _ in test.as_numpy_iterator())
    assert questions == sorted(q for q, _, _ in written["test"])
    assert count(mds.load("easy_vqa", split="all", data_dir=folder)) == 10
    for split in ("train", "validation"):
        with pytest.raises(ValueError, match=rf"'{split}' split of data set 'easy_vqa' is "
                                             rf"empty.*has no train/ subfolder \(.*train\)"):
            mds.load("easy_vqa", split=split, data_dir=folder)


def test_easy_vqa_split_folder_without_its_files_is_named(tmp_path):
    folder, _ = fake.make_easy_vqa(tmp_path, num_images=0, test_images=2)
    (folder / "train").mkdir()
    with pytest.raises(FileNotFoundError, match=r"lacks train/questions\.json, train/images"):
        mds.load("easy_vqa", split="test", data_dir=folder)


# ----- every local loader: empty folders ------------------------------------------------
@pytest.mark.parametrize("name, expected", [
    ("easy_vqa", r"lacks answers\.txt, a train/ or test/ subfolder \(expected answers\.txt"),
    ("fsdd", r"has no recordings/ subfolder \(expected recordings/<digit>"),
    ("mnist", r"lacks images-idx3-ubyte\.gz, labels-idx1-ubyte\.gz \(expected"),
    ("avdigits", r"lacks images-idx3-ubyte\.gz, labels-idx1-ubyte\.gz \(expected"),
    ("flickr8k", r"lacks captions\.txt, images \(expected captions\.txt"),
    ("mvsa_single", r"lacks labelResultAll\.txt, data/ \(expected labelResultAll\.txt"),
])
def test_an_empty_folder_names_the_folder_and_the_expected_files(tmp_path, name, expected):
    empty = tmp_path / "nothing_here"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=rf"{name}: .*nothing_here.* {expected}"):
        mds.load(name, split="validation", data_dir=empty)
    assert DATASETS.get(name).layout  # the layout the messages below quote


def _without_examples(root, name):
    """A folder with the expected files and subfolders of `name` but no examples."""
    folder = root / name
    if name == "fsdd":
        (folder / "recordings").mkdir(parents=True)
    elif name == "easy_vqa":
        (folder / "train" / "images").mkdir(parents=True)
        (folder / "answers.txt").write_text("yes\n")
        (folder / "train" / "questions.json").write_text("[]")
    elif name == "flickr8k":
        (folder / "images").mkdir(parents=True)
        (folder / "captions.txt").write_text("image,caption\n")
    elif name == "mnist":
        fake.make_mnist(root, num_images=0)
    elif name == "mvsa_single":
        (folder / "data").mkdir(parents=True)
        (folder / "labelResultAll.txt").write_text("ID\ttext,image\n")
    return folder


@pytest.mark.parametrize("name", ["easy_vqa", "fsdd", "mnist", "flickr8k", "mvsa_single"])
@pytest.mark.parametrize("split", ["train", "all"])
def test_a_folder_without_examples_names_the_folder_and_the_layout(tmp_path, name, split):
    folder = _without_examples(tmp_path, name)
    with pytest.raises(ValueError, match=rf"'{name}' has no examples at all in "
                                         rf"{re.escape(str(folder))}\. Expected: ") as error:
        mds.load(name, split=split, data_dir=folder)
    assert DATASETS.get(name).layout in str(error.value)


# ----- FSDD ---------------------------------------------------------------------------
def test_fsdd_take_split_and_audio_contract(tmp_path):
    folder, names = fake.make_fsdd(tmp_path, takes=(0, 5, 10, 11))
    expected = fake.fsdd_expected(names)
    assert mds.info("fsdd", data_dir=folder)["splits"] == expected == {
        "train": 20, "validation": 10, "test": 10}
    for split in ("train", "validation", "test"):
        dataset = mds.load("fsdd", split=split, data_dir=folder)
        assert spec_of(dataset) == ({"audio": ((8000,), tf.float32)}, ((), tf.int64))
        examples = list(dataset.as_numpy_iterator())
        assert len(examples) == expected[split]
        for inputs, label in examples:
            assert fake.digit_of_audio(inputs["audio"]) == label
            assert np.abs(inputs["audio"]).max() <= 1.0
            assert inputs["audio"][-1] == 0.0  # zero-padded to 1 s
        assert sorted(label for _, label in examples) == sorted(
            int(n[0]) for n in names if fake.fsdd_expected([n])[split])
    assert count(mds.load("fsdd", split="all", data_dir=folder)) == len(names)
    fast = mds.load("fsdd", split="test", data_dir=folder, sample_rate=16000, clip_seconds=0.25)
    inputs, label = next(iter(fast.as_numpy_iterator()))
    assert inputs["audio"].shape == (4000,)
    assert inputs["audio"][100] == pytest.approx(fake.audio_value(label), abs=1e-4)


def test_fsdd_without_test_takes_raises_clearly(tmp_path):
    folder, _ = fake.make_fsdd(tmp_path, digits=(2, 3), takes=(5, 12))
    with pytest.raises(ValueError, match=r"'test' split of data set 'fsdd' is empty.*takes 0-4"):
        mds.load("fsdd", split="test", data_dir=folder)
    assert count(mds.load("fsdd", split="all", data_dir=folder)) == 4


# ----- MNIST --------------------------------------------------------------------------
def test_mnist_index_hash_split_and_pixels(tmp_path):
    folder, images, labels = fake.make_mnist(tmp_path, num_images=60)
    expected = fake.split_sizes_80_10_10(range(60))
    dataset, info = mds.load("mnist", split="train", data_dir=folder, with_info=True)
    assert info["splits"] == expected
    assert spec_of(dataset) == ({"image": ((28, 28, 3), tf.float32)}, ((), tf.int64))
    for split in ("train", "validation", "test"):
        examples = list(mds.load("mnist", split=split, data_dir=folder).as_numpy_iterator())
        assert len(examples) == expected[split]
        for inputs, label in examples:
            index = int(inputs["image"][0, 0, 0])  # the factory's index mark
            assert split_80_10_10(index) == split and label == labels[index]
            np.testing.assert_array_equal(inputs["image"], np.repeat(
                images[index][..., None], 3, axis=-1).astype(np.float32))
    assert count(mds.load("mnist", split="all", data_dir=folder)) == 60
    resized = mds.load("mnist", split="test", data_dir=folder, image_size=14)
    assert spec_of(resized)[0]["image"] == ((14, 14, 3), tf.float32)


# ----- Flickr8k -----------------------------------------------------------------------
def test_flickr8k_captions_splits_and_resizing(tmp_path):
    folder, captions = fake.make_flickr8k(tmp_path, num_images=14)
    expected = fake.flickr8k_expected(captions)
    assert expected["train"] > 0 and expected["validation"] > 0 and expected["test"] == 0
    dataset, info = mds.load("flickr8k", data_dir=folder, with_info=True)
    assert info["splits"] == expected
    assert spec_of(dataset) == {"image": ((224, 224, 3), tf.float32), "captions": ((5,), tf.string)}
    by_captions = {tuple(texts): name for name, texts in captions.items()}
    for split in ("train", "validation"):
        elements = list(mds.load("flickr8k", split=split, data_dir=folder,
                                 image_size=32).as_numpy_iterator())
        assert len(elements) == expected[split]
        for element in elements:
            assert isinstance(element, dict) and element["image"].shape == (32, 32, 3)
            texts = tuple(t.decode() for t in element["captions"])
            bucket = stable_bucket(by_captions[texts])  # file order kept
            assert (80 <= bucket < 90) == (split == "validation")
    with pytest.raises(ValueError, match=r"'test' split of data set 'flickr8k' is empty.*"
                                         r"official test images.*'validation'"):
        mds.load("flickr8k", split="test", data_dir=folder)
    everything = list(mds.load("flickr8k", split="all", data_dir=folder).as_numpy_iterator())
    assert len(everything) == 14
    all_captions = {t.decode() for e in everything for t in e["captions"]}
    assert "A dog, a cat, and a bird , together ." in all_captions


def test_flickr8k_split_is_about_90_10_and_keeps_the_validation_buckets():
    names = [f"{1000 + i}_{i * 7919 % 100000}.jpg" for i in range(4000)]
    sizes = fake.flickr8k_expected(names)
    assert 0.08 < sizes["validation"] / len(names) < 0.12
    for name in names[:200]:  # the old 80/10/10 validation images stay validation
        assert (split_80_10_10(name) == "validation") == (
            flickr8k.split_of_image(name) == "validation")


def test_flickr8k_reads_any_folder_name_and_defaults_to_flickr8k(tmp_path, monkeypatch):
    """Any folder of the layout loads, whatever its name (as the retired flickr8k_1k/ did);
    the default folder is ../shared/data/flickr8k."""
    old, _ = fake.make_flickr8k(tmp_path / "shared" / "data", num_images=6,
                                name="photos_with_captions")
    assert mds.info("flickr8k", data_dir=old)["num_examples"] == 6
    monkeypatch.chdir(tmp_path / "shared" / "data")  # cwd/../shared/data/flickr8k is absent
    with pytest.raises(FileNotFoundError, match=r"default .*shared/data/flickr8k does not"):
        mds.info("flickr8k")
    fake.make_flickr8k(tmp_path / "shared" / "data", num_images=4)
    work = tmp_path / "project"
    work.mkdir()
    monkeypatch.chdir(work)
    info = mds.info("flickr8k")
    assert info["num_examples"] == 4 and info["source"].endswith("shared/data/flickr8k")


# ----- AV-digits ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def av_root(tmp_path_factory):
    root, _, labels, names = fake.make_avdigits(tmp_path_factory.mktemp("av"), num_images=40)
    return root, labels, names


def recordings_of(root, seed=0, config=None, split="train"):
    """index -> recording file name, read from the prepared TFDS data."""
    builder, _ = DATASETS.get("avdigits").prepare(root, False, config, {"seed": seed})
    return {int(e["mnist_index"]): e["recording"].decode()
            for e in builder.as_dataset(split=split).as_numpy_iterator()}


def test_avdigits_pairs_same_digit_and_splits_by_image(av_root):
    root, labels, names = av_root
    expected = fake.split_sizes_80_10_10(range(40))
    dataset, info = mds.load("avdigits", split="train", data_dir=root, with_info=True)
    assert info["splits"] == expected and info["unpaired"] == 0
    assert spec_of(dataset) == ({"image": ((28, 28, 3), tf.float32),
                                 "audio": ((8000,), tf.float32)}, ((), tf.int64))
    used = {}
    for split in ("train", "validation", "test"):
        examples = list(mds.load("avdigits", split=split, data_dir=root).as_numpy_iterator())
        assert len(examples) == expected[split]
        for inputs, label in examples:
            assert fake.digit_of_image(inputs["image"]) == label
            assert fake.digit_of_audio(inputs["audio"]) == label
        pairs = recordings_of(root, split=split)
        assert {split_80_10_10(i) for i in pairs} == {split}
        for index, name in pairs.items():
            assert split_80_10_10(name) == split and int(name[0]) == labels[index]
            assert used.setdefault(name, split) == split  # no recording in two splits
    assert count(mds.load("avdigits", split="all", data_dir=root)) == 40


def test_avdigits_pairing_is_deterministic_given_the_seed(av_root, tmp_path, monkeypatch):
    root, _, _ = av_root
    first = list(mds.load("avdigits", data_dir=root, seed=0).as_numpy_iterator())
    monkeypatch.setenv("MMZOO_CACHE_DIR", str(tmp_path / "fresh_cache"))  # re-prepare
    again = list(mds.load("avdigits", data_dir=root, seed=0).as_numpy_iterator())
    assert len(first) == len(again)
    for (a, la), (b, lb) in zip(first, again):
        assert la == lb
        np.testing.assert_array_equal(a["image"], b["image"])
        np.testing.assert_array_equal(a["audio"], b["audio"])
    assert recordings_of(root, seed=0) != recordings_of(root, seed=1)
    other = list(mds.load("avdigits", data_dir=root, seed=1).as_numpy_iterator())
    assert any(not np.array_equal(a["audio"], b["audio"]) for (a, _), (b, _) in zip(first, other))


def test_avdigits_noisy_degrades_both_modalities(av_root, monkeypatch):
    root, _, _ = av_root
    clean = list(mds.load("avdigits", split="all", data_dir=root).as_numpy_iterator())
    noisy, info = mds.load("avdigits/noisy", split="all", data_dir=root, with_info=True)
    noisy = list(noisy.as_numpy_iterator())
    assert info["degradation"] == {"occlusion_size": avdigits.NOISY_OCCLUSION_SIZE,
                                   "pixel_sigma": avdigits.NOISY_PIXEL_SIGMA,
                                   "audio_snr_db": avdigits.NOISY_AUDIO_SNR_DB}
    assert recordings_of(root, config="noisy") == recordings_of(root)  # same pairing
    assert len(clean) == len(noisy)
    for (c, cl), (n, nl) in zip(clean, noisy):
        assert cl == nl
        assert np.std(n["image"] - c["image"]) > 30
        assert np.any(n["image"] == 0)  # the occluded square (and clipped noise)
        length = int(np.count_nonzero(c["audio"]))
        signal, degraded = c["audio"][:length], n["audio"][:length]
        noise_rms = np.sqrt(np.mean((degraded - signal) ** 2))
        expected_ratio = 10.0 ** (-avdigits.NOISY_AUDIO_SNR_DB / 20.0)
        assert noise_rms / np.sqrt(np.mean(signal ** 2)) == pytest.approx(
            expected_ratio, rel=0.35)
    # The degradation constants key the cache: changing one re-prepares.
    before = info["prepared_dir"]
    monkeypatch.setattr(avdigits, "NOISY_PIXEL_SIGMA", 10.0)
    assert mds.info("avdigits/noisy", data_dir=root)["prepared_dir"] != before


def test_avdigits_drops_and_counts_unpaired_images(tmp_path):
    labels = fake.make_mnist(tmp_path / "probe", num_images=40)[2]
    index = next(i for i in range(40) if split_80_10_10(i) == "test")
    digit = int(labels[index])
    root, _, labels, _ = fake.make_avdigits(tmp_path / "av", num_images=40,
                                            missing={("test", digit)})
    dropped = [i for i in range(40) if split_80_10_10(i) == "test" and labels[i] == digit]
    info = mds.info("avdigits", data_dir=root)
    assert info["unpaired"] == len(dropped) > 0
    assert info["splits"]["test"] == fake.split_sizes_80_10_10(range(40))["test"] - len(dropped)


# ----- the prepared-data cache --------------------------------------------------------
def test_reload_reuses_the_prepared_data(tmp_path, monkeypatch, cache_dir):
    folder, names = fake.make_fsdd(tmp_path, digits=(4, 5), takes=(0, 6, 20))
    calls = []
    original = fsdd.FsddBuilder._generate_examples

    def counting(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(fsdd.FsddBuilder, "_generate_examples", counting)
    first = mds.info("fsdd", data_dir=folder)
    assert len(calls) == 3 and first["prepared_dir"].startswith(str(cache_dir))
    stamp = os.stat(os.path.join(first["prepared_dir"], "dataset_info.json")).st_mtime_ns
    assert count(mds.load("fsdd", split="all", data_dir=folder)) == len(names)
    assert count(mds.load("fsdd", split="all", data_dir=folder, cache=False)) == len(names)
    assert len(calls) == 3  # no second preparation
    assert mds.info("fsdd", data_dir=folder)["prepared_dir"] == first["prepared_dir"]
    assert os.stat(os.path.join(first["prepared_dir"], "dataset_info.json")).st_mtime_ns == stamp
    # Another identity of the folder (a file changed, skip_bad) -> another prepared copy.
    assert mds.info("fsdd", data_dir=folder, skip_bad=True)["prepared_dir"] != first["prepared_dir"]
    touched = folder / "recordings" / names[0]
    os.utime(touched, ns=(stamp, stamp + 10**9))
    assert mds.info("fsdd", data_dir=folder)["prepared_dir"] != first["prepared_dir"]
    assert len(calls) == 9


def test_preparation_lock_makes_a_second_process_wait(tmp_path):
    """Two holders of the same data set's lock (two test workers, two notebooks) take
    turns: the second enters only after the first has left."""
    import threading

    from mmzoo.datasets._common import preparation_lock

    order, first_inside, second_started = [], threading.Event(), threading.Event()

    def first():
        with preparation_lock(tmp_path / "cache"):
            first_inside.set()
            second_started.wait(5)
            threading.Event().wait(0.3)  # give the second the chance to barge in
            order.append("first leaves")

    def second():
        first_inside.wait(5)
        second_started.set()
        with preparation_lock(tmp_path / "cache"):
            order.append("second enters")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert order == ["first leaves", "second enters"]
    assert (tmp_path / "cache" / ".lock").is_file()
