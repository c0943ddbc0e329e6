/* profile.h — where a forward pass spends its time: per-class timers, off by default.
 *
 * forward.c brackets each operation with profile_begin / PROFILE_END. When profiling is off,
 * profile_begin returns 0 without reading the clock and PROFILE_END does not evaluate its cost
 * argument, so the forward pass pays one predictable branch per operation. The bytes and flops
 * of each call come from the operation's shapes (the minimum traffic and arithmetic it implies),
 * not from hardware counters: divided by the time they give achieved GB/s and GFLOP/s. */
#ifndef ATTEND_PROFILE_H
#define ATTEND_PROFILE_H

#include <time.h>
#include "attend.h"
#include "tensor.h"

enum profile_class {
    PROF_MATMUL_F32,      /* matrix products, by the weights' storage type */
    PROF_MATMUL_F16,
    PROF_MATMUL_BF16,
    PROF_MATMUL_Q8_0,
    PROF_MATMUL_Q4_0,
    PROF_MATMUL_KQUANT,   /* Q2_K .. Q6_K */
    PROF_MATMUL_OTHER,
    PROF_ATTENTION,
    PROF_NORM,            /* RMSNorm */
    PROF_ROPE,            /* RoPE angles and rotation, and appending keys and values to the cache */
    PROF_SWIGLU,
    PROF_RESIDUAL,        /* residual additions */
    PROF_EMBED,           /* token embedding rows to float */
    PROF_QUANTIZE,        /* activation rows to the weights' vec_dot_type (int8 blocks, ...) */
    PROF_CLASS_COUNT
};

typedef struct {
    double bytes, flops;
} profile_cost;

typedef struct {
    int on;
    long calls[PROF_CLASS_COUNT];
    double seconds[PROF_CLASS_COUNT], bytes[PROF_CLASS_COUNT], flops[PROF_CLASS_COUNT];
    long forward_calls;
    double forward_seconds;
    long pool_jobs;              /* the thread pool adds its waits here while profiling is on */
    double pool_wait_seconds;
} profile;

static inline double profile_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The start time of an operation, or 0 when profiling is off. */
static inline double profile_begin(const profile *p)
{
    return p->on ? profile_now() : 0;
}

/* Charge the time since `start` and the cost to class `cls` (both evaluated only when on). */
#define PROFILE_END(p, cls, start, cost)                  \
    do {                                                  \
        if ((p)->on)                                      \
            profile_add((p), (cls), (start), (cost));     \
    } while (0)

void profile_add(profile *p, int cls, double start, profile_cost cost);
void profile_switch(profile *p, int on);   /* on: clear and start counting */
int profile_export(const profile *p, attend_profile *out);

/* The class of a matmul over weights of storage type `type`. */
int profile_matmul_class(int type);

/* Costs from shapes; n is the number of tokens in the call. */
profile_cost profile_cost_matmul(int n, int n_mats, const tensor *const *w);
profile_cost profile_cost_attention(int n, int pos, int n_heads, int n_kv_heads, int head_dim);
profile_cost profile_cost_norm(int n, int dim);
profile_cost profile_cost_rope(int n, int n_heads, int n_kv_heads, int head_dim, int rope_dim);
profile_cost profile_cost_swiglu(int n, int hidden_dim);
profile_cost profile_cost_residual(int n, int dim);
profile_cost profile_cost_embed(int n, int dim, size_t row_bytes);

#endif
