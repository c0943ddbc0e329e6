/* test_attention.c — the tiled online-softmax kernel against the textbook formula. */
#include "test.h"
#include "attention.h"
#include "threadpool.h"

/* The oracle: materialise every score row in double, softmax it, weight the values. */
static void attention_naive(float *out, const float *query, const kv_cache_layer *c, int n_tokens,
                            int pos0, int n_heads)
{
    const int head_dim = c->head_dim, n_rep = n_heads / c->n_kv_heads;
    const double scale = 1.0 / sqrt((double)head_dim);
    double *scores = malloc(sizeof(double) * (size_t)(pos0 + n_tokens));
    for (int t = 0; t < n_tokens; t++)
        for (int h = 0; h < n_heads; h++) {
            const float *q = query + ((size_t)t * n_heads + h) * head_dim;
            float *o = out + ((size_t)t * n_heads + h) * head_dim;
            const int kv_head = h / n_rep, n_keys = pos0 + t + 1;
            double max = -INFINITY, sum = 0.0;
            for (int j = 0; j < n_keys; j++) {
                double s = 0.0;
                for (int d = 0; d < head_dim; d++)
                    s += (double)q[d] * kv_key(c, kv_head, j)[d];
                scores[j] = s * scale;
                max = scores[j] > max ? scores[j] : max;
            }
            for (int j = 0; j < n_keys; j++)
                sum += scores[j] = exp(scores[j] - max);
            for (int d = 0; d < head_dim; d++) {
                double v = 0.0;
                for (int j = 0; j < n_keys; j++)
                    v += scores[j] / sum * kv_value(c, kv_head, j)[d];
                o[d] = (float)v;
            }
        }
    free(scores);
}

static unsigned rng = 12345;
static float uniform(void)
{
    rng = rng * 1103515245u + 12345u;
    return (float)((rng >> 8) & 0xffff) / 65536.0f * 2.0f - 1.0f;
}

/* Relative error of the tiled kernel vs the oracle for one configuration. */
static double compare(threadpool *pool, int n_heads, int n_kv_heads, int head_dim, int pos0, int n_tokens,
                      float spread)
{
    const int n_ctx = pos0 + n_tokens;
    kv_cache_layer c = {malloc(sizeof(float) * (size_t)n_kv_heads * n_ctx * head_dim),
                        malloc(sizeof(float) * (size_t)n_kv_heads * n_ctx * head_dim), n_ctx, n_kv_heads,
                        head_dim};
    const size_t q_floats = (size_t)n_tokens * n_heads * head_dim;
    float *q = malloc(sizeof(float) * q_floats), *got = malloc(sizeof(float) * q_floats),
          *want = malloc(sizeof(float) * q_floats);
    float *scratch = malloc(sizeof(float) * threadpool_size(pool) *
                            attention_scratch_floats(n_heads, n_kv_heads, head_dim));
    for (size_t i = 0; i < (size_t)n_kv_heads * n_ctx * head_dim; i++) {
        c.key[i] = uniform() * spread;   /* a large spread makes the running max move often */
        c.value[i] = uniform();
    }
    for (size_t i = 0; i < q_floats; i++)
        q[i] = uniform();
    attention(pool, got, q, &c, n_tokens, pos0, n_heads, scratch);
    attention_naive(want, q, &c, n_tokens, pos0, n_heads);
    double num = 0, den = 0;
    for (size_t i = 0; i < q_floats; i++) {
        num += (double)(got[i] - want[i]) * (got[i] - want[i]);
        den += (double)want[i] * want[i];
    }
    free(c.key); free(c.value); free(q); free(got); free(want); free(scratch);
    return sqrt(num / (den > 0 ? den : 1));
}

/* Decode: one query at every length from 1 to 300, across the 64-key tile edges. */
static void test_attention_matches_naive_softmax_across_tiles(void)
{
    threadpool *pool = threadpool_new(2);
    for (int len = 1; len <= 300; len++) {
        double e = compare(pool, 4, 4, 16, len - 1, 1, 4.0f);
        CHECKF(e < 1e-5, "length %d: relative error %g", len, e);
    }
    threadpool_free(pool);
}

/* Multi-head, grouped-query (2:1, 4:1) and multi-query layouts, several head sizes. */
static void test_attention_matches_naive_for_mha_gqa_mqa(void)
{
    threadpool *pool = threadpool_new(3);
    const int layouts[][3] = {{8, 8, 32}, {8, 4, 48}, {8, 2, 64}, {8, 1, 64}, {4, 1, 128}, {6, 3, 8}};
    for (size_t i = 0; i < sizeof layouts / sizeof *layouts; i++)
        for (int len = 1; len <= 200; len += 33) {
            double e = compare(pool, layouts[i][0], layouts[i][1], layouts[i][2], len - 1, 1, 3.0f);
            CHECKF(e < 1e-5, "heads %d kv_heads %d head_dim %d length %d: error %g", layouts[i][0],
                   layouts[i][1], layouts[i][2], len, e);
        }
    threadpool_free(pool);
}

