#!/bin/sh
# test_kquants.sh — the C k-quant kernels against scripts/kquants.py, a numpy implementation
# written independently from the same format description:
#   numpy writes blocks (random bytes with finite scales, and its own quantizer's output), C
#   decodes them bit for bit as numpy does (build/test_kquants --decode);
#   C quantizes a row (build/test_kquants --encode), numpy decodes C's blocks bit for bit as C
#   does, and the round trip's error is that of a good quantizer;
#   numpy's quantizers meet the same error bounds as C's;
#   make_models.py --type Q4_K_M / Q5_K_M / Q6_K writes llama.cpp's mix of types, which reads back
#   within the quantization error.
# ATTEND_BUILD picks the build directory (default build).
. "$(dirname "$0")/lib.sh"

BIN=${ATTEND_BUILD:-build}/test_kquants
if [ ! -x "$BIN" ]; then
    fail test_kquants_sh "$BIN is missing: build it with 'make $BIN'"
    exit 1
fi

# ---- numpy blocks -> C decode ----
if PYTHONPATH=scripts $PY - "$TMP" > "$TMP/py.out" 2>&1 <<'PYEOF'
import sys
import numpy as np
import kquants as kq
d = sys.argv[1]
rng = np.random.default_rng(10)
fp16_at = {kq.Q2_K: [80, 82], kq.Q3_K: [108], kq.Q4_K: [0, 2], kq.Q5_K: [0, 2], kq.Q6_K: [208]}
for t, name in kq.NAMES.items():
    size = kq.BLOCK_BYTES[t]
    raw = rng.integers(0, 256, size=(6, size), dtype=np.uint8)      # every bit pattern
    for off in fp16_at.get(t, []):
        raw[:, off:off + 2] = (rng.standard_normal(6) * 0.05).astype("<f2").reshape(-1, 1).view(np.uint8)
    if t == kq.Q8_K:
        raw[:, 0:4] = (rng.standard_normal(6) * 0.05).astype("<f4").reshape(-1, 1).view(np.uint8)
    x = rng.standard_normal(4 * kq.QK_K).astype(np.float32)
    x[:kq.QK_K] *= np.float32(1e-3)                                  # a small-scale block
    blocks = np.concatenate([raw.reshape(-1), kq.quantize(x, t)])
    n = blocks.size // size * kq.QK_K
    blocks.tofile(f"{d}/{name}.bin")
    kq.dequantize(blocks, t, n).astype("<f4").tofile(f"{d}/{name}.f32")
PYEOF
then
    "$BIN" --decode "$TMP" > "$TMP/decode.out" 2>&1
    rc=$?
    grep -v '^#' "$TMP/decode.out"
    [ $rc -eq 0 ] || fail test_kquants_c_decodes_numpy_blocks "exit status $rc"
else
    fail test_kquants_numpy_writes_blocks "$(tail -n 1 "$TMP/py.out")"
fi

# ---- C quantize -> numpy decode ----
if "$BIN" --encode "$TMP" > "$TMP/encode.out" 2>&1; then
    if PYTHONPATH=scripts $PY - "$TMP" > "$TMP/py2.out" 2>&1 <<'PYEOF'
import sys
import numpy as np
import kquants as kq
d = sys.argv[1]
# relative RMS bounds of a good quantizer on a Gaussian row (those of test_kquants.c)
bound = {kq.Q2_K: 0.40, kq.Q3_K: 0.216, kq.Q4_K: 0.107, kq.Q5_K: 0.054, kq.Q6_K: 0.026, kq.Q8_K: 0.012}
for t, name in kq.NAMES.items():
    x = np.fromfile(f"{d}/{name}.in.f32", "<f4")
    c_out = np.fromfile(f"{d}/{name}.out.f32", "<f4")
    blocks = np.fromfile(f"{d}/{name}.bin", np.uint8)
    mine = kq.dequantize(blocks, t, x.size)
    if not np.array_equal(mine.view(np.uint32), c_out.view(np.uint32)):
        i = int(np.flatnonzero(mine.view(np.uint32) != c_out.view(np.uint32))[0])
        sys.exit(f"{name}: element {i}: numpy decodes {mine[i]!r}, C {c_out[i]!r}")
    err = float(np.sqrt(((mine - x) ** 2).mean() / (x ** 2).mean()))
    if err > bound[t]:
        sys.exit(f"{name}: C quantizer's relative RMS error {err:.4f} > {bound[t]}")
    # numpy's own quantizer on the same row
    own = kq.dequantize(kq.quantize(x, t), t, x.size)
    own_err = float(np.sqrt(((own - x) ** 2).mean() / (x ** 2).mean()))
    if own_err > bound[t]:
        sys.exit(f"{name}: numpy quantizer's relative RMS error {own_err:.4f} > {bound[t]}")
    print(f"# {name}: C round trip error {err:.4f}, numpy quantizer {own_err:.4f}")
