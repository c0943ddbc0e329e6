/* test_amx.c — the AMX set's int8 prefill GEMM (kernels/amx.c): on every CPU through the tile
 * emulator, and on a CPU with AMX also through the real instructions.
 *
 * This file includes amx.c built with ATTEND_AMX_EMULATE, so its tile instructions run as C over
 * an emulated register file. The emulator is first checked against a direct definition of
 * TDPBSSD (a matrix product of the bytes as Intel's pseudocode lays them out), then the GEMM
 * against the scalar set's vec_dot (the same bits, by construction: see amx.c) and a float64 sum,
 * on awkward shapes, sub-ranges of rows and any split of them; then matmul() with a kernel set
 * that carries the emulated GEMM, for its routing, buffer sizes and threads: the AVX-512 set with
 * its intrinsics emulated too (tests/avx512_emulate.h), which is all of kernels_amx in C. The last test runs
 * the library's real kernels_amx where the CPU and OS allow it, and says that it was skipped
 * where they do not. */
#define ATTEND_AMX_EMULATE
#include "kernels/amx.c"
#if defined(__x86_64__)
/* and the AVX-512 set, whose rows kernels_amx lists, with its AVX-512 intrinsics emulated in C
 * (tests/avx512_emulate.h): emulated_kernels_avx512. kernels_avx512 stays the library's. */
#include "avx512_emulate.h"
#include "kernels/avx512.c"
#undef kernels_avx512
#endif

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"
#include "ops_fixture.h"
#include "ops/gemm.h"
#include "ops/matmul.h"

/* ==== Helpers ==== */

static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static uint32_t next_random(void) { return (uint32_t)(test_xorshift(&rng_state) >> 32); }
static int random_in(int lo, int hi) { return lo + (int)(next_random() % (uint32_t)(hi - lo + 1)); }
static float uniform(void) { return (float)(next_random() >> 8) * 0x1p-23f - 1.0f; }   /* [-1, 1) */

/* A scale of either sign and a few binades, as fp16 */
static uint16_t random_scale(void)
{
    float d = (0.25f + (float)random_in(0, 1000) / 1000.0f) * ldexpf(1.0f, random_in(-12, -4));
    return fp32_to_fp16(random_in(0, 3) ? d : -d);
}

/* rows x cols of Q8_0 or Q4_0 with random quants over the whole range (-128 included, which
 * ggml's quantizer never writes but a file may hold) and random scales; a few blocks scale 0.
 * Guarded (free with test_guarded_free(w, rows * row_bytes)). */
static char *random_weights(int type, int rows, int cols)
{
    const size_t row_bytes = type_row_bytes(type, cols);
    char *w = test_guarded_alloc(row_bytes * rows);
    for (int r = 0; r < rows; r++)
        for (int b = 0; b < cols / 32; b++) {
            uint16_t d = random_in(0, 40) ? random_scale() : 0;
            if (type == TYPE_Q8_0) {
                block_q8_0 *block = (block_q8_0 *)(w + r * row_bytes) + b;
                block->d = d;
                for (int j = 0; j < 32; j++) block->qs[j] = (int8_t)random_in(-128, 127);
            } else {
                block_q4_0 *block = (block_q4_0 *)(w + r * row_bytes) + b;
                block->d = d;
                for (int j = 0; j < 16; j++) block->qs[j] = (uint8_t)random_in(0, 255);
            }
        }
    return w;
}

/* n_tokens rows of Q8_0 activations, x_stride bytes apart, as the quantizer writes them
 * (quants within +-127, the scale positive). Guarded: the last row's blocks end at the guard page. */
static size_t activation_bytes(int n_tokens, int cols, size_t x_stride)
{
    return (size_t)(n_tokens - 1) * x_stride + type_row_bytes(TYPE_Q8_0, cols);
}

