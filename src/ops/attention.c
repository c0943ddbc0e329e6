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
 * There are two ways through, by the number of query tokens:
 *   - Decode (one token, or two or three of a multi-head model): token by token. Each key is
 *     read once per token anyway, so the simple loop is right: a dot product per key, then the
 *     softmax update, then the weighted values. Grouped-query attention: the n_rep query heads
 *     that share a key/value head are processed together, so each key and value row is loaded
 *     once per tile for all of them.
 *   - Prefill (several tokens): a query block of several tokens (times the n_rep heads of a
 *     group) meets each key tile together, so every key and value loaded is used by many
 *     queries. Scores and weighted values are then two small matrix products, computed with a
 *     register-blocked kernel like a GEMM's (see attend_block below). */
#include "ops/attention.h"
#include "vec_math.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Prefill: a query block is up to BLOCK_TOKENS tokens times the n_rep heads of a group, at most
 * BLOCK_ROWS query rows (see block_tokens), padded to a multiple of PANEL rows; keys come in
 * tiles of ATTN_TILE, as in decode. */
enum { BLOCK_TOKENS = 16, BLOCK_ROWS = 64, PANEL = ATTN_PRODUCT_COLS };

static int round_up(int n, int m) { return (n + m - 1) / m * m; }

/* Tokens per query block: as many as fit BLOCK_ROWS rows, so a key tile serves that many queries. */
static int block_tokens(int n_rep)
{
    int tokens = BLOCK_TOKENS;
    while (tokens > 1 && tokens * n_rep > BLOCK_ROWS)
        tokens /= 2;
    return tokens;
}

size_t attention_scratch_floats(int n_heads, int n_kv_heads, int head_dim)
{
    const int n_rep = n_heads / n_kv_heads;
    /* decode: per query head of a group its accumulator, running max and sum, and one tile of
     * scores; then one tile of keys and one of values as floats (for an F16 cache) */
    const size_t decode = (size_t)n_rep * ((size_t)head_dim + 2 + ATTN_TILE) + 2 * (size_t)ATTN_TILE * head_dim;
    /* prefill: see attend_block */
    const size_t rows = (size_t)round_up(block_tokens(n_rep) * n_rep, PANEL);
    const size_t prefill = 2 * rows * head_dim + (size_t)ATTN_TILE * rows + 5 * rows + 2 * (size_t)ATTN_TILE * head_dim;
    return decode > prefill ? decode : prefill;
}


/* x[i] = e^x[i] for n values x[i] <= 0 (scores minus their running maximum), in plain C that the
 * compiler vectorizes. e^x = 2^k * 2^f with k = round(x / ln 2) and |f| <= 1/2; 2^f by its Taylor
 * series to degree 6 (relative error ~1e-7, below float rounding of the products it weights).
 * Below 2^-126 the result is 0, and e^-inf = 0 (a masked score); NaN stays NaN (the clamps let it
 * through and every step after propagates it), so a corrupt model still shows up as non-finite
 * logits. Two passes, because a loop whose clamps are followed by more floating-point work is
 * not vectorized by GCC without -fno-trapping-math (the Makefile passes it, an embedder's build
 * may not); each pass alone is. */
