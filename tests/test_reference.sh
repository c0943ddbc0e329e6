#!/bin/sh
# test_reference.sh — the C engine against scripts/reference.py, an independent float64 numpy
# forward pass, on random-weight models of many shapes and types and on the real stories260K in
# every file format; plus checks of the Python tools themselves (GGUF writer/reader, quantizers,
# converters), which the C checks rely on.
. "$(dirname "$0")/lib.sh"

RUN=${ATTEND_RUN:-./run}    # make asan runs this against a sanitized build
TOL=1e-4      # max ||C - ref|| / ||ref|| over the logits of every prompt position
PROMPT="Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends."
STORIES=$SHARED/models/stories260K
export PYTHONDONTWRITEBYTECODE=1
TMPF=$TMP/roundtrip.gguf
export TMPF

# pycheck NAME: run the Python on stdin (scripts/ importable); it passes by exiting 0.
pycheck() {
    if PYTHONPATH=scripts $PY - > "$TMP/py.out" 2>&1; then pass "$1"; else fail "$1" "$(tail -n 1 "$TMP/py.out")"; fi
}

# ==== the Python tools ===========================================================================

pycheck test_py_gguf_roundtrips_every_value_type_and_alignment <<'EOF'
import os, numpy as np, gguf
w = gguf.GGUFWriter()
w.add("general.alignment", gguf.UINT32, 64)
scalars = {gguf.UINT8: 200, gguf.INT8: -100, gguf.UINT16: 60000, gguf.INT16: -30000, gguf.UINT32: 4000000000,
           gguf.INT32: -2000000000, gguf.FLOAT32: 1.5, gguf.BOOL: True, gguf.UINT64: 2**63 + 5,
           gguf.INT64: -2**62, gguf.FLOAT64: 0.1, gguf.STRING: "na\u00efve \u2581piece"}
for t, v in scalars.items():
    w.add(f"k.{t}", t, v)
    if t != gguf.STRING:
        w.add(f"a.{t}", gguf.ARRAY, [v, v], t)
w.add("a.strings", gguf.ARRAY, ["", "<s>", "\u2581the", "\n</s>\n"], gguf.STRING)
rng = np.random.default_rng(0)
mats = {}
for name, t in [("f32", gguf.F32), ("f16", gguf.F16), ("bf16", gguf.BF16), ("q8", gguf.Q8_0), ("q4", gguf.Q4_0)]:
    mats[name] = rng.standard_normal((3, 64)).astype(np.float32)
    w.add_tensor(name, (3, 64), t, mats[name])
w.add_tensor("vec", (5,), gguf.F32, np.arange(5, dtype=np.float32))
w.write(os.environ["TMPF"])
g = gguf.read(os.environ["TMPF"])
for t, v in scalars.items():
    got = g.metadata[f"k.{t}"]
    assert got == v, (t, got, v)
    assert g.value_types[f"k.{t}"] == (t, None)
    if t != gguf.STRING:
        assert list(g.metadata[f"a.{t}"]) == [v, v], (t, g.metadata[f"a.{t}"])
        assert g.value_types[f"a.{t}"] == (gguf.ARRAY, t)
assert g.metadata["a.strings"] == ["", "<s>", "\u2581the", "\n</s>\n"]
assert g.alignment == 64 and g.data_offset % 64 == 0
assert all(t.offset % 64 == 0 for t in g.tensors.values())
assert g.tensors["f16"].dims == [64, 3] and g.tensors["f16"].shape == (3, 64)
assert np.array_equal(g.tensors["f32"].to_float32(), mats["f32"])
assert np.array_equal(g.tensors["f16"].to_float32(), mats["f16"].astype(np.float16).astype(np.float32))
assert np.abs(g.tensors["bf16"].to_float32() - mats["bf16"]).max() <= np.abs(mats["bf16"]).max() / 256
assert np.array_equal(g.tensors["vec"].to_float64(), np.arange(5.0))
EOF

