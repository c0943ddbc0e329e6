#!/usr/bin/python3
"""make_hostile.py — malformed model and tokenizer files, made from valid ones, for the tests.

    make_hostile.py OUT_DIR [--shared ../shared]          hostile files and OUT_DIR/cases.tsv
    make_hostile.py --seeds OUT_DIR                       valid files only: the seed corpora of the
                                                          fuzz targets (OUT_DIR/<target>/...)

The valid files are generated here (a random-weight model from make_models.py, its llama2.c
exports and tokenizer.bin, a tokenizer.model serialised by hand), so nothing is needed from
../shared; with --shared, variants of the real stories260K files are added. Each hostile file
breaks one thing: a truncation inside each section, a length or count field flipped, an offset
past the end, overlapping or duplicate tensors, a key of the wrong type, head counts that do not
divide, ids outside the vocabulary, invalid UTF-8 in the vocabulary, NaN and Inf weights, bad
llama2.c headers (v0, v1, v2) and bad tokenizer files.

cases.tsv has one line per case, tab-separated: the case name, the model file, the tokenizer
file for -z (or "-"), and an extended regular expression that the one line ./run prints on
stderr must match (it names the problem). tests/test_hostile.sh runs them all.
"""
import argparse
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import convert  # noqa: E402
import export_llama2c  # noqa: E402
import gguf  # noqa: E402
import make_models  # noqa: E402

# ==== the valid files everything starts from =================================================

def base_model(dim=32, hidden=64, layers=2, heads=4, kv_heads=2, vocab=300, ctx=32, tied=False, seed=5):
    """A random-weight model small enough to write a hundred variants of in a second."""
    c = convert.make_config(dim, hidden, layers, heads, kv_heads, vocab, ctx, tied=tied)
    producers = make_models.weight_producers(c, seed)
    tensors = {name: make() for name, make in producers.items()}
    pieces, scores, types = make_models.synthetic_vocab(vocab)
    v = dict(pieces=pieces, scores=scores, types=types, bos=1, eos=2, unk=0)
    return convert.Model(c, tensors, v, "random")


def gguf_bytes(model, type_name="F32", edit=None, vocab=True, tmp=None):
    """The model as GGUF bytes; edit(writer) may change the metadata or tensors before writing."""
    w = gguf.GGUFWriter()
    convert.add_llama_metadata(w, model.config, "hostile", gguf.TYPE_IDS[type_name])
    if vocab and model.vocab is not None:
        convert.add_vocab(w, model.vocab)
    for name, shape in convert.tensor_shapes(model.config).items():
        w.add_tensor(name, shape, convert.storage_type(shape, gguf.TYPE_IDS[type_name]), model.tensors[name])
    if edit:
        edit(w)
    w.write(tmp)
    with open(tmp, "rb") as f:
        return f.read()


def llama2c_bytes(model, version, tmp):
    export_llama2c.write(model, tmp, version)
    with open(tmp, "rb") as f:
        return f.read()


def tokenizer_bin_bytes(vocab, tmp):
    export_llama2c.write_tokenizer(vocab, tmp)
    with open(tmp, "rb") as f:
        return f.read()


# ---- a SentencePiece tokenizer.model, in protobuf wire format (sentencepiece_model.proto) ----

