/* chat.c — a conversation with a chat model over the public API.
 *
 * Each turn the whole conversation is formatted again with the chat template and tokenized with
 * special tokens parsed (the template writes <s>, </s>, <|im_end|>, ... as text). The context's
 * KV cache still holds the keys and values of the previous turn's tokens, so the new token
 * sequence is compared with them: positions up to the first difference are already computed,
 * and attend_forward runs only on the rest. Usually the difference starts at the end of the last
 * answer (the template closes the turn), so a turn costs its own tokens, not the conversation's.
 *
 * An answer ends at the model's EOS, at the template's end-of-turn marker (as a token when the
 * vocabulary has it as one, else as text), at a --stop string, or after -n tokens. When the context
 * runs short, the oldest exchanges leave the conversation, and an answer that fills the context
 * shifts it (attend_kv_shift), so a chat goes on however long it runs. */
#include "cli/chat.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/chat_template.h"
#include "cli/stop.h"
#include "cli/util.h"

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

int chat_choose_template(const attend_model *m, const char *name, char *err, size_t errlen)
{
    if (name) {
        chat_template t = chat_template_by_name(name);
        if (t == CHAT_UNKNOWN)
            return fail(err, errlen, "unknown chat template '%s' (choose one of: %s)", name, chat_template_names());
        return t;
    }
    const char *jinja = attend_model_meta_string(m, "tokenizer.chat_template");
    if (!jinja)
        return fail(err, errlen, "the model has no chat template (tokenizer.chat_template): choose one with "
                    "--chat-template NAME (%s)", chat_template_names());
    chat_template t = chat_template_detect(jinja);
    if (t == CHAT_UNKNOWN)
        return fail(err, errlen, "the model's chat template is not one attend recognises: choose one with "
                    "--chat-template NAME (%s)", chat_template_names());
    return t;
}

/* ---- a growing byte string ------------------------------------------------------------------- */

typedef struct {
    char *s;
    size_t len, cap;
} buffer;

/* Room for n more bytes and a NUL. */
static int reserve(buffer *b, size_t n)
{
    return grow_buffer(&b->s, &b->cap, b->len + n + 1);
}

static int append(buffer *b, const char *s, size_t n)
{
    if (reserve(b, n) != 0)
        return -1;
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
    return 0;
}

/* ---- the conversation ------------------------------------------------------------------------ */

typedef struct {
    attend_context *ctx;
    const attend_tokenizer *tok;
    const chat_options *o;
    chat_template tmpl;
    int vocab, n_ctx, turn;
    chat_message *messages;   /* contents are heap copies */
    int n_messages;
    int *cached;              /* the tokens whose keys and values the cache holds, positions 0.. */
    int n_cached;
    int *ids;                 /* this turn's tokenized conversation (room: ids_cap) */
    int ids_cap;
    float *logits;
    attend_sampler *sampler;
    buffer formatted;
    stop_filter answer;       /* this turn's answer, held back from stdout while a stop string may begin */
    int end_of_turn;          /* the template's end-of-turn marker as one token, or -1 */
} chat;

static int add_message(chat *c, const char *role, const char *content)
{
    chat_message *grown = realloc(c->messages, sizeof *grown * (size_t)(c->n_messages + 1));
    if (!grown)
        return -1;
    c->messages = grown;
    char *copy = strdup(content);
    if (!copy)
        return -1;
    c->messages[c->n_messages++] = (chat_message){role, copy};
    return 0;
}

/* Forget the oldest user turn and the answer that followed it (a system message stays). Returns 0
 * when nothing but the newest user turn is left to drop. */
static int drop_oldest_exchange(chat *c)
{
    int first = c->n_messages > 0 && !strcmp(c->messages[0].role, "system") ? 1 : 0;
    int end = first + 1;   /* the user turn, then its answer if there is one */
    if (end < c->n_messages && !strcmp(c->messages[end].role, "assistant"))
        end++;
    if (end >= c->n_messages)   /* that would drop the turn being answered */
        return 0;
    for (int i = first; i < end; i++)
        free((char *)c->messages[i].content);
    memmove(c->messages + first, c->messages + end, sizeof *c->messages * (size_t)(c->n_messages - end));
    c->n_messages -= end - first;
    return 1;
}

