#!/usr/bin/python3
"""make_models.py — random-weight llama GGUF models of a chosen shape, for tests and benchmarks.

    make_models.py tiny-gqa --type Q4_0 --out /tmp/tiny-gqa-q4.gguf
    make_models.py --dim 128 --hidden 256 --layers 2 --heads 4 --kv-heads 2 --vocab 512 --out m.gguf
    make_models.py s110M --type F16 --vocab-from ../shared/models/vocab/ggml-vocab-llama-spm.gguf --out m.gguf
    make_models.py --list
    make_models.py tiny-mha --no-byte-pieces --special-tokens '<|im_start|>,<|im_end|>' \
        --chat-template '{{ "<|im_start|>" + message.role }}' --out chat.gguf

A preset gives the shape; any flag overrides it. The weights are Gaussian with std 1/sqrt(fan_in),
so every projection keeps unit-scale activations (queries, keys, logits ~ N(0, 1)) and attention is
neither uniform nor one-hot; norm weights are near 1. The same seed gives the same file.

Without --vocab-from the vocabulary is synthetic and self-contained: <unk>, <s>, </s>, the 256 byte
pieces <0x00>..<0xFF>, then '▁', letters, digits, punctuation and English-like pieces with
decreasing scores (--no-byte-pieces: no byte pieces but a newline piece, so that every piece a
random model picks is whole UTF-8 text; --special-tokens: user-defined pieces such as ChatML's
markers, in place of the last ordinary pieces). Every multi-character piece is a single character added to a shorter piece, so
it is a valid SentencePiece BPE vocabulary; with byte fallback it encodes any text.
"""
import argparse
import os
import string
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import convert  # noqa: E402
import gguf  # noqa: E402

# name: (dim, hidden, layers, heads, kv_heads, vocab, ctx, tied)
PRESETS = {
    "tiny-mha":   (64, 192, 2, 4, 4, 512, 128, True),
    "tiny-gqa":   (128, 256, 2, 8, 2, 512, 128, True),
    "tiny-mqa":   (64, 192, 2, 4, 1, 512, 128, True),
    "untied":     (64, 192, 2, 4, 2, 512, 128, False),
    "hd32":       (128, 256, 2, 4, 2, 512, 128, True),
    "hd48":       (192, 384, 2, 4, 2, 512, 128, True),
    "hd64":       (256, 512, 2, 4, 2, 512, 128, True),
    "hd128":      (256, 512, 2, 2, 1, 512, 128, True),
    "hidden-odd": (64, 172, 2, 8, 4, 512, 128, True),     # hidden not a multiple of 32: stays F32
    "s15M":       (288, 768, 6, 6, 6, 32000, 256, True),
    "s110M":      (768, 2048, 12, 12, 12, 32000, 1024, True),
    "s110M-gqa":  (768, 2048, 12, 12, 4, 32000, 1024, True),
    "tinyllama":  (2048, 5632, 22, 32, 4, 32000, 2048, False),
    "tl1b":       (2048, 5632, 22, 32, 4, 32000, 2048, False),  # TinyLlama 1.1B's shape, as the benchmarks name it
}

# ==== synthetic vocabulary ==================================================================

SPACE = "\u2581"   # SentencePiece's visible space
# Frequent words of simple English stories, most frequent first.
WORDS = """the and a to was he she it they his her said in of had you with that on one day
there time upon once i is for so be at saw big little very but not play all were what happy
him them we do can go like mom friend went have are up new this want help could see out from
looked fun did would too then asked tree dog cat ball park girl boy named lily tim ben sam sun
sky toy home red blue green good nice came made found back smiled loved when will make your
about their while again know come get away down into good bird fish jump run ran walk talk
thank thanks sorry yes no because something find look how why who where water food small
tall box car house room bed door garden friends together always never felt feel kind sad
""".split()
PUNCTUATION = list(".,!?'\"-:;()")