static char *random_activations(int n_tokens, int cols, size_t x_stride)
{
    char *xq = test_guarded_alloc(activation_bytes(n_tokens, cols, x_stride));
    for (int t = 0; t < n_tokens; t++)
        for (int b = 0; b < cols / 32; b++) {
            block_q8_0 *block = (block_q8_0 *)(xq + t * x_stride) + b;
            block->d = fp32_to_fp16(fabsf(fp16_to_fp32(random_scale())));
            for (int j = 0; j < 32; j++) block->qs[j] = (int8_t)random_in(-127, 127);
        }
    return xq;
}

/* Weight j of block b of a Q8_0/Q4_0 row as an int8 quant */
static int quant_at(int type, const void *row, int b, int j)
{
    if (type == TYPE_Q8_0)
        return ((const block_q8_0 *)row)[b].qs[j];
    const block_q4_0 *block = (const block_q4_0 *)row + b;
    return (j < 16 ? block->qs[j] & 0x0f : block->qs[j - 16] >> 4) - 8;
}

/* W[r] . x[t] in float64 from the quants and scales, and sum over blocks of |the block's term|:
 * a float sum of n_blocks terms is within (n_blocks + 1) 2^-24 of that of the exact one. */
static double reference_dot(int type, const void *row, const void *x, int cols, double *magnitude)
{
    const block_q8_0 *xb = x;
    double sum = 0;
    *magnitude = 0;
    for (int b = 0; b < cols / 32; b++) {
        long s = 0;
        for (int j = 0; j < 32; j++) s += (long)quant_at(type, row, b, j) * xb[b].qs[j];
        const uint16_t dw = type == TYPE_Q8_0 ? ((const block_q8_0 *)row)[b].d : ((const block_q4_0 *)row)[b].d;
        const double term = (double)s * fp16_to_fp32(dw) * fp16_to_fp32(xb[b].d);
        sum += term;
        *magnitude += fabs(term);
    }
    return sum;
}

static void (*const emulated_gemm[TYPE_COUNT])(const tensor *, int64_t, int64_t, const void *, size_t, int,
                                               float *, int64_t, void *) = {
    [TYPE_Q8_0] = q8_0_gemm, [TYPE_Q4_0] = q4_0_gemm };

/* ==== The emulated tile unit ==== */

/* Intel defines TDPBSSD as C[m][n] += sum over k < K of the four signed byte products of dword k
 * of A's row m and dword n of B's row k. As a matrix product: A is M x 4K bytes, B holds the
 * 4K x N matrix b(k, n) = B[k / 4][4 n + k % 4], and C[m][n] += sum_k a(m, k) b(k, n), in
 * wrapping int32. Loads and stores move rows x colsb bytes at a stride and nothing else. */
