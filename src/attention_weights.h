/* attention_weights.h — the attention weights written out, for an observer (maps, tests).
 *
 * The fast kernel (attention.c) never stores a weight: its online softmax keeps a running sum.
 * To show the weights, this recomputes them the textbook way, from the layer's queries (after
 * RoPE) and the cache, only when an observer asks (attend_context_set_observer). */
#ifndef ATTEND_ATTENTION_WEIGHTS_H
#define ATTEND_ATTENTION_WEIGHTS_H

#include "attend.h"
#include "kv_cache.h"

/* weights[(t * n_heads + h) * n_keys + j], n_keys = pos0 + n_tokens:
 *     softmax_j(query[t][h] . key[h / n_rep][j] / sqrt(head_dim))   for j <= pos0 + t
 *     0                                                             for j >  pos0 + t (masked)
 * and, in a ring cache (window W, sinks S), 0 as well for sinks <= j <= pos0 + t - W (left the window;
 * the softmax runs over the visible keys only). The cache must hold every visible key.
 * Scores, their maximum and the sum of exponentials are float64. `row` holds n_keys doubles and
 * `key` head_dim floats (room for one cached key as float32). */
void attention_weights(float *weights, double *row, float *key, const float *query, const kv_cache_layer *cache,
                       int n_tokens, int pos0, int n_heads);

/* The observer of one context and the memory it needs, allocated once when it is set. */
typedef struct {
    attend_attention_observer fn;   /* NULL: no observer, nothing allocated */
    void *user;
    float *weights;                 /* max_tokens x n_heads x n_ctx */
    double *row;                    /* n_ctx */
    float *key;                     /* head_dim */
} attention_observer;

/* Set (fn != NULL) or clear the observer; sized for chunks of up to max_tokens queries over n_ctx
 * keys. Returns 0, or -1 when the memory cannot be had (the old observer is then cleared). */
int attention_observer_set(attention_observer *o, attend_attention_observer fn, void *user, int max_tokens,
                           int n_heads, int head_dim, int n_ctx);
void attention_observer_free(attention_observer *o);

/* Compute the weights of one layer's chunk and hand them to the observer (if any). */
void attention_observer_call(attention_observer *o, int layer, const float *query,
                             const kv_cache_layer *cache, int n_tokens, int pos0, int n_heads);

#endif
