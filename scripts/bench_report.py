#!/usr/bin/python3
"""bench_report.py — merge the per-model results of scripts/bench.sh into report.md and report.json.

    bench_report.py --dir build/bench --models "stories260K s110M-F32" [--kernels "avx2 scalar"]
                    [--command ...] [--commit ...]

Reads DIR/NAME.attend.rK.json (./run --bench --json, round K = 1, 2, ...) and, when present,
DIR/NAME.llama.rK.json (llama-bench -o json, measured in the same round) and DIR/NAME.llama2c.rK.json
(llama2.c's decode runs, see scripts/bench.sh), and writes DIR/report.json (every test of every
model, each with its peers' figures when there are some) and DIR/report.md (one table). (Files
without the round, NAME.attend.json and so on, as older runs wrote them, are one round.)

With several rounds, a row's figures are those of its median round (by our tok/s), each peer's
tok/s is the median of its rounds, and the ratio is the geometric mean of the rounds' ratios, each
ours over the peer's in the same round. With --kernels, DIR/NAME.attend.SET.rK.json (our runs with
--kernels SET, in the same rounds) are compared the same way, as peers, in a table of their own.
Standard library only.
"""
import argparse
import datetime
import json
import math
import os
import statistics


def llama_rows(path):
    """{(kind, n_tokens, depth): (avg tok/s, stddev)} from a llama-bench JSON file."""
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        try:
            rows = json.load(f)
        except json.JSONDecodeError:
            return {}
    out = {}
    for r in rows:
        depth = r.get("n_depth", 0)
        if r.get("n_gen", 0) == 0 and r.get("n_prompt", 0) > 0:
            out[("pp", r["n_prompt"], depth)] = (r["avg_ts"], r.get("stddev_ts", 0.0))
        elif r.get("n_prompt", 0) == 0 and r.get("n_gen", 0) > 0:
            out[("tg", r["n_gen"], depth)] = (r["avg_ts"], r.get("stddev_ts", 0.0))
    return out


def llama2c_row(path):
    """(mean tok/s, stddev, n_gen, binary) of the fastest llama2.c build's decode runs
    (scripts/bench.sh), or None."""
    if not os.path.exists(path):
        return None
    with open(path) as f:
        try:
            r = json.load(f)
        except json.JSONDecodeError:
            return None
    best = None
    for build in r.get("builds", []):
        runs = build.get("tok_s") or []
        if not runs:
            continue
        mean = sum(runs) / len(runs)
        sd = (sum((x - mean) ** 2 for x in runs) / (len(runs) - 1)) ** 0.5 if len(runs) > 1 else 0.0
        if best is None or mean > best[0]:
            best = (mean, sd, r.get("n_gen"), build.get("binary"))
    return best


def test_key(t):
    """What identifies one test of ./run --bench's JSON: (kind, n_tokens, depth)."""
    return (t["kind"], t["n_tokens"], t["depth"])


def attend_rows(path):
    """{(kind, n_tokens, depth): (tok/s, stddev)} from a ./run --bench JSON file."""
    with open(path) as f:
        return {test_key(t): (t["tok_s_mean"], t["tok_s_stddev"]) for t in json.load(f)}


def round_files(directory, name, engine):
    """The paths of NAME's rounds for one engine (attend, llama, llama2c), in order; an older run's
    single file as one round."""
    paths, k = [], 1
    while os.path.exists(os.path.join(directory, f"{name}.{engine}.r{k}.json")):
        paths.append(os.path.join(directory, f"{name}.{engine}.r{k}.json"))
        k += 1
    if not paths and os.path.exists(os.path.join(directory, f"{name}.{engine}.json")):
        paths.append(os.path.join(directory, f"{name}.{engine}.json"))
    return paths


