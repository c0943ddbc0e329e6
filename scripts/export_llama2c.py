#!/usr/bin/python3
"""export_llama2c.py — write a model as a llama2.c checkpoint (version 0, 1 or 2).

    export_llama2c.py model.gguf --version 2 --group-size 64 --out model_q80.bin [--tokenizer-out tok.bin]

The input is anything convert.py reads (GGUF of any type, llama2.c v0/v1/v2, npz), as float32.
  v0  7 int32 (vocab_size negated when the classifier is separate), float32 token_embedding,
      rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final, freq_cis_real, freq_cis_imag, [wcls]
  v1  magic "ak42", int32 1, the 7 ints, uint8 shared_classifier, zeros to byte 256; float32
      rms_att, rms_ffn, rms_final, token_embedding, wq, wk, wv, wo, w1, w2, w3, [wcls]
  v2  magic "ak42", int32 2, the 7 ints, uint8 shared_classifier, int32 group_size, zeros to byte
      256; float32 rms_att, rms_ffn, rms_final; then token_embedding, each layer's wq, wk, wv, wo,
      w1, w2, w3 (and wcls) in that order, each matrix as all its int8 values followed by all its
      float32 scales, one per group of group_size consecutive values: s = max|x| / 127,
      q = round(x / s) (ties to even, as torch.round in llama2.c's exporter).
llama2.c fixes RoPE (base 10000 over the whole head) and the norm epsilon (1e-5), so a model with
other values cannot be exported.
"""
import argparse
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import convert  # noqa: E402

DEFAULT_GROUP_SIZE = 64


def header_ints(c, negate_vocab=False):
    vocab = -c["vocab_size"] if negate_vocab else c["vocab_size"]
    return struct.pack("<7i", c["dim"], c["hidden_dim"], c["n_layers"], c["n_heads"], c["n_kv_heads"],
                       vocab, c["max_seq_len"])


def versioned_header(version, c, extra=b""):
    h = struct.pack("<Ii", convert.LLAMA2C_MAGIC, version) + header_ints(c) + struct.pack("B", int(c["tied"])) + extra
    return h + b"\0" * (convert.LLAMA2C_HEADER_BYTES - len(h))


def layers(model, suffix):
    return [model.tensors[f"blk.{i}.{suffix}.weight"] for i in range(model.config["n_layers"])]