PYEOF
    then
        grep '^#' "$TMP/py2.out"
        pass test_kquants_numpy_decodes_c_blocks
    else
        fail test_kquants_numpy_decodes_c_blocks "$(tail -n 1 "$TMP/py2.out")"
    fi
else
    fail test_kquants_c_encodes "$(tail -n 1 "$TMP/encode.out")"
fi

# ---- Q4_K_M / Q5_K_M mixes written by make_models.py ----
if PYTHONPATH=scripts $PY - "$TMP" > "$TMP/py3.out" 2>&1 <<'PYEOF'
import sys
import numpy as np
import convert, gguf, make_models
d = sys.argv[1]
shape = ["--dim", "256", "--hidden", "512", "--layers", "8", "--heads", "4", "--kv-heads", "2",
         "--vocab", "300", "--ctx", "64", "--seed", "3"]
more_bits = {0, 3, 6, 7}        # 8 layers: first and last eighth, then every third in between
for file_type, base, tied in (("Q4_K_M", gguf.Q4_K, False), ("Q5_K_M", gguf.Q5_K, True), ("Q6_K", gguf.Q6_K, False)):
    out = f"{d}/m-{file_type}.gguf"
    make_models.main(shape + ["--tied" if tied else "--untied", "--type", file_type, "--out", out])
    g = gguf.read(out)
    want = {}
    for name, t in g.tensors.items():
        layer = int(name.split(".")[1]) if name.startswith("blk.") else -1
        if len(t.dims) == 1:
            want[name] = gguf.F32
        elif file_type == "Q6_K" or name == "output.weight" or (tied and name == "token_embd.weight"):
            want[name] = gguf.Q6_K
        elif name.endswith(("attn_v.weight", "ffn_down.weight")) and layer in more_bits:
            want[name] = gguf.Q6_K
        else:
            want[name] = base
        if t.type != want[name]:
            sys.exit(f"{file_type}: {name} is {gguf.TYPE_NAMES[t.type]}, want {gguf.TYPE_NAMES[want[name]]}")
    if g.metadata["general.file_type"] != {"Q4_K_M": 15, "Q5_K_M": 17, "Q6_K": 18}[file_type]:
        sys.exit(f"{file_type}: general.file_type {g.metadata['general.file_type']}")
    config = convert.load_model(out).config
    exact = make_models.weight_producers(config, 3)
    worst = 0.0
    for name, t in g.tensors.items():
        x = exact[name]()
        y = t.to_float32()
        worst = max(worst, float(np.sqrt(((y - x) ** 2).mean() / (x ** 2).mean())))
    if worst > (0.107 if base == gguf.Q4_K else 0.054 if base == gguf.Q5_K else 0.026):
        sys.exit(f"{file_type}: a tensor reads back with relative RMS error {worst:.4f}")
    print(f"# {file_type}: types as llama.cpp mixes them, worst tensor error {worst:.4f}")
PYEOF
then
    grep '^#' "$TMP/py3.out"
    pass test_kquants_make_models_writes_llama_cpp_mixes
else
    fail test_kquants_make_models_writes_llama_cpp_mixes "$(tail -n 1 "$TMP/py3.out")"
fi
exit $FAILED
