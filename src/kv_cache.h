/* kv_cache.h — the keys and values of every past position, per layer, in F32, F16 or Q8_0.
 *
 * Layout of one layer: key[kv_head][pos][head_dim] and the same for value, for positions
 * 0 .. n_ctx-1. Keeping each kv_head's positions contiguous lets attention read a tile of keys as
 * one block. F16 halves the memory and the bytes attention streams per token, at the price of
 * rounding keys and values to 11 significant bits; Q8_0 (blocks of 32 int8 with one F16 scale,
 * 34 bytes for 32 values) nearly halves them again and rounds each value to within half a step of
 * its block's largest / 127. A Q8_0 row is whole blocks: a head_dim that is not a multiple of 32
 * is stored padded with zeros to the next one (stored_dim), and read back without the padding
 * (measured in docs/, see the --kv-type flag). Every conversion goes through the type's traits
 * (tensor.h): the cache holds a stored type like any weight row.
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
    int type;           /* TYPE_F32, TYPE_F16 or TYPE_Q8_0 */
    size_t row_bytes;   /* one position of one kv_head: stored_dim values in that type */
    int n_ctx;          /* slots per kv_head: the context, or S + W for a ring */
    int n_kv_heads;
    int head_dim;
    int stored_dim;     /* head_dim rounded up to whole blocks of the type (Q8_0: 32); the rest zeros */
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

/* One cached row (a key or a value) as head_dim floats, without the padding of a Q8_0 row. */
void kv_row_to_float(const kv_cache_layer *c, const void *row, float *dst);

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

/* Where the key (value) of one position of one kv_head starts, in the layer's type. */
static inline void *kv_key(const kv_cache_layer *c, int kv_head, int pos)
{
    return (char *)c->key + ((size_t)kv_head * c->n_ctx + kv_slot(c, pos)) * c->row_bytes;
}
static inline void *kv_value(const kv_cache_layer *c, int kv_head, int pos)
{
    return (char *)c->value + ((size_t)kv_head * c->n_ctx + kv_slot(c, pos)) * c->row_bytes;
}

/* Store the keys and values of n_tokens positions pos .. pos+n_tokens-1; key and value are
 * (n_tokens, n_kv_heads * head_dim) floats, converted to the cache's type. */
void kv_cache_append(kv_cache_layer *c, int pos, int n_tokens, const float *key, const float *value);

/* ==== Cache control: copy, shift, save and load (the context tracks how many positions are
 * filled; these functions are told) ==== */

/* 1 when a and b have the same layers, kv_heads, head_dim and element type (n_ctx may differ). */
int kv_cache_same_layout(const kv_cache *a, const kv_cache *b);

/* Copy positions 0 .. n-1 of every layer from src to dst (same layout, n <= both n_ctx). */
void kv_cache_copy(kv_cache *dst, const kv_cache *src, int n);

/* Context shift: of n_filled positions, keep 0 .. keep-1, drop the n_discard after them, and move
 * the rest down by n_discard. The moved keys were rotated by RoPE for their old positions;
 * rotating them by -n_discard (in float, stored back in the cache's type) places them exactly
 * where a fresh forward pass at the new positions would have: RoPE is a rotation, and rotations
 * compose by adding angles. The angle of pair i at position p is (p / rope_scale) *
 * rope_base^(-2i / rope_dim), as in forward.c. Returns -1 when out of memory (nothing moved). */
int kv_cache_shift(kv_cache *c, int n_filled, int keep, int n_discard, int rope_dim, float rope_base,
                    float rope_scale);

/* The prompt-cache file (little-endian, written by this machine's byte order):
 *   offset  0  "ATKV"           magic
 *           4  u32 version      KV_FILE_VERSION
 *           8  u64 model_id     a fingerprint of the model (forward.c: config + weight bytes)
 *          16  u32 n_layers, n_kv_heads, head_dim, kv_type (ggml's id: 0 F32, 1 F16, 8 Q8_0)
 *          32  u32 n_tokens     positions saved (= tokens)
 *          36  u32 reserved (0)
 *          40  u64 data_bytes   bytes of K/V that follow the tokens
 *          48  16 bytes reserved (0)
 *          64  i32 tokens[n_tokens]
 *              then per layer: per kv_head the keys of positions 0 .. n_tokens-1 (head_dim each),
 *              then the values the same way, in the cache's type
 *        end-8 u64 checksum     FNV-1a 64 of every byte before it
 * Saving writes PATH.tmp and renames it over PATH, so a reader never sees half a file. */
enum { KV_FILE_VERSION = 1, KV_FILE_HEADER = 64 };

int kv_cache_save(const kv_cache *c, uint64_t model_id, const int *tokens, int n_tokens, const char *path,
                  char *err, size_t errlen);

/* Read a file written by kv_cache_save into positions 0 .. n-1 and its tokens into tokens[0 .. n).
 * Returns n, or -1 + err (one line) when the file is not there, is not a KV file, was saved by
 * another model (model_id) or with another layout, holds more than max_tokens or n_ctx
 * positions, is truncated or has trailing bytes, or fails its checksum. Every length is checked
 * against the file's size before it is used. On failure the cache's contents are unspecified
 * (the caller treats it as empty). */
int kv_cache_load(kv_cache *c, uint64_t model_id, const char *path, int *tokens, int max_tokens, char *err,
                  size_t errlen);

#endif
