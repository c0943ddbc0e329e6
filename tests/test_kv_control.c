/* test_kv_control.c — the KV cache control API of attend.h: attend_kv_size, truncate, copy, shift,
 * save and load, on the default model (models/), on the exact path with an F32 cache unless a
 * test says otherwise. */
#include <stdint.h>
#include <unistd.h>

#include "test.h"
#include "attend.h"

static const char *model_path(void)
{
    const char *p = getenv("ATTEND_DEFAULT_MODEL");
    return p ? p : "models/stories-attend.gguf";
}

/* one_layer, one_layer_scaled (linear RoPE scaling, factor 2): made by make_models.py for the shift tests;
 * heads32 and one_layer32: the same shapes with heads of 32 dimensions, which a Q8_0 cache takes */
static attend_model *model, *one_layer, *one_layer_scaled, *heads32, *one_layer32;
static int vocab;
static char tmpdir[] = "/tmp/attend-kv-XXXXXX";

static attend_context *context_of(attend_model *m, int n_ctx, int kv_type)
{
    char err[256];
    attend_context_params p = attend_context_default_params();
    p.n_ctx = n_ctx;
    p.n_threads = 1;
    p.exact = 1;
    p.kv_type = kv_type;
    attend_context *c = attend_context_new(m, &p, err, sizeof err);
    CHECKF(c != NULL, "%s", err);
    return c;
}

static attend_context *context(int n_ctx, int kv_type) { return context_of(model, n_ctx, kv_type); }

/* Some in-vocabulary tokens, BOS first. */
static void tokens_in(int *t, int n, int v)
{
    t[0] = 1;
    for (int i = 1; i < n; i++)
        t[i] = (i * 37 + 11) % v;
}

static void tokens_of(int *t, int n) { tokens_in(t, n, vocab); }

static float max_rel_diff(const float *a, const float *b, int n)
{
    float diff = 0, scale = 0;
    for (int i = 0; i < n; i++) {
        diff = fmaxf(diff, fabsf(a[i] - b[i]));
        scale = fmaxf(scale, fabsf(b[i]));
    }
    return diff / (scale > 0 ? scale : 1);
}

