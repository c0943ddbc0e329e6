/* attention.h — causal multi-head attention over the KV cache, tiled with an online softmax. */
#ifndef ATTEND_ATTENTION_H
#define ATTEND_ATTENTION_H

#include <stddef.h>
#include "threadpool.h"

/* Keys are processed in tiles of this many positions: one tile of scores per query lives in
 * registers/L1, never a whole row of n_ctx scores. */
enum { ATTN_TILE = 64 };

/* The cache of one layer: key[kv_head][pos][head_dim] and the same for value, for positions
 * 0 .. n_ctx-1. Keeping each kv_head's positions contiguous lets a tile be read as one block. */
typedef struct {
    float *key;
    float *value;
    int n_ctx;
    int n_kv_heads;
    int head_dim;
} kv_cache_layer;

static inline float *kv_key(const kv_cache_layer *c, int kv_head, int pos)
{
    return c->key + ((size_t)kv_head * c->n_ctx + pos) * c->head_dim;
}
static inline float *kv_value(const kv_cache_layer *c, int kv_head, int pos)
{
    return c->value + ((size_t)kv_head * c->n_ctx + pos) * c->head_dim;
}

/* Scratch floats attention needs per worker thread (see attention()). */
size_t attention_scratch_floats(int n_heads, int n_kv_heads, int head_dim);

/* For each of n_tokens queries at positions pos0 .. pos0+n_tokens-1:
 *     out[t][h] = sum_{j <= pos0+t} softmax_j(query[t][h] . key[g][j] * scale) * value[g][j]
 * where g = h / n_rep is the key/value head shared by n_rep = n_heads / n_kv_heads query heads
 * (n_rep = 1: multi-head; 1 < n_rep < n_heads: grouped-query; n_kv_heads = 1: multi-query) and
 * scale = 1/sqrt(head_dim). query and out are (n_tokens, n_heads * head_dim). The cache must already
 * hold keys and values for positions 0 .. pos0+n_tokens-1. `scratch` holds n_workers *
 * attention_scratch_floats(...) floats. */
void attention(threadpool *pool, float *out, const float *query, const kv_cache_layer *cache,
               int n_tokens, int pos0, int n_heads, float *scratch);

#endif
