#!/bin/sh
# test_bench.sh — ./run --bench, --profile and --ignore-eos behave: the table has its rows, the
# JSON parses and holds every repetition's raw times, the CSV has its header, the profile's classes
# fit inside its total, and bad values are one-line errors. Nothing here asserts a speed.
. "$(dirname "$0")/lib.sh"

RUN=${ATTEND_RUN:-./run}
MODEL=${ATTEND_DEFAULT_MODEL:-models/stories-attend.gguf}
B="$MODEL --bench -t 2 -p 16,32 -n 8 -r 3"

# ---- the table, JSON and CSV of one run -------------------------------------------------------
timeout 120 $RUN $B -d 0,16 --json "$TMP/b.json" --csv "$TMP/b.csv" > "$TMP/out" 2> "$TMP/err"
rc=$?
if [ $rc -ne 0 ]; then
    fail test_bench_runs "status $rc: $(tail -n 1 "$TMP/err")"
else
    pass test_bench_runs
    rows=$(grep -cE '^\| (pp16|pp32|tg8) +\| +(0|16) \|' "$TMP/out")
    if [ "$rows" = 6 ] && grep -q '^ceilings (probe' "$TMP/out" && grep -q '^peak resident memory' "$TMP/out"; then
        pass test_bench_table_has_pp_and_tg_rows_at_each_depth
    else
        fail test_bench_table_has_pp_and_tg_rows_at_each_depth "$rows rows: $(head -c 600 "$TMP/out")"
    fi
    if why=$($PY - "$TMP/b.json" 2>&1 <<'PYEOF'
import json, sys
tests = json.load(open(sys.argv[1]))
assert [(t["test"], t["depth"]) for t in tests] == [("pp16", 0), ("pp32", 0), ("tg8", 0),
                                                    ("pp16", 16), ("pp32", 16), ("tg8", 16)], tests
for t in tests:
    assert t["repetitions"] == 3 and len(t["seconds"]) == 3 and all(s > 0 for s in t["seconds"]), t["test"]
    assert t["tok_s_mean"] > 0 and t["threads"] == 2 and t["kernels"], t["test"]
    p = t["probe"]   # the ceilings, one thread's and both threads' at once, all measured
    assert p["read_threads"] == 2 and p["fma_gflop_s_per_thread"] > 0 and p["int8_gop_s_per_thread"] > 0, p
    assert p["fma_gflop_s_all_threads"] > 0 and p["int8_gop_s_all_threads"] > 0, p
    if t["kind"] == "pp":
        assert len(t["ttft_ms"]) == 3 and all(a >= 1e3 * s for a, s in zip(t["ttft_ms"], t["seconds"]))
    else:
        assert len(t["itl_ms"]) == 3 and all(len(r) == 8 for r in t["itl_ms"]), t["itl_ms"]
        assert t["itl_ms_p50"] <= t["itl_ms_p90"] <= t["itl_ms_p99"] <= t["itl_ms_max"]
PYEOF
    ); then pass test_bench_json_holds_every_repetition
    else fail test_bench_json_holds_every_repetition "$(echo "$why" | tail -n 1)"; fi
    if head -n 1 "$TMP/b.csv" | grep -q '^model,type,.*,test,n_tokens,depth,repetitions,tok_s_mean' &&
       [ "$(wc -l < "$TMP/b.csv")" = 7 ]; then
        pass test_bench_csv_has_header_and_one_line_per_test
    else
        fail test_bench_csv_has_header_and_one_line_per_test "$(head -n 2 "$TMP/b.csv")"
    fi
fi

