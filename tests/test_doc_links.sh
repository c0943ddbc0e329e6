#!/bin/sh
# test_doc_links.sh — every code link in the docs ([`symbol`](../src/file.c#L42)) points at a line
# that contains its symbol (scripts/check_doc_links.py); and the checker itself catches a stale
# line and --fix repairs it.
. "$(dirname "$0")/lib.sh"

if out=$($PY scripts/check_doc_links.py 2>&1); then
    pass test_doc_links_point_at_their_symbols
else
    fail test_doc_links_point_at_their_symbols "$(echo "$out" | head -n 3 | tr '\n' '|')"
fi

mkdir -p "$TMP/docs" "$TMP/src"
printf 'int a;\nstatic void kernel(void)\n{\n}\n' > "$TMP/src/k.c"
printf 'See [`kernel`](../src/k.c#L2) and [`kernel`](../src/k.c#L4).\n' > "$TMP/docs/d.md"
if why=$(PYTHONPATH=scripts $PY - "$TMP/docs/d.md" <<'PYEOF' 2>&1
import sys, check_doc_links as c
doc = sys.argv[1]
problems, links = c.check(doc, fix=False)
assert links == 2 and len(problems) == 1 and "line 4 does not contain `kernel` (it is on line 2)" in problems[0], problems
problems, _ = c.check(doc, fix=True)
assert problems == [], problems
assert open(doc).read() == "See [`kernel`](../src/k.c#L2) and [`kernel`](../src/k.c#L2).\n", open(doc).read()
open(doc, "w").write("[`kernel`](../src/gone.c#L2)\n")
problems, _ = c.check(doc, fix=False)
assert len(problems) == 1 and "gone.c does not exist" in problems[0], problems
PYEOF
); then pass test_doc_links_checker_finds_and_fixes_stale_lines
else fail test_doc_links_checker_finds_and_fixes_stale_lines "$(echo "$why" | tail -n 1)"; fi
exit $FAILED
