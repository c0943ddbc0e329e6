#!/usr/bin/python3
"""bench_combine.py — several `make bench` runs side by side: the last run's figures, every run's
ratio to llama.cpp (and to llama2.c, when measured) and their geometric mean, as one markdown table.

    bench_combine.py RUN1.json RUN2.json ... [--out table.md]

Each argument is a report.json written by scripts/bench_report.py (copy build/bench/report.json
aside after each `make bench`; a run of two commands, small models and TinyLlama shapes, gives two
files: pass them both for that run, joined with a comma: a.json,b.json). On a shared machine one
run of either engine moves by up to 25 %, so the figure to quote for a row is the geometric mean of
its ratios over runs made in the same minutes. Rows missing from a run or without a llama.cpp figure
are left out of the mean. Standard library only.
"""
import argparse
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_report import fmt, row_cells  # noqa: E402


def load(spec):
    """{(model, test, depth): test} from one run: one or more report.json files, comma-separated."""
    out = {}
    for path in spec.split(","):
        with open(path) as f:
            for t in json.load(f)["tests"]:
                out[(t["name"], t["test"], t["depth"])] = t
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", help="report.json of each run (a,b for a run of two files)")
    ap.add_argument("--out", help="write the table here instead of standard output")
    a = ap.parse_args()
    runs = [load(r) for r in a.runs]
    last = runs[-1]
    names = " / ".join(chr(ord("A") + i) for i in range(len(runs)))
    peers = [("llama_cpp", "llama.cpp")]
    if any(t.get("ratio_to_llama2c") for r in runs for t in r.values()):
        peers.append(("llama2c", "llama2.c"))
    head = "| model | test | depth | tok/s | ± | TTFT ms | ITL p50 ms | ITL p99 ms | roofline |"
    rule = "|---|---|---:|---:|---:|---:|---:|---:|---:|"
    for _, label in peers:
        head += f" {label} tok/s | ratio {names} | geometric mean |"
        rule += "---:|---|---:|"
    lines = [head, rule]
    for key, t in last.items():
        row = row_cells(t)
        for peer, _ in peers:
            ratios = [r[key].get(f"ratio_to_{peer}") if key in r else None for r in runs]
            known = [x for x in ratios if x]
            mean = math.exp(sum(math.log(x) for x in known) / len(known)) if known else None
            shown = " / ".join(f"{x:.2f}" if x else "–" for x in ratios)
            row += f" {fmt(t.get(f'{peer}_tok_s_mean'))} | {shown} | {f'**{mean:.2f}x**' if mean else '–'} |"
        lines.append(row)
    text = "\n".join(lines) + "\n"
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    else:
        print(text, end="")


if __name__ == "__main__":
    main()
