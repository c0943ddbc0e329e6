#!/bin/sh
# test_cli.sh — ./run's command line and run-time limits: every bad flag, value, path or prompt is
# one line on stderr and exit status 1 (never a crash or a hang); the documented limits hold
# (-n past the context stops there with status 0; a prompt longer than the context is an error);
# --help, --tokenize and seeded sampling behave. A random-weight model is made at test time.
# ATTEND_RUN picks the binary (default ./run).
. "$(dirname "$0")/lib.sh"

RUN=${ATTEND_RUN:-./run}
if [ ! -x "$RUN" ]; then
    fail test_cli "$RUN is missing: build it with 'make bin'"
    exit 1
fi
M=$TMP/m.gguf
V1=$TMP/m_v1.bin
TOK=$TMP/tok.bin
if ! PYTHONPATH=scripts $PY - "$TMP" > "$TMP/make.out" 2>&1 <<'EOF'
import sys, make_models, convert, export_llama2c
d = sys.argv[1]
make_models.main(["--dim", "32", "--hidden", "64", "--layers", "2", "--heads", "4", "--kv-heads", "2",
                  "--vocab", "300", "--ctx", "64", "--seed", "9", "--out", f"{d}/m.gguf"])
m = convert.load_model(f"{d}/m.gguf")
export_llama2c.write(m, f"{d}/m_v1.bin", 1)
export_llama2c.write_tokenizer(m.vocab, f"{d}/tok.bin")
EOF
then
    fail test_cli_model_is_generated "$(tail -n 1 "$TMP/make.out")"
    exit 1
fi

# run ARGS...: ./run with a 10 s limit; sets rc, and $TMP/out, $TMP/err.
run() {
    timeout 10 "$RUN" "$@" > "$TMP/out" 2> "$TMP/err"
    rc=$?
}

# refuses NAME EXPECT ARGS...: exit 1, one stderr line "error: ..." matching EXPECT (an ERE).
refuses() {
    name=$1 expect=$2
    shift 2
    run "$@"
    if [ $rc -eq 124 ]; then fail "$name" "hung: killed after 10 s"
    elif [ $rc -ne 1 ]; then fail "$name" "exit status $rc, expected 1: $(head -c 200 "$TMP/err" | tr '\n' '|')"
    elif [ "$(wc -l < "$TMP/err")" -ne 1 ]; then fail "$name" "stderr is not one line: $(head -c 300 "$TMP/err" | tr '\n' '|')"
    elif ! grep -Eq -- "^error: .*($expect)" "$TMP/err"; then fail "$name" "error does not match /$expect/: $(cat "$TMP/err")"
    else pass "$name"
    fi
}

# succeeds NAME ARGS...: exit 0.
succeeds() {
    name=$1
    shift
    run "$@"
    if [ $rc -eq 0 ]; then pass "$name"; else fail "$name" "exit status $rc: $(tail -n 1 "$TMP/err")"; fi
}

G="-t 1 --temp 0"   # what most runs share: one thread (the machine is shared), greedy