static void path_of(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", tmpdir, name); }

static void test_kv_size_follows_forward_and_truncate_rewinds(void)
{
    attend_context *c = context(64, ATTEND_KV_F32);
    int t[20];
    tokens_of(t, 20);
    char err[256];
    float *want = malloc(sizeof(float) * vocab), *got = malloc(sizeof(float) * vocab);
    CHECK(attend_kv_size(c) == 0);
    /* The same split each time: a batch's shape may change the float rounding. */
    CHECK(attend_forward(c, t, 8, 0, NULL, 0, err, sizeof err) == 0);
    CHECK(attend_forward(c, t + 8, 4, 8, want, 0, err, sizeof err) == 0);
    CHECK(attend_kv_size(c) == 12);
    /* A different continuation after position 8, then back: rewinding gives the first logits. */
    CHECK(attend_kv_truncate(c, 8) == 0 && attend_kv_size(c) == 8);
    int other[4] = {5, 6, 7, 8};
    CHECK(attend_forward(c, other, 4, 8, got, 0, err, sizeof err) == 0);
    CHECK(attend_kv_truncate(c, 8) == 0);
    CHECK(attend_forward(c, t + 8, 4, 8, got, 0, err, sizeof err) == 0);
    CHECK(memcmp(want, got, sizeof(float) * vocab) == 0);
    /* An earlier position truncates implicitly; a later one is a gap. */
    CHECK(attend_forward(c, t + 8, 4, 8, got, 0, err, sizeof err) == 0 && attend_kv_size(c) == 12);
    CHECK(memcmp(want, got, sizeof(float) * vocab) == 0);
    CHECK(attend_forward(c, t, 1, 14, got, 0, err, sizeof err) == -1);
    CHECKF(strstr(err, "gap") != NULL, "err: %s", err);
    CHECK(attend_kv_truncate(c, 13) == -1 && attend_kv_truncate(c, -1) == -1 && attend_kv_size(c) == 12);
    free(want);
    free(got);
    attend_context_free(c);
}

static int abort_now(void *user) { (void)user; return 1; }

/* An aborted forward leaves the cache as it was before the call: positions 0 .. pos-1. */
static void test_kv_size_after_an_abort_is_the_start_position(void)
{
    attend_context *c = context(64, ATTEND_KV_F32);
    int t[10];
    tokens_of(t, 10);
    char err[256];
    CHECK(attend_forward(c, t, 6, 0, NULL, 0, err, sizeof err) == 0);
    attend_context_set_abort(c, abort_now, NULL);
    CHECK(attend_forward(c, t + 6, 4, 6, NULL, 0, err, sizeof err) == -1);
    CHECKF(attend_kv_size(c) == 6, "size %d after an abort at position 6", attend_kv_size(c));
    CHECK(attend_forward(c, t + 4, 2, 4, NULL, 0, err, sizeof err) == -1);   /* rewound to 4, then aborted */
    CHECK(attend_kv_size(c) == 4);
    attend_context_set_abort(c, NULL, NULL);
    CHECK(attend_forward(c, t + 4, 6, 4, NULL, 0, err, sizeof err) == 0 && attend_kv_size(c) == 10);
    attend_context_free(c);
}

static void test_kv_copy_continues_like_the_original(void)
{
    attend_context *a = context(64, ATTEND_KV_F32), *b = context(32, ATTEND_KV_F32), *h = context(64, ATTEND_KV_F16);
    attend_context *small = context(8, ATTEND_KV_F32);
    int t[16];
    tokens_of(t, 16);
    char err[256];
    float *want = malloc(sizeof(float) * vocab), *got = malloc(sizeof(float) * vocab);
    CHECK(attend_forward(a, t, 15, 0, NULL, 0, err, sizeof err) == 0);
    CHECK(attend_kv_copy(b, a) == 0 && attend_kv_size(b) == 15);
    CHECK(attend_forward(a, t + 15, 1, 15, want, 0, err, sizeof err) == 0);
    CHECK(attend_forward(b, t + 15, 1, 15, got, 0, err, sizeof err) == 0);
    CHECK(memcmp(want, got, sizeof(float) * vocab) == 0);
    CHECK(attend_kv_copy(h, a) == -1);        /* another KV type */
    CHECK(attend_kv_copy(small, a) == -1);    /* does not fit */
    CHECK(attend_kv_size(small) == 0);
    free(want);
    free(got);
    attend_context_free(a);
    attend_context_free(b);
    attend_context_free(h);
    attend_context_free(small);
}

/* After a shift, the logits equal those of a fresh pass over the kept tokens at their new
 * positions: the re-rotated keys are where RoPE would have put them. That holds exactly in a
 * one-layer model only, whose keys and values depend on the token and its position alone (deeper
 * layers' remember the dropped tokens: the shift's approximation), so the test model has one
 * layer, random weights and a GQA shape. F32 and F16 caches. */
static void check_shift(attend_model *m, int kv_type, float tol)
{
    enum { N = 40, KEEP = 4, DISCARD = 18 };
    if (!m)
        CHECKF(0, "no one-layer model (make_models.py failed, see above)");
    const int v = attend_model_config(m)->vocab_size;
    attend_context *c = context_of(m, 64, kv_type), *fresh = context_of(m, 64, kv_type);
    int t[N + 1], kept[N + 1];
    tokens_in(t, N + 1, v);
    char err[256];
    float *want = malloc(sizeof(float) * v), *got = malloc(sizeof(float) * v);
    CHECK(attend_forward(c, t, N, 0, NULL, 0, err, sizeof err) == 0);
    CHECK(attend_kv_shift(c, KEEP, N) == -1 && attend_kv_size(c) == N);
    CHECK(attend_kv_shift(c, KEEP, DISCARD) == 0);
    CHECK(attend_kv_size(c) == N - DISCARD);
    CHECK(attend_forward(c, t + N, 1, N - DISCARD, got, 0, err, sizeof err) == 0);

    int n = 0;
    for (int i = 0; i <= N; i++)
        if (i < KEEP || i >= KEEP + DISCARD)
            kept[n++] = t[i];
    CHECK(n == N - DISCARD + 1);
    CHECK(attend_forward(fresh, kept, n, 0, want, 0, err, sizeof err) == 0);
    float d = max_rel_diff(got, want, v);
    CHECKF(d < tol, "shifted vs recomputed logits differ by %g (relative to the largest), tolerance %g", d, tol);
    /* Without the re-rotation the logits would be far off: the test can tell. */
    CHECK(attend_forward(c, t, N, 0, NULL, 0, err, sizeof err) == 0);
    CHECK(attend_kv_shift(c, KEEP, 0) == 0 && attend_kv_truncate(c, N - DISCARD) == 0);
    CHECK(attend_forward(c, t + N, 1, N - DISCARD, got, 0, err, sizeof err) == 0);
    const float unshifted = max_rel_diff(got, want, v);
    CHECKF(unshifted > 10 * d && unshifted > 10 * tol, "a cache without the shift matched too: %g vs %g shifted",
           unshifted, d);
    free(want);
    free(got);
    attend_context_free(c);
    attend_context_free(fresh);
}

static void test_kv_shift_equals_recomputing_the_kept_tokens_f32(void) { check_shift(one_layer, ATTEND_KV_F32, 1e-4f); }
/* F16 rounds the re-rotated keys once more than a fresh pass does. */
static void test_kv_shift_equals_recomputing_the_kept_tokens_f16(void) { check_shift(one_layer, ATTEND_KV_F16, 5e-3f); }
/* Q8_0 requantizes the re-rotated keys: within its rounding of a fresh pass's keys. */
static void test_kv_shift_equals_recomputing_the_kept_tokens_q8_0(void)
{
    check_shift(one_layer32, ATTEND_KV_Q8_0, 3e-2f);
}
/* With linear RoPE scaling the shift rotates by -n_discard / factor positions' angle. */
static void test_kv_shift_follows_linear_rope_scaling(void) { check_shift(one_layer_scaled, ATTEND_KV_F32, 1e-4f); }

static void test_kv_save_load_roundtrip(void)
{
    attend_context *a = context(64, ATTEND_KV_F32), *b = context(64, ATTEND_KV_F32);
    int t[24], back[64];
    tokens_of(t, 24);
    char err[256], path[256];
    path_of(path, sizeof path, "round.kv");
    float *want = malloc(sizeof(float) * vocab), *got = malloc(sizeof(float) * vocab);
    CHECK(attend_forward(a, t, 20, 0, NULL, 0, err, sizeof err) == 0);
    CHECK(attend_kv_save(a, path, t, 19, err, sizeof err) == -1);   /* one token per position */
    CHECKF(attend_kv_save(a, path, t, 20, err, sizeof err) == 0, "%s", err);
    int n = attend_kv_load(b, path, back, 64, err, sizeof err);
    CHECKF(n == 20, "loaded %d: %s", n, err);
    CHECK(memcmp(back, t, sizeof(int) * 20) == 0 && attend_kv_size(b) == 20);
    CHECK(attend_forward(a, t + 20, 4, 20, want, 0, err, sizeof err) == 0);
    CHECK(attend_forward(b, t + 20, 4, 20, got, 0, err, sizeof err) == 0);
    CHECK(memcmp(want, got, sizeof(float) * vocab) == 0);
    /* An empty cache saves and loads too. */
    attend_context *e = context(64, ATTEND_KV_F32);
    CHECK(attend_kv_save(e, path, NULL, 0, err, sizeof err) == 0);
    CHECK(attend_kv_load(b, path, back, 64, err, sizeof err) == 0 && attend_kv_size(b) == 0);
    attend_context_free(e);
    free(want);
    free(got);
    attend_context_free(a);
    attend_context_free(b);
}

/* A Q8_0 cache on model m: logits within int8 rounding of an F32 cache's over a prompt and decode
 * steps, and a save / load round trip that continues bit for bit. */
static void check_q8_0_cache(attend_model *m, const char *name)
{
    char err[256] = "", path[256];
    const int v = attend_model_config(m)->vocab_size;
    attend_context *f = context_of(m, 64, ATTEND_KV_F32), *q = context_of(m, 64, ATTEND_KV_Q8_0),
                   *back_ctx = context_of(m, 64, ATTEND_KV_Q8_0);
    int t[48], back[64];
    tokens_in(t, 48, v);
    float *want = malloc(sizeof(float) * v), *got = malloc(sizeof(float) * v);
    float worst = 0;
    CHECK(attend_forward(f, t, 40, 0, want, 0, err, sizeof err) == 0);
    CHECK(attend_forward(q, t, 40, 0, got, 0, err, sizeof err) == 0);
    worst = fmaxf(worst, max_rel_diff(got, want, v));
    for (int i = 40; i < 44; i++) {
        CHECK(attend_forward(f, t + i, 1, i, want, 0, err, sizeof err) == 0);
        CHECK(attend_forward(q, t + i, 1, i, got, 0, err, sizeof err) == 0);
        worst = fmaxf(worst, max_rel_diff(got, want, v));
    }
    CHECKF(worst < 2e-2f && worst > 0, "%s: Q8_0 vs F32 cache: logits differ by %g of the largest", name, worst);
    path_of(path, sizeof path, "q8.kv");
    CHECKF(attend_kv_save(q, path, t, 44, err, sizeof err) == 0, "%s", err);
    CHECKF(attend_kv_load(back_ctx, path, back, 64, err, sizeof err) == 44, "%s", err);
    CHECK(attend_forward(q, t + 44, 4, 44, want, 0, err, sizeof err) == 0);
    CHECK(attend_forward(back_ctx, t + 44, 4, 44, got, 0, err, sizeof err) == 0);
    CHECKF(memcmp(want, got, sizeof(float) * v) == 0, "%s", name);
    path_of(path, sizeof path, "f32.kv");
    CHECK(attend_kv_save(f, path, t, 44, err, sizeof err) == 0);
    CHECK(attend_kv_load(back_ctx, path, back, 64, err, sizeof err) == -1 && strstr(err, "in F32") &&
          strstr(err, "in Q8_0"));
    free(want);
    free(got);
    attend_context_free(f);
    attend_context_free(q);
    attend_context_free(back_ctx);
}

/* Q8_0 caches: with heads of 32 dimensions (whole blocks) and with the default model's heads of 16
 * (each row padded with zeros to one block); an unknown type is refused. */
static void test_kv_q8_0_cache(void)
{
    char err[256] = "";
    attend_context_params p = attend_context_default_params();
    p.n_ctx = 64;
    p.kv_type = 5;
    CHECK(attend_context_new(model, &p, err, sizeof err) == NULL && strstr(err, "ATTEND_KV_Q8_0"));
    if (!heads32)
        CHECKF(0, "no model with 32-dimensional heads (make_models.py failed, see above)");
    else
        check_q8_0_cache(heads32, "heads of 32");
    CHECK(attend_model_config(model)->dim / attend_model_config(model)->n_heads == 16);
    check_q8_0_cache(model, "heads of 16");
}

/* Write `bytes` to the temporary `name`; returns its path in a static buffer. */
static const char *write_file(const char *name, const unsigned char *bytes, size_t n)
{
    static char path[256];
    path_of(path, sizeof path, name);
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(bytes, 1, n, f) == n && fclose(f) == 0);
    return path;
}

