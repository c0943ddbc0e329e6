#!/usr/bin/python3
"""convert.py — read llama-family models in every format attend knows, write them as GGUF.

    convert.py stories260K.bin --tokenizer tok512.bin --type Q8_0 --out stories260K-q8.gguf
    convert.py trained.npz --out model.gguf

Inputs (chosen by the file's first bytes):
  llama2.c v0   7 int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len; a
                negative vocab_size means a separate classifier), then float32 token_embedding,
                rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final, freq_cis_real,
                freq_cis_imag (unused: RoPE is recomputed), [wcls]
  llama2.c v1   magic "ak42", version 1, the 7 ints, uint8 shared_classifier, zeros to byte 256,
                then rms_att, rms_ffn, rms_final, token_embedding, wq, wk, wv, wo, w1, w2, w3, [wcls]
  llama2.c v2   the same header plus int32 group_size; fp32 norms, then each matrix as int8 values
                and fp32 group scales (read here dequantized; see export_llama2c.py)
  GGUF          (dequantized to float32, so a file can be re-typed)
  npz           the trainer's arrays: GGUF tensor names shaped (out, in), a JSON `config`, and
                tokenizer.pieces/scores/types/bos/eos/unk
llama2.c's w1, w2, w3 are ffn_gate, ffn_down, ffn_up. The vocabulary of a llama2.c file comes
from its tokenizer.bin (--tokenizer).

The in-memory form shared by the scripts is a Model: a config dict, float32 tensors under their
GGUF names in numpy (out, in) order, and an optional vocab dict. Other scripts import this module.
"""
import argparse
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf  # noqa: E402

LLAMA2C_MAGIC = 0x616B3432      # "ak42"
LLAMA2C_HEADER_BYTES = 256
LLAMA2C_NORM_EPS = 1e-5
DEFAULT_ROPE_BASE = 10000.0

# The per-layer GGUF tensors and llama2.c's names for them, in llama2.c's order.
LAYER_MATRICES = [("attn_q", "wq"), ("attn_k", "wk"), ("attn_v", "wv"), ("attn_output", "wo"),
                  ("ffn_gate", "w1"), ("ffn_down", "w2"), ("ffn_up", "w3")]


class Model:
    """config: dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, max_seq_len, rope_base,
    rope_dim, norm_eps, tied. tensors: {gguf name: float32 array}. vocab: None or {pieces (list of
    str), scores (float32), types (int32), bos, eos, unk}."""

    def __init__(self, config, tensors, vocab=None, source=""):
        self.config, self.tensors, self.vocab, self.source = config, tensors, vocab, source


def make_config(dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, max_seq_len,
                rope_base=DEFAULT_ROPE_BASE, rope_dim=None, norm_eps=LLAMA2C_NORM_EPS, tied=True):
    if dim % n_heads or n_heads % n_kv_heads:
        raise ValueError(f"dim {dim}, n_heads {n_heads}, n_kv_heads {n_kv_heads}: heads must divide dim and kv heads divide heads")
    return dict(dim=dim, hidden_dim=hidden_dim, n_layers=n_layers, n_heads=n_heads,
                n_kv_heads=n_kv_heads, vocab_size=vocab_size, max_seq_len=max_seq_len,
                rope_base=float(rope_base), rope_dim=rope_dim or dim // n_heads,
                norm_eps=float(norm_eps), tied=bool(tied))


def tensor_shapes(c):
    """{gguf name: numpy shape} of every tensor of a model with config c, in file order."""
    head_dim = c["dim"] // c["n_heads"]
    kv_dim = c["n_kv_heads"] * head_dim
    dim, hidden = c["dim"], c["hidden_dim"]
    shapes = {"token_embd.weight": (c["vocab_size"], dim)}
    for layer in range(c["n_layers"]):
        p = f"blk.{layer}."
        shapes.update({p + "attn_norm.weight": (dim,), p + "attn_q.weight": (dim, dim),
                       p + "attn_k.weight": (kv_dim, dim), p + "attn_v.weight": (kv_dim, dim),
                       p + "attn_output.weight": (dim, dim), p + "ffn_norm.weight": (dim,),
                       p + "ffn_gate.weight": (hidden, dim), p + "ffn_down.weight": (dim, hidden),
                       p + "ffn_up.weight": (hidden, dim)})
    shapes["output_norm.weight"] = (dim,)
    if not c["tied"]:
        shapes["output.weight"] = (c["vocab_size"], dim)
    return shapes


