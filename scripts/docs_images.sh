#!/bin/sh
# docs_images.sh — regenerate the pictures of docs/attention.md from the default model:
#   docs/attention-map.png       ./run --attn-map's PNG (recompressed: ./run writes stored deflate
#                                blocks, which are large; zlib level 9 keeps the pixels)
#   docs/attention-map-html.png  a headless-Chromium screenshot of the HTML page, opened at layer 4,
#                                head 6 with the tooltip of query 12, key 11
#   docs/attention-map-window.png  the maps of a run with --window 12 --sinks 2 (recompressed too)
# Needs ./run (make bin) and Debian's chromium. Not part of `make test`.
set -e
cd "$(dirname "$0")/.."
PROMPT="Once upon a time, there was a little girl named Lily. She loved to play outside."
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
# recompress IN OUT: the same pixels, zlib level 9
recompress() {
/usr/bin/python3 - "$1" "$2" <<'PYEOF'
import struct, sys, zlib
b = open(sys.argv[1], "rb").read()
at, chunks, idat = 8, [], b""
while at < len(b):
    n, t = struct.unpack(">I4s", b[at:at + 8])
    if t == b"IDAT": idat += b[at + 8:at + 8 + n]
    elif t != b"IEND": chunks.append((t, b[at + 8:at + 8 + n]))
    at += 12 + n
chunks += [(b"IDAT", zlib.compress(zlib.decompress(idat), 9)), (b"IEND", b"")]
with open(sys.argv[2], "wb") as f:
    f.write(b[:8])
    for t, d in chunks:
        f.write(struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d)))
PYEOF
}
./run models/stories-attend.gguf -t 1 -p "$PROMPT" --attn-map "$OUT/map"
recompress "$OUT/map.png" docs/attention-map.png
WPROMPT="Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her dog."
./run models/stories-attend.gguf -t 1 --window 12 --sinks 2 -p "$WPROMPT" --attn-map "$OUT/window"
recompress "$OUT/window.png" docs/attention-map-window.png
profile=$(mktemp -d "$OUT/chromium.XXXXXX")
nice chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
    --disable-sync --no-first-run --user-data-dir="$profile" --screenshot="$PWD/docs/attention-map-html.png" \
    --window-size=1200,900 "file://$OUT/map.html#4,6,12,11" 2> /dev/null
ls -l docs/attention-map.png docs/attention-map-html.png docs/attention-map-window.png
