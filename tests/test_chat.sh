#!/bin/sh
# test_chat.sh — ./run --chat and --special on small random-weight models (the mechanics, not the
# quality of the answers): a one-shot answer; a two-turn conversation on stdin that reuses the KV
# cache and answers exactly as a fresh run over the whole formatted conversation; --stop; the
# template's errors; and special tokens written in a prompt (--special --tokenize), with the
# Llama 32000 vocabulary when ../shared has it. ATTEND_RUN picks the binary (default ./run).
. "$(dirname "$0")/lib.sh"

RUN=${ATTEND_RUN:-./run}
if [ ! -x "$RUN" ]; then
    fail test_chat "$RUN is missing: build it with 'make bin'"
    exit 1
fi
# A ChatML model: <|im_start|> and <|im_end|> are user-defined pieces, and the vocabulary has no
# byte pieces, so every answer is whole UTF-8 text and prints exactly as a fresh run prints it.
M=$TMP/chatml.gguf
CHATML='{% for message in messages %}{{ "<|im_start|>" + message["role"] + "\n" + message["content"] + "<|im_end|>\n" }}{% endfor %}'
SHAPE="--dim 32 --hidden 64 --layers 2 --heads 4 --kv-heads 2 --vocab 400 --ctx 256 --seed 3 --no-byte-pieces"
if ! $PY scripts/make_models.py $SHAPE --special-tokens '<|im_start|>,<|im_end|>' --chat-template "$CHATML" \
        --out "$M" > "$TMP/make.out" 2>&1 ||
   ! $PY scripts/make_models.py $SHAPE --special-tokens '<|im_start|>,<|im_end|>' --out "$TMP/plain.gguf" \
        >> "$TMP/make.out" 2>&1; then
    fail test_chat_models_are_generated "$(tail -n 1 "$TMP/make.out")"
    exit 1
fi

run() {
    timeout 20 "$RUN" "$@" > "$TMP/out" 2> "$TMP/err"
    rc=$?
}
refuses() {
    name=$1 expect=$2
    shift 2
    run "$@" < /dev/null
    if [ $rc -ne 1 ]; then fail "$name" "exit status $rc, expected 1: $(head -c 200 "$TMP/err" | tr '\n' '|')"
    elif [ "$(wc -l < "$TMP/err")" -ne 1 ]; then fail "$name" "stderr is not one line: $(head -c 300 "$TMP/err" | tr '\n' '|')"
    elif ! grep -Eq -- "^error: .*($expect)" "$TMP/err"; then fail "$name" "error does not match /$expect/: $(cat "$TMP/err")"
    else pass "$name"
    fi
}
G="-t 1 --temp 0 -n 24"

# ---- one answer ---------------------------------------------------------------------------------
run "$M" --chat $G -p "hello there" < /dev/null
cp "$TMP/out" "$TMP/one"
if [ $rc -eq 0 ] && [ -s "$TMP/one" ] && grep -q "^chat turn 1: [0-9]* prompt tokens, 0 reused" "$TMP/err"; then
    pass test_chat_prompt_gives_one_answer
else
    fail test_chat_prompt_gives_one_answer "status $rc: $(head -c 200 "$TMP/err")"
fi
run -m "$M" -cnv $G -p "hello there" < /dev/null
if [ $rc -eq 0 ] && cmp -s "$TMP/out" "$TMP/one"; then pass test_chat_cnv_and_dash_m_are_aliases
else fail test_chat_cnv_and_dash_m_are_aliases "status $rc: $(head -c 200 "$TMP/out")"; fi

# ---- two turns on stdin: the cache is reused and the answer is what a fresh run gives ------------
printf 'hello there\nhow are you\n' > "$TMP/turns"
run "$M" --chat $G < "$TMP/turns"
cp "$TMP/out" "$TMP/two"
reused=$(sed -n 's/^chat turn 2: [0-9]* prompt tokens, \([0-9]*\) reused from the cache.*/\1/p' "$TMP/err")
if [ $rc -eq 0 ] && [ -n "$reused" ] && [ "$reused" -gt 0 ]; then pass test_chat_second_turn_reuses_the_cache
else fail test_chat_second_turn_reuses_the_cache "status $rc: $(tr '\n' '|' < "$TMP/err" | head -c 300)"; fi
# The conversation as ChatML formats it, the first answer inside, then the answer a fresh run gives.
if $PY - "$TMP" <<'PYEOF'
import sys
d = sys.argv[1]
one, two = open(f"{d}/one", "rb").read(), open(f"{d}/two", "rb").read()
if not two.startswith(one):
    sys.exit(f"the first answer differs in the conversation: {one!r} / {two!r}")
