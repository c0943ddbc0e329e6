# attend — build, test and benchmark.  `make help` lists the targets.

CC       := gcc
CXX      := g++
ARCH     ?= -march=native
OPT      ?= -O3
# -fno-trapping-math: nothing here reads floating-point exception flags, and without it GCC will
# not vectorize a loop with a float comparison in it (exp's clamps, a maximum). It changes no result:
# unlike -ffast-math it reorders no arithmetic.
CFLAGS   += -std=c11 $(OPT) $(ARCH) -fno-trapping-math -g -Wall -Wextra -pthread -D_GNU_SOURCE -Isrc \
            -fvisibility=hidden
CXXFLAGS += -std=c++17 $(OPT) $(ARCH) -g -Wall -Wextra -Isrc -fvisibility=hidden -fvisibility-inlines-hidden
LDLIBS   := -lsentencepiece -lstdc++ -lm -lpthread
PYTHON   := /usr/bin/python3
PREFIX   ?= /usr/local
# The version is attend.h's (ATTEND_VERSION_*); the soname changes with the major version only.
VERSION  := $(shell awk '/^\#define ATTEND_VERSION_(MAJOR|MINOR|PATCH)/ { v = v s $$3; s = "." } END { print v }' src/attend.h)
SOVER    := $(firstword $(subst ., ,$(VERSION)))

BUILD    := build
# The library: src/*.c and its layers' folders (src/ops, src/kernels, src/formats, ...). The command
# line is src/run.c plus src/cli/*.c, which see only the public header.
LIB_C    := $(filter-out src/run.c src/cli/%,$(wildcard src/*.c src/*/*.c))
LIB_OBJ  := $(LIB_C:src/%.c=$(BUILD)/%.o) $(BUILD)/tokenizer_sp.o
PIC_OBJ  := $(LIB_OBJ:$(BUILD)/%=$(BUILD)/pic/%)
SO       := libattend.so.$(VERSION)
CLI_C    := src/run.c $(wildcard src/cli/*.c)
HEADERS  := $(wildcard src/*.h src/*/*.h)
TESTS_C  := $(wildcard tests/test_*.c)
TEST_BIN := $(TESTS_C:tests/%.c=$(BUILD)/%)

MODEL    ?= models/stories-attend.gguf
PROMPT   ?= Once upon a time

.PHONY: all bin lib run test bench clean help deps deps-test asan ubsan tsan asan-run fuzz deps-fuzz \
        install uninstall
all: bin lib

help:
	@echo "make            build ./run, build/libattend.a and build/$(SO) (installs missing packages)"
	@echo "make run        build, then tell a story with the default model ($(MODEL))"
	@echo "                make run PROMPT='...' MODEL=path.gguf to override"
	@echo "make test       build and run every test; ends with 'N passed, N failed'"
	@echo "make bench      ./run --bench over a model set -> build/bench/report.md, .json, PNGs (not a test)"
	@echo "                BENCH_MODELS=stories260K,s15M-F32 BENCH_REPS=2 make bench for a quick run;"
	@echo "                LLAMA_BENCH=path/to/llama-bench BENCH_ROUNDS=3 make bench compares in rounds;"
	@echo "                BENCH_KERNELS=avx2,scalar make bench compares kernel sets (--kernels)"
	@echo "make install    install the libraries, attend.h, attend.pc and ./run as attend into"
	@echo "                PREFIX (default /usr/local); make uninstall PREFIX=... removes them"
	@echo "make clean      remove build outputs"
	@echo "make asan       the whole suite built with AddressSanitizer+UBSan in build-asan/ (also: ubsan, tsan)"
	@echo "make fuzz       run the libFuzzer targets of tests/fuzz/, FUZZ_SECONDS each (default 60)"

# The sub-makes below compile with every core, unless the caller chose the number of jobs (make -jN);
# "=", not ":=": MAKEFLAGS shows a -j only once recipes run.
JOBS = $(if $(findstring -j,$(MAKEFLAGS)),,-j$(shell nproc 2>/dev/null || echo 1))

deps:
	@scripts/deps.sh build
deps-test:
	@scripts/deps.sh test

# ./run is a link to build/run, because `make run` is the command that runs it.
bin: deps
	@$(MAKE) --no-print-directory $(JOBS) $(BUILD)/run
	@ln -sf $(BUILD)/run run

run: bin
	@echo "make run: generating from $(MODEL) (override with MODEL=... PROMPT=...)" >&2
	./run $(MODEL) -p "$(PROMPT)"

lib: deps
	@$(MAKE) --no-print-directory $(JOBS) $(BUILD)/libattend.a $(BUILD)/$(SO)