static void test_emulated_tdpbssd_matches_the_matrix_product(void)
{
    const int shapes[][3] = {{16, 16, 16}, {16, 8, 16}, {1, 1, 1}, {7, 3, 5}, {16, 16, 1}, {3, 16, 16}, {9, 8, 12}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        const int M = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
        const long a_stride = 4 * K + 5, b_stride = 4 * N + 3, c_stride = 4 * N + 12;   /* padded rows */
        int8_t a[16 * 69], b[16 * 67];
        uint8_t c_mem[16 * 76], out[16 * 76 + 64];
        for (size_t i = 0; i < sizeof a; i++) a[i] = (int8_t)random_in(-128, 127);
        for (size_t i = 0; i < sizeof b; i++) b[i] = (int8_t)random_in(-128, 127);
        for (size_t i = 0; i < sizeof c_mem; i++) c_mem[i] = (uint8_t)random_in(0, 255);
        if (s == 0)   /* near the top of int32, to see the sums wrap around as the hardware's do */
            for (int m = 0; m < M; m++)
                for (int n = 0; n < N; n++) {
                    int32_t big = INT32_MAX - random_in(0, 1000);
                    memcpy(c_mem + m * c_stride + 4 * n, &big, 4);
                }
        memset(out, 0xA5, sizeof out);
        tile_config config = {.palette_id = 1};
        config.rows[0] = (uint8_t)M, config.colsb[0] = (uint16_t)(4 * N);   /* C */
        config.rows[3] = (uint8_t)M, config.colsb[3] = (uint16_t)(4 * K);   /* A */
        config.rows[5] = (uint8_t)K, config.colsb[5] = (uint16_t)(4 * N);   /* B */
        tile_configure(&config);
        TILE_LOAD(0, c_mem, c_stride);
        TILE_LOAD(3, a, a_stride);
        TILE_LOAD(5, b, b_stride);
        TILE_DPBSSD(0, 3, 5);
        TILE_STORE(0, out, c_stride);
        tile_release();
        for (int m = 0; m < 16; m++)
            for (int n = 0; n < c_stride / 4; n++) {
                const uint8_t *got = out + m * c_stride + 4 * n;
                if (m >= M || n >= N) {   /* outside rows x colsb: untouched */
                    CHECKF(got[0] == 0xA5 && got[1] == 0xA5 && got[2] == 0xA5 && got[3] == 0xA5,
                           "shape %dx%dx%d: stored past the tile at row %d dword %d", M, K, N, m, n);
                    continue;
                }
                uint32_t want;
                memcpy(&want, c_mem + m * c_stride + 4 * n, 4);
                for (int k = 0; k < 4 * K; k++)
                    want += (uint32_t)(a[m * a_stride + k] * b[(k / 4) * b_stride + 4 * n + k % 4]);
                uint32_t have;
                memcpy(&have, got, 4);
                CHECKF(have == want, "shape %dx%dx%d: C[%d][%d] = %d, want %d", M, K, N, m, n, (int32_t)have,
                       (int32_t)want);
            }
    }
    /* tilezero: all zeros, whatever the tile held */
    tile_config config = {.palette_id = 1};
    config.rows[2] = 4, config.colsb[2] = 16;
    tile_configure(&config);
    int32_t ones[16], zeros[16];
    for (int i = 0; i < 16; i++) ones[i] = -1;
    TILE_LOAD(2, ones, 16);
    TILE_ZERO(2);
    TILE_STORE(2, zeros, 16);
    tile_release();
    for (int i = 0; i < 16; i++)
        CHECK(zeros[i] == 0);
}

/* The emulator must not let the GEMM pass where the hardware would fault: each of these aborts. */
static int aborts(void (*fn)(void))
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (freopen("/dev/null", "w", stderr))
            fn();
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}
static void unchained_shapes(void)
{
    tile_config config = {.palette_id = 1};
    config.rows[0] = 16, config.colsb[0] = 64;
    config.rows[1] = 16, config.colsb[1] = 64;   /* K = 16 dwords */
    config.rows[2] = 8, config.colsb[2] = 64;    /* but 8 rows */
    tile_configure(&config);
    TILE_DPBSSD(0, 1, 2);
}
static void unconfigured_tile(void)
{
    tile_config config = {.palette_id = 1};
    config.rows[0] = 16, config.colsb[0] = 64;
    tile_configure(&config);
    char buffer[1024] = {0};
    TILE_LOAD(5, buffer, 64);
}
static void too_many_rows(void)
{
    tile_config config = {.palette_id = 1};
    config.rows[0] = 17, config.colsb[0] = 64;
    tile_configure(&config);
}
static void after_release(void)
{
    configure_step(32);
    tile_release();
    TILE_ZERO(TILE_C00);
}
static void test_emulator_faults_where_the_hardware_would(void)
{
    CHECK(aborts(unchained_shapes));
    CHECK(aborts(unconfigured_tile));
    CHECK(aborts(too_many_rows));
    CHECK(aborts(after_release));
}

/* ==== The GEMM, emulated ==== */

/* The VNNI layout, pinned: activations one-hot (token t reads column t), so out[t][r] is W[r][t]
 * itself; Q8_0 weights differ in every column of every row (Q4_0 ones within each half of a
 * block, and from the other half's at all but one place), so a transposed or shifted B tile, or
 * Q4_0 nibbles taken from the wrong half or in ggml's other order, put another weight there. */
