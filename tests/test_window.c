/* test_window.c — sliding-window attention with attention sinks, and the ring cache behind it.
 *
 * The oracle keeps every position in an ordinary cache and applies the mask by hand: query p sees
 * key j when p - W < j <= p, or j < S. The kernel under test reads a ring of S + W slots where old
 * keys have been overwritten, so agreement far past S + W positions shows both the loop bounds
 * and the slot arithmetic. */
#include "test.h"
#include "ops_fixture.h"
#include "attend.h"
#include "attention_weights.h"
#include "kernels/kernel_set.h"
#include "kv_cache.h"
#include "ops/attention.h"
#include "rope.h"
#include "ops/threadpool.h"

static const kernel_set *sets[8];
static int n_sets;

static int visible(int p, int j, int window, int sinks)
{
    return j <= p && (j > p - window || j < sinks);
}

/* Deterministic pseudo-random values in [-2, 2). */
static float noise(unsigned *state)
{
    *state = *state * 1664525u + 1013904223u;
    return (float)((*state >> 8) & 0xffff) / 16384.0f - 2.0f;
}

/* Element d of a cached key or value row, whatever the cache's type. */
static double cached(const kv_cache_layer *c, const void *row, int d)
{
    return c->type == TYPE_F16 ? fp16_to_fp32(((const uint16_t *)row)[d]) : ((const float *)row)[d];
}

/* softmax over the visible keys of the full cache, in double; also the weights if w != NULL. */
static void naive(float *out, double *w, const float *query, const kv_cache_layer *full, int p, int n_heads,
                  int window, int sinks)
{
    const int head_dim = full->head_dim, n_rep = n_heads / full->n_kv_heads;
    double *s = malloc(sizeof(double) * (size_t)(p + 1));
    for (int h = 0; h < n_heads; h++) {
        const float *q = query + (size_t)h * head_dim;
        double max = -INFINITY, sum = 0;
        for (int j = 0; j <= p; j++) {
            if (!visible(p, j, window, sinks))
                continue;
            const void *k = kv_key(full, h / n_rep, j);
            double dot = 0;
            for (int d = 0; d < head_dim; d++)
                dot += (double)q[d] * cached(full, k, d);
            s[j] = dot / sqrt((double)head_dim);
            max = s[j] > max ? s[j] : max;
        }
        for (int j = 0; j <= p; j++)
            if (visible(p, j, window, sinks))
                sum += s[j] = exp(s[j] - max);
        for (int d = 0; d < head_dim; d++) {
            double acc = 0;
            for (int j = 0; j <= p; j++)
                if (visible(p, j, window, sinks))
                    acc += s[j] / sum * cached(full, kv_value(full, h / n_rep, j), d);
            out[(size_t)h * head_dim + d] = (float)acc;
        }
        if (w)
            for (int j = 0; j <= p; j++)
                w[(size_t)h * (p + 1) + j] = visible(p, j, window, sinks) ? s[j] / sum : 0.0;
    }
    free(s);
}

/* Decode n_pos positions one at a time into a ring of sinks + window slots and compare every
 * query's output with the oracle; the first `batch` positions go in as one prefill chunk (the
 * ring must hold them without wrapping). Returns the largest difference. */
static double compare(const kernel_set *k, int threads, int n_heads, int n_kv_heads, int head_dim, int window,
                      int sinks, int n_pos, int batch, int type)
{
    const int q_dim = n_heads * head_dim, kv_dim = n_kv_heads * head_dim;
    kv_cache full, ring;
    if (kv_cache_init(&full, 1, n_pos, n_kv_heads, head_dim, type) ||
        kv_cache_init(&ring, 1, sinks + window, n_kv_heads, head_dim, type))
        abort();
    if (kv_cache_make_ring(&ring, window, sinks))
        abort();
    float *query = malloc(sizeof(float) * (size_t)n_pos * q_dim), *key = malloc(sizeof(float) * (size_t)n_pos * kv_dim);
    float *value = malloc(sizeof(float) * (size_t)n_pos * kv_dim);
    float *got = malloc(sizeof(float) * (size_t)n_pos * q_dim), *want = malloc(sizeof(float) * q_dim);
    unsigned state = (unsigned)(window * 131 + sinks * 7 + n_heads + n_kv_heads);
    for (size_t i = 0; i < (size_t)n_pos * q_dim; i++)
        query[i] = noise(&state);
    for (size_t i = 0; i < (size_t)n_pos * kv_dim; i++) {
        key[i] = noise(&state);
        value[i] = noise(&state);
    }
    kv_cache_append(&full.layers[0], 0, n_pos, key, value);
    ops_context ops = attention_ops(threads, k, n_heads, n_kv_heads, head_dim);
    kv_cache_append(&ring.layers[0], 0, batch, key, value);
    attention(&ops, got, query, &ring.layers[0], batch, 0, n_heads);
    for (int p = batch; p < n_pos; p++) {
        kv_cache_append(&ring.layers[0], p, 1, key + (size_t)p * kv_dim, value + (size_t)p * kv_dim);
        attention(&ops, got + (size_t)p * q_dim, query + (size_t)p * q_dim, &ring.layers[0], 1, p, n_heads);
    }
    double worst = 0;
    for (int p = 0; p < n_pos; p++) {
        naive(want, NULL, query + (size_t)p * q_dim, &full.layers[0], p, n_heads, window, sinks);
        for (int i = 0; i < q_dim; i++)
            worst = fmax(worst, fabs((double)got[(size_t)p * q_dim + i] - want[i]));
    }
    free_ops(&ops);
    kv_cache_free(&full);
    kv_cache_free(&ring);
    free(query), free(key), free(value), free(got), free(want);
    return worst;
}