# ==== llama2.c checkpoints ===================================================================

def _llama2c_header(data, path):
    """(version, config without vocab sign, shared_classifier, group_size, weights offset)."""
    if data.size < 28:
        raise ValueError(f"{path}: {data.size} bytes is too short for a llama2.c header")
    (first,) = struct.unpack("<I", data[:4].tobytes())
    if first != LLAMA2C_MAGIC:
        dim, hidden, layers, heads, kv_heads, vocab, seq = struct.unpack("<7i", data[:28].tobytes())
        return 0, (dim, hidden, layers, heads, kv_heads, abs(vocab), seq), vocab > 0, 0, 28
    if data.size < LLAMA2C_HEADER_BYTES:
        raise ValueError(f"{path}: {data.size} bytes is too short for a llama2.c v1/v2 header")
    (version,) = struct.unpack("<i", data[4:8].tobytes())
    if version not in (1, 2):
        raise ValueError(f"{path}: llama2.c version {version} unsupported (want 0, 1 or 2)")
    ints = struct.unpack("<7i", data[8:36].tobytes())
    shared = bool(data[36])
    group_size = struct.unpack("<i", data[37:41].tobytes())[0] if version == 2 else 0
    return version, ints, shared, group_size, LLAMA2C_HEADER_BYTES


