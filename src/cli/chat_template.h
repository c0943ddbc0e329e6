/* chat_template.h — turning a conversation into the text a chat model was trained on.
 *
 * A chat model learns its turns wrapped in markers ("[INST] ... [/INST]", "<|user|>\n...</s>",
 * "<|im_start|>user\n...<|im_end|>"). GGUF files carry the recipe as a Jinja template in
 * `tokenizer.chat_template`; rather than run Jinja, we recognise the common recipes by their
 * distinctive markers and format them in C. The formatted text contains control tokens (<s>,
 * </s>, <|im_end|>, ...) written out, so it must be tokenized with special tokens parsed. */
#ifndef ATTEND_CLI_CHAT_TEMPLATE_H
#define ATTEND_CLI_CHAT_TEMPLATE_H

#include <stddef.h>

typedef enum {
    CHAT_UNKNOWN = -1,
    CHAT_LLAMA2,    /* <s>[INST] <<SYS>>\nsystem\n<</SYS>>\n\nuser [/INST] answer </s> */
    CHAT_MISTRAL,   /* <s>[INST] user [/INST]answer</s>  (a system text opens the first user turn) */
    CHAT_ZEPHYR,    /* <|system|>\n...</s>\n<|user|>\n...</s>\n<|assistant|>\n  (TinyLlama-Chat) */
    CHAT_CHATML,    /* <|im_start|>user\n...<|im_end|>\n<|im_start|>assistant\n */
    CHAT_PHI3,      /* <|system|>\n...<|end|>\n<|user|>\n...<|end|>\n<|assistant|>\n */
    CHAT_TEMPLATE_COUNT
} chat_template;

typedef struct {
    const char *role;      /* "system", "user" or "assistant" */
    const char *content;
} chat_message;

/* The template a Jinja source describes, recognised by its markers; CHAT_UNKNOWN if none. */
chat_template chat_template_detect(const char *jinja);
/* By name ("llama2", "mistral", "zephyr", "chatml", "phi3"); CHAT_UNKNOWN if none. */
chat_template chat_template_by_name(const char *name);
const char *chat_template_name(chat_template t);
/* The names, comma-separated, for error messages. */
const char *chat_template_names(void);

/* The text of the whole conversation, ending with the opening of the assistant's turn so that the
 * model writes the answer next. Writes at most cap bytes (NUL included) and returns the length
 * the whole text needs (as snprintf does), or -1 for an unknown role or template. */
long chat_format(chat_template t, const chat_message *messages, int n, char *buf, size_t cap);

/* The marker that ends an assistant turn in this template, which generation stops at besides the
 * model's EOS token ("</s>" for llama2/mistral/zephyr, "<|im_end|>", "<|end|>"). */
const char *chat_end_of_turn(chat_template t);

#endif