static const int shapes[][2] = {{4, 4}, {4, 2}, {4, 1}};   /* MHA, GQA, MQA: n_heads, n_kv_heads */
static const int windows[][2] = {{1, 0}, {5, 0}, {3, 2}, {64, 4}, {70, 1}, {100, 0}};   /* W, S */

static void test_window_and_sinks_match_naive_mask_far_past_the_ring(void)
{
    for (int k = 0; k < n_sets; k++)
        for (int s = 0; s < 3; s++)
            for (int w = 0; w < 6; w++) {
                const int window = windows[w][0], sinks = windows[w][1];
                for (int type = TYPE_F32; type <= TYPE_F16; type++) {   /* both cache types */
                    double worst = compare(sets[k], 2, shapes[s][0], shapes[s][1], 16, window, sinks, 300, 1, type);
                    CHECKF(worst < 1e-5, "%s, %s cache, %d/%d heads, W %d S %d: off by %g", sets[k]->name,
                           type == TYPE_F16 ? "F16" : "F32", shapes[s][0], shapes[s][1], window, sinks, worst);
                }
            }
}

static void test_window_prefill_chunk_matches_naive_mask(void)
{
    /* a chunk that fills the ring without wrapping, then decoding on past it */
    for (int k = 0; k < n_sets; k++)
        for (int s = 0; s < 3; s++)
            for (int w = 0; w < 6; w++) {
                const int window = windows[w][0], sinks = windows[w][1];
                double worst = compare(sets[k], 1, shapes[s][0], shapes[s][1], 8, window, sinks, 200,
                                       window + sinks, TYPE_F32);
                CHECKF(worst < 1e-5, "%s, %d/%d heads, W %d S %d: off by %g", sets[k]->name, shapes[s][0],
                       shapes[s][1], window, sinks, worst);
            }
}

/* The observer's textbook weights read the ring and mask what left the window with zeros. */
static void test_attention_weights_mask_what_left_the_window(void)
{
    const int n_heads = 4, n_kv = 2, hd = 8, window = 6, sinks = 2, n_pos = 40;
    kv_cache full, ring;
    CHECK(kv_cache_init(&full, 1, n_pos, n_kv, hd, TYPE_F32) == 0);
    CHECK(kv_cache_init(&ring, 1, sinks + window, n_kv, hd, TYPE_F32) == 0);
    if (kv_cache_make_ring(&ring, window, sinks))
        abort();
    unsigned state = 5;
    float key[2 * 8], value[2 * 8], query[4 * 8], weights[4 * 40], out[4 * 8], k1[8];
    double row[40], want[4 * 40];
    for (int p = 0; p < n_pos; p++) {
        for (int i = 0; i < n_kv * hd; i++)
            key[i] = noise(&state), value[i] = noise(&state);
        for (int i = 0; i < n_heads * hd; i++)
            query[i] = noise(&state);
        kv_cache_append(&full.layers[0], p, 1, key, value);
        kv_cache_append(&ring.layers[0], p, 1, key, value);
        attention_weights(weights, row, k1, query, &ring.layers[0], 1, p, n_heads);
        naive(out, want, query, &full.layers[0], p, n_heads, window, sinks);
        for (int h = 0; h < n_heads; h++)
            for (int j = 0; j <= p; j++) {
                const float w = weights[h * (p + 1) + j];
                CHECKF(fabs(w - want[h * (p + 1) + j]) < 1e-6, "p %d head %d key %d: %g, want %g", p, h, j, w,
                       want[h * (p + 1) + j]);
                CHECK(visible(p, j, window, sinks) || w == 0.0f);
            }
    }
    kv_cache_free(&full);
    kv_cache_free(&ring);
}

