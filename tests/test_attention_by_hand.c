/* test_attention_by_hand.c — the worked example of docs/attention.md ("Attention by hand"), number
 * for number: three tokens, one head of dimension 2. The fast kernel (attention()) must give the
 * outputs written in the doc, and the observer's weights (attention_weights()) the weights. */
#include "test.h"
#include "attention_weights.h"
#include "kv_cache.h"
#include "ops/attention.h"

/* The doc's inputs: one row per token (position 0, 1, 2). */
static const float QUERY[3][2] = {{1, 0}, {0, 1}, {1, 1}};
static const float KEY[3][2] = {{1, 0}, {0, 2}, {1, 1}};
static const float VALUE[3][2] = {{1, 0}, {0, 1}, {1, 1}};

/* The doc's results, rounded to 5 decimals there: weights (row = query, column = key; the causal
 * mask leaves the upper triangle at 0) and outputs. */
static const double WEIGHT[3][3] = {{1, 0, 0}, {0.19557, 0.80443, 0}, {0.19778, 0.40111, 0.40111}};
static const double OUT[3][2] = {{1, 0}, {0.19557, 0.80443}, {0.59889, 0.80222}};

/* A one-layer F32 cache with one key/value head, holding the doc's keys and values. */
static kv_cache_layer doc_cache(kv_cache *store)
{
    CHECK(kv_cache_init(store, 1, 3, 1, 2, TYPE_F32) == 0);
    kv_cache_append(&store->layers[0], 0, 3, &KEY[0][0], &VALUE[0][0]);
    return store->layers[0];
}

/* The three tokens as one batch (prefill), and again one at a time (decode): the same outputs,
 * with every kernel set this CPU runs. */
static void test_attention_by_hand_kernel_gives_the_doc_outputs(void)
{
    const kernel_set *sets[8];
    const int n_sets = kernel_sets_supported(sets, 8);
    kv_cache store;
    kv_cache_layer c = doc_cache(&store);
    float out[6];
    for (int k = 0; k < n_sets; k++) {
        ops_context ops;
        CHECK(ops_context_init(&ops, threadpool_new(1), sets[k], 0, attention_scratch_floats(1, 1, 2), 0) == 0);
        attention(&ops, out, &QUERY[0][0], &c, 3, 0, 1);
        for (int t = 0; t < 3; t++)
            for (int d = 0; d < 2; d++)
                CHECKF(fabs(out[t * 2 + d] - OUT[t][d]) < 1e-5, "%s prefill: token %d dim %d: %.6f, doc %.5f",
                       sets[k]->name, t, d, out[t * 2 + d], OUT[t][d]);
        for (int t = 0; t < 3; t++) {
            attention(&ops, out, QUERY[t], &c, 1, t, 1);
            for (int d = 0; d < 2; d++)
                CHECKF(fabs(out[d] - OUT[t][d]) < 1e-5, "%s decode: token %d dim %d: %.6f, doc %.5f",
                       sets[k]->name, t, d, out[d], OUT[t][d]);
        }
        threadpool_free(ops.pool);
        ops_context_free(&ops);
    }
    kv_cache_free(&store);
}

static void test_attention_by_hand_weights_are_the_doc_weights(void)
{
    float w[9];
    double row[3];
    float key_row[2];
    kv_cache store;
    kv_cache_layer c = doc_cache(&store);
    attention_weights(w, row, key_row, &QUERY[0][0], &c, 3, 0, 1);
    kv_cache_free(&store);
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
