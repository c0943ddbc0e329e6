# attend — build, test and benchmark.  `make help` lists the targets.

CC       := gcc
CXX      := g++
ARCH     ?= -march=native
OPT      ?= -O3
CFLAGS   += -std=c11 $(OPT) $(ARCH) -g -Wall -Wextra -pthread -D_GNU_SOURCE
CXXFLAGS += -std=c++17 $(OPT) $(ARCH) -g -Wall -Wextra
LDLIBS   := -lsentencepiece -lstdc++ -lm -lpthread
PYTHON   := /usr/bin/python3

BUILD    := build
LIB_C    := $(filter-out src/run.c,$(wildcard src/*.c))
LIB_OBJ  := $(LIB_C:src/%.c=$(BUILD)/%.o) $(BUILD)/tokenizer_sp.o
TESTS_C  := $(wildcard tests/test_*.c)
TEST_BIN := $(TESTS_C:tests/%.c=$(BUILD)/%)

MODEL    ?= models/stories-attend.gguf
PROMPT   ?= Once upon a time

.PHONY: all bin run test bench clean help deps deps-test
all: bin

help:
	@echo "make            build ./run and build/libattend.a (installs missing packages)"
	@echo "make run        build, then tell a story with the default model ($(MODEL))"
	@echo "                make run PROMPT='...' MODEL=path.gguf to override"
	@echo "make test       build and run every test; ends with 'N passed, N failed'"
	@echo "make bench      measure decode/prefill speed, write docs/bench.md (not a test)"
	@echo "make clean      remove build outputs"

deps:
	@scripts/deps.sh build
deps-test:
	@scripts/deps.sh test

# ./run is a link to build/run, because `make run` is the command that runs it.
bin: deps
	@$(MAKE) --no-print-directory $(BUILD)/run
	@ln -sf $(BUILD)/run run

run: bin
	@echo "make run: generating from $(MODEL) (override with MODEL=... PROMPT=...)" >&2
	./run $(MODEL) -p "$(PROMPT)"

$(BUILD)/run: src/run.c src/attend.h $(BUILD)/libattend.a
	$(CC) $(CFLAGS) -o $@ src/run.c $(BUILD)/libattend.a $(LDLIBS)

$(BUILD)/libattend.a: $(LIB_OBJ)
	ar rcs $@ $^

$(BUILD)/%.o: src/%.c src/*.h | $(BUILD)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/tokenizer_sp.o: src/tokenizer_sp.cpp src/tokenizer.h | $(BUILD)
	$(CXX) $(CXXFLAGS) -c -o $@ $<

$(BUILD)/test_%: tests/test_%.c tests/test.h $(BUILD)/libattend.a
	$(CC) $(CFLAGS) -Isrc -o $@ $< $(BUILD)/libattend.a $(LDLIBS)

$(BUILD):
	mkdir -p $(BUILD)

test: deps-test bin
	@$(MAKE) --no-print-directory $(TEST_BIN)
	@ATTEND_DEFAULT_MODEL=$(MODEL) tests/run_tests.sh $(TEST_BIN)

# Benchmarks are not tests: they measure and write docs/bench.md.
bench: deps-test bin
	scripts/bench.sh

clean:
	rm -rf $(BUILD) run
