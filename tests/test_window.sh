#!/bin/sh
# test_window.sh — sliding-window attention from the command line: generation runs on past the
# context (several contexts' worth, the ring cache forgetting what leaves the window), the same
# greedy text with 1 and 2 threads, and --perplexity streams a text longer than the context.
. "$(dirname "$0")/lib.sh"

RUN=${ATTEND_RUN:-./run}
MODEL=${ATTEND_DEFAULT_MODEL:-models/stories-attend.gguf}
W="-c 128 --window 64 --sinks 4 --ignore-eos -n 400 --temp 0"

timeout 60 $RUN "$MODEL" $W -t 1 -p "Once upon a time" > "$TMP/t1" 2> "$TMP/err"
rc=$?
n=$(sed -n 's/.*generated: \([0-9]*\) tokens.*/\1/p' "$TMP/err")
if [ $rc -eq 0 ] && [ "$n" = 400 ] && [ "$(wc -w < "$TMP/t1")" -ge 200 ]; then
    pass test_window_generates_several_contexts_of_text
else
    fail test_window_generates_several_contexts_of_text "status $rc, $n tokens: $(tail -n 1 "$TMP/err")"
fi

timeout 60 $RUN "$MODEL" $W -t 2 -p "Once upon a time" > "$TMP/t2" 2> /dev/null
if cmp -s "$TMP/t1" "$TMP/t2"; then pass test_window_greedy_text_same_for_1_and_2_threads
else fail test_window_greedy_text_same_for_1_and_2_threads "-t 1 and -t 2 differ"; fi

# a text of ~600 tokens streamed through a window of 32 (+ 4 sinks) in a context of 64
i=0
: > "$TMP/text.txt"
while [ $i -lt 25 ]; do
    echo "Once upon a time, there was a little dog named Max. Max liked to run in the park with his ball." >> "$TMP/text.txt"
    i=$((i + 1))
done
timeout 60 $RUN "$MODEL" -t 1 -c 64 --window 32 --sinks 4 --perplexity "$TMP/text.txt" > "$TMP/ppl" 2> "$TMP/err"
rc=$?
if [ $rc -eq 0 ] && grep -q "^streaming perplexity: .* through a window of 32" "$TMP/ppl" &&
   grep -Eq "^bits per byte = [0-9]+\.[0-9]+$" "$TMP/ppl"; then
    pass test_window_perplexity_streams_past_the_context
else
    fail test_window_perplexity_streams_past_the_context "status $rc: $(cat "$TMP/ppl") $(tail -n 1 "$TMP/err")"
fi
# a GGUF that declares llama.attention.sliding_window gets it as the default --window
if PYTHONPATH=scripts $PY - "$MODEL" "$TMP" > "$TMP/make.out" 2>&1 <<'PYEOF'
import sys, convert, gguf
m = convert.load_model(sys.argv[1])
convert.write_gguf(m, sys.argv[2] + "/sw.gguf", extra_kv={"llama.attention.sliding_window": (gguf.UINT32, 32, None)})
convert.write_gguf(m, sys.argv[2] + "/sw_bad.gguf", extra_kv={"llama.attention.sliding_window": (gguf.STRING, "wide", None)})
PYEOF
then
    $RUN "$TMP/sw.gguf" -t 1 -v -n 1 -p hi > /dev/null 2> "$TMP/err"
    if grep -q "^attention: sliding window of 32, 0 sinks" "$TMP/err"; then pass test_window_gguf_sliding_window_is_the_default
    else fail test_window_gguf_sliding_window_is_the_default "$(grep -v '^prompt' "$TMP/err" | tr '\n' '|')"; fi
    $RUN "$TMP/sw.gguf" -t 1 -v -n 1 -p hi -c 32 > /dev/null 2> "$TMP/err"
    if ! grep -q "^attention: sliding window" "$TMP/err"; then pass test_window_gguf_window_not_shorter_than_context_is_full
    else fail test_window_gguf_window_not_shorter_than_context_is_full "a window of 32 in -c 32 was applied"; fi
    $RUN "$TMP/sw.gguf" -t 1 -v -n 1 -p hi --window 8 > /dev/null 2> "$TMP/err"
    if grep -q "^attention: sliding window of 8," "$TMP/err"; then pass test_window_flag_overrides_the_gguf_window
    else fail test_window_flag_overrides_the_gguf_window "$(grep attention: "$TMP/err")"; fi
    $RUN "$TMP/sw_bad.gguf" -t 1 -n 1 -p hi > /dev/null 2> "$TMP/err"
    rc=$?
    if [ $rc -eq 1 ] && [ "$(wc -l < "$TMP/err")" -eq 1 ] &&
       grep -q "^error: gguf: llama.attention.sliding_window is not an unsigned integer" "$TMP/err"; then
        pass test_window_gguf_sliding_window_of_wrong_type_is_an_error
    else
        fail test_window_gguf_sliding_window_of_wrong_type_is_an_error "status $rc: $(cat "$TMP/err")"
    fi
else
    fail test_window_gguf_with_sliding_window_is_made "$(tail -n 1 "$TMP/make.out")"
fi
exit $FAILED
