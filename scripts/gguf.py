"""gguf.py — read and write GGUF v3 files, and ggml's tensor storage types, in numpy.

Layout of a GGUF file (all little-endian):
    magic "GGUF", uint32 version, uint64 tensor_count, uint64 kv_count,
    kv_count key/value pairs:   key (string), uint32 value type, value
    tensor_count tensor infos:  name (string), uint32 n_dims, uint64 dims[n_dims] (dims[0] varies
                                fastest), uint32 ggml type, uint64 offset into the data section
    padding to general.alignment (default 32), then the tensor data, each tensor aligned too.
A string is a uint64 byte length and the bytes; an array is a uint32 element type, a uint64 count
and the elements.  A numpy (rows, cols) matrix therefore has GGUF dims [cols, rows].

Storage types (ggml's block layouts, so files written here load in the C engine in place):
    F32, F16, BF16   one value per element
    Q8_0             blocks of 32: fp16 scale d, 32 int8 q;           w = q * d
    Q4_0             blocks of 32: fp16 scale d, 16 bytes of nibbles; w = (q - 8) * d
    Q2_K .. Q6_K     super-blocks of 256 with sub-block scales (kquants.py describes them)
    Q8_K             super-blocks of 256 int8 for activations (tests only)
Q8_0/Q4_0 quantizers round exactly as ggml's reference (scalar) quantizers do, in float32
arithmetic; the k-quant quantizers are good but not ggml's bit for bit (decoding is).

Used as a module by the other scripts; `python3 gguf.py FILE` prints a file's metadata and tensors.
"""
import os
import struct
import sys

import numpy as np

import kquants

GGUF_MAGIC = 0x46554747          # "GGUF" read as a little-endian uint32
GGUF_VERSION = 3
DEFAULT_ALIGNMENT = 32

# ---- metadata value types -----------------------------------------------------------------
UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 = range(13)

# scalar value types with a fixed width: struct format character
_SCALAR_FORMAT = {UINT8: "B", INT8: "b", UINT16: "H", INT16: "h", UINT32: "I", INT32: "i",
                  FLOAT32: "f", BOOL: "?", UINT64: "Q", INT64: "q", FLOAT64: "d"}
_SCALAR_DTYPE = {UINT8: "<u1", INT8: "<i1", UINT16: "<u2", INT16: "<i2", UINT32: "<u4", INT32: "<i4",
                 FLOAT32: "<f4", BOOL: "<u1", UINT64: "<u8", INT64: "<i8", FLOAT64: "<f8"}
VALUE_TYPE_NAMES = ["UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32", "BOOL",
                    "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64"]

# ---- tensor storage types (ggml type ids) ---------------------------------------------------
F32, F16, Q4_0, Q8_0, BF16 = 0, 1, 2, 8, 30
Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K = kquants.Q2_K, kquants.Q3_K, kquants.Q4_K, kquants.Q5_K, kquants.Q6_K, kquants.Q8_K
TYPE_NAMES = {F32: "F32", F16: "F16", Q4_0: "Q4_0", Q8_0: "Q8_0", BF16: "BF16", **kquants.NAMES}
TYPE_IDS = {name: tid for tid, name in TYPE_NAMES.items()}
# (elements per block, bytes per block)
BLOCK = {F32: (1, 4), F16: (1, 2), BF16: (1, 2), Q8_0: (32, 34), Q4_0: (32, 18),
         **{t: (kquants.QK_K, b) for t, b in kquants.BLOCK_BYTES.items()}}
QK = 32   # elements in a Q8_0 / Q4_0 block


def row_bytes(ttype, n):
    """Bytes of one stored row of n elements."""
    block_size, block_bytes = BLOCK[ttype]
    if n % block_size:
        raise ValueError(f"{TYPE_NAMES[ttype]}: row length {n} is not a multiple of {block_size}")
    return n // block_size * block_bytes


# ==== half precision =========================================================================