static void test_gemm_puts_every_weight_in_its_place(void)
{
    enum { ROWS = 48, COLS = 64, TOKENS = 64 };
    const int types[] = {TYPE_Q8_0, TYPE_Q4_0};
    const size_t x_stride = type_row_bytes(TYPE_Q8_0, COLS);
    static char xq[TOKENS * 68];
    static float out[TOKENS * ROWS];
    memset(xq, 0, sizeof xq);
    for (int t = 0; t < TOKENS; t++) {
        block_q8_0 *block = (block_q8_0 *)(xq + t * x_stride) + t / 32;
        block->d = fp32_to_fp16(1.0f);
        block->qs[t % 32] = 1;
    }
    amx_scratch *scratch = malloc(sizeof *scratch);
    for (int k = 0; k < 2; k++) {
        const size_t row_bytes = type_row_bytes(types[k], COLS);
        char *w = calloc(ROWS, row_bytes);
        for (int r = 0; r < ROWS; r++)
            for (int b = 0; b < COLS / 32; b++) {
                if (types[k] == TYPE_Q8_0) {
                    block_q8_0 *block = (block_q8_0 *)(w + r * row_bytes) + b;
                    block->d = fp32_to_fp16(1.0f);
                    for (int j = 0; j < 32; j++)   /* 5 and 37 are invertible mod 251 */
                        block->qs[j] = (int8_t)((r * 37 + (32 * b + j) * 5) % 251 - 125);
                } else {
                    block_q4_0 *block = (block_q4_0 *)(w + r * row_bytes) + b;
                    block->d = fp32_to_fp16((float)(r + 1));   /* the row in the scale */
                    for (int j = 0; j < 16; j++)   /* low nibbles j + r + b, high ones 15 - j + r */
                        block->qs[j] = (uint8_t)(((j + r + b) & 15) | (((15 - j + r) & 15) << 4));
                }
            }
        tensor tw = {types[k], ROWS, COLS, row_bytes, w};
        emulated_gemm[types[k]](&tw, 0, ROWS, xq, x_stride, TOKENS, out, ROWS, scratch);
        for (int t = 0; t < TOKENS; t++)
            for (int r = 0; r < ROWS; r++) {
                const void *row = w + r * row_bytes;
                const float scale = types[k] == TYPE_Q8_0 ? 1.0f : (float)(r + 1);
                const float want = (float)quant_at(types[k], row, t / 32, t % 32) * scale;
                CHECKF(out[t * ROWS + r] == want, "%s: token %d (column %d) row %d = %g, want W[%d][%d] = %g",
                       type_traits_of(types[k])->name, t, t, r, out[t * ROWS + r], r, t, want);
            }
        free(w);
    }
    free(scratch);
}

/* One GEMM of rows x cols of the type against n_tokens: every output is the scalar set's vec_dot
 * bit for bit and within float rounding of the float64 sum; any split of the rows (threads take
 * such shares) gives the same bits; a sub-range writes its rows only. x and out have padded
 * strides; weights, activations and outputs end at a guard page. */