a1 = one[:-1]
open(f"{d}/a2", "wb").write(two[len(one):-1])
open(f"{d}/conv", "wb").write(b"<|im_start|>user\nhello there<|im_end|>\n<|im_start|>assistant\n" + a1 +
                              b"<|im_end|>\n<|im_start|>user\nhow are you<|im_end|>\n<|im_start|>assistant\n")
PYEOF
then
    run "$M" --special --no-display-prompt -f "$TMP/conv" $G
    a2=$(cat "$TMP/a2")
    case $(cat "$TMP/out") in
    "$a2"*) if [ -n "$a2" ]; then pass test_chat_second_answer_equals_a_fresh_run_over_the_conversation
            else fail test_chat_second_answer_equals_a_fresh_run_over_the_conversation "empty answer"; fi ;;
    *) fail test_chat_second_answer_equals_a_fresh_run_over_the_conversation "chat: '$a2' / fresh: '$(cat "$TMP/out")'" ;;
    esac
else
    fail test_chat_second_answer_equals_a_fresh_run_over_the_conversation "$(tail -n 1 "$TMP/err")"
fi

# ---- --stop cuts the answer before the string; --system is part of the prompt -----------------------
word=$($PY -c 'import sys; print(open(sys.argv[1]).read().split()[2])' "$TMP/one")
run "$M" --chat $G -p "hello there" --stop "$word" < /dev/null
want=$($PY -c 'import sys; a = open(sys.argv[1]).read(); print(a[:a.index(sys.argv[2])])' "$TMP/one" "$word")
if [ $rc -eq 0 ] && [ "$(cat "$TMP/out")" = "$want" ] && grep -q "stopped at a stop string '$word'" "$TMP/err"; then
    pass test_chat_stop_string_cuts_the_answer
else
    fail test_chat_stop_string_cuts_the_answer "stop '$word': '$(cat "$TMP/out")', expected '$want'"
fi
run "$M" --chat $G -p "hello there" --reverse-prompt "$word" --stop "zzz" < /dev/null
if [ $rc -eq 0 ] && [ "$(cat "$TMP/out")" = "$want" ]; then pass test_chat_reverse_prompt_is_a_stop_string
else fail test_chat_reverse_prompt_is_a_stop_string "'$(cat "$TMP/out")', expected '$want'"; fi
n1=$(sed -n 's/^chat turn 1: \([0-9]*\) prompt tokens.*/\1/p' "$TMP/err")
run "$M" --chat $G -p "hello there" --system "be brief" < /dev/null
n2=$(sed -n 's/^chat turn 1: \([0-9]*\) prompt tokens.*/\1/p' "$TMP/err")
if [ $rc -eq 0 ] && [ -n "$n2" ] && [ "$n2" -gt "$n1" ]; then pass test_chat_system_message_is_in_the_prompt
else fail test_chat_system_message_is_in_the_prompt "$n1 tokens without, $n2 with: $(tail -n 1 "$TMP/err")"; fi

# ---- templates and limits ---------------------------------------------------------------------------
refuses test_chat_unknown_template_name "unknown chat template 'vicuna' \\(choose one of: llama2, mistral, zephyr, chatml, phi3\\)" \
    "$M" --chat -p hi --chat-template vicuna
refuses test_chat_model_without_template_needs_the_flag "the model has no chat template .*--chat-template NAME" \
    "$TMP/plain.gguf" --chat -p hi
run "$TMP/plain.gguf" --chat --chat-template chatml $G -p "hello there" < /dev/null
if [ $rc -eq 0 ] && cmp -s "$TMP/out" "$TMP/one"; then pass test_chat_template_flag_replaces_the_models
else fail test_chat_template_flag_replaces_the_models "status $rc: $(tail -n 1 "$TMP/err")"; fi
run "$M" --chat --chat-template zephyr $G -p "hello there" < /dev/null
if [ $rc -eq 0 ]; then pass test_chat_zephyr_template_on_any_vocabulary
else fail test_chat_zephyr_template_on_any_vocabulary "status $rc: $(tail -n 1 "$TMP/err")"; fi
refuses test_chat_conversation_longer_than_the_context "the conversation is [0-9]+ tokens but the context holds 8" \
    "$M" --chat $G -c 8 -p "hello there"
