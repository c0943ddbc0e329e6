#!/bin/sh
# test_install.sh — attend as an embedder meets it: `make install` into a temporary prefix, the
# examples built against the installed library with nothing but pkg-config's flags (shared and
# static), their greedy text equal to ./run's, only attend_ symbols exported, `make uninstall`.
. "$(dirname "$0")/lib.sh"

MODEL=${ATTEND_DEFAULT_MODEL:-models/stories-attend.gguf}
PREFIX="$TMP/prefix"
export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig"
if ! command -v pkg-config >/dev/null 2>&1; then
    fail test_install_pkg_config "pkg-config is missing: scripts/deps.sh test installs it"
    exit 1
fi

if ! make -s install PREFIX="$PREFIX" > "$TMP/install.log" 2>&1; then
    fail test_install_make_install "$(tail -n 1 "$TMP/install.log")"
    exit 1
fi
missing=
for f in lib/libattend.a lib/libattend.so.0.2.0 lib/libattend.so.0 lib/libattend.so include/attend.h \
         lib/pkgconfig/attend.pc bin/attend; do
    [ -e "$PREFIX/$f" ] || missing="$missing $f"
done
[ -z "$missing" ] && pass test_install_puts_every_file_in_place || fail test_install_puts_every_file_in_place "missing:$missing"

soname=$(readelf -d "$PREFIX/lib/libattend.so.0.2.0" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$soname" = libattend.so.0 ] && pass test_install_soname || fail test_install_soname "soname '$soname'"

# Only the public API is exported; everything else (the kernels, gguf_*, the C++ runtime's
# template code) is local, so nothing clashes with an embedder's own names (ggml's, say).
others=$( (nm -D --defined-only "$PREFIX/lib/libattend.so"; nm -g --defined-only "$PREFIX/lib/libattend.a") |
          awk 'NF >= 3 { print $3 }' | grep -v '^attend_' | sort -u | head -n 5 | tr '\n' ' ')
n_api=$(nm -D --defined-only "$PREFIX/lib/libattend.so" | grep -c ' T attend_')
if [ -z "$others" ] && [ "$n_api" -gt 20 ]; then
    pass test_install_exports_only_attend_symbols
else
    fail test_install_exports_only_attend_symbols "$n_api attend_ functions; also exported: $others"
fi

# The examples, compiled as a user would: the flags pkg-config gives, nothing else.
cflags=$(pkg-config --cflags attend) libs=$(pkg-config --libs attend)
for ex in simple chat; do
    if cc -std=c11 -Wall -Wextra -Werror -o "$TMP/$ex" "examples/$ex.c" $cflags $libs 2> "$TMP/cc.err"; then
        pass "test_install_example_${ex}_builds_with_pkg_config"
    else
        fail "test_install_example_${ex}_builds_with_pkg_config" "$(head -n 1 "$TMP/cc.err")"
    fi
done
# A program that only knows attend.h links without knowing about C++: the shared library carries
# its own dependencies.
needed=$(readelf -d "$TMP/simple" 2>/dev/null | grep NEEDED | tr -d '\n')
case "$needed" in
    *libattend.so.0*) case "$needed" in
        *stdc++*|*sentencepiece*) fail test_install_program_needs_no_cxx "$needed" ;;
        *) pass test_install_program_needs_no_cxx ;; esac ;;
    *) fail test_install_program_needs_no_cxx "not linked to libattend.so.0: $needed" ;;
esac

want=$(./run "$MODEL" -p "Once upon a time" -n 24 --temp 0 2>/dev/null)
got=$(LD_LIBRARY_PATH="$PREFIX/lib" "$TMP/simple" "$MODEL" "Once upon a time" 24 2>"$TMP/err")
if [ -n "$want" ] && [ "$got" = "$want" ]; then
    pass test_install_simple_generates_like_run
else
    fail test_install_simple_generates_like_run "simple: '$got' ($(head -n 1 "$TMP/err")) run: '$want'"
fi

# Static: libattend.a plus the private libraries of `pkg-config --static` (-l:libattend.a, as
# -lattend would pick the .so that sits beside it).
static_libs=$(pkg-config --static --libs attend | sed 's/-lattend\b/-l:libattend.a/')
if cc -std=c11 -Wall -Wextra -Werror -o "$TMP/simple_static" examples/simple.c $cflags $static_libs 2> "$TMP/cc.err"; then
    got=$("$TMP/simple_static" "$MODEL" "Once upon a time" 24 2>"$TMP/err")
    if readelf -d "$TMP/simple_static" | grep -q 'libattend\.so'; then
        fail test_install_static_link "the static build still needs libattend.so"
    elif [ "$got" = "$want" ]; then
        pass test_install_static_link
    else
        fail test_install_static_link "simple (static): '$got' ($(head -n 1 "$TMP/err"))"
    fi
else
    fail test_install_static_link "$(head -n 1 "$TMP/cc.err")"
fi

# chat: two turns on one context; both get a reply and the program ends at end of input.
out=$(printf 'Once upon a time\nThe dog\n' | LD_LIBRARY_PATH="$PREFIX/lib" "$TMP/chat" "$MODEL" 2>"$TMP/err")
turns=$(printf '%s\n' "$out" | grep -c '^> .')
if [ "$turns" -eq 2 ]; then
    pass test_install_chat_keeps_a_conversation
else
    fail test_install_chat_keeps_a_conversation "$turns replies: '$out' $(head -n 1 "$TMP/err")"
fi

got=$("$PREFIX/bin/attend" "$MODEL" -p "Once upon a time" -n 24 --temp 0 2>/dev/null)
[ "$got" = "$want" ] && pass test_install_bin_attend_runs || fail test_install_bin_attend_runs "'$got'"

make -s uninstall PREFIX="$PREFIX" > "$TMP/uninstall.log" 2>&1
left=$(find "$PREFIX" -type f -o -type l 2>/dev/null | head -n 3 | tr '\n' ' ')
[ -z "$left" ] && pass test_install_uninstall_removes_everything || fail test_install_uninstall_removes_everything "left: $left"
exit $FAILED