# ---- make bench's report: rounds of our JSON and llama-bench's, merged ---------------------------
# Two rounds of b.json (the second 3x faster) against a peer at half our speed in round 1 and a
# quarter in round 2: each row's ratio is the geometric mean of 2 and 4, its figures the median
# round's, the peer's tok/s the median of its two, and report.md shows both rounds' ratios.
if [ -f "$TMP/b.json" ]; then
    mkdir -p "$TMP/rep"
    if why=$($PY - "$TMP/b.json" "$TMP/rep" 2>&1 <<'PYEOF'
import json, os, subprocess, sys
ours, d = json.load(open(sys.argv[1])), sys.argv[2]
faster = [dict(t, tok_s_mean=3 * t["tok_s_mean"]) for t in ours]
json.dump(ours, open(os.path.join(d, "m.attend.r1.json"), "w"))
json.dump(faster, open(os.path.join(d, "m.attend.r2.json"), "w"))
for k, rounds, share in ((1, ours, 2), (2, faster, 4)):
    rows = [{"n_prompt": t["n_tokens"] if t["kind"] == "pp" else 0, "n_gen": t["n_tokens"] if t["kind"] == "tg" else 0,
             "n_depth": t["depth"], "avg_ts": t["tok_s_mean"] / share, "stddev_ts": 1.0} for t in rounds]
    json.dump(rows, open(os.path.join(d, f"m.llama.r{k}.json"), "w"))
    tg = next(t for t in rounds if t["kind"] == "tg" and t["depth"] == 0)
    json.dump({"n_gen": tg["n_tokens"], "threads": 2, "builds": [{"binary": "run", "tok_s": [tg["tok_s_mean"] / share]}]},
              open(os.path.join(d, f"m.llama2c.r{k}.json"), "w"))
subprocess.run([sys.executable, "scripts/bench_report.py", "--dir", d, "--models", "m"], check=True, capture_output=True)
report = json.load(open(os.path.join(d, "report.json")))
assert len(report["tests"]) == len(ours), report["tests"]
for t, first in zip(report["tests"], ours):
    assert t["rounds"] == 2 and abs(t["ratio_to_llama_cpp"] - 8 ** 0.5) < 1e-9, t
    assert [round(x, 9) for x in t["ratios_to_llama_cpp"]] == [2, 4], t["ratios_to_llama_cpp"]
    assert t["tok_s_mean"] == first["tok_s_mean"], "the median of two rounds is the slower one"
    peer = (first["tok_s_mean"] / 2 + 3 * first["tok_s_mean"] / 4) / 2
    assert abs(t["llama_cpp_tok_s_mean"] - peer) < 1e-9 * peer, (t["llama_cpp_tok_s_mean"], peer)
    if t["kind"] == "tg" and t["depth"] == 0:
        assert abs(t["ratio_to_llama2c"] - 8 ** 0.5) < 1e-9, t
    else:
        assert "ratio_to_llama2c" not in t, t
md = open(os.path.join(d, "report.md")).read()
assert "2 rounds per model" in md and "2.83x (2.00 / 4.00)" in md, md
PYEOF
    ); then pass test_bench_report_merges_rounds
    else fail test_bench_report_merges_rounds "$(echo "$why" | tail -n 1)"; fi

    # BENCH_KERNELS: the same two rounds with --kernels scalar at a fifth and a tenth of our speed
    # (ratios 5 and 10, geometric mean sqrt(50)); a listed set that left no files gets no column.
    if why=$($PY - "$TMP/b.json" "$TMP/rep" 2>&1 <<'PYEOF'
import json, os, subprocess, sys
ours, d = json.load(open(sys.argv[1])), sys.argv[2]
for k, scale in ((1, 1 / 5), (2, 3 / 10)):
    json.dump([dict(t, tok_s_mean=scale * t["tok_s_mean"]) for t in ours], open(os.path.join(d, f"m.attend.scalar.r{k}.json"), "w"))
subprocess.run([sys.executable, "scripts/bench_report.py", "--dir", d, "--models", "m", "--kernels", "scalar avx512"],
               check=True, capture_output=True)
report = json.load(open(os.path.join(d, "report.json")))
for t, first in zip(report["tests"], ours):
    assert abs(t["ratio_to_kernels_scalar"] - 50 ** 0.5) < 1e-9, t
    assert [round(x, 9) for x in t["ratios_to_kernels_scalar"]] == [5, 10], t["ratios_to_kernels_scalar"]
    assert abs(t["ratio_to_llama_cpp"] - 8 ** 0.5) < 1e-9, "the peers' ratios are unchanged"
    assert "ratio_to_kernels_avx512" not in t, t
md = open(os.path.join(d, "report.md")).read()
table = md[md.index("Kernel sets:"):]
assert "| scalar tok/s | ratio |" in table and "7.07x" in table and "avx512" not in table, table
PYEOF
    ); then pass test_bench_report_compares_kernel_sets
    else fail test_bench_report_compares_kernel_sets "$(echo "$why" | tail -n 1)"; fi
