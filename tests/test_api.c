/* test_api.c — the public face of attend.h: the version, the abort callback, and that the
 * model-owned objects behave as the header's contract says. Uses the default model in models/. */
#include "test.h"
#include <string.h>
#include "attend.h"

static const char *model_path(void)
{
    const char *p = getenv("ATTEND_DEFAULT_MODEL");
    return p ? p : "models/stories-attend.gguf";
}

static attend_model *load(void)
{
    char err[256];
    attend_model *m = attend_model_load(model_path(), NULL, err, sizeof err);
    CHECKF(m != NULL, "%s", err);
    return m;
}

static void test_api_version_matches_the_header(void)
{
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", ATTEND_VERSION_MAJOR, ATTEND_VERSION_MINOR, ATTEND_VERSION_PATCH);
    CHECKF(strcmp(attend_version(), want) == 0, "attend_version() = %s, header %s", attend_version(), want);
}

/* Counts the calls; asks to stop at call number `stop_at` (1-based), never when 0. */
typedef struct { int calls, stop_at; } abort_counter;
static int count_and_abort(void *user)
{
    abort_counter *a = user;
    return ++a->calls == a->stop_at;
}

static void test_api_abort_stops_forward_between_layers(void)
{
    attend_model *m = load();
    const attend_config *c = attend_model_config(m);
    char err[256] = "";
    attend_context_params p = attend_context_default_params();
    p.n_ctx = 64;
    p.n_threads = 1;
    attend_context *ctx = attend_context_new(m, &p, err, sizeof err);
    CHECKF(ctx != NULL, "%s", err);
    int tokens[4] = {1, 10, 20, 30};
    float *want = malloc(sizeof(float) * (size_t)c->vocab_size), *got = malloc(sizeof(float) * (size_t)c->vocab_size);
    CHECK(attend_forward(ctx, tokens, 4, 0, want, 0, err, sizeof err) == 0);

    /* Asked once per layer: a callback that never stops changes nothing. */
    abort_counter a = {0, 0};
    attend_context_set_abort(ctx, count_and_abort, &a);
    CHECK(attend_forward(ctx, tokens, 4, 0, got, 0, err, sizeof err) == 0);
    CHECKF(a.calls == c->n_layers, "asked %d times for %d layers", a.calls, c->n_layers);
    CHECK(memcmp(want, got, sizeof(float) * (size_t)c->vocab_size) == 0);

    /* Stopping in the middle: -1 and "aborted"; the context is usable again from the same position. */
    a = (abort_counter){0, c->n_layers > 1 ? 2 : 1};
    CHECK(attend_forward(ctx, tokens, 4, 0, got, 0, err, sizeof err) == -1);
    CHECKF(strcmp(err, "aborted") == 0, "err \"%s\"", err);
    CHECK(a.calls == a.stop_at);
    attend_context_set_abort(ctx, NULL, NULL);
    CHECK(attend_forward(ctx, tokens, 4, 0, got, 0, err, sizeof err) == 0);
    CHECK(memcmp(want, got, sizeof(float) * (size_t)c->vocab_size) == 0);
    free(want);
    free(got);
    attend_context_free(ctx);
    attend_model_free(m);
}

static void test_api_token_to_piece_agrees_with_detokenize(void)
{
    attend_model *m = load();
    const attend_tokenizer *t = attend_model_tokenizer(m);
    CHECK(t != NULL);
    char err[256];
    int ids[64];
    int n = attend_tokenize(t, "Once upon a time, a cat", 23, 0, ids, 64, err, sizeof err);
    CHECKF(n > 1 && n <= 64, "%d ids: %s", n, err);
    char pieces[256], whole[256];
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        int len = attend_token_to_piece(t, ids[i], pieces + at, sizeof pieces - at);
        CHECK(len >= 0 && at + (size_t)len < sizeof pieces);
        at += (size_t)len;
    }
    long len = attend_detokenize(t, ids, n, whole, sizeof whole);
    /* Decoding drops the dummy prefix the encoder added: the pieces keep it. */
    CHECKF(len >= 0 && at == (size_t)len + 1 && pieces[0] == ' ' && memcmp(pieces + 1, whole, (size_t)len) == 0,
           "pieces \"%.*s\", detokenize \"%s\"", (int)at, pieces, whole);
    attend_model_free(m);
}

/* String metadata by key: present keys NUL-terminated, absent or non-string keys NULL. */
static void test_api_meta_string_reads_string_keys_only(void)
{
    attend_model *m = load();
    if (!m)
        return;
    const char *arch = attend_model_meta_string(m, "general.architecture");
    CHECKF(arch && !strcmp(arch, "llama"), "general.architecture: %s", arch ? arch : "(null)");
    const char *tok = attend_model_meta_string(m, "tokenizer.ggml.model");
    CHECKF(tok && !strcmp(tok, "llama"), "tokenizer.ggml.model: %s", tok ? tok : "(null)");
    CHECK(attend_model_meta_string(m, "tokenizer.chat_template") == NULL);
    CHECK(attend_model_meta_string(m, "llama.block_count") == NULL);   /* a number, not a string */
    CHECK(attend_model_meta_string(m, "") == NULL && attend_model_meta_string(m, NULL) == NULL);
    attend_model_free(m);
}

/* Special tokens parsed: <s> and </s> become their ids, the text between keeps its dummy prefix;
 * unparsed, they are spelled out in pieces. */