def geometric_mean(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def merge_rounds(name, ours, llama, llama2c, kernel_sets=None):
    """One test dict per test of `ours` (a list per round of ./run's tests), with the peers' figures
    of the same rounds (llama: per round {(kind, n, depth): (tok/s, sd)}; llama2c: per round a
    llama2c_row or None; kernel_sets: {SET: per round {(kind, n, depth): (tok/s, sd)}}, our runs
    with --kernels SET, as peer "kernels_SET") and the ratios (see the module's comment)."""
    tests = []
    for first in ours[0]:
        key = test_key(first)
        per_round = [next((t for t in r if test_key(t) == key), None) for r in ours]
        measured = [t for t in per_round if t]
        t = dict(sorted(measured, key=lambda x: x["tok_s_mean"])[(len(measured) - 1) // 2])
        t["name"] = name
        t["rounds"] = len(ours)
        t["tok_s_rounds"] = [x["tok_s_mean"] if x else None for x in per_round]
        peers = {"llama_cpp": [l.get(key) for l in llama], "llama2c": []}
        for kernels, rounds in (kernel_sets or {}).items():
            peers[f"kernels_{kernels}"] = [r.get(key) for r in rounds]
        if t["kind"] == "tg" and t["depth"] == 0:
            peers["llama2c"] = [r if r and r[2] == t["n_tokens"] else None for r in llama2c]
        for peer, figures in peers.items():
            figures += [None] * (len(per_round) - len(figures))
            pairs = [(o["tok_s_mean"], f) for o, f in zip(per_round, figures) if o and f and f[0]]
            if not pairs:
                continue
            ratios = [o / f[0] for o, f in pairs]
            t[f"{peer}_tok_s_mean"] = statistics.median(f[0] for _, f in pairs)
            t[f"{peer}_tok_s_stddev"] = statistics.median(f[1] for _, f in pairs)
            if peer == "llama2c":
                t["llama2c_binary"] = pairs[0][1][3]
            t[f"ratio_to_{peer}"] = geometric_mean(ratios)
            t[f"ratios_to_{peer}"] = [o["tok_s_mean"] / f[0] if o and f and f[0] else None
                                      for o, f in zip(per_round, figures)]
        tests.append(t)
    return tests


def fmt(x, digits=3):
    """A figure with about `digits` significant digits and thousands separators."""
    if x is None:
        return "–"
    if x >= 10 ** digits:
        return f"{x:,.0f}"
    return f"{x:,.{max(0, digits - 1 - len(str(int(x))) + 1)}f}" if x >= 1 else f"{x:.{digits}g}"


def row_cells(t):
    """The table's first nine cells for one test: model, test, depth, tok/s, sd, TTFT, ITL p50/p99, roofline."""
    pp = t["kind"] == "pp"
    return (f"| {t['name']} | {t['test']} | {t['depth']} | {fmt(t['tok_s_mean'])} | {fmt(t['tok_s_stddev'], 2)} | "
            f"{fmt(t.get('ttft_ms_mean')) if pp else '–'} | {'–' if pp else fmt(t['itl_ms_p50'])} | "
            f"{'–' if pp else fmt(t['itl_ms_p99'])} | {t['roofline_pct']:.0f} % {'FMA' if pp else 'BW'} |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--models", required=True, help="model names, space-separated, in report order")
    ap.add_argument("--kernels", default="", help="kernel sets our runs were repeated with, space-separated")
    ap.add_argument("--command", default="make bench")
    ap.add_argument("--commit", default="unknown")
    ap.add_argument("--load", default="", help="load average before the run")
    a = ap.parse_args()

    tests = []
    for name in a.models.split():
        ours = []
        for path in round_files(a.dir, name, "attend"):
            with open(path) as f:
                ours.append(json.load(f))
        if not ours:
            continue
        llama = [llama_rows(p) for p in round_files(a.dir, name, "llama")]
        llama2c = [llama2c_row(p) for p in round_files(a.dir, name, "llama2c")]
        kernel_sets = {k: [attend_rows(p) for p in round_files(a.dir, name, f"attend.{k}")] for k in a.kernels.split()}
        tests += merge_rounds(name, ours, llama, llama2c, kernel_sets)
    have_llama = any(t.get("ratio_to_llama_cpp") for t in tests)
    have_llama2c = any(t.get("ratio_to_llama2c") for t in tests)
    rounds = max((t["rounds"] for t in tests), default=1)
    if not tests:
        raise SystemExit("bench_report.py: no results in " + a.dir)

    first = tests[0]
    probe = first["probe"]
    report = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": a.commit, "command": a.command, "cpu": first["cpu"], "threads": first["threads"],
        "kernels": first["kernels"], "load_average_before": a.load, "probe": probe, "tests": tests,
    }
    with open(os.path.join(a.dir, "report.json"), "w") as f:
        json.dump(report, f, indent=1)

    # the all-threads peaks (absent from JSON written before the probe measured them)
    all_fma = (f", {probe['fma_gflop_s_all_threads']:.1f} with all {probe['read_threads']} at once"
               if "fma_gflop_s_all_threads" in probe else "")
    all_int8 = f", {probe['int8_gop_s_all_threads']:.1f} all at once" if "int8_gop_s_all_threads" in probe else ""
    lines = [
        "# attend benchmark report", "",
        f"{report['date']}, commit {a.commit}, CPU {report['cpu']}, {report['threads']} threads, "
        f"{report['kernels']} kernels; load average before the run: {a.load or 'unknown'}.",
        f"Command: `{a.command}`.", "",
        f"Ceilings measured by the probe: streaming read {probe['read_gb_s']:.1f} GB/s ({probe['read_threads']} "
        f"threads), FMA {probe['fma_gflop_s_per_thread']:.1f} GFLOP/s per thread{all_fma} ({probe['isa']}), "
        f"int8 dot {probe['int8_gop_s_per_thread']:.1f} GOP/s per thread{all_int8} ({probe['int8_isa']}).",
        "Roofline: pp = FLOPs per token x tok/s / the FMA peak of all threads at once; tg = weight bytes per "
        "token x tok/s / read bandwidth (a model that fits in the caches can exceed 100 %).",
        "The machine is shared: figures move by up to 30 % between runs; compare within one table.",
    ]
    if rounds > 1:
        lines.append(f"{rounds} rounds per model, every engine in each (ours first in odd rounds, last in even "
                     "ones): each row shows its median round's figures, the peers' median tok/s, and the "
                     "geometric mean of the rounds' ratios with each round's ratio after it.")
    lines.append("")
    head = "| model | test | depth | tok/s | ± | TTFT ms | ITL p50 ms | ITL p99 ms | roofline |"
    rule = "|---|---|---:|---:|---:|---:|---:|---:|---:|"
    if have_llama:
        head += " llama.cpp tok/s | ratio |"
        rule += "---:|---:|"
    if have_llama2c:
        head += " llama2.c tok/s | ratio |"
        rule += "---:|---:|"
    lines += [head, rule]
    for t in tests:
        row = row_cells(t)
        for peer, have in (("llama_cpp", have_llama), ("llama2c", have_llama2c)):
            if have:
                ratio = t.get(f"ratio_to_{peer}")
                cell = f"{ratio:.2f}x" if ratio else "–"
                if ratio and rounds > 1:
                    cell += " (" + " / ".join(f"{x:.2f}" if x else "–" for x in t[f"ratios_to_{peer}"]) + ")"
                row += f" {fmt(t.get(f'{peer}_tok_s_mean'))} | {cell} |"
        lines.append(row)
    compared = [k for k in a.kernels.split() if any(t.get(f"ratio_to_kernels_{k}") for t in tests)]
    if compared:
        lines += ["", f"Kernel sets: our runs with each set (--kernels), in the same rounds; the ratio is the main "
                      f"run's ({report['kernels']} kernels) tok/s over the set's" +
                      (", the geometric mean of the rounds'." if rounds > 1 else "."), "",
                  f"| model | test | depth | {report['kernels']} tok/s |" + "".join(f" {k} tok/s | ratio |" for k in compared),
                  "|---|---|---:|---:|" + "---:|---:|" * len(compared)]
        for t in tests:
            row = f"| {t['name']} | {t['test']} | {t['depth']} | {fmt(t['tok_s_mean'])} |"
            for k in compared:
                ratio = t.get(f"ratio_to_kernels_{k}")
                row += f" {fmt(t.get(f'kernels_{k}_tok_s_mean'))} | {f'{ratio:.2f}x' if ratio else '–'} |"
            lines.append(row)
    lines += ["", "Peak resident memory and load times (cold = first mapping in the process, warm = a second load):", "",
              "| model | type | size MiB | load cold ms | load warm ms | peak RSS MiB |", "|---|---|---:|---:|---:|---:|"]
    seen = set()
    for t in tests:
        if t["name"] in seen:
            continue
        seen.add(t["name"])
        lines.append(f"| {t['name']} | {t['type']} | {t['size_bytes'] / 2**20:.1f} | {t['load_cold_ms']:.1f} | "
                     f"{t['load_warm_ms']:.1f} | {t['peak_rss_mib']:.1f} |")
    with open(os.path.join(a.dir, "report.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"bench_report.py: wrote {a.dir}/report.md and report.json ({len(tests)} tests)")


if __name__ == "__main__":
    main()
