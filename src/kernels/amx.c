/* amx.c — the AMX kernel set: the AVX-512 set, plus an int8 prefill GEMM on Intel's tile unit.
 *
 * Sapphire Rapids and later have AMX: eight tile registers of up to 16 rows x 64 bytes, and
 * TDPBSSD, which multiplies two of them in one instruction, C[16 x 16 int32] += A[16 x 64 int8]
 * . B[64 x 16 int8], a tile of 16 x 16 x 64 = 16384 multiply-adds. Prefill against Q8_0 and Q4_0
 * weights is then an integer matrix product, as decode's vec_dot already is, only 16 tokens by 16
 * weight rows at a time:
 *   - Activations are quantized once per matmul to Q8_0 blocks (matmul.c, with the set's from_float:
 *     the quantizer decode uses). A token's block b is 32 contiguous int8 after its fp16 scale, so
 *     the A tiles load straight from those rows: 16 tokens' blocks, a row stride apart.
 *   - Weights are packed per panel of 32 rows and a range of 16 blocks into the B tile layout
 *     (kernels/int8_panel.h; the AVX2 set packs eight rows at a time in registers), Q4_0 nibbles
 *     unpacked to q - 8 on the way, with each (row, block) scale as a float. Every token of the
 *     batch shares that cost.
 *   - Each Q8_0/Q4_0 block has its own scale on both sides (one per weight row, one per token), so
 *     int32 sums may only run within a block: a tile multiply covers one block (K = 32), its C tiles
 *     are stored, and each int32 sum is converted and added to its float output as
 *         acc += (float)sum * (d_token * d_row),          blocks in ascending order from acc = 0.
 *     d_token * d_row is a product of two fp16 values, exact in float; |sum| <= 32 * 128 * 127 is
 *     exact in float too. So every output is the scalar set's vec_dot (scalar.c) bit for bit,
 *     whatever rows, tokens or threads it was grouped with: the same two roundings per block, in the
 *     same order. (That needs no contraction of the multiply and add into an FMA: -std=c11 implies
 *     -ffp-contract=off.) The int32 part is exact, so only the float epilogue can differ, and it
 *     does not.
 *   - Tiles per step: C00 C01 C10 C11 (32 tokens x 32 rows of int32 sums), A0 A1 (two 16-token A
 *     tiles), B0 B1 (two 16-row B tiles): all eight registers, each loaded tile used twice.
 *
 * The B tile is in "VNNI" layout: TDPBSSD takes dword i of A's row m (bytes 4i..4i+3) against
 * dword n of B's row i (bytes 4n..4n+3) and adds the four byte products into C[m][n]. With A's
 * row m a token's 32 activations of a block, B's row i must hold weights 4i..4i+3 of each of the
 * 16 weight rows side by side: B[k / 4][4 n + k % 4] = W[n][k] for weight k of row n, 8 rows of
 * 64 bytes per block.
 *
 * Every tile instruction goes through the TILE_* macros and two functions. Built with
 * -DATTEND_AMX_EMULATE (tests/test_amx.c includes this file so), they become plain C over an
 * emulated register file that checks what the hardware would fault on, so that everything here
 * but the instructions themselves is tested on CPUs without AMX. The float epilogue is plain C,
 * the same in both builds (vectorized by the compiler for AVX-512 in the real one).
 *
 * Two facts of the real build:
 *   - Linux hands out tile data state only to a process that asked for it (arch_prctl
 *     ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA); without it the first tile instruction faults.
 *     kernel_set_supported (select.c) asks, and reports the set unsupported if refused.
 *   - Debian's GCC 12 declares _tile_loadconfig's operand as 8 bytes, so the compiler may drop
 *     the stores that fill the other 56 bytes of the configuration (the tiles then stay
 *     unconfigured and the first one faults); its _tile_loadd declares no memory operand at all,
 *     so a store into the packed weights could sink below the load that reads it. The
 *     instructions are therefore written here in inline asm: ldtilecfg takes the whole 64-byte
 *     struct as its operand, loads and stores clobber memory. */

#include "kernels/kernel_set.h"
#include "kernels/int8_panel.h"