/* Through the model: a long sequence past the context, fed as prefill chunks that wrap the ring
 * (attended one token at a time inside the chunk) and as single decode steps, gives the same
 * logits; with 1 and 2 threads; and a window wider than the sequence changes nothing. */
static float *run_model(const attend_model *m, int window, int sinks, int threads, const int *ids, int n, int batch)
{
    const int vocab = attend_model_config(m)->vocab_size;
    char err[256];
    attend_context_params p = attend_context_default_params();
    p.n_ctx = 64;
    p.n_threads = threads;
    p.window = window;
    p.sinks = sinks;
    attend_context *ctx = attend_context_new(m, &p, err, sizeof err);
    float *logits = malloc(sizeof(float) * (size_t)n * vocab);
    if (!ctx || !logits)
        abort();
    for (int pos = 0; pos < n; pos += batch) {
        int len = n - pos < batch ? n - pos : batch;
        if (attend_forward(ctx, ids + pos, len, pos, logits + (size_t)pos * vocab, 1, err, sizeof err) != 0)
            abort();
    }
    attend_context_free(ctx);
    return logits;
}

static void test_ring_runs_past_the_context_the_same_in_chunks_and_steps(void)
{
    char err[256];
    attend_model *m = attend_model_load("models/stories-attend.gguf", NULL, err, sizeof err);
    CHECKF(m, "%s", err);
    const int vocab = attend_model_config(m)->vocab_size, n = 200;
    int ids[200];
    for (int i = 0; i < n; i++)
        ids[i] = i == 0 ? 1 : 50 + (i * 97) % 400;
    float *steps = run_model(m, 16, 4, 1, ids, n, 1), *chunks = run_model(m, 16, 4, 2, ids, n, 50);
    double worst = 0;
    for (size_t i = 0; i < (size_t)n * vocab; i++)
        worst = fmax(worst, fabs((double)steps[i] - chunks[i]));
    CHECKF(worst < 1e-4, "chunked and step-by-step logits differ by %g", worst);
    free(chunks);
    /* positions 0 .. 59 all fit in a window of 60: the same as full attention */
    float *full = run_model(m, 0, 0, 1, ids, 60, 60), *wide = run_model(m, 60, 4, 1, ids, 60, 60);
    worst = 0;
    for (size_t i = 0; i < (size_t)60 * vocab; i++)
        worst = fmax(worst, fabs((double)full[i] - wide[i]));
    /* (the sinks are a range of their own, so the tiles and the order of the sums differ slightly) */
    CHECKF(worst < 1e-4, "a window wider than the text changed the logits by %g", worst);
    free(steps), free(full), free(wide);
    attend_model_free(m);
}

static void test_context_rejects_bad_windows(void)
{
    char err[256];
    attend_model *m = attend_model_load("models/stories-attend.gguf", NULL, err, sizeof err);
    CHECKF(m, "%s", err);
    const int bad[][2] = {{-1, 0}, {0, 2}, {8, -1}, {60, 8}, {65, 0}};
    for (int i = 0; i < 5; i++) {
        attend_context_params p = attend_context_default_params();
        p.n_ctx = 64;
        p.window = bad[i][0];
        p.sinks = bad[i][1];
        CHECKF(attend_context_new(m, &p, err, sizeof err) == NULL, "window %d sinks %d accepted", bad[i][0],
               bad[i][1]);
    }
    attend_model_free(m);
}

/* RoPE by hand in double: pair (2i, 2i+1) turned by pos * 10000^(-2i/d). */
static void rotate(double *out, const float *in, int d, int pos)
{
    for (int i = 0; i < d / 2; i++) {
        const double angle = pos * pow(10000.0, -2.0 * i / d);
        out[2 * i] = in[2 * i] * cos(angle) - in[2 * i + 1] * sin(angle);
        out[2 * i + 1] = in[2 * i] * sin(angle) + in[2 * i + 1] * cos(angle);
    }
}

/* StreamingLLM's positions: what is in the cache at step p — the sinks, then the window — is
 * numbered 0, 1, 2, ... in cache order, query included. The oracle rotates unrotated queries and
 * keys by those positions; the engine's way (keys rotated by absolute position when appended, the
 * sinks re-rotated by kv_cache_place_sinks before each step) must give the same attention. */