static void exp_nonpositive(float *x, int n)
{
    for (int i = 0; i < n; i++) {
        float t = x[i] * 1.44269504f;        /* x / ln 2 */
        t = t < -127.0f ? -127.0f : t;       /* underflow */
        x[i] = t > 0.0f ? 0.0f : t;
    }
    for (int i = 0; i < n; i++)
        x[i] = pow2_clamped(x[i]);   /* vec_math.h */
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

/* a[d] += sum_j p[j] * v[j * stride + d] for d < width, the keys j in order: one multiply and one
 * add per term, as the scores. width is a constant at each call (32, 8 or 1), so the loops unroll
 * and the width sums live in registers for the whole tile. (One loop over all head_dim
 * dimensions per key, its length unknown, kept them in memory: every key's additions waited for
 * the previous key's stores, and with heads of 8 dimensions that chain was most of decode's
 * attention.) */
static inline __attribute__((always_inline)) void add_weighted_values(float *a, const float *p, const float *v,
                                                                      int n, size_t stride, const int width)
{
    float sum[32];
    for (int d = 0; d < width; d++)
        sum[d] = a[d];
    for (int j = 0; j < n; j++)
        for (int d = 0; d < width; d++)
            sum[d] += p[j] * v[(size_t)j * stride + d];
    for (int d = 0; d < width; d++)
        a[d] = sum[d];
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

/* Keys (or values) of positions j0 .. j0+tile-1 of one kv_head as floats, head_dim apart: in place
 * for an F32 cache, converted into `buf` for an F16 or Q8_0 one (its rows are whole blocks, so a
 * tile of rows is one run of blocks; rows padded to whole blocks are converted one by one). */
static const float *tile_as_float(const struct attention_job *job, const void *first, int tile, float *buf)
{
    const kv_cache_layer *c = job->cache;
    if (c->type == TYPE_F32)
        return first;
    if (c->stored_dim == c->head_dim)
        job->cached.to_float(first, buf, (int64_t)tile * c->head_dim);
    else
        for (int j = 0; j < tile; j++)
            kv_row_to_float(c, (const char *)first + (size_t)j * c->row_bytes, buf + (size_t)j * c->head_dim);
    return buf;
}

/* The keys visible from every position p_first .. p_last, as two ranges [lo[r], hi[r]). The causal
 * mask is the loop bound: position p sees keys 0 .. p and no later. A sliding window (Mistral) is
 * a lower bound too: only the last W keys, p-W+1 .. p. Attention sinks (StreamingLLM) are a
 * second range in front of it: the first S keys, always visible. Without a window the first range
 * is empty and the second is the whole causal one. For a block of positions the ranges cover
 * what any of them sees (the last one's causal bound, the first one's window); one query has
 * p_first = p_last. */
static void visible_ranges(const kv_cache_layer *c, int p_first, int p_last, int lo[2], int hi[2])
{
    int sinks_end = 0, window_start = 0;
    if (c->window) {
        sinks_end = c->sinks < p_last + 1 ? c->sinks : p_last + 1;
        window_start = p_first - c->window + 1 > c->sinks ? p_first - c->window + 1 : c->sinks;
    }
    lo[0] = 0, hi[0] = sinks_end;
    lo[1] = window_start, hi[1] = p_last + 1;
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

    /* The causal mask (and a window, and sinks) as the loop's bounds: see visible_ranges. */
    const int p = job->pos0 + t;
    int range_lo[2], range_hi[2];
    visible_ranges(c, p, p, range_lo, range_hi);
    for (int range = 0; range < 2; range++)
    for (int j0 = range_lo[range], tile; j0 < range_hi[range]; j0 += tile) {
        /* A tile stops at the range's end and where a ring of slots wraps (kv_cache.h). */
        tile = range_hi[range] - j0 < ATTN_TILE ? range_hi[range] - j0 : ATTN_TILE;
        tile = kv_run(c, j0) < tile ? kv_run(c, j0) : tile;

        /* Scores for the tile: q . k / sqrt(head_dim) for each query head of the group against
         * every key (the kernel set's: eight keys at a time, no horizontal sum per key; the
         * tile's keys stay in L1 for the next query head). */
        const float *keys = tile_as_float(job, kv_key(c, kv_head, j0), tile, key_buf);
        for (int r = 0; r < n_share; r++)
            job->ops->kernels->attention_scores(query + (size_t)r * head_dim, keys, head_dim, tile, head_dim, scale,
                                                score + r * ATTN_TILE);

        for (int r = 0; r < n_share; r++) {
            float *s = score + r * ATTN_TILE;
            float new_max = max[r];
            for (int j = 0; j < tile; j++)
                new_max = s[j] > new_max ? s[j] : new_max;
            /* Rescale what was accumulated under the old maximum (exp(-inf) = 0 the first time). */
            float correction = max[r] - new_max;
            exp_nonpositive(&correction, 1);
            float *a = acc + (size_t)r * head_dim;
            if (correction != 1.0f)
                for (int d = 0; d < head_dim; d++)
                    a[d] *= correction;
            for (int j = 0; j < tile; j++)
                s[j] -= new_max;
            exp_nonpositive(s, tile);
            sum[r] = sum[r] * correction + sum_tile(s, tile);
            max[r] = new_max;
        }

        /* Weighted values: acc += sum_j p_j * v_j, in slices of up to 32 dimensions whose sums
         * stay in registers across the tile's keys (the tile's values stay in L1 for the next
         * slice and the other query heads of the group). */
        const float *value = tile_as_float(job, kv_value(c, kv_head, j0), tile, value_buf);
        for (int r = 0; r < n_share; r++) {
            const float *p = score + r * ATTN_TILE;
            float *a = acc + (size_t)r * head_dim;
            int d = 0;
            for (; d + 32 <= head_dim; d += 32)
                add_weighted_values(a + d, p, value + d, tile, head_dim, 32);
            for (; d + 8 <= head_dim; d += 8)
                add_weighted_values(a + d, p, value + d, tile, head_dim, 8);
            for (; d < head_dim; d++)
                add_weighted_values(a + d, p, value + d, tile, head_dim, 1);
        }
    }

    for (int r = 0; r < n_share; r++) {
        const float inv = 1.0f / sum[r];
        for (int d = 0; d < head_dim; d++)
            out[(size_t)r * head_dim + d] = acc[(size_t)r * head_dim + d] * inv;
    }
}

/* ==== Prefill: a query block against key tiles ====
 *
 * A task takes a query block — up to block_tokens() consecutive tokens, and for each of them the
 * n_rep query heads of one kv_head — and walks the keys tile by tile like the decode loop, but
 * with every query row of the block at once. Row i of the block is token t0 + i / n_rep, head
 * kv_head * n_rep + i % n_rep. Everything per row is stored row-minor (element d of every row
 * side by side), so that "the same thing for 16 rows" is one vector. Per tile:
 *   1. Scores of the whole block, as the matrix product keys · Q^T: score[j][i] = k_j · q_i.
 *      The queries were copied once, transposed (q_t[d][i], pre-multiplied by 1/sqrt(head_dim)).
 *   2. The causal mask: keys after a row's own position get score -inf (weight 0). Only tiles
 *      that reach past the block's first position (the diagonal) need it; the tiles below the
 *      diagonal are seen whole by every row of the block.
 *   3. The online softmax update, row by row but vectorized across the rows of the block.
 *   4. acc += P · V, the second matrix product, into acc_t[d][i] (the accumulators transposed):
 *      a value's element d times the weights of 16 rows for that key.
 * Both products go through the kernel set's attention_product (kernel_set.h): up to 6 keys (or
 * value dimensions) times 16 query rows, whose sums stay in registers while p runs over the
 * dimensions (or keys). Every row is computed the same way whichever block and thread it lands
 * in: the sums run over d and over keys in the same order, so the result does not depend on the
 * thread count. */

/* Key j is visible from the query at position p: the causal mask (j <= p), narrowed by a sliding
 * window to the last W keys, plus the S sinks (see attend_group). */
static inline int key_visible(const kv_cache_layer *c, int p, int j)
{
    return j <= p && (!c->window || j < c->sinks || j > p - c->window);
}

/* Every key of j0 .. j1-1 is visible from position p. */
static inline int tile_visible(const kv_cache_layer *c, int p, int j0, int j1)
{
    return j1 - 1 <= p && (!c->window || j1 <= c->sinks || j0 > p - c->window || c->sinks > p - c->window);
}

/* No NaN or infinity among x[0..n): the exponent bits of each are not all ones. (Integers, so
 * that the loop vectorizes without reordering any floating-point sum.) */
static int all_finite(const float *x, size_t n)
{
    uint32_t not_finite = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, x + i, sizeof bits);
        not_finite |= (bits & 0x7f800000u) == 0x7f800000u;
    }
    return !not_finite;
}