/* The conversation as tokens, BOS first (once: Llama-2's template writes "<s>" itself). */
static int tokenize_conversation(chat *c, int *n, char *err, size_t errlen)
{
    long len = chat_format(c->tmpl, c->messages, c->n_messages, c->formatted.s, c->formatted.cap);
    if (len >= 0 && (size_t)len >= c->formatted.cap) {
        c->formatted.len = 0;
        if (reserve(&c->formatted, (size_t)len) != 0)
            return fail(err, errlen, "out of memory for the conversation");
        len = chat_format(c->tmpl, c->messages, c->n_messages, c->formatted.s, c->formatted.cap);
    }
    if (len < 0)
        return fail(err, errlen, "cannot format the conversation");
    c->formatted.len = (size_t)len;
    const int bos = attend_tokenizer_bos(c->tok);
    char why[256];
    for (;;) {
        int count = attend_tokenize_special(c->tok, c->formatted.s, c->formatted.len, 0, c->ids + 1,
                                            c->ids_cap - 1, why, sizeof why);
        if (count < 0)
            return fail(err, errlen, "cannot tokenize the conversation: %s", why);
        if (count + 1 > c->ids_cap) {
            int *grown = realloc(c->ids, sizeof(int) * (size_t)(count + 1));
            if (!grown)
                return fail(err, errlen, "out of memory for %d tokens", count + 1);
            c->ids = grown;
            c->ids_cap = count + 1;
            continue;
        }
        if (bos >= 0 && (count == 0 || c->ids[1] != bos)) {
            c->ids[0] = bos;
            *n = count + 1;
        } else {
            memmove(c->ids, c->ids + 1, sizeof(int) * (size_t)count);
            *n = count;
        }
        return 0;
    }
}

static int logits_finite(const float *logits, int vocab, int pos, char *err, size_t errlen)
{
    for (int v = 0; v < vocab; v++)
        if (!isfinite(logits[v]))
            return fail(err, errlen, "the model computed a non-finite logit (%g, token %d at position %d): its "
                        "weights hold NaN or Inf values or overflow", logits[v], v, pos);
    return 0;
}

