#!/bin/sh
# test_context_shift.sh — ./run --context-shift: generation goes past a full context (-c 64) by
# dropping half of the tokens after --keep and re-rotating the kept keys; without the flag it stops
# there. (That a shifted cache gives the logits of a fresh pass over the kept tokens is checked in
# tests/test_kv_control.c, on the exact path.) A random-weight model is made at test time.
. "$(dirname "$0")/lib.sh"

RUN=${ATTEND_RUN:-./run}
if [ ! -x "$RUN" ]; then
    fail test_context_shift "$RUN is missing: build it with 'make bin'"
    exit 1
fi
M=$TMP/m.gguf
if ! PYTHONPATH=scripts $PY scripts/make_models.py tiny-gqa --seed 6 --out "$M" > "$TMP/make.out" 2>&1; then
    fail test_context_shift_model_is_generated "$(tail -n 1 "$TMP/make.out")"
    exit 1
fi
G="--temp 0 --ignore-eos -c 64 -p Once"

# generated COUNT_FILE: the generated-token count of ./run's statistics line.
generated() { sed -n 's/.*generated: \([0-9]*\) tokens.*/\1/p' "$1"; }

if "$RUN" "$M" $G -t 1 -n 200 --context-shift > "$TMP/out1" 2> "$TMP/err1" &&
   [ "$(generated "$TMP/err1")" = 200 ] && grep -q "stopped at the -n limit" "$TMP/err1" &&
   grep -q "^context shifts: [1-9]" "$TMP/err1"; then
    pass test_context_shift_generates_past_a_64_token_context
else
    fail test_context_shift_generates_past_a_64_token_context "$(tail -n 2 "$TMP/err1" | tr '\n' '|')"
fi
if "$RUN" "$M" $G -t 1 -n 200 > /dev/null 2> "$TMP/err0" && grep -q "stopped at a full context" "$TMP/err0" &&
   [ "$(generated "$TMP/err0")" -lt 64 ]; then
    pass test_context_shift_is_off_by_default
else
    fail test_context_shift_is_off_by_default "$(tail -n 1 "$TMP/err0")"
fi
# The text before the first shift is the text of a run without it.
"$RUN" "$M" $G -t 1 -n 40 > "$TMP/out0" 2> /dev/null
if [ "$(head -c "$(wc -c < "$TMP/out0")" "$TMP/out1" | head -c -1)" = "$(head -c -1 "$TMP/out0")" ]; then
    pass test_context_shift_changes_nothing_before_the_context_is_full
else
    fail test_context_shift_changes_nothing_before_the_context_is_full "the first 40 tokens differ"
fi
if "$RUN" "$M" $G -t 2 -n 200 --context-shift > "$TMP/out2" 2> "$TMP/err2" && cmp -s "$TMP/out1" "$TMP/out2"; then
    pass test_context_shift_same_text_for_1_and_2_threads
else
    fail test_context_shift_same_text_for_1_and_2_threads "texts differ"
fi
if "$RUN" "$M" $G -t 1 -n 150 --context-shift --keep -1 --kv-type f16 > /dev/null 2> "$TMP/err3" &&
   [ "$(generated "$TMP/err3")" = 150 ] && grep -q "keeping 2 tokens" "$TMP/err3"; then
    pass test_context_shift_keeps_the_whole_prompt_with_keep_minus_1
else
    fail test_context_shift_keeps_the_whole_prompt_with_keep_minus_1 "$(tail -n 2 "$TMP/err3" | tr '\n' '|')"
fi
exit $FAILED
