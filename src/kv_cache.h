/* kv_cache.h — the keys and values of every past position, per layer, in F32 or F16.
 *
 * Layout of one layer: key[kv_head][pos][head_dim] and the same for value, for positions
 * 0 .. n_ctx-1. Keeping each kv_head's positions contiguous lets attention read a tile of keys as
 * one block. F16 halves the memory and the bytes attention streams per token, at the price of
 * rounding keys and values to 11 significant bits (measured in docs/, see the --kv-type flag).
 *
 * With a sliding window of W positions and S attention sinks the cache is a ring of S + W slots:
 * position p lives in slot p for p < S (the sinks never leave), else in slot S + (p - S) mod W, so
 * the newest position overwrites the one that has just left the window and memory stays bounded
 * however long the sequence runs. kv_key() and kv_value() take positions and do this mapping. */
#ifndef ATTEND_KV_CACHE_H
#define ATTEND_KV_CACHE_H

#include <stddef.h>
#include "tensor.h"

typedef struct {
    void *key;
    void *value;
    int type;           /* TYPE_F32 or TYPE_F16 */
    size_t elem_bytes;  /* 4 or 2 */
    int n_ctx;          /* slots per kv_head: the context, or S + W for a ring */
    int n_kv_heads;
    int head_dim;
    int window;         /* W > 0: a ring (see above); 0: slot = position */
    int sinks;          /* S: the first positions, kept for good */
    float *sink_keys;   /* ring: the S sink keys as appended, [kv_head][S][head_dim], + one spare row */
} kv_cache_layer;

typedef struct {
    kv_cache_layer *layers;
    int n_layers;
    void *memory;
    size_t bytes;
    float *sink_memory;   /* every layer's sink_keys */
} kv_cache;

/* Allocates and zeroes the cache; -1 when out of memory (kv_cache_free is then still safe). */
int kv_cache_init(kv_cache *c, int n_layers, int n_ctx, int n_kv_heads, int head_dim, int type);
void kv_cache_free(kv_cache *c);
/* Turn a cache allocated with window + sinks slots into the ring described above. Returns 0, or -1
 * when out of memory for the copies of the sink keys. */
int kv_cache_make_ring(kv_cache *c, int window, int sinks);

/* RoPE positions in a ring, as StreamingLLM assigns them: positions within the cache. Keys are
 * cached rotated by their absolute positions, which inside the window gives exactly the distances
 * StreamingLLM's cache positions give (a query at p and a key at j are p - j apart either way).
 * Only the sinks differ: once the ring is full, the query sits at cache position S + W - 1 and sink
 * j at j, S + W - 1 - j apart, not p - j (which grows past anything the model was trained on). So
 * before each query at p, the sink keys are set to their saved rotations moved on by
 * kv_sink_shift() positions: rotated by j + shift, they sit S + W - 1 - j before p. */
static inline int kv_sink_shift(const kv_cache_layer *c, int p)
{
    const int last = c->sinks + c->window - 1;   /* the query's cache position once the ring is full */
    return c->window && c->sinks && p > last ? p - last : 0;
}
/* Rewrite the sink keys of the cache as their saved copies rotated further by the angles cos/sin
 * of kv_sink_shift() positions (rope_angles), over the first rope_dim dimensions of each head. */
void kv_cache_place_sinks(kv_cache_layer *c, const float *cos, const float *sin, int rope_dim);

/* The slot of a position: the identity, except in a ring past its sinks. */
static inline int kv_slot(const kv_cache_layer *c, int pos)
{
    return c->window && pos >= c->sinks ? c->sinks + (pos - c->sinks) % c->window : pos;
}

/* How many positions from `pos` on sit in consecutive slots (before the ring wraps around). */
static inline int kv_run(const kv_cache_layer *c, int pos)
{
    return c->window && pos >= c->sinks ? c->sinks + c->window - kv_slot(c, pos) : c->n_ctx - pos;
}

/* Where the key (value) of one position of one kv_head starts, in the layer's element type. */
static inline void *kv_key(const kv_cache_layer *c, int kv_head, int pos)
{
    return (char *)c->key + ((size_t)kv_head * c->n_ctx + kv_slot(c, pos)) * c->head_dim * c->elem_bytes;
}
static inline void *kv_value(const kv_cache_layer *c, int kv_head, int pos)
{
    return (char *)c->value + ((size_t)kv_head * c->n_ctx + kv_slot(c, pos)) * c->head_dim * c->elem_bytes;
}

/* Store the keys and values of n_tokens positions pos .. pos+n_tokens-1; key and value are
 * (n_tokens, n_kv_heads * head_dim) floats, converted to the cache's type. */
void kv_cache_append(kv_cache_layer *c, int pos, int n_tokens, const float *key, const float *value);

#endif
