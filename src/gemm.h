/* gemm.h — many tokens against one weight matrix: the matrix multiplication of prefill. */
#ifndef ATTEND_GEMM_H
#define ATTEND_GEMM_H

#include <stdint.h>
#include "kernels.h"

/* Tokens per register tile: below this many, prefill is cheaper as one dot product per token. */
enum { GEMM_TOKENS = 8 };

/* out[t * ldo + r] = W[r] . x[t * ldx .. +cols) for rows r0 <= r < r1 of w and tokens t < n_tokens. */
void gemm_rows(const tensor *w, int64_t r0, int64_t r1, const float *x, int64_t ldx, int n_tokens,
               float *out, int64_t ldo);

#endif