def freq_cis(c):
    """The RoPE tables llama2.c v0 files carry (cos and sin of pos * 10000^(-2i/head_dim));
    readers recompute RoPE, but the bytes must be there."""
    head_dim = c["dim"] // c["n_heads"]
    # float32 throughout, as llama2.c's exporter computed them
    exponent = np.arange(0, head_dim, 2, dtype=np.float32)[: head_dim // 2] / np.float32(head_dim)
    freqs = np.float32(1) / np.power(np.float32(10000), exponent)
    angles = np.outer(np.arange(c["max_seq_len"], dtype=np.float32), freqs)
    return np.cos(angles), np.sin(angles)


def quantize_groups(x, group_size):
    """llama2.c's Q8_0: int8 values and one float32 scale per group of group_size values."""
    groups = np.ascontiguousarray(x, dtype=np.float32).reshape(-1, group_size)
    scale = np.abs(groups).max(axis=1) / np.float32(127)
    safe = np.where(scale > 0, scale, np.float32(1))
    q = np.round(groups / safe[:, None]).astype(np.int8)      # scale 0: the group is all zeros
    return q.reshape(-1), scale.astype(np.float32)


def check_exportable(c):
    head_dim = c["dim"] // c["n_heads"]
    if c["rope_dim"] != head_dim or abs(c["rope_base"] - 10000.0) > 1e-3:
        raise ValueError(f"rope_dim {c['rope_dim']} / rope_base {c['rope_base']}: llama2.c only has RoPE base 10000 over the whole head ({head_dim})")
    if abs(c["norm_eps"] - convert.LLAMA2C_NORM_EPS) > 1e-9:
        raise ValueError(f"norm_eps {c['norm_eps']}: llama2.c fixes it at 1e-5")


def pick_group_size(c, requested):
    """The requested size must divide dim and hidden_dim; the default backs off by halving."""
    dims = (c["dim"], c["hidden_dim"])
    if requested is not None:
        if requested <= 0 or any(d % requested for d in dims):
            raise ValueError(f"--group-size {requested} must divide dim {dims[0]} and hidden_dim {dims[1]}")
        return requested
    g = DEFAULT_GROUP_SIZE
    while any(d % g for d in dims):
        g //= 2
    if g != DEFAULT_GROUP_SIZE:
        print(f"export_llama2c.py: group size {g} (the default {DEFAULT_GROUP_SIZE} does not divide "
              f"dim {dims[0]} and hidden_dim {dims[1]})", file=sys.stderr)
    return g


def write(model, path, version, group_size=None):
    c = model.config
    check_exportable(c)
    matrices = [model.tensors["token_embd.weight"]]
    for gguf_name, _ in convert.LAYER_MATRICES:
        matrices += layers(model, gguf_name)
    classifier = [] if c["tied"] else [model.tensors["output.weight"]]
    norms = layers(model, "attn_norm") + layers(model, "ffn_norm") + [model.tensors["output_norm.weight"]]
    f32 = lambda a: np.ascontiguousarray(a, dtype="<f4").tobytes()
    with open(path, "wb") as f:
        if version == 0:
            f.write(header_ints(c, negate_vocab=not c["tied"]))
            f.write(f32(model.tensors["token_embd.weight"]))
            for t in layers(model, "attn_norm"):
                f.write(f32(t))
            for gguf_name, _ in convert.LAYER_MATRICES[:4]:
                for t in layers(model, gguf_name):
                    f.write(f32(t))
            for t in layers(model, "ffn_norm"):
                f.write(f32(t))
            for gguf_name, _ in convert.LAYER_MATRICES[4:]:
                for t in layers(model, gguf_name):
                    f.write(f32(t))
            f.write(f32(model.tensors["output_norm.weight"]))
            for table in freq_cis(c):
                f.write(f32(table))
            for t in classifier:
                f.write(f32(t))
        elif version == 1:
            f.write(versioned_header(1, c))
            for t in norms + matrices + classifier:
                f.write(f32(t))
        elif version == 2:
            group_size = pick_group_size(c, group_size)
            f.write(versioned_header(2, c, struct.pack("<i", group_size)))
            for t in norms:
                f.write(f32(t))
            for t in matrices + classifier:
                q, s = quantize_groups(t, group_size)
                f.write(q.tobytes())
                f.write(f32(s))
        else:
            raise ValueError(f"--version {version}: want 0, 1 or 2")


def write_tokenizer(vocab, path):
    """llama2.c's tokenizer.bin, spelled as its exporter spells it (' ' for '▁', BOS/EOS framed
    by newlines)."""
    encoded = []
    for i, piece in enumerate(vocab["pieces"]):
        if i == vocab["bos"]:
            piece = "\n<s>\n"
        elif i == vocab["eos"]:
            piece = "\n</s>\n"
        encoded.append(piece.replace("\u2581", " ").encode("utf-8", errors="surrogateescape"))
    with open(path, "wb") as f:
        f.write(struct.pack("<i", max(len(b) for b in encoded)))
        for b, score in zip(encoded, vocab["scores"]):
            f.write(struct.pack("<fi", float(score), len(b)) + b)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Write a llama2.c checkpoint (v0, v1 or int8 v2).")
    ap.add_argument("model")
    ap.add_argument("--tokenizer", help="llama2.c tokenizer.bin, when the input is a llama2.c file")
    ap.add_argument("--version", type=int, default=1, choices=[0, 1, 2])
    ap.add_argument("--group-size", type=int, help=f"v2 quantization group (default {DEFAULT_GROUP_SIZE}, halved until it divides dim and hidden_dim)")
    ap.add_argument("--tokenizer-out", help="also write the vocabulary as a llama2.c tokenizer.bin")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    try:
        model = convert.load_model(a.model, a.tokenizer)
        write(model, a.out, a.version, a.group_size)
        if a.tokenizer_out:
            if model.vocab is None:
                raise ValueError(f"{a.model} has no vocabulary for --tokenizer-out")
            write_tokenizer(model.vocab, a.tokenizer_out)
    except (ValueError, OSError) as e:
        sys.exit(f"export_llama2c.py: {e}")


if __name__ == "__main__":
    main()
