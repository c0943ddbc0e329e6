/* ops.c — the ops context's scratch memory. */
#include "ops/ops.h"

#include <stdlib.h>

int ops_context_init(ops_context *ops, threadpool *pool, const kernel_set *kernels, int exact,
                     size_t scratch_floats, size_t quantized_bytes)
{
    *ops = (ops_context){pool, kernels, exact, NULL, scratch_floats, NULL, quantized_bytes};
    /* 64-byte multiples, so workers' slices never share a cache line */
    ops->scratch_floats = (scratch_floats + 15) / 16 * 16;
    ops->scratch = aligned_alloc(64, sizeof(float) * ops->scratch_floats * (size_t)threadpool_size(pool) + 64);
    ops->quantized = aligned_alloc(64, (quantized_bytes + 63) / 64 * 64 + 64);
    return ops->scratch && ops->quantized ? 0 : -1;
}

void ops_context_free(ops_context *ops)
{
    free(ops->scratch);
    free(ops->quantized);
    ops->scratch = NULL;
    ops->quantized = NULL;
}