pycheck test_py_quantizers_round_as_ggml <<'EOF'
import numpy as np, gguf
# bf16: round to nearest even on the dropped half, NaN stays NaN
u = np.array([0x3F808000, 0x3F818000, 0x3F808001, 0x7FC00001], np.uint32).view(np.float32)
assert [int(h) for h in gguf.fp32_to_bf16_bits(u)] == [0x3F80, 0x3F82, 0x3F81, 0x7FC0]
# Q8_0: d = amax/127 (here 1), q = roundf(x/d): halves round away from zero, unlike rint
x = np.zeros(32, np.float32); x[0] = 127; x[1:6] = [0.5, 1.5, 2.5, -2.5, -0.5]
raw = gguf.quantize_q8_0(x)
assert raw.size == 34 and raw[:2].view("<u2")[0] == 0x3C00
assert list(raw[2:8].view(np.int8)) == [127, 1, 2, 3, -3, -1], list(raw[2:8].view(np.int8))
# Q4_0: the largest |x| keeps its sign (-8 -> d = 1); element j<16 low nibble of byte j, j>=16 high
x = np.array([j - 8 for j in range(16)] + [(31 - j) - 8 for j in range(16, 32)], np.float32)
raw = gguf.quantize_q4_0(x)
assert raw[:2].view("<u2")[0] == 0x3C00
assert list(raw[2:]) == [j | ((15 - j) << 4) for j in range(16)], list(raw[2:])
assert np.array_equal(gguf.dequantize(raw, gguf.Q4_0, 32), x)
# ties on |max| take the first element; q = floor(x/d + 8.5) clamped to 15
x = np.zeros(32, np.float32); x[0], x[1], x[2], x[3] = 8, -8, 0.5, 4.0
raw = gguf.quantize_q4_0(x)
assert raw[:2].view("<u2")[0] == 0xBC00                      # d = 8 / -8 = -1
assert [raw[2] & 15, raw[3] & 15, raw[4] & 15, raw[5] & 15] == [0, 15, 8, 4]
# random blocks: error within half a step of the fp16-rounded scale (Q8_0), or a whole step
# where Q4_0's clamp at 15 cuts the top of the range
rng = np.random.default_rng(1)
x = rng.standard_normal(32 * 64).astype(np.float32)
for t, levels in ((gguf.Q8_0, 127), (gguf.Q4_0, 8)):
    raw = gguf.quantize(x, t)
    y = gguf.dequantize(raw, t, x.size)
    d = np.abs(x.reshape(-1, 32)).max(axis=1) / levels
    err = np.abs(x - y).reshape(-1, 32).max(axis=1)
    bound = d * (1.0 if t == gguf.Q4_0 else 0.5) + levels * d * 2.0 ** -11
    assert np.all(err <= bound), (t, (err / d).max())
EOF

pycheck test_py_synthetic_vocab_is_a_valid_bpe_vocab <<'EOF'
import make_models
for n in (300, 512, 32000):
    pieces, scores, types = make_models.synthetic_vocab(n)
    assert len(pieces) == n == len(set(pieces)) == len(scores) == len(types)
    assert pieces[:3] == ["<unk>", "<s>", "</s>"] and list(types[:3]) == [2, 3, 3]
    assert pieces[3:259] == [f"<0x{b:02X}>" for b in range(256)] and set(types[3:259]) == {6}
    assert all(scores[i] > scores[i + 1] for i in range(259, n - 1))
    have = set(pieces)
    # every longer piece is a shorter piece plus one character, so BPE merges can build it
    assert all(p[:-1] in have for p in pieces[259:] if len(p) > 1)
EOF

pycheck test_py_make_models_is_deterministic_per_seed <<EOF
import make_models
def make(seed, out):
    make_models.main(["tiny-gqa", "--type", "Q4_0", "--seed", str(seed), "--out", out])
make(7, "$TMP/d1.gguf"); make(7, "$TMP/d2.gguf"); make(8, "$TMP/d3.gguf")
a, b, c = (open(f"$TMP/d{i}.gguf", "rb").read() for i in (1, 2, 3))
assert a == b, "same seed, different files"
assert a != c, "different seeds, same file"
EOF

pycheck test_py_reference_cache_matches_one_batch <<EOF
import numpy as np, convert, make_models, reference
make_models.main(["untied", "--rope-dim", "8", "--out", "$TMP/c.gguf"])
m = convert.load_model("$TMP/c.gguf")
tokens = [1, 5, 300, 42, 77, 400, 3, 9, 260]
whole = reference.Reference(m).forward(tokens)
r = reference.Reference(m)
parts = np.concatenate([r.forward(tokens[:3]), r.forward(tokens[3:4]), r.forward(tokens[4:])])
assert np.abs(whole - parts).max() < 1e-10 * np.abs(whole).max()
assert whole.std() > 0.3, "logits too flat for a meaningful test"
EOF