#include <string.h>

#if defined(ATTEND_AMX_EMULATE)
#include <stdio.h>
#include <stdlib.h>
#define AMX                     /* the emulator is plain C: no target, any CPU */
#elif defined(__x86_64__)
#include "kernels/avx512.h"
#include "kernels/kquant_rows.h"
#define AMX __attribute__((target("amx-tile,amx-int8,avx512f,avx512bw,avx512vl,avx2,fma,f16c")))
#endif
#define INLINE static inline __attribute__((always_inline))

#if defined(__x86_64__) || defined(ATTEND_AMX_EMULATE)

/* ==== The tile configuration ==== */

/* What ldtilecfg reads: 64 bytes, palette 1 (eight tiles of at most 16 rows x 64 bytes). */
typedef struct {
    uint8_t palette_id;      /* 1 */
    uint8_t start_row;       /* where an interrupted load or store resumes: 0 */
    uint8_t reserved[14];    /* 0 */
    uint16_t colsb[16];      /* bytes per row of tile i (tiles 0-7; 8-15 are 0) */
    uint8_t rows[16];        /* rows of tile i; 0 (with colsb 0) leaves the tile unused */
} tile_config;
_Static_assert(sizeof(tile_config) == 64, "ldtilecfg reads 64 bytes");

enum { TILE_MAX_ROWS = 16, TILE_MAX_BYTES = 64, N_TILES = 8 };

/* The registers by role (macros, not an enum: the asm text needs the digit). C tiles hold the
 * int32 sums of tokens 0-15 / 16-31 (first digit) against rows 0-15 / 16-31 (second). */
#define TILE_C00 0
#define TILE_C01 1
#define TILE_C10 2
#define TILE_C11 3
#define TILE_A0 4        /* tokens 0-15 of the step, one block of their activations */
#define TILE_A1 5        /* tokens 16-31 */
#define TILE_B0 6        /* weight rows 0-15 of the panel, one block, VNNI layout */
#define TILE_B1 7        /* rows 16-31 */

#if defined(ATTEND_AMX_EMULATE)

/* ==== The emulated tile unit (tests only) ====
 *
 * The semantics of Intel's pseudocode for LDTILECFG, TILELOADD, TILESTORED, TILEZERO, TDPBSSD and
 * TILERELEASE, over one register file. Where the hardware would raise #GP or #UD (a bad
 * configuration, an unconfigured tile, shapes that do not chain), the emulator aborts with the
 * reason. The register file is per thread, as the hardware's is (the library proper has no
 * mutable global and no thread-local state; this is test code). */

typedef struct {
    int configured;
    tile_config config;
    uint8_t data[N_TILES][TILE_MAX_ROWS][TILE_MAX_BYTES];
} emulated_tile_unit;

static _Thread_local emulated_tile_unit emulated_tiles;

static void emulated_fault(const char *instruction, int tile, const char *why)
{
    fprintf(stderr, "amx emulator: %s on tmm%d: %s (the hardware would fault)\n", instruction, tile, why);
    abort();
}

static void emulated_ldtilecfg(const tile_config *c)
{
    if (c->palette_id != 1 || c->start_row != 0)
        emulated_fault("ldtilecfg", -1, "palette must be 1 and start_row 0");
    for (int i = 0; i < 14; i++)
        if (c->reserved[i])
            emulated_fault("ldtilecfg", -1, "reserved bytes must be 0");
    for (int t = 0; t < 16; t++) {
        if (t >= N_TILES && (c->rows[t] || c->colsb[t]))
            emulated_fault("ldtilecfg", t, "palette 1 has 8 tiles");
        if (c->rows[t] > TILE_MAX_ROWS || c->colsb[t] > TILE_MAX_BYTES)
            emulated_fault("ldtilecfg", t, "more than 16 rows or 64 bytes per row");
        if (!c->rows[t] != !c->colsb[t])
            emulated_fault("ldtilecfg", t, "rows and colsb must be both zero or both set");
    }
    emulated_tiles.config = *c;
    emulated_tiles.configured = 1;
    memset(emulated_tiles.data, 0, sizeof emulated_tiles.data);
}