# ---- flags and values -----------------------------------------------------------------------
run --help
if [ $rc -eq 0 ] && grep -q "^usage: ./run MODEL" "$TMP/out" && [ ! -s "$TMP/err" ]; then pass test_cli_help_exits_0_with_usage_on_stdout
else fail test_cli_help_exits_0_with_usage_on_stdout "status $rc: $(head -n 1 "$TMP/out")"; fi
run
if [ $rc -eq 1 ] && grep -q "^error: no model file given" "$TMP/err"; then pass test_cli_no_model_is_an_error
else fail test_cli_no_model_is_an_error "status $rc: $(tail -n 1 "$TMP/err")"; fi
refuses test_cli_unknown_flag "unknown option '--frobnicate'" "$M" --frobnicate
refuses test_cli_missing_flag_value "-n needs a value" "$M" -n
refuses test_cli_missing_prompt_value "-p needs a value" "$M" -p
refuses test_cli_threads_0 "-t must be between 1 and 1024, got 0" "$M" -t 0
refuses test_cli_threads_10000 "-t must be between 1 and 1024, got 10000" "$M" -t 10000
refuses test_cli_threads_not_a_number "-t expects an integer, got 'two'" "$M" -t two
refuses test_cli_n_negative "-n must be between 0 and" "$M" -n -5
refuses test_cli_n_overflows "-n must be between|-n expects an integer" "$M" -n 99999999999999999999
refuses test_cli_n_trailing_garbage "-n expects an integer, got '12x'" "$M" -n 12x
refuses test_cli_n_empty "-n expects an integer, got ''" "$M" -n ""
refuses test_cli_ctx_0 "-c must be between 1 and" "$M" -c 0
refuses test_cli_ctx_beyond_model "context size 65 exceeds the model's 64 positions" "$M" -c 65
refuses test_cli_temp_negative "--temp must be between 0 and 100" "$M" --temp -1
refuses test_cli_temp_nan "--temp expects a number, got 'nan'" "$M" --temp nan
refuses test_cli_temp_inf "--temp expects a number, got 'inf'" "$M" --temp inf
refuses test_cli_top_p_above_1 "--top-p must be between 0 and 1" "$M" --top-p 1.5
refuses test_cli_top_k_negative "--top-k must be between 0 and" "$M" --top-k -1
refuses test_cli_repeat_penalty_0 "--repeat-penalty must be between" "$M" --repeat-penalty 0
refuses test_cli_seed_negative "-s must be between 0 and" "$M" -s -1
refuses test_cli_second_model_argument "unexpected argument 'extra'" "$M" extra
refuses test_cli_kernels_unknown "kernel set 'sse9' is unknown \\(this CPU runs: auto, scalar" "$M" $G --kernels sse9
refuses test_cli_kernels_missing_value "--kernels needs a value" "$M" --kernels
export ATTEND_SIMD=bogus   # the CLI maps the variable onto --kernels
refuses test_cli_kernels_env_unknown "kernel set 'bogus' is unknown" "$M" $G -p hi
unset ATTEND_SIMD
refuses test_cli_kv_type_unknown "--kv-type expects f32, f16 or q8_0, got 'q8'" "$M" --kv-type q8
refuses test_cli_kv_type_missing_value "--kv-type needs a value" "$M" --kv-type
refuses test_cli_window_0 "--window must be between 1 and" "$M" --window 0
refuses test_cli_window_not_a_number "--window expects an integer, got 'wide'" "$M" --window wide
refuses test_cli_sinks_negative "--sinks must be between 0 and" "$M" --window 8 --sinks -1
refuses test_cli_sinks_without_window "window 0 with 4 sinks does not fit" "$M" $G -p hi --sinks 4
refuses test_cli_window_beyond_context "window 40 with 30 sinks does not fit: .*<= the 64-token context" \
    "$M" $G -p hi --window 40 --sinks 30
refuses test_cli_window_beyond_c "window 20 with 0 sinks does not fit" "$M" $G -p hi -c 16 --window 20
refuses test_cli_batch_size_0 "-b must be between 1 and" "$M" -b 0
refuses test_cli_batch_size_not_a_number "--batch-size expects an integer, got 'all'" "$M" --batch-size all
refuses test_cli_prompt_cache_missing_value "--prompt-cache needs a value" "$M" --prompt-cache
refuses test_cli_prompt_cache_with_perplexity "--prompt-cache and --context-shift apply to generation" "$M" \
    --prompt-cache "$TMP/pc.kv" --perplexity "$M"
refuses test_cli_context_shift_with_dump_logits "apply to generation" "$M" --context-shift --dump-logits "$TMP/l.f32"
refuses test_cli_window_with_prompt_cache "a sliding window .* keeps a ring" "$M" $G -p hi --window 16 --prompt-cache "$TMP/w.kv"
refuses test_cli_window_with_context_shift "a sliding window .* keeps a ring" "$M" $G -p hi --window 16 --context-shift
refuses test_cli_keep_without_context_shift "--keep .* needs --context-shift" "$M" --keep 4
refuses test_cli_keep_below_minus_1 "--keep must be between -1 and" "$M" --context-shift --keep -2
refuses test_cli_prompt_cache_is_a_directory "--prompt-cache: '.*' is not a regular file" "$M" $G -p hi --prompt-cache "$TMP"
# a set this CPU cannot run is refused by name (only testable where one is missing: here amx, avx512 or avx2)
for k in avx2 avx512 amx; do
    if ! ATTEND_SIMD= "$RUN" "$M" $G -n 1 -p hi --kernels $k > /dev/null 2> "$TMP/err_k"; then
        refuses test_cli_kernels_unsupported_$k "kernel set '$k' is not supported by this CPU" "$M" $G --kernels $k
    fi
