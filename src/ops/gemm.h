/* gemm.h — many tokens against one weight matrix: the matrix multiplication of prefill. */
#ifndef ATTEND_GEMM_H
#define ATTEND_GEMM_H

#include <stddef.h>
#include <stdint.h>
#include "kernels/kernel_set.h"
#include "tensor.h"

/* Tokens per batch from which prefill is cheaper as a GEMM than as one dot product per token. */
enum { GEMM_TOKENS = 8 };

/* out[t * ldo + r] = W[r] . x[t * ldx .. +cols) for rows r0 <= r < r1 of w and tokens t < n_tokens,
 * with the tile kernel `g` and the type's kernels `row` (its to_float packs the panels).
 * `scratch` holds gemm_scratch_floats(g) floats that belong to the calling thread. */
void gemm_rows(const gemm_kernel *g, const kernel_row *row, const tensor *w, int64_t r0, int64_t r1,
               const float *x, int64_t ldx, int n_tokens, float *out, int64_t ldo, float *scratch);

size_t gemm_scratch_floats(const gemm_kernel *g);

#endif
