/* gemm.c — the matrix multiplication of prefill, blocked for registers and cache.
 *
 * Decode multiplies a matrix by one vector: every weight is used once, so the speed is the speed
 * of reading weights (dot products, quant.c). Prefill multiplies it by many token vectors: each
 * weight can be used once per token while it is in a register, so the speed becomes the speed of
 * the FMA units — if the loop is arranged for it:
 *   1. Pack: dequantize a block of GEMM_ROWS weight rows over GEMM_K columns into a float panel
 *      stored column by column (panel[k][r]), so one vector load brings 16 rows' weights at k.
 *      This is the only place the storage type matters, and its cost is shared by every token.
 *   2. Multiply: for a tile of GEMM_TOKENS tokens, keep GEMM_ROWS x GEMM_TOKENS partial sums in
 *      registers; at each k, broadcast each token's x[k] and multiply-add it into its sums. Two
 *      weight loads feed sixteen FMAs.
 *   3. Add the tile's sums to the output (the first column block assigns).
 * Each output element is summed in the same order whatever rows or threads it was grouped with,
 * so the result does not depend on the thread count. */
#include "gemm.h"

#include <pthread.h>
#include <string.h>
#include "quant.h"

enum { GEMM_ROWS = 32, GEMM_K = 512 };   /* a panel is 32 KiB: it stays in L1/L2 */

typedef void (*micro_fn)(const float *panel, int kc, const float *const x[GEMM_TOKENS],
                         float tile[GEMM_TOKENS][GEMM_ROWS]);

/* The portable tile: tile[t][r] = sum_k panel[k][r] * x[t][k]. */
static void micro_scalar(const float *panel, int kc, const float *const x[GEMM_TOKENS],
                         float tile[GEMM_TOKENS][GEMM_ROWS])
{
    memset(tile, 0, sizeof(float) * GEMM_TOKENS * GEMM_ROWS);
    for (int k = 0; k < kc; k++)
        for (int t = 0; t < GEMM_TOKENS; t++) {
            const float xk = x[t][k];
            for (int r = 0; r < GEMM_ROWS; r++)
                tile[t][r] += panel[k * GEMM_ROWS + r] * xk;
        }
}

#if defined(__x86_64__)
#include <immintrin.h>

/* The same tile in 16 AVX-512 registers: 8 tokens x 2 vectors of 16 rows. */
__attribute__((target("avx512f")))
static void micro_avx512(const float *panel, int kc, const float *const x[GEMM_TOKENS],
                         float tile[GEMM_TOKENS][GEMM_ROWS])
{
    __m512 c[GEMM_TOKENS][2];
    for (int t = 0; t < GEMM_TOKENS; t++)
        c[t][0] = c[t][1] = _mm512_setzero_ps();
    for (int k = 0; k < kc; k++) {
        const __m512 w0 = _mm512_loadu_ps(panel + k * GEMM_ROWS);
        const __m512 w1 = _mm512_loadu_ps(panel + k * GEMM_ROWS + 16);
        for (int t = 0; t < GEMM_TOKENS; t++) {
            const __m512 xk = _mm512_set1_ps(x[t][k]);
            c[t][0] = _mm512_fmadd_ps(xk, w0, c[t][0]);
            c[t][1] = _mm512_fmadd_ps(xk, w1, c[t][1]);
        }
    }
    for (int t = 0; t < GEMM_TOKENS; t++) {
        _mm512_storeu_ps(tile[t], c[t][0]);
        _mm512_storeu_ps(tile[t] + 16, c[t][1]);
    }
}
#endif

/* Chosen once, before any thread uses it: the AVX-512 tile when quant.c runs its AVX-512 kernels
 * (so ATTEND_SIMD=scalar makes every kernel portable at once). */
static micro_fn micro = micro_scalar;
static pthread_once_t micro_once = PTHREAD_ONCE_INIT;

static void pick_micro(void)
{
#if defined(__x86_64__)
    if (strcmp(quant_init(), "avx512") == 0)
        micro = micro_avx512;
#endif
}

void gemm_rows(const tensor *w, int64_t r0, int64_t r1, const float *x, int64_t ldx, int n_tokens,
               float *out, int64_t ldo)
{
    static _Thread_local float rows[GEMM_ROWS][GEMM_K];        /* dequantized, row-major */
    static _Thread_local float panel[GEMM_K * GEMM_ROWS];      /* the same, column-major */
    static _Thread_local float tile[GEMM_TOKENS][GEMM_ROWS];
    pthread_once(&micro_once, pick_micro);
    const type_traits *tt = type_traits_of(w->type);
    const int64_t cols = w->cols;

    for (int64_t rb = r0; rb < r1; rb += GEMM_ROWS) {
        const int nr = (int)(r1 - rb < GEMM_ROWS ? r1 - rb : GEMM_ROWS);
        for (int64_t k0 = 0; k0 < cols; k0 += GEMM_K) {
            const int kc = (int)(cols - k0 < GEMM_K ? cols - k0 : GEMM_K);
            /* 1. pack; k0 is a multiple of every block size, so the row offset is whole blocks */
            const size_t k0_bytes = (size_t)(k0 / tt->block_size) * tt->block_bytes;
            for (int r = 0; r < nr; r++)
                tt->to_float((const char *)w->data + (size_t)(rb + r) * w->row_bytes + k0_bytes, rows[r], kc);
            for (int k = 0; k < kc; k++) {
                for (int r = 0; r < nr; r++)
                    panel[k * GEMM_ROWS + r] = rows[r][k];
                for (int r = nr; r < GEMM_ROWS; r++)
                    panel[k * GEMM_ROWS + r] = 0.0f;
            }
            /* 2 and 3. multiply tile by tile, then add into the output */
            for (int t0 = 0; t0 < n_tokens; t0 += GEMM_TOKENS) {
                const int nt = n_tokens - t0 < GEMM_TOKENS ? n_tokens - t0 : GEMM_TOKENS;
                const float *xt[GEMM_TOKENS];
                for (int t = 0; t < GEMM_TOKENS; t++)   /* a short tile repeats its last token */
                    xt[t] = x + (size_t)(t0 + (t < nt ? t : nt - 1)) * ldx + k0;
                micro(panel, kc, xt, tile);
                for (int t = 0; t < nt; t++) {
                    float *o = out + (size_t)(t0 + t) * ldo + rb;
                    if (k0 == 0)
                        memcpy(o, tile[t], sizeof(float) * nr);
                    else
                        for (int r = 0; r < nr; r++)
                            o[r] += tile[t][r];
                }
            }
        }
    }
}
