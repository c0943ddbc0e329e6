/* attention.c — causal self-attention over the KV cache with an online ("flash") softmax.
 *
 * softmax(s)·V needs the maximum and the sum of exp(s) over every score before the first value
 * can be weighted — unless the running result is corrected as the maximum grows. For one query we
 * walk the keys tile by tile and keep three things (Milakov & Gimelshein 2018; Dao et al. 2022):
 *     m    the largest score seen so far
 *     l    sum of exp(s_j - m) over the keys seen so far
 *     acc  sum of exp(s_j - m) * v_j over the keys seen so far
 * When a tile raises the maximum from m to m', everything accumulated so far was scaled by
 * exp(-m) and must be rescaled by exp(m - m') — one multiply per element of acc. At the end the
 * output is acc / l. Scores exist only one tile at a time, so memory does not grow with context.
 *
 * Grouped-query attention: the n_rep query heads that share a key/value head are processed
 * together, so each key and value row is loaded once per tile for all of them. */
#include "ops/attention.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

size_t attention_scratch_floats(int n_heads, int n_kv_heads, int head_dim)
{
    int n_rep = n_heads / n_kv_heads;
    /* per query head of a group: its accumulator, running max and sum, and one tile of scores;
     * then one tile of keys and one of values as floats (for an F16 cache) */
    return (size_t)n_rep * ((size_t)head_dim + 2 + ATTN_TILE) + 2 * (size_t)ATTN_TILE * head_dim;
}

/* q . k over one head. Eight independent partial sums let the compiler keep them in one vector
 * register without reordering a floating-point reduction (no -ffast-math needed), and being
 * inline, a head of 8 or 16 dimensions costs a few instructions, not a call per key. */
static inline float dot_head(const float *q, const float *k, int head_dim)
{
    float part[8] = {0};
    int d = 0;
    for (; d + 8 <= head_dim; d += 8)
        for (int i = 0; i < 8; i++)
            part[i] += q[d + i] * k[d + i];
    float s = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
    for (; d < head_dim; d++)
        s += q[d] * k[d];
    return s;
}

/* e^x for x <= 0 (scores minus their running maximum), in plain C that the compiler vectorizes.
 * e^x = 2^n * 2^f with n = round(x / ln 2) and |f| <= 1/2; 2^f by its Taylor series to degree 6
 * (relative error ~1e-7, below float rounding of the products it weights). Below 2^-126 the
 * result is 0; NaN stays NaN, so a corrupt model still shows up as non-finite logits. */
static inline float exp_nonpositive(float x)
{
    float t = x * 1.44269504f;               /* x / ln 2 */
    if (!(t >= -127.0f))
        t = -127.0f;                         /* underflow (and NaN, restored below) */
    if (t > 0.0f)
        t = 0.0f;
    const float n = nearbyintf(t), f = t - n;
    float p = 1.5403530e-4f;                 /* (ln 2)^k / k!, k = 6 .. 1 */
    p = p * f + 1.3333558e-3f;
    p = p * f + 9.6181291e-3f;
    p = p * f + 5.5504109e-2f;
    p = p * f + 2.4022651e-1f;
    p = p * f + 6.9314718e-1f;
    p = p * f + 1.0f;
    const uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;   /* 2^n; n = -127 gives 0 */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return x != x ? x : p * scale;
}

/* The sum of a tile of weights, in eight independent partial sums (vectorizable, deterministic). */
static inline float sum_tile(const float *s, int n)
{
    float part[8] = {0};
    int j = 0;
    for (; j + 8 <= n; j += 8)
        for (int i = 0; i < 8; i++)
            part[i] += s[j + i];
    float total = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
    for (; j < n; j++)
        total += s[j];
    return total;
}

struct attention_job {
    float *out;
    const float *query;
    const kv_cache_layer *cache;
    int n_tokens, pos0, n_heads;
    const ops_context *ops;
    kernel_row cached;   /* the cache type's kernels: to_float converts F16 or Q8_0 keys and values */
    int splits;       /* tasks per (token, kv_head) pair */
};

/* Keys (or values) of positions j0 .. j0+tile-1 of one kv_head as floats: in place for an F32
 * cache, converted into `buf` for an F16 or Q8_0 one (its rows are whole blocks, so a tile of
 * rows is one run of blocks). */
static const float *tile_as_float(const struct attention_job *job, const void *first, int tile, float *buf)
{
    if (job->cache->type == TYPE_F32)
        return first;
    job->cached.to_float(first, buf, (int64_t)tile * job->cache->head_dim);
    return buf;
}

/* One query token against the keys of one kv_head: its query heads first .. first+n_share-1
 * (the whole group of n_rep heads, unless the group is split across threads; see attention()). */
