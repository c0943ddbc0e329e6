/* test_attention_weights.c — the weights an observer sees: they are a causal softmax, and weighting
 * the values by them gives what the fast kernel computes; through the public API, prefill and
 * token-by-token decoding show the same weights. */
#include "test.h"
#include "attend.h"
#include "attention_weights.h"
#include "kv_cache.h"
#include "ops/attention.h"

static unsigned rng = 777;
static float uniform(void)
{
    rng = rng * 1103515245u + 12345u;
    return (float)((rng >> 8) & 0xffff) / 65536.0f * 2.0f - 1.0f;
}

/* For MHA, GQA and MQA layouts and a chunk that starts mid-cache: rows sum to 1, future cells are
 * 0, and sum_j w_j v_j equals the output of attention() (the tiled kernel). */
static void test_attention_weights_reproduce_the_kernel(void)
{
    const int layouts[][3] = {{4, 4, 16}, {8, 2, 32}, {6, 1, 8}};
    for (int i = 0; i < 3; i++) {
        const int n_heads = layouts[i][0], n_kv = layouts[i][1], hd = layouts[i][2];
        const int pos0 = 70, n_tokens = 9, n_keys = pos0 + n_tokens;
        kv_cache store;
        CHECK(kv_cache_init(&store, 1, n_keys, n_kv, hd, TYPE_F32) == 0);
        kv_cache_layer c = store.layers[0];
        for (int k = 0; k < n_kv * n_keys * hd; k++) {
            ((float *)c.key)[k] = 3.0f * uniform();
            ((float *)c.value)[k] = uniform();
        }
        const size_t q_floats = (size_t)n_tokens * n_heads * hd;
        float *q = malloc(sizeof(float) * q_floats), *out = malloc(sizeof(float) * q_floats);
        float *w = malloc(sizeof(float) * (size_t)n_tokens * n_heads * n_keys);
        double *row = malloc(sizeof(double) * n_keys);
        float *key = malloc(sizeof(float) * hd);
        ops_context ops;
        CHECK(ops_context_init(&ops, threadpool_new(2), kernel_set_best(), 0,
                               attention_scratch_floats(n_heads, n_kv, hd), 0) == 0);
        for (size_t k = 0; k < q_floats; k++)
            q[k] = uniform();
        attention(&ops, out, q, &c, n_tokens, pos0, n_heads);
        attention_weights(w, row, key, q, &c, n_tokens, pos0, n_heads);
        for (int t = 0; t < n_tokens; t++)
            for (int h = 0; h < n_heads; h++) {
                const float *wr = w + ((size_t)t * n_heads + h) * n_keys;
                double sum = 0;
                for (int j = 0; j < n_keys; j++) {
                    if (j > pos0 + t)
                        CHECKF(wr[j] == 0.0f, "layout %d: future cell t %d h %d j %d is %g", i, t, h, j, wr[j]);
                    sum += wr[j];
                }
                CHECKF(fabs(sum - 1.0) < 1e-5, "layout %d: row t %d h %d sums to %.9f", i, t, h, sum);
                for (int d = 0; d < hd; d++) {
                    double v = 0;
                    for (int j = 0; j < n_keys; j++)
                        v += wr[j] * (double)((const float *)kv_value(&c, h / (n_heads / n_kv), j))[d];
                    const float got = out[((size_t)t * n_heads + h) * hd + d];
                    CHECKF(fabs(v - got) < 1e-5, "layout %d: t %d h %d d %d: weights give %g, kernel %g", i, t,
                           h, d, v, got);
                }
            }
        threadpool_free(ops.pool);
        ops_context_free(&ops);
        kv_cache_free(&store);
        free(q); free(out); free(w); free(row); free(key);
    }
}

/* What the observer collects: weights[layer][query][head][key] for a prompt of N tokens. */
enum { N = 12 };
typedef struct {
    int n_layers, n_heads, calls;
    float *w;
} collected;

static void collect(void *user, int layer, int n_tokens, int pos0, int n_heads, int n_keys, const float *weights)
{
    collected *c = user;
    c->calls++;
    for (int t = 0; t < n_tokens; t++)
        for (int h = 0; h < n_heads; h++)
            for (int j = 0; j < n_keys; j++)
                c->w[(((size_t)layer * N + pos0 + t) * n_heads + h) * N + j] =
                    weights[((size_t)t * n_heads + h) * n_keys + j];
}

static void test_observer_sees_the_same_weights_in_prefill_and_decode(void)
{
    char err[256];
    attend_model *m = attend_model_load("models/stories-attend.gguf", NULL, err, sizeof err);
    CHECKF(m, "%s", err);
    const attend_config *cfg = attend_model_config(m);
    const size_t size = (size_t)cfg->n_layers * N * cfg->n_heads * N;
    collected a = {cfg->n_layers, cfg->n_heads, 0, calloc(size, sizeof(float))};
    collected b = {cfg->n_layers, cfg->n_heads, 0, calloc(size, sizeof(float))};
    int tokens[N];
    for (int i = 0; i < N; i++)
        tokens[i] = i == 0 ? 1 : 100 + 37 * i;
    attend_context_params p = attend_context_default_params();
    p.n_ctx = 64;
    p.n_threads = 1;
    attend_context *ctx = attend_context_new(m, &p, err, sizeof err);
    CHECKF(ctx, "%s", err);
    CHECK(attend_context_set_observer(ctx, collect, &a, err, sizeof err) == 0);
    CHECK(attend_forward(ctx, tokens, N, 0, NULL, 0, err, sizeof err) == 0);
    CHECK(attend_context_set_observer(ctx, collect, &b, err, sizeof err) == 0);
    for (int i = 0; i < N; i++)
        CHECK(attend_forward(ctx, tokens + i, 1, i, NULL, 0, err, sizeof err) == 0);
    CHECK(attend_context_set_observer(ctx, NULL, NULL, err, sizeof err) == 0);
    CHECK(attend_forward(ctx, tokens, 1, 0, NULL, 0, err, sizeof err) == 0);   /* no observer: no call */
    CHECKF(a.calls == cfg->n_layers && b.calls == N * cfg->n_layers, "calls %d and %d", a.calls, b.calls);
    double worst = 0;
    for (size_t i = 0; i < size; i++)
        worst = fmax(worst, fabs((double)a.w[i] - b.w[i]));
    CHECKF(worst < 1e-5, "prefill and decode weights differ by %g", worst);
    attend_context_free(ctx);
    attend_model_free(m);
    free(a.w);
    free(b.w);
}

int main(void)
{
    RUN(test_attention_weights_reproduce_the_kernel);
    RUN(test_observer_sees_the_same_weights_in_prefill_and_decode);
    TEST_EXIT();
}