def fp32_to_fp16_bits(x):
    """IEEE half, round to nearest even (what F16C and ggml's fallback do)."""
    return np.asarray(x, dtype=np.float32).astype(np.float16).view(np.uint16)


def fp16_bits_to_fp32(h):
    return np.asarray(h, dtype=np.uint16).view(np.float16).astype(np.float32)


def fp32_to_bf16_bits(x):
    """bfloat16 = the top half of a float32, rounded to nearest even; NaN stays a quiet NaN."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    is_nan = (u & 0x7FFFFFFF) > 0x7F800000
    quiet_nan = (u >> 16) | 0x40
    return np.where(is_nan, quiet_nan, rounded).astype(np.uint16)


def bf16_bits_to_fp32(h):
    return (np.asarray(h, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


# ==== quantizers: float32 values -> stored bytes ============================================

def _blocks(x):
    x = np.ascontiguousarray(x, dtype=np.float32).reshape(-1)
    if x.size % QK:
        raise ValueError(f"{x.size} values are not a whole number of {QK}-element blocks")
    return x.reshape(-1, QK)


def quantize_q8_0(x):
    """d = amax / 127; q = round(x * (1/d)) with ties away from zero (C roundf)."""
    blocks = _blocks(x)
    amax = np.abs(blocks).max(axis=1)
    d = amax / np.float32(127)
    with np.errstate(divide="ignore"):
        inv_d = np.where(d != 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
    scaled = blocks * inv_d[:, None]
    q = (np.sign(scaled) * np.floor(np.abs(scaled) + np.float32(0.5))).astype(np.int8)
    out = np.empty((blocks.shape[0], 34), dtype=np.uint8)
    out[:, 0:2] = fp32_to_fp16_bits(d).reshape(-1, 1).view(np.uint8)
    out[:, 2:] = q.view(np.uint8)
    return out.reshape(-1)


def quantize_q4_0(x):
    """max = the element of largest |x| (first one on ties), sign kept; d = max / -8;
    q = min(15, trunc(x * (1/d) + 8.5)). Element j < 16 goes in the low nibble of byte j,
    element j >= 16 in the high nibble of byte j - 16."""
    blocks = _blocks(x)
    idx = np.abs(blocks).argmax(axis=1)                 # argmax keeps the first maximum, as ggml
    signed_max = blocks[np.arange(blocks.shape[0]), idx]
    d = signed_max / np.float32(-8)
    with np.errstate(divide="ignore"):
        inv_d = np.where(d != 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
    shifted = blocks * inv_d[:, None] + np.float32(8.5)     # in [0.5, 16.5]: trunc == floor
    q = np.minimum(15, np.floor(shifted)).astype(np.uint8)
    out = np.empty((blocks.shape[0], 18), dtype=np.uint8)
    out[:, 0:2] = fp32_to_fp16_bits(d).reshape(-1, 1).view(np.uint8)
    out[:, 2:] = q[:, :16] | (q[:, 16:] << 4)
    return out.reshape(-1)


def quantize(x, ttype):
    """The stored bytes (uint8 array) of the float values x in storage type ttype."""
    x = np.asarray(x)
    if ttype == F32:
        return np.ascontiguousarray(x, dtype="<f4").reshape(-1).view(np.uint8)
    if ttype == F16:
        return fp32_to_fp16_bits(x).reshape(-1).view(np.uint8)
    if ttype == BF16:
        return fp32_to_bf16_bits(x).reshape(-1).view(np.uint8)
    if ttype == Q8_0:
        return quantize_q8_0(x)
    if ttype == Q4_0:
        return quantize_q4_0(x)
    if ttype in kquants.NAMES:
        return kquants.quantize(x, ttype)
    raise ValueError(f"quantize: unsupported type {ttype}")


# ==== dequantizers: stored bytes -> float32 values ==========================================

def dequantize(raw, ttype, n):
    """The n float32 values stored in raw (bytes or a uint8 array) as type ttype. Every value
    is exactly representable in float32, so widening to float64 afterwards loses nothing."""
    raw = np.frombuffer(raw, dtype=np.uint8) if not isinstance(raw, np.ndarray) else raw.reshape(-1)
    if ttype == F32:
        return raw.view("<f4")[:n].astype(np.float32)
    if ttype == F16:
        return raw.view("<u2")[:n].view(np.float16).astype(np.float32)
    if ttype == BF16:
        return bf16_bits_to_fp32(raw.view("<u2")[:n])
    if ttype == Q8_0:
        blocks = raw[: n // QK * 34].reshape(-1, 34)
        d = fp16_bits_to_fp32(np.ascontiguousarray(blocks[:, 0:2]).view("<u2")[:, 0])
        q = np.ascontiguousarray(blocks[:, 2:]).view(np.int8).astype(np.float32)
        return (q * d[:, None]).reshape(-1)
    if ttype == Q4_0:
        blocks = raw[: n // QK * 18].reshape(-1, 18)
        d = fp16_bits_to_fp32(np.ascontiguousarray(blocks[:, 0:2]).view("<u2")[:, 0])
        nibbles = blocks[:, 2:]
        q = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.float32) - 8
        return (q * d[:, None]).reshape(-1)
    if ttype in kquants.NAMES:
        return kquants.dequantize(raw, ttype, n)
    raise ValueError(f"dequantize: unsupported type {ttype}")


# ==== writer =================================================================================

class GGUFWriter:
    """Collects metadata and tensors, then writes the file in one pass.

    Metadata values carry explicit GGUF types: add(key, UINT32, 5), add(key, STRING, "llama"),
    add(key, ARRAY, ["a", "b"], STRING). Tensors are float arrays in numpy (rows, cols) order,
    quantized at write time; `data` may also be a function returning the array, so a large
    model is generated and written one tensor at a time."""

    def __init__(self):
        self.kv = {}            # key -> (value type, value, array element type)
        self.tensors = []       # (name, numpy shape, storage type, data or producer)

    def add(self, key, vtype, value, array_type=None):
        if vtype == ARRAY and array_type is None:
            raise ValueError(f"{key}: an ARRAY needs its element type")
        self.kv[key] = (vtype, value, array_type)

    def add_tensor(self, name, shape, ttype, data):
        shape = tuple(int(s) for s in shape)
        row_bytes(ttype, shape[-1])     # fail early for a row the type cannot hold
        if any(t[0] == name for t in self.tensors):
            raise ValueError(f"duplicate tensor {name}")
        self.tensors.append((name, shape, ttype, data))

    def add_raw_tensor(self, name, shape, ttype, raw):
        """A tensor whose stored bytes are already encoded (copied verbatim)."""
        self.add_tensor(name, shape, ttype, _Raw(np.frombuffer(bytes(raw), dtype=np.uint8)))

    # -- encoding --
    @staticmethod
    def _string(s):
        # surrogateescape: bytes that are not UTF-8 (the reader keeps them so) go back unchanged
        b = s.encode("utf-8", errors="surrogateescape") if isinstance(s, str) else bytes(s)
        return struct.pack("<Q", len(b)) + b

    def _value(self, vtype, value, array_type):
        if vtype == STRING:
            return self._string(value)
        if vtype == ARRAY:
            head = struct.pack("<IQ", array_type, len(value))
            if array_type == STRING:
                return head + b"".join(self._string(s) for s in value)
            if array_type == ARRAY:
                raise ValueError("nested arrays are not supported")
            return head + np.asarray(value).astype(_SCALAR_DTYPE[array_type]).tobytes()
        return struct.pack("<" + _SCALAR_FORMAT[vtype], value)

    def write(self, path):
        alignment = DEFAULT_ALIGNMENT
        if "general.alignment" in self.kv:
            alignment = int(self.kv["general.alignment"][1])
            if alignment <= 0 or alignment % 8:
                raise ValueError(f"general.alignment {alignment} must be a positive multiple of 8")
        pad = lambda n: (-n) % alignment

        infos, offset = [], 0
        for name, shape, ttype, _ in self.tensors:
            n_rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
            nbytes = n_rows * row_bytes(ttype, shape[-1])
            infos.append((name, shape, ttype, offset, nbytes))
            offset += nbytes + pad(nbytes)

        header = [struct.pack("<IIQQ", GGUF_MAGIC, GGUF_VERSION, len(self.tensors), len(self.kv))]
        for key, (vtype, value, array_type) in self.kv.items():
            header.append(self._string(key) + struct.pack("<I", vtype) + self._value(vtype, value, array_type))
        for name, shape, ttype, off, _ in infos:
            dims = shape[::-1]      # GGUF lists the fastest-varying dimension first
            header.append(self._string(name) + struct.pack(f"<I{len(dims)}QIQ", len(dims), *dims, ttype, off))
        header = b"".join(header)

        with open(path, "wb") as f:
            f.write(header + b"\0" * pad(len(header)))
            for (name, shape, ttype, data), (_, _, _, _, nbytes) in zip(self.tensors, infos):
                raw = data.raw if isinstance(data, _Raw) else None
                if raw is None:
                    values = data() if callable(data) else data
                    values = np.asarray(values)
                    if values.shape != shape:
                        raise ValueError(f"tensor {name}: data shape {values.shape} != declared {shape}")
                    raw = quantize(values, ttype)
                if raw.size != nbytes:
                    raise ValueError(f"tensor {name}: {raw.size} bytes, expected {nbytes}")
                f.write(raw.tobytes())
                f.write(b"\0" * pad(nbytes))


class _Raw:
    def __init__(self, raw):
        self.raw = raw


# ==== reader =================================================================================

class Tensor:
    """One tensor of a read file: its stored bytes (a view into the file) and how to decode them."""

    def __init__(self, name, dims, ttype, offset, raw):
        self.name, self.dims, self.type, self.offset, self.raw = name, dims, ttype, offset, raw
        self.shape = tuple(reversed(dims))      # numpy order: (rows, cols)
        self.n_elements = int(np.prod(dims)) if dims else 1

    def to_float32(self):
        return dequantize(self.raw, self.type, self.n_elements).reshape(self.shape)

    def to_float64(self):
        return self.to_float32().astype(np.float64)

    def stored(self):
        """The stored values with their own dtype (F32/F16), bf16 as uint16, blocks as uint8 rows."""
        if self.type == F32:
            return self.raw.view("<f4").reshape(self.shape)
        if self.type == F16:
            return self.raw.view("<f2").reshape(self.shape)
        if self.type == BF16:
            return self.raw.view("<u2").reshape(self.shape)
        return self.raw.reshape(self.shape[:-1] + (-1,))


class GGUFFile:
    """A parsed GGUF file: .version, .alignment, .metadata {key: value}, .value_types
    {key: (type, array element type or None)}, .tensors {name: Tensor} in file order."""

    def __init__(self, path):
        self.path = path
        # mapped, not read: tensors are views into the file until someone converts them
        self.data = np.memmap(path, dtype=np.uint8, mode="r") if os.path.getsize(path) else np.zeros(0, np.uint8)
        self.pos = 0
        self._parse()

    def _take(self, n, what):
        if n < 0 or self.pos + n > self.data.size:
            raise ValueError(f"{self.path}: {what} at byte {self.pos} runs past the end ({self.data.size} bytes)")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def _unpack(self, fmt, what):
        size = struct.calcsize("<" + fmt)
        return struct.unpack("<" + fmt, self._take(size, what).tobytes())

    def _string(self, what):
        (n,) = self._unpack("Q", what + " length")
        return self._take(n, what).tobytes().decode("utf-8", errors="surrogateescape")

    def _value(self, vtype, key):
        if vtype == STRING:
            return self._string(key)
        if vtype == ARRAY:
            array_type, n = self._unpack("IQ", key + " array header")
            if array_type == STRING:
                return [self._string(f"{key}[{i}]") for i in range(n)], array_type
            if array_type not in _SCALAR_DTYPE:
                raise ValueError(f"{self.path}: {key}: unsupported array element type {array_type}")
            dtype = np.dtype(_SCALAR_DTYPE[array_type])
            arr = self._take(n * dtype.itemsize, key).view(dtype).copy()
            return (arr.astype(bool) if array_type == BOOL else arr), array_type
        if vtype not in _SCALAR_FORMAT:
            raise ValueError(f"{self.path}: {key}: unknown value type {vtype}")
        return self._unpack(_SCALAR_FORMAT[vtype], key)[0]

    def _parse(self):
        magic, self.version = self._unpack("II", "header")
        if magic != GGUF_MAGIC:
            raise ValueError(f"{self.path}: not a GGUF file (magic 0x{magic:08x})")
        if self.version not in (2, 3):
            raise ValueError(f"{self.path}: GGUF version {self.version} unsupported (want 2 or 3)")
        n_tensors, n_kv = self._unpack("QQ", "header counts")
        self.metadata, self.value_types = {}, {}
        for _ in range(n_kv):
            key = self._string("key")
            (vtype,) = self._unpack("I", key + " type")
            value = self._value(vtype, key)
            array_type = None
            if vtype == ARRAY:
                value, array_type = value
            self.metadata[key] = value
            self.value_types[key] = (vtype, array_type)
        self.alignment = int(self.metadata.get("general.alignment", DEFAULT_ALIGNMENT))
        infos = []
        for _ in range(n_tensors):
            name = self._string("tensor name")
            (n_dims,) = self._unpack("I", name + " n_dims")
            if n_dims > 4:
                raise ValueError(f"{self.path}: tensor {name}: {n_dims} dims (at most 4)")
            dims = list(self._unpack(f"{n_dims}Q", name + " dims"))
            ttype, offset = self._unpack("IQ", name + " type/offset")
            infos.append((name, dims, ttype, offset))
        self.data_offset = self.pos + (-self.pos) % self.alignment
        self.tensors = {}
        for name, dims, ttype, offset in infos:
            if ttype not in BLOCK:
                raise ValueError(f"{self.path}: tensor {name}: unsupported type {ttype}")
            if offset % self.alignment:
                raise ValueError(f"{self.path}: tensor {name}: offset {offset} not aligned to {self.alignment}")
            n_rows = int(np.prod(dims[1:])) if len(dims) > 1 else 1
            nbytes = n_rows * row_bytes(ttype, dims[0])
            start = self.data_offset + offset
            if start + nbytes > self.data.size:
                raise ValueError(f"{self.path}: tensor {name}: data [{start}, {start + nbytes}) past end of file")
            self.tensors[name] = Tensor(name, dims, ttype, offset, self.data[start:start + nbytes])


def read(path):
    return GGUFFile(path)


def read_gguf(path, dequantize_to_float64=False):
    """(metadata dict, {name: numpy array}): stored values (see Tensor.stored), or every tensor
    dequantized to float64 in (rows, cols) order when asked."""
    g = GGUFFile(path)
    convert = (lambda t: t.to_float64()) if dequantize_to_float64 else (lambda t: t.stored())
    return g.metadata, {name: convert(t) for name, t in g.tensors.items()}


def _describe(path):
    g = GGUFFile(path)
    print(f"{path}: GGUF v{g.version}, {len(g.metadata)} kv, {len(g.tensors)} tensors, alignment {g.alignment}")
    for key, value in g.metadata.items():
        vtype, array_type = g.value_types[key]
        if vtype == ARRAY:
            shown = list(value[:5])
            print(f"  {key}: ARRAY[{VALUE_TYPE_NAMES[array_type]} x {len(value)}] {shown}{' ...' if len(value) > 5 else ''}")
        else:
            print(f"  {key}: {VALUE_TYPE_NAMES[vtype]} {value!r}")
    for t in g.tensors.values():
        print(f"  {t.name}: {TYPE_NAMES[t.type]} dims {t.dims} offset {t.offset}")


if __name__ == "__main__":
    for p in sys.argv[1:]:
        _describe(p)
