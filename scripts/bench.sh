#!/bin/sh
# bench.sh — `make bench`: ./run --bench over a set of models -> build/bench/report.md and report.json.
#
# Models: stories260K from ../shared (when present) and random-weight models of named shapes, made
# once by scripts/make_models.py into build/bench/ (with the 32000-token Llama vocabulary from
# ../shared/models/vocab when present, else a synthetic one of the same size):
#   s15M-F32 s110M-F32 s110M-F16 s110M-Q8_0 s110M-Q4_0 s110M-gqa-F32 tl1b-F16 tl1b-Q8_0 tl1b-Q4_0
# Each model runs `./run MODEL --bench --json` (a warm-up, then BENCH_REPS repetitions of each test).
# With LLAMA_BENCH=/path/to/llama-bench, llama.cpp's llama-bench measures the same file right after
# ours (interleaved per model, the same minutes), and the report adds its tok/s and our ratio.
#
# Settings (environment):
#   BENCH_MODELS   names from the list above, space- or comma-separated (default: all)
#   BENCH_REPS     repetitions per test (default 5)
#   BENCH_PROMPT   prompt lengths, -p (default 512)      BENCH_GEN     generated tokens, -n (default 128)
#   BENCH_DEPTHS   KV cache depths, -d (default 0,512)   BENCH_THREADS threads, -t (default 2)
# Quick look:  BENCH_MODELS=stories260K,s15M-F32 BENCH_REPS=2 BENCH_DEPTHS=0 make bench
set -e
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
DIR=build/bench
SHARED=${ATTEND_SHARED:-../shared}
VOCAB=$SHARED/models/vocab/ggml-vocab-llama-spm.gguf
ALL="stories260K s15M-F32 s110M-F32 s110M-F16 s110M-Q8_0 s110M-Q4_0 s110M-gqa-F32 tl1b-F16 tl1b-Q8_0 tl1b-Q4_0"
MODELS=$(echo "${BENCH_MODELS:-$ALL}" | tr ',' ' ')
REPS=${BENCH_REPS:-5}
PROMPT=${BENCH_PROMPT:-512}
GEN=${BENCH_GEN:-128}
DEPTHS=${BENCH_DEPTHS:-0,512}
THREADS=${BENCH_THREADS:-2}
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)   # before the run: other work on the machine skews every figure
mkdir -p "$DIR"
rm -f "$DIR"/*.attend.json "$DIR"/*.llama.json

# model_file NAME -> the GGUF file for NAME (made once); empty when it cannot be had.
model_file() {
    case $1 in
    stories260K)
        f=$SHARED/models/stories260K/stories260K.gguf
        [ -f "$f" ] && echo "$f"
        return 0 ;;
    *-F32|*-F16|*-Q8_0|*-Q4_0) ;;
    *) echo "bench: unknown model '$1' (have: $ALL)" >&2; exit 1 ;;
    esac
    f=$DIR/$1.gguf
    if [ ! -f "$f" ]; then
        vocab=""
        [ -f "$VOCAB" ] && vocab="--vocab-from $VOCAB"
        echo "bench: making $f (random weights)" >&2
        # A context of 2048 for every shape, so that pp512 at depth 512 fits (llama2.c's s15M has 256).
        nice $PY scripts/make_models.py "${1%-*}" --type "${1##*-}" --ctx 2048 $vocab --out "$f.tmp" >&2
        mv "$f.tmp" "$f"
    fi
    echo "$f"
}

for name in $MODELS; do
    f=$(model_file "$name")
    if [ -z "$f" ]; then
        echo "bench: skipping $name ($SHARED is missing)" >&2
        continue
    fi
    echo "bench: $name" >&2
    ./run "$f" --bench -t "$THREADS" -r "$REPS" -p "$PROMPT" -n "$GEN" -d "$DEPTHS" --json "$DIR/$name.attend.json" >&2
    if [ -n "$LLAMA_BENCH" ]; then
        echo "bench: $name with llama-bench" >&2
        # Older llama-bench builds have no -d: then depth 0 only.
        "$LLAMA_BENCH" -m "$f" -t "$THREADS" -r "$REPS" -p "$PROMPT" -n "$GEN" -d "$DEPTHS" -o json \
            > "$DIR/$name.llama.json" 2> "$DIR/$name.llama.log" ||
        "$LLAMA_BENCH" -m "$f" -t "$THREADS" -r "$REPS" -p "$PROMPT" -n "$GEN" -o json \
            > "$DIR/$name.llama.json" 2>> "$DIR/$name.llama.log" ||
            { echo "bench: llama-bench failed on $name (see $DIR/$name.llama.log)" >&2; rm -f "$DIR/$name.llama.json"; }
    fi
done

COMMAND="BENCH_MODELS='$(echo $MODELS)' BENCH_REPS=$REPS BENCH_PROMPT=$PROMPT BENCH_GEN=$GEN BENCH_DEPTHS=$DEPTHS BENCH_THREADS=$THREADS make bench"
$PY scripts/bench_report.py --dir "$DIR" --models "$(echo $MODELS)" --command "$COMMAND" --commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    --load "$LOAD"

# Pictures need matplotlib (Debian's python3-matplotlib): installed when it is missing and we may.
if ! $PY -c 'import matplotlib' 2>/dev/null; then
    scripts/deps.sh plot || true
fi
if $PY -c 'import matplotlib' 2>/dev/null; then
    $PY scripts/plot_bench.py "$DIR/report.json" --out "$DIR"
else
    echo "bench: no plots (python3-matplotlib is not installed)" >&2
fi