/* Prefill: a batch of queries, each masked to its own position (the causal bound). */
static void test_attention_batch_is_causal(void)
{
    threadpool *pool = threadpool_new(2);
    for (int pos0 = 0; pos0 <= 130; pos0 += 65) {
        double e = compare(pool, 8, 2, 32, pos0, 70, 2.0f);
        CHECKF(e < 1e-5, "pos0 %d: relative error %g", pos0, e);
    }
    threadpool_free(pool);
}

/* Huge scores must not overflow: the online max keeps every exp() <= 1. */
static void test_attention_survives_large_scores(void)
{
    threadpool *pool = threadpool_new(1);
    double e = compare(pool, 2, 1, 64, 150, 1, 200.0f);
    CHECKF(e < 1e-4 && e == e, "relative error %g", e);
    threadpool_free(pool);
}

/* A NaN in the cache (from corrupt weights) must reach the output, not vanish into a zero weight:
 * the CLI relies on non-finite logits to report a corrupt model. */
static void test_attention_propagates_nan(void)
{
    threadpool *pool = threadpool_new(1);
    const int hd = 16, n_ctx = 70;
    kv_cache_layer c = {calloc(n_ctx * hd, sizeof(float)), calloc(n_ctx * hd, sizeof(float)), n_ctx, 1, hd};
    float q[16], out[16], scratch[16 + 2 + ATTN_TILE];
    for (int i = 0; i < hd; i++)
        q[i] = 0.1f * i;
    c.key[5 * hd + 3] = NAN;
    attention(pool, out, q, &c, 1, n_ctx - 1, 1, scratch);
    CHECK(isnan(out[0]));
    free(c.key);
    free(c.value);
    threadpool_free(pool);
}

/* Thread count changes nothing: the same work items compute the same floats. */
static void test_attention_identical_across_thread_counts(void)
{
    const int n_heads = 8, n_kv = 2, hd = 32, n_ctx = 100;
    kv_cache_layer c = {malloc(sizeof(float) * n_kv * n_ctx * hd), malloc(sizeof(float) * n_kv * n_ctx * hd),
                        n_ctx, n_kv, hd};
    for (int i = 0; i < n_kv * n_ctx * hd; i++) {
        c.key[i] = uniform();
        c.value[i] = uniform();
    }
    float q[8 * 32 * 3], out[3][8 * 32 * 3];
    for (int i = 0; i < 8 * 32 * 3; i++)
        q[i] = uniform();
    for (int threads = 1; threads <= 3; threads++) {
        threadpool *pool = threadpool_new(threads);
        float *scratch = malloc(sizeof(float) * threads * attention_scratch_floats(n_heads, n_kv, hd));
        attention(pool, out[threads - 1], q, &c, 3, 97, n_heads, scratch);
        free(scratch);
        threadpool_free(pool);
    }
    CHECK(memcmp(out[0], out[1], sizeof out[0]) == 0);
    CHECK(memcmp(out[0], out[2], sizeof out[0]) == 0);
    free(c.key);
    free(c.value);
}

/* Decoding a multi-query model splits each group's query heads across threads: same bits. */
static void test_attention_split_groups_give_identical_results(void)
{
    const int n_heads = 8, hd = 64, n_ctx = 150;
    kv_cache_layer c = {malloc(sizeof(float) * n_ctx * hd), malloc(sizeof(float) * n_ctx * hd), n_ctx, 1, hd};
    for (int i = 0; i < n_ctx * hd; i++) {
        c.key[i] = uniform();
        c.value[i] = uniform();
    }
    float q[8 * 64], out[4][8 * 64];
    for (int i = 0; i < n_heads * hd; i++)
        q[i] = uniform();
    for (int threads = 1; threads <= 4; threads++) {
        threadpool *pool = threadpool_new(threads);
        float *scratch = malloc(sizeof(float) * threads * attention_scratch_floats(n_heads, 1, hd));
        attention(pool, out[threads - 1], q, &c, 1, n_ctx - 1, n_heads, scratch);
        free(scratch);
        threadpool_free(pool);
    }
    for (int i = 1; i < 4; i++)
        CHECKF(memcmp(out[0], out[i], sizeof out[0]) == 0, "%d threads differ from 1", i + 1);
    free(c.key);
    free(c.value);
}

int main(void)
{
    RUN(test_attention_matches_naive_softmax_across_tiles);
    RUN(test_attention_matches_naive_for_mha_gqa_mqa);
    RUN(test_attention_batch_is_causal);
    RUN(test_attention_survives_large_scores);
    RUN(test_attention_propagates_nan);
    RUN(test_attention_identical_across_thread_counts);
    RUN(test_attention_split_groups_give_identical_results);
    TEST_EXIT();
}
