#!/bin/sh
# test_simd_variants.sh — the kernel tests again with each SIMD variant forced (ATTEND_SIMD), so the
# portable scalar path and the AVX2 path are tested on this AVX-512 machine too, not only the fastest.
. "$(dirname "$0")/lib.sh"
for variant in scalar avx2; do
    for t in ${ATTEND_BUILD:-build}/test_kernels ${ATTEND_BUILD:-build}/test_attention; do
        if [ ! -x "$t" ]; then
            fail "test_simd_${variant}_$(basename "$t")" "$t is not built"
            continue
        fi
        ATTEND_SIMD=$variant "$t" > "$TMP/out" 2>&1
        if [ $? -eq 0 ] && ! grep -q '^FAIL' "$TMP/out"; then
            pass "test_simd_${variant}_$(basename "$t")"
        else
            fail "test_simd_${variant}_$(basename "$t")" "$(grep -m1 '^FAIL' "$TMP/out")"
        fi
    done
done
exit $FAILED
