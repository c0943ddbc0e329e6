/* chat_template.c — formatting a conversation the way each common chat template does. */
#include "cli/chat_template.h"

#include <stdio.h>
#include <string.h>

static const char *const names[CHAT_TEMPLATE_COUNT] = {
    [CHAT_LLAMA2] = "llama2", [CHAT_MISTRAL] = "mistral", [CHAT_ZEPHYR] = "zephyr",
    [CHAT_CHATML] = "chatml", [CHAT_PHI3] = "phi3",
};

/* Most distinctive marker first: ChatML's <|im_start|>; Phi-3 and Zephyr share <|user|> and differ
 * in how a turn ends (<|end|> against </s>); Llama-2 and Mistral share [INST], and only Llama-2
 * wraps the system text in <<SYS>>. */
chat_template chat_template_detect(const char *jinja)
{
    if (!jinja)
        return CHAT_UNKNOWN;
    if (strstr(jinja, "<|im_start|>"))
        return CHAT_CHATML;
    if (strstr(jinja, "<|user|>"))
        return strstr(jinja, "<|end|>") ? CHAT_PHI3 : CHAT_ZEPHYR;
    if (strstr(jinja, "[INST]"))
        return strstr(jinja, "<<SYS>>") ? CHAT_LLAMA2 : CHAT_MISTRAL;
    return CHAT_UNKNOWN;
}

chat_template chat_template_by_name(const char *name)
{
    for (int t = 0; t < CHAT_TEMPLATE_COUNT; t++)
        if (name && !strcmp(name, names[t]))
            return (chat_template)t;
    return CHAT_UNKNOWN;
}

const char *chat_template_name(chat_template t)
{
    return t >= 0 && t < CHAT_TEMPLATE_COUNT ? names[t] : "unknown";
}

const char *chat_template_names(void) { return "llama2, mistral, zephyr, chatml, phi3"; }

const char *chat_end_of_turn(chat_template t)
{
    switch (t) {
    case CHAT_CHATML: return "<|im_end|>";
    case CHAT_PHI3: return "<|end|>";
    default: return "</s>";
    }
}

/* An output buffer that counts what it could not hold, as snprintf does. */
typedef struct {
    char *buf;
    size_t cap;
    size_t len;
} text;

static void put(text *t, const char *s)
{
    size_t n = strlen(s);
    if (t->len < t->cap) {
        size_t room = t->cap - t->len - 1, take = n < room ? n : room;
        memcpy(t->buf + t->len, s, take);
        t->buf[t->len + take] = '\0';
    }
    t->len += n;
}

/* Templates whose turns are "<open role>\ncontent<close>\n": Zephyr, ChatML and Phi-3 differ only
 * in the words around the role and the closing marker. */
static void format_tagged(text *out, chat_template t, const chat_message *m, int n)
{
    const char *close = chat_end_of_turn(t);
    for (int i = 0; i < n; i++) {
        if (t == CHAT_CHATML) {
            put(out, "<|im_start|>");
            put(out, m[i].role);
        } else {
            put(out, "<|");
            put(out, m[i].role);
            put(out, "|>");
        }
        put(out, "\n");
        put(out, m[i].content);
        put(out, close);
        put(out, "\n");
    }
    put(out, t == CHAT_CHATML ? "<|im_start|>assistant\n" : "<|assistant|>\n");
}

/* [INST] templates: each user turn opens with <s>[INST] (Mistral writes <s> once, at the start)
 * and each answer closes with </s>. The system text goes into the first user turn. */
static void format_inst(text *out, chat_template t, const chat_message *m, int n)
{
    const char *system = NULL;
    int first_user = 1;
    if (t == CHAT_MISTRAL)
        put(out, "<s>");
    for (int i = 0; i < n; i++) {
        if (!strcmp(m[i].role, "system")) {
            system = m[i].content;
        } else if (!strcmp(m[i].role, "user")) {
            put(out, t == CHAT_LLAMA2 ? "<s>[INST] " : "[INST] ");
            if (system && first_user) {
                put(out, t == CHAT_LLAMA2 ? "<<SYS>>\n" : "");
                put(out, system);
                put(out, t == CHAT_LLAMA2 ? "\n<</SYS>>\n\n" : "\n\n");
            }
            first_user = 0;
            put(out, m[i].content);
            put(out, " [/INST]");
        } else {   /* assistant */
            put(out, t == CHAT_LLAMA2 ? " " : "");
            put(out, m[i].content);
            put(out, t == CHAT_LLAMA2 ? " </s>" : "</s>");
        }
    }
}

long chat_format(chat_template t, const chat_message *messages, int n, char *buf, size_t cap)
{
    if (t < 0 || t >= CHAT_TEMPLATE_COUNT)
        return -1;
    for (int i = 0; i < n; i++)
        if (strcmp(messages[i].role, "system") && strcmp(messages[i].role, "user") &&
            strcmp(messages[i].role, "assistant"))
            return -1;
    text out = {buf, cap, 0};
    if (cap)
        buf[0] = '\0';
    if (t == CHAT_LLAMA2 || t == CHAT_MISTRAL)
        format_inst(&out, t, messages, n);
    else
        format_tagged(&out, t, messages, n);
    return (long)out.len;
}