if [ -n "$SHARED" ]; then
    pycheck test_py_convert_llama2c_matches_stories260K_gguf <<EOF
import numpy as np, convert, gguf
S = "$STORIES"
ref = gguf.read(S + "/stories260K.gguf")
for src in ("stories260K.bin", "stories260K_v1.bin"):
    out = "$TMP/conv.gguf"
    convert.main([S + "/" + src, "--tokenizer", S + "/tok512.bin", "--out", out])
    new = gguf.read(out)
    for name, t in ref.tensors.items():
        if name == "output.weight" and name not in new.tensors:     # tied: the reference repeats token_embd
            assert np.array_equal(t.to_float32(), ref.tensors["token_embd.weight"].to_float32())
            continue
        assert np.array_equal(t.to_float32(), new.tensors[name].to_float32()), (src, name)
    assert set(new.tensors) <= set(ref.tensors), (src, set(new.tensors) - set(ref.tensors))
    for k in ("tokens", "scores", "token_type", "bos_token_id", "eos_token_id", "unknown_token_id"):
        k = "tokenizer.ggml." + k
        assert np.array_equal(np.asarray(ref.metadata[k]), np.asarray(new.metadata[k])), (src, k)
EOF

    pycheck test_py_export_reproduces_llama2c_files <<EOF
import numpy as np, export_llama2c
S = "$STORIES"
export = lambda *args: export_llama2c.main(list(args))
export(S + "/stories260K.bin", "--tokenizer", S + "/tok512.bin", "--version", "1", "--out", "$TMP/e1.bin",
       "--tokenizer-out", "$TMP/etok.bin")
assert open("$TMP/e1.bin", "rb").read() == open(S + "/stories260K_v1.bin", "rb").read(), "v1 differs"
assert open("$TMP/etok.bin", "rb").read() == open(S + "/tok512.bin", "rb").read(), "tokenizer.bin differs"
export("$TMP/e1.bin", "--version", "0", "--out", "$TMP/e0.bin")
a, b = np.fromfile("$TMP/e0.bin", "<f4"), np.fromfile(S + "/stories260K.bin", "<f4")
weights = 7 + 260032          # header ints and weights; then the (unused) RoPE tables torch computed
assert a.size == b.size and np.array_equal(a[:weights], b[:weights]), "v0 weights differ"
assert np.abs(a[weights:] - b[weights:]).max() < 1e-6
EOF

    if PYTHONPATH=scripts $PY scripts/reference.py "$STORIES/stories260K.gguf" --greedy 40 --decode > "$TMP/ref40" 2>&1 &&
       sed -n 2p "$TMP/ref40" | grep -q "^Once upon a time, there was a little girl named Lily. She loved to play outside in the park."; then
        pass test_py_reference_greedy_tells_the_lily_story
    else
        fail test_py_reference_greedy_tells_the_lily_story "got: $(tail -n 1 "$TMP/ref40")"
    fi
else
    for t in test_py_convert_llama2c_matches_stories260K_gguf test_py_export_reproduces_llama2c_files \
             test_py_reference_greedy_tells_the_lily_story; do
        skip $t "../shared missing"
    done
fi

# ==== the C engine against the reference ========================================================

if [ ! -x "$RUN" ]; then
    fail test_reference_c_engine "./run is missing: build it with 'make bin' (every C-vs-reference check needs it)"
    exit 1
fi

# logits_match NAME MODEL [./run options]: C logits of every position of $PROMPT vs the reference,
# on the exact path (float activations everywhere), within $TOL
logits_match() {
    name=$1 model=$2
    shift 2
    set -- --exact "$@"
    logits_within "$name" "$model" "$TOL" "$@"
}

