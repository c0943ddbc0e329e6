/* gemm.c — the matrix multiplication of prefill, blocked for registers and cache.
 *
 * Decode multiplies a matrix by one vector: every weight is used once, so the speed is the speed
 * of reading weights (dot products, kernels/). Prefill multiplies it by many token vectors: each
 * weight can be used once per token while it is in a register, so the speed becomes the speed of
 * the FMA units — if the loop is arranged for it:
 *   1. Pack: dequantize a group of weight rows over g->k_block columns into float panels of
 *      g->rows rows each, stored column by column (panel[k][r]), so one vector load brings
 *      several rows' weights at k. This is the only place the storage type matters, and its cost
 *      is shared by every token. The group's panels together stay in L2. (A kernel set may pack
 *      some types itself, g->pack: converting and transposing in registers; and may keep F16
 *      weights in fp16 panels, converted in its tile, g->tile_f16: half the bytes to move.)
 *   2. Multiply: for a tile of g->tokens tokens, keep rows x tokens partial sums in registers; at
 *      each k, broadcast each token's x[k] and multiply-add it into its sums (the kernel set's
 *      tile function: 16 x 6 for AVX2, 32 x 8 for AVX-512). The tile's x (tokens x k_block
 *      floats) stays in L1 while it meets every panel of the group in turn: each x load from
 *      memory serves the whole group of rows, not one panel's.
 *   3. Add the tile's sums to the output (the first column block assigns).
 * Each output element is summed in the same order whatever rows or threads it was grouped with,
 * so the result does not depend on the thread count. */
#include "ops/gemm.h"

#include <string.h>

/* Bytes of packed panels per group: half of a 512 KiB L2, the rest for x and the output. (With
 * the AVX2 set's 1024-column panels, four to a group, prefill ran 4-13 % faster on a Zen 3 than
 * with 512-column panels in groups of 128 KiB: half the passes that add a tile's sums into the
 * output, and each x tile still meets 64 rows.) */
enum { GROUP_BYTES = 256 * 1024 };

/* How many panels a group holds (at least one). */
static int group_panels(const gemm_kernel *g)
{
    int panels = GROUP_BYTES / (int)(sizeof(float) * g->rows * g->k_block);
    return panels > 0 ? panels : 1;
}

/* Rows of the dequantized buffer are this far apart: a few floats past k_block, so that reading
 * one column of 16 rows does not hit one L1 set 16 times (a stride of exactly 4 KiB would). */
static int64_t dequantized_stride(const gemm_kernel *g) { return g->k_block + 16; }

size_t gemm_scratch_floats(const gemm_kernel *g)
{
    /* the dequantized rows of one panel, the group's panels, the tile */
    return (size_t)dequantized_stride(g) * g->rows + (size_t)group_panels(g) * g->k_block * g->rows +
           (size_t)g->tokens * g->rows;
}

/* Rows rb .. rb+nr-1 (nr <= g->rows), columns k0 .. k0+kc-1, into panel[k][r]; missing rows are 0. */
static void pack_panel(const gemm_kernel *g, const kernel_row *row, const tensor *w, int64_t rb, int nr,
                       int64_t k0, int kc, float *dequantized, float *panel)
{
    const type_traits *tt = type_traits_of(w->type);
    const int tile_rows = g->rows;
    const int64_t stride = dequantized_stride(g);
    if (nr == tile_rows && g->pack && g->pack(w->type, tensor_row(w, rb), w->row_bytes, k0, kc, tile_rows, panel))
        return;
    /* k0 is a multiple of every block size, so the row offset is whole blocks. Dequantize row by
     * row, then transpose with k outer, so that the panel is written contiguously (a store per
     * element into a different cache line measured 11 % of s110M prefill). */
    const size_t k0_bytes = (size_t)(k0 / tt->block_size) * tt->block_bytes;
    for (int r = 0; r < nr; r++)
        row->to_float((const char *)tensor_row(w, rb + r) + k0_bytes, dequantized + r * stride, kc);
    for (int k = 0; k < kc; k++) {
        float *column = panel + (size_t)k * tile_rows;
        for (int r = 0; r < nr; r++)
            column[r] = dequantized[r * stride + k];
        for (int r = nr; r < tile_rows; r++)
            column[r] = 0.0f;
    }
}

