#!/usr/bin/python3
"""reference.py — an independent float64 forward pass of a llama model, to check the C engine.

    reference.py MODEL --tokens 1,45,67 --logits-out FILE   raw float32 logits of every position
                                                            (n_tokens x vocab, row-major)
    reference.py MODEL --tokens 1,45,67 --attn FILE         raw float64 attention weights of the tokens:
                                                            [layer][head][query][key], n_tokens x n_tokens
                                                            per head, 0 where the key follows the query
    reference.py MODEL --tokens 1 --greedy 50 [--decode]    the 50 greedy ids that follow (one line,
                                                            space-separated), then the text if asked

MODEL is a GGUF file (F32, F16, BF16, Q8_0, Q4_0) or a llama2.c checkpoint v0/v1/v2 (--tokenizer
tokenizer.bin for --decode). Stored weights are dequantized exactly (every value is a float32),
then everything is float64. The math, step by step, is the definition attend implements:

    x = token_embd[token]
    per layer:
        h = rmsnorm(x) * attn_norm                  rmsnorm(x) = x / sqrt(mean(x^2) + eps)
        q, k, v = Wq h, Wk h, Wv h                  split into heads of head_dim
        RoPE on q and k: pairs (2i, 2i+1) of each head, i < rope_dim/2, rotated by
                         pos / rope_scale * base^(-2i / rope_dim)   (rope_scale: linear scaling, 1 = none)
        query head j attends with kv head j // (n_heads / n_kv_heads) over positions <= pos,
                         softmax(q.k / sqrt(head_dim)) weighted sum of v
        x += Wo attn
        h = rmsnorm(x) * ffn_norm
        x += W_down (silu(W_gate h) * W_up h)       silu(z) = z / (1 + e^-z)
    logits = W_out (rmsnorm(x) * output_norm)       W_out = token_embd when the file has no output.weight
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import convert  # noqa: E402


class Reference:
    def __init__(self, model):
        c = model.config
        self.c = c
        self.w = {name: t.astype(np.float64) for name, t in model.tensors.items()}
        self.head_dim = c["dim"] // c["n_heads"]
        self.n_rep = c["n_heads"] // c["n_kv_heads"]     # query heads sharing one kv head
        self.out = self.w["token_embd.weight"] if c["tied"] else self.w["output.weight"]
        self.keys = [np.zeros((0, c["n_kv_heads"], self.head_dim)) for _ in range(c["n_layers"])]
        self.values = [np.zeros((0, c["n_kv_heads"], self.head_dim)) for _ in range(c["n_layers"])]
        self.weights = [None] * c["n_layers"]   # the last forward's attention weights, per layer

    def rmsnorm(self, x, weight):
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + self.c["norm_eps"]) * weight

    def rope(self, x, positions):
        """x: (n, heads, head_dim); rotate interleaved pairs of the first rope_dim dims."""
        rope_dim = self.c["rope_dim"]
        i = np.arange(rope_dim // 2)
        inv_freq = self.c["rope_base"] ** (-2.0 * i / rope_dim)
        # linear RoPE scaling (llama.rope.scaling.type "linear"): positions divided by the factor
        positions = positions / self.c.get("rope_scale", 1.0)
        angle = positions[:, None] * inv_freq[None, :]              # (n, rope_dim/2)
        cos, sin = np.cos(angle)[:, None, :], np.sin(angle)[:, None, :]
        out = x.copy()
        even, odd = x[..., 0:rope_dim:2], x[..., 1:rope_dim:2]
        out[..., 0:rope_dim:2] = even * cos - odd * sin
        out[..., 1:rope_dim:2] = even * sin + odd * cos
        return out

    def forward(self, tokens):
        """Logits (n, vocab) of tokens appended after the ones already in the cache."""
        c, w, hd = self.c, self.w, self.head_dim
        tokens = np.asarray(tokens, dtype=np.int64)
        if tokens.min() < 0 or tokens.max() >= c["vocab_size"]:
            raise ValueError(f"token id out of range [0, {c['vocab_size']})")
        start = self.keys[0].shape[0]
        n = len(tokens)
        positions = np.arange(start, start + n, dtype=np.float64)
        x = w["token_embd.weight"][tokens]                             # (n, dim)
        # causal mask: query at position start+i sees keys at positions <= start+i
        visible = np.arange(start + n)[None, :] <= (start + np.arange(n))[:, None]
        for layer in range(c["n_layers"]):
            self.weights[layer] = np.zeros((c["n_heads"], n, start + n))   # (head, query, key)
            p = f"blk.{layer}."
            h = self.rmsnorm(x, w[p + "attn_norm.weight"])
            q = (h @ w[p + "attn_q.weight"].T).reshape(n, c["n_heads"], hd)
            k = (h @ w[p + "attn_k.weight"].T).reshape(n, c["n_kv_heads"], hd)
            v = (h @ w[p + "attn_v.weight"].T).reshape(n, c["n_kv_heads"], hd)
            q, k = self.rope(q, positions), self.rope(k, positions)
            self.keys[layer] = np.concatenate([self.keys[layer], k])
            self.values[layer] = np.concatenate([self.values[layer], v])
            keys, values = self.keys[layer], self.values[layer]            # (start+n, kv_heads, hd)
            attn = np.empty((n, c["n_heads"], hd))
            for head in range(c["n_heads"]):
                kv_head = head // self.n_rep
                scores = q[:, head, :] @ keys[:, kv_head, :].T / np.sqrt(hd)   # (n, start+n)
                scores = np.where(visible, scores, -np.inf)
                scores -= scores.max(axis=1, keepdims=True)
                probs = np.exp(scores)
                probs /= probs.sum(axis=1, keepdims=True)
                self.weights[layer][head] = probs
                attn[:, head, :] = probs @ values[:, kv_head, :]
            x = x + attn.reshape(n, c["dim"]) @ w[p + "attn_output.weight"].T
            h = self.rmsnorm(x, w[p + "ffn_norm.weight"])
            gate = h @ w[p + "ffn_gate.weight"].T
            up = h @ w[p + "ffn_up.weight"].T
            x = x + (gate / (1.0 + np.exp(-gate)) * up) @ w[p + "ffn_down.weight"].T
        return self.rmsnorm(x, w["output_norm.weight"]) @ self.out.T


def decode(vocab, ids):
    """Text of ids as SentencePiece decodes it: control pieces vanish, <0xNN> pieces are raw
    bytes, '▁' is a space, and the dummy-prefix space at the very start is dropped."""
    out = bytearray()
    for i in ids:
        piece, kind = vocab["pieces"][i], int(vocab["types"][i])
        if kind == 3:
            continue
        if kind == 6:
            out.append(int(piece[3:5], 16))
        else:
            out += piece.replace("\u2581", " ").encode("utf-8", errors="surrogateescape")
    text = out.decode("utf-8", errors="replace")
    return text[1:] if text.startswith(" ") else text


def compare(ref, path, tolerance):
    other = np.fromfile(path, dtype="<f4").astype(np.float64)
    if other.size != ref.size:
        sys.exit(f"reference.py: {path} holds {other.size} logits, want {ref.shape[0]} x {ref.shape[1]} = {ref.size}")
    if not np.all(np.isfinite(other)):
        sys.exit(f"reference.py: {path}: {np.count_nonzero(~np.isfinite(other))} logits are not finite")
    error = np.linalg.norm(other - ref.reshape(-1)) / np.linalg.norm(ref)
    print(f"relative error {error:.3g} over {ref.shape[0]} positions")
    if not error <= tolerance:
        sys.exit(f"reference.py: relative error {error:.3g} over {ref.shape[0]} positions exceeds {tolerance:g}")


def main(argv=None):
    ap = argparse.ArgumentParser(description="float64 reference forward pass")
    ap.add_argument("model")
    ap.add_argument("--tokenizer", help="llama2.c tokenizer.bin (for --decode with a llama2.c file)")
    ap.add_argument("--tokens", default=None, help="comma-separated ids (default: BOS)")
    ap.add_argument("--logits-out", help="write float32 logits of every position here")
    ap.add_argument("--compare", metavar="LOGITS", help="raw float32 logits of every position from another "
                    "engine: print ||other - ref|| / ||ref|| and fail when it exceeds --tolerance")
    ap.add_argument("--tolerance", type=float, default=1e-4)
    ap.add_argument("--attn", metavar="FILE", help="write float64 attention weights of the tokens here: "
                    "[layer][head][query][key], 0 for masked (future) keys")
    ap.add_argument("--greedy", type=int, default=0, help="print this many greedy ids after the tokens")
    ap.add_argument("--decode", action="store_true", help="with --greedy, also print the decoded text")
    a = ap.parse_args(argv)
    try:
        model = convert.load_model(a.model, a.tokenizer)
        if a.tokens:
            tokens = [int(t) for t in a.tokens.replace(" ", ",").split(",") if t]
        else:
            bos = model.vocab["bos"] if model.vocab else 1
            tokens = [bos]
        ref = Reference(model)
        logits = ref.forward(tokens)
    except (ValueError, OSError) as e:
        sys.exit(f"reference.py: {e}")
    if a.attn:
        np.stack(ref.weights).astype("<f8").tofile(a.attn)
    if a.logits_out:
        logits.astype("<f4").tofile(a.logits_out)
    if a.compare:
        compare(logits, a.compare, a.tolerance)
    if a.greedy > 0:
        generated = []
        for _ in range(a.greedy):
            generated.append(int(np.argmax(logits[-1])))
            logits = ref.forward([generated[-1]])
        print(" ".join(map(str, generated)))
        if a.decode:
            if model.vocab is None:
                sys.exit("reference.py: --decode needs a vocabulary (--tokenizer for llama2.c files)")
            print(decode(model.vocab, tokens + generated))


if __name__ == "__main__":
    main()
