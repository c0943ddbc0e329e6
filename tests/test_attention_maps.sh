#!/bin/sh
# test_attention_maps.sh — ./run's attention maps against scripts/reference.py's float64 weights
# (within 1e-5, every layer, head, query and key) on the default model (GQA 8:4), a random
# multi-query model, a random GQA model over two prefill chunks and, with ../shared, stories260K;
# and the PNG, HTML and text views they feed.
. "$(dirname "$0")/lib.sh"

RUN=${ATTEND_RUN:-./run}
DEFAULT=${ATTEND_DEFAULT_MODEL:-models/stories-attend.gguf}
PROMPT="Once upon a time, there was a little girl named Lily. She loved to play outside."
export PYTHONDONTWRITEBYTECODE=1

# weights_match NAME MODEL [PROMPT_FILE]: --attn-dump equals reference.py --attn within 1e-5.
weights_match() {
    name=$1 model=$2
    printf '%s' "$PROMPT" > "$TMP/prompt"
    [ -n "$3" ] && cp "$3" "$TMP/prompt"
    if ! ids=$($RUN "$model" -t 1 -f "$TMP/prompt" --tokenize 2> "$TMP/err") ||
       ! $RUN "$model" -t 2 -f "$TMP/prompt" --attn-dump "$TMP/c.attn" 2> "$TMP/err" ||
       ! $PY scripts/reference.py "$model" --tokens "$(echo $ids | tr ' ' ',')" --attn "$TMP/r.f64" 2> "$TMP/err"; then
        fail "$name" "$(tail -n 1 "$TMP/err")"; return
    fi
    if why=$($PY - "$TMP/c.attn" "$TMP/r.f64" "$(echo $ids | wc -w)" <<'PYEOF' 2>&1
import sys, numpy as np
c_path, r_path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
raw = open(c_path, "rb").read()
assert raw[:4] == b"ATTN", raw[:4]
version, layers, heads, kv_heads, tokens = np.frombuffer(raw[4:24], "<i4")
assert version == 1 and tokens == n, (version, tokens, n)
c = np.frombuffer(raw[24:], "<f4").astype(np.float64)
r = np.fromfile(r_path, "<f8")
assert c.size == r.size == layers * heads * n * n, (c.size, r.size, layers, heads, n)
c, r = c.reshape(layers, heads, n, n), r.reshape(layers, heads, n, n)
future = np.triu(np.ones((n, n), bool), 1)
assert np.all(c[..., future] == 0), "a masked cell is not 0"
assert np.abs(c.sum(-1) - 1).max() < 1e-5, "rows do not sum to 1"
err = np.abs(c - r).max()
assert err <= 1e-5, f"max |C - reference| = {err:.3g} over {layers} layers x {heads} heads x {n} tokens"
PYEOF
    ); then pass "$name"; else fail "$name" "$(echo "$why" | tail -n 1)"; fi
}

weights_match test_attention_maps_match_reference_default_model "$DEFAULT"
if PYTHONPATH=scripts $PY scripts/make_models.py tiny-mqa --seed 21 --out "$TMP/mqa.gguf" > "$TMP/err" 2>&1; then
    weights_match test_attention_maps_match_reference_random_mqa "$TMP/mqa.gguf"
else
    fail test_attention_maps_match_reference_random_mqa "make_models.py: $(tail -n 1 "$TMP/err")"
fi
# 576 tokens: over 512, the prompt runs in two chunks and the observer is called twice per layer.
yes "$PROMPT" | head -n 14 | tr '\n' ' ' > "$TMP/long.txt"
if PYTHONPATH=scripts $PY scripts/make_models.py tiny-gqa --ctx 1024 --seed 22 --out "$TMP/gqa1k.gguf" > "$TMP/err" 2>&1; then
    weights_match test_attention_maps_match_reference_across_prefill_chunks "$TMP/gqa1k.gguf" "$TMP/long.txt"
else
    fail test_attention_maps_match_reference_across_prefill_chunks "make_models.py: $(tail -n 1 "$TMP/err")"
fi
if [ -n "$SHARED" ]; then
    weights_match test_attention_maps_match_reference_stories260K "$SHARED/models/stories260K/stories260K.gguf"
else
    skip test_attention_maps_match_reference_stories260K "../shared missing"
fi

# The PNG decodes (chunk CRCs, zlib) to an image of plausible size; the HTML is one file that
# fetches nothing and carries every token and head.
if $RUN "$DEFAULT" -t 1 -p "$PROMPT" --attn-map "$TMP/map" > /dev/null 2> "$TMP/err" &&
   why=$($PY - "$TMP/map" <<'PYEOF' 2>&1
import re, struct, sys, zlib
b = open(sys.argv[1] + ".png", "rb").read()
assert b[:8] == b"\x89PNG\r\n\x1a\n"
at, idat = 8, b""
while at < len(b):
    n, t = struct.unpack(">I4s", b[at:at + 8]); d = b[at + 8:at + 8 + n]
    assert struct.unpack(">I", b[at + 8 + n:at + 12 + n])[0] == zlib.crc32(t + d), t
    if t == b"IHDR": w, h = struct.unpack(">II", d[:8])
    if t == b"IDAT": idat += d
    at += 12 + n
assert len(zlib.decompress(idat)) == h * (3 * w + 1) and 400 <= w <= 4000 and 300 <= h <= 4000, (w, h)
html = open(sys.argv[1] + ".html", encoding="utf-8").read()
assert not re.search(r"(src|href)\s*=|https?:|@import|fetch\(|XMLHttpRequest", html), "the page refers outside itself"
tokens = re.search(r'"tokens": (\[.*?\]),\n', html)
assert tokens and tokens.group(1).count('", "') == 20 - 1, "want the prompt's 20 tokens in the page"
assert html.count("],\n") + 1 == 6 * 8 + 1, "want 6 x 8 heads (+ the tokens line)"
PYEOF
   ); then pass test_attention_map_png_and_html_are_well_formed
else fail test_attention_map_png_and_html_are_well_formed "$(tail -n 1 "$TMP/err") $why"; fi

# The text view: a header, two lines of key positions, one row per token; the future is '·'.
if $RUN "$DEFAULT" -t 1 -p "$PROMPT" --attn-map-text 5:7 > "$TMP/text" 2> "$TMP/err" &&
   [ "$(wc -l < "$TMP/text")" -eq 23 ] && grep -q "^layer 5, query head 7 (kv head 3)" "$TMP/text" &&
   sed -n 4p "$TMP/text" | grep -q "^   0 <s> .*···················$" &&
   sed -n 23p "$TMP/text" | grep -q "^  19 \\. "; then
    pass test_attention_map_text_shows_one_head
else
    fail test_attention_map_text_shows_one_head "$(head -c 300 "$TMP/text" | tr '\n' '|') $(tail -n 1 "$TMP/err")"
fi
exit $FAILED