static void test_api_tokenize_special_turns_control_pieces_into_ids(void)
{
    attend_model *m = load();
    if (!m)
        return;
    const attend_tokenizer *t = attend_model_tokenizer(m);
    char err[256];
    int special[16], plain[16], a[16], b[16];
    int ns = attend_tokenize_special(t, "x</s>y", 6, 1, special, 16, err, sizeof err);
    int np = attend_tokenize(t, "x</s>y", 6, 1, plain, 16, err, sizeof err);
    int na = attend_tokenize(t, "x", 1, 0, a, 16, err, sizeof err);
    int nb = attend_tokenize(t, "y", 1, 0, b, 16, err, sizeof err);
    CHECKF(ns == 1 + na + 1 + nb, "%d ids, expected %d", ns, 2 + na + nb);
    CHECK(special[0] == attend_tokenizer_bos(t) && special[1 + na] == attend_tokenizer_eos(t));
    CHECK(!memcmp(special + 1, a, sizeof(int) * (size_t)na) && !memcmp(special + 2 + na, b, sizeof(int) * (size_t)nb));
    int has_eos = 0;
    for (int i = 0; i < np; i++)
        has_eos |= plain[i] == attend_tokenizer_eos(t);
    CHECKF(np > 4 && !has_eos, "plain: %d ids", np);
    /* the longest special piece wins, and a text of only special pieces has no text pieces */
    CHECK(attend_tokenize_special(t, "<s></s><s>", 10, 0, special, 16, err, sizeof err) == 3 &&
          special[0] == 1 && special[1] == 2 && special[2] == 1);
    attend_model_free(m);
}

/* Reading the file at load (preload, the default) or page by page on first use changes when the
 * bytes arrive, not what is computed; a tokenizer file given in the params replaces the file's. */
static void test_api_model_params_preload_and_tokenizer(void)
{
    char err[256] = "";
    attend_model_params p = attend_model_default_params();
    CHECK(p.preload == 1 && p.tokenizer_path == NULL);
    p.preload = 0;
    attend_model *lazy = attend_model_load(model_path(), &p, err, sizeof err);
    CHECKF(lazy != NULL, "%s", err);
    attend_model *eager = load();
    const int vocab = attend_model_config(eager)->vocab_size, tokens[3] = {1, 50, 60};
    float *a = malloc(sizeof(float) * (size_t)vocab), *b = malloc(sizeof(float) * (size_t)vocab);
    attend_context *ca = attend_context_new(lazy, NULL, err, sizeof err);
    attend_context *cb = attend_context_new(eager, NULL, err, sizeof err);
    CHECKF(ca && cb, "%s", err);
    CHECK(attend_forward(ca, tokens, 3, 0, a, 0, err, sizeof err) == 0);
    CHECK(attend_forward(cb, tokens, 3, 0, b, 0, err, sizeof err) == 0);
    CHECK(memcmp(a, b, sizeof(float) * (size_t)vocab) == 0);
    p = attend_model_default_params();
    p.tokenizer_path = "/nonexistent/tokenizer.model";
    CHECK(attend_model_load(model_path(), &p, err, sizeof err) == NULL);
    CHECKF(strstr(err, "nonexistent"), "error names the tokenizer: %s", err);
    attend_context_free(ca);
    attend_context_free(cb);
    attend_model_free(lazy);
    attend_model_free(eager);
    free(a);
    free(b);
}

/* A sliding-window context keeps a ring of its last positions: the calls that move positions
 * around refuse it, and leave it working. */
static void test_api_kv_control_refuses_a_ring(void)
{
    char err[256] = "";
    attend_model *m = load();
    attend_context_params p = attend_context_default_params();
    p.n_ctx = 64;
    p.window = 16;
    p.sinks = 2;
    attend_context *ring = attend_context_new(m, &p, err, sizeof err), *plain = attend_context_new(m, NULL, err, sizeof err);
    CHECKF(ring && plain, "%s", err);
    int tokens[4] = {1, 10, 20, 30};
    CHECK(attend_forward(ring, tokens, 4, 0, NULL, 0, err, sizeof err) == 0);
    CHECK(attend_kv_truncate(ring, 2) == -1);
    CHECK(attend_kv_shift(ring, 1, 1) == -1);
    CHECK(attend_kv_copy(plain, ring) == -1 && attend_kv_copy(ring, plain) == -1);
    CHECK(attend_kv_save(ring, "/nonexistent/ring.kv", tokens, 4, err, sizeof err) == -1);
    CHECKF(strstr(err, "sliding-window"), "%s", err);
    CHECK(attend_kv_load(ring, "/nonexistent/ring.kv", tokens, 4, err, sizeof err) == -1);
    CHECK(attend_forward(ring, tokens, 1, 4, NULL, 0, err, sizeof err) == 0);
    attend_context_free(ring);
    attend_context_free(plain);
    attend_model_free(m);
}

int main(void)
{
    RUN(test_api_version_matches_the_header);
    RUN(test_api_abort_stops_forward_between_layers);
    RUN(test_api_token_to_piece_agrees_with_detokenize);
    RUN(test_api_meta_string_reads_string_keys_only);
    RUN(test_api_tokenize_special_turns_control_pieces_into_ids);
    RUN(test_api_model_params_preload_and_tokenizer);
    RUN(test_api_kv_control_refuses_a_ring);
    TEST_EXIT();
}