static void check_gemm_shape(int type, int rows, int cols, int n_tokens, amx_scratch *scratch)
{
    const size_t row_bytes = type_row_bytes(type, cols), x_stride = type_row_bytes(TYPE_Q8_0, cols) + 6;
    const int64_t ldo = rows + 3;
    char *w = random_weights(type, rows, cols), *xq = random_activations(n_tokens, cols, x_stride);
    const size_t out_bytes = sizeof(float) * n_tokens * ldo;
    float *out = test_guarded_alloc(out_bytes), *split = test_guarded_alloc(out_bytes);
    const tensor tw = {type, rows, cols, row_bytes, w};
    const kernel_row scalar = kernel_row_of(&kernels_scalar, type);
    const char *name = type_traits_of(type)->name;
    emulated_gemm[type](&tw, 0, rows, xq, x_stride, n_tokens, out, ldo, scratch);
    for (int t = 0; t < n_tokens; t++)
        for (int r = 0; r < rows; r++) {
            const char *row = w + r * row_bytes, *x = xq + t * x_stride;
            const float got = out[t * ldo + r], want = scalar.vec_dot(row, x, cols);
            double magnitude, exact = reference_dot(type, row, x, cols, &magnitude);
            CHECKF(!memcmp(&got, &want, sizeof got), "%s %d x %d, %d tokens: token %d row %d = %.9g, scalar "
                   "vec_dot %.9g", name, rows, cols, n_tokens, t, r, got, want);
            CHECKF(fabs(got - exact) <= (cols / 32 + 1) * 0x1p-24 * magnitude, "%s %d x %d, %d tokens: token %d "
                   "row %d = %.9g, float64 %.9g", name, rows, cols, n_tokens, t, r, got, exact);
        }
    /* three shares, cut inside 16-row tiles and 32-row panels */
    const int64_t cuts[4] = {0, rows / 3, 2 * rows / 3 + 1 < rows ? 2 * rows / 3 + 1 : rows, rows};
    for (int i = 0; i < 3; i++)
        emulated_gemm[type](&tw, cuts[i], cuts[i + 1], xq, x_stride, n_tokens, split, ldo, scratch);
    for (int t = 0; t < n_tokens; t++)
        CHECKF(!memcmp(split + t * ldo, out + t * ldo, sizeof(float) * rows), "%s %d x %d, %d tokens: rows split "
               "at %d and %d differ", name, rows, cols, n_tokens, (int)cuts[1], (int)cuts[2]);
    /* a sub-range from the middle writes exactly its rows */
    if (rows > 8) {
        const int64_t r0 = 5, r1 = rows - 3;
        for (int i = 0; i < n_tokens * ldo; i++) split[i] = NAN;
        emulated_gemm[type](&tw, r0, r1, xq, x_stride, n_tokens, split, ldo, scratch);
        for (int t = 0; t < n_tokens; t++)
            for (int r = 0; r < ldo; r++) {
                const float got = split[t * ldo + r];
                if (r >= r0 && r < r1)
                    CHECKF(!memcmp(&got, &out[t * ldo + r], sizeof got), "%s rows %d..%d: token %d row %d "
                           "differs", name, (int)r0, (int)r1, t, r);
                else
                    CHECKF(isnan(got), "%s rows %d..%d: row %d of token %d written", name, (int)r0, (int)r1, r, t);
            }
    }
    test_guarded_free(w, row_bytes * rows);
    test_guarded_free(xq, activation_bytes(n_tokens, cols, x_stride));
    test_guarded_free(out, out_bytes), test_guarded_free(split, out_bytes);
}

/* Rows not a multiple of 16 or 32; token counts around the tile of 16 and the step of 32 (a
 * short step alone, or after full ones with one or two A tiles); K from one block to several
 * ranges of 16 blocks and a partial one; and beyond one group of 256 rows. */
static void test_gemm_matches_scalar_vec_dot_for_awkward_shapes(void)
{
    const int rows_list[] = {1, 15, 17, 48, 100}, tokens_list[] = {8, 9, 31, 40, 54, 64};
    const int cols_list[] = {32, 64, 512, 544, 2080};
    amx_scratch *scratch = malloc(sizeof *scratch);
    int shape = 0;
    for (int ri = 0; ri < 5; ri++)
        for (int ti = 0; ti < 6; ti++, shape++)   /* each width and type with several shapes */
            check_gemm_shape(shape % 2 ? TYPE_Q4_0 : TYPE_Q8_0, rows_list[ri], cols_list[shape % 5],
                             tokens_list[ti], scratch);
    for (int type = TYPE_Q4_0; type <= TYPE_Q8_0; type += TYPE_Q8_0 - TYPE_Q4_0) {
        check_gemm_shape(type, 100, 5632, 64, scratch);   /* 11 ranges */
        check_gemm_shape(type, 300, 544, 33, scratch);    /* two groups; a last step of one token */
    }
    free(scratch);
}

/* ==== matmul() with the emulated GEMM in a kernel set ==== */

/* The set kernels_amx is built on: the AVX-512 set, emulated, where the CPU has the AVX2 that
 * build runs natively; else the scalar set. */