done
run "$M" $G -n 1 -p hi -v --kernels scalar --kv-type f16 --exact
if [ $rc -eq 0 ] && grep -q "scalar kernels" "$TMP/err"; then pass test_cli_verbose_names_the_kernel_set
else fail test_cli_verbose_names_the_kernel_set "status $rc: $(grep run: "$TMP/err")"; fi
# a Q8_0 KV cache for heads that are not whole blocks of 32 (m.gguf's): rows padded, text generated
run "$M" $G -n 4 -p hi --kv-type q8_0
if [ $rc -eq 0 ] && [ -s "$TMP/out" ]; then pass test_cli_kv_type_q8_0_takes_any_head_size
else fail test_cli_kv_type_q8_0_takes_any_head_size "status $rc: $(tail -n 1 "$TMP/err")"; fi

# ---- paths ------------------------------------------------------------------------------------
: > "$TMP/empty"
mkfifo "$TMP/fifo"
refuses test_cli_missing_model "cannot open model '.*nope.gguf': No such file" "$TMP/nope.gguf"
refuses test_cli_empty_model "too small to be a model \\(0 bytes\\)" "$TMP/empty"
refuses test_cli_directory_model "is not a regular file" "$TMP"
refuses test_cli_fifo_model_does_not_hang "is not a regular file" "$TMP/fifo"
refuses test_cli_fifo_tokenizer_does_not_hang "not a regular file" "$V1" -z "$TMP/fifo"
refuses test_cli_missing_tokenizer "cannot open: No such file" "$V1" -z "$TMP/nope.bin"
head -c 100 /dev/urandom > "$TMP/garbage.bin"
refuses test_cli_garbage_tokenizer_bin "tokenizer: .*garbage.bin" "$V1" -z "$TMP/garbage.bin"
cp "$TMP/garbage.bin" "$TMP/garbage.model"
refuses test_cli_garbage_tokenizer_model "tokenizer: .*garbage.model" "$M" -z "$TMP/garbage.model"
refuses test_cli_llama2c_without_tokenizer "carries no vocabulary" "$V1" $G
refuses test_cli_dump_logits_unwritable "cannot write logits to '/nonexistent/dir/l.f32'" "$M" $G -p hi --dump-logits /nonexistent/dir/l.f32
[ -w /dev/full ] && refuses test_cli_dump_logits_write_error "cannot write logits to '/dev/full': No space left" \
    "$M" $G -p hi --dump-logits /dev/full
refuses test_cli_perplexity_missing_file "cannot open '.*nope.txt'" "$M" $G --perplexity "$TMP/nope.txt"
refuses test_cli_perplexity_empty_file "has 0 tokens: perplexity needs at least one chunk" "$M" $G --perplexity "$TMP/empty"
refuses test_cli_perplexity_directory "is not a regular file" "$M" $G --perplexity "$TMP"
refuses test_cli_perplexity_ctx_too_small "perplexity needs a context of at least 4 tokens, got -c 2" "$M" $G -c 2 --perplexity "$TMP/garbage.bin"

# ---- the context: the prompt must fit; generation stops at a full context ---------------------
P="Once upon a time"
run "$M" -p "$P" --tokenize
np=$(wc -w < "$TMP/out")      # the prompt's tokens, BOS included
refuses test_cli_prompt_longer_than_context "the prompt is $np tokens but the context holds $((np - 1))" \
    "$M" $G -c $((np - 1)) -p "$P"
succeeds test_cli_prompt_exactly_the_context "$M" $G -c "$np" -n 3 -p "$P"
succeeds test_cli_n_beyond_context_stops_at_full_context "$M" $G -c $((np + 8)) -n 1000 -p "$P"
# -n counts generated tokens; the last one fills the context and is printed but not run
n=$(sed -n 's/.*generated: \([0-9]*\) tokens.*/\1/p' "$TMP/err")
if grep -q "stopped at a full context" "$TMP/err" && [ "$n" = 9 ]; then
    pass test_cli_n_beyond_context_generates_up_to_the_context
