"""How an `Index` keeps its embeddings: float32 (exact), bfloat16 (half the memory) or
int8 with one scale per row (a quarter, plus 4 bytes a row).

Each storage serves rows back as float32 for the scan (`rows(start, stop, out)`: a view
for float32, decoded into the scan's buffer otherwise), reports its bytes, and turns into
and back from the arrays saved in the index file.

>>> stored = STORAGES["int8"].encode(embeddings)   # [N, D] float32 -> int8 codes + scales
>>> stored.rows(0, 4, np.empty((4, stored.dim), np.float32))   # ~ embeddings[:4]
"""

import numpy as np

try:  # installed with TensorFlow; converts bfloat16 to float32 twice as fast as shifts
    from ml_dtypes import bfloat16 as _bfloat16
except ImportError:  # pragma: no cover
    _bfloat16 = None


class Float32Rows:
    """The embeddings as they are: exact scores."""

    name = "float32"
    decodes = False

    def __init__(self, values):
        self.values = values

    @classmethod
    def encode(cls, embeddings):
        return cls(np.ascontiguousarray(embeddings, np.float32))

    def __len__(self):
        return len(self.values)

    @property
    def dim(self):
        return self.values.shape[1]

    @property
    def nbytes(self):
        return self.values.nbytes

    def rows(self, start, stop, out=None):
        return self.values[start:stop]

    @property
    def max_norm(self):
        """The largest L2 norm of a stored row (as served by `rows`), computed once."""
        if getattr(self, "_max_norm", None) is None:
            step = 1 << 16
            buffer = np.empty((min(step, len(self)), self.dim), np.float32)
            self._max_norm = max(
                float(np.sqrt(np.einsum("ij,ij->i", rows, rows).max()))
                for rows in (self.rows(start, min(start + step, len(self)), buffer)
                             for start in range(0, len(self), step)))
        return self._max_norm

    def dense(self):
        view = self.values.view()
        view.flags.writeable = False
        return view

    def arrays(self):
        return {"embeddings": self.values}

    @classmethod
    def from_arrays(cls, arrays):
        return cls(np.ascontiguousarray(arrays["embeddings"], np.float32))


class BFloat16Rows(Float32Rows):
    """The top 16 bits of each float32 (rounded to nearest even): 8 bits of mantissa,
    a relative error below 2**-8 per value."""

    name = "bfloat16"
    decodes = True

    @classmethod
    def encode(cls, embeddings):
        bits = np.ascontiguousarray(embeddings, np.float32).view(np.uint32)
        rounding = np.uint32(0x7FFF) + ((bits >> 16) & np.uint32(1))
        return cls(((bits + rounding) >> 16).astype(np.uint16))

    def rows(self, start, stop, out=None):
        out = out[:stop - start]
        if _bfloat16 is not None:
            np.copyto(out, self.values[start:stop].view(_bfloat16), casting="unsafe")
        else:
            np.left_shift(self.values[start:stop], 16, out=out.view(np.uint32),
                          dtype=np.uint32)
        return out

    def dense(self):
        return self.rows(0, len(self), np.empty((len(self), self.dim), np.float32))

    def arrays(self):
        return {"bfloat16_bits": self.values}

    @classmethod
    def from_arrays(cls, arrays):
        return cls(np.ascontiguousarray(arrays["bfloat16_bits"], np.uint16))


class Int8Rows(Float32Rows):
    """Each row as int8 codes times one float32 scale (its largest |value| / 127)."""

    name = "int8"
    decodes = True

    def __init__(self, values, scales):
        super().__init__(values)
        self.scales = scales

    @classmethod
    def encode(cls, embeddings, chunk=1 << 16):
        embeddings = np.asarray(embeddings, np.float32)
        codes = np.empty(embeddings.shape, np.int8)
        scales = np.empty(len(embeddings), np.float32)
        for start in range(0, len(embeddings), chunk):  # bounded float32 temporaries
            rows = embeddings[start:start + chunk]
            scale = np.abs(rows).max(axis=1) / 127
            scale[scale == 0] = 1
            codes[start:start + chunk] = np.rint(rows / scale[:, None])
            scales[start:start + chunk] = scale
        return cls(codes, scales)

    @property
    def nbytes(self):
        return self.values.nbytes + self.scales.nbytes

    def rows(self, start, stop, out=None):
        out = out[:stop - start]
        np.multiply(self.values[start:stop], self.scales[start:stop, None], out=out)
        return out

    dense = BFloat16Rows.dense

    def arrays(self):
        return {"int8_codes": self.values, "int8_scales": self.scales}

    @classmethod
    def from_arrays(cls, arrays):
        return cls(np.ascontiguousarray(arrays["int8_codes"], np.int8),
                   np.ascontiguousarray(arrays["int8_scales"], np.float32))


STORAGES = {storage.name: storage for storage in (Float32Rows, BFloat16Rows, Int8Rows)}


def storage_class(name):
    """The storage called `name`, or a ValueError listing the choices."""
    if name not in STORAGES:
        raise ValueError(f"storage must be one of {tuple(STORAGES)}, received {name!r}.")
    return STORAGES[name]
