#!/bin/sh
# test_prompt_cache.sh — ./run --prompt-cache FILE: the first run saves the prompt's KV cache; a
# second run with a prompt that shares a prefix reuses it and prints exactly the greedy text of a
# run without the cache; a file from another model, a truncated or a corrupt file is refused with
# one line and exit status 1, never trusted. Random-weight models are made at test time.
. "$(dirname "$0")/lib.sh"

RUN=${ATTEND_RUN:-./run}
if [ ! -x "$RUN" ]; then
    fail test_prompt_cache "$RUN is missing: build it with 'make bin'"
    exit 1
fi
if ! PYTHONPATH=scripts $PY - "$TMP" > "$TMP/make.out" 2>&1 <<'PYEOF'
import sys, make_models
d = sys.argv[1]
make_models.main(["tiny-gqa", "--seed", "4", "--out", f"{d}/a.gguf"])
make_models.main(["tiny-gqa", "--seed", "5", "--out", f"{d}/b.gguf"])     # same shape, other weights
PYEOF
then
    fail test_prompt_cache_models_are_generated "$(tail -n 1 "$TMP/make.out")"
    exit 1
fi
A=$TMP/a.gguf B=$TMP/b.gguf PC=$TMP/prompt.kv
G="-t 1 --temp 0 -n 24"
P1="Once upon a time, there was a little girl named Lily. She loved to play in the park"
P2="$P1 with her big red ball and her dog"

# refuses NAME EXPECT ARGS...: exit 1, one stderr line "error: ..." matching EXPECT, nothing on stdout.
refuses() {
    name=$1 expect=$2
    shift 2
    timeout 20 "$RUN" "$@" > "$TMP/out" 2> "$TMP/err"
    rc=$?
    if [ $rc -ne 1 ]; then fail "$name" "exit status $rc, expected 1: $(head -c 200 "$TMP/err" | tr '\n' '|')"
    elif [ "$(wc -l < "$TMP/err")" -ne 1 ]; then fail "$name" "stderr is not one line: $(head -c 300 "$TMP/err" | tr '\n' '|')"
    elif [ -s "$TMP/out" ]; then fail "$name" "printed on stdout: $(head -c 80 "$TMP/out")"
    elif ! grep -Eq -- "^error: .*($expect)" "$TMP/err"; then fail "$name" "error does not match /$expect/: $(cat "$TMP/err")"
    else pass "$name"
    fi
}

"$RUN" "$A" $G -p "$P2" > "$TMP/plain" 2> "$TMP/err" || fail test_prompt_cache_plain_run "$(tail -n 1 "$TMP/err")"
rm -f "$PC"
if "$RUN" "$A" $G -p "$P1" --prompt-cache "$PC" > /dev/null 2> "$TMP/err1" && [ -s "$PC" ] &&
   grep -q "is new: saved" "$TMP/err1"; then
    pass test_prompt_cache_first_run_saves_the_prompt
else
    fail test_prompt_cache_first_run_saves_the_prompt "$(tail -n 2 "$TMP/err1" | tr '\n' '|')"
fi
n1=$("$RUN" "$A" -p "$P1" --tokenize | wc -w)
"$RUN" "$A" $G -p "$P2" --prompt-cache "$PC" > "$TMP/cached" 2> "$TMP/err2"
if grep -q "prompt cache: reused $n1 of [0-9]* prompt tokens" "$TMP/err2"; then
    pass test_prompt_cache_second_run_reuses_the_common_prefix
else
    fail test_prompt_cache_second_run_reuses_the_common_prefix "want $n1 reused: $(grep -m1 "prompt cache" "$TMP/err2")"
fi
if cmp -s "$TMP/plain" "$TMP/cached" && [ -s "$TMP/plain" ]; then
    pass test_prompt_cache_greedy_text_equals_a_run_without_cache
else
    fail test_prompt_cache_greedy_text_equals_a_run_without_cache "$(head -c 100 "$TMP/cached") vs $(head -c 100 "$TMP/plain")"
fi
# The same prompt again: all but its last token come from the file.
"$RUN" "$A" $G -p "$P2" --prompt-cache "$PC" > "$TMP/again" 2> "$TMP/err3"
n2=$("$RUN" "$A" -p "$P2" --tokenize | wc -w)
if grep -q "reused $((n2 - 1)) of $n2 prompt tokens" "$TMP/err3" && cmp -s "$TMP/plain" "$TMP/again"; then
    pass test_prompt_cache_same_prompt_runs_only_its_last_token
else
    fail test_prompt_cache_same_prompt_runs_only_its_last_token "$(grep -m1 "prompt cache" "$TMP/err3")"
fi

# ---- files that must not be trusted --------------------------------------------------------------
cp "$PC" "$TMP/good.kv"
refuses test_prompt_cache_refuses_another_models_file "was saved by another model" "$B" $G -p "$P1" --prompt-cache "$TMP/good.kv"
refuses test_prompt_cache_refuses_another_kv_type "in F32, this context's is .* in F16" "$A" $G -p "$P1" --kv-type f16 \
    --prompt-cache "$TMP/good.kv"
size=$(wc -c < "$TMP/good.kv")
head -c $((size - 100)) "$TMP/good.kv" > "$TMP/trunc.kv"
refuses test_prompt_cache_refuses_a_truncated_file "is truncated" "$A" $G -p "$P1" --prompt-cache "$TMP/trunc.kv"
head -c 30 "$TMP/good.kv" > "$TMP/short.kv"
refuses test_prompt_cache_refuses_a_header_cut_short "fewer than a header and checksum" "$A" $G -p "$P1" --prompt-cache "$TMP/short.kv"
$PY - "$TMP/good.kv" "$TMP/flip.kv" <<'PYEOF'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[len(b) // 2] ^= 0x10          # one bit inside the keys and values
open(sys.argv[2], "wb").write(b)
PYEOF
cp "$TMP/flip.kv" "$TMP/flip.orig"
refuses test_prompt_cache_refuses_a_corrupt_file "is corrupt: its checksum does not match" "$A" $G -p "$P1" \
    --prompt-cache "$TMP/flip.kv"
printf 'not a cache at all, just some text that is long enough to hold a header of sixty-four bytes' > "$TMP/text.kv"
refuses test_prompt_cache_refuses_a_text_file "no ATKV magic" "$A" $G -p "$P1" --prompt-cache "$TMP/text.kv"
refuses test_prompt_cache_refuses_more_positions_than_the_context "more than the 8 this context takes" "$A" $G -c 8 -p "hi" \
    --prompt-cache "$TMP/good.kv"
# A refused file is left as it was (the run stopped before saving).
if cmp -s "$TMP/flip.kv" "$TMP/flip.orig" && [ "$(wc -c < "$TMP/trunc.kv")" -eq $((size - 100)) ]; then
    pass test_prompt_cache_refused_files_are_not_overwritten
else
    fail test_prompt_cache_refused_files_are_not_overwritten "a refused file changed"
fi
exit $FAILED
