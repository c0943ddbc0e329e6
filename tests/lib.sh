# lib.sh — helpers for shell tests; source it. Each check prints one result line.
#   pass NAME / fail NAME WHY / skip NAME WHY
#   SHARED: the ../shared directory, or empty when absent (then tests needing it call skip)
cd "$(dirname "$0")/.." || exit 1
PY=/usr/bin/python3
SHARED=${ATTEND_SHARED:-../shared}
[ -f "$SHARED/models/stories260K/stories260K.gguf" ] || SHARED=
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
FAILED=0
pass() { echo "ok $1"; }
fail() { echo "FAIL $1: $2"; FAILED=1; }
skip() { echo "skip $1: $2"; }