static const kernel_set *emulated_base_set(void)
{
#if defined(__x86_64__)
    if (kernel_set_supported(&kernels_avx2))
        return &emulated_kernels_avx512;
#endif
    return &kernels_scalar;
}

/* That set with the emulated tile GEMM for Q8_0 and Q4_0: kernels_amx with every AVX-512 and AMX
 * instruction in C. The emulated register file is per thread (test code only), so the pool's
 * workers each have their own, as they would on the hardware. */
static kernel_set emulated_amx_set(void)
{
    kernel_set k = *emulated_base_set();
    k.name = "emulated amx";
    k.row[TYPE_Q8_0].vec_dot_gemm = q8_0_gemm;
    k.row[TYPE_Q4_0].vec_dot_gemm = q4_0_gemm;
    k.vec_dot_gemm_scratch = sizeof(amx_scratch);
    return k;
}

/* The matmul of a prefill with set k against rows x cols of each type, in one call with an F32
 * matrix beside them: outputs for 1 and 3 threads, bit for bit the same; each Q8_0/Q4_0 output
 * the scalar vec_dot of its row with x quantized as the reference does (so the int8 GEMM ran), and
 * within the int8 rounding of x (1e-3 of sum |w x|) of float64 over the float activations; each
 * F32 output (the set's float GEMM) within 1e-5 of sum |w x| of float64. */
static void check_prefill_matmul(const kernel_set *k, int n_tokens)
{
    enum { ROWS = 70, COLS = 544 + 512, MAX_TOKENS = 64 };
    const int types[] = {TYPE_Q8_0, TYPE_Q4_0, TYPE_F32};
    static float x[MAX_TOKENS * COLS], wf[ROWS * COLS], out1[3][MAX_TOKENS * ROWS], out3[3][MAX_TOKENS * ROWS];
    static char xq[COLS / 32 * 34];
    for (int i = 0; i < n_tokens * COLS; i++) x[i] = uniform() * (1 + i / COLS % 3);
    for (int i = 0; i < ROWS * COLS; i++) wf[i] = uniform();
    char *w[3];
    tensor t[3];
    const tensor *tp[3];
    for (int m = 0; m < 3; m++) {
        const size_t row_bytes = type_row_bytes(types[m], COLS);
        w[m] = malloc(row_bytes * ROWS);
        for (int r = 0; r < ROWS; r++)
            type_traits_of(types[m])->from_float(wf + r * COLS, w[m] + r * row_bytes, COLS);
        t[m] = (tensor){types[m], ROWS, COLS, row_bytes, w[m]};
        tp[m] = &t[m];
    }
    ops_context one = matmul_ops(1, k, 0, COLS), three = matmul_ops(3, k, 0, COLS);
    matmul(&one, x, n_tokens, 3, tp, (float *const[]){out1[0], out1[1], out1[2]});
    matmul(&three, x, n_tokens, 3, tp, (float *const[]){out3[0], out3[1], out3[2]});
    free_ops(&one), free_ops(&three);
    for (int m = 0; m < 3; m++) {
        const char *name = type_traits_of(types[m])->name;
        CHECKF(!memcmp(out1[m], out3[m], sizeof(float) * n_tokens * ROWS), "%s %s, %d tokens: 3 threads differ "
               "from 1", k->name, name, n_tokens);
        const int int8 = types[m] != TYPE_F32;   /* F32 takes the float GEMM (the set's tile) */
        const kernel_row scalar = kernel_row_of(&kernels_scalar, types[m]);
        for (int tok = 0; tok < n_tokens; tok++) {
            if (int8)
                type_traits_of(TYPE_Q8_0)->from_float(x + tok * COLS, xq, COLS);
            for (int r = 0; r < ROWS; r++) {
                const float got = out1[m][tok * ROWS + r];
                if (int8) {
                    const float want = scalar.vec_dot(w[m] + r * t[m].row_bytes, xq, COLS);
                    CHECKF(!memcmp(&got, &want, sizeof got), "%s %s, %d tokens: token %d row %d = %.9g, scalar "
                           "vec_dot %.9g", k->name, name, n_tokens, tok, r, got, want);
                }
                double exact = 0, magnitude = 0;
                float wr[COLS];
                type_traits_of(types[m])->to_float(w[m] + r * t[m].row_bytes, wr, COLS);
                for (int c = 0; c < COLS; c++) {
                    exact += (double)wr[c] * x[tok * COLS + c];
                    magnitude += fabs((double)wr[c] * x[tok * COLS + c]);
                }
                CHECKF(fabs(got - exact) <= (int8 ? 1e-3 : 1e-5) * magnitude, "%s %s token %d row %d: %g vs "
                       "float64 %g (sum |w x| %g)", k->name, name, tok, r, got, exact, magnitude);
            }
        }
    }
    for (int m = 0; m < 3; m++)
        free(w[m]);
}