static void emulated_need(const char *instruction, int t)
{
    if (!emulated_tiles.configured || t < 0 || t >= N_TILES || !emulated_tiles.config.rows[t])
        emulated_fault(instruction, t, "tile not configured");
}

static void emulated_tilezero(int t)
{
    emulated_need("tilezero", t);
    memset(emulated_tiles.data[t], 0, sizeof emulated_tiles.data[t]);
}

/* rows x colsb bytes from base, row i at base + i * stride; the rest of the register zeroed */
static void emulated_tileloadd(int t, const void *base, long stride)
{
    emulated_need("tileloadd", t);
    memset(emulated_tiles.data[t], 0, sizeof emulated_tiles.data[t]);
    for (int i = 0; i < emulated_tiles.config.rows[t]; i++)
        memcpy(emulated_tiles.data[t][i], (const char *)base + i * stride, emulated_tiles.config.colsb[t]);
}

static void emulated_tilestored(int t, void *base, long stride)
{
    emulated_need("tilestored", t);
    for (int i = 0; i < emulated_tiles.config.rows[t]; i++)
        memcpy((char *)base + i * stride, emulated_tiles.data[t][i], emulated_tiles.config.colsb[t]);
}

/* C[m][n] += sum over k < K of the four byte products of A's row m dword k and B's row k dword n
 * (all signed), in wrapping int32; C is M x N dwords, A is M x K, B is K x N. */
static void emulated_tdpbssd(int c, int a, int b)
{
    emulated_need("tdpbssd", c), emulated_need("tdpbssd", a), emulated_need("tdpbssd", b);
    const tile_config *cfg = &emulated_tiles.config;
    if (c == a || c == b || a == b)
        emulated_fault("tdpbssd", c, "the three tiles must differ");
    if (cfg->colsb[a] % 4 || cfg->colsb[c] % 4)
        emulated_fault("tdpbssd", c, "rows of A and C must be whole dwords");
    const int M = cfg->rows[c], K = cfg->colsb[a] / 4, N = cfg->colsb[c] / 4;
    if (cfg->rows[a] != M || cfg->rows[b] != K || cfg->colsb[b] != cfg->colsb[c])
        emulated_fault("tdpbssd", c, "shapes do not chain: need C M x N, A M x K, B K x N");
    uint8_t(*dst)[TILE_MAX_BYTES] = emulated_tiles.data[c];
    const int8_t(*src1)[TILE_MAX_BYTES] = (const int8_t(*)[TILE_MAX_BYTES])emulated_tiles.data[a];
    const int8_t(*src2)[TILE_MAX_BYTES] = (const int8_t(*)[TILE_MAX_BYTES])emulated_tiles.data[b];
    for (int m = 0; m < M; m++) {
        for (int n = 0; n < N; n++) {
            uint32_t sum;
            memcpy(&sum, &dst[m][4 * n], 4);
            for (int k = 0; k < K; k++)
                for (int i = 0; i < 4; i++)
                    sum += (uint32_t)(src1[m][4 * k + i] * src2[k][4 * n + i]);
            memcpy(&dst[m][4 * n], &sum, 4);
        }
        memset(&dst[m][4 * N], 0, TILE_MAX_BYTES - 4 * N);
    }
    memset(dst[M], 0, (size_t)(TILE_MAX_ROWS - M) * TILE_MAX_BYTES);
}

static void emulated_tilerelease(void)
{
    memset(&emulated_tiles, 0, sizeof emulated_tiles);
}

#define tile_configure(config) emulated_ldtilecfg(config)
#define tile_release() emulated_tilerelease()
#define TILE_ZERO(t) emulated_tilezero(t)
#define TILE_LOAD(t, base, stride) emulated_tileloadd(t, base, (long)(stride))
#define TILE_STORE(t, base, stride) emulated_tilestored(t, base, (long)(stride))
#define TILE_DPBSSD(c, a, b) emulated_tdpbssd(c, a, b)

#else /* the real instructions */