static void attend_group(const struct attention_job *job, int t, int kv_head, int first, int n_share,
                         float *scratch)
{
    const kv_cache_layer *c = job->cache;
    const int head_dim = c->head_dim;
    const int n_rep = job->n_heads / c->n_kv_heads;   /* query heads per kv_head */
    const float scale = 1.0f / sqrtf((float)head_dim);
    const size_t q_stride = (size_t)job->n_heads * head_dim;
    const float *query = job->query + t * q_stride + ((size_t)kv_head * n_rep + first) * head_dim;
    float *out = job->out + t * q_stride + ((size_t)kv_head * n_rep + first) * head_dim;

    float *acc = scratch;                              /* [n_share][head_dim] */
    float *max = acc + (size_t)n_share * head_dim;     /* [n_share] */
    float *sum = max + n_share;                        /* [n_share] */
    float *score = sum + n_share;                      /* [n_share][ATTN_TILE] */
    float *key_buf = score + (size_t)n_share * ATTN_TILE;   /* [ATTN_TILE][head_dim], F16 caches */
    float *value_buf = key_buf + (size_t)ATTN_TILE * head_dim;
    memset(acc, 0, sizeof(float) * (size_t)n_share * head_dim);
    for (int r = 0; r < n_share; r++) {
        max[r] = -INFINITY;
        sum[r] = 0.0f;
    }

    /* The causal mask is the loop bound: position p = pos0+t sees keys 0 .. p and no later.
     * A sliding window (Mistral) is a lower bound too: only the last W keys, p-W+1 .. p. Attention
     * sinks (StreamingLLM) are a second range in front of it: the first S keys, always visible.
     * Without a window the first range is empty and the second is the whole causal one. */
    const int p = job->pos0 + t, window = c->window, sinks = c->sinks;
    int sinks_end = 0, window_start = 0;
    if (window) {
        sinks_end = sinks < p + 1 ? sinks : p + 1;
        window_start = p - window + 1 > sinks ? p - window + 1 : sinks;
    }
    const int range_lo[2] = {0, window_start}, range_hi[2] = {sinks_end, p + 1};
    for (int range = 0; range < 2; range++)
    for (int j0 = range_lo[range], tile; j0 < range_hi[range]; j0 += tile) {
        /* A tile stops at the range's end and where a ring of slots wraps (kv_cache.h). */
        tile = range_hi[range] - j0 < ATTN_TILE ? range_hi[range] - j0 : ATTN_TILE;
        tile = kv_run(c, j0) < tile ? kv_run(c, j0) : tile;

        /* Scores for the tile, each key row read once for every query head of the group. */
        const float *keys = tile_as_float(job, kv_key(c, kv_head, j0), tile, key_buf);
        for (int j = 0; j < tile; j++) {
            const float *key = keys + (size_t)j * head_dim;
            for (int r = 0; r < n_share; r++)
                score[r * ATTN_TILE + j] = dot_head(query + (size_t)r * head_dim, key, head_dim) * scale;
        }

        for (int r = 0; r < n_share; r++) {
            float *s = score + r * ATTN_TILE;
            float new_max = max[r];
            for (int j = 0; j < tile; j++)
                new_max = s[j] > new_max ? s[j] : new_max;
            /* Rescale what was accumulated under the old maximum (exp(-inf) = 0 the first time). */
            float correction = exp_nonpositive(max[r] - new_max);
            float *a = acc + (size_t)r * head_dim;
            if (correction != 1.0f)
                for (int d = 0; d < head_dim; d++)
                    a[d] *= correction;
            for (int j = 0; j < tile; j++)
                s[j] = exp_nonpositive(s[j] - new_max);
            sum[r] = sum[r] * correction + sum_tile(s, tile);
            max[r] = new_max;
        }

        /* Weighted values: acc += sum_j p_j * v_j. Eight dimensions at a time, so their running
         * sums stay in one register for the whole tile (the tile's values stay in L1 for the
         * other query heads of the group). */
        const float *value = tile_as_float(job, kv_value(c, kv_head, j0), tile, value_buf);
        for (int r = 0; r < n_share; r++) {
            const float *p = score + r * ATTN_TILE;
            float *a = acc + (size_t)r * head_dim;
            int d0 = 0;
            for (; d0 + 8 <= head_dim; d0 += 8) {
                float sum[8];
                for (int i = 0; i < 8; i++)
                    sum[i] = a[d0 + i];
                for (int j = 0; j < tile; j++)
                    for (int i = 0; i < 8; i++)
                        sum[i] += p[j] * value[(size_t)j * head_dim + d0 + i];
                for (int i = 0; i < 8; i++)
                    a[d0 + i] = sum[i];
            }
            for (; d0 < head_dim; d0++)
                for (int j = 0; j < tile; j++)
                    a[d0] += p[j] * value[(size_t)j * head_dim + d0];
        }
    }

    for (int r = 0; r < n_share; r++) {
        const float inv = 1.0f / sum[r];
        for (int d = 0; d < head_dim; d++)
            out[(size_t)r * head_dim + d] = acc[(size_t)r * head_dim + d] * inv;
    }
}

/* A task is one (token, kv_head) pair, or a share of its query heads when the group is split;
 * scratch memory belongs to the thread that runs it. */
static void attention_task(void *arg, int task, int n_tasks, int worker)
{
    (void)n_tasks;
    const struct attention_job *job = arg;
    const int n_kv_heads = job->cache->n_kv_heads, splits = job->splits;
    const int group = job->n_heads / n_kv_heads;
    const int pair = task / splits, part = task % splits;
    const int first = group * part / splits, last = group * (part + 1) / splits;
    attend_group(job, pair / n_kv_heads, pair % n_kv_heads, first, last - first, ops_scratch(job->ops, worker));
}

void attention(const ops_context *ops, float *out, const float *query, const kv_cache_layer *cache,
               int n_tokens, int pos0, int n_heads)
{
    /* With fewer (token, kv_head) pairs than threads — decoding a multi-query model, say — the
     * query heads of a group are split across tasks, at the price of reading its keys and values
     * once per share instead of once. */
    const int pairs = n_tokens * cache->n_kv_heads, group = n_heads / cache->n_kv_heads;
    int splits = 1;
    while (pairs * splits < threadpool_size(ops->pool) && splits < group)
        splits++;
    struct attention_job job = {
        out, query, cache, n_tokens, pos0, n_heads, ops, kernel_row_of(ops->kernels, cache->type), splits,
    };
    threadpool_run(ops->pool, attention_task, &job, pairs * splits);
}
