/* matmul.c — the threaded matrix multiplication: which rows and tokens each worker multiplies,
 * and with which kernels.
 *
 * Three paths, chosen per call from the batch size and the weight type:
 *   - prefill (n_tokens >= GEMM_TOKENS): the register-blocked GEMM of gemm.c, float activations;
 *   - decode, fast path (quantized weights, !exact): x is quantized once per call to the type's
 *     vec_dot_type (Q8_0 blocks for Q8_0/Q4_0, Q8_K super-blocks for the k-quants) and each
 *     weight row is multiplied in integers (vec_dot4: one weight load for four tokens of a short
 *     batch; vec_dot_rows4, where the set has it: one activation load for four rows);
 *   - decode, exact path: float dot products, one weight row against up to 4 tokens at a time.
 * Each output element is computed the same way whatever share of rows it falls in, so results
 * do not depend on the thread count. */
#include "ops/matmul.h"

#include "ops/gemm.h"

/* Tokens are processed in tiles small enough that a tile of activations stays in L2 while every
 * weight row of the worker's share streams past it once per tile. */
enum { TOKEN_TILE = 32, MAX_MATS = 4 };

struct matmul_job {
    const ops_context *ops;
    const float *x;
    int n_tokens;
    int n_mats;
    const tensor *const *w;
    float *const *out;
    int64_t total_rows;
    long unit_rows;              /* tasks split the rows in units of this many (a GEMM panel) */
    long units, min_units;       /* how many units; the fewest a task takes */
    kernel_row rows[MAX_MATS];   /* each matrix's kernels */
    int int8[MAX_MATS];          /* 1: multiply against the quantized x */
    const void *quantized[MAX_MATS];   /* x in the matrix's vec_dot_type (in ops->quantized) */
    size_t quantized_row_bytes[MAX_MATS];   /* one token of it */
};

/* Rows outer, tokens inner: each weight row streams from memory once, and is multiplied by up
 * to 4 tokens per load. With fewer than 4 tokens (decode), four rows at a time share each
 * activation block (vec_dot_rows4, which gives vec_dot's bits, so where a task's share begins
 * changes nothing). */
static void matmul_int8(const struct matmul_job *job, int m, int64_t r0, int64_t r1)
{
    const tensor *w = job->w[m];
    const kernel_row *k = &job->rows[m];
    const size_t stride = job->quantized_row_bytes[m];
    const char *xq = job->quantized[m];
    float *out = job->out[m];
    if (job->n_tokens < 4 && k->vec_dot_rows4)
        for (; r0 + 4 <= r1; r0 += 4)
            for (int t = 0; t < job->n_tokens; t++) {
                float o[4];
                k->vec_dot_rows4(tensor_row(w, r0), w->row_bytes, xq + (size_t)t * stride, w->cols, o);
                for (int j = 0; j < 4; j++)
                    out[(size_t)t * w->rows + r0 + j] = o[j];
            }
    for (int64_t r = r0; r < r1; r++) {
        const void *row = tensor_row(w, r);
        int t = 0;
        for (; t + 4 <= job->n_tokens; t += 4) {
            float o[4];
            k->vec_dot4(row, xq + (size_t)t * stride, stride, w->cols, o);
            for (int j = 0; j < 4; j++)
                out[(size_t)(t + j) * w->rows + r] = o[j];
        }
        for (; t < job->n_tokens; t++)
            out[(size_t)t * w->rows + r] = k->vec_dot(row, xq + (size_t)t * stride, w->cols);
    }
}

static void matmul_float(const struct matmul_job *job, int m, int64_t r0, int64_t r1)
{
    const tensor *w = job->w[m];
    const kernel_row *k = &job->rows[m];
    const int64_t cols = w->cols, rows = w->rows;
    float *out = job->out[m];
    for (int t0 = 0; t0 < job->n_tokens; t0 += TOKEN_TILE) {
        int t1 = t0 + TOKEN_TILE < job->n_tokens ? t0 + TOKEN_TILE : job->n_tokens;
        for (int64_t r = r0; r < r1; r++) {
            const void *row = tensor_row(w, r);
            int t = t0;
            for (; t + 4 <= t1; t += 4) {
                float o[4];
                k->dot4(row, job->x + (size_t)t * cols, cols, cols, o);
                for (int j = 0; j < 4; j++)
                    out[(size_t)(t + j) * rows + r] = o[j];
            }
            for (; t < t1; t++)
                out[(size_t)t * rows + r] = k->dot(row, job->x + (size_t)t * cols, cols);
        }
    }
}

/* The matrices' rows are numbered one after another and each task takes a contiguous share of
 * that combined range, so Q, K and V (of different heights) balance as one job. In prefill the
 * shares are whole GEMM panels (a share ending inside a panel would pad it with zero rows). */
