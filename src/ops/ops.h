/* ops.h — what every op is given: the threads, the kernel set, and scratch memory it owns.
 *
 * Ops (matmul, attention, the elementwise ones) see tensors, float activations and this; never
 * the model or the context. The context builds one at creation and passes it to each call, so
 * the kernel set chosen for the CPU is a value handed down, not a global. */
#ifndef ATTEND_OPS_H
#define ATTEND_OPS_H

#include <stddef.h>
#include "kernels/kernel_set.h"
#include "ops/threadpool.h"

typedef struct {
    threadpool *pool;
    const kernel_set *kernels;
    int exact;                /* 1: float activations in every matmul (the reference path) */
    float *scratch;           /* threadpool_size(pool) slices of scratch_floats, one per worker */
    size_t scratch_floats;
    void *quantized;          /* activations converted to a vec_dot_type, written before a job */
    size_t quantized_bytes;
} ops_context;

/* Allocates the scratch; returns -1 when out of memory (then ops_context_free is still safe). */
int ops_context_init(ops_context *ops, threadpool *pool, const kernel_set *kernels, int exact,
                     size_t scratch_floats, size_t quantized_bytes);
void ops_context_free(ops_context *ops);

static inline float *ops_scratch(const ops_context *ops, int worker)
{
    return ops->scratch + (size_t)worker * ops->scratch_floats;
}

#endif
