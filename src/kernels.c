/* kernels.c — RMSNorm, RoPE, softmax, SwiGLU and the threaded matrix multiplication.
 *
 * The inner products themselves live in quant.c's type-traits table (one per storage type and
 * SIMD variant); this file decides which rows and tokens each worker multiplies. */
#include "kernels.h"

#include <math.h>
#include "gemm.h"
#include "quant.h"

void rmsnorm(float *out, const float *x, const float *weight, int n, float eps)
{
    /* Sum in double: a long residual stream of large values should not lose the small ones. */
    double ss = 0.0;
    for (int i = 0; i < n; i++)
        ss += (double)x[i] * x[i];
    float inv_rms = (float)(1.0 / sqrt(ss / n + eps));
    for (int i = 0; i < n; i++)
        out[i] = x[i] * inv_rms * weight[i];
}

void rope_angles(float *cos_out, float *sin_out, int rope_dim, int pos, float base)
{
    for (int i = 0; i < rope_dim / 2; i++) {
        /* In double: pos * theta reaches thousands of radians, where float loses the phase. */
        double theta = pow((double)base, -2.0 * i / rope_dim);
        double angle = pos * theta;
        cos_out[i] = (float)cos(angle);
        sin_out[i] = (float)sin(angle);
    }
}

void rope(float *v, int n_heads, int head_dim, int rope_dim, const float *cos, const float *sin)
{
    for (int h = 0; h < n_heads; h++) {
        float *head = v + (size_t)h * head_dim;
        for (int i = 0; i < rope_dim / 2; i++) {
            float a = head[2 * i], b = head[2 * i + 1];
            head[2 * i] = a * cos[i] - b * sin[i];
            head[2 * i + 1] = a * sin[i] + b * cos[i];
        }
    }
}

void softmax(float *x, int n)
{
    float max = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > max)
            max = x[i];
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    float inv = (float)(1.0 / sum);
    for (int i = 0; i < n; i++)
        x[i] *= inv;
}

void swiglu(float *gate, const float *up, int n)
{
    for (int i = 0; i < n; i++) {
        float g = gate[i];
        gate[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

/* ---- matmul -------------------------------------------------------------------------------- */

/* Tokens are processed in tiles small enough that a tile of activations stays in L2 while every
 * weight row of the worker's share streams past it once per tile. */
enum { TOKEN_TILE = 32 };

struct matmul_job {
    const float *x;
    int n_tokens;
    int n_mats;
    const tensor *const *w;
    float *const *out;
    int64_t total_rows;
};

static void matmul_rows(const struct matmul_job *job, int m, int64_t r0, int64_t r1)
{
    const tensor *w = job->w[m];
    if (job->n_tokens >= GEMM_TOKENS) {   /* prefill: register-blocked, see gemm.c */
        gemm_rows(w, r0, r1, job->x, w->cols, job->n_tokens, job->out[m], w->rows);
        return;
    }
    const type_traits *tt = type_traits_of(w->type);
    const int64_t cols = w->cols, rows = w->rows;
    float *out = job->out[m];
    for (int t0 = 0; t0 < job->n_tokens; t0 += TOKEN_TILE) {
        int t1 = t0 + TOKEN_TILE < job->n_tokens ? t0 + TOKEN_TILE : job->n_tokens;
        for (int64_t r = r0; r < r1; r++) {
            const void *row = (const char *)w->data + (size_t)r * w->row_bytes;
            int t = t0;
            for (; t + 4 <= t1; t += 4) {
                float o[4];
                tt->dot4(row, job->x + (size_t)t * cols, cols, cols, o);
                for (int j = 0; j < 4; j++)
                    out[(size_t)(t + j) * rows + r] = o[j];
            }
            for (; t < t1; t++)
                out[(size_t)t * rows + r] = tt->dot(row, job->x + (size_t)t * cols, cols);
        }
    }
}

/* The matrices' rows are numbered one after another and each task takes a contiguous share of
 * that combined range, so Q, K and V (of different heights) balance as one job. */
static void matmul_task(void *arg, int task, int n_tasks, int worker)
{
    (void)worker;
    const struct matmul_job *job = arg;
    long begin, end;
    threadpool_split((long)job->total_rows, task, n_tasks, &begin, &end);
    int64_t base = 0;
    for (int m = 0; m < job->n_mats && base < end; m++) {
        int64_t rows = job->w[m]->rows;
        int64_t r0 = begin > base ? begin - base : 0;
        int64_t r1 = end - base < rows ? end - base : rows;
        if (r0 < r1)
            matmul_rows(job, m, r0, r1);
        base += rows;
    }
}

void matmul(threadpool *pool, const float *x, int n_tokens, int n_mats, const tensor *const *w,
            float *const *out)
{
    struct matmul_job job = {x, n_tokens, n_mats, w, out, 0};
    for (int m = 0; m < n_mats; m++)
        job.total_rows += w[m]->rows;
    /* A few tasks per thread let a fast thread take over from a slow one; at least 16 rows each
     * keeps the claiming cheap and the output writes of two tasks off one cache line. */
    long n_tasks = 4L * threadpool_size(pool);
    if (n_tasks > (job.total_rows + 15) / 16)
        n_tasks = (job.total_rows + 15) / 16;
    threadpool_run(pool, matmul_task, &job, (int)n_tasks);
}