def load_llama2c(path, tokenizer_path=None):
    data = np.memmap(path, dtype=np.uint8, mode="r") if os.path.getsize(path) else np.zeros(0, np.uint8)
    version, ints, shared, group_size, offset = _llama2c_header(data, path)
    dim, hidden, n_layers, n_heads, n_kv_heads, vocab_size, seq_len = ints
    for name, v in zip(("dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"), ints):
        if v <= 0:
            raise ValueError(f"{path}: header field {name} = {v}, must be positive")
    c = make_config(dim, hidden, n_layers, n_heads, n_kv_heads, vocab_size, seq_len, tied=shared)
    shapes = tensor_shapes(c)
    L = n_layers
    layer_names = lambda suffix: [f"blk.{i}.{suffix}.weight" for i in range(L)]

    # The order the file stores tensors in, each a list of GGUF names read back to back.
    norms = [layer_names("attn_norm"), layer_names("ffn_norm"), ["output_norm.weight"]]
    matrices = [["token_embd.weight"]] + [layer_names(g) for g, _ in LAYER_MATRICES]
    classifier = [] if shared else [["output.weight"]]
    if version == 0:
        order = ([["token_embd.weight"], layer_names("attn_norm")]
                 + [layer_names(g) for g, _ in LAYER_MATRICES[:4]] + [layer_names("ffn_norm")]
                 + [layer_names(g) for g, _ in LAYER_MATRICES[4:]] + [["output_norm.weight"]])
        freq_cis_floats = seq_len * (dim // n_heads // 2) * 2
    else:
        order = norms + matrices
        freq_cis_floats = 0

    tensors, pos = {}, offset

    def take(nbytes, what):
        nonlocal pos
        if pos + nbytes > data.size:
            raise ValueError(f"{path}: {what} needs bytes [{pos}, {pos + nbytes}) but the file has {data.size}")
        chunk = data[pos:pos + nbytes]
        pos += nbytes
        return chunk

    def read_f32(name):
        n = int(np.prod(shapes[name]))
        tensors[name] = take(4 * n, name).view("<f4").astype(np.float32).reshape(shapes[name])

    def read_q8(name):
        n = int(np.prod(shapes[name]))
        q = take(n, name).view(np.int8).astype(np.float32)
        s = take(4 * (n // group_size), name + " scales").view("<f4")
        tensors[name] = (q.reshape(-1, group_size) * s[:, None]).reshape(shapes[name])

    if version == 2:
        if group_size <= 0 or dim % group_size:
            raise ValueError(f"{path}: group_size {group_size} does not divide dim {dim}")
        for group in norms:
            for name in group:
                read_f32(name)
        for group in matrices + classifier:
            for name in group:
                read_q8(name)
    else:
        for group in order:
            for name in group:
                read_f32(name)
        take(4 * freq_cis_floats, "freq_cis")
        for group in classifier:
            for name in group:
                read_f32(name)
    if pos != data.size:
        raise ValueError(f"{path}: {data.size - pos} bytes left after the weights (header says {ints})")

    tensors = {name: tensors[name] for name in shapes}      # GGUF order
    vocab = load_llama2c_tokenizer(tokenizer_path, vocab_size) if tokenizer_path else None
    return Model(c, tensors, vocab, f"llama2.c v{version}")


def load_llama2c_tokenizer(path, vocab_size):
    """A llama2.c tokenizer.bin: int32 max_token_length, then per token float32 score, int32
    length, bytes. llama2.c's exporter replaced SentencePiece's '▁' by ' ' and wrote BOS/EOS as
    "\\n<s>\\n" / "\\n</s>\\n"; undo both so the pieces are SentencePiece's again."""
    raw = open(path, "rb").read()
    pos = 4
    pieces, scores = [], []
    for i in range(vocab_size):
        if pos + 8 > len(raw):
            raise ValueError(f"{path}: ends at token {i}, the model has vocab_size {vocab_size}")
        score, n = struct.unpack("<fi", raw[pos:pos + 8])
        if n < 0 or pos + 8 + n > len(raw):
            raise ValueError(f"{path}: token {i} length {n} runs past the end")
        piece = raw[pos + 8:pos + 8 + n].decode("utf-8", errors="surrogateescape")
        pos += 8 + n
        piece = {"\n<s>\n": "<s>", "\n</s>\n": "</s>"}.get(piece, piece).replace(" ", "\u2581")
        pieces.append(piece)
        scores.append(score)
    types = [token_type(p) for p in pieces]
    index = {p: i for i, p in enumerate(pieces)}
    return dict(pieces=pieces, scores=np.array(scores, np.float32), types=np.array(types, np.int32),
                bos=index.get("<s>", -1), eos=index.get("</s>", -1), unk=index.get("<unk>", -1))


def token_type(piece):
    """SentencePiece piece type from the piece text: 2 unknown, 3 control, 6 byte, else 1 normal."""
    if piece == "<unk>":
        return 2
    if piece in ("<s>", "</s>"):
        return 3
    if len(piece) == 6 and piece.startswith("<0x") and piece.endswith(">"):
        try:
            int(piece[3:5], 16)
            return 6
        except ValueError:
            pass
    return 1


# ==== the trainer's npz ======================================================================

def load_npz(path):
    z = np.load(path, allow_pickle=False)
    if "config" not in z:
        raise ValueError(f"{path}: no `config` array")
    j = json.loads(str(z["config"][()]))
    try:
        c = make_config(int(j["dim"]), int(j["hidden_dim"]), int(j["n_layers"]), int(j["n_heads"]),
                        int(j["n_kv_heads"]), int(j["vocab_size"]), int(j["max_seq_len"]),
                        rope_base=j.get("rope_base", DEFAULT_ROPE_BASE), norm_eps=j.get("norm_eps", LLAMA2C_NORM_EPS),
                        tied="output.weight" not in z)
    except KeyError as e:
        raise ValueError(f"{path}: config lacks {e}")
    tensors = {}
    for name, shape in tensor_shapes(c).items():
        if name not in z:
            raise ValueError(f"{path}: missing array {name}")
        a = z[name].astype(np.float32)
        if a.shape != shape:
            raise ValueError(f"{path}: {name} has shape {a.shape}, expected {shape}")
        tensors[name] = a
    vocab = None
    if "tokenizer.pieces" in z:
        vocab = dict(pieces=[str(p) for p in z["tokenizer.pieces"]],
                     scores=z["tokenizer.scores"].astype(np.float32),
                     types=z["tokenizer.types"].astype(np.int32),
                     bos=int(z["tokenizer.bos"]), eos=int(z["tokenizer.eos"]), unk=int(z["tokenizer.unk"]))
    return Model(c, tensors, vocab, "npz")


# ==== GGUF ===================================================================================

def vocab_from_gguf(g):
    m = g.metadata if isinstance(g, gguf.GGUFFile) else g
    if "tokenizer.ggml.tokens" not in m:
        return None
    pieces = list(m["tokenizer.ggml.tokens"])
    n = len(pieces)
    scores = np.asarray(m.get("tokenizer.ggml.scores", np.zeros(n)), np.float32)
    types = np.asarray(m.get("tokenizer.ggml.token_type", [token_type(p) for p in pieces]), np.int32)
    get = lambda k: int(m[k]) if k in m and int(m[k]) < n else -1
    return dict(pieces=pieces, scores=scores, types=types, bos=get("tokenizer.ggml.bos_token_id"),
                eos=get("tokenizer.ggml.eos_token_id"), unk=get("tokenizer.ggml.unknown_token_id"))


def load_gguf(path):
    g = gguf.read(path)
    m = g.metadata
    if m.get("general.architecture") != "llama":
        raise ValueError(f"{path}: general.architecture is {m.get('general.architecture')!r}, want 'llama'")

    def need(key):
        if key not in m:
            raise ValueError(f"{path}: missing {key}")
        return int(m[key])
    dim, n_heads = need("llama.embedding_length"), need("llama.attention.head_count")
    emb = g.tensors.get("token_embd.weight")
    if emb is None:
        raise ValueError(f"{path}: missing token_embd.weight")
    c = make_config(dim, need("llama.feed_forward_length"), need("llama.block_count"), n_heads,
                    int(m.get("llama.attention.head_count_kv", n_heads)), emb.shape[0],
                    int(m.get("llama.context_length", 2048)),
                    rope_base=float(m.get("llama.rope.freq_base", DEFAULT_ROPE_BASE)),
                    rope_dim=int(m.get("llama.rope.dimension_count", dim // n_heads)),
                    norm_eps=float(m.get("llama.attention.layer_norm_rms_epsilon", LLAMA2C_NORM_EPS)),
                    tied="output.weight" not in g.tensors)
    c["rope_scale"] = rope_scale_of(m, path)
    tensors = {}
    for name, shape in tensor_shapes(c).items():
        t = g.tensors.get(name)
        if t is None:
            raise ValueError(f"{path}: missing tensor {name}")
        if t.shape != shape:
            raise ValueError(f"{path}: {name} has shape {t.shape}, expected {shape}")
        tensors[name] = t.to_float32()
    return Model(c, tensors, vocab_from_gguf(g), f"GGUF v{g.version}")


def rope_scale_of(m, path):
    """The linear RoPE scaling factor of GGUF metadata m (1.0: none), as llama.cpp reads it: type
    "linear" (or no type, llama.cpp's default) with rope.scaling.factor (or the older
    rope.scale_linear); type "none" is off; any other type is refused, never ignored."""
    kind = m.get("llama.rope.scaling.type")
    factor = float(m.get("llama.rope.scaling.factor", m.get("llama.rope.scale_linear", 1.0)) or 1.0)
    if kind == "none":
        return 1.0
    if kind not in (None, "linear"):
        raise ValueError(f"{path}: llama.rope.scaling.type {kind!r} is not supported (only 'linear' and 'none')")
    return factor


def load_model(path, tokenizer_path=None):
    """Any supported file, by its first bytes (npz by its zip magic)."""
    with open(path, "rb") as f:
        head = f.read(4)
    if head == b"GGUF":
        return load_gguf(path)
    if head[:2] == b"PK":
        return load_npz(path)
    return load_llama2c(path, tokenizer_path)


def write_gguf(model, path, type_name="F32", name="attend", extra_kv=None):
    """Write model as a llama GGUF in file type type_name (see tensor_types): 1-D norm weights
    stay F32, matrices take the type type_name gives them."""
    c, v = model.config, model.vocab
    types = tensor_types(c, type_name)
    w = gguf.GGUFWriter()
    add_llama_metadata(w, c, name, gguf.TYPE_IDS[FILE_TYPE_BASE.get(type_name, type_name)])
    if v is not None:
        add_vocab(w, v)
    for key, (vtype, value, array_type) in (extra_kv or {}).items():
        w.add(key, vtype, value, array_type)
    for tname, shape in tensor_shapes(c).items():
        w.add_tensor(tname, shape, types[tname], model.tensors[tname])
    w.write(path)


def storage_type(shape, ttype):
    """ttype for a matrix whose rows are whole blocks of it, else F32; F32 for 1-D tensors."""
    if len(shape) == 1:
        return gguf.F32
    if shape[-1] % gguf.BLOCK[ttype][0]:
        return gguf.F32
    return ttype


# ==== file types: which storage type each tensor gets ========================================
# A storage type's name (F32, F16, BF16, Q8_0, Q4_0, Q2_K .. Q6_K) stores every matrix in
# that type, as llama.cpp's `llama-quantize --pure` does (its Q6_K file is all Q6_K anyway).
# Q4_K_M and Q5_K_M mix types as llama.cpp's quantizer does for llama models (llama-quant.cpp,
# llama_tensor_get_type), in the part of its rule that applies to our tensors:
#   - output.weight is Q6_K; when the model has none (tied embeddings), token_embd.weight, which
#     then serves as the output, is Q6_K;
#   - otherwise token_embd.weight takes the base type (Q4_K / Q5_K);
#   - blk.i.attn_v.weight and blk.i.ffn_down.weight are Q6_K in the layers that
#     use_more_bits(i, n_layers) picks: the first eighth, the last eighth, and every third layer
#     in between; the base type elsewhere;
#   - every other matrix takes the base type.
# Not reproduced: the 70B rule (attn_v of models llama.cpp classes as 70B goes Q4_K -> Q5_K) and
# the mixture-of-experts rules (we have no experts). A matrix whose rows are not whole 256-weight
# super-blocks falls back to Q8_0 (llama.cpp uses Q5_0 / Q5_1 / Q8_0, the first two of which
# attend does not read), or to F32 when its rows are not whole 32-weight blocks either.
FILE_TYPES = ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q4_K_M", "Q5_K_M"]
FILE_TYPE_BASE = {"Q4_K_M": "Q4_K", "Q5_K_M": "Q5_K"}


def use_more_bits(layer, n_layers):
    """llama.cpp's choice of the layers whose attn_v / ffn_down get more bits in *_M files."""
    return layer < n_layers // 8 or layer >= 7 * n_layers // 8 or (layer - n_layers // 8) % 3 == 2


def tensor_types(c, file_type):
    """{tensor name: storage type id} for a model with config c written as file_type."""
    if file_type not in FILE_TYPES:
        raise ValueError(f"unknown file type {file_type!r} (have: {', '.join(FILE_TYPES)})")
    base = gguf.TYPE_IDS[FILE_TYPE_BASE.get(file_type, file_type)]
    mixed = file_type in FILE_TYPE_BASE
    types = {}
    for tname, shape in tensor_shapes(c).items():
        ttype = base
        if mixed:
            is_output = tname == "output.weight" or (c["tied"] and tname == "token_embd.weight")
            layer = int(tname.split(".")[1]) if tname.startswith("blk.") else -1
            more_bits = (tname.endswith(".attn_v.weight") or tname.endswith(".ffn_down.weight")) \
                and use_more_bits(layer, c["n_layers"])
            if is_output or more_bits:
                ttype = gguf.Q6_K
        if len(shape) > 1 and ttype in (gguf.Q2_K, gguf.Q3_K, gguf.Q4_K, gguf.Q5_K, gguf.Q6_K) \
                and shape[-1] % gguf.BLOCK[ttype][0]:
            ttype = gguf.Q8_0       # the fallback described above; storage_type then may pick F32
        types[tname] = storage_type(shape, ttype)
    return types


# llama.cpp's general.file_type numbers (LLAMA_FTYPE_*); a pure Q3_K / Q4_K / Q5_K file says
# Q3_K_M / Q4_K_M / Q5_K_M, as llama-quantize --pure does
FILE_TYPE = {gguf.F32: 0, gguf.F16: 1, gguf.Q4_0: 2, gguf.Q8_0: 7, gguf.BF16: 32,
             gguf.Q2_K: 10, gguf.Q3_K: 12, gguf.Q4_K: 15, gguf.Q5_K: 17, gguf.Q6_K: 18}


def add_llama_metadata(w, c, name, ttype):
    w.add("general.architecture", gguf.STRING, "llama")
    w.add("general.name", gguf.STRING, name)
    w.add("general.file_type", gguf.UINT32, FILE_TYPE[ttype])
    w.add("llama.context_length", gguf.UINT32, c["max_seq_len"])
    w.add("llama.embedding_length", gguf.UINT32, c["dim"])
    w.add("llama.block_count", gguf.UINT32, c["n_layers"])
    w.add("llama.feed_forward_length", gguf.UINT32, c["hidden_dim"])
    w.add("llama.attention.head_count", gguf.UINT32, c["n_heads"])
    w.add("llama.attention.head_count_kv", gguf.UINT32, c["n_kv_heads"])
    w.add("llama.rope.dimension_count", gguf.UINT32, c["rope_dim"])
    w.add("llama.rope.freq_base", gguf.FLOAT32, c["rope_base"])
    if c.get("rope_scale", 1.0) != 1.0:
        w.add("llama.rope.scaling.type", gguf.STRING, "linear")
        w.add("llama.rope.scaling.factor", gguf.FLOAT32, c["rope_scale"])
    w.add("llama.attention.layer_norm_rms_epsilon", gguf.FLOAT32, c["norm_eps"])
    w.add("llama.vocab_size", gguf.UINT32, c["vocab_size"])


def add_vocab(w, v):
    w.add("tokenizer.ggml.model", gguf.STRING, "llama")
    w.add("tokenizer.ggml.tokens", gguf.ARRAY, list(v["pieces"]), gguf.STRING)
    w.add("tokenizer.ggml.scores", gguf.ARRAY, np.asarray(v["scores"], np.float32), gguf.FLOAT32)
    w.add("tokenizer.ggml.token_type", gguf.ARRAY, np.asarray(v["types"], np.int32), gguf.INT32)
    for key, field in (("bos", "bos"), ("eos", "eos"), ("unknown", "unk")):
        if v[field] >= 0:
            w.add(f"tokenizer.ggml.{key}_token_id", gguf.UINT32, v[field])


def main(argv=None):
    ap = argparse.ArgumentParser(description="Convert a llama2.c checkpoint, GGUF or trainer npz to GGUF.")
    ap.add_argument("model")
    ap.add_argument("--tokenizer", help="llama2.c tokenizer.bin for a llama2.c checkpoint")
    ap.add_argument("--type", default="F32", choices=FILE_TYPES,
                    help="storage type of the matrices, or a mix: Q4_K_M, Q5_K_M (see tensor_types)")
    ap.add_argument("--name", default=None, help="general.name (default: the input's file name)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    try:
        model = load_model(a.model, a.tokenizer)
    except (ValueError, OSError) as e:
        sys.exit(f"convert.py: {e}")
    if model.vocab is None:
        print(f"convert.py: warning: {a.model} has no vocabulary (give --tokenizer); the GGUF will have none",
              file=sys.stderr)
    elif len(model.vocab["pieces"]) != model.config["vocab_size"]:
        sys.exit(f"convert.py: vocabulary has {len(model.vocab['pieces'])} pieces, model vocab_size is {model.config['vocab_size']}")
    name = a.name or os.path.splitext(os.path.basename(a.model))[0]
    write_gguf(model, a.out, a.type, name)
    c = model.config
    print(f"{a.model} ({model.source}) -> {a.out}: {a.type}, dim {c['dim']}, {c['n_layers']} layers, "
          f"{c['n_heads']}/{c['n_kv_heads']} heads, vocab {c['vocab_size']}, {'tied' if c['tied'] else 'untied'}")


if __name__ == "__main__":
    main()
