#!/bin/sh
# deps.sh — install what attend needs that this machine lacks, saying what it does.
#   scripts/deps.sh build   the compiler and libsentencepiece (to build ./run)
#   scripts/deps.sh test    also numpy and sentencepiece for /usr/bin/python3 (the test references)
#                           and pkg-config (tests/test_install.sh builds the examples with it)
#   scripts/deps.sh fuzz    clang 14 and its libFuzzer/sanitizer runtimes (make fuzz)
#   scripts/deps.sh plot    matplotlib for /usr/bin/python3 (make bench's pictures only)
# As root on Debian/Ubuntu it runs apt-get; otherwise it prints the exact command and fails.
set -e
want=""
need() { want="$want $1"; }

command -v gcc >/dev/null 2>&1 || need gcc
command -v g++ >/dev/null 2>&1 || need g++
command -v make >/dev/null 2>&1 || need make
[ -f /usr/include/sentencepiece_processor.h ] || need libsentencepiece-dev
if [ "$1" = test ]; then
    command -v pkg-config >/dev/null 2>&1 || need pkg-config   # tests/test_install.sh
    /usr/bin/python3 -c 'import numpy' 2>/dev/null || need python3-numpy
    /usr/bin/python3 -c 'import sentencepiece' 2>/dev/null || need python3-sentencepiece
fi
if [ "$1" = fuzz ]; then
    command -v clang-14 >/dev/null 2>&1 || need clang-14
    ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 || need libclang-rt-14-dev
fi
if [ "$1" = plot ]; then
    /usr/bin/python3 -c 'import matplotlib' 2>/dev/null || need python3-matplotlib
fi
[ -z "$want" ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "deps: installing missing Debian packages:$want" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2 && apt-get install -y -q --no-install-recommends $want >&2
    echo "deps: installed$want" >&2
else
    echo "deps: missing packages:$want" >&2
    echo "deps: install them with:  sudo apt-get install -y$want" >&2
    exit 1
fi
