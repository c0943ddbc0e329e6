#!/bin/sh
# test_default_model.sh — the model we ship in models/: it loads, its greedy text is the float64
# reference's, `make run` works with no ../shared, and (with ../shared) its quality target holds.
. "$(dirname "$0")/lib.sh"

RUN=${ATTEND_RUN:-./run}
MODEL=${ATTEND_DEFAULT_MODEL:-models/stories-attend.gguf}
PROMPT="Once upon a time"

if [ ! -f "$MODEL" ]; then
    fail test_default_model_is_shipped "$MODEL is missing"
    exit 1
fi
pass test_default_model_is_shipped

# Greedy tokens from the engine equal those of scripts/reference.py (an independent float64 pass).
ids=$($RUN "$MODEL" -p "$PROMPT" --tokenize 2>"$TMP/err")
if [ -z "$ids" ]; then
    fail test_default_model_greedy_matches_reference "--tokenize failed: $(cat "$TMP/err")"
else
    # reference.py prints the greedy ids, then the decoded text of prompt + continuation.
    want=$($PY scripts/reference.py "$MODEL" --tokens "$(echo "$ids" | tr ' ' ',')" --greedy 40 --decode 2>&1 |
           tail -n 1)
    got=$($RUN "$MODEL" -p "$PROMPT" --temp 0 -n 40 2>/dev/null)
    if [ -n "$want" ] && [ "$got" = "$want" ]; then
        pass test_default_model_greedy_matches_reference
    else
        fail test_default_model_greedy_matches_reference "engine: '$got' reference: '$want'"
    fi
fi

# `make run` is the first command a new user types: it must tell a story, with no ../shared.
out=$(make -s run PROMPT="The little dog" 2>"$TMP/err" </dev/null)
words=$(echo "$out" | wc -w)
case "$out" in
    "The little dog"*) [ "$words" -ge 20 ] && pass test_make_run_tells_a_story ||
                           fail test_make_run_tells_a_story "only $words words: $out" ;;
    *) fail test_make_run_tells_a_story "output: '$out' stderr: $(tail -n 2 "$TMP/err")" ;;
esac

# Quality: bits per byte on a fixed slice of TinyStories-valid within 1.25x of stories260K's.
if [ -z "$SHARED" ]; then
    skip test_default_model_bits_per_byte_within_target "../shared is absent"
else
    head -c 120000 "$SHARED/corpus/tinystories-valid.txt" > "$TMP/valid.txt"
    ours=$($RUN "$MODEL" --perplexity "$TMP/valid.txt" -c 512 2>/dev/null | sed -n 's/^bits per byte = //p')
    base=$($RUN "$SHARED/models/stories260K/stories260K.gguf" --perplexity "$TMP/valid.txt" -c 512 2>/dev/null |
           sed -n 's/^bits per byte = //p')
    if [ -n "$ours" ] && [ -n "$base" ] && awk "BEGIN{exit !($ours <= 1.25 * $base)}"; then
        pass test_default_model_bits_per_byte_within_target
    else
        fail test_default_model_bits_per_byte_within_target "ours '$ours' vs stories260K '$base' (limit 1.25x)"
    fi
fi
exit $FAILED
