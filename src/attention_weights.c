/* attention_weights.c — softmax(q·k/√d) with the causal mask, every weight stored, for observers.
 *
 * This is the definition the tiled kernel of attention.c computes without ever storing a weight:
 * one row of scores per query, its maximum subtracted before exp() so that nothing overflows,
 * then each exponential divided by their sum. It is plain on purpose — a reader can check it by
 * eye — and it runs only when an observer is set. */
#include "attention_weights.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One cached key as float32: the row itself when the cache holds float32, else converted into
 * `buf` (an F16 or Q8_0 cache, --kv-type). */
static const float *cached_key(const kv_cache_layer *cache, int kv_head, int pos, float *buf)
{
    if (cache->type == TYPE_F32)
        return kv_key(cache, kv_head, pos);
    kv_row_to_float(cache, kv_key(cache, kv_head, pos), buf);
    return buf;
}

/* Whether the query at position p sees the key at position j <= p: always, without a window; with
 * a sliding window of W and S sinks, when j is one of the last W positions or one of the first S. */
static int seen(const kv_cache_layer *cache, int p, int j)
{
    return !cache->window || j > p - cache->window || j < cache->sinks;
}

void attention_weights(float *weights, double *row, float *key, const float *query, const kv_cache_layer *cache,
                       int n_tokens, int pos0, int n_heads)
{
    const int head_dim = cache->head_dim, n_keys = pos0 + n_tokens;
    const int n_rep = n_heads / cache->n_kv_heads;   /* query heads per key/value head */
    const double scale = 1.0 / sqrt((double)head_dim);
    for (int t = 0; t < n_tokens; t++)
        for (int h = 0; h < n_heads; h++) {
            const float *q = query + ((size_t)t * n_heads + h) * head_dim;
            const int kv_head = h / n_rep;
            const int visible = pos0 + t + 1;   /* causal: keys 0 .. pos0+t */
            double max = -INFINITY, sum = 0.0;
            for (int j = 0; j < visible; j++) {
                if (!seen(cache, pos0 + t, j))
                    continue;
                const float *k = cached_key(cache, kv_head, j, key);
                double s = 0.0;
                for (int d = 0; d < head_dim; d++)
                    s += (double)q[d] * k[d];
                row[j] = s * scale;
                max = row[j] > max ? row[j] : max;
            }
            for (int j = 0; j < visible; j++)
                if (seen(cache, pos0 + t, j))
                    sum += row[j] = exp(row[j] - max);
            float *w = weights + ((size_t)t * n_heads + h) * n_keys;
            for (int j = 0; j < visible; j++)
                w[j] = seen(cache, pos0 + t, j) ? (float)(row[j] / sum) : 0.0f;   /* masked: left the window */
            for (int j = visible; j < n_keys; j++)
                w[j] = 0.0f;   /* masked: a future key */
        }
}

int attention_observer_set(attention_observer *o, attend_attention_observer fn, void *user, int max_tokens,
                           int n_heads, int head_dim, int n_ctx)
{
    attention_observer_free(o);
    if (!fn)
        return 0;
    o->weights = malloc(sizeof(float) * (size_t)max_tokens * n_heads * n_ctx);
    o->row = malloc(sizeof(double) * (size_t)n_ctx);
    o->key = malloc(sizeof(float) * (size_t)head_dim);
    if (!o->weights || !o->row || !o->key) {
        attention_observer_free(o);
        return -1;
    }
    o->fn = fn;
    o->user = user;
    return 0;
}

void attention_observer_free(attention_observer *o)
{
    free(o->weights);
    free(o->row);
    free(o->key);
    memset(o, 0, sizeof *o);
}

void attention_observer_call(attention_observer *o, int layer, const float *query,
                             const kv_cache_layer *cache, int n_tokens, int pos0, int n_heads)
{
    if (!o->fn)
        return;
    attention_weights(o->weights, o->row, o->key, query, cache, n_tokens, pos0, n_heads);
    o->fn(o->user, layer, n_tokens, pos0, n_heads, pos0 + n_tokens, o->weights);
}