fi

# ---- --json - puts the JSON alone on stdout ---------------------------------------------------
if timeout 60 $RUN $MODEL --bench -t 1 -p 8 -n 0 -r 1 --json - > "$TMP/out" 2> "$TMP/err" &&
   $PY -c 'import json, sys; assert len(json.load(sys.stdin)) == 1' < "$TMP/out" 2>/dev/null; then
    pass test_bench_json_to_stdout_is_pure_json
else
    fail test_bench_json_to_stdout_is_pure_json "$(head -c 300 "$TMP/out")"
fi

# ---- --profile: the classes' times fit inside the total -----------------------------------------
# sum_fits FILE: every profile table's class rows (between the header and "other") sum to <= total
sum_fits() {
    awk -F'|' '
        /^\| op class/ { inside = 1; sum = 0; n++; next }
        inside && /^\| (other|total)/ { if ($2 ~ /total/) { if (sum > $4 + 0.01) bad = 1; inside = 0 }; next }
        inside && /^\| [a-z]/ { sum += $4 }
        END { exit !(n > 0 && !bad) }' "$1"
}
if timeout 60 $RUN $MODEL --bench -t 2 -p 16 -n 8 -r 2 --profile > "$TMP/out" 2> "$TMP/err" &&
   grep -q '^| matmul F32 ' "$TMP/out" && grep -q '^| attention ' "$TMP/out" && sum_fits "$TMP/out"; then
    pass test_bench_profile_classes_sum_within_total
else
    fail test_bench_profile_classes_sum_within_total "$(grep -A14 'op class' "$TMP/out" | head -c 800) $(tail -n 1 "$TMP/err")"
fi
# The profile's costs come from shapes: a decode token of this (tied) model multiplies by every
# weight once, 2 FLOPs each, so the matmul FLOPs per token are 2 x parameters (less the norms').
if timeout 60 $RUN $MODEL --bench -t 2 -p 0 -n 8 -r 2 --profile --json "$TMP/p.json" > /dev/null 2>&1 &&
   why=$($PY - "$TMP/p.json" 2>&1 <<'PYEOF'
import json, sys
t = json.load(open(sys.argv[1]))[0]
prof = t["profile"]
mm = sum(c["flops"] for c in prof["classes"] if c["name"].startswith("matmul"))
per_token = mm / (t["repetitions"] * t["n_tokens"])
assert abs(per_token / (2 * t["params"]) - 1) < 0.01, (per_token, t["params"])
assert sum(c["seconds"] for c in prof["classes"]) <= prof["forward_seconds"], prof
assert prof["forward_calls"] == t["repetitions"] * t["n_tokens"], prof["forward_calls"]
PYEOF
   ); then pass test_bench_profile_matmul_flops_match_the_shapes
else fail test_bench_profile_matmul_flops_match_the_shapes "$(echo "$why" | tail -n 1)"; fi
if timeout 60 $RUN $MODEL -t 2 --temp 0 -n 12 -p "Once upon a time" --profile > "$TMP/out" 2> "$TMP/err" &&
   grep -q '^| matmul F32 ' "$TMP/err" && grep -q '^| sampling ' "$TMP/err" && sum_fits "$TMP/err"; then
    pass test_generation_profile_classes_sum_within_total
else
    fail test_generation_profile_classes_sum_within_total "$(tail -n 5 "$TMP/err")"
fi