def synthetic_vocab(vocab_size):
    """(pieces, scores, types) of exactly vocab_size pieces; deterministic."""
    if vocab_size < 260:
        raise ValueError(f"--vocab {vocab_size}: a synthetic vocabulary needs at least 260 pieces (3 special, 256 bytes, '▁')")
    pieces = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    types = [2, 3, 3] + [6] * 256
    seen = set(pieces)
    normal = []

    def add(p):
        if p not in seen:
            seen.add(p)
            normal.append(p)

    letters = "etaoinshrdlucmfwypvbgkjqxz"      # English letter frequency order
    for ch in [SPACE] + list(letters) + list(string.ascii_uppercase) + list(string.digits) + PUNCTUATION:
        add(ch)
    for ch in letters + string.ascii_uppercase:
        add(SPACE + ch)
    # Whole words with a leading space, each reachable one character at a time: ▁t, ▁th, ▁the.
    for word in WORDS:
        for w in (word, word.capitalize()):
            for k in range(1, len(w) + 1):
                add(SPACE + w[:k])
    # Then every pair and triple of letters, inside and at the start of words.
    for a in letters:
        for b in letters:
            add(a + b)
            add(SPACE + a + b)
    for a in letters:
        for b in letters:
            for c in letters:
                if len(normal) >= vocab_size:
                    break
                add(a + b + c)
                add(SPACE + a + b + c)
    if len(pieces) + len(normal) < vocab_size:
        raise ValueError(f"--vocab {vocab_size}: the synthetic vocabulary has only {len(pieces) + len(normal)} pieces")
    normal = normal[:vocab_size - len(pieces)]
    scores = [0.0] * len(pieces) + [-float(i) for i in range(len(normal))]
    return pieces + normal, np.array(scores, np.float32), np.array(types + [1] * len(normal), np.int32)


def chat_vocab(vocab_size, special_tokens, byte_pieces):
    """synthetic_vocab, without its byte pieces (then with a newline piece) when not byte_pieces,
    and with special_tokens as user-defined pieces (type 4) at its end."""
    pieces, scores, types = synthetic_vocab(vocab_size if byte_pieces else vocab_size + 256)
    pieces, scores, types = list(pieces), list(scores), list(types)
    if not byte_pieces:
        keep = [i for i, t in enumerate(types) if t != 6]
        pieces, scores, types = [pieces[i] for i in keep], [scores[i] for i in keep], [types[i] for i in keep]
        pieces[3:3] = ["\n"]
        scores[3:3] = [0.0]
        types[3:3] = [1]
    for token in special_tokens:
        if token in pieces:
            raise ValueError(f"--special-tokens: {token!r} is already a piece")
    n = vocab_size - len(special_tokens)
    pieces, scores, types = pieces[:n] + special_tokens, scores[:n] + [0.0] * len(special_tokens), \
        types[:n] + [4] * len(special_tokens)
    return pieces, np.array(scores, np.float32), np.array(types, np.int32)


def vocab_from_file(path):
    v = convert.vocab_from_gguf(gguf.read(path))
    if v is None:
        raise ValueError(f"{path}: no tokenizer.ggml.tokens")
    return v


# ==== weights ===============================================================================

def weight_producers(config, seed):
    """{tensor name: function returning its float32 values}. Each tensor draws from its own
    generator seeded by (seed, tensor index), so files are reproducible tensor by tensor and a
    large model is generated one tensor at a time while it is written."""
    producers = {}
    for index, (name, shape) in enumerate(convert.tensor_shapes(config).items()):
        def make(shape=shape, index=index):
            rng = np.random.default_rng([seed, index])
            if len(shape) == 1:     # an RMSNorm gain: near 1
                return (1.0 + 0.1 * rng.standard_normal(shape, dtype=np.float32)).astype(np.float32)
            fan_in = shape[1]
            return rng.standard_normal(shape, dtype=np.float32) * np.float32(1.0 / np.sqrt(fan_in))
        producers[name] = make
    return producers


