#!/bin/sh
# bench.sh — measure decode and prefill speed of ./run and write docs/bench.md.
#
# Models: stories260K from ../shared (when present) and random-weight models of llama2.c's s15M
# and s110M shapes (made once by scripts/make_models.py into build/bench/). Each figure is the best
# of REPEATS runs, because this machine is shared and noisy; ratios within one run are what hold.
# Usage: scripts/bench.sh [REPEATS]      (make bench runs it)
set -e
cd "$(dirname "$0")/.."
REPEATS=${1:-3}
LOAD=$(cut -d" " -f1-3 /proc/loadavg)
PY=/usr/bin/python3
OUT=docs/bench.md
DIR=build/bench
mkdir -p "$DIR"
SHARED=${ATTEND_SHARED:-../shared}

model() {   # model NAME PRESET TYPE -> path (generated once)
    f="$DIR/$1.gguf"
    [ -f "$f" ] || $PY scripts/make_models.py "$2" --type "$3" --out "$f" >&2
    echo "$f"
}

# A prompt of about N tokens: TinyStories-like text repeated (token count checked by --tokenize).
prompt_of() {   # prompt_of MODEL N
    text="Once upon a time, there was a little girl named Lily. She loved to play outside in the park."
    p="$text"
    while [ "$(./run "$1" -p "$p" --tokenize | wc -w)" -lt "$2" ]; do p="$p $text"; done
    echo "$p"
}

best() {   # best FIELD CMD... : run REPEATS times, print the highest "(X tok/s)" of FIELD (prompt|generated)
    field=$1; shift
    b=0
    for i in $(seq "$REPEATS"); do
        v=$("$@" 2>&1 >/dev/null | sed -n "s/.*$field: [0-9]* tokens in [0-9.]* ms (\([0-9.]*\) tok\/s).*/\1/p")
        b=$(awk "BEGIN{print ($v > $b) ? $v : $b}")
    done
    echo "$b"
}

rows=""
row() {   # row LABEL MODEL THREADS PROMPT_TOKENS
    m=$2; t=$3; n=$4
    p=$(prompt_of "$m" "$n")
    np=$(./run "$m" -p "$p" --tokenize | wc -w)
    dec=$(best generated ./run "$m" -t "$t" --temp 0 -n 128 -p "Once upon a time")
    pre=$(best prompt ./run "$m" -t "$t" --temp 0 -n 1 -p "$p")
    echo "$1 | $t | $dec | $pre (pp$np)" >&2
    rows="$rows
| $1 | $t | $dec | $pre (pp$np) |"
}

if [ -f "$SHARED/models/stories260K/stories260K.gguf" ]; then
    for t in 1 2; do row "stories260K F32" "$SHARED/models/stories260K/stories260K.gguf" $t 256; done
fi
for t in 1 2; do row "stories-attend F32 (default)" models/stories-attend.gguf $t 256; done
S15=$(model s15M-F32 s15M F32)
for t in 1 2; do row "s15M F32 (random)" "$S15" $t 240; done
for ty in F32 Q8_0 Q4_0; do
    m=$(model "s110M-$ty" s110M $ty)
    row "s110M $ty (random)" "$m" 2 500
done

cat > "$OUT" <<MD
# Benchmarks

Measured by \`make bench\` (scripts/bench.sh, best of $REPEATS runs each) on $(date -u +%Y-%m-%d),
commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(nproc) cores
($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), load average before the run:
$LOAD. Decode: 128 greedy tokens after a 5-token prompt. Prefill: one prompt of the stated length
(ppN = N tokens). Random-weight models have the named shapes (scripts/make_models.py) and a 32000-token
vocabulary, like llama2.c's s15M and s110M. The machine is shared: figures move by up to 30 % between
runs; compare within one table.

| model | threads | decode tok/s | prefill tok/s |
|---|---|---|---|$rows
MD
echo "wrote $OUT" >&2