static void expect_refused(attend_context *c, const char *path, int max_tokens, const char *needle)
{
    int back[64];
    char err[256] = "";
    int n = attend_kv_load(c, path, back, max_tokens, err, sizeof err);
    CHECKF(n == -1, "%s: loaded %d positions", path, n);
    CHECKF(strstr(err, needle) != NULL, "%s: error \"%s\" lacks \"%s\"", path, err, needle);
    CHECKF(strchr(err, '\n') == NULL, "error has a newline");
    CHECK(attend_kv_size(c) == 0);
}

static void test_kv_load_refuses_what_it_cannot_trust(void)
{
    attend_context *a = context(64, ATTEND_KV_F32), *b = context(64, ATTEND_KV_F32), *h = context(64, ATTEND_KV_F16);
    int t[10];
    tokens_of(t, 10);
    char err[256], path[256];
    path_of(path, sizeof path, "good.kv");
    CHECK(attend_forward(a, t, 10, 0, NULL, 0, err, sizeof err) == 0);
    CHECK(attend_kv_save(a, path, t, 10, err, sizeof err) == 0);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    unsigned char *good = malloc(1 << 20);
    size_t n = fread(good, 1, 1 << 20, f);
    fclose(f);
    CHECK(n > 64 && n < (1 << 20));
    unsigned char *bad = malloc(n + 16);

    path_of(path, sizeof path, "no-such-dir/x.kv");
    expect_refused(b, path, 64, "cannot open");
    path_of(path, sizeof path, "good.kv");
    expect_refused(b, write_file("empty.kv", good, 0), 64, "fewer than a header and checksum");
    expect_refused(b, write_file("trunc.kv", good, n - 1), 64, "truncated");
    expect_refused(b, write_file("trunc-hdr.kv", good, 40), 64, "fewer than a header and checksum");
    memcpy(bad, good, n);
    bad[n] = 0;
    expect_refused(b, write_file("long.kv", bad, n + 1), 64, "longer than its contents");
    bad[0] = 'X';
    expect_refused(b, write_file("magic.kv", bad, n), 64, "no ATKV magic");
    memcpy(bad, good, n);
    bad[4] = 2;
    expect_refused(b, write_file("version.kv", bad, n), 64, "version 2");
    memcpy(bad, good, n);
    bad[9] ^= 1;
    expect_refused(b, write_file("model.kv", bad, n), 64, "another model");
    memcpy(bad, good, n);
    bad[n / 2] ^= 0x40;
    expect_refused(b, write_file("flip.kv", bad, n), 64, "checksum");
    memcpy(bad, good, n);
    bad[32] = 0xff;   /* n_tokens: huge, checked against the context before any size is computed */
    bad[33] = 0xff;
    bad[35] = 0x7f;
    expect_refused(b, write_file("count.kv", bad, n), 64, "more than the");
    expect_refused(b, path, 9, "more than the 9");                    /* the caller's room */
    expect_refused(h, path, 64, "in F32, this context's is");          /* another KV type */
    /* A refused file leaves an empty cache, which a forward pass from 0 refills. */
    CHECK(attend_forward(b, t, 1, 0, NULL, 0, err, sizeof err) == 0);
    free(good);
    free(bad);
    attend_context_free(a);
    attend_context_free(b);
    attend_context_free(h);
}