# An answer that fills the context shifts it (BOS kept, the oldest half dropped) and goes on.
run "$M" --chat -t 1 --temp 0 -n 100 -c 40 -p "hello there" < /dev/null
if [ $rc -eq 0 ] && grep -q "^chat: the context filled during the answer: shifted [1-9]" "$TMP/err" && [ -s "$TMP/out" ]; then
    pass test_chat_answer_past_the_context_shifts_it
else
    fail test_chat_answer_past_the_context_shifts_it "status $rc: $(tail -n 1 "$TMP/err")"
fi
# A conversation that outgrows the context loses its oldest exchanges, not the chat.
printf 'hello there\nand then?\nwhat next?\nmore\n' > "$TMP/many_turns"
run "$M" --chat -t 1 --temp 0 -n 24 -c 80 < "$TMP/many_turns"
if [ $rc -eq 0 ] && grep -q "^chat: dropped the [1-9][0-9]* oldest exchange" "$TMP/err" && grep -q "^chat turn 4:" "$TMP/err"; then
    pass test_chat_drops_the_oldest_exchange_to_fit
else
    fail test_chat_drops_the_oldest_exchange_to_fit "status $rc: $(tail -n 2 "$TMP/err" | tr '\n' '|')"
fi
refuses test_chat_with_perplexity "--perplexity and --chat are different modes|--chat and --perplexity are different modes" \
    "$M" --chat --perplexity "$TMP/turns"
refuses test_chat_flags_without_chat "--chat-template and --system belong to --chat" "$M" -p hi --system x

# ---- --special: special tokens written in a prompt become their ids ----------------------------------
run "$M" --tokenize -p "user"; plain=$(cut -d' ' -f2- "$TMP/out")
run "$M" --tokenize --special -p "<|im_start|>user<|im_end|>"; special=$(cat "$TMP/out")
# 398, 399: the two user-defined pieces; the text after a special token gets its own dummy-prefix
# space, as the text at the start does ("▁user", not "user")
if [ "$special" = "1 398 $plain 399" ]; then pass test_chat_special_user_defined_tokens
else fail test_chat_special_user_defined_tokens "plain '$plain', --special '$special'"; fi
run "$M" --tokenize --special -p "<s>hi"; a=$(cat "$TMP/out")
run "$M" --tokenize -p "hi"; b=$(cat "$TMP/out")
if [ "$a" = "$b" ]; then pass test_chat_special_prompt_starting_with_bos_gets_one_bos
else fail test_chat_special_prompt_starting_with_bos_gets_one_bos "'<s>hi': $a, 'hi': $b"; fi
V=$SHARED/models/vocab/ggml-vocab-llama-spm.gguf
if [ -n "$SHARED" ] && [ -f "$V" ] &&
   $PY scripts/make_models.py --dim 32 --hidden 64 --layers 1 --heads 4 --kv-heads 4 --ctx 64 --vocab-from "$V" \
       --out "$TMP/l32k.gguf" > /dev/null 2>&1; then
    # Llama-2's chat prompt as Hugging Face's tokenizer gives it: "▁[", "INST", "]" after BOS
    run "$TMP/l32k.gguf" --tokenize --special -p "<s>[INST] hi [/INST]"
    if [ "$(cat "$TMP/out")" = "1 518 25580 29962 7251 518 29914 25580 29962" ]; then pass test_chat_special_llama2_inst_prompt
    else fail test_chat_special_llama2_inst_prompt "$(cat "$TMP/out" "$TMP/err")"; fi
    run "$TMP/l32k.gguf" --tokenize --special -p "a</s>b<unk>"
    if [ "$(cat "$TMP/out")" = "1 263 2 289 0" ]; then pass test_chat_special_eos_and_unk_in_text
    else fail test_chat_special_eos_and_unk_in_text "$(cat "$TMP/out" "$TMP/err")"; fi
    run "$TMP/l32k.gguf" --tokenize -p "a</s>b"
    if [ "$(cat "$TMP/out")" = "1 263 829 29879 29958 29890" ]; then pass test_chat_without_special_tokens_are_text
    else fail test_chat_without_special_tokens_are_text "$(cat "$TMP/out" "$TMP/err")"; fi
else
    skip test_chat_special_llama2_vocab "../shared/models/vocab/ggml-vocab-llama-spm.gguf missing"
fi
exit $FAILED
