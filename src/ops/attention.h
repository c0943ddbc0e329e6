/* attention.h — causal multi-head attention over the KV cache, tiled with an online softmax. */
#ifndef ATTEND_ATTENTION_H
#define ATTEND_ATTENTION_H

#include <stddef.h>
#include "kv_cache.h"
#include "ops/ops.h"

/* Keys are processed in tiles of this many positions: one tile of scores per query lives in
 * registers/L1, never a whole row of n_ctx scores. In a prompt, a block of up to 16 query tokens
 * meets each tile together (attention.c). */
enum { ATTN_TILE = 64 };

/* Scratch floats attention needs per worker (ops_context.scratch_floats must be at least this). */
size_t attention_scratch_floats(int n_heads, int n_kv_heads, int head_dim);

/* For each of n_tokens queries at positions pos0 .. pos0+n_tokens-1:
 *     out[t][h] = sum_{j <= pos0+t} softmax_j(query[t][h] . key[g][j] * scale) * value[g][j]
 * where g = h / n_rep is the key/value head shared by n_rep = n_heads / n_kv_heads query heads
 * (n_rep = 1: multi-head; 1 < n_rep < n_heads: grouped-query; n_kv_heads = 1: multi-query) and
 * scale = 1/sqrt(head_dim). query and out are (n_tokens, n_heads * head_dim). The cache must already
 * hold keys and values for positions 0 .. pos0+n_tokens-1, in F32 or F16 (a tile of F16 keys and
 * values is converted to float with the kernel set's to_float before use).
 * A cache made a ring (kv_cache_make_ring: window W, sinks S) narrows the sum to the keys
 * max(S, p-W+1) <= j <= p and j < S, p = pos0+t; the ring must still hold them all. */
void attention(const ops_context *ops, float *out, const float *query, const kv_cache_layer *cache,
               int n_tokens, int pos0, int n_heads);

#endif