/* The same for F16 rows into an fp16 panel (g->tile_f16's): the set's pack_f16 where it takes the
 * shape, else the halves copied one by one. */
static void pack_panel_f16(const gemm_kernel *g, const tensor *w, int64_t rb, int nr, int64_t k0, int kc,
                           uint16_t *panel)
{
    const int tile_rows = g->rows;
    if (nr == tile_rows && g->pack_f16 && g->pack_f16(tensor_row(w, rb), w->row_bytes, k0, kc, tile_rows, panel))
        return;
    for (int k = 0; k < kc; k++)
        for (int r = 0; r < tile_rows; r++)
            panel[(size_t)k * tile_rows + r] = r < nr ? ((const uint16_t *)tensor_row(w, rb + r))[k0 + k] : 0;
}

void gemm_rows(const gemm_kernel *g, const kernel_row *row, const tensor *w, int64_t r0, int64_t r1,
               const float *x, int64_t ldx, int n_tokens, float *out, int64_t ldo, float *scratch)
{
    const int tile_rows = g->rows, tile_tokens = g->tokens;
    const int64_t group_rows = (int64_t)group_panels(g) * tile_rows;
    float *dequantized = scratch;                                       /* [tile_rows][stride] */
    float *panels = dequantized + dequantized_stride(g) * tile_rows;    /* [panel][k_block][tile_rows] */
    float *tile = panels + (size_t)group_panels(g) * g->k_block * tile_rows;   /* [tile_tokens][tile_rows] */
    const int64_t cols = w->cols;
    const int f16 = w->type == TYPE_F16 && g->tile_f16;   /* fp16 panels (half the floats' room) */
    uint16_t *panels_f16 = (uint16_t *)panels;

    for (int64_t rg = r0; rg < r1; rg += group_rows) {
        const int64_t rg_end = r1 - rg < group_rows ? r1 : rg + group_rows;
        for (int64_t k0 = 0; k0 < cols; k0 += g->k_block) {
            const int kc = (int)(cols - k0 < g->k_block ? cols - k0 : g->k_block);
            /* 1. pack the group */
            int n_panels = 0;
            for (int64_t rb = rg; rb < rg_end; rb += tile_rows, n_panels++) {
                const int nr = (int)(rg_end - rb < tile_rows ? rg_end - rb : tile_rows);
                const size_t offset = (size_t)n_panels * g->k_block * tile_rows;
                if (f16)
                    pack_panel_f16(g, w, rb, nr, k0, kc, panels_f16 + offset);
                else
                    pack_panel(g, row, w, rb, nr, k0, kc, dequantized, panels + offset);
            }
            /* 2 and 3. each tile of tokens against every panel, then added into the output */
            for (int t0 = 0; t0 < n_tokens; t0 += tile_tokens) {
                const int nt = n_tokens - t0 < tile_tokens ? n_tokens - t0 : tile_tokens;
                const float *xt[GEMM_MAX_TOKENS];
                for (int t = 0; t < tile_tokens; t++)   /* a short tile repeats its last token */
                    xt[t] = x + (size_t)(t0 + (t < nt ? t : nt - 1)) * ldx + k0;
                for (int p = 0; p < n_panels; p++) {
                    const int64_t rb = rg + (int64_t)p * tile_rows;
                    const int nr = (int)(rg_end - rb < tile_rows ? rg_end - rb : tile_rows);
                    /* The next tile's outputs of these rows are read (or written) after the
                     * next multiplication: ask for them now, so they are not waited for. By
                     * then x and the panels have streamed through L2 since they were last
                     * touched, and this add was the slowest line of the GEMM outside the tile. */
                    for (int t = t0 + tile_tokens; t < t0 + 2 * tile_tokens && t < n_tokens; t++) {
                        __builtin_prefetch(out + (size_t)t * ldo + rb, 1);
                        __builtin_prefetch(out + (size_t)t * ldo + rb + nr - 1, 1);
                    }
                    const size_t offset = (size_t)p * g->k_block * tile_rows;
                    if (f16)
                        g->tile_f16(panels_f16 + offset, kc, xt, tile);
                    else
                        g->tile(panels + offset, kc, xt, tile);
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
}