/* One turn: the user's text in, the answer out (stdout) and into the conversation. */
static int chat_turn(chat *c, const char *user, char *err, size_t errlen)
{
    const chat_options *o = c->o;
    if (add_message(c, "user", user) != 0)
        return fail(err, errlen, "out of memory");
    int n = 0;
    if (tokenize_conversation(c, &n, err, errlen) != 0)
        return -1;
    /* Keeping the conversation in the context: while it leaves less than a quarter of the context
     * for the answer, the oldest exchange (a user turn and its answer; a system message stays) is
     * dropped. The cache is reused up to where the text changed, so what follows runs again. */
    int dropped = 0;
    while (n > c->n_ctx - c->n_ctx / 4 && drop_oldest_exchange(c)) {
        dropped++;
        if (tokenize_conversation(c, &n, err, errlen) != 0)
            return -1;
    }
    if (dropped)
        fprintf(stderr, "chat: dropped the %d oldest exchange%s to keep the conversation within the %d-token "
                "context\n", dropped, dropped == 1 ? "" : "s", c->n_ctx);
    if (n > c->n_ctx)
        return fail(err, errlen, "the conversation is %d tokens but the context holds %d (see -c): it cannot go "
                    "on", n, c->n_ctx);
    /* The cache already holds the longest common prefix; the last token always runs again, since
     * its logits start the answer. */
    int common = 0;
    while (common < n && common < c->n_cached && c->ids[common] == c->cached[common])
        common++;
    if (common == n)
        common--;
    double t0 = now_seconds();
    if (attend_forward(c->ctx, c->ids + common, n - common, common, c->logits, 0, err, errlen) != 0)
        return -1;
    double prompt_s = now_seconds() - t0;
    if (logits_finite(c->logits, c->vocab, n - 1, err, errlen) != 0)
        return -1;
    memcpy(c->cached, c->ids, sizeof(int) * (size_t)n);
    c->n_cached = n;

    /* Generate. The answer is the pieces' exact text (with the space a first "▁word" carries: the
     * same bytes the template will wrap next turn); what may still turn out to begin a stop string
     * is held back from stdout. */
    stop_reset(&c->answer);
    int generated = 0, context_full = 0, shifts = 0;
    const char *stopped = "the -n limit";
    const char *out;
    double t1 = now_seconds();
    while (generated < o->n_predict) {
        int next = attend_sample(c->sampler, c->logits, c->cached, c->n_cached);
        if (next == attend_tokenizer_eos(c->tok)) {
            stopped = "end of text";
            break;
        }
        if (next == c->end_of_turn) {
            stopped = "the end of the turn";
            break;
        }
        generated++;
        char piece[256];
        int len = attend_token_to_piece(c->tok, next, piece, sizeof piece);
        int hit = len >= 0 && len <= (int)sizeof piece ? stop_put(&c->answer, piece, (size_t)len) : -1;
        if (hit < 0)
            return fail(err, errlen, "cannot decode token %d", next);
        if (hit) {
            stopped = "a stop string";
            break;
        }
        size_t n_out = stop_take(&c->answer, &out, 0);
        fwrite(out, 1, n_out, stdout);
        fflush(stdout);
        if (generated == o->n_predict)
            break;   /* its keys and values are not needed: the answer is complete */
        if (c->n_cached == c->n_ctx) {
            /* Context shift (attend_kv_shift), as one-shot generation does with --context-shift: keep
             * BOS, drop the oldest half of the rest, and go on with the kept keys re-rotated. The
             * next turn reuses the cache only up to BOS, since the text no longer matches it. */
            const int keep = 1, discard = (c->n_cached - keep) / 2;
            if (discard == 0 || attend_kv_shift(c->ctx, keep, discard) != 0) {
                context_full = 1;
                break;
            }
            memmove(c->cached + keep, c->cached + keep + discard, sizeof(int) * (size_t)(c->n_cached - keep - discard));
            c->n_cached -= discard;
            shifts++;
        }
        if (attend_forward(c->ctx, &next, 1, c->n_cached, c->logits, 0, err, errlen) != 0)
            return -1;
        c->cached[c->n_cached++] = next;
        if (logits_finite(c->logits, c->vocab, c->n_cached - 1, err, errlen) != 0)
            return -1;
    }
    size_t n_out = stop_take(&c->answer, &out, 1);
    fwrite(out, 1, n_out, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    double gen_s = now_seconds() - t1;
    if (add_message(c, "assistant", c->answer.text ? c->answer.text : "") != 0)
        return fail(err, errlen, "out of memory");

    /* What the cache saved: the reused positions at this turn's cost per processed token. */
    const double per_token = prompt_s / (n - common);
    fprintf(stderr, "chat turn %d: %d prompt tokens, %d reused from the cache, %d processed in %.1f ms "
            "(all %d: ~%.1f ms, saved ~%.1f ms); %d generated in %.1f ms, stopped at %s%s%s%s\n",
            ++c->turn, n, common, n - common, prompt_s * 1e3, n, per_token * n * 1e3, per_token * common * 1e3,
            generated, gen_s * 1e3, context_full ? "a full context" : stopped, c->answer.hit ? " '" : "",
            c->answer.hit ? c->answer.hit : "", c->answer.hit ? "'" : "");
    if (shifts)
        fprintf(stderr, "chat: the context filled during the answer: shifted %d time%s (kept BOS, dropped the "
                "oldest half)\n", shifts, shifts == 1 ? "" : "s");
    if (context_full)
        return fail(err, errlen, "the context is full (%d tokens, see -c): the conversation cannot go on", c->n_ctx);
    return 0;
}

/* The next user turn from stdin: one line, without its line end; NULL at the end of input. */
static char *read_turn(char **line, size_t *cap)
{
    for (;;) {
        if (isatty(STDIN_FILENO)) {
            fputs("> ", stdout);
            fflush(stdout);
        }
        ssize_t n = getline(line, cap, stdin);
        if (n < 0)
            return NULL;
        while (n > 0 && ((*line)[n - 1] == '\n' || (*line)[n - 1] == '\r'))
            (*line)[--n] = '\0';
        if (n > 0)
            return *line;   /* an empty line is no turn */
    }
}

int chat_run(attend_context *ctx, const attend_model *m, const chat_options *o, char *err, size_t errlen)
{
    int tmpl = chat_choose_template(m, o->template_name, err, errlen);
    if (tmpl < 0)
        return -1;
    chat c = {.ctx = ctx, .tok = attend_model_tokenizer(m), .o = o, .tmpl = (chat_template)tmpl,
              .vocab = attend_model_config(m)->vocab_size, .n_ctx = attend_context_size(ctx), .end_of_turn = -1};
    int rc = -1;
    c.cached = malloc(sizeof(int) * (size_t)c.n_ctx);
    c.ids_cap = 256;
    c.ids = malloc(sizeof(int) * (size_t)c.ids_cap);
    c.logits = malloc(sizeof(float) * (size_t)c.vocab);
    c.sampler = attend_sampler_new(c.vocab, &o->sampling);
    if (!c.cached || !c.ids || !c.logits || !c.sampler || append(&c.formatted, "", 0) != 0) {
        fail(err, errlen, "out of memory");
        goto done;
    }
    /* The end-of-turn marker: a token of its own when the vocabulary has it as one (ChatML's
     * <|im_end|> is a control token, which decodes to no text), and a stop string either way. */
    const char *eot = chat_end_of_turn(c.tmpl);
    int eot_ids[2];
    if (attend_tokenize_special(c.tok, eot, strlen(eot), 0, eot_ids, 2, NULL, 0) == 1)
        c.end_of_turn = eot_ids[0];
    stop_add(&c.answer, eot);
    for (int i = 0; i < o->n_stops; i++)
        stop_add(&c.answer, o->stops[i]);   /* (CHAT_MAX_STOPS < STOP_MAX_STRINGS) */
    if (o->verbose)
        fprintf(stderr, "chat: template %s, end of turn %s%s\n", chat_template_name(c.tmpl), eot,
                c.end_of_turn >= 0 ? " (a token)" : " (text)");
    if (o->system && add_message(&c, "system", o->system) != 0) {
        fail(err, errlen, "out of memory");
        goto done;
    }
    if (o->prompt) {
        rc = chat_turn(&c, o->prompt, err, errlen);
    } else {
        char *line = NULL;
        size_t cap = 0;
        rc = 0;
        for (const char *user; rc == 0 && (user = read_turn(&line, &cap));)
            rc = chat_turn(&c, user, err, errlen);
        free(line);
    }
done:
    for (int i = 0; i < c.n_messages; i++)
        free((char *)c.messages[i].content);
    free(c.messages);
    free(c.formatted.s);
    stop_free(&c.answer);
    attend_sampler_free(c.sampler);
    free(c.logits);
    free(c.ids);
    free(c.cached);
    return rc;
}
