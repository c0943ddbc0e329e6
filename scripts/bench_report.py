#!/usr/bin/python3
"""bench_report.py — merge the per-model results of scripts/bench.sh into report.md and report.json.

    bench_report.py --dir build/bench --models "stories260K s110M-F32" [--command ...] [--commit ...]

Reads DIR/NAME.attend.json (./run --bench --json) and, when present, DIR/NAME.llama.json
(llama-bench -o json, measured right after ours) and DIR/NAME.llama2c.json (llama2.c's decode runs,
see scripts/bench.sh), and writes DIR/report.json (every test of every model, each with its peers'
figures when there are some) and DIR/report.md (one table). Standard library only.
"""
import argparse
import datetime
import json
import os


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
    ap.add_argument("--command", default="make bench")
    ap.add_argument("--commit", default="unknown")
    ap.add_argument("--load", default="", help="load average before the run")
    a = ap.parse_args()

    tests, have_llama, have_llama2c = [], False, False
    for name in a.models.split():
        path = os.path.join(a.dir, f"{name}.attend.json")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            ours = json.load(f)
        peer = llama_rows(os.path.join(a.dir, f"{name}.llama.json"))
        for t in ours:
            t["name"] = name
            p = peer.get((t["kind"], t["n_tokens"], t["depth"]))
            if p:
                have_llama = True
                t["llama_cpp_tok_s_mean"], t["llama_cpp_tok_s_stddev"] = p
                t["ratio_to_llama_cpp"] = t["tok_s_mean"] / p[0] if p[0] else None
            l2c = llama2c_row(os.path.join(a.dir, f"{name}.llama2c.json"))
            if l2c and t["kind"] == "tg" and t["depth"] == 0 and t["n_tokens"] == l2c[2]:
                have_llama2c = True
                t["llama2c_tok_s_mean"], t["llama2c_tok_s_stddev"], t["llama2c_binary"] = l2c[0], l2c[1], l2c[3]
                t["ratio_to_llama2c"] = t["tok_s_mean"] / l2c[0] if l2c[0] else None
            tests.append(t)
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
        "The machine is shared: figures move by up to 30 % between runs; compare within one table.", "",
    ]
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
                row += f" {fmt(t.get(f'{peer}_tok_s_mean'))} | {f'{ratio:.2f}x' if ratio else '–'} |"
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
