/* int8_panel.h — Q8_0/Q4_0 weights packed for the int8 prefill GEMMs (AMX tiles, AVX-512 VNNI).
 *
 * Both instruction families multiply four int8 weights by four int8 activations and add the four
 * products into one int32 lane: lane n of a 64-byte vector (or column n of an AMX B tile) holds
 * weights 4i .. 4i+3 of weight row n. So a panel stores, for each 32-weight block, 8 such vectors
 * per 16 rows: b[block][h][i][4 n + j] = weight 4i + j of row 16 h + n (the "VNNI layout"). One
 * broadcast activation dword against b[block][h][i] then adds to the 16 rows' sums at once.
 *
 * Each block also carries the rows' scales and the sums of their 32 weights: VNNI's vpdpbusd
 * takes unsigned activations, so the GEMM adds 128 to each (x ^ 0x80) and takes 128 x that sum
 * back off. Rows past the matrix's last are zeros with scale 0.
 *
 * avx2.c packs (AVX2 runs on every CPU that has the instructions that read the panels). */
#ifndef ATTEND_KERNELS_INT8_PANEL_H
#define ATTEND_KERNELS_INT8_PANEL_H

#include <stdint.h>
#include "tensor.h"

enum {
    INT8_BLOCK = 32,          /* weights per Q8_0/Q4_0 block */
    INT8_PANEL_ROWS = 32,     /* rows per panel: two vectors (or B tiles) of 16 */
    INT8_RANGE_BLOCKS = 16,   /* blocks per packed range of K: 512 columns */
};

typedef struct {
    int8_t b[INT8_RANGE_BLOCKS][2][INT8_BLOCK / 4][64];   /* [block][rows 0-15 / 16-31][k / 4][4 n + k % 4] */
    float d[INT8_RANGE_BLOCKS][INT8_PANEL_ROWS];          /* each row's block scale */
    int32_t sum[INT8_RANGE_BLOCKS][INT8_PANEL_ROWS];      /* each row's block: the sum of its weights */
} int8_panel;

/* Rows rb .. rb+nr-1 of w (Q8_0 or Q4_0; Q4_0's weights are q - 8), blocks kb .. kb+n_blocks-1
 * (n_blocks <= 16), into panels[0 .. (nr + 31) / 32): 32 rows each, the last one's missing rows
 * zeros. */
void avx2_pack_int8_panels(const tensor *w, int64_t rb, int nr, int64_t kb, int n_blocks, int8_panel *panels);

#endif