else
    fail test_cli_n_beyond_context_generates_up_to_the_context "expected 9 tokens after a $np-token prompt in -c $((np + 8)): $(tail -n 1 "$TMP/err")"
fi
succeeds test_cli_n_0_generates_nothing "$M" $G -n 0 -p "Once"
succeeds test_cli_empty_prompt_starts_from_bos "$M" $G -n 4 -p ""

# ---- text in and out ------------------------------------------------------------------------------
bad=$(printf 'caf\303 \377\376 ok')
succeeds test_cli_invalid_utf8_prompt_is_accepted "$M" $G -n 2 -p "$bad"
run "$M" -p "$bad" --tokenize
# SentencePiece turns each invalid byte into U+FFFD, which byte fallback spells as <0xEF><0xBF><0xBD>
if [ $rc -eq 0 ] && grep -Eq '^1( [0-9]+)+$' "$TMP/out" && grep -q ' 242 194 192' "$TMP/out"; then
    pass test_cli_invalid_utf8_prompt_tokenizes_to_replacement_chars
else
    fail test_cli_invalid_utf8_prompt_tokenizes_to_replacement_chars "status $rc: $(cat "$TMP/out" "$TMP/err" | head -c 200)"
fi
run "$M" -p "Once upon a time" --tokenize
if [ $rc -eq 0 ] && grep -Eq '^1( [0-9]+){3,}$' "$TMP/out" && [ ! -s "$TMP/err" ]; then pass test_cli_tokenize_prints_ids_bos_first
else fail test_cli_tokenize_prints_ids_bos_first "status $rc: $(cat "$TMP/out" "$TMP/err" | head -c 200)"; fi

# -f reads the prompt from a file: the same ids as -p with its text; -p with -f, a FIFO or a
# missing file are one-line errors.
cp "$TMP/out" "$TMP/ids_p"
printf 'Once upon a time' > "$TMP/prompt.txt"
run "$M" -f "$TMP/prompt.txt" --tokenize
if [ $rc -eq 0 ] && cmp -s "$TMP/out" "$TMP/ids_p"; then pass test_cli_prompt_file_tokenizes_like_prompt
else fail test_cli_prompt_file_tokenizes_like_prompt "status $rc: $(cat "$TMP/out" "$TMP/err" | head -c 200)"; fi
refuses test_cli_prompt_and_prompt_file "not both" "$M" -p hi -f "$TMP/prompt.txt"
refuses test_cli_prompt_file_missing "cannot open" "$M" -f "$TMP/no-such-prompt.txt"
mkfifo "$TMP/prompt.fifo"
refuses test_cli_prompt_file_fifo_does_not_hang "not a regular file" "$M" -f "$TMP/prompt.fifo"

# ---- attention maps: bad LAYER:HEAD, unwritable outputs, prompts too long to draw -------------------
refuses test_cli_attn_map_text_not_layer_head "--attn-map-text expects LAYER:HEAD .*got 'x'" "$M" -p hi --attn-map-text x
refuses test_cli_attn_map_text_missing_head "--attn-map-text expects LAYER:HEAD .*got '1'" "$M" -p hi --attn-map-text 1
refuses test_cli_attn_map_text_trailing_garbage "--attn-map-text expects LAYER:HEAD .*got '1:2x'" "$M" -p hi --attn-map-text 1:2x
refuses test_cli_attn_map_text_layer_out_of_range "--attn-map-text 2:0: the model has layers 0..1 and query heads 0..3" \
    "$M" -p hi --attn-map-text 2:0
refuses test_cli_attn_map_text_negative_head "the model has layers 0..1 and query heads 0..3" "$M" -p hi --attn-map-text 0:-1
refuses test_cli_attn_map_needs_a_value "--attn-map needs a value" "$M" -p hi --attn-map
refuses test_cli_attn_map_unwritable "cannot write '/nonexistent/dir/map.png': No such file" "$M" $G -p hi \
    --attn-map /nonexistent/dir/map
[ -w /dev/full ] && refuses test_cli_attn_dump_write_error "cannot write '/dev/full': No space left" \
    "$M" $G -p hi --attn-dump /dev/full
