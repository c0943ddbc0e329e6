#!/bin/sh
# test_hostile.sh — ./run on malformed model and tokenizer files. scripts/make_hostile.py makes
# them at test time from valid generated files (and from stories260K when ../shared is there);
# tests/hostile/ keeps the minimised inputs the fuzzers once crashed on. For each file ./run must
# refuse cleanly: exit status exactly 1, exactly one line on stderr that names the problem (the
# case's expected pattern), nothing on stdout; never a signal, a sanitizer report or a hang.
# ATTEND_RUN picks the binary (default ./run), so `make asan` runs this against a sanitized build;
# ATTEND_RUN_ASAN, when set, names a second binary (built with ASan and UBSan) that every file is
# given to as well, its results named test_hostile_asan_*: how `make test` can check them under
# the sanitizers without a whole sanitized suite.
. "$(dirname "$0")/lib.sh"

RUN=${ATTEND_RUN:-./run}
H=$TMP/hostile
for bin in "$RUN" $ATTEND_RUN_ASAN; do
    if [ ! -x "$bin" ]; then
        fail test_hostile_files "$bin is missing: build it with 'make bin'"
        exit 1
    fi
done
# A sanitizer report ends the program with a status no refusal uses.
export ASAN_OPTIONS=${ASAN_OPTIONS:-exitcode=86} UBSAN_OPTIONS=${UBSAN_OPTIONS:-exitcode=86:print_stacktrace=1}
if ! $PY scripts/make_hostile.py "$H" ${SHARED:+--shared "$SHARED"} > "$TMP/make.out" 2>&1; then
    fail test_hostile_files_are_generated "make_hostile.py: $(tail -n 1 "$TMP/make.out")"
    exit 1
fi

# refuses NAME EXPECT ARGS...: ./run ARGS must fail as described above, its error matching EXPECT
# (an extended regular expression).
refuses() {
    name=$1 expect=$2
    shift 2
    timeout 10 "$bin" "$@" -n 4 --temp 0 -t 1 -p "Once upon a time" > "$TMP/out" 2> "$TMP/err"
    rc=$?
    IFS= read -r line < "$TMP/err"
    if [ $rc -eq 124 ]; then fail "$name" "hung: killed after 10 s"
    elif [ $rc -gt 128 ]; then fail "$name" "killed by signal $((rc - 128)): $(head -c 200 "$TMP/err" | tr '\n' ' ')"
    elif [ $rc -ne 1 ]; then fail "$name" "exit status $rc, expected 1: $(head -c 200 "$TMP/err" | tr '\n' ' ')"
    elif [ -s "$TMP/out" ]; then fail "$name" "printed on stdout: $(head -c 80 "$TMP/out" | tr '\n' ' ')"
    elif ! printf '%s\n' "$line" | cmp -s - "$TMP/err"; then
        fail "$name" "stderr is not exactly one line: $(head -c 300 "$TMP/err" | tr '\n' '|')"
    else
        case $line in
        "error: "*) if printf '%s\n' "$line" | grep -Eq -- "$expect"; then pass "$name"
                    else fail "$name" "error does not match /$expect/: $line"; fi ;;
        *) fail "$name" "stderr does not start with 'error: ': $line" ;;
        esac
    fi
}

tab=$(printf '\t')
# The error a regression file must give: tests/hostile/expect.tsv (file name, pattern).
expect_of() { awk -F"$tab" -v f="$(basename "$1")" '$1 == f { print $2 }' tests/hostile/expect.tsv; }
for bin in "$RUN" $ATTEND_RUN_ASAN; do
    T=test_hostile_
    [ "$bin" = "$RUN" ] || T=test_hostile_asan_
    n=0
    while IFS="$tab" read -r name model tok expect; do
        if [ "$tok" = - ]; then
            refuses "$T$name" "$expect" "$H/$model"
        else
            refuses "$T$name" "$expect" "$H/$model" -z "$H/$tok"
        fi
        n=$((n + 1))
    done < "$H/cases.tsv"

    # Fuzzer findings, minimised: the file name says how it is given to ./run (tests/hostile/README).
    for f in tests/hostile/model-* tests/hostile/gguf-* tests/hostile/llama2c-*; do
        [ -e "$f" ] || continue
        refuses "${T}regression_$(basename "$f")" "$(expect_of "$f")" "$f"
    done
    for f in tests/hostile/tokenizer_bin-*; do
        [ -e "$f" ] || continue
        refuses "${T}regression_$(basename "$f")" "$(expect_of "$f")" "$H/v1.bin" -z "$f"
    done
    for f in tests/hostile/tokenizer_model-*.model; do
        [ -e "$f" ] || continue
        refuses "${T}regression_$(basename "$f")" "$(expect_of "$f")" "$H/base.gguf" -z "$f"
    done
done
# A NaN weight must not reach an attention map (a page of "nan"s) either.
nan_model=$(awk -F "$tab" '$1 == "gguf_nan_in_attn_q" { print $2 }' "$H/cases.tsv")
refuses test_hostile_nan_weights_refused_by_attn_map "non-finite attention weight" "$H/$nan_model" -p hi \
    --attn-map "$TMP/nan-map"
if [ $n -ge 40 ]; then pass test_hostile_has_at_least_40_cases; else fail test_hostile_has_at_least_40_cases "only $n"; fi
[ -n "$SHARED" ] || skip test_hostile_stories260K_variants "../shared missing: only generated files were used"
exit $FAILED
