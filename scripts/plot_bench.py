#!/usr/bin/python3
"""plot_bench.py — pictures of a benchmark run: decode speed against context depth, and the
distribution of inter-token latencies.

    plot_bench.py build/bench/report.json --out build/bench        (make bench runs this)
    plot_bench.py bench.json --out docs                            (the JSON of ./run --bench --json)

Writes OUT/bench_decode_vs_depth.png and OUT/bench_itl.png. Uses matplotlib (Debian's
python3-matplotlib), the one script of this project allowed to.
"""
import argparse
import json
import os
import sys

import matplotlib
matplotlib.use("Agg")   # files only, no display
import matplotlib.pyplot as plt  # noqa: E402


def load(path):
    """(tests, subtitle) from a report.json object or a ./run --bench --json array."""
    with open(path) as f:
        data = json.load(f)
    if isinstance(data, dict):
        sub = f"{data.get('cpu', '')}, {data.get('threads', '?')} threads, commit {data.get('commit', '?')}"
        return data["tests"], sub
    sub = f"{data[0].get('cpu', '')}, {data[0].get('threads', '?')} threads" if data else ""
    return data, sub


def label(t):
    return t.get("name") or os.path.basename(t["model"])


def decode_vs_depth(tests, sub, out):
    fig, ax = plt.subplots(figsize=(7, 4.5))
    series = {}
    for t in tests:
        if t["kind"] == "tg":
            series.setdefault((label(t), t["test"]), []).append((t["depth"], t["tok_s_mean"], t["tok_s_stddev"]))
    for (name, test), points in series.items():
        points.sort()
        ax.errorbar([p[0] for p in points], [p[1] for p in points], yerr=[p[2] for p in points], marker="o",
                    capsize=3, label=f"{name} {test}")
    ax.set_xlabel("context depth (tokens already in the KV cache)")
    ax.set_ylabel("decode tok/s (mean ± sd)")
    if series and max(p[1] for ps in series.values() for p in ps) > 20 * min(p[1] for ps in series.values() for p in ps):
        ax.set_yscale("log")
    ax.set_title("Decode speed against depth\n" + sub, fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "bench_decode_vs_depth.png"), dpi=110)
    plt.close(fig)


def itl_distribution(tests, sub, out):
    """The cumulative distribution of every token's latency, one curve per model, test and depth."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for t in tests:
        if t["kind"] != "tg":
            continue
        ms = sorted(x for rep in t["itl_ms"] for x in rep)
        n = len(ms)
        ax.plot(ms, [(i + 1) / n for i in range(n)], drawstyle="steps-post",
                label=f"{label(t)} {t['test']} @ d{t['depth']}: p50 {t['itl_ms_p50']:.3g}, "
                      f"p99 {t['itl_ms_p99']:.3g} ms")
    ax.set_xscale("log")
    ax.set_xlabel("inter-token latency, ms (every token of every repetition)")
    ax.set_ylabel("fraction of tokens at or below")
    for q in (0.5, 0.9, 0.99):
        ax.axhline(q, color="grey", lw=0.6, ls=":")
    ax.set_title("Inter-token latency distribution\n" + sub, fontsize=10)
    ax.grid(True, alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "bench_itl.png"), dpi=110)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("json", help="build/bench/report.json or the output of ./run --bench --json")
    ap.add_argument("--out", default=".", help="directory for the PNG files")
    a = ap.parse_args()
    tests, sub = load(a.json)
    if not any(t["kind"] == "tg" for t in tests):
        sys.exit("plot_bench.py: no tg tests to plot in " + a.json)
    os.makedirs(a.out, exist_ok=True)
    decode_vs_depth(tests, sub, a.out)
    itl_distribution(tests, sub, a.out)
    print(f"plot_bench.py: wrote {a.out}/bench_decode_vs_depth.png and bench_itl.png", file=sys.stderr)


if __name__ == "__main__":
    main()
