"""Shared fixtures: quiet TensorFlow, deterministic seeds, the shared data folder."""

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from mmzoo.quiet import import_tensorflow  # noqa: E402

import_tensorflow()  # without its start-up logs (MMZOO_VERBOSE=1 keeps them)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def _pretrained_home(tmp_path_factory):
    """One pretrained-weights cache per test session, filled by converting the installed
    source packages (as on a fresh machine); modules that test the conversion itself set
    their own."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MMZOO_HOME", str(tmp_path_factory.mktemp("mmzoo_home")))
        yield


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(1234)
    yield


@pytest.fixture(scope="session")
def shared_data():
    """`../shared/data`, or skip when this checkout has no shared folder beside it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is not available")
    return SHARED_DATA


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# Files that take minutes run first. pytest-xdist (`--dist loadfile`) hands whole files
# to its workers in collection order, and these sort late (test_readme.py, ~6 min, was
# among the last): started last, one of them kept a single worker busy while the other
# had nothing left to do.
LONG_FILES = (
    "tests/test_readme.py",
    "tests/tasks/classification/test_classifier_presets.py",
    "tests/test_notebooks.py",
    "tests/test_distribute.py",
    "tests/tasks/classification/test_mvsa_weights.py",
    "tests/tasks/captioning/test_caption_feature_cache.py",
    "tests/test_training_recovery.py",
    "tests/tasks/vqa/test_vqa_presets.py",
    "tests/test_tflite.py",
)


def pytest_collection_modifyitems(config, items):
    rank = {path: index for index, path in enumerate(LONG_FILES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))