static void matmul_task(void *arg, int task, int n_tasks, int worker)
{
    (void)n_tasks;
    const struct matmul_job *job = arg;
    long begin, end;
    threadpool_split_guided(job->units, job->min_units, threadpool_size(job->ops->pool), task, &begin, &end);
    const long unit = job->unit_rows;
    begin *= unit;
    end = end * unit < job->total_rows ? end * unit : job->total_rows;
    int64_t base = 0;
    for (int m = 0; m < job->n_mats && base < end; m++) {
        const tensor *w = job->w[m];
        int64_t r0 = begin > base ? begin - base : 0;
        int64_t r1 = end - base < w->rows ? end - base : w->rows;
        if (r0 < r1) {
            if (job->n_tokens >= GEMM_TOKENS)   /* prefill: register-blocked, see gemm.c */
                gemm_rows(&job->ops->kernels->gemm, &job->rows[m], w, r0, r1, job->x, w->cols, job->n_tokens,
                          job->out[m], w->rows, ops_scratch(job->ops, worker));
            else if (job->int8[m])
                matmul_int8(job, m, r0, r1);
            else
                matmul_float(job, m, r0, r1);
        }
        base += w->rows;
    }
}

void matmul(const ops_context *ops, const float *x, int n_tokens, int n_mats, const tensor *const *w,
            float *const *out)
{
    struct matmul_job job = {ops, x, n_tokens, n_mats, w, out, 0, 1, 0, 0, {{0}}, {0}, {0}, {0}};
    size_t quantized_used = 0;
    for (int m = 0; m < n_mats && m < MAX_MATS; m++) {
        job.total_rows += w[m]->rows;
        job.rows[m] = kernel_row_of(ops->kernels, w[m]->type);
        const int vec_dot_type = type_traits_of(w[m]->type)->vec_dot_type;
        job.int8[m] = !ops->exact && n_tokens < GEMM_TOKENS && job.rows[m].vec_dot && vec_dot_type != TYPE_F32;
        if (!job.int8[m])
            continue;
        /* Quantize the activations once per vec_dot_type for every row of every matrix that
         * takes it (they share x and cols); a call mixing Q4_0 and Q6_K matrices, as in a
         * llama.cpp "Q4_0" file, quantizes twice, one after the other in ops->quantized. */
        int same = -1;
        for (int e = 0; e < m && same < 0; e++)
            if (job.int8[e] && type_traits_of(w[e]->type)->vec_dot_type == vec_dot_type)
                same = e;
        if (same >= 0) {
            job.quantized[m] = job.quantized[same];
            job.quantized_row_bytes[m] = job.quantized_row_bytes[same];
            continue;
        }
        const int64_t cols = w[m]->cols;
        const kernel_row q = kernel_row_of(ops->kernels, vec_dot_type);
        char *dst = (char *)ops->quantized + quantized_used;
        job.quantized[m] = dst;
        job.quantized_row_bytes[m] = type_row_bytes(vec_dot_type, cols);
        for (int t = 0; t < n_tokens; t++)
            q.from_float(x + (size_t)t * cols, dst + (size_t)t * job.quantized_row_bytes[m], cols);
        quantized_used += (size_t)n_tokens * job.quantized_row_bytes[m];
    }
    /* Tasks shrink as the job goes on (threadpool_split_guided), so whichever thread finishes
     * first waits for at most one short task of the other's: with equal shares, four per thread,
     * that wait was 4-7 % of s110M's decode time, now under 1 %. The shortest task is 16 rows
     * (the claiming stays cheap and two tasks' output writes stay off one cache line); in
     * prefill, where a task is every token against its rows, four GEMM panels. */
    if (n_tokens >= GEMM_TOKENS) {
        job.unit_rows = ops->kernels->gemm.rows;
        job.min_units = 4;
    } else {
        job.min_units = 16;
    }
    job.units = (long)((job.total_rows + job.unit_rows - 1) / job.unit_rows);
    threadpool_run(ops->pool, matmul_task, &job,
                   threadpool_guided_tasks(job.units, job.min_units, threadpool_size(ops->pool)));
}

size_t matmul_scratch_floats(const kernel_set *k) { return gemm_scratch_floats(&k->gemm); }

size_t matmul_quantized_bytes(int64_t max_cols, int max_tokens)
{
    /* Room for x as Q8_0 blocks and as Q8_K super-blocks (the vec_dot_types besides F32; a call
     * may need both); only batches below GEMM_TOKENS use them */
    int tokens = max_tokens < GEMM_TOKENS ? max_tokens : GEMM_TOKENS;
    const int types[] = {TYPE_Q8_0, TYPE_Q8_K};
    size_t row_bytes = 0;
    for (int i = 0; i < 2; i++) {
        const int64_t block = type_traits_of(types[i])->block_size;
        row_bytes += type_row_bytes(types[i], (max_cols + block - 1) / block * block);
    }
    return (size_t)tokens * row_bytes;
}