long=$(yes "the cat sat on the mat and" | head -n 40 | tr '\n' ' ')
refuses test_cli_attn_map_prompt_too_long "the prompt is [0-9]+ tokens; attention maps are drawn for at most 128" \
    models/stories-attend.gguf $G -p "$long" --attn-map "$TMP/map"
# --attn-dump has no token limit but a memory one: 2 layers x 4 heads x ~6900^2 floats is ~1.4 GiB.
if PYTHONPATH=scripts $PY scripts/make_models.py --dim 32 --hidden 64 --layers 2 --heads 4 --kv-heads 2 \
       --vocab 300 --ctx 8192 --seed 9 --out "$TMP/long_ctx.gguf" > /dev/null 2>&1; then
    yes "the cat sat on the mat" | head -n 300 | tr '\n' ' ' > "$TMP/long_prompt.txt"
    refuses test_cli_attn_dump_too_many_weights "the attention weights of [0-9]+ tokens would take [0-9]+ MiB \\(at most 1024\\)" \
        "$TMP/long_ctx.gguf" $G -f "$TMP/long_prompt.txt" --attn-dump "$TMP/long.attn"
else
    fail test_cli_attn_dump_too_many_weights "make_models.py failed"
fi
run "$M" $G -p "hi there" --attn-map "$TMP/map" --attn-map-text 1:3 --attn-dump "$TMP/map.attn"
if [ $rc -eq 0 ] && [ -s "$TMP/map.png" ] && [ -s "$TMP/map.html" ] && [ -s "$TMP/map.attn" ] &&
   grep -q "^layer 1, query head 3 (kv head 1)" "$TMP/out"; then
    pass test_cli_attn_map_writes_png_html_dump_and_text
else
    fail test_cli_attn_map_writes_png_html_dump_and_text "status $rc: $(head -n 1 "$TMP/out") $(tail -n 1 "$TMP/err")"
fi

# ---- llama.cpp's small conveniences: -m, -e, --no-display-prompt, one mode per run -----------------
run -m "$M" $G -n 4 -p "Once"; cp "$TMP/out" "$TMP/dash_m"
run "$M" $G -n 4 -p "Once"
if [ $rc -eq 0 ] && cmp -s "$TMP/out" "$TMP/dash_m"; then pass test_cli_dash_m_names_the_model
else fail test_cli_dash_m_names_the_model "status $rc: $(tail -n 1 "$TMP/err")"; fi
refuses test_cli_dash_m_twice "unexpected model '.*': the model is already" "$M" -m "$M"
refuses test_cli_dash_m_then_positional "unexpected argument" -m "$M" "$M"
run "$M" --tokenize -e -p 'a\nb\t\\c\"d\'"'"'e\q'; cp "$TMP/out" "$TMP/esc"
run "$M" --tokenize -p "$(printf 'a\nb\t\\c"d'"'"'e\\q')"
if cmp -s "$TMP/out" "$TMP/esc"; then pass test_cli_escape_turns_backslash_sequences_into_characters
else fail test_cli_escape_turns_backslash_sequences_into_characters "-e: $(cat "$TMP/esc"), literal: $(cat "$TMP/out")"; fi
run "$M" $G -n 6 -p "Once upon"; full=$(cat "$TMP/out")
run "$M" $G -n 6 -p "Once upon" --no-display-prompt; rest=$(cat "$TMP/out")
if [ $rc -eq 0 ] && [ -n "$rest" ] && [ "Once upon$rest" = "$full" ]; then pass test_cli_no_display_prompt_prints_only_the_continuation
else fail test_cli_no_display_prompt_prints_only_the_continuation "full '$full', without the prompt '$rest'"; fi
# --stop ends plain generation too, the stop string not printed
word=$($PY -c 'import sys; print(sys.argv[1][11:13])' "$full")   # two characters of the continuation
run "$M" $G -n 6 -p "Once upon" --stop "$word"
want=$($PY -c 'import sys; print(sys.argv[1][:sys.argv[1].index(sys.argv[2], 9)])' "$full" "$word")
if [ $rc -eq 0 ] && [ "$(cat "$TMP/out")" = "$want" ] && grep -q "stopped at a stop string" "$TMP/err"; then
    pass test_cli_stop_string_ends_generation