# The command line is a user of the installed library's kind: it links the public archive.
$(BUILD)/run: $(CLI_C) $(HEADERS) $(BUILD)/libattend.a
	$(CC) $(CFLAGS) -o $@ $(CLI_C) $(BUILD)/libattend.a $(LDLIBS)

# ==== The libraries: only attend_ names leave them =================================================
# Everything is compiled with -fvisibility=hidden and the API marked ATTEND_API. For the shared
# library that is enough, plus a version script (src/attend.map) for the std:: template code the
# C++ shim instantiates with default visibility. A static archive ignores visibility, so its
# objects are first linked into one (ld -r, COMDAT groups resolved), then every global symbol but
# attend_* is made local (objcopy): internal names such as gguf_find_tensor or matmul can no longer
# clash with an embedder's. Tests reach the internals through libattend_internal.a, the plain objects.
$(BUILD)/libattend.a: $(LIB_OBJ)
	ld -r --force-group-allocation -o $(BUILD)/attend_all.o $^
	objcopy --wildcard --keep-global-symbol='attend_*' $(BUILD)/attend_all.o $(BUILD)/attend.o
	rm -f $@ && ar rcs $@ $(BUILD)/attend.o

$(BUILD)/libattend_internal.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/$(SO): $(PIC_OBJ) src/attend.map
	$(CC) -shared -o $@ $(PIC_OBJ) -Wl,-soname,libattend.so.$(SOVER) -Wl,--version-script=src/attend.map \
	    -Wl,--no-undefined $(LDLIBS)

$(BUILD)/%.o: src/%.c $(HEADERS) | $(BUILD)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/tokenizer_sp.o: src/tokenizer_sp.cpp $(HEADERS) | $(BUILD)
	$(CXX) $(CXXFLAGS) -c -o $@ $<

# The shared library's objects: position-independent, in their own directory.
$(BUILD)/pic/%.o: src/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -c -o $@ $<

$(BUILD)/pic/tokenizer_sp.o: src/tokenizer_sp.cpp $(HEADERS)
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -fPIC -c -o $@ $<

$(BUILD)/test_%: tests/test_%.c tests/test.h tests/ops_fixture.h $(BUILD)/libattend_internal.a
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libattend_internal.a $(LDLIBS)

# test_amx compiles kernels/amx.c into itself, with the tile emulator (-DATTEND_AMX_EMULATE in the file),
# and kernels/avx512.c, as test_avx512_emulated does, with its AVX-512 intrinsics emulated in C.
$(BUILD)/test_amx: src/kernels/amx.c src/kernels/avx512.c tests/avx512_emulate.h
$(BUILD)/test_avx512_emulated: src/kernels/avx512.c tests/avx512_emulate.h

$(BUILD):
	mkdir -p $(BUILD)

# The suite, plus the hostile-input corpus again against an ASan+UBSan build of ./run.
test: deps-test bin lib asan-run
	@$(MAKE) --no-print-directory $(JOBS) $(TEST_BIN)
	@ATTEND_RUN_ASAN=build-asan/run ATTEND_DEFAULT_MODEL=$(MODEL) tests/run_tests.sh $(TEST_BIN)

# Benchmarks are not tests: scripts/bench.sh measures and writes build/bench/report.md and .json.
bench: deps-test bin
	scripts/bench.sh

clean:
	rm -rf $(BUILD) run

# ==== Install ======================================================================================
# libattend.a, libattend.so.VERSION with its soname link (libattend.so.MAJOR) and the link that
# -lattend finds, attend.h, attend.pc for pkg-config, and ./run as `attend`. DESTDIR is honoured.
LIBDIR := $(DESTDIR)$(PREFIX)/lib
install: bin lib
	install -d $(LIBDIR)/pkgconfig $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/bin
	install -m 644 $(BUILD)/libattend.a $(LIBDIR)/libattend.a
	install -m 755 $(BUILD)/$(SO) $(LIBDIR)/$(SO)
	ln -sf $(SO) $(LIBDIR)/libattend.so.$(SOVER)
	ln -sf libattend.so.$(SOVER) $(LIBDIR)/libattend.so
	install -m 644 src/attend.h $(DESTDIR)$(PREFIX)/include/attend.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' src/attend.pc.in > $(LIBDIR)/pkgconfig/attend.pc
	install -m 755 $(BUILD)/run $(DESTDIR)$(PREFIX)/bin/attend

