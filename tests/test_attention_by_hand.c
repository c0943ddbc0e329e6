/* test_attention_by_hand.c — the worked example of docs/attention.md ("Attention by hand"), number
 * for number: three tokens, one head of dimension 2. The fast kernel (attention()) must give the
 * outputs written in the doc, and the observer's weights (attention_weights()) the weights. */
#include "test.h"
#include "attention.h"
#include "attention_weights.h"
#include "threadpool.h"

/* The doc's inputs: one row per token (position 0, 1, 2). */
static const float QUERY[3][2] = {{1, 0}, {0, 1}, {1, 1}};
static const float KEY[3][2] = {{1, 0}, {0, 2}, {1, 1}};
static const float VALUE[3][2] = {{1, 0}, {0, 1}, {1, 1}};

/* The doc's results, rounded to 5 decimals there: weights (row = query, column = key; the causal
 * mask leaves the upper triangle at 0) and outputs. */
static const double WEIGHT[3][3] = {{1, 0, 0}, {0.19557, 0.80443, 0}, {0.19778, 0.40111, 0.40111}};
static const double OUT[3][2] = {{1, 0}, {0.19557, 0.80443}, {0.59889, 0.80222}};

/* A one-layer cache with one key/value head, holding the doc's keys and values. */
static kv_cache_layer doc_cache(float *key, float *value)
{
    kv_cache_layer c = {key, value, 3, 1, 2};
    for (int t = 0; t < 3; t++)
        for (int d = 0; d < 2; d++) {
            kv_key(&c, 0, t)[d] = KEY[t][d];
            kv_value(&c, 0, t)[d] = VALUE[t][d];
        }
    return c;
}

/* The three tokens as one batch (prefill), and again one at a time (decode): the same outputs. */
static void test_attention_by_hand_kernel_gives_the_doc_outputs(void)
{
    float key[6], value[6], out[6], scratch[64 + 2 + ATTN_TILE];
    kv_cache_layer c = doc_cache(key, value);
    threadpool *pool = threadpool_new(1);
    CHECK(attention_scratch_floats(1, 1, 2) <= sizeof scratch / sizeof *scratch);
    attention(pool, out, &QUERY[0][0], &c, 3, 0, 1, scratch);
    for (int t = 0; t < 3; t++)
        for (int d = 0; d < 2; d++)
            CHECKF(fabs(out[t * 2 + d] - OUT[t][d]) < 1e-5, "prefill: token %d dim %d: %.6f, doc %.5f", t, d,
                   out[t * 2 + d], OUT[t][d]);
    for (int t = 0; t < 3; t++) {
        attention(pool, out, QUERY[t], &c, 1, t, 1, scratch);
        for (int d = 0; d < 2; d++)
            CHECKF(fabs(out[d] - OUT[t][d]) < 1e-5, "decode: token %d dim %d: %.6f, doc %.5f", t, d, out[d],
                   OUT[t][d]);
    }
    threadpool_free(pool);
}

static void test_attention_by_hand_weights_are_the_doc_weights(void)
{
    float key[6], value[6], w[9];
    double row[3];
    float key_row[2];
    kv_cache_layer c = doc_cache(key, value);
    attention_weights(w, row, key_row, &QUERY[0][0], &c, 3, 0, 1);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            CHECKF(fabs(w[i * 3 + j] - WEIGHT[i][j]) < 1e-5, "query %d key %d: %.6f, doc %.5f", i, j,
                   w[i * 3 + j], WEIGHT[i][j]);
}

int main(void)
{
    RUN(test_attention_by_hand_kernel_gives_the_doc_outputs);
    RUN(test_attention_by_hand_weights_are_the_doc_weights);
    TEST_EXIT();
}
