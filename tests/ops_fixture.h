/* ops_fixture.h — an ops context for a test, with a thread pool of its own: sized for matmul
 * (matmul_ops) or for attention (attention_ops), freed with free_ops. Out of memory aborts. */
#ifndef ATTEND_TEST_OPS_FIXTURE_H
#define ATTEND_TEST_OPS_FIXTURE_H

#include <stdlib.h>
#include "kernels/kernel_set.h"
#include "ops/attention.h"
#include "ops/matmul.h"
#include "ops/ops.h"
#include "ops/threadpool.h"

static inline ops_context test_ops(int threads, const kernel_set *k, int exact, size_t scratch_floats,
                                   size_t quantized_bytes)
{
    ops_context ops;
    if (ops_context_init(&ops, threadpool_new(threads), k, exact, scratch_floats, quantized_bytes))
        abort();
    return ops;
}

/* Tokens per matmul call whose activations a matmul_ops context holds quantized: every short
 * batch, and prefill batches up to this many where the set has an int8 GEMM (the AMX set; a
 * longer batch would fall back to float activations, and a test would miss the GEMM). */
enum { MATMUL_OPS_TOKENS = 64 };

/* For matmul of activations of up to max_cols columns: any batch, int8 paths up to MATMUL_OPS_TOKENS. */
static inline ops_context matmul_ops(int threads, const kernel_set *k, int exact, int64_t max_cols)
{
    return test_ops(threads, k, exact, matmul_scratch_floats(k),
                    matmul_quantized_bytes(k, max_cols, MATMUL_OPS_TOKENS));
}

static inline ops_context attention_ops(int threads, const kernel_set *k, int n_heads, int n_kv_heads, int head_dim)
{
    return test_ops(threads, k, 0, attention_scratch_floats(n_heads, n_kv_heads, head_dim), 0);
}

static inline void free_ops(ops_context *ops)
{
    threadpool_free(ops->pool);
    ops_context_free(ops);
}

#endif