uninstall:
	rm -f $(LIBDIR)/libattend.a $(LIBDIR)/$(SO) $(LIBDIR)/libattend.so.$(SOVER) $(LIBDIR)/libattend.so \
	    $(LIBDIR)/pkgconfig/attend.pc $(DESTDIR)$(PREFIX)/include/attend.h $(DESTDIR)$(PREFIX)/bin/attend

# ==== Sanitizers and fuzzing (docs/robustness.md) ====================================================
# `make asan` (AddressSanitizer and UBSan), `make ubsan`, `make tsan` (ThreadSanitizer): the library,
# ./run and every test program built with the sanitizer into build-<name>/ (build/ is untouched),
# then the whole suite run against them; the shell tests take ./run from ATTEND_RUN. A sanitizer
# report stops the program with status 86, which no test takes for a clean exit or a refusal.
SAN_FLAGS_asan  := -fsanitize=address,undefined
SAN_FLAGS_ubsan := -fsanitize=undefined
SAN_FLAGS_tsan  := -fsanitize=thread
SAN_ENV := ASAN_OPTIONS=exitcode=86:detect_leaks=1 UBSAN_OPTIONS=exitcode=86:print_stacktrace=1 \
           TSAN_OPTIONS=exitcode=86:halt_on_error=1
SAN_TESTS = $(TESTS_C:tests/%.c=build-$(1)/%)

# The ASan+UBSan ./run alone, for `make test` to give the hostile files to (ATTEND_RUN_ASAN).
asan-run:
	@$(MAKE) --no-print-directory $(JOBS) BUILD=build-asan \
	    OPT="-O1 -fno-omit-frame-pointer -fno-sanitize-recover=all $(SAN_FLAGS_asan)" build-asan/run

asan ubsan tsan: deps-test
	@$(MAKE) --no-print-directory BUILD=build-$@ \
	    OPT="-O1 -fno-omit-frame-pointer -fno-sanitize-recover=all $(SAN_FLAGS_$@)" \
	    build-$@/run $(call SAN_TESTS,$@)
	@$(SAN_ENV) ATTEND_RUN=build-$@/run ATTEND_BUILD=build-$@ ATTEND_DEFAULT_MODEL=$(MODEL) \
	    tests/run_tests.sh $(call SAN_TESTS,$@)

# `make fuzz`: each libFuzzer target of tests/fuzz/ (clang, ASan, UBSan) for FUZZ_SECONDS, niced,
# one after the other, from seeds that make_hostile.py --seeds generates; the corpora grow in
# build-fuzz/corpus/. A finding is left in build-fuzz/findings/: minimise it (-minimize_crash=1),
# fix it, and keep it in tests/hostile/, where test_hostile.sh runs it.
FUZZ_SECONDS ?= 60
FUZZ_FLAGS   := -fno-omit-frame-pointer -fno-sanitize-recover=all -fsanitize=address,undefined
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))

deps-fuzz:
	@scripts/deps.sh fuzz

fuzz: deps-test deps-fuzz
	@$(MAKE) --no-print-directory BUILD=build-fuzz CC=clang-14 CXX=clang++-14 \
	    OPT="-O1 $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link" $(FUZZ_TARGETS:%=build-fuzz/%)
	@$(PYTHON) scripts/make_hostile.py --seeds build-fuzz/seeds 2>/dev/null
	@mkdir -p build-fuzz/findings; status=0; for t in $(FUZZ_TARGETS); do \
	    mkdir -p build-fuzz/corpus/$$t; echo "fuzz: $$t for $(FUZZ_SECONDS) s" >&2; \
	    nice -n 19 build-fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	        -print_final_stats=1 -artifact_prefix=build-fuzz/findings/$$t- \
	        build-fuzz/corpus/$$t build-fuzz/seeds/$${t#fuzz_} 2> build-fuzz/$$t.log || status=1; \
	    grep -E "^stat::number_of_executed_units|^stat::peak_rss" build-fuzz/$$t.log >&2; \
	done; ls build-fuzz/findings >&2; exit $$status

$(BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(BUILD)/libattend_internal.a
	$(CC) $(CFLAGS) -fsanitize=fuzzer -fsanitize-link-c++-runtime -o $@ $< $(BUILD)/libattend_internal.a $(LDLIBS)

# clang 14 does not know "f16c" in __builtin_cpu_supports, so kernels/select.c (the choice of
# kernel set; the kernels themselves are in the other kernels/*.c) is built with gcc, uninstrumented.
build-fuzz/kernels/select.o: src/kernels/select.c $(HEADERS)
	@mkdir -p build-fuzz/kernels
	gcc -std=c11 -O2 $(ARCH) -g -Wall -Wextra -D_GNU_SOURCE -Isrc -c -o $@ $<