static void test_sinks_sit_at_cache_positions_as_in_streamingllm(void)
{
    enum { N_HEADS = 4, N_KV = 2, HD = 8, N_POS = 90 };
    const int windows_sinks[][2] = {{5, 2}, {16, 4}, {7, 1}};
    for (int c = 0; c < 3; c++) {
        const int window = windows_sinks[c][0], sinks = windows_sinks[c][1];
        kv_cache ring;
        CHECK(kv_cache_init(&ring, 1, sinks + window, N_KV, HD, TYPE_F32) == 0);
        CHECK(kv_cache_make_ring(&ring, window, sinks) == 0);
        ops_context ops;
        CHECK(ops_context_init(&ops, threadpool_new(1), sets[0], 0, attention_scratch_floats(N_HEADS, N_KV, HD), 0) == 0);
        static float query[N_POS][N_HEADS * HD], key[N_POS][N_KV * HD], value[N_POS][N_KV * HD];
        unsigned state = 11u + (unsigned)c;
        for (int p = 0; p < N_POS; p++) {
            for (int i = 0; i < N_HEADS * HD; i++)
                query[p][i] = noise(&state);
            for (int i = 0; i < N_KV * HD; i++)
                key[p][i] = noise(&state), value[p][i] = noise(&state);
        }
        double worst = 0;
        for (int p = 0; p < N_POS; p++) {
            float cs[HD / 2], sn[HD / 2], q[N_HEADS * HD], k[N_KV * HD], out[N_HEADS * HD];
            memcpy(q, query[p], sizeof q);
            memcpy(k, key[p], sizeof k);
            rope_angles(cs, sn, HD, p, 10000.0f, 1.0f);
            rope(q, N_HEADS, HD, HD, cs, sn);
            rope(k, N_KV, HD, HD, cs, sn);
            kv_cache_append(&ring.layers[0], p, 1, k, value[p]);
            if (kv_sink_shift(&ring.layers[0], p) > 0) {
                rope_angles(cs, sn, HD, kv_sink_shift(&ring.layers[0], p), 10000.0f, 1.0f);
                kv_cache_place_sinks(&ring.layers[0], cs, sn, HD);
            }
            attention(&ops, out, q, &ring.layers[0], 1, p, N_HEADS);

            const int first = p - window + 1 > sinks ? p - window + 1 : sinks;   /* oldest window key */
            for (int h = 0; h < N_HEADS; h++) {
                const int g = h / (N_HEADS / N_KV);
                double qr[HD], kr[HD], score[N_POS], max = -INFINITY, sum = 0;
                rotate(qr, query[p] + h * HD, HD, p < sinks ? p : sinks + (p - first));
                for (int j = 0; j <= p; j++) {
                    if (!visible(p, j, window, sinks))
                        continue;
                    rotate(kr, key[j] + g * HD, HD, j < sinks ? j : sinks + (j - first));
                    double dot = 0;
                    for (int d = 0; d < HD; d++)
                        dot += qr[d] * kr[d];
                    score[j] = dot / sqrt((double)HD);
                    max = score[j] > max ? score[j] : max;
                }
                for (int j = 0; j <= p; j++)
                    if (visible(p, j, window, sinks))
                        sum += score[j] = exp(score[j] - max);
                for (int d = 0; d < HD; d++) {
                    double want = 0;
                    for (int j = 0; j <= p; j++)
                        if (visible(p, j, window, sinks))
                            want += score[j] / sum * value[j][g * HD + d];
                    worst = fmax(worst, fabs(want - out[h * HD + d]));
                }
            }
        }
        threadpool_free(ops.pool);
        ops_context_free(&ops);
        kv_cache_free(&ring);
        CHECKF(worst < 1e-5, "W %d S %d: off by %g", window, sinks, worst);
    }
}

int main(void)
{
    n_sets = kernel_sets_supported(sets, 8);
    RUN(test_window_and_sinks_match_naive_mask_far_past_the_ring);
    RUN(test_window_prefill_chunk_matches_naive_mask);
    RUN(test_attention_weights_mask_what_left_the_window);
    RUN(test_sinks_sit_at_cache_positions_as_in_streamingllm);
    RUN(test_ring_runs_past_the_context_the_same_in_chunks_and_steps);
    RUN(test_context_rejects_bad_windows);
    TEST_EXIT();
}
