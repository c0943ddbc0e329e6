/* profile.c — the counters behind attend_context_profile, and each operation's cost from its shapes.
 *
 * Costs are what the operation cannot avoid: every weight byte read once per call, activations
 * read and written once, a multiply-add counted as two operations. A kernel that re-reads data
 * moves more than this, so achieved GB/s here is a lower bound on the traffic it really causes. */
#include "profile.h"

#include <string.h>
#include "tensor.h"

static const char *const class_names[PROF_CLASS_COUNT] = {
    [PROF_MATMUL_F32] = "matmul F32",      [PROF_MATMUL_F16] = "matmul F16",
    [PROF_MATMUL_BF16] = "matmul BF16",    [PROF_MATMUL_Q8_0] = "matmul Q8_0",
    [PROF_MATMUL_Q4_0] = "matmul Q4_0",    [PROF_MATMUL_KQUANT] = "matmul k-quant",
    [PROF_MATMUL_OTHER] = "matmul other",
    [PROF_ATTENTION] = "attention",        [PROF_NORM] = "rmsnorm",
    [PROF_ROPE] = "rope + kv store",       [PROF_SWIGLU] = "swiglu",
    [PROF_RESIDUAL] = "residual add",      [PROF_EMBED] = "embedding",
    [PROF_QUANTIZE] = "quantize activations",
};

void profile_add(profile *p, int cls, double start, profile_cost cost)
{
    p->calls[cls]++;
    p->seconds[cls] += profile_now() - start;
    p->bytes[cls] += cost.bytes;
    p->flops[cls] += cost.flops;
}

void profile_switch(profile *p, int on)
{
    if (on)
        memset(p, 0, sizeof *p);
    p->on = on;
}

int profile_export(const profile *p, attend_profile *out)
{
    memset(out, 0, sizeof *out);
    for (int k = 0; k < PROF_CLASS_COUNT && out->n_entries < ATTEND_PROFILE_MAX_ENTRIES; k++) {
        if (!p->calls[k])
            continue;
        out->entries[out->n_entries++] = (attend_profile_entry){
            class_names[k], p->calls[k], p->seconds[k], p->bytes[k], p->flops[k], 0};
    }
    out->forward_calls = p->forward_calls;
    out->forward_seconds = p->forward_seconds;
    out->pool_jobs = p->pool_jobs;
    out->pool_wait_seconds = p->pool_wait_seconds;
    return out->n_entries;
}

int profile_matmul_class(int type)
{
    switch (type) {
    case TYPE_F32: return PROF_MATMUL_F32;
    case TYPE_F16: return PROF_MATMUL_F16;
    case TYPE_BF16: return PROF_MATMUL_BF16;
    case TYPE_Q8_0: return PROF_MATMUL_Q8_0;
    case TYPE_Q4_0: return PROF_MATMUL_Q4_0;
    case TYPE_Q2_K: case TYPE_Q3_K: case TYPE_Q4_K: case TYPE_Q5_K: case TYPE_Q6_K: return PROF_MATMUL_KQUANT;
    default: return PROF_MATMUL_OTHER;
    }
}

profile_cost profile_cost_matmul(int n, int n_mats, const tensor *const *w)
{
    profile_cost c = {0, 0};
    for (int m = 0; m < n_mats; m++) {
        double rows = (double)w[m]->rows, cols = (double)w[m]->cols;
        c.bytes += rows * w[m]->row_bytes + 4.0 * n * (cols + rows);
        c.flops += 2.0 * n * rows * cols;
    }
    return c;
}

/* Token t of the call (at position pos + t) attends to pos + t + 1 keys: a dot product and a
 * weighted sum of values per key and query head. The keys and values are read once per call. */
profile_cost profile_cost_attention(int n, int pos, int n_heads, int n_kv_heads, int head_dim)
{
    double keys = (double)n * pos + (double)n * (n + 1) / 2;
    return (profile_cost){8.0 * n_kv_heads * head_dim * (pos + n) + 8.0 * n * n_heads * head_dim,
                          4.0 * n_heads * head_dim * keys};
}

profile_cost profile_cost_norm(int n, int dim)
{
    return (profile_cost){8.0 * n * dim + 4.0 * dim, 4.0 * n * dim};
}

/* Rotating a pair is 6 operations; queries and keys are read and written, then keys and values
 * copied into the cache. */
profile_cost profile_cost_rope(int n, int n_heads, int n_kv_heads, int head_dim, int rope_dim)
{
    double q = (double)n_heads * head_dim, kv = (double)n_kv_heads * head_dim;
    return (profile_cost){n * (8.0 * (q + kv) + 16.0 * kv), 3.0 * n * (n_heads + n_kv_heads) * rope_dim};
}

profile_cost profile_cost_swiglu(int n, int hidden_dim)
{
    return (profile_cost){12.0 * n * hidden_dim, 5.0 * n * hidden_dim};
}

profile_cost profile_cost_residual(int n, int dim)
{
    return (profile_cost){12.0 * n * dim, (double)n * dim};
}

profile_cost profile_cost_embed(int n, int dim, size_t row_bytes)
{
    return (profile_cost){(double)n * row_bytes + 4.0 * n * dim, (double)n * dim};
}