/* A random-weight model made by make_models.py with these arguments into the temporary folder, or
 * NULL (the tests that need it then fail, saying so). */
static attend_model *made_model(const char *name, const char *args)
{
    char path[300], cmd[700], err[256];
    snprintf(path, sizeof path, "%s/%s.gguf", tmpdir, name);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 scripts/make_models.py %s --out '%s'", args, path);
    return system(cmd) == 0 ? attend_model_load(path, NULL, err, sizeof err) : NULL;
}

int main(void)
{
    char err[256], cmd[512];
    if (!mkdtemp(tmpdir)) {
        printf("FAIL test_kv_control: mkdtemp\n");
        return 1;
    }
    model = attend_model_load(model_path(), NULL, err, sizeof err);
    if (!model) {
        printf("FAIL test_kv_control: %s\n", err);
        return 1;
    }
    vocab = attend_model_config(model)->vocab_size;
    one_layer = made_model("one-layer", "tiny-gqa --layers 1 --seed 9");
    one_layer_scaled = made_model("one-layer-scaled", "tiny-gqa --layers 1 --seed 9 --rope-scale 2");
    heads32 = made_model("heads32", "tiny-gqa --heads 4 --kv-heads 2 --seed 5");
    one_layer32 = made_model("one-layer32", "tiny-gqa --layers 1 --heads 4 --kv-heads 2 --seed 9");
    RUN(test_kv_size_follows_forward_and_truncate_rewinds);
    RUN(test_kv_size_after_an_abort_is_the_start_position);
    RUN(test_kv_copy_continues_like_the_original);
    RUN(test_kv_shift_equals_recomputing_the_kept_tokens_f32);
    RUN(test_kv_shift_equals_recomputing_the_kept_tokens_f16);
    RUN(test_kv_shift_equals_recomputing_the_kept_tokens_q8_0);
    RUN(test_kv_shift_follows_linear_rope_scaling);
    RUN(test_kv_save_load_roundtrip);
    RUN(test_kv_load_refuses_what_it_cannot_trust);
    RUN(test_kv_q8_0_cache);
    attend_model_free(model);
    attend_model_free(one_layer);
    attend_model_free(one_layer_scaled);
    attend_model_free(heads32);
    attend_model_free(one_layer32);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        printf("FAIL test_kv_control_cleanup: %s\n", cmd);
    TEST_EXIT();
}
