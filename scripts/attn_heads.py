#!/usr/bin/python3
"""attn_heads.py — name what each attention head does, from ./run --attn-dump.

    ./run MODEL -p TEXT --attn-dump a.attn
    attn_heads.py a.attn --tokens "$(./run MODEL -p TEXT --tokenize | tr ' ' ,)"

For every layer and query head, the mean weight a query puts on
    first   the first token (BOS): an "attention sink", where a head parks weight it does not need
    prev    the token just before it: a previous-token head
    self    itself
    copy    the token that followed an earlier occurrence of the query's own token (an induction or
            copying head: having seen "A B ... A", it looks at B to predict B again); needs --tokens
            and a prompt that repeats itself; "-" when no query token occurs twice
averaged over queries 1 .. n-1 (copy: over the queries whose token occurred before). The largest
of the four names the head when it is at least 0.3 (a query at position i spreading its weight
evenly would give each key 1/(i+1): about 0.13 on average over a 25-token prompt).
"""
import argparse
import sys

import numpy as np


def load(path):
    raw = open(path, "rb").read()
    if raw[:4] != b"ATTN":
        sys.exit(f"attn_heads.py: {path} is not an --attn-dump file")
    version, layers, heads, kv_heads, n = (int(v) for v in np.frombuffer(raw[4:24], "<i4"))
    w = np.frombuffer(raw[24:], "<f4").reshape(layers, heads, n, n)
    return w, kv_heads


def scores(w, tokens):
    n = w.shape[-1]
    q = np.arange(1, n)
    first = w[..., q, 0].mean(-1)
    prev = w[..., q, q - 1].mean(-1)
    self_ = w[..., q, q].mean(-1)
    pairs = []   # (query, key): the key followed an earlier occurrence of the query's token
    if tokens is not None:
        for i in range(1, n):
            earlier = [p for p in range(i - 1) if tokens[p] == tokens[i]]
            if earlier:
                pairs.append((i, earlier[-1] + 1))
    copy = np.mean([w[..., i, j] for i, j in pairs], axis=0) if pairs else None
    # what a head that spreads its weight evenly (1/(i+1) on each key of query i) would score
    chance = np.mean(1.0 / (q + 1)), (np.mean([1.0 / (i + 1) for i, _ in pairs]) if pairs else None)
    return first, prev, self_, copy, chance


def main(argv=None):
    ap = argparse.ArgumentParser(description="what each attention head does")
    ap.add_argument("dump")
    ap.add_argument("--tokens", help="comma-separated ids of the prompt (./run --tokenize), for 'copy'")
    a = ap.parse_args(argv)
    w, kv_heads = load(a.dump)
    tokens = [int(t) for t in a.tokens.split(",")] if a.tokens else None
    if tokens is not None and len(tokens) != w.shape[-1]:
        sys.exit(f"attn_heads.py: {len(tokens)} tokens given, the dump has {w.shape[-1]}")
    first, prev, self_, copy, chance = scores(w, tokens)
    layers, heads = w.shape[:2]
    rep = heads // kv_heads
    print("layer head kv   first  prev   self   copy   looks like")
    for l in range(layers):
        for h in range(heads):
            row = {"first token": first[l, h], "previous token": prev[l, h], "itself": self_[l, h]}
            if copy is not None:
                row["copying"] = copy[l, h]
            name, best = max(row.items(), key=lambda kv: kv[1])
            c = f"{copy[l, h]:.2f}" if copy is not None else "  -"
            print(f"{l:5d} {h:4d} {h // rep:2d}   {first[l, h]:.2f}   {prev[l, h]:.2f}   {self_[l, h]:.2f}   {c:5s}  "
                  f"{name if best >= 0.3 else 'spread out'}")
    print(f"even spread   {chance[0]:.2f}   {chance[0]:.2f}   {chance[0]:.2f}   " +
          (f"{chance[1]:.2f}" if chance[1] is not None else "  -") + "   (every key of a query weighted alike)")


if __name__ == "__main__":
    main()