#define TILE_STR(t) #t
#define TILE_REG(t) "%%tmm" TILE_STR(t)

AMX INLINE void tile_configure(const tile_config *config)
{
    __asm__ volatile("ldtilecfg %0" ::"m"(*config));
}

AMX INLINE void tile_release(void) { __asm__ volatile("tilerelease" ::); }

#define TILE_ZERO(t) __asm__ volatile("tilezero " TILE_REG(t) ::)
#define TILE_LOAD(t, base, stride)                                                                 \
    __asm__ volatile("tileloadd (%0,%1,1), " TILE_REG(t) ::"r"(base), "r"((long)(stride)) : "memory")
#define TILE_STORE(t, base, stride)                                                                \
    __asm__ volatile("tilestored " TILE_REG(t) ", (%0,%1,1)" ::"r"(base), "r"((long)(stride)) : "memory")
/* AT&T order: sources B, A, then the accumulator C */
#define TILE_DPBSSD(c, a, b) __asm__ volatile("tdpbssd " TILE_REG(b) ", " TILE_REG(a) ", " TILE_REG(c) ::)

#endif /* ATTEND_AMX_EMULATE */

/* ==== Packed weights ==== */

/* The weights are packed into kernels/int8_panel.h's panels, by the AVX2 set: their VNNI layout is
 * the B tiles' (b[block][h] is tile B(h) of a block: row k / 4 holds weights 4 (k / 4) ..
 * 4 (k / 4) + 3 of each of 16 weight rows), and TDPBSSD takes their signed weights as they are
 * (the sums beside them are for VNNI's unsigned operand; AMX needs none). */
enum {
    BLOCK = INT8_BLOCK,          /* weights per Q8_0/Q4_0 block: the K of one tile multiply */
    TILE_TOKENS = 16,            /* rows of an A (and C) tile */
    TILE_WEIGHT_ROWS = 16,       /* int32 columns of a B (and C) tile */
    STEP_TOKENS = 2 * TILE_TOKENS,          /* A0, A1 */
    PANEL_ROWS = INT8_PANEL_ROWS,           /* B0, B1 */
    RANGE_BLOCKS = INT8_RANGE_BLOCKS,       /* blocks per packed range of K: 512 columns */
    GROUP_PANELS = 8,            /* panels packed at once: 256 rows, 160 KiB, in L2 */
};
_Static_assert(PANEL_ROWS == 2 * TILE_WEIGHT_ROWS && BLOCK / 4 <= TILE_MAX_ROWS, "a panel block is two B tiles");

/* A thread's scratch (the set's vec_dot_gemm_scratch). The group's panels stay in L2 while every
 * step of tokens meets them; a step's A rows (32 tokens x 16 blocks, 17 KiB) stay in L1 while it
 * meets every panel of the group. */
typedef struct {
    int8_panel panels[GROUP_PANELS];
    int32_t sums[STEP_TOKENS][PANEL_ROWS];    /* one block's C tiles, as stored */
    float acc[STEP_TOKENS][PANEL_ROWS];       /* the outputs of the panel being multiplied */
    float token_d[STEP_TOKENS][RANGE_BLOCKS]; /* the step's activation scales over the range */
} amx_scratch;

/* ==== The GEMM ==== */

/* C tiles of nt tokens (at most 16 in the first row of tiles, the rest in the second) by 16
 * weight rows (64 bytes of int32); A tiles of one block (32 bytes) per token; B tiles of 8 rows
 * of 64 bytes. The second row of tiles is left unconfigured when nt <= 16. Loading a
 * configuration zeroes every tile. */
AMX static void configure_step(int nt)
{
    _Alignas(64) tile_config config = {.palette_id = 1};
    const int first = nt < TILE_TOKENS ? nt : TILE_TOKENS, second = nt - first;
    const int rows_of[N_TILES] = {
        [TILE_C00] = first, [TILE_C01] = first, [TILE_C10] = second, [TILE_C11] = second,
        [TILE_A0] = first, [TILE_A1] = second, [TILE_B0] = BLOCK / 4, [TILE_B1] = BLOCK / 4 };
    const int bytes_of[N_TILES] = {
        [TILE_C00] = 64, [TILE_C01] = 64, [TILE_C10] = 64, [TILE_C11] = 64,
        [TILE_A0] = BLOCK, [TILE_A1] = BLOCK, [TILE_B0] = 64, [TILE_B1] = 64 };
    for (int t = 0; t < N_TILES; t++)
        if (rows_of[t]) {
            config.rows[t] = (uint8_t)rows_of[t];
            config.colsb[t] = (uint16_t)bytes_of[t];
        }
    tile_configure(&config);
}

