#!/bin/sh
# run_tests.sh — run every test program and script, count their result lines, end with
# "N passed, N failed". Each program prints one line per test: "ok NAME", "FAIL NAME: why" or
# "skip NAME: why" (see tests/test.h; shell tests use tests/lib.sh).
# Usage: tests/run_tests.sh [test binaries...]   (the tests/test_*.sh scripts always run)
# ATTEND_BUILD: where the log goes (default build; `make asan` sets build-asan).
cd "$(dirname "$0")/.." || exit 1
log=${ATTEND_BUILD:-build}/test.log
: > "$log"
status=0
for t in "$@" tests/test_*.sh; do
    [ -e "$t" ] || continue
    echo "== $t" >> "$log"
    out=${ATTEND_BUILD:-build}/test.one
    "$t" > "$out" 2>&1
    rc=$?
    cat "$out" >> "$log"
    # A test program that exits non-zero without printing FAIL (a crash, say) still fails the run.
    if [ "$rc" -ne 0 ]; then
        grep -q '^FAIL ' "$out" || echo "FAIL $t: exited with status $rc" >> "$log"
        status=1
    fi
done
grep -E '^(ok|FAIL|skip) ' "$log" | grep -v '^ok ' 
passed=$(grep -c '^ok ' "$log")
failed=$(grep -c '^FAIL ' "$log")
skipped=$(grep -c '^skip ' "$log")
if [ "$skipped" -gt 0 ]; then
    echo "WARNING: $skipped test(s) skipped (see the skip lines above: ../shared missing? an instruction set this CPU lacks?)"
fi
echo "full log: $log"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$status" -eq 0 ]
