/* kernels.h — the small numeric building blocks of a llama layer.
 *
 * Shapes are explicit in every signature. Activations are float32, row-major, one row per token. */
#ifndef ATTEND_KERNELS_H
#define ATTEND_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include "threadpool.h"

/* A weight matrix as stored in the file: `rows` rows of `cols` elements of `type` (quant.h),
 * row r at (char *)data + r * row_bytes. `data` usually points into the mmap'd file. */
typedef struct {
    int type;
    int64_t rows, cols;
    size_t row_bytes;
    const void *data;
} tensor;

/* out = x / sqrt(mean(x^2) + eps) * weight, over n elements. */
void rmsnorm(float *out, const float *x, const float *weight, int n, float eps);

/* Rotary position embedding, in place, for every head of one token: within the first rope_dim
 * dimensions of a head, the pair (v[2i], v[2i+1]) is rotated by angle pos * theta_i where
 * theta_i = base^(-2i/rope_dim). `cos`/`sin` hold cos(pos*theta_i), sin(pos*theta_i) for i < rope_dim/2
 * (computed once per position, shared by all heads and by queries and keys). */
void rope(float *v, int n_heads, int head_dim, int rope_dim, const float *cos, const float *sin);
void rope_angles(float *cos, float *sin, int rope_dim, int pos, float base);

/* x = softmax(x) over n elements, computed stably (max subtracted first). */
void softmax(float *x, int n);

/* SwiGLU's gate: gate[i] = silu(gate[i]) * up[i], silu(g) = g * sigmoid(g). */
void swiglu(float *gate, const float *up, int n);

/* The projections: for every (W, out) pair and every token t < n_tokens,
 *     out[t][r] = W[r] . x[t]         W (rows, cols) @ x (n_tokens, cols) -> out (n_tokens, rows)
 * Several matrices that read the same input (Q, K and V; gate and up) go in one call, so the
 * thread pool synchronises once for all of them. Rows are split across the pool's workers. */
void matmul(threadpool *pool, const float *x, int n_tokens, int n_mats, const tensor *const *w,
            float *const *out);

#endif