def _varint(v):
    v &= (1 << 64) - 1          # int32 fields carry negative values sign-extended to 64 bits
    out = bytearray()
    while v >= 0x80:
        out.append(v & 0x7F | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def _field_bytes(number, b):
    return _varint(number << 3 | 2) + _varint(len(b)) + b


def _field_int(number, v):
    return _varint(number << 3) + _varint(v)


def sp_model_bytes(vocab):
    """ModelProto{pieces, trainer_spec (BPE, byte fallback), normalizer_spec (identity)}."""
    out = bytearray()
    for piece, score, ptype in zip(vocab["pieces"], vocab["scores"], vocab["types"]):
        p = _field_bytes(1, piece.encode("utf-8", errors="surrogateescape"))
        p += _varint(2 << 3 | 5) + struct.pack("<f", float(score)) + _field_int(3, int(ptype))
        out += _field_bytes(1, p)
    trainer = (_field_int(3, 2) + _field_int(4, len(vocab["pieces"])) + _field_int(35, 1) +
               _field_int(40, vocab["unk"]) + _field_int(41, vocab["bos"]) + _field_int(42, vocab["eos"]) +
               _field_int(43, -1))
    out += _field_bytes(2, trainer)
    normalizer = _field_bytes(1, b"identity") + _field_int(3, 1) + _field_int(4, 0) + _field_int(5, 1)
    out += _field_bytes(3, normalizer)
    return bytes(out)


# ==== where things are in a GGUF file ========================================================

_SCALAR_SIZE = {gguf.UINT8: 1, gguf.INT8: 1, gguf.UINT16: 2, gguf.INT16: 2, gguf.UINT32: 4, gguf.INT32: 4,
                gguf.FLOAT32: 4, gguf.BOOL: 1, gguf.UINT64: 8, gguf.INT64: 8, gguf.FLOAT64: 8}


def gguf_layout(b):
    """Byte positions of every field: {kv: {key: {...}}, tensors: {name: {...}}, data_at}."""
    pos = 24
    u32 = lambda at: struct.unpack_from("<I", b, at)[0]
    u64 = lambda at: struct.unpack_from("<Q", b, at)[0]
    n_tensors, n_kv = u64(8), u64(16)
    kvs, tensors = {}, {}

    def skip(vtype, at):
        if vtype == gguf.STRING:
            return at + 8 + u64(at)
        if vtype == gguf.ARRAY:
            etype, n = u32(at), u64(at + 4)
            at += 12
            for _ in range(n):
                at = skip(etype, at)
            return at
        return at + _SCALAR_SIZE[vtype]

    for _ in range(n_kv):
        key = b[pos + 8:pos + 8 + u64(pos)].decode()
        entry = dict(key_at=pos, type_at=pos + 8 + u64(pos))
        entry["value_at"] = entry["type_at"] + 4
        entry["end"] = skip(u32(entry["type_at"]), entry["value_at"])
        kvs[key] = entry
        pos = entry["end"]
    for _ in range(n_tensors):
        name = b[pos + 8:pos + 8 + u64(pos)].decode()
        entry = dict(name_at=pos, n_dims_at=pos + 8 + u64(pos))
        n_dims = u32(entry["n_dims_at"])
        entry["dims_at"] = entry["n_dims_at"] + 4
        entry["dims"] = [u64(entry["dims_at"] + 8 * d) for d in range(n_dims)]
        entry["type_at"] = entry["dims_at"] + 8 * n_dims
        entry["offset_at"] = entry["type_at"] + 4
        entry["offset"] = u64(entry["offset_at"])
        tensors[name] = entry
        pos = entry["offset_at"] + 8
    alignment = 32
    return dict(kv=kvs, tensors=tensors, infos_end=pos, data_at=(pos + alignment - 1) // alignment * alignment)


def patch(b, at, fmt, *values):
    b = bytearray(b)
    struct.pack_into("<" + fmt, b, at, *values)
    return bytes(b)


# ==== the hostile cases =======================================================================

class Cases:
    """Collects files and expectations; writes cases.tsv."""

    def __init__(self, out):
        self.out, self.lines, self.names = out, [], set()

    def file(self, name, data):
        with open(os.path.join(self.out, name), "wb") as f:
            f.write(data)
        return name

    def add(self, name, model_bytes, expect, tokenizer=None, model_file=None):
        """model_bytes: the model's content (written as NAME.bin), or None with model_file given."""
        assert name not in self.names, name
        self.names.add(name)
        model = model_file or self.file(name + ".model.bin", model_bytes)
        self.lines.append(f"{name}\t{model}\t{tokenizer or '-'}\t{expect}")

    def write(self):
        with open(os.path.join(self.out, "cases.tsv"), "w") as f:
            f.write("\n".join(self.lines) + "\n")


def gguf_cases(cases, tmp):
    model = base_model()
    b = gguf_bytes(model, tmp=tmp)
    L = gguf_layout(b)
    kv, T = L["kv"], L["tensors"]
    first_tensor = T["token_embd.weight"]
    q_at = L["data_at"] + T["blk.0.attn_q.weight"]["offset"]
    add = cases.add

    # -- truncations, one inside each section --
    add("gguf_empty_file", b"", "too small")
    add("gguf_trunc_magic", b[:3], "too small")
    add("gguf_trunc_header", b[:20], "kv count.*needs 8 bytes")
    add("gguf_trunc_in_first_key", b[:kv["general.architecture"]["key_at"] + 12], "kv count 20 cannot fit")
    add("gguf_trunc_in_string_value", b[:kv["general.architecture"]["value_at"] + 10], "kv count 20 cannot fit")
    add("gguf_trunc_in_token_array", b[:kv["tokenizer.ggml.tokens"]["value_at"] + 500],
        "'tokenizer.ggml.tokens': array of 300 STRING .*cannot fit")
    add("gguf_trunc_in_score_array", b[:kv["tokenizer.ggml.scores"]["value_at"] + 100], "array of .* FLOAT32 .*runs past the end")
    add("gguf_trunc_in_tensor_infos", b[:first_tensor["dims_at"] + 4], "tensor 'token_embd.weight': dimension .*needs 8 bytes")
    add("gguf_trunc_before_data", b[:L["data_at"]], "puts its data past the end|ends past the end")
    add("gguf_trunc_in_data", b[:len(b) - 100], "ends past the end of the file")

    # -- header fields --
    add("gguf_version_1", patch(b, 4, "I", 1), "version 1 is not supported")
    add("gguf_version_99", patch(b, 4, "I", 99), "version 99 is not supported")
    add("gguf_big_endian", patch(b, 4, "I", 0x03000000), "big-endian")
    add("gguf_huge_kv_count", patch(b, 16, "Q", 1 << 62), "kv count .* cannot fit")
    add("gguf_huge_tensor_count", patch(b, 8, "Q", (1 << 64) - 1), "tensor count .* cannot fit")
    add("gguf_kv_count_too_small", patch(b, 16, "Q", 3), "")   # the infos are then read from a kv: any refusal

    # -- metadata fields --
    add("gguf_key_length_huge", patch(b, kv["general.name"]["key_at"], "Q", 1 << 60), "key of .*runs past the end")
    add("gguf_string_length_huge", patch(b, kv["general.architecture"]["value_at"], "Q", (1 << 64) - 2),
        "string value of .*runs past the end")
    add("gguf_unknown_value_type", patch(b, kv["general.file_type"]["type_at"], "I", 13), "unknown value type 13")
    add("gguf_unknown_array_type", patch(b, kv["tokenizer.ggml.scores"]["value_at"], "I", 77), "unknown array element type 77")
    add("gguf_array_length_huge", patch(b, kv["tokenizer.ggml.scores"]["value_at"] + 4, "Q", 1 << 61),
        "array of .*runs past the end")
    add("gguf_string_array_length_huge", patch(b, kv["tokenizer.ggml.tokens"]["value_at"] + 4, "Q", 1 << 59),
        "array of .* STRING .*cannot fit")
    # rename the 17-byte key "llama.block_count" to another 17-byte key that is already there
    at = kv["llama.block_count"]["key_at"] + 8
    add("gguf_duplicate_key", b[:at] + b"general.file_type" + b[at + 17:], "duplicate key 'general.file_type'")

    # -- tensor infos --
    add("gguf_tensor_name_length_huge", patch(b, first_tensor["name_at"], "Q", 1 << 40), "name of .*runs past the end")
    add("gguf_tensor_n_dims_0", patch(b, first_tensor["n_dims_at"], "I", 0), "n_dims 0 is not between 1 and 4")
    add("gguf_tensor_n_dims_5", patch(b, first_tensor["n_dims_at"], "I", 5), "n_dims 5 is not between 1 and 4")
    add("gguf_tensor_dim_0", patch(b, first_tensor["dims_at"], "Q", 0), "dims\\[0\\] is 0")
    add("gguf_tensor_dims_overflow", patch(patch(b, first_tensor["dims_at"], "Q", 1 << 33), first_tensor["dims_at"] + 8, "Q", 1 << 33),
        "more than 2\\^40 elements")
    add("gguf_tensor_type_unknown", patch(b, T["blk.0.attn_k.weight"]["type_at"], "I", 99),
        "tensor 'blk.0.attn_k.weight' has unsupported type 99 \\(not a ggml type\\): .*llama-quantize")
    add("gguf_tensor_q4_k_rows_of_32", patch(b, T["blk.0.attn_q.weight"]["type_at"], "I", 12),   # Q4_K: 256 per block
        "tensor 'blk.0.attn_q.weight': row length 32 is not a multiple of the Q4_K block size 256")
    # named, with what to do: the types real downloads carry that attend does not run
    for type_id, type_name in ((6, "Q5_0"), (7, "Q5_1"), (23, "IQ4_XS"), (3, "Q4_1"), (39, "MXFP4")):
        add(f"gguf_tensor_type_{type_name.lower()}", patch(b, T["blk.1.ffn_up.weight"]["type_at"], "I", type_id),
            f"tensor 'blk.1.ffn_up.weight' has unsupported type {type_name} \\(ggml type {type_id}\\): attend runs "
            f"F32, F16, BF16, Q8_0, Q4_0 and the k-quants Q2_K..Q6_K; requantize .*llama-quantize.* or convert .*scripts/convert.py")
    add("gguf_tensor_offset_misaligned", patch(b, T["blk.0.attn_v.weight"]["offset_at"], "Q", T["blk.0.attn_v.weight"]["offset"] + 4),
        "offset .* is not a multiple of the alignment 32")
    add("gguf_tensor_offset_past_eof", patch(b, T["output.weight"]["offset_at"], "Q", 1 << 40), "puts its data past the end")
    add("gguf_tensor_offset_wraps", patch(b, T["output.weight"]["offset_at"], "Q", (1 << 64) - 32), "puts its data past the end")
    add("gguf_tensors_overlap", patch(b, T["blk.0.attn_k.weight"]["offset_at"], "Q", T["blk.0.attn_q.weight"]["offset"]), "overlaps")
    at = T["blk.0.attn_k.weight"]["name_at"] + 8     # blk.0.attn_k -> blk.0.attn_q: same length
    add("gguf_duplicate_tensor_name", b[:at] + b"blk.0.attn_q" + b[at + 12:], "duplicate tensor name 'blk.0.attn_q.weight'")

    # -- semantics: metadata the loader needs, built with the writer --
    def with_kv(**changes):
        def edit(w):
            for key, value in changes.items():
                key = key.replace("__", ".")
                if value is None:
                    del w.kv[key]
                else:
                    w.kv[key] = value
        return edit

    def add_gguf(name, expect, m=model, **kw):
        add(name, gguf_bytes(m, tmp=tmp, **kw), expect)

    U32, F32, STR = gguf.UINT32, gguf.FLOAT32, gguf.STRING
    add_gguf("gguf_no_architecture", "general.architecture is missing", edit=with_kv(general__architecture=None))
    add_gguf("gguf_architecture_gpt2", "architecture 'gpt2' is not supported", edit=with_kv(general__architecture=(STR, "gpt2", None)))
    add_gguf("gguf_architecture_with_newline", "architecture .* is not supported",
             edit=with_kv(general__architecture=(STR, "lla\nma\x1b[31m", None)))
    add_gguf("gguf_no_embedding_length", "llama.embedding_length is missing", edit=with_kv(llama__embedding_length=None))
    add_gguf("gguf_embedding_length_is_string", "llama.embedding_length is not an unsigned integer",
             edit=with_kv(llama__embedding_length=(STR, "32", None)))
    add_gguf("gguf_head_count_0", "n_heads = 0 is out of range", edit=with_kv(llama__attention__head_count=(U32, 0, None)))
    add_gguf("gguf_heads_do_not_divide_dim", "dim 32 is not a multiple of n_heads 5", edit=with_kv(llama__attention__head_count=(U32, 5, None)))
    add_gguf("gguf_kv_heads_do_not_divide_heads", "n_heads 4 is not a multiple of n_kv_heads 3",
             edit=with_kv(llama__attention__head_count_kv=(U32, 3, None)))
    add_gguf("gguf_kv_heads_above_heads", "n_kv_heads = 8 is out of range", edit=with_kv(llama__attention__head_count_kv=(U32, 8, None)))
    add_gguf("gguf_block_count_huge", "out of range", edit=with_kv(llama__block_count=(U32, 4000000000, None)))
    add_gguf("gguf_block_count_too_many", "tensor 'blk.2.attn_norm.weight' is missing", edit=with_kv(llama__block_count=(U32, 3, None)))
    add_gguf("gguf_context_length_0", "max_seq_len = 0 is out of range", edit=with_kv(llama__context_length=(U32, 0, None)))
    add_gguf("gguf_feed_forward_length_wrong", "tensor 'blk.0.ffn_gate.weight' has shape \\[32, 64\\], expected \\[32, 65\\]",
             edit=with_kv(llama__feed_forward_length=(U32, 65, None)))
    add_gguf("gguf_rope_dimension_odd", "rope dimension 7 must be even", edit=with_kv(llama__rope__dimension_count=(U32, 7, None)))
    add_gguf("gguf_rope_base_nan", "freq_base nan is out of range", edit=with_kv(llama__rope__freq_base=(F32, float("nan"), None)))
    add_gguf("gguf_rope_base_negative", "freq_base -1 is out of range", edit=with_kv(llama__rope__freq_base=(F32, -1.0, None)))
    add_gguf("gguf_rope_scaling_yarn", "llama.rope.scaling.type 'yarn' is not supported",
             edit=with_kv(llama__rope__scaling__type=(STR, "yarn", None), llama__rope__scaling__factor=(F32, 4.0, None)))
    add_gguf("gguf_rope_scaling_longrope", "llama.rope.scaling.type 'longrope' is not supported",
             edit=with_kv(llama__rope__scaling__type=(STR, "longrope", None)))
    add_gguf("gguf_rope_scaling_factor_nan", "llama.rope.scaling.factor = nan is out of range",
             edit=with_kv(llama__rope__scaling__type=(STR, "linear", None), llama__rope__scaling__factor=(F32, float("nan"), None)))
    add_gguf("gguf_rope_scaling_type_is_number", "llama.rope.scaling.type is not a string",
             edit=with_kv(llama__rope__scaling__type=(U32, 1, None)))
    add_gguf("gguf_rms_epsilon_zero", "epsilon 0 is out of range",
             edit=with_kv(llama__attention__layer_norm_rms_epsilon=(F32, 0.0, None)))
    add_gguf("gguf_rms_epsilon_is_string", "not a float",
             edit=with_kv(llama__attention__layer_norm_rms_epsilon=(STR, "1e-5", None)))
    add_gguf("gguf_alignment_is_string", "general.alignment: must be a non-negative integer",
             edit=with_kv(general__alignment=(STR, "32", None)))

    # Written with general.alignment 8, the value then patched to 1 (or 2): the data section now
    # starts right after the tensor infos, where a padding key's length puts it at an offset that
    # an F16 (or F32) value may not start at. (A fuzz_model finding: the F16 dequantizer read a
    # misaligned uint16_t, UBSan.)
    def misaligned(type_name, alignment, modulus, remainder):
        for pad in range(16):
            b = gguf_bytes(model, type_name, tmp=tmp,
                           edit=with_kv(general__alignment=(U32, 8, None), hostile__pad=(STR, "x" * pad, None)))
            L = gguf_layout(b)
            if L["infos_end"] % modulus == remainder:
                return patch(b, L["kv"]["general.alignment"]["value_at"], "I", alignment)
        raise AssertionError("no padding gives that offset")
    add("gguf_f16_at_odd_offset", misaligned("F16", 1, 2, 1),
        "tensor 'token_embd.weight' \\(F16\\) starts at file offset [0-9]*[13579], not a multiple of 2 bytes \\(general.alignment is 1\\)")
    add("gguf_f32_at_offset_2_mod_4", misaligned("F32", 2, 4, 2),
        "tensor 'token_embd.weight' \\(F32\\) starts at file offset [0-9]+, not a multiple of 4 bytes \\(general.alignment is 2\\)")

    def drop_tensor(name):
        return lambda w: w.tensors.remove(next(t for t in w.tensors if t[0] == name))

    def reshape_tensor(name, shape):
        def edit(w):
            i = next(i for i, t in enumerate(w.tensors) if t[0] == name)
            w.tensors[i] = (name, shape, gguf.F32, np.zeros(shape, np.float32))
        return edit

    add_gguf("gguf_missing_ffn_down", "tensor 'blk.1.ffn_down.weight' is missing", edit=drop_tensor("blk.1.ffn_down.weight"))
    add_gguf("gguf_missing_token_embd", "tensor 'token_embd.weight' is missing", edit=drop_tensor("token_embd.weight"))
    add_gguf("gguf_attn_q_misshaped", "tensor 'blk.0.attn_q.weight' has shape \\[32, 31\\], expected \\[32, 32\\]",
             edit=reshape_tensor("blk.0.attn_q.weight", (31, 32)))
    add_gguf("gguf_attn_k_3d", "tensor 'blk.1.attn_k.weight' has shape", edit=reshape_tensor("blk.1.attn_k.weight", (2, 16, 32)))
    add_gguf("gguf_token_embd_1d", "tensor 'token_embd.weight' is not a 2-D matrix", edit=reshape_tensor("token_embd.weight", (9600,)))
    add_gguf("gguf_output_norm_2d", "tensor 'output_norm.weight' has shape", edit=reshape_tensor("output_norm.weight", (2, 32)))

    def no_tensors(w):
        w.tensors.clear()
    add_gguf("gguf_vocab_only", "has no tensors", edit=no_tensors)

    # -- the vocabulary --
    def vocab_edit(key, value):
        return with_kv(**{key.replace(".", "__"): value})
    pieces = list(model.vocab["pieces"])
    add_gguf("gguf_bos_id_out_of_range", "bos_token_id 300 is outside the 300-token vocabulary",
             edit=vocab_edit("tokenizer.ggml.bos_token_id", (U32, 300, None)))
    add_gguf("gguf_eos_id_huge", "eos_token_id 4294967295 is outside|eos_token_id .* is not",
             edit=vocab_edit("tokenizer.ggml.eos_token_id", (gguf.UINT64, (1 << 32) - 1, None)))
    add_gguf("gguf_unk_id_not_unknown_piece", "unk id 5 is not a piece of type unknown",
             edit=vocab_edit("tokenizer.ggml.unknown_token_id", (U32, 5, None)))
    add_gguf("gguf_tokens_fewer_than_vocab", "tokenizer.ggml.tokens has 299 entries but the vocabulary size is 300",
             edit=vocab_edit("tokenizer.ggml.tokens", (gguf.ARRAY, pieces[:-1], STR)))
    add_gguf("gguf_tokens_not_strings", "tokenizer.ggml.tokens is not an array of strings",
             edit=vocab_edit("tokenizer.ggml.tokens", (gguf.ARRAY, list(range(300)), gguf.INT32)))
    bad = pieces[:]
    bad[270] = "ab\udcffc"            # surrogateescape: the lone byte 0xFF
    add_gguf("gguf_piece_invalid_utf8", "piece 270 .* is not valid UTF-8", edit=vocab_edit("tokenizer.ggml.tokens", (gguf.ARRAY, bad, STR)))
    bad = pieces[:]
    bad[280] = bad[279]
    add_gguf("gguf_piece_duplicate", "piece 280 .* repeats an earlier piece", edit=vocab_edit("tokenizer.ggml.tokens", (gguf.ARRAY, bad, STR)))
    bad = pieces[:]
    bad[290] = ""
    add_gguf("gguf_piece_empty", "piece 290 .* is empty", edit=vocab_edit("tokenizer.ggml.tokens", (gguf.ARRAY, bad, STR)))
    bad = pieces[:]
    bad[10] = "<0xZZ>"
    add_gguf("gguf_byte_piece_malformed", "piece 10 .* has type byte but is not <0xNN>",
             edit=vocab_edit("tokenizer.ggml.tokens", (gguf.ARRAY, bad, STR)))
    types = np.array(model.vocab["types"])
    types[100] = 9
    add_gguf("gguf_token_type_unknown", "piece 100 .* has an unknown type",
             edit=vocab_edit("tokenizer.ggml.token_type", (gguf.ARRAY, types, gguf.INT32)))
    add_gguf("gguf_scores_wrong_type", "tokenizer.ggml.scores is not 300 float32s",
             edit=vocab_edit("tokenizer.ggml.scores", (gguf.ARRAY, np.zeros(300), gguf.FLOAT64)))
    scores = np.array(model.vocab["scores"])
    scores[260] = np.nan
    add_gguf("gguf_score_nan", "piece 260 .* has a NaN score",
             edit=vocab_edit("tokenizer.ggml.scores", (gguf.ARRAY, scores, gguf.FLOAT32)))
    add("gguf_no_vocabulary", gguf_bytes(model, vocab=False, tmp=tmp), "carries no vocabulary")
    add_gguf("gguf_tokenizer_model_gpt2", "tokenizer model 'gpt2' is not supported \\(only 'llama'",
             edit=vocab_edit("tokenizer.ggml.model", (STR, "gpt2", None)))
    add_gguf("gguf_tokenizer_model_not_a_string", "tokenizer.ggml.model is not a string",
             edit=vocab_edit("tokenizer.ggml.model", (U32, 1, None)))

    # -- NaN and Inf weights: refused when the logits they produce are not finite --
    add("gguf_nan_in_attn_q", patch(b, q_at, "f", float("nan")), "non-finite logit")
    add("gguf_inf_in_output_norm", patch(b, L["data_at"] + T["output_norm.weight"]["offset"], "f", float("inf")), "non-finite logit")
    emb = L["data_at"] + T["token_embd.weight"]["offset"] + 4 * 32 * 1    # the row of BOS (id 1)
    add("gguf_nan_embedding_of_bos", patch(b, emb + 8, "f", float("nan")), "non-finite logit")
    add("gguf_huge_weights_overflow", patch(b, L["data_at"] + T["output_norm.weight"]["offset"], "8f", *([3e38] * 8)),
        "non-finite logit")
    bq = gguf_bytes(model, "Q8_0", tmp=tmp)
    Lq = gguf_layout(bq)
    add("gguf_q8_0_nan_scale", patch(bq, Lq["data_at"] + Lq["tensors"]["blk.1.ffn_up.weight"]["offset"], "H", 0x7E00),
        "non-finite logit")
    add("gguf_q8_0_inf_scale", patch(bq, Lq["data_at"] + Lq["tensors"]["blk.0.attn_v.weight"]["offset"], "H", 0x7C00),
        "non-finite logit")
    # k-quants need rows of whole 256-weight super-blocks: a model that wide
    wide = base_model(dim=256, hidden=256, layers=1, heads=4, kv_heads=2)
    bk = gguf_bytes(wide, "Q4_K", tmp=tmp)
    Lk = gguf_layout(bk)
    add("gguf_q4_k_nan_scale", patch(bk, Lk["data_at"] + Lk["tensors"]["blk.0.attn_v.weight"]["offset"], "H", 0x7E00),
        "non-finite logit")
    add("gguf_q4_k_nan_min_scale", patch(bk, Lk["data_at"] + Lk["tensors"]["blk.0.ffn_up.weight"]["offset"] + 2, "H", 0x7E00),
        "non-finite logit")
    bf = gguf_bytes(wide, tmp=tmp)      # F32, so a Q8_K matrix (292 bytes per 256) fits in its place
    add("gguf_tensor_type_q8_k", patch(bf, gguf_layout(bf)["tensors"]["blk.0.attn_q.weight"]["type_at"], "I", 15),
        "tensor 'blk.0.attn_q.weight' has type Q8_K, which only activations take")   # activations only

    # -- a cost that grows with the file, not faster: many tensors of an unknown type (which need
    #    no data) beside a 200-layer model make the loader's name lookups quadratic if they scan
    deep = base_model(dim=2, hidden=1, layers=200, heads=1, kv_heads=1, vocab=260, ctx=4, tied=True)

    def junk(w):
        w.tensors[:0] = [(f"junk.{i:06d}", (1,), gguf.F32, np.zeros(1, np.float32)) for i in range(30000)]
        w.tensors.remove(next(t for t in w.tensors if t[0] == "blk.199.ffn_down.weight"))
    raw = bytearray(gguf_bytes(deep, tmp=tmp, edit=junk))
    for name, t in gguf_layout(raw)["tensors"].items():
        if name.startswith("junk."):
            struct.pack_into("<I", raw, t["type_at"], 25)     # a ggml type quant.c does not know
    # every lookup but the last succeeds; the last one fails after 1800 lookups among 31800 names
    add("gguf_30000_unknown_tensors_200_layers", bytes(raw), "tensor 'blk.199.ffn_down.weight' is missing")
    return model


def llama2c_cases(cases, model, tmp):
    add = cases.add
    m = base_model(tied=True)        # llama2.c files carry a shared classifier by default
    tok = cases.file("tok.bin", tokenizer_bin_bytes(m.vocab, tmp))
    v0, v1, v2 = (llama2c_bytes(m, v, tmp) for v in (0, 1, 2))
    untied = llama2c_bytes(model, 0, tmp)

    def hdr(field):   # byte offset of a header int: dim, hidden, layers, heads, kv_heads, vocab, seq
        return ["dim", "hidden", "layers", "heads", "kv_heads", "vocab", "seq"].index(field) * 4

    # -- version 0: no magic, 7 int32 --
    add("l2c_v0_without_tokenizer", v0, "carries no vocabulary")
    add("l2c_v0_truncated", v0[:len(v0) - 4], "file is truncated", tok)
    add("l2c_v0_header_only", v0[:28], "file is truncated", tok)
    add("l2c_v0_extra_bytes", v0 + b"\0" * 12, "12 unexpected bytes after the weights", tok)
    add("l2c_v0_untied_vocab_sign_flipped", patch(untied, hdr("vocab"), "i", 300), "unexpected bytes after the weights", tok)
    add("l2c_v0_dim_negative", patch(v0, hdr("dim"), "i", -32), "neither GGUF nor a llama2.c checkpoint", tok)
    add("l2c_v0_heads_do_not_divide_dim", patch(v0, hdr("heads"), "i", 5), "dim 32 is not a multiple of n_heads 5", tok)
    add("l2c_v0_kv_heads_above_heads", patch(v0, hdr("kv_heads"), "i", 8), "n_kv_heads = 8 is out of range", tok)
    add("l2c_v0_kv_heads_do_not_divide", patch(v0, hdr("kv_heads"), "i", 3), "n_heads 4 is not a multiple of n_kv_heads 3", tok)
    add("l2c_v0_seq_len_huge", patch(v0, hdr("seq"), "i", 1 << 30), "max_seq_len = 1073741824 is out of range", tok)
    add("l2c_v0_vocab_huge", patch(v0, hdr("vocab"), "i", (1 << 31) - 1), "vocab_size = 2147483647 is out of range", tok)
    add("l2c_v0_vocab_most_negative", patch(v0, hdr("vocab"), "i", -(1 << 31)), "llama2.c: vocab_size -2147483648 is out of range", tok)
    add("l2c_v0_hidden_huge", patch(v0, hdr("hidden"), "i", (1 << 18)), "file is truncated", tok)
    add("l2c_v0_layers_1000", patch(v0, hdr("layers"), "i", 1000), "file is truncated", tok)
    add("l2c_v0_vocab_mismatch_tokenizer", patch(v0, hdr("vocab"), "i", 299), "unexpected bytes|truncated|tokenizer", tok)

    # -- versions 1 and 2: magic "ak42", version, the 7 ints, shared flag [, group size], to 256 --
    add("l2c_v1_header_truncated", v1[:100], "header is truncated", tok)
    add("l2c_v1_version_3", patch(v1, 4, "i", 3), "version 3 is not supported", tok)
    add("l2c_v1_version_negative", patch(v1, 4, "i", -1), "version -1 is not supported", tok)
    add("l2c_v1_shared_flag_2", patch(v1, 36, "B", 2), "shared_classifier flag is 2", tok)
    add("l2c_v1_truncated", v1[:len(v1) // 2], "file is truncated", tok)
    add("l2c_v1_dim_zero", patch(v1, 8 + hdr("dim"), "i", 0), "dim = 0 is out of range", tok)
    add("l2c_v1_not_shared_but_no_classifier", patch(v1, 36, "B", 0), "file is truncated", tok)
    add("l2c_v1_nan_weights", patch(v1, 256 + 4 * 10, "f", float("nan")), "non-finite logit", tok)
    add("l2c_v2_group_size_0", patch(v2, 37, "i", 0), "group_size 0 is out of range", tok)
    add("l2c_v2_group_size_negative", patch(v2, 37, "i", -64), "group_size -64 is out of range", tok)
    add("l2c_v2_group_size_7", patch(v2, 37, "i", 7), "group_size 7 does not divide", tok)
    add("l2c_v2_group_size_huge", patch(v2, 37, "i", 1 << 30), "group_size 1073741824 is out of range", tok)
    add("l2c_v2_truncated", v2[:len(v2) - 1], "file is truncated", tok)
    add("l2c_v2_layers_huge", patch(v2, 8 + hdr("layers"), "i", 1000), "file is truncated", tok)
    return m, v1


def tokenizer_cases(cases, m, v1, tmp):
    add = cases.add
    model_file = cases.file("v1.bin", v1)
    t = tokenizer_bin_bytes(m.vocab, tmp)

    def tokens(b):
        """Offsets of each token record (score, length, bytes) of a tokenizer.bin."""
        at, out = 4, []
        while at < len(b):
            out.append(at)
            at += 8 + struct.unpack_from("<i", b, at + 4)[0]
        return out
    rec = tokens(t)

    def tok_case(name, data, expect):
        add(name, None, expect, cases.file(name + ".tok.bin", data), model_file=model_file)

    tok_case("tok_empty", b"", "too short for max_token_length")
    tok_case("tok_max_len_zero", patch(t, 0, "i", 0), "max_token_length 0 out of range")
    tok_case("tok_max_len_negative", patch(t, 0, "i", -5), "max_token_length -5 out of range")
    tok_case("tok_length_negative", patch(t, rec[7] + 4, "i", -1), "token 7 length -1")
    tok_case("tok_length_huge", patch(t, rec[7] + 4, "i", (1 << 31) - 1), "token 7 length 2147483647")
    tok_case("tok_length_above_max", patch(t, 0, "i", 3), "length .* outside 1..3")
    tok_case("tok_truncated", t[:len(t) - 3], "token 299 length .*past the end|truncated at token")
    tok_case("tok_truncated_in_record", t[:rec[150] + 5], "truncated at token 150")
    tok_case("tok_one_token_too_many", t + struct.pack("<fi", 0.0, 1) + b"x", "bytes after token 299")
    at = rec[270] + 8
    tok_case("tok_invalid_utf8", t[:at] + b"\xff" + t[at + 1:], "piece 270 .* is not valid UTF-8")
    at = rec[0] + 8                   # "<unk>" -> "<unx>"
    tok_case("tok_no_unk", t[:at + 3] + b"x" + t[at + 4:], "no <unk> piece")
    at = rec[281] + 8                 # piece 281 spelled as piece 280 (same length pieces)
    same = t[rec[280] + 8:rec[281]]
    if len(same) == struct.unpack_from("<i", t, rec[281] + 4)[0]:
        tok_case("tok_duplicate_piece", t[:at] + same + t[at + len(same):], "piece 281 .* repeats an earlier piece")
    add("tok_missing_file", None, "cannot open", "no-such-tokenizer.bin", model_file=model_file)
    add("tok_is_a_directory", None, "not a regular file|Is a directory", ".", model_file=model_file)

    # tokenizer.model (SentencePiece protobuf), given to a GGUF model with -z
    base = cases.file("base.gguf", gguf_bytes(base_model(), tmp=tmp))
    sp = sp_model_bytes(m.vocab)

    def sp_case(name, data, expect):
        add(name, None, expect, cases.file(name + ".model", data), model_file=base)
    sp_case("spm_empty", b"", "SentencePiece refused|empty vocabulary|not a SentencePiece")
    sp_case("spm_garbage", b"\xff" * 64, "not a SentencePiece model|SentencePiece refused")
    sp_case("spm_truncated", sp[:len(sp) // 2], "not a SentencePiece model|SentencePiece refused")
    small = dict(m.vocab, pieces=m.vocab["pieces"][:280], scores=m.vocab["scores"][:280], types=m.vocab["types"][:280])
    sp_case("spm_vocab_smaller_than_model", sp_model_bytes(small), "tokenizer has 280 tokens but the model's vocabulary is 300")
    bad = dict(m.vocab, pieces=list(m.vocab["pieces"]))
    bad["pieces"][5] = bad["pieces"][4]
    sp_case("spm_duplicate_piece", sp_model_bytes(bad), "SentencePiece refused")


def shared_cases(cases, shared, tmp):
    """Variants of the real stories260K files (generated at test time, never stored)."""
    s = os.path.join(shared, "models", "stories260K")
    read = lambda name: open(os.path.join(s, name), "rb").read()
    g, v0, v1, tok = read("stories260K.gguf"), read("stories260K.bin"), read("stories260K_v1.bin"), read("tok512.bin")
    L = gguf_layout(g)
    tokfile = cases.file("tok512.bin", tok)
    add = cases.add
    add("stories_gguf_truncated_half", g[:len(g) // 2], "ends past the end|puts its data past the end")
    add("stories_gguf_trunc_in_vocab", g[:L["kv"]["tokenizer.ggml.tokens"]["value_at"] + 2000],
        "'tokenizer.ggml.tokens': array of 512 STRING .*cannot fit")
    add("stories_gguf_n_dims_9", patch(g, L["tensors"]["output_norm.weight"]["n_dims_at"], "I", 9), "n_dims 9")
    add("stories_gguf_nan_output_norm", patch(g, L["data_at"] + L["tensors"]["output_norm.weight"]["offset"], "f", float("nan")),
        "non-finite logit")
    add("stories_v0_heads_7", patch(v0, 12, "i", 7), "dim 64 is not a multiple of n_heads 7", tokfile)
    add("stories_v0_truncated", v0[:len(v0) - 1000], "file is truncated", tokfile)
    add("stories_v1_version_9", patch(v1, 4, "i", 9), "version 9 is not supported", tokfile)
    add("stories_v1_tok512_truncated", None, "truncated at token|past the end",
        cases.file("tok512_trunc.bin", tok[:3000]), model_file=cases.file("stories_v1.bin", v1))


# ==== seed corpora for the fuzz targets ========================================================

def seeds(out, tmp):
    def put(target, name, data):
        os.makedirs(os.path.join(out, target), exist_ok=True)
        with open(os.path.join(out, target, name), "wb") as f:
            f.write(data)

    tiny = base_model(dim=8, hidden=16, layers=1, heads=2, kv_heads=1, vocab=260, ctx=8, tied=True)
    gqa = base_model(dim=32, hidden=32, layers=1, heads=4, kv_heads=2, vocab=260, ctx=8, tied=False)
    for name, data in (("tiny.gguf", gguf_bytes(tiny, tmp=tmp)),
                       ("tiny-novocab.gguf", gguf_bytes(tiny, vocab=False, tmp=tmp)),
                       ("gqa-q8_0.gguf", gguf_bytes(gqa, "Q8_0", vocab=False, tmp=tmp)),
                       ("gqa-q4_0.gguf", gguf_bytes(gqa, "Q4_0", vocab=False, tmp=tmp)),
                       ("gqa-f16.gguf", gguf_bytes(gqa, "F16", vocab=False, tmp=tmp))):
        put("gguf", name, data)
        put("model", name, data)
    for version in (0, 1, 2):
        data = llama2c_bytes(tiny, version, tmp)
        put("llama2c", f"tiny-v{version}.bin", data)
        put("model", f"tiny-v{version}.bin", data)
    put("llama2c", "untied-v0.bin", llama2c_bytes(gqa, 0, tmp))
    tok = tokenizer_bin_bytes(tiny.vocab, tmp)
    put("tokenizer_bin", "tok260.bin", struct.pack("<H", 260) + tok)
    put("tokenizer_model", "tok260.model", sp_model_bytes(tiny.vocab))
    # fuzz_vocab's format: bos, eos, unk bytes, then (type, score, length, bytes) per piece
    v = tiny.vocab
    enc = bytes([v["bos"], v["eos"], v["unk"]])
    for piece, score, ptype in zip(v["pieces"], v["scores"], v["types"]):
        b = piece.encode("utf-8")
        enc += bytes([int(ptype), int(max(-128, min(127, score))) & 0xFF, len(b)]) + b
    put("vocab", "tok260.vocab", enc)
    put("vocab", "tok20.vocab", enc[:3 + sum(3 + len(p.encode()) for p in v["pieces"][:20])])
    # fuzz_kv_load: KV cache files (kv_cache.h's layout) for the default model's shape, zero keys and
    # values; the last byte odd, so the target writes the model's fingerprint and checksum in
    default = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models", "stories-attend.gguf")
    if os.path.exists(default):
        m = gguf.read(default).metadata
        n_layers, n_heads = m["llama.block_count"], m["llama.attention.head_count"]
        kv_heads, head_dim = m.get("llama.attention.head_count_kv", n_heads), m["llama.embedding_length"] // n_heads
        for n in (0, 3, 16):
            data_bytes = n_layers * 2 * kv_heads * n * head_dim * 4
            header = b"ATKV" + struct.pack("<IQIIIIIIQ", 1, 0, n_layers, kv_heads, head_dim, 0, n, 0, data_bytes)
            body = header + bytes(16) + struct.pack(f"<{n}i", *range(1, n + 1)) + bytes(data_bytes)
            put("kv_load", f"kv-{n}.kv", body + b"\0" * 7 + b"\1")
        # and a Q8_0 cache (type 8; rows of whole 34-byte blocks, heads padded to 32 values), for the
        # target's Q8_0 context: the last byte 3, fingerprint and checksum written, Q8_0 context taken
        blocks = (head_dim + 31) // 32
        for n in (3, 16):
            data_bytes = n_layers * 2 * kv_heads * n * blocks * 34
            header = b"ATKV" + struct.pack("<IQIIIIIIQ", 1, 0, n_layers, kv_heads, head_dim, 8, n, 0, data_bytes)
            body = header + bytes(16) + struct.pack(f"<{n}i", *range(1, n + 1)) + bytes(data_bytes)
            put("kv_load", f"kv-q8_0-{n}.kv", body + b"\0" * 7 + b"\3")


def main(argv=None):
    ap = argparse.ArgumentParser(description="Write hostile model/tokenizer files and cases.tsv.")
    ap.add_argument("out")
    ap.add_argument("--seeds", action="store_true", help="write the fuzz targets' seed corpora instead")
    ap.add_argument("--shared", help="the ../shared directory: add stories260K variants")
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    tmp = os.path.join(a.out, ".scratch")
    if a.seeds:
        seeds(a.out, tmp)
    else:
        cases = Cases(a.out)
        model = gguf_cases(cases, tmp)
        m, v1 = llama2c_cases(cases, model, tmp)
        tokenizer_cases(cases, m, v1, tmp)
        if a.shared and os.path.isfile(os.path.join(a.shared, "models", "stories260K", "stories260K.gguf")):
            shared_cases(cases, a.shared, tmp)
        cases.write()
    if os.path.exists(tmp):
        os.remove(tmp)


if __name__ == "__main__":
    main()
