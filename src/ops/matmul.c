/* matmul.c — the threaded matrix multiplication: which rows and tokens each worker multiplies,
 * and with which kernels.
 *
 * Four paths, chosen per call from the batch size, the weight type and the kernel set:
 *   - prefill (n_tokens >= GEMM_TOKENS): the register-blocked GEMM of gemm.c, float activations;
 *   - prefill, int8 (quantized weights whose row in the set has a vec_dot_gemm, !exact: the AMX
 *     set's Q8_0 and Q4_0): x is quantized once per call to the vec_dot_type, by every thread a
 *     share of the tokens, and the set's GEMM multiplies in integers;
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
    int n_conversions;           /* distinct vec_dot_types x is converted to: their matrix */
    int conversion_of[MAX_MATS];
};

/* The activations of a share of the tokens into every vec_dot_type the call needs. */
static void quantize_tokens(const struct matmul_job *job, int t0, int t1)
{
    for (int c = 0; c < job->n_conversions; c++) {
        const int m = job->conversion_of[c];
        const int64_t cols = job->w[m]->cols;
        const kernel_row q = kernel_row_of(job->ops->kernels, type_traits_of(job->w[m]->type)->vec_dot_type);
        char *dst = (char *)job->quantized[m];
        for (int t = t0; t < t1; t++)
            q.from_float(job->x + (size_t)t * cols, dst + (size_t)t * job->quantized_row_bytes[m], cols);
    }
}

static void quantize_task(void *arg, int task, int n_tasks, int worker)
{
    (void)worker;
    const struct matmul_job *job = arg;
    long t0, t1;
    threadpool_split(job->n_tokens, task, n_tasks, &t0, &t1);
    quantize_tokens(job, (int)t0, (int)t1);
}

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
    /* Fewer than 4 tokens (decode): four rows at a time share each x load (dot_rows4, which gives
     * dot's bits, so where a task's share begins changes nothing); then the rows left one by one. */
    if (job->n_tokens < 4 && k->dot_rows4)
        for (; r0 + 4 <= r1; r0 += 4)
            for (int t = 0; t < job->n_tokens; t++) {
                float o[4];
                k->dot_rows4(tensor_row(w, r0), w->row_bytes, job->x + (size_t)t * cols, cols, o);
                for (int j = 0; j < 4; j++)
                    out[(size_t)t * rows + r0 + j] = o[j];
            }
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
            if (job->n_tokens >= GEMM_TOKENS && job->int8[m])   /* prefill in integers: the set's GEMM */
                job->rows[m].vec_dot_gemm(w, r0, r1, job->quantized[m], job->quantized_row_bytes[m], job->n_tokens,
                                          job->out[m], w->rows, ops_scratch(job->ops, worker));
            else if (job->n_tokens >= GEMM_TOKENS)   /* prefill: register-blocked, see gemm.c */
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
    struct matmul_job job = {.ops = ops, .x = x, .n_tokens = n_tokens, .n_mats = n_mats, .w = w, .out = out};
    const int prefill = n_tokens >= GEMM_TOKENS;
    size_t quantized_used = 0;
    for (int m = 0; m < n_mats && m < MAX_MATS; m++) {
        job.total_rows += w[m]->rows;
        job.rows[m] = kernel_row_of(ops->kernels, w[m]->type);
        const int vec_dot_type = type_traits_of(w[m]->type)->vec_dot_type;
        /* decode: wherever the set has the integer dot; prefill: where it has an integer GEMM */
        job.int8[m] = !ops->exact && vec_dot_type != TYPE_F32 && job.rows[m].vec_dot &&
                      (!prefill || job.rows[m].vec_dot_gemm);
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
        const size_t row_bytes = type_row_bytes(vec_dot_type, w[m]->cols);
        /* A context sized for fewer tokens (matmul_quantized_bytes) keeps float activations
         * here rather than write past ops->quantized. */
        if (quantized_used + (size_t)n_tokens * row_bytes > ops->quantized_bytes) {
            job.int8[m] = 0;
            continue;
        }
        job.quantized[m] = (char *)ops->quantized + quantized_used;
        job.quantized_row_bytes[m] = row_bytes;
        job.conversion_of[job.n_conversions++] = m;
        quantized_used += (size_t)n_tokens * row_bytes;
    }
    /* A prefill's activations are quantized by every thread (a share of the tokens each): on one
     * thread, 512 tokens of 4096 would take longer than the int8 GEMM after them on many cores. */
    if (job.n_conversions && prefill)
        threadpool_run(ops->pool, quantize_task, &job, threadpool_size(ops->pool));
    else if (job.n_conversions)
        quantize_tokens(&job, 0, n_tokens);
    /* Tasks shrink as the job goes on (threadpool_split_guided), so whichever thread finishes
     * first waits for at most one short task of the other's: with equal shares, four per thread,
     * that wait was 4-7 % of s110M's decode time, now under 1 %. The shortest task is 16 rows
     * (the claiming stays cheap and two tasks' output writes stay off one cache line); in
     * prefill, where a task is every token against its rows, four GEMM panels. */
    if (prefill) {
        job.unit_rows = ops->kernels->gemm.rows;
        job.min_units = 4;
    } else {
        job.unit_rows = 1;
        job.min_units = 16;
    }
    job.units = (long)((job.total_rows + job.unit_rows - 1) / job.unit_rows);
    threadpool_run(ops->pool, matmul_task, &job,
                   threadpool_guided_tasks(job.units, job.min_units, threadpool_size(ops->pool)));
}

size_t matmul_scratch_floats(const kernel_set *k)
{
    const size_t gemm = gemm_scratch_floats(&k->gemm);
    const size_t int8_gemm = (k->vec_dot_gemm_scratch + sizeof(float) - 1) / sizeof(float);
    return gemm > int8_gemm ? gemm : int8_gemm;
}

/* Bytes of one token's activations of max_cols columns in a vec_dot_type (whole blocks) */
static size_t quantized_row_bytes(int type, int64_t max_cols)
{
    const int64_t block = type_traits_of(type)->block_size;
    return type_row_bytes(type, (max_cols + block - 1) / block * block);
}

size_t matmul_quantized_bytes(const kernel_set *k, int64_t max_cols, int max_tokens)
{
    /* Decode: x as Q8_0 blocks and as Q8_K super-blocks (the vec_dot_types besides F32; a call
     * may need both) for batches below GEMM_TOKENS. */
    const int decode_tokens = max_tokens < GEMM_TOKENS ? max_tokens : GEMM_TOKENS;
    const size_t decode = (size_t)decode_tokens * (quantized_row_bytes(TYPE_Q8_0, max_cols) +
                                                   quantized_row_bytes(TYPE_Q8_K, max_cols));
    /* Prefill with an int8 GEMM: the whole batch in each vec_dot_type a GEMM of the set takes
     * (Q8_0 for the AMX set: 4352 bytes per token of 4096 columns, 2.1 MiB for 512 tokens). */
    int gemm_takes[TYPE_COUNT] = {0};
    size_t prefill = 0;
    for (int type = 0; type < TYPE_COUNT; type++)
        if (k->row[type].vec_dot_gemm && type_traits_of(type))
            gemm_takes[type_traits_of(type)->vec_dot_type] = 1;
    for (int type = 0; type < TYPE_COUNT; type++)
        if (gemm_takes[type])
            prefill += (size_t)max_tokens * quantized_row_bytes(type, max_cols);
    return decode > prefill ? decode : prefill;
}