static void test_matmul_prefill_takes_the_int8_gemm(void)
{
    const kernel_set k = emulated_amx_set();
    for (int n_tokens = GEMM_TOKENS; n_tokens <= 64; n_tokens += 23)   /* 8, 31, 54 */
        check_prefill_matmul(&k, n_tokens);
}

/* A context whose quantized buffer holds fewer tokens than the batch keeps float activations (the
 * float GEMM's bits) instead of writing past the buffer; the exact path never quantizes. */
static void test_matmul_prefill_falls_back_to_float_activations(void)
{
    enum { ROWS = 40, COLS = 256, N = 19 };
    const kernel_set k = emulated_amx_set();
    static float x[N * COLS], wf[ROWS * COLS], got[N * ROWS], want[N * ROWS];
    for (int i = 0; i < N * COLS; i++) x[i] = uniform();
    for (int i = 0; i < ROWS * COLS; i++) wf[i] = uniform();
    const size_t row_bytes = type_row_bytes(TYPE_Q4_0, COLS);
    char *w = malloc(row_bytes * ROWS);
    for (int r = 0; r < ROWS; r++)
        type_traits_of(TYPE_Q4_0)->from_float(wf + r * COLS, w + r * row_bytes, COLS);
    const tensor t = {TYPE_Q4_0, ROWS, COLS, row_bytes, w}, *tp = &t;
    float *o = got, *o_want = want;
    kernel_set float_only = *emulated_base_set();   /* (the AVX-512 set has an int8 GEMM of its own) */
    float_only.row[TYPE_Q4_0].vec_dot_gemm = NULL;
    ops_context small = test_ops(2, &k, 0, matmul_scratch_floats(&k), matmul_quantized_bytes(&k, COLS, 8));
    ops_context float_gemm = matmul_ops(2, &float_only, 0, COLS);
    matmul(&small, x, N, 1, &tp, &o);
    matmul(&float_gemm, x, N, 1, &tp, &o_want);
    CHECK(!memcmp(got, want, sizeof got));
    free_ops(&small);
    ops_context exact = matmul_ops(2, &k, 1, COLS);
    matmul(&exact, x, N, 1, &tp, &o);
    CHECK(!memcmp(got, want, sizeof got));
    free_ops(&exact), free_ops(&float_gemm);
    free(w);
}

/* ==== The real instructions ==== */

/* kernels_amx is the AVX-512 set with the tile GEMM for Q8_0 and Q4_0 in place of its VNNI one,
 * and is chosen first where it runs. */
