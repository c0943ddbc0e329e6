/* attention_cost.c — how the time of attention grows with the context: the attention kernel alone
 * (no projections, no feed-forward), one layer of the TinyLlama 1.1B shape (32 query heads, 4
 * key/value heads, head_dim 64) or of the shape given, random queries, keys and values.
 *
 *   make build/libattend_internal.a && gcc -std=c11 -O3 -march=native -D_GNU_SOURCE -Isrc \
 *       -o build/attention_cost scripts/attention_cost.c build/libattend_internal.a \
 *       -lsentencepiece -lstdc++ -lm -lpthread && build/attention_cost [threads [heads kv_heads head_dim]]
 *
 * (the internal archive: the kernel is not part of the public API, which libattend.a keeps to)
 *
 * prefill: all n queries of an n-token prompt (query t sees keys 0..t): n(n+1)/2 query-key pairs
 * per head, so doubling n should take about 4x the time. decode: one query at position n-1 over
 * n keys, linear in n. Times are CPU time, the best of 3 runs (decode: of 3 x 20 steps). A
 * measurement, not a test. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "kernels/kernel_set.h"
#include "kv_cache.h"
#include "ops/attention.h"
#include "ops/threadpool.h"

/* CPU time of this process: with one thread it is the kernel's own work, and it moves much less
 * than wall time when other jobs share the cores. With more threads it adds theirs up. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    const int threads = argc > 1 ? atoi(argv[1]) : 1;
    const int n_heads = argc > 4 ? atoi(argv[2]) : 32, n_kv = argc > 4 ? atoi(argv[3]) : 4, hd = argc > 4 ? atoi(argv[4]) : 64;
    if (n_heads < 1 || n_kv < 1 || n_heads % n_kv || hd < 1 || hd > 1024) {
        fprintf(stderr, "attention_cost: heads must be a multiple of kv_heads, head_dim 1..1024\n");
        return 1;
    }
    threadpool *pool = threadpool_new(threads > 0 ? threads : 1);
    ops_context ops;
    if (!pool || ops_context_init(&ops, pool, kernel_set_best(), 0, attention_scratch_floats(n_heads, n_kv, hd), 0)) {
        fprintf(stderr, "attention_cost: out of memory\n");
        return 1;
    }
    printf("one layer, %d query heads, %d kv heads, head_dim %d, %d thread(s)\n", n_heads, n_kv, hd, threadpool_size(pool));
    printf("| context n | prefill of n tokens (CPU ms) | x previous | decode at n (CPU us) | x previous |\n");
    printf("|---:|---:|---:|---:|---:|\n");
    double last_prefill = 0, last_decode = 0;
    for (int n = 128; n <= 2048; n *= 2) {
        kv_cache cache;
        if (kv_cache_init(&cache, 1, n, n_kv, hd, TYPE_F32) != 0) {
            fprintf(stderr, "attention_cost: out of memory\n");
            return 1;
        }
        kv_cache_layer c = cache.layers[0];
        float *keys = c.key, *values = c.value;
        float *q = malloc(sizeof(float) * (size_t)n * n_heads * hd), *out = malloc(sizeof(float) * (size_t)n * n_heads * hd);
        for (size_t i = 0; i < (size_t)n_kv * n * hd; i++) {
            keys[i] = (float)rand() / RAND_MAX - 0.5f;
            values[i] = (float)rand() / RAND_MAX - 0.5f;
        }
        for (size_t i = 0; i < (size_t)n * n_heads * hd; i++)
            q[i] = (float)rand() / RAND_MAX - 0.5f;
        double best_prefill = 1e9, best_decode = 1e9;
        for (int rep = 0; rep < 3; rep++) {   /* the best of 3: the least disturbed by other work */
            double t0 = now();
            attention(&ops, out, q, &c, n, 0, n_heads);
            double t1 = now();
            for (int k = 0; k < 20; k++)
                attention(&ops, out, q, &c, 1, n - 1, n_heads);
            double t2 = now();
            best_prefill = t1 - t0 < best_prefill ? t1 - t0 : best_prefill;
            best_decode = (t2 - t1) / 20 < best_decode ? (t2 - t1) / 20 : best_decode;
        }
        char ratio_prefill[16] = "", ratio_decode[16] = "";
        if (last_prefill > 0) {
            snprintf(ratio_prefill, sizeof ratio_prefill, "%.1f", best_prefill / last_prefill);
            snprintf(ratio_decode, sizeof ratio_decode, "%.1f", best_decode / last_decode);
        }
        printf("| %d | %.1f | %s | %.0f | %s |\n", n, best_prefill * 1e3, ratio_prefill, best_decode * 1e6,
               ratio_decode);
        last_prefill = best_prefill, last_decode = best_decode;
        kv_cache_free(&cache);
        free(q), free(out);
    }
    ops_context_free(&ops);
    threadpool_free(pool);
    return 0;
}
