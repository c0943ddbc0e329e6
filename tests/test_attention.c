/* test_attention.c — the tiled online-softmax kernel against the textbook formula, with every
 * kernel set this CPU runs and both KV cache types. */
#include "test.h"
#include "ops_fixture.h"
#include "kernels/kernel_set.h"
#include "kv_cache.h"
#include "ops/attention.h"
#include "ops/threadpool.h"

static const kernel_set *sets[8];
static int n_sets;

/* Element d of the key (value) of position j, whatever the cache's type. */
static float cached(const kv_cache_layer *c, const void *row, int d)
{
    if (c->type == TYPE_Q8_0) {   /* block d / 32 of the row: an fp16 scale, then 32 int8 */
        const block_q8_0 *b = (const block_q8_0 *)row + d / 32;
        return fp16_to_fp32(b->d) * b->qs[d % 32];
    }
    return c->type == TYPE_F16 ? fp16_to_fp32(((const uint16_t *)row)[d]) : ((const float *)row)[d];
}

/* Fill every row ([kv_head][slot], head_dim each) of the keys or values from floats, in the
 * cache's type (Q8_0 rows are quantized whole, padded with zeros to stored_dim; they cannot be
 * written an element at a time). */
static void fill_rows(const kv_cache_layer *c, void *base, const float *from)
{
    float row[1024] = {0};
    for (size_t r = 0; r < (size_t)c->n_kv_heads * c->n_ctx; r++) {
        memcpy(row, from + r * c->head_dim, sizeof(float) * c->head_dim);
        type_traits_of(c->type)->from_float(row, (char *)base + r * c->row_bytes, c->stored_dim);
    }
}

/* A one-layer cache of the given type, zeroed (kept alive by store). */
static kv_cache_layer make_cache(kv_cache *store, int n_ctx, int n_kv_heads, int head_dim, int type)
{
    if (kv_cache_init(store, 1, n_ctx, n_kv_heads, head_dim, type) != 0)
        abort();
    return store->layers[0];
}

/* Set element i (in [kv_head][pos][d] order) of the keys or values. */
static void set_at(const kv_cache_layer *c, void *base, size_t i, float v)
{
    if (c->type == TYPE_F16)
        ((uint16_t *)base)[i] = fp32_to_fp16(v);
    else
        ((float *)base)[i] = v;
}