# The fast path (int8 activations for Q8_0/Q4_0 weights; decode kernels, so one token per forward
# pass) is not within 1e-4: its bounds are 3x the error measured on 2026-12-01 (AVX2 and scalar
# sets alike): random-weight models 0.019-0.020, stories260K in Q8_0/Q4_0 0.0063-0.0066.
# The fast_prefill checks run the prompt as one batch instead: with the amx set (the default on a
# CPU with AMX) its Q8_0/Q4_0 matmuls are int8 too, each output the bits of the scalar set's int8
# dot, so the same bounds hold; the other sets take float activations there.
FAST_TOL_RANDOM=0.06
FAST_TOL_STORIES=0.02
# An F16 KV cache rounds keys and values to 11 significant bits: measured 1.1e-4 (stories-attend),
# 2.7e-4 (stories260K), 3.4e-4 and 4.2e-4 (random models) on the exact path; bound 3x the largest.
KV_F16_TOL=1.5e-3
# A Q8_0 KV cache rounds each value to within half a step of its block's largest / 127: measured
# 0.0095-0.0114 on the random hd32, hd64 and hd128 models, 0.0089 on hd48 (rows padded with zeros
# to 64) and 0.0125 on stories260K (heads of 8, padded to 32), exact path; bound 3x the largest.
KV_Q8_0_TOL=0.04
# fast_logits_match NAME MODEL TOLERANCE [./run options]
fast_logits_match() {
    name=$1 model=$2 tol=$3
    shift 3
    logits_within "$name" "$model" "$tol" -b 1 "$@"
}

# logits_within NAME MODEL TOLERANCE [./run options]
logits_within() {
    name=$1 model=$2 tol=$3
    shift 3
    if ! ids=$($RUN "$model" "$@" -p "$PROMPT" --tokenize 2> "$TMP/err"); then
        fail "$name" "./run --tokenize failed: $(tail -n 1 "$TMP/err")"; return
    fi
    n=$(echo $ids | wc -w)
    [ "$n" -ge 20 ] || { fail "$name" "prompt is only $n tokens (want >= 20): $ids"; return; }
    rm -f "$TMP/c.f32"
    if ! $RUN "$model" "$@" -p "$PROMPT" --dump-logits "$TMP/c.f32" > /dev/null 2> "$TMP/err"; then
        fail "$name" "./run --dump-logits failed: $(tail -n 1 "$TMP/err")"; return
    fi
    if $PY scripts/reference.py "$model" --tokens "$(echo $ids | tr ' ' ',')" --compare "$TMP/c.f32" \
           --tolerance $tol > /dev/null 2> "$TMP/err"; then
        pass "$name"
    else
        fail "$name" "$(tail -n 1 "$TMP/err")"
    fi
}

# Random-weight models, made in one Python process: every preset shape in F32, every storage type
# on a GQA shape, a quantized separate classifier, RoPE over part of each head with another base, and
# linear RoPE scaling (llama.rope.scaling.type linear, factor 2).
RANDOM_MODELS="tiny-mha tiny-gqa tiny-mqa untied hd32 hd48 hd64 hd128 hidden-odd
tiny-gqa_F16 tiny-gqa_BF16 tiny-gqa_Q8_0 tiny-gqa_Q4_0 untied_Q8_0 partial-rope-base-500000 rope-scaling-linear-2"
PYTHONPATH=scripts $PY - "$TMP" $RANDOM_MODELS > "$TMP/make.out" 2>&1 <<'EOF'
import sys, make_models
special = {"partial-rope-base-500000": ["tiny-gqa", "--rope-dim", "8", "--rope-base", "500000"],
           "rope-scaling-linear-2": ["tiny-gqa", "--rope-scale", "2"]}
for seed, name in enumerate(sys.argv[2:]):
    preset, _, type_ = name.partition("_")
    args = special.get(name) or [preset] + (["--type", type_] if type_ else [])
    try:
        make_models.main(args + ["--seed", str(seed + 3), "--out", f"{sys.argv[1]}/{name}.gguf"])
    except SystemExit as e:
        print(f"{name}: {e}")
