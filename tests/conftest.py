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