/* The oracle: materialise every score row in double, softmax it, weight the values. Keys a
 * ring's window hides get weight 0; the ring must not have wrapped (slot = position). */
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
            const int kv_head = h / n_rep, p = pos0 + t, n_keys = p + 1;
            double max = -INFINITY, sum = 0.0;
            for (int j = 0; j < n_keys; j++) {
                double s = 0.0;
                for (int d = 0; d < head_dim; d++)
                    s += (double)q[d] * cached(c, kv_key(c, kv_head, j), d);
                scores[j] = s * scale;
                /* a ring's window and sinks (kv_cache.h): the rest of the keys get weight 0 */
                if (c->window && !(j < c->sinks || j > p - c->window))
                    scores[j] = -INFINITY;
                max = scores[j] > max ? scores[j] : max;
            }
            for (int j = 0; j < n_keys; j++)
                sum += scores[j] = exp(scores[j] - max);
            for (int d = 0; d < head_dim; d++) {
                double v = 0.0;
                for (int j = 0; j < n_keys; j++)
                    v += scores[j] / sum * cached(c, kv_value(c, kv_head, j), d);
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

/* Relative error of the tiled kernel vs the oracle for one configuration, with every kernel set
 * and every cache type (F32, F16, Q8_0: rows of heads that are not whole blocks padded): the largest error
 * of them. The oracle reads the cache's own rounded values, so the bound does not depend on the type. */
static double compare_ring(int threads, int n_heads, int n_kv_heads, int head_dim, int pos0, int n_tokens,
                           float spread, int window, int sinks)
{
    const int n_ctx = window ? window + sinks : pos0 + n_tokens;
    const size_t q_floats = (size_t)n_tokens * n_heads * head_dim, kv = (size_t)n_kv_heads * n_ctx * head_dim;
    float *q = malloc(sizeof(float) * q_floats), *got = malloc(sizeof(float) * q_floats),
          *want = malloc(sizeof(float) * q_floats), *keys = malloc(sizeof(float) * kv),
          *values = malloc(sizeof(float) * kv);
    for (size_t i = 0; i < kv; i++) {
        keys[i] = uniform() * spread;   /* a large spread makes the running max move often */
        values[i] = uniform();
    }
    for (size_t i = 0; i < q_floats; i++)
        q[i] = uniform();
    double worst = 0;
    const int types[] = {TYPE_F32, TYPE_F16, TYPE_Q8_0};
    for (int ti = 0; ti < 3; ti++) {
        const int type = types[ti];
        kv_cache store;
        kv_cache_layer c = make_cache(&store, n_ctx, n_kv_heads, head_dim, type);
        if (window && kv_cache_make_ring(&store, window, sinks) != 0)
            abort();
        c = store.layers[0];
        fill_rows(&c, c.key, keys);
        fill_rows(&c, c.value, values);
        attention_naive(want, q, &c, n_tokens, pos0, n_heads);
        for (int k = 0; k < n_sets; k++) {
            ops_context ops = attention_ops(threads, sets[k], n_heads, n_kv_heads, head_dim);
            attention(&ops, got, q, &c, n_tokens, pos0, n_heads);
            free_ops(&ops);
            double num = 0, den = 0;
            for (size_t i = 0; i < q_floats; i++) {
                num += (double)(got[i] - want[i]) * (got[i] - want[i]);
                den += (double)want[i] * want[i];
            }
            double e = sqrt(num / (den > 0 ? den : 1));
            worst = e > worst || e != e ? e : worst;
        }
        kv_cache_free(&store);
    }
    free(q); free(got); free(want); free(keys); free(values);
    return worst;
}

static double compare(int threads, int n_heads, int n_kv_heads, int head_dim, int pos0, int n_tokens, float spread)
{
    return compare_ring(threads, n_heads, n_kv_heads, head_dim, pos0, n_tokens, spread, 0, 0);
}

/* Decode: one query at every length from 1 to 300, across the 64-key tile edges. */
static void test_attention_matches_naive_softmax_across_tiles(void)
{
    for (int len = 1; len <= 300; len++) {
        double e = compare(2, 4, 4, 16, len - 1, 1, 4.0f);
        CHECKF(e < 1e-5, "length %d: relative error %g", len, e);
    }
}

/* Multi-head, grouped-query (2:1, 4:1) and multi-query layouts, several head sizes. */
static void test_attention_matches_naive_for_mha_gqa_mqa(void)
{
    const int layouts[][3] = {{8, 8, 32}, {8, 4, 48}, {8, 2, 64}, {8, 1, 64}, {4, 1, 128}, {6, 3, 8}};
    for (size_t i = 0; i < sizeof layouts / sizeof *layouts; i++)
        for (int len = 1; len <= 200; len += 33) {
            double e = compare(3, layouts[i][0], layouts[i][1], layouts[i][2], len - 1, 1, 3.0f);
            CHECKF(e < 1e-5, "heads %d kv_heads %d head_dim %d length %d: error %g", layouts[i][0],
                   layouts[i][1], layouts[i][2], len, e);
        }
}

/* Prefill: a batch of queries, each masked to its own position (the causal bound). */
static void test_attention_batch_is_causal(void)
{
    for (int pos0 = 0; pos0 <= 130; pos0 += 65) {
        double e = compare(2, 8, 2, 32, pos0, 70, 2.0f);
        CHECKF(e < 1e-5, "pos0 %d: relative error %g", pos0, e);
    }
}

/* Huge scores must not overflow: the online max keeps every exp() <= 1. */
static void test_attention_survives_large_scores(void)
{
    double e = compare(1, 2, 1, 64, 150, 1, 200.0f);
    CHECKF(e < 1e-4 && e == e, "relative error %g", e);
}

/* A NaN in the cache (from corrupt weights) must reach the output, not vanish into a zero weight:
 * the CLI relies on non-finite logits to report a corrupt model. */
static void test_attention_propagates_nan(void)
{
    const int hd = 16, n_ctx = 70;
    for (int type = TYPE_F32; type <= TYPE_F16; type++)
        for (int k = 0; k < n_sets; k++) {
            kv_cache store;
            kv_cache_layer c = make_cache(&store, n_ctx, 1, hd, type);
            float q[16], out[16];
            for (int i = 0; i < hd; i++)
                q[i] = 0.1f * i;
            set_at(&c, c.key, 5 * hd + 3, NAN);
            ops_context ops = attention_ops(1, sets[k], 1, 1, hd);
            attention(&ops, out, q, &c, 1, n_ctx - 1, 1);
            free_ops(&ops);
            kv_cache_free(&store);
            CHECKF(isnan(out[0]), "%s, %s cache", sets[k]->name, type == TYPE_F16 ? "F16" : "F32");
        }
}

/* Thread count changes nothing: the same work items compute the same floats. */
static void test_attention_identical_across_thread_counts(void)
{
    const int n_heads = 8, n_kv = 2, hd = 32, n_ctx = 100;
    kv_cache store;
    kv_cache_layer c = make_cache(&store, n_ctx, n_kv, hd, TYPE_F32);
    for (int i = 0; i < n_kv * n_ctx * hd; i++) {
        set_at(&c, c.key, i, uniform());
        set_at(&c, c.value, i, uniform());
    }
    float q[8 * 32 * 3], out[3][8 * 32 * 3];
    for (int i = 0; i < 8 * 32 * 3; i++)
        q[i] = uniform();
    for (int threads = 1; threads <= 3; threads++) {
        ops_context ops = attention_ops(threads, sets[n_sets - 1], n_heads, n_kv, hd);
        attention(&ops, out[threads - 1], q, &c, 3, 97, n_heads);
        free_ops(&ops);
    }
    CHECK(memcmp(out[0], out[1], sizeof out[0]) == 0);
    CHECK(memcmp(out[0], out[2], sizeof out[0]) == 0);
    kv_cache_free(&store);
}

/* Decoding a multi-query model splits each group's query heads across threads: same bits. */
static void test_attention_split_groups_give_identical_results(void)
{
    const int n_heads = 8, hd = 64, n_ctx = 150;
    kv_cache store;
    kv_cache_layer c = make_cache(&store, n_ctx, 1, hd, TYPE_F16);
    for (int i = 0; i < n_ctx * hd; i++) {
        set_at(&c, c.key, i, uniform());
        set_at(&c, c.value, i, uniform());
    }
    float q[8 * 64], out[4][8 * 64];
    for (int i = 0; i < n_heads * hd; i++)
        q[i] = uniform();
    for (int threads = 1; threads <= 4; threads++) {
        ops_context ops = attention_ops(threads, sets[n_sets - 1], n_heads, 1, hd);
        attention(&ops, out[threads - 1], q, &c, 1, n_ctx - 1, n_heads);
        free_ops(&ops);
    }
    for (int i = 1; i < 4; i++)
        CHECKF(memcmp(out[0], out[i], sizeof out[0]) == 0, "%d threads differ from 1", i + 1);
    kv_cache_free(&store);
}

/* Prefill (several query tokens) goes through query blocks against key tiles: every head size
 * (multiples of 16, of 8 only, and neither, which pad the value rows), n_rep from multi-head to
 * 8:1, and prompts that end inside a block of 16 tokens and inside a key tile of 64, from
 * position 0 or later. */
static void test_attention_prefill_matches_naive_for_many_shapes(void)
{
    const int head_dims[] = {8, 12, 48, 64, 80, 128}, reps[] = {1, 2, 3, 4, 8};
    const int prompts[][2] = {{2, 0}, {5, 3}, {16, 0}, {17, 47}, {37, 64}, {70, 0}, {129, 63}};
    int k = 0;
    for (size_t h = 0; h < sizeof head_dims / sizeof *head_dims; h++)
        for (size_t r = 0; r < sizeof reps / sizeof *reps; r++)
            for (size_t p = 0; p < sizeof prompts / sizeof *prompts; p++, k++) {
                if (k % 3 && head_dims[h] * reps[r] >= 256)   /* big shapes: a third of the prompts */
                    continue;
                const int n_kv = reps[r] >= 4 ? 1 : 2, n_tokens = prompts[p][0], pos0 = prompts[p][1];
                double e = compare(1 + k % 3, n_kv * reps[r], n_kv, head_dims[h], pos0, n_tokens, 3.0f);
                CHECKF(e < 1e-5, "head_dim %d n_rep %d kv_heads %d: %d tokens from %d: error %g", head_dims[h],
                       reps[r], n_kv, n_tokens, pos0, e);
            }
}

/* A prompt into a ring with sinks (it must fit the ring unwrapped, as forward.c sends it). */
static void test_attention_prefill_into_a_ring_with_sinks(void)
{
    const int cases[][5] = {/* window, sinks, pos0, n_tokens, head_dim */
                            {60, 4, 0, 64, 16}, {60, 4, 20, 44, 48}, {32, 0, 0, 32, 64}, {100, 3, 7, 90, 8}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        double e = compare_ring(2, 4, 2, cases[i][4], cases[i][2], cases[i][3], 2.0f, cases[i][0], cases[i][1]);
        CHECKF(e < 1e-5, "window %d sinks %d: %d tokens from %d: error %g", cases[i][0], cases[i][1], cases[i][3],
               cases[i][2], e);
    }
}

/* Blocks are fixed by the number of tokens, not by the threads: the same bits for 1 to 4 threads,
 * with an F16 cache, grouped queries and a head size that pads. */
static void test_attention_prefill_identical_across_thread_counts(void)
{
    const int n_heads = 6, n_kv = 2, hd = 40, n_tokens = 53, pos0 = 11, n_ctx = pos0 + n_tokens;
    kv_cache store;
    kv_cache_layer c = make_cache(&store, n_ctx, n_kv, hd, TYPE_F16);
    for (int i = 0; i < n_kv * n_ctx * hd; i++) {
        set_at(&c, c.key, i, uniform() * 3.0f);
        set_at(&c, c.value, i, uniform());
    }
    const size_t n = (size_t)n_tokens * n_heads * hd;
    float *q = malloc(sizeof(float) * n), *out[4];
    for (size_t i = 0; i < n; i++)
        q[i] = uniform();
    for (int threads = 1; threads <= 4; threads++) {
        out[threads - 1] = malloc(sizeof(float) * n);
        ops_context ops = attention_ops(threads, sets[n_sets - 1], n_heads, n_kv, hd);
        attention(&ops, out[threads - 1], q, &c, n_tokens, pos0, n_heads);
        free_ops(&ops);
    }
    for (int i = 1; i < 4; i++)
        CHECKF(memcmp(out[0], out[i], sizeof(float) * n) == 0, "%d threads differ from 1", i + 1);
    for (int i = 0; i < 4; i++)
        free(out[i]);
    free(q);
    kv_cache_free(&store);
}

/* In a prompt, a NaN in the key or the value of position 9 reaches the queries from position 9
 * on, and not the earlier ones of the same query block, to which that key is masked (weight 0,
 * and 0 * NaN would be NaN). */
static void test_attention_prefill_nan_stays_behind_the_mask(void)
{
    const int hd = 16, n_tokens = 20;
    for (int in_value = 0; in_value <= 1; in_value++)
        for (int type = TYPE_F32; type <= TYPE_F16; type++) {
            kv_cache store;
            kv_cache_layer c = make_cache(&store, n_tokens, 1, hd, type);
            for (int i = 0; i < n_tokens * hd; i++) {
                set_at(&c, c.key, i, uniform());
                set_at(&c, c.value, i, uniform());
            }
            set_at(&c, in_value ? c.value : c.key, 9 * hd + 3, NAN);
            float q[20 * 16], out[20 * 16];
            for (int i = 0; i < n_tokens * hd; i++)
                q[i] = uniform();
            ops_context ops = attention_ops(2, sets[n_sets - 1], 1, 1, hd);
            attention(&ops, out, q, &c, n_tokens, 0, 1);
            free_ops(&ops);
            kv_cache_free(&store);
            int finite_before = 1, nan_after = 1;
            for (int t = 0; t < n_tokens; t++)
                for (int d = 0; d < hd; d++) {
                    if (t < 9)
                        finite_before &= isfinite(out[t * hd + d]) != 0;
                    else if (!in_value || d == 3)   /* a NaN key spoils the whole row, a value one element */
                        nan_after &= isnan(out[t * hd + d]) != 0;
                }
            CHECKF(finite_before && nan_after, "NaN in the %s, %s cache: finite before %d, NaN after %d",
                   in_value ? "value" : "key", type == TYPE_F16 ? "F16" : "F32", finite_before, nan_after);
        }
}

/* kv_cache_append stores each token's kv_head rows where kv_key/kv_value find them. */
/* Q8_0 rows of heads that are not whole blocks: stored padded with zeros to the next block (row
 * bytes 34 per block), read back as head_dim floats and no more, each within half a step (its
 * block's largest / 127 / 2, and the fp16 rounding of that scale) of what was appended. */
static void test_kv_cache_q8_0_pads_short_heads(void)
{
    const int head_dims[] = {4, 16, 40, 80};
    for (size_t h = 0; h < sizeof head_dims / sizeof *head_dims; h++) {
        const int hd = head_dims[h], blocks = (hd + 31) / 32;
        kv_cache store;
        CHECK(kv_cache_init(&store, 1, 3, 2, hd, TYPE_Q8_0) == 0);
        kv_cache_layer *c = &store.layers[0];
        CHECKF(c->stored_dim == 32 * blocks && c->row_bytes == (size_t)34 * blocks, "head_dim %d: %d, %zu", hd,
               c->stored_dim, c->row_bytes);
        float key[2 * 80], value[2 * 80], back[80 + 1];
        for (int i = 0; i < 2 * hd; i++)
            key[i] = 0.37f * (float)(i % 11) - 1.3f, value[i] = -0.21f * (float)(i % 7);
        kv_cache_append(c, 1, 1, key, value);
        for (int g = 0; g < 2; g++)
            for (int kind = 0; kind < 2; kind++) {
                const float *want = (kind ? value : key) + g * hd;
                back[hd] = 12345.0f;   /* a canary just past the row */
                kv_row_to_float(c, kind ? kv_value(c, g, 1) : kv_key(c, g, 1), back);
                CHECKF(back[hd] == 12345.0f, "head_dim %d: the padding was written past the row", hd);
                for (int d = 0; d < hd; d++) {
                    float largest = 0;
                    for (int e = d / 32 * 32; e < d / 32 * 32 + 32 && e < hd; e++)
                        largest = fmaxf(largest, fabsf(want[e]));
                    /* half a step, plus the fp16 rounding of the scale times up to 127 steps */
                    CHECKF(fabsf(back[d] - want[d]) <= largest / 127 * (0.5f + 127.0f / 2048) + 1e-7f,
                           "head_dim %d, %s %d, dim %d: %g for %g", hd, kind ? "value" : "key", g, d, back[d], want[d]);
                }
            }
        kv_cache_free(&store);
    }
}

static void test_kv_cache_append_places_heads_and_positions(void)
{
    for (int type = TYPE_F32; type <= TYPE_F16; type++) {
        kv_cache store;
        CHECK(kv_cache_init(&store, 2, 5, 3, 4, type) == 0);
        kv_cache_layer *c = &store.layers[1];
        float key[2 * 12], value[2 * 12];
        for (int i = 0; i < 24; i++)
            key[i] = (float)i, value[i] = -(float)i;
        kv_cache_append(c, 3, 2, key, value);
        for (int t = 0; t < 2; t++)
            for (int g = 0; g < 3; g++)
                for (int d = 0; d < 4; d++) {
                    CHECK(cached(c, kv_key(c, g, 3 + t), d) == key[t * 12 + g * 4 + d]);
                    CHECK(cached(c, kv_value(c, g, 3 + t), d) == value[t * 12 + g * 4 + d]);
                }
        CHECK(cached(c, kv_key(c, 0, 2), 0) == 0 && cached(&store.layers[0], kv_key(&store.layers[0], 0, 3), 1) == 0);
        kv_cache_free(&store);
    }
}

int main(void)
{
    n_sets = kernel_sets_supported(sets, 8);
    RUN(test_kv_cache_append_places_heads_and_positions);
    RUN(test_kv_cache_q8_0_pads_short_heads);
    RUN(test_attention_matches_naive_softmax_across_tiles);
    RUN(test_attention_matches_naive_for_mha_gqa_mqa);
    RUN(test_attention_batch_is_causal);
    RUN(test_attention_survives_large_scores);
    RUN(test_attention_propagates_nan);
    RUN(test_attention_identical_across_thread_counts);
    RUN(test_attention_split_groups_give_identical_results);
    RUN(test_attention_prefill_matches_naive_for_many_shapes);
    RUN(test_attention_prefill_into_a_ring_with_sinks);
    RUN(test_attention_prefill_identical_across_thread_counts);
    RUN(test_attention_prefill_nan_stays_behind_the_mask);
    TEST_EXIT();
}
