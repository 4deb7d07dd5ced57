"""Reads a PyTorch `.pth` / `.pt` file into `{name: numpy array}` without torch.

Both of `torch.save`'s formats are read: the legacy one (before PyTorch 1.6: a stream of
pickles followed by the raw storages) and the zip one (`archive/data.pkl` plus one file
per storage). Like `torch.load(weights_only=True)`, the unpickler resolves only the few
globals a tensor needs (`torch._utils._rebuild_tensor_v2`, the `torch.*Storage` classes,
`collections.OrderedDict`); any other global (`os.system`, `builtins.eval`...) raises
`UnsafePickleError` naming it, before anything is called.

>>> state = load_state_dict("efficientnet-lite0-57934424.pth")
>>> state["_conv_stem.weight"].shape
(32, 3, 3, 3)
"""

import collections
import pathlib
import pickle
import zipfile

import numpy as np

# torch's legacy-format header: this magic number, then the protocol version.
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

_STORAGE_DTYPES = {
    "DoubleStorage": np.float64,
    "FloatStorage": np.float32,
    "HalfStorage": np.float16,
    "BFloat16Storage": "bfloat16",  # no NumPy dtype: widened to float32 on read
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class UnsafePickleError(pickle.UnpicklingError):
    """The file references a global that a state dict of tensors never needs."""


class _StorageType:
    """Stands for `torch.<Name>Storage` inside the unpickler."""

    def __init__(self, name):
        self.name = name
        self.dtype = _STORAGE_DTYPES[name]

    @property
    def itemsize(self):
        return 2 if self.dtype == "bfloat16" else np.dtype(self.dtype).itemsize


class _Storage:
    """A storage whose bytes are read once the pickle is loaded."""

    def __init__(self, storage_type, key, numel):
        self.type = storage_type
        self.key = key
        self.numel = numel
        self.array = None  # set by the reader

    def set_bytes(self, raw, where):
        expected = self.numel * self.type.itemsize
        if len(raw) != expected:
            raise ValueError(f"{where}: storage {self.key!r} holds {len(raw)} bytes, "
                             f"expected {expected} ({self.numel} x {self.type.name}).")
        if self.type.dtype == "bfloat16":
            widened = np.frombuffer(raw, "<u2").astype(np.uint32) << 16
            self.array = widened.view(np.float32)
        else:
            self.array = np.frombuffer(raw, np.dtype(self.type.dtype).newbyteorder("<"))


class _Tensor:
    """What `_rebuild_tensor_v2` returns; becomes a NumPy array once storages are read."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset = storage, offset
        self.size, self.stride = tuple(size), tuple(stride)

    def to_numpy(self):
        flat = self.storage.array
        if not self.size:
            return np.array(flat[self.offset])
        needed = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride)) + 1
        if min(self.size) > 0 and needed > flat.size:
            raise ValueError(f"A tensor of shape {self.size} reads past the end of storage "
                             f"{self.storage.key!r} ({flat.size} elements).")
        itemsize = flat.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            flat[self.offset:], shape=self.size,
            strides=[s * itemsize for s in self.stride], writeable=False)
        return np.array(view, dtype=flat.dtype.newbyteorder("="))


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    return _Tensor(storage, storage_offset, size, stride)


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _Tensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    return data


_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): _StorageType(name) for name in _STORAGE_DTYPES},
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only `_ALLOWED` globals; storages come through `persistent_load`."""

    def __init__(self, handle, where, storages):
        super().__init__(handle)
        self.where = where
        self.storages = storages  # key -> _Storage, shared with the reader

    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        raise UnsafePickleError(
            f"{self.where} references the global {module}.{name}, which a PyTorch state "
            f"dict of tensors does not need; refusing to load it (only "
            f"{', '.join(sorted(f'{m}.{n}' for m, n in _ALLOWED))} are allowed).")

    def persistent_load(self, saved_id):
        if not isinstance(saved_id, tuple) or not saved_id or _text(saved_id[0]) != "storage":
            raise UnsafePickleError(f"{self.where}: unsupported persistent id {saved_id!r:.80}.")
        storage_type, key, _location, numel = saved_id[1:5]
        view = saved_id[5] if len(saved_id) > 5 else None
        if not isinstance(storage_type, _StorageType):
            raise UnsafePickleError(f"{self.where}: storage type {storage_type!r:.80} is not "
                                    "a torch.*Storage class.")
        key = _text(key)
        if view is not None:
            raise ValueError(f"{self.where}: storage views (legacy PyTorch < 0.4) are not "
                             "supported.")
        if key not in self.storages:
            self.storages[key] = _Storage(storage_type, key, int(numel))
        return self.storages[key]


def _text(value):
    return value.decode("ascii") if isinstance(value, bytes) else value


def load_state_dict(path):
    """`{name: np.ndarray}` of the tensors in a `torch.save` file (legacy or zip format).

    Nested containers (e.g. `{"state_dict": {...}}`) come back with their structure;
    every tensor becomes a NumPy array in its own dtype (bfloat16 widened to float32).
    """
    path = pathlib.Path(path)
    storages = {}
    if zipfile.is_zipfile(path):
        result = _load_zip(path, storages)
    else:
        result = _load_legacy(path, storages)
    missing = [key for key, storage in storages.items() if storage.array is None]
    if missing:
        raise ValueError(f"{path}: storages {missing[:5]} have no data; is the file "
                         "truncated?")
    return _materialise(result)


def _load_legacy(path, storages):
    with open(path, "rb") as handle:
        try:
            magic = _RestrictedUnpickler(handle, path, {}).load()
        except UnsafePickleError:
            raise
        except Exception as error:  # not a pickle at all
            raise ValueError(f"{path} is neither a zip nor a legacy PyTorch file.") from error
        if magic != LEGACY_MAGIC:
            raise ValueError(f"{path} is not a PyTorch file (no legacy magic number).")
        protocol = _RestrictedUnpickler(handle, path, {}).load()
        if protocol != LEGACY_PROTOCOL:
            raise ValueError(f"{path}: unsupported legacy protocol {protocol!r}.")
        sys_info = _RestrictedUnpickler(handle, path, {}).load()
        if not sys_info.get("little_endian", True):
            raise ValueError(f"{path} was written on a big-endian machine; not supported.")
        result = _RestrictedUnpickler(handle, path, storages).load()
        keys = _RestrictedUnpickler(handle, path, {}).load()
        for key in keys:
            key = _text(key)
            storage = storages[key]
            # each storage: int64 element count, then its raw little-endian bytes
            header = handle.read(8)
            numel = int.from_bytes(header, "little") if len(header) == 8 else -1
            if numel != storage.numel:
                raise ValueError(f"{path}: storage {key!r} declares {numel} elements, "
                                 f"expected {storage.numel}; is the file truncated?")
            storage.set_bytes(handle.read(numel * storage.type.itemsize), path)
    return result


def _load_zip(path, storages):
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickles = [name for name in names if name.endswith("/data.pkl") or name == "data.pkl"]
        if not pickles:
            raise ValueError(f"{path} is a zip without data.pkl; not a torch.save file.")
        prefix = pickles[0][: -len("data.pkl")]
        byteorder = f"{prefix}byteorder"
        if byteorder in names and archive.read(byteorder).strip() != b"little":
            raise ValueError(f"{path} was written big-endian; not supported.")
        with archive.open(pickles[0]) as handle:
            result = _RestrictedUnpickler(handle, path, storages).load()
        for key, storage in storages.items():
            storage.set_bytes(archive.read(f"{prefix}data/{key}"), path)
    return result


def _materialise(value):
    if isinstance(value, _Tensor):
        return value.to_numpy()
    if isinstance(value, dict):
        return type(value)((key, _materialise(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return type(value)(_materialise(item) for item in value)
    return value
