/* chat.h — `./run MODEL --chat`: a conversation with a chat model, one user turn per line of stdin
 * (or the one turn of -p), formatted with the model's chat template (chat_template.h), the KV cache
 * kept across turns so that each turn processes only the tokens that changed. */
#ifndef ATTEND_CLI_CHAT_H
#define ATTEND_CLI_CHAT_H

#include <stddef.h>
#include "attend.h"

enum { CHAT_MAX_STOPS = 16 };

typedef struct {
    const char *template_name;   /* --chat-template NAME; NULL: recognise tokenizer.chat_template */
    const char *system;          /* --system TEXT, or NULL */
    const char *prompt;          /* -p / -f: the one user turn, answered once; NULL: turns from stdin */
    const char *stops[CHAT_MAX_STOPS];   /* --stop STRING: generation ends where the answer contains one */
    int n_stops;
    int n_predict;               /* tokens per answer at most */
    int verbose;
    attend_sampler_params sampling;
} chat_options;

/* The template --chat-template names or the model's, or -1 + err naming the choices. */
int chat_choose_template(const attend_model *m, const char *name, char *err, size_t errlen);

/* Hold the conversation: answers on stdout, one report line per turn on stderr. Returns 0 at the
 * end of stdin (or after the -p answer), -1 + err when the conversation cannot go on (the context
 * is full, the model computed non-finite logits, memory ran out). */
int chat_run(attend_context *ctx, const attend_model *m, const chat_options *o, char *err, size_t errlen);

#endif