# Profiling reads clocks around the operations; it must not change what they compute.
a=$(timeout 60 $RUN $MODEL -t 2 --temp 0 -n 30 -p "Once upon a time" 2>/dev/null)
b=$(timeout 60 $RUN $MODEL -t 2 --temp 0 -n 30 -p "Once upon a time" --profile 2>/dev/null)
if [ -n "$a" ] && [ "$a" = "$b" ]; then pass test_profile_leaves_greedy_text_unchanged
else fail test_profile_leaves_greedy_text_unchanged "without: '$a' with: '$b'"; fi

# ---- --ignore-eos generates exactly -n tokens ---------------------------------------------------
# A story ends with end-of-text well before 400 tokens; with --ignore-eos generation goes on.
timeout 60 $RUN $MODEL -t 1 --temp 0 -n 400 -p "Once upon a time" --ignore-eos > "$TMP/out" 2> "$TMP/err"
n=$(sed -n 's/.*generated: \([0-9]*\) tokens.*/\1/p' "$TMP/err")
if [ "$n" = 400 ] && grep -q 'stopped at the -n limit' "$TMP/err"; then pass test_ignore_eos_generates_exactly_n
else fail test_ignore_eos_generates_exactly_n "generated '$n': $(tail -n 1 "$TMP/err")"; fi
timeout 60 $RUN $MODEL -t 1 --temp 0 -n 400 -p "Once upon a time" > "$TMP/out" 2> "$TMP/err"
if grep -q 'stopped at end of text' "$TMP/err"; then pass test_without_ignore_eos_stops_at_end_of_text
else skip test_without_ignore_eos_stops_at_end_of_text "the greedy story did not end within 400 tokens"; fi

# ---- bad values: one line, status 1 ---------------------------------------------------------------
refuses() {   # refuses NAME EXPECT ARGS...
    name=$1 expect=$2
    shift 2
    timeout 30 $RUN "$@" > "$TMP/out" 2> "$TMP/err"
    rc=$?
    if [ $rc -ne 1 ]; then fail "$name" "exit status $rc, expected 1: $(head -c 200 "$TMP/err")"
    elif [ "$(wc -l < "$TMP/err")" -ne 1 ]; then fail "$name" "stderr is not one line: $(head -c 300 "$TMP/err")"
    elif ! grep -Eq -- "^error: .*($expect)" "$TMP/err"; then fail "$name" "error does not match /$expect/: $(cat "$TMP/err")"
    else pass "$name"
    fi
}
refuses test_bench_r_0 "-r must be between 1 and" $MODEL --bench -r 0
refuses test_bench_r_list "-r takes one number" $MODEL --bench -r 2,3
refuses test_bench_p_not_a_number "-p expects a comma list of integers, got 'abc'" $MODEL --bench -p abc
refuses test_bench_n_bad_list "-n expects a comma list of integers, got '8,'" $MODEL --bench -n 8,
refuses test_bench_d_negative "-d must be between 0 and" $MODEL --bench -d -1
refuses test_bench_depth_beyond_context "depth 100000 \+ 16 tokens needs 100016 positions but the model's context holds" \
    $MODEL --bench -d 100000 -p 16 -n 8
refuses test_bench_depth_beyond_c "needs 48 positions but the context \(-c\) holds 40" $MODEL --bench -c 40 -d 32 -p 16 -n 8
refuses test_bench_nothing_to_measure "nothing to measure" $MODEL --bench -p 0 -n 0
refuses test_bench_json_unwritable "cannot write '/nonexistent/dir/b.json'" $MODEL --bench --json /nonexistent/dir/b.json
refuses test_bench_csv_unwritable "cannot write '/nonexistent/dir/b.csv'" $MODEL --bench --csv /nonexistent/dir/b.csv
refuses test_bench_with_perplexity "--bench measures speed alone" $MODEL --bench --perplexity README.md
refuses test_bench_flags_without_bench "belong to --bench" $MODEL -r 3
refuses test_bench_missing_model "cannot open|No such file" "$TMP/none.gguf" --bench
exit $FAILED