/* Query tokens t0 .. t0+n_tok-1, all the query heads of kv_head: see the comment above. */
static void attend_block(const struct attention_job *job, int t0, int n_tok, int kv_head, float *scratch)
{
    const kv_cache_layer *c = job->cache;
    const int head_dim = c->head_dim, n_rep = job->n_heads / c->n_kv_heads;
    const int n_rows = n_tok * n_rep;                  /* query rows of the block */
    const int rows = round_up(n_rows, PANEL);          /* padded: the extra rows are zero, never stored */
    const size_t q_stride = (size_t)job->n_heads * head_dim;
    const float scale = 1.0f / sqrtf((float)head_dim);
    const attention_product_fn product = job->ops->kernels->attention_product;

    float *q_t = scratch;                              /* [head_dim][rows]  queries, transposed and scaled */
    float *score = q_t + (size_t)head_dim * rows;      /* [ATTN_TILE][rows] scores, then weights */
    float *acc_t = score + (size_t)ATTN_TILE * rows;   /* [head_dim][rows]  running sum of weighted values */
    float *max = acc_t + (size_t)head_dim * rows;      /* [rows]            running maximum */
    float *sum = max + rows;                           /* [rows]            running sum of weights */
    float *correction = sum + rows;                    /* [rows]            exp(old max - new max) */
    float *shift = correction + rows;                  /* [rows]            what the scores are shifted by */
    int *seen = (int *)(shift + rows);                 /* [rows]            leading keys of a tile a row sees */
    float *key_buf = shift + 2 * rows;                 /* [ATTN_TILE][head_dim] F16/Q8_0 keys as floats */
    float *value_buf = key_buf + (size_t)ATTN_TILE * head_dim;   /* [ATTN_TILE][head_dim] */

    for (int i = 0; i < rows; i++) {
        const float *q = i < n_rows ? job->query + (size_t)(t0 + i / n_rep) * q_stride +
                                          ((size_t)kv_head * n_rep + i % n_rep) * head_dim
                                    : NULL;
        for (int d = 0; d < head_dim; d++)
            q_t[(size_t)d * rows + i] = q ? q[d] * scale : 0.0f;
        max[i] = -INFINITY;
        sum[i] = 0.0f;
    }
    memset(acc_t, 0, sizeof(float) * (size_t)head_dim * rows);

    /* The keys any row of the block sees: the causal bound is the last row's position; a window
     * starts at the first row's window, plus the sinks in front (see attend_group). Rows that see
     * less of a tile get the mask. */
    const int p_first = job->pos0 + t0, p_last = p_first + n_tok - 1;
    int range_lo[2], range_hi[2];
    visible_ranges(c, p_first, p_last, range_lo, range_hi);
    for (int range = 0; range < 2; range++)
    for (int j0 = range_lo[range], tile; j0 < range_hi[range]; j0 += tile) {
        tile = range_hi[range] - j0 < ATTN_TILE ? range_hi[range] - j0 : ATTN_TILE;
        tile = kv_run(c, j0) < tile ? kv_run(c, j0) : tile;

        /* 1. Scores: for each panel of 16 query rows, up to 6 keys at a time, summed over d. */
        const float *keys = tile_as_float(job, kv_key(c, kv_head, j0), tile, key_buf);
        memset(score, 0, sizeof(float) * (size_t)tile * rows);
        for (int i0 = 0; i0 < rows; i0 += PANEL)
            for (int j = 0; j < tile; j += ATTN_PRODUCT_ROWS) {
                const int m = tile - j < ATTN_PRODUCT_ROWS ? tile - j : ATTN_PRODUCT_ROWS;
                const float *key[ATTN_PRODUCT_ROWS];
                for (int u = 0; u < m; u++)
                    key[u] = keys + (size_t)(j + u) * head_dim;
                product(m, head_dim, key, 1, q_t + i0, rows, score + (size_t)j * rows + i0, rows);
            }

        /* 2. The causal mask (and the window's), on the tiles some row does not see whole.
         * seen[i]: how many keys from the start of the tile row i sees before the first one it
         * does not (padding rows: all; their results are dropped). */
        int whole = 1;
        for (int t = 0; t < n_tok && whole; t++)
            whole = tile_visible(c, p_first + t, j0, j0 + tile);
        for (int i = 0; i < rows; i++)
            seen[i] = tile;
        if (!whole)
            for (int i = 0; i < n_rows; i++)
                for (int j = tile - 1; j >= 0; j--)
                    if (!key_visible(c, p_first + i / n_rep, j0 + j)) {
                        score[(size_t)j * rows + i] = -INFINITY;
                        seen[i] = j;
                    }

        /* 3. Online softmax, each row's update as in attend_group; the loops run over the rows
         * innermost, so they are vector operations across 8 rows. A row that has seen no key yet
         * (maximum still -inf) shifts by 0 instead, so that -inf - -inf makes no NaN. */
        for (int i = 0; i < rows; i++)
            shift[i] = max[i];
        for (int j = 0; j < tile; j++)
            for (int i = 0; i < rows; i++) {
                const float s = score[(size_t)j * rows + i];
                shift[i] = s > shift[i] ? s : shift[i];
            }
        for (int i = 0; i < rows; i++) {
            correction[i] = max[i] - shift[i];
            max[i] = shift[i];
            shift[i] = shift[i] == -INFINITY ? 0.0f : shift[i];
        }
        /* Rescale what was accumulated under the old maximum: exp(m - m'), 0 the first time. A
         * row whose maximum stayed is multiplied by exactly 1, which changes nothing. */
        for (int i = 0; i < rows; i++)
            correction[i] = correction[i] != correction[i] ? 0.0f : correction[i];   /* -inf - -inf */
        exp_nonpositive(correction, rows);
        for (int j = 0; j < tile; j++)
            for (int i = 0; i < rows; i++)
                score[(size_t)j * rows + i] -= shift[i];
        exp_nonpositive(score, tile * rows);
        for (int i = 0; i < rows; i++)
            sum[i] *= correction[i];
        for (int j = 0; j < tile; j++)
            for (int i = 0; i < rows; i++)
                sum[i] += score[(size_t)j * rows + i];
        for (int d = 0; d < head_dim; d++)
            for (int i = 0; i < rows; i++)
                acc_t[(size_t)d * rows + i] *= correction[i];

        /* 4. acc += P · V: for each panel of 16 rows, up to 6 dimensions at a time, summed over
         * the keys. A key hidden from a row has weight 0 and adds v * 0 = 0 exactly — unless v is
         * NaN or infinite (a corrupt model's, at a later position), which would leak into rows
         * that must not see it. So on the diagonal, where some rows of a panel do not see the
         * last keys, those keys' values are checked first; only if one is not finite does the
         * product stop at the keys every row sees, and the rest are added on their own, with
         * the zero weights skipped, in the same order and rounding. */
        const float *value = tile_as_float(job, kv_value(c, kv_head, j0), tile, value_buf);
        for (int i0 = 0; i0 < rows; i0 += PANEL) {
            int common = seen[i0];
            for (int i = i0 + 1; i < i0 + PANEL; i++)
                common = seen[i] < common ? seen[i] : common;
            if (common < tile && all_finite(value + (size_t)common * head_dim, (size_t)(tile - common) * head_dim))
                common = tile;
            for (int d = 0; d < head_dim; d += ATTN_PRODUCT_ROWS) {
                const int m = head_dim - d < ATTN_PRODUCT_ROWS ? head_dim - d : ATTN_PRODUCT_ROWS;
                const float *dim[ATTN_PRODUCT_ROWS];
                for (int u = 0; u < m; u++)
                    dim[u] = value + d + u;
                product(m, common, dim, head_dim, score + i0, rows, acc_t + (size_t)d * rows + i0, rows);
            }
            for (int j = common; j < tile; j++) {
                const float *weight = score + (size_t)j * rows + i0;
                for (int d = 0; d < head_dim; d++) {
                    const float v = value[(size_t)j * head_dim + d];
                    float *a = acc_t + (size_t)d * rows + i0;
                    for (int i = 0; i < PANEL; i++)
                        if (weight[i] != 0.0f)
                            a[i] = MADD(v, weight[i], a[i]);
                }
            }
        }
    }

    for (int i = 0; i < n_rows; i++) {
        float *out = job->out + (size_t)(t0 + i / n_rep) * q_stride + ((size_t)kv_head * n_rep + i % n_rep) * head_dim;
        const float inv = 1.0f / sum[i];
        for (int d = 0; d < head_dim; d++)
            out[d] = acc_t[(size_t)d * rows + i] * inv;
    }
}

