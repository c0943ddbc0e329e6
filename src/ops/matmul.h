/* matmul.h — the projections: weight matrices times the activations of a batch of tokens. */
#ifndef ATTEND_MATMUL_H
#define ATTEND_MATMUL_H

#include <stddef.h>
#include <stdint.h>
#include "ops/ops.h"
#include "tensor.h"

/* For every (W, out) pair and every token t < n_tokens,
 *     out[t][r] = W[r] . x[t]         W (rows, cols) @ x (n_tokens, cols) -> out (n_tokens, rows)
 * Several matrices that read the same input (Q, K and V; gate and up) go in one call, so the
 * thread pool synchronises once for all of them; they have the same cols. Rows are split across
 * the pool's workers. Unless ops->exact, a short batch against quantized weights converts x to
 * their vec_dot_type (int8 blocks) once (in ops->quantized) and multiplies in integers; so does a
 * long one where the kernel set has an int8 GEMM for the type (kernel_row.vec_dot_gemm). */
void matmul(const ops_context *ops, const float *x, int n_tokens, int n_mats, const tensor *const *w,
            float *const *out);

/* Per-worker scratch floats matmul needs with this kernel set (ops_context.scratch_floats). */
size_t matmul_scratch_floats(const kernel_set *k);
/* Bytes of ops_context.quantized matmul needs for x of up to max_tokens x max_cols with this
 * kernel set (whole batches when the set has an int8 GEMM; else only short ones). */
size_t matmul_quantized_bytes(const kernel_set *k, int64_t max_cols, int max_tokens);

#endif
