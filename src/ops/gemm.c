/* gemm.c — the matrix multiplication of prefill, blocked for registers and cache.
 *
 * Decode multiplies a matrix by one vector: every weight is used once, so the speed is the speed
 * of reading weights (dot products, kernels/). Prefill multiplies it by many token vectors: each
 * weight can be used once per token while it is in a register, so the speed becomes the speed of
 * the FMA units — if the loop is arranged for it:
 *   1. Pack: dequantize a block of g->rows weight rows over g->k_block columns into a float panel
 *      stored column by column (panel[k][r]), so one vector load brings several rows' weights at
 *      k. This is the only place the storage type matters, and its cost is shared by every token.
 *   2. Multiply: for a tile of g->tokens tokens, keep rows x tokens partial sums in registers; at
 *      each k, broadcast each token's x[k] and multiply-add it into its sums (the kernel set's
 *      tile function: 16 x 6 for AVX2, 32 x 8 for AVX-512).
 *   3. Add the tile's sums to the output (the first column block assigns).
 * Each output element is summed in the same order whatever rows or threads it was grouped with,
 * so the result does not depend on the thread count. */
#include "ops/gemm.h"

#include <string.h>

size_t gemm_scratch_floats(const gemm_kernel *g)
{
    /* the dequantized rows, the panel, the tile */
    return 2 * (size_t)g->k_block * g->rows + (size_t)g->tokens * g->rows;
}

void gemm_rows(const gemm_kernel *g, const kernel_row *row, const tensor *w, int64_t r0, int64_t r1,
               const float *x, int64_t ldx, int n_tokens, float *out, int64_t ldo, float *scratch)
{
    const int tile_rows = g->rows, tile_tokens = g->tokens;
    float *dequantized = scratch;                               /* [tile_rows][k_block] */
    float *panel = dequantized + (size_t)g->k_block * tile_rows;  /* [k_block][tile_rows] */
    float *tile = panel + (size_t)g->k_block * tile_rows;         /* [tile_tokens][tile_rows] */
    const type_traits *tt = type_traits_of(w->type);
    const int64_t cols = w->cols;

    for (int64_t rb = r0; rb < r1; rb += tile_rows) {
        const int nr = (int)(r1 - rb < tile_rows ? r1 - rb : tile_rows);
        for (int64_t k0 = 0; k0 < cols; k0 += g->k_block) {
            const int kc = (int)(cols - k0 < g->k_block ? cols - k0 : g->k_block);
            /* 1. pack; k0 is a multiple of every block size, so the row offset is whole blocks.
             * Dequantize row by row, then transpose with k outer, so that the panel is written
             * contiguously (a store per element into a different cache line measured 11 % of
             * s110M prefill). */
            const size_t k0_bytes = (size_t)(k0 / tt->block_size) * tt->block_bytes;
            for (int r = 0; r < nr; r++)
                row->to_float((const char *)tensor_row(w, rb + r) + k0_bytes, dequantized + (size_t)r * g->k_block, kc);
            for (int k = 0; k < kc; k++) {
                float *column = panel + (size_t)k * tile_rows;
                for (int r = 0; r < nr; r++)
                    column[r] = dequantized[(size_t)r * g->k_block + k];
                for (int r = nr; r < tile_rows; r++)
                    column[r] = 0.0f;
            }
            /* 2 and 3. multiply tile by tile, then add into the output */
            for (int t0 = 0; t0 < n_tokens; t0 += tile_tokens) {
                const int nt = n_tokens - t0 < tile_tokens ? n_tokens - t0 : tile_tokens;
                const float *xt[GEMM_MAX_TOKENS];
                for (int t = 0; t < tile_tokens; t++)   /* a short tile repeats its last token */
                    xt[t] = x + (size_t)(t0 + (t < nt ? t : nt - 1)) * ldx + k0;
                g->tile(panel, kc, xt, tile);
                for (int t = 0; t < nt; t++) {
                    float *o = out + (size_t)(t0 + t) * ldo + rb;
                    const float *sums = tile + (size_t)t * tile_rows;
                    if (k0 == 0)
                        memcpy(o, sums, sizeof(float) * nr);
                    else
                        for (int r = 0; r < nr; r++)
                            o[r] += sums[r];
                }
            }
        }
    }
}
