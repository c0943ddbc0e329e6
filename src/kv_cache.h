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
} kv_cache_layer;

typedef struct {
    kv_cache_layer *layers;
    int n_layers;
    void *memory;
    size_t bytes;
} kv_cache;

/* Allocates and zeroes the cache; -1 when out of memory (kv_cache_free is then still safe). */
int kv_cache_init(kv_cache *c, int n_layers, int n_ctx, int n_kv_heads, int head_dim, int type);
void kv_cache_free(kv_cache *c);
/* Turn a cache allocated with window + sinks slots into the ring described above. */
void kv_cache_make_ring(kv_cache *c, int window, int sinks);

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