EOF
for model_name in $RANDOM_MODELS; do
    if [ -f "$TMP/$model_name.gguf" ]; then
        logits_match "test_c_matches_reference_$model_name" "$TMP/$model_name.gguf"
        case $model_name in tiny-gqa|hd128)
            logits_within "test_c_kv_f16_near_reference_$model_name" "$TMP/$model_name.gguf" $KV_F16_TOL \
                --exact --kv-type f16 ;;
        esac
        case $model_name in hd32|hd48|hd64|hd128)
            logits_within "test_c_kv_q8_0_near_reference_$model_name" "$TMP/$model_name.gguf" $KV_Q8_0_TOL \
                --exact --kv-type q8_0 ;;
        esac
        case $model_name in *_Q8_0|*_Q4_0)
            fast_logits_match "test_c_fast_path_near_reference_$model_name" "$TMP/$model_name.gguf" $FAST_TOL_RANDOM
            fast_logits_match "test_c_fast_path_near_reference_${model_name}_scalar" "$TMP/$model_name.gguf" $FAST_TOL_RANDOM \
                --kernels scalar
            logits_within "test_c_fast_prefill_near_reference_$model_name" "$TMP/$model_name.gguf" \
                $FAST_TOL_RANDOM ;;
        esac
        rm -f "$TMP/$model_name.gguf"
    else
        fail "test_c_matches_reference_$model_name" "make_models.py: $(grep "^$model_name:" "$TMP/make.out" || tail -n 1 "$TMP/make.out")"
    fi
done

if [ -z "$SHARED" ]; then
    for t in stories260K_gguf stories260K_v0 stories260K_v1 stories260K_v2 stories260K_v2_to_Q8_0; do
        skip "test_c_matches_reference_$t" "../shared missing"
    done
    for t in test_c_fast_path_near_reference_stories260K_Q8_0 test_c_fast_path_near_reference_stories260K_Q4_0 \
             test_c_fast_prefill_near_reference_stories260K_Q8_0 test_c_fast_prefill_near_reference_stories260K_Q4_0 \
             test_c_kv_f16_near_reference_stories260K test_c_kv_q8_0_near_reference_stories260K \
             test_greedy_fast_path_same_text_for_1_2_threads; do
        skip $t "../shared missing"
    done
    for t in test_greedy_same_text_for_gguf_v0_v1 test_greedy_text_matches_reference \
             test_greedy_starts_with_the_lily_story test_greedy_same_text_for_1_2_3_threads; do
        skip $t "../shared missing"
    done
    exit $FAILED
fi

TOK=$STORIES/tok512.bin
logits_match test_c_matches_reference_stories260K_gguf "$STORIES/stories260K.gguf"
logits_within test_c_kv_f16_near_reference_stories260K "$STORIES/stories260K.gguf" $KV_F16_TOL --exact --kv-type f16
logits_within test_c_kv_q8_0_near_reference_stories260K "$STORIES/stories260K.gguf" $KV_Q8_0_TOL --exact --kv-type q8_0
logits_match test_c_matches_reference_stories260K_v0 "$STORIES/stories260K.bin" -z "$TOK"
logits_match test_c_matches_reference_stories260K_v1 "$STORIES/stories260K_v1.bin" -z "$TOK"
if $PY scripts/export_llama2c.py "$STORIES/stories260K.bin" --version 2 --out "$TMP/s_v2.bin" 2> "$TMP/err"; then
    logits_match test_c_matches_reference_stories260K_v2 "$TMP/s_v2.bin" -z "$TOK"
    if $PY scripts/convert.py "$TMP/s_v2.bin" --tokenizer "$TOK" --type Q8_0 --out "$TMP/s_q8.gguf" > /dev/null 2> "$TMP/err"; then
        logits_match test_c_matches_reference_stories260K_v2_to_Q8_0 "$TMP/s_q8.gguf"
    else
        fail test_c_matches_reference_stories260K_v2_to_Q8_0 "convert.py: $(tail -n 1 "$TMP/err")"
    fi
else
    fail test_c_matches_reference_stories260K_v2 "export_llama2c.py: $(tail -n 1 "$TMP/err")"
    fail test_c_matches_reference_stories260K_v2_to_Q8_0 "no v2 export to convert"
fi

