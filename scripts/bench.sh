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
# With LLAMA2C=/path/to/run (llama2.c's run.c, built outside this checkout; a comma list of builds,
# say `make runfast` and `make runomp`, gives the best build's figure), the F32 models' decode is
# measured by it too, right after llama-bench: the model exported to a llama2.c checkpoint
# (scripts/export_llama2c.py, once, into build/bench/), greedy, BENCH_REPS runs of BENCH_GEN steps
# with its output to /dev/null, each run's "achieved tok/s" (OMP_NUM_THREADS=BENCH_THREADS for an
# OpenMP build; it times from its second step, in whole milliseconds). Depth 0 only.
# With BENCH_ROUNDS=N, each model is measured in N rounds of all the engines, one after the other
# (ours first in odd rounds, last in even ones, so that a drift of the machine's speed during a
# round favours no engine), and the report gives each row's ratio in every round and their
# geometric mean: on a shared machine one measurement moves by up to 25 %, a ratio of neighbours
# much less.
# With BENCH_KERNELS=SET,SET,... (names as --kernels takes them: scalar, avx2, avx512, amx), each of
# our runs is followed by one with each listed kernel set, in the same round; the report adds a table
# of every set's tok/s and our main run's (the set the CPU gets by default) ratio to it. A set this
# CPU does not run is skipped with a message.
#
# Settings (environment):
#   BENCH_MODELS   names from the list above, space- or comma-separated (default: all)
#   BENCH_REPS     repetitions per test (default 5)
#   BENCH_PROMPT   prompt lengths, -p (default 512)      BENCH_GEN     generated tokens, -n (default 128)
#   BENCH_DEPTHS   KV cache depths, -d (default 0,512)   BENCH_THREADS threads, -t (default 2)
#   BENCH_ROUNDS   rounds of every engine per model (default 1)
#   BENCH_KERNELS  kernel sets to compare with the default one (default: none)
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
ROUNDS=${BENCH_ROUNDS:-1}
KERNELS=$(echo "${BENCH_KERNELS:-}" | tr ',' ' ')
case $ROUNDS in ''|*[!0-9]*|0) echo "bench: BENCH_ROUNDS must be a positive whole number, not '$ROUNDS'" >&2; exit 1 ;; esac
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)   # before the run: other work on the machine skews every figure
mkdir -p "$DIR"
rm -f "$DIR"/*.attend*.json "$DIR"/*.llama*.json

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

# llama2c_bench NAME FILE ROUND: llama2.c's decode of an F32 model -> $DIR/NAME.llama2c.rROUND.json
llama2c_bench() {
    case $1 in
    stories260K) ckpt=$SHARED/models/stories260K/stories260K.bin tok=$SHARED/models/stories260K/tok512.bin ;;
    *-F32)
        ckpt=$DIR/$1.llama2c.bin tok=$DIR/$1.llama2c.tok.bin
        if [ ! -f "$ckpt" ] || [ ! -f "$tok" ]; then
            echo "bench: exporting $2 as a llama2.c checkpoint" >&2
            nice $PY scripts/export_llama2c.py "$2" --version 0 --tokenizer-out "$tok" --out "$ckpt" >&2 || return 0
        fi ;;
    *) return 0 ;;   # llama2.c runs float32 checkpoints only
    esac
    builds=""
    for run in $(echo "$LLAMA2C" | tr ',' ' '); do
        echo "bench: $1 with llama2.c ($run)" >&2
        runs=""
        for i in $(seq "$REPS"); do
            # the prompt's 5 steps are decoded one by one too, so they count as generated steps
            t=$(OMP_NUM_THREADS=$THREADS "$run" "$ckpt" -z "$tok" -t 0 -n $((GEN + 5)) -i "Once upon a time" 2>&1 >/dev/null |
                sed -n 's/^achieved tok\/s: *//p')
            [ -n "$t" ] && runs="$runs${runs:+, }$t"
        done
        [ -n "$runs" ] && builds="$builds${builds:+, }{\"binary\": \"$(basename "$run")\", \"tok_s\": [$runs]}"
    done
    if [ -z "$builds" ]; then
        echo "bench: llama2.c printed no tok/s for $1" >&2
        return 0
    fi
    echo "{\"n_gen\": $GEN, \"threads\": $THREADS, \"builds\": [$builds]}" > "$DIR/$1.llama2c.r$3.json"
}

# ours NAME FILE ROUND -> $DIR/NAME.attend.rROUND.json, and NAME.attend.SET.rROUND.json for each
# BENCH_KERNELS set
ours() {
    echo "bench: $1 (round $3 of $ROUNDS)" >&2
    ./run "$2" --bench -t "$THREADS" -r "$REPS" -p "$PROMPT" -n "$GEN" -d "$DEPTHS" --json "$DIR/$1.attend.r$3.json" >&2
    for set in $KERNELS; do
        echo "bench: $1 with --kernels $set (round $3 of $ROUNDS)" >&2
        ./run "$2" --bench --kernels "$set" -t "$THREADS" -r "$REPS" -p "$PROMPT" -n "$GEN" -d "$DEPTHS" \
            --json "$DIR/$1.attend.$set.r$3.json" >&2 ||
            { echo "bench: --kernels $set did not run on $1 (see the line above); skipped" >&2; rm -f "$DIR/$1.attend.$set.r$3.json"; }
    done
}

# peers NAME FILE ROUND: llama-bench and llama2.c, where given -> $DIR/NAME.llama.rROUND.json, ...
peers() {
    if [ -n "$LLAMA_BENCH" ]; then
        echo "bench: $1 with llama-bench (round $3 of $ROUNDS)" >&2
        out=$DIR/$1.llama.r$3.json log=$DIR/$1.llama.log
        # Older llama-bench builds have no -d: then depth 0 only.
        "$LLAMA_BENCH" -m "$2" -t "$THREADS" -r "$REPS" -p "$PROMPT" -n "$GEN" -d "$DEPTHS" -o json \
            > "$out" 2> "$log" ||
        "$LLAMA_BENCH" -m "$2" -t "$THREADS" -r "$REPS" -p "$PROMPT" -n "$GEN" -o json \
            > "$out" 2>> "$log" ||
            { echo "bench: llama-bench failed on $1 (see $log)" >&2; rm -f "$out"; }
    fi
    if [ -n "$LLAMA2C" ]; then
        llama2c_bench "$1" "$2" "$3"
    fi
}

for name in $MODELS; do
    f=$(model_file "$name")
    if [ -z "$f" ]; then
        echo "bench: skipping $name ($SHARED is missing)" >&2
        continue
    fi
    for round in $(seq "$ROUNDS"); do
        if [ $((round % 2)) -eq 1 ]; then
            ours "$name" "$f" "$round"; peers "$name" "$f" "$round"
        else
            peers "$name" "$f" "$round"; ours "$name" "$f" "$round"
        fi
    done
done

COMMAND="BENCH_MODELS='$(echo $MODELS)'${KERNELS:+ BENCH_KERNELS=$(echo $KERNELS | tr ' ' ',')} BENCH_ROUNDS=$ROUNDS BENCH_REPS=$REPS BENCH_PROMPT=$PROMPT BENCH_GEN=$GEN BENCH_DEPTHS=$DEPTHS BENCH_THREADS=$THREADS make bench"
$PY scripts/bench_report.py --dir "$DIR" --models "$(echo $MODELS)" --kernels "$(echo $KERNELS)" --command "$COMMAND" --commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
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