else
    fail test_cli_stop_string_ends_generation "--stop '$word': '$(cat "$TMP/out")', expected '$want'"
fi
refuses test_cli_tokenize_with_perplexity "--tokenize and --perplexity are different modes" "$M" --tokenize --perplexity "$TMP/empty"
refuses test_cli_dump_logits_with_attn_map "--dump-logits and the attention maps are different modes" "$M" -p hi \
    --dump-logits "$TMP/l" --attn-map "$TMP/map"
refuses test_cli_bench_with_chat "--chat and --bench are different modes" "$M" --bench --chat
# The default seed differs between runs started in the same second (-v prints it).
run "$M" $G -n 1 -p hi -v; s1=$(grep "^seed: " "$TMP/err")
run "$M" $G -n 1 -p hi -v; s2=$(grep "^seed: " "$TMP/err")
if [ -n "$s1" ] && [ -n "$s2" ] && [ "$s1" != "$s2" ]; then pass test_cli_default_seed_differs_between_runs
else fail test_cli_default_seed_differs_between_runs "'$s1' then '$s2'"; fi
# A prompt file far larger than the context (over 64 bytes per token) is refused before tokenizing.
yes "the cat sat on the mat" | head -c 2000 > "$TMP/big_prompt.txt"
refuses test_cli_prompt_file_far_larger_than_the_context "the prompt file '.*big_prompt.txt' is 2000 bytes, far more than a context of 16 tokens" \
    "$M" $G -c 16 -f "$TMP/big_prompt.txt"
# Perplexity progress: carriage returns only on a terminal; in a log, one line per ~10 %.
yes "the cat sat on the mat and the dog ran in the park" | head -n 60 > "$TMP/corpus.txt"
run "$M" $G -c 8 --perplexity "$TMP/corpus.txt"
lines=$(grep -c "^perplexity: chunk" "$TMP/err")
if [ $rc -eq 0 ] && ! grep -q "$(printf '\r')" "$TMP/err" && [ "$lines" -ge 5 ] && [ "$lines" -le 11 ]; then
    pass test_cli_perplexity_progress_in_a_log_is_lines
else
    fail test_cli_perplexity_progress_in_a_log_is_lines "status $rc, $lines progress lines: $(head -c 200 "$TMP/err" | tr '\r\n' '|/')"
fi

# ---- sampling ---------------------------------------------------------------------------------------
run "$M" -t 1 --temp 0.8 -s 42 -n 24 -p "Once"; cp "$TMP/out" "$TMP/s42a"
run "$M" -t 1 --temp 0.8 -s 42 -n 24 -p "Once"; cp "$TMP/out" "$TMP/s42b"
run "$M" -t 1 --temp 0.8 -s 43 -n 24 -p "Once"; cp "$TMP/out" "$TMP/s43"
if cmp -s "$TMP/s42a" "$TMP/s42b" && [ -s "$TMP/s42a" ] && ! cmp -s "$TMP/s42a" "$TMP/s43"; then
    pass test_cli_same_seed_same_text_at_temp_0_8
else
    fail test_cli_same_seed_same_text_at_temp_0_8 "seed 42 twice: $(head -c 60 "$TMP/s42a") / $(head -c 60 "$TMP/s42b"); seed 43: $(head -c 60 "$TMP/s43")"
fi
# Every sampler setting at its bound must pick a token of the vocabulary (min-p 1 keeps only the
# most likely token, which must survive its own threshold).
ok=1
for flags in "--min-p 1 --top-k 0 --top-p 1" "--top-p 0 --min-p 0" "--top-k 1" "--temp 100" "--repeat-penalty 100 --repeat-last-n 1000"; do
    for s in 1 2 3; do
        run "$M" -t 1 --temp 0.9 $flags -s $s -n 40 -p "Once"
        [ $rc -eq 0 ] || { ok=0; why="$flags -s $s: status $rc: $(tail -n 1 "$TMP/err")"; }
    done
done
if [ $ok = 1 ]; then pass test_cli_sampler_bounds_pick_tokens_in_the_vocabulary
else fail test_cli_sampler_bounds_pick_tokens_in_the_vocabulary "$why"; fi
exit $FAILED