# ---- greedy generation from BOS ---------------------------------------------------------------
greedy() {   # greedy OUT N MODEL [options]: ./run's text (stdout) for N greedy steps into OUT
    out=$1 steps=$2 model=$3
    shift 3
    $RUN "$model" "$@" --temp 0 -n "$steps" > "$out" 2> "$TMP/err" || echo "(./run failed: $(tail -n 1 "$TMP/err"))" >> "$out"
}
# The gguf run is the documented command (default threads); the others pin one thread, because
# more threads than free cores can be very slow on a loaded machine and thread counts are checked
# on their own below.
greedy "$TMP/g_gguf" 199 "$STORIES/stories260K.gguf"
greedy "$TMP/g_v0" 199 "$STORIES/stories260K.bin" -z "$TOK" -t 1
greedy "$TMP/g_v1" 199 "$STORIES/stories260K_v1.bin" -z "$TOK" -t 1
if cmp -s "$TMP/g_gguf" "$TMP/g_v0" && cmp -s "$TMP/g_gguf" "$TMP/g_v1"; then
    pass test_greedy_same_text_for_gguf_v0_v1
else
    fail test_greedy_same_text_for_gguf_v0_v1 "outputs differ (gguf: $(head -c 80 "$TMP/g_gguf" | tr '\n' ' ')...)"
fi

# The reference's 199 greedy tokens, decoded. ./run may count -n with or without BOS and stops at
# an end token, so one text must be a prefix of the other, sharing at least 300 characters.
$PY scripts/reference.py "$STORIES/stories260K.gguf" --greedy 199 --decode 2> "$TMP/err" | sed 1d > "$TMP/g_ref"
if why=$($PY - "$TMP/g_ref" "$TMP/g_gguf" <<'EOF'
import sys
ref, c = (open(p, encoding="utf-8", errors="replace").read().strip() for p in sys.argv[1:3])
common = min(len(ref), len(c))
at = next((i for i in range(common) if ref[i] != c[i]), common)
if at < common:
    sys.exit(f"differ at char {at}: ref ...{ref[max(0, at - 30):at + 30]!r} vs C ...{c[max(0, at - 30):at + 30]!r}")
if common < 300:
    sys.exit(f"only {common} characters to compare (ref {len(ref)}, C {len(c)}): C printed {c[:80]!r}")
EOF
); then pass test_greedy_text_matches_reference; else fail test_greedy_text_matches_reference "$why"; fi

if head -c 200 "$TMP/g_gguf" | tr -d '\n' | grep -q "^ *Once upon a time, there was a little girl named Lily\."; then
    pass test_greedy_starts_with_the_lily_story
else
    fail test_greedy_starts_with_the_lily_story "got: $(head -c 80 "$TMP/g_gguf" | tr '\n' ' ')"
fi

# The fast path on real weights: stories260K converted to Q8_0 and Q4_0, within its bound of the
# reference, and the same greedy text for any thread count.
for type in Q8_0 Q4_0; do
    if $PY scripts/convert.py "$STORIES/stories260K.gguf" --type $type --out "$TMP/s_$type.gguf" > /dev/null 2> "$TMP/err"; then
        fast_logits_match test_c_fast_path_near_reference_stories260K_$type "$TMP/s_$type.gguf" $FAST_TOL_STORIES
        logits_within test_c_fast_prefill_near_reference_stories260K_$type "$TMP/s_$type.gguf" \
            $FAST_TOL_STORIES
    else
        fail test_c_fast_path_near_reference_stories260K_$type "convert.py: $(tail -n 1 "$TMP/err")"
    fi
done
same=1
for type in Q8_0 Q4_0; do
    greedy "$TMP/f1_$type" 64 "$TMP/s_$type.gguf" -t 1
    greedy "$TMP/f2_$type" 64 "$TMP/s_$type.gguf" -t 2
    cmp -s "$TMP/f1_$type" "$TMP/f2_$type" && [ -s "$TMP/f1_$type" ] || same=0
done
if [ $same = 1 ]; then pass test_greedy_fast_path_same_text_for_1_2_threads
else fail test_greedy_fast_path_same_text_for_1_2_threads "Q8_0/Q4_0 texts differ between -t 1 and -t 2 (or are empty)"; fi

same=1
for t in 1 2 3; do
    greedy "$TMP/g_t$t" 64 "$STORIES/stories260K.gguf" -t $t
    cmp -s "$TMP/g_t1" "$TMP/g_t$t" || same=0
done
if [ $same = 1 ] && [ -s "$TMP/g_t1" ]; then pass test_greedy_same_text_for_1_2_3_threads
else fail test_greedy_same_text_for_1_2_3_threads "texts differ between -t 1, 2, 3 (or are empty)"; fi

exit $FAILED