static void test_amx_set_is_the_avx512_set_plus_the_gemm(void)
{
    CHECK(kernel_set_named("amx") == &kernels_amx && !strcmp(kernels_amx.name, "amx"));
    CHECK(!kernel_set_supported(&kernels_amx) || kernel_set_supported(&kernels_avx512));
    if (kernel_set_supported(&kernels_amx))
        CHECK(kernel_set_best() == &kernels_amx);
#if defined(__x86_64__)
    for (int type = 0; type < TYPE_COUNT; type++) {
        kernel_row amx = kernels_amx.row[type], avx512 = kernels_avx512.row[type];
        const int int8 = type == TYPE_Q8_0 || type == TYPE_Q4_0;
        CHECKF(!amx.vec_dot_gemm == !int8 && !avx512.vec_dot_gemm == !int8, "type %d", type);
        CHECKF(!int8 || amx.vec_dot_gemm != avx512.vec_dot_gemm, "type %d: the AMX set has the VNNI GEMM", type);
        amx.vec_dot_gemm = avx512.vec_dot_gemm = NULL;
        CHECKF(!memcmp(&amx, &avx512, sizeof amx), "type %d: a row differs from the AVX-512 set's", type);
    }
    CHECK(!memcmp(&kernels_amx.gemm, &kernels_avx512.gemm, sizeof kernels_amx.gemm));
    CHECK(kernels_amx.vec_dot_gemm_scratch >= sizeof(amx_scratch) && kernels_avx512.vec_dot_gemm_scratch > 0);
#endif
}

/* On a CPU with AMX (and Linux's permission), the real kernels_amx: its GEMM gives the emulator's
 * bits (and so the scalar vec_dot's), and matmul() reaches it in prefill. */
static void test_real_amx_matches_the_emulator(void)
{
    if (!kernel_set_supported(&kernels_amx))
        SKIP("this CPU (or OS) runs no AMX: the real tile instructions were not run here; the emulated "
             "GEMM above was");
    const int shapes[][3] = {{100, 64, 5632}, {17, 31, 2080}, {300, 54, 544}, {48, 9, 544}, {1, 8, 32}};
    const int types[] = {TYPE_Q8_0, TYPE_Q4_0};
    amx_scratch *scratch = malloc(kernels_amx.vec_dot_gemm_scratch);
    for (int s = 0; s < 5; s++)
        for (int k = 0; k < 2; k++) {
            const int rows = shapes[s][0], n_tokens = shapes[s][1], cols = shapes[s][2], type = types[k];
            const size_t row_bytes = type_row_bytes(type, cols), x_stride = type_row_bytes(TYPE_Q8_0, cols);
            char *w = random_weights(type, rows, cols), *xq = random_activations(n_tokens, cols, x_stride);
            float *real = malloc(sizeof(float) * n_tokens * rows), *emulated = malloc(sizeof(float) * n_tokens * rows);
            tensor tw = {type, rows, cols, row_bytes, w};
            kernels_amx.row[type].vec_dot_gemm(&tw, 0, rows, xq, x_stride, n_tokens, real, rows, scratch);
            emulated_gemm[type](&tw, 0, rows, xq, x_stride, n_tokens, emulated, rows, scratch);
            CHECKF(!memcmp(real, emulated, sizeof(float) * n_tokens * rows), "%s %d x %d, %d tokens: the real "
                   "tiles differ from the emulator", type_traits_of(type)->name, rows, cols, n_tokens);
            test_guarded_free(w, row_bytes * rows);
            test_guarded_free(xq, activation_bytes(n_tokens, cols, x_stride));
            free(real), free(emulated);
        }
    free(scratch);
    for (int n_tokens = GEMM_TOKENS; n_tokens <= 64; n_tokens += 23)
        check_prefill_matmul(&kernels_amx, n_tokens);
}

int main(void)
{
    printf("# kernel set amx: %s\n", kernel_set_supported(&kernels_amx) ? "supported: real instructions tested"
                                                                        : "not supported: emulated only");
    RUN(test_emulated_tdpbssd_matches_the_matrix_product);
    RUN(test_emulator_faults_where_the_hardware_would);
    RUN(test_gemm_puts_every_weight_in_its_place);
    RUN(test_gemm_matches_scalar_vec_dot_for_awkward_shapes);
    RUN(test_matmul_prefill_takes_the_int8_gemm);
    RUN(test_matmul_prefill_falls_back_to_float_activations);
    RUN(test_amx_set_is_the_avx512_set_plus_the_gemm);
    RUN(test_real_amx_matches_the_emulator);
    TEST_EXIT();
}