def main(argv=None):
    ap = argparse.ArgumentParser(description="Write a random-weight llama GGUF model.")
    ap.add_argument("preset", nargs="?", help="a named shape (see --list)")
    ap.add_argument("--list", action="store_true", help="print the presets and exit")
    ap.add_argument("--dim", type=int)
    ap.add_argument("--hidden", type=int)
    ap.add_argument("--layers", type=int)
    ap.add_argument("--heads", type=int)
    ap.add_argument("--kv-heads", type=int)
    ap.add_argument("--vocab", type=int)
    ap.add_argument("--ctx", type=int)
    tied = ap.add_mutually_exclusive_group()
    tied.add_argument("--tied", dest="tied", action="store_true", default=None)
    tied.add_argument("--untied", dest="tied", action="store_false")
    ap.add_argument("--rope-dim", type=int, help="dimensions of each head RoPE rotates (default head_dim)")
    ap.add_argument("--rope-base", type=float, default=convert.DEFAULT_ROPE_BASE)
    ap.add_argument("--eps", type=float, default=1e-5)
    ap.add_argument("--rope-scale", type=float, default=1.0,
                    help="linear RoPE scaling factor (llama.rope.scaling.type linear); 1 = none")
    ap.add_argument("--type", default="F32", choices=convert.FILE_TYPES,
                    help="storage type of the matrices, or a mix: Q4_K_M, Q5_K_M (see convert.tensor_types)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--vocab-from", help="copy the vocabulary of this GGUF file")
    ap.add_argument("--no-byte-pieces", action="store_true", help="synthetic vocabulary without <0xNN> pieces")
    ap.add_argument("--special-tokens", default="", help="comma-separated user-defined pieces to add")
    ap.add_argument("--chat-template", help="text stored as tokenizer.chat_template")
    ap.add_argument("--out")
    a = ap.parse_args(argv)

    if a.list:
        for name, (d, h, l, nh, kv, v, ctx, t) in PRESETS.items():
            print(f"{name:11s} dim {d:5d} hidden {h:5d} layers {l:3d} heads {nh:3d} kv {kv:3d} "
                  f"vocab {v:6d} ctx {ctx:5d} {'tied' if t else 'untied'}")
        return
    if not a.out:
        ap.error("--out is required")
    if a.preset and a.preset not in PRESETS:
        sys.exit(f"make_models.py: unknown preset {a.preset!r} (have: {', '.join(PRESETS)})")
    shape = dict(zip(("dim", "hidden", "layers", "heads", "kv_heads", "vocab", "ctx", "tied"),
                     PRESETS[a.preset] if a.preset else (None,) * 7 + (True,)))
    for key in shape:
        if getattr(a, key) is not None:
            shape[key] = getattr(a, key)
    try:
        vocab = None
        if a.vocab_from:
            vocab = vocab_from_file(a.vocab_from)
            if a.vocab is not None and a.vocab != len(vocab["pieces"]):
                raise ValueError(f"--vocab {a.vocab} but {a.vocab_from} has {len(vocab['pieces'])} pieces")
            shape["vocab"] = len(vocab["pieces"])
        missing = [k for k, v in shape.items() if v is None]
        if missing:
            raise ValueError(f"no preset given and missing --{', --'.join(m.replace('_', '-') for m in missing)}")
        if vocab is None:
            specials = [t for t in a.special_tokens.split(",") if t]
            pieces, scores, types = chat_vocab(shape["vocab"], specials, not a.no_byte_pieces)
            vocab = dict(pieces=pieces, scores=scores, types=types, bos=1, eos=2, unk=0)
        config = convert.make_config(shape["dim"], shape["hidden"], shape["layers"], shape["heads"],
                                     shape["kv_heads"], shape["vocab"], shape["ctx"], rope_base=a.rope_base,
                                     rope_dim=a.rope_dim, norm_eps=a.eps, tied=shape["tied"])
        config["rope_scale"] = a.rope_scale
        if config["rope_dim"] % 2 or config["rope_dim"] > config["dim"] // config["n_heads"]:
            raise ValueError(f"--rope-dim {config['rope_dim']} must be even and at most head_dim")
        model = convert.Model(config, weight_producers(config, a.seed), vocab, "random")
        extra = {"tokenizer.chat_template": (gguf.STRING, a.chat_template, None)} if a.chat_template else None
        convert.write_gguf(model, a.out, a.type, name=a.preset or "random", extra_kv=extra)
    except ValueError as e:
        sys.exit(f"make_models.py: {e}")


if __name__ == "__main__":
    main()