/* Decode: a task is one (token, kv_head) pair, or a share of its query heads when the group is
 * split; scratch memory belongs to the thread that runs it. */
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

/* Prefill: a task is one (query block, kv_head) pair. The blocks are fixed by n_tokens alone (not
 * by the thread count), and handed out last block first: the later a block, the more keys it
 * sees, and the big tasks first leave small ones to even out the threads at the end. */
static void attention_block_task(void *arg, int task, int n_tasks, int worker)
{
    const struct attention_job *job = arg;
    const int n_kv_heads = job->cache->n_kv_heads;
    const int per_block = block_tokens(job->n_heads / n_kv_heads);
    const int block = (n_tasks - 1 - task) / n_kv_heads, t0 = block * per_block;
    const int n_tok = job->n_tokens - t0 < per_block ? job->n_tokens - t0 : per_block;
    attend_block(job, t0, n_tok, task % n_kv_heads, ops_scratch(job->ops, worker));
}

void attention(const ops_context *ops, float *out, const float *query, const kv_cache_layer *cache,
               int n_tokens, int pos0, int n_heads)
{
    struct attention_job job = {
        out, query, cache, n_tokens, pos0, n_heads, ops, kernel_row_of(ops->kernels, cache->type), 1,
    };
    /* Query blocks pay when they have rows to share the keys with: a block is padded to 16 rows,
     * and below 4 real ones (2 or 3 tokens of a multi-head model) the token-by-token loop
     * measured faster. One token always takes that loop. */
    const int group = n_heads / cache->n_kv_heads;
    if (n_tokens > 1 && n_tokens * group >= 4) {
        const int per_block = block_tokens(group), blocks = (n_tokens + per_block - 1) / per_block;
        threadpool_run(ops->pool, attention_block_task, &job, blocks * cache->n_kv_heads);
        return;
    }
    /* Token by token. With fewer (token, kv_head) pairs than threads — decoding a multi-query
     * model, say — the query heads of a group are split across tasks, at the price of reading its
     * keys and values once per share instead of once. */
    const int pairs = n_tokens * cache->n_kv_heads;
    while (pairs * job.splits < threadpool_size(ops->pool) && job.splits < group)
        job.splits++;
    threadpool_run(ops->pool, attention_task, &job, pairs * job.splits);
}
