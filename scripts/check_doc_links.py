#!/usr/bin/python3
"""check_doc_links.py — keep the docs' links into the code true.

    check_doc_links.py [--fix] [DOC.md ...]      (default: every docs/*.md and README.md)

A code link in the docs names a symbol and the line that holds it, as a Markdown link whose text is
the symbol in backticks and whose target is the file with a GitHub line anchor:

    [`attend_group`](../src/attention.c#L95)

The check: the file exists (relative to the doc) and line 95 contains `attend_group`. Any link
that fails is printed as DOC:LINE: why, and the exit status is 1.

--fix rewrites what it can instead (and prints each change): a link whose file moved is pointed at the one file of the same
name in the repository; a link whose line moved gets the line that contains the symbol — the only
such line, or, when several do, the one nearest the old line number. What it cannot fix (no file,
no line with the symbol) is still reported. Only the standard library is needed.
"""
import argparse
import os
import re
import sys

LINK = re.compile(r"\[`([^`]+)`\]\(([^)#\s]+)#L(\d+)\)")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def repo_files(name):
    """Files of the repository (not build outputs) named `name`."""
    found = []
    for d, subdirs, files in os.walk(ROOT):
        subdirs[:] = [s for s in subdirs if not s.startswith((".", "build"))]
        found += [os.path.join(d, name)] if name in files else []
    return found


def check(doc, fix):
    text = open(doc, encoding="utf-8").read()
    problems = []
    base = os.path.dirname(os.path.abspath(doc))

    def one(m):
        symbol, target, line = m.group(1), m.group(2), int(m.group(3))
        where = f"{doc}:{text.count(chr(10), 0, m.start()) + 1}"
        path = os.path.normpath(os.path.join(base, target))
        if not os.path.isfile(path):
            moved = repo_files(os.path.basename(target))
            if not fix or len(moved) != 1:
                problems.append(f"{where}: {target} does not exist" + (f" (candidates: {len(moved)})" if fix else ""))
                return m.group(0)
            path = moved[0]
            print(f"{where}: {target} -> {os.path.relpath(path, base)}")
            target = os.path.relpath(path, base)
        lines = open(path, encoding="utf-8", errors="replace").read().split("\n")
        if 1 <= line <= len(lines) and symbol in lines[line - 1]:
            return f"[`{symbol}`]({target}#L{line})"
        holding = [i + 1 for i, s in enumerate(lines) if symbol in s]
        if not fix or not holding:
            problems.append(f"{where}: {target} line {line} does not contain `{symbol}`" +
                            (f" (it is on line {', '.join(map(str, holding[:5]))})" if holding else ""))
            return m.group(0)
        best = min(holding, key=lambda i: abs(i - line))
        print(f"{where}: `{symbol}` {target} line {line} -> {best}")
        return f"[`{symbol}`]({target}#L{best})"

    new = LINK.sub(one, text)
    if fix and new != text:
        open(doc, "w", encoding="utf-8").write(new)
    return problems, len(LINK.findall(text))


def main(argv=None):
    ap = argparse.ArgumentParser(description="check (or --fix) the docs' links to code lines")
    ap.add_argument("docs", nargs="*")
    ap.add_argument("--fix", action="store_true", help="rewrite moved files and line numbers")
    a = ap.parse_args(argv)
    docs = a.docs or sorted(os.path.join(ROOT, "docs", d) for d in os.listdir(os.path.join(ROOT, "docs"))
                            if d.endswith(".md")) + [os.path.join(ROOT, "README.md")]
    problems, links = [], 0
    for doc in docs:
        if os.path.isfile(doc):
            p, n = check(doc, a.fix)
            problems += p
            links += n
    for p in problems:
        print(p)
    print(f"{links} code links, {len(problems)} broken")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
