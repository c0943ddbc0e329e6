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
# Prompt-cache files (--prompt-cache, attend_kv_load): a valid one saved by ./run for base.gguf, then
# variants that break one thing each, derived here (the loader checks the header before the
# checksum, so a patched field meets its own check); plus the fuzzers' kv-* findings.
if "$RUN" "$H/base.gguf" -t 1 --temp 0 -n 1 -p "Once upon a time" --prompt-cache "$H/good.kv" > /dev/null 2> "$TMP/err"; then
    $PY - "$H" <<'PYEOF'
import struct, sys
d = sys.argv[1]
good = open(f"{d}/good.kv", "rb").read()
def put(name, b): open(f"{d}/{name}.kv", "wb").write(b)
def patch(at, fmt, v):
    b = bytearray(good); struct.pack_into(fmt, b, at, v); return bytes(b)
put("kv_truncated", good[:-9])
put("kv_header_only", good[:64])
put("kv_trailing_bytes", good + b"\0")
put("kv_bad_magic", b"GGUF" + good[4:])
put("kv_version_9", patch(4, "<I", 9))
put("kv_other_model", patch(8, "<Q", 0x0123456789abcdef))
put("kv_layers_99", patch(16, "<I", 99))
put("kv_head_dim_0", patch(24, "<I", 0))
put("kv_type_q8_0", patch(28, "<I", 8))
put("kv_type_7", patch(28, "<I", 7))
put("kv_n_tokens_huge", patch(32, "<I", 0xFFFFFFFF))
put("kv_data_bytes_lie", patch(40, "<Q", 1 << 62))
b = bytearray(good); b[len(b) // 2] ^= 1; put("kv_bit_flip", bytes(b))
b = bytearray(good); b[-1] ^= 0x80; put("kv_checksum_flip", bytes(b))
PYEOF
    KV_CASES="kv_truncated:is truncated
kv_header_only:is truncated or not a KV cache file
kv_trailing_bytes:longer than its contents
kv_bad_magic:no ATKV magic
kv_version_9:version 9; this build reads version 1
kv_other_model:was saved by another model
kv_layers_99:holds a cache of 99 layers
kv_head_dim_0:x 0 dims in F32, this context's is
kv_type_q8_0:in Q8_0, this context's is .* in F32
kv_type_7:in an unknown type, this context's is
kv_n_tokens_huge:holds 4294967295 positions, more than the
kv_data_bytes_lie:declares 4611686018427387904 bytes of keys and values
kv_bit_flip:is corrupt: its checksum does not match
kv_checksum_flip:is corrupt: its checksum does not match"
else
    fail test_hostile_kv_valid_file_is_saved "$(tail -n 1 "$TMP/err")"
    KV_CASES=
fi
for bin in "$RUN" $ATTEND_RUN_ASAN; do
    T=test_hostile_
    [ "$bin" = "$RUN" ] || T=test_hostile_asan_
    while IFS=: read -r name expect; do
        [ -z "$name" ] || refuses "$T$name" "$expect" "$H/base.gguf" --prompt-cache "$H/$name.kv"
    done <<KVEOF
$KV_CASES
KVEOF
    for f in tests/hostile/kv-*; do
        [ -e "$f" ] || continue
        refuses "${T}regression_$(basename "$f")" "$(expect_of "$f")" models/stories-attend.gguf --prompt-cache "$f"
    done
done

# A Q8_0 prompt cache of base.gguf, whose heads of 8 are stored one block of 32 to a row, padded
# with zeros, saved by a first run and loaded by a second; from it, with the checksum recomputed,
# q8_padding.kv (every row's padding overwritten) and q8_nan.kv (a NaN scale in a key row the
# prompt reuses). A run that loads the padded file continues as the run that saved it did, as
# the padding is never read back; with the NaN the run stops with a one-line error (after the
# line that says the cache was reused), not with text from a corrupt cache.
q8() { "$RUN" "$H/base.gguf" -t 1 --temp 0 -n 12 -p "Once upon a time" --kv-type q8_0 --prompt-cache "$1"; }
if q8 "$H/q8.kv" > "$TMP/q8_saved" 2> "$TMP/err" && q8 "$H/q8.kv" > "$TMP/q8_loaded" 2>> "$TMP/err" &&
   $PY - "$H" <<'PYEOF' 2>> "$TMP/err"; then
import struct, sys
d = sys.argv[1]
good = open(f"{d}/q8.kv", "rb").read()
data = 64 + 4 * struct.unpack_from("<I", good, 32)[0]
assert (len(good) - 8 - data) % 34 == 0 and struct.unpack_from("<I", good, 24)[0] == 8, "not rows of 34 bytes"
def put(name, b):   # with the checksum (FNV-1a, 64 bits, of all that precedes it) recomputed
    h = 0xcbf29ce484222325
    for byte in b[:-8]:
        h = ((h ^ byte) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    struct.pack_into("<Q", b, len(b) - 8, h)
    open(f"{d}/{name}.kv", "wb").write(b)
b = bytearray(good)
for row in range(data, len(b) - 8, 34):
    b[row + 2 + 8:row + 34] = b"\x7f" * 24          # the 24 padding quants of a head of 8
put("q8_padding", b)
b = bytearray(good)
struct.pack_into("<H", b, data + 34 * 2, 0x7e00)    # layer 0, kv head 0, the key of position 2
put("q8_nan", b)
PYEOF
    if q8 "$H/q8_padding.kv" > "$TMP/q8_padding" 2>> "$TMP/err" && [ -s "$TMP/q8_saved" ] &&
       cmp -s "$TMP/q8_saved" "$TMP/q8_loaded" && cmp -s "$TMP/q8_saved" "$TMP/q8_padding"; then
        pass test_hostile_kv_q8_0_padding_is_never_read
    else
        fail test_hostile_kv_q8_0_padding_is_never_read "texts differ: $(head -c 60 "$TMP/q8_saved") / $(head -c 60 "$TMP/q8_loaded") / $(head -c 60 "$TMP/q8_padding")"
    fi
    q8 "$H/q8_nan.kv" > "$TMP/q8_nan" 2> "$TMP/err"
    rc=$?
    if [ $rc -eq 1 ] && tail -n 1 "$TMP/err" | grep -q "^error: .*non-finite logit" &&
       [ "$(grep -c "^error" "$TMP/err")" = 1 ]; then
        pass test_hostile_kv_q8_0_nan_scale_stops_the_run
    else
        fail test_hostile_kv_q8_0_nan_scale_stops_the_run "status $rc: $(tail -n 1 "$TMP/err")"
    fi
else
    fail test_hostile_kv_q8_0_padding_is_never_read "$(tail -n 1 "$TMP/err")"
    fail test_hostile_kv_q8_0_nan_scale_stops_the_run "no Q8_0 cache file to derive it from"
fi

# A NaN weight must not reach an attention map (a page of "nan"s) either.
nan_model=$(awk -F "$tab" '$1 == "gguf_nan_in_attn_q" { print $2 }' "$H/cases.tsv")
refuses test_hostile_nan_weights_refused_by_attn_map "non-finite attention weight" "$H/$nan_model" -p hi \
    --attn-map "$TMP/nan-map"
if [ $n -ge 40 ]; then pass test_hostile_has_at_least_40_cases; else fail test_hostile_has_at_least_40_cases "only $n"; fi
[ -n "$SHARED" ] || skip test_hostile_stories260K_variants "../shared missing: only generated files were used"
exit $FAILED