/* acc[t][r] += (float)sums[t][r] * (d_token * d_row) for one block: the only float arithmetic
 * (see the top of the file for why it gives vec_dot's bits). */
AMX INLINE void add_block(amx_scratch *s, const float *row_d, int b, int nt)
{
    for (int t = 0; t < nt; t++) {
        const float token_d = s->token_d[t][b];
        for (int r = 0; r < PANEL_ROWS; r++)
            s->acc[t][r] += (float)s->sums[t][r] * (token_d * row_d[r]);
    }
}

/* One step of nt tokens (x: the first one's block kb) against one panel over n_blocks blocks,
 * continuing the outputs of rows rb .. rb+nr-1 from the previous range (or from 0). */
AMX static void multiply_panel(amx_scratch *s, const int8_panel *panel, const block_q8_0 *x, size_t x_stride,
                               int nt, int n_blocks, int first_range, float *out, int64_t ldo, int64_t rb, int nr)
{
    for (int t = 0; t < nt; t++)
        for (int r = 0; r < PANEL_ROWS; r++)
            s->acc[t][r] = first_range || r >= nr ? 0.0f : out[t * ldo + rb + r];
    const size_t sums_stride = sizeof s->sums[0];
    for (int b = 0; b < n_blocks; b++) {
        const int8_t *a = x[b].qs;
        TILE_LOAD(TILE_B0, panel->b[b][0], TILE_MAX_BYTES);
        TILE_LOAD(TILE_B1, panel->b[b][1], TILE_MAX_BYTES);
        TILE_LOAD(TILE_A0, a, x_stride);
        TILE_ZERO(TILE_C00);
        TILE_ZERO(TILE_C01);
        TILE_DPBSSD(TILE_C00, TILE_A0, TILE_B0);
        TILE_DPBSSD(TILE_C01, TILE_A0, TILE_B1);
        TILE_STORE(TILE_C00, &s->sums[0][0], sums_stride);
        TILE_STORE(TILE_C01, &s->sums[0][TILE_WEIGHT_ROWS], sums_stride);
        if (nt > TILE_TOKENS) {
            TILE_LOAD(TILE_A1, a + TILE_TOKENS * x_stride, x_stride);
            TILE_ZERO(TILE_C10);
            TILE_ZERO(TILE_C11);
            TILE_DPBSSD(TILE_C10, TILE_A1, TILE_B0);
            TILE_DPBSSD(TILE_C11, TILE_A1, TILE_B1);
            TILE_STORE(TILE_C10, &s->sums[TILE_TOKENS][0], sums_stride);
            TILE_STORE(TILE_C11, &s->sums[TILE_TOKENS][TILE_WEIGHT_ROWS], sums_stride);
        }
        add_block(s, panel->d[b], b, nt);
    }
    for (int t = 0; t < nt; t++)
        memcpy(out + t * ldo + rb, s->acc[t], sizeof(float) * nr);
}

/* kernel_row.vec_dot_gemm for Q8_0 and Q4_0 weights (w->type), x in Q8_0 blocks. As gemm.c:
 * a group of panels is packed over a range of K, then each step of tokens meets every panel of
 * it; the outputs are carried from range to range in `out`, so the range boundaries do not move
 * a rounding. */
AMX static void amx_gemm(const tensor *w, int64_t r0, int64_t r1, const void *xq, size_t x_stride,
                         int n_tokens, float *out, int64_t ldo, void *scratch)
{
    amx_scratch *s = scratch;
    const int64_t n_blocks_row = w->cols / BLOCK, group_rows = GROUP_PANELS * PANEL_ROWS;
    int configured_tokens = 0;
    for (int64_t rg = r0; rg < r1; rg += group_rows) {
        const int64_t rg_end = r1 - rg < group_rows ? r1 : rg + group_rows;
        const int n_panels = (int)((rg_end - rg + PANEL_ROWS - 1) / PANEL_ROWS);
        for (int64_t kb = 0; kb < n_blocks_row; kb += RANGE_BLOCKS) {
            const int n_blocks = (int)(n_blocks_row - kb < RANGE_BLOCKS ? n_blocks_row - kb : RANGE_BLOCKS);
            avx2_pack_int8_panels(w, rg, (int)(rg_end - rg), kb, n_blocks, s->panels);
            for (int t0 = 0; t0 < n_tokens; t0 += STEP_TOKENS) {
                const int nt = n_tokens - t0 < STEP_TOKENS ? n_tokens - t0 : STEP_TOKENS;
                if (nt != configured_tokens) {   /* a short last step has shorter A and C tiles */
                    configure_step(nt);
                    configured_tokens = nt;
                }
                const block_q8_0 *x = (const block_q8_0 *)((const char *)xq + (size_t)t0 * x_stride) + kb;
                for (int t = 0; t < nt; t++) {
                    const block_q8_0 *xt = (const block_q8_0 *)((const char *)x + (size_t)t * x_stride);
                    for (int b = 0; b < n_blocks; b++)
                        s->token_d[t][b] = fp16_to_fp32(xt[b].d);
                }
                for (int p = 0; p < n_panels; p++) {
                    const int64_t rb = rg + (int64_t)p * PANEL_ROWS;
                    multiply_panel(s, &s->panels[p], x, x_stride, nt, n_blocks, kb == 0,
                                   out + (size_t)t0 * ldo, ldo, rb,
                                   (int)(rg_end - rb < PANEL_ROWS ? rg_end - rb : PANEL_ROWS));
                }
            }
        }
    }
    if (configured_tokens)
        tile_release();   /* back to the init state: the OS need not save the tiles any more */
}

AMX static void q8_0_gemm(const tensor *w, int64_t r0, int64_t r1, const void *xq, size_t x_stride, int n_tokens,
                          float *out, int64_t ldo, void *scratch)
{
    amx_gemm(w, r0, r1, xq, x_stride, n_tokens, out, ldo, scratch);
}

AMX static void q4_0_gemm(const tensor *w, int64_t r0, int64_t r1, const void *xq, size_t x_stride, int n_tokens,
                          float *out, int64_t ldo, void *scratch)
{
    amx_gemm(w, r0, r1, xq, x_stride, n_tokens, out, ldo, scratch);
}

#endif /* __x86_64__ || ATTEND_AMX_EMULATE */

/* ==== The set ==== */

#if defined(ATTEND_AMX_EMULATE)
/* tests/test_amx.c calls q8_0_gemm and q4_0_gemm directly; kernels_amx is the library's. */
#elif defined(__x86_64__)
/* The AVX-512 set's rows and float GEMM (kernels/avx512.h), and the tile GEMM for Q8_0 and Q4_0
 * prefill. Only kernel_set_supported's checks keep it off CPUs without AMX. */
const kernel_set kernels_amx = {
    .name = "amx",
    .row = {
        AVX512_FLOAT_ROWS,
        [TYPE_Q8_0] = { AVX512_Q8_0_ROW, .vec_dot_gemm = q8_0_gemm },
        [TYPE_Q4_0] = { AVX512_Q4_0_ROW, .vec_dot_gemm = q4_0_gemm },
        KQUANT_ROWS_AVX2,       /* kernels/kquant_rows.h */
    },
    .gemm = AVX512_GEMM,
    .attention_product = avx2_attention_product,
    .attention_scores = avx2_attention_scores,
    .vec_dot_gemm_scratch = sizeof(amx_scratch),
};
#else
/* Never supported off x86-64 (kernel_set_supported), so never run; a name for the error message. */
const kernel_set kernels_amx = { .name = "amx" };
#endif
