/* test_kernels.c — RMSNorm, RoPE, softmax, SwiGLU, the threaded matmul (with every kernel set this
 * CPU runs, exact and int8 paths) and the thread pool. */
#include <time.h>

#include "test.h"
#include "ops_fixture.h"
#include "kernels/kernel_set.h"
#include "kernels/int8_panel.h"
#include "ops/elementwise.h"
#include "rope.h"
#include "ops/gemm.h"
#include "ops/matmul.h"
#include "ops/threadpool.h"
#include "tensor.h"

static const kernel_set *sets[8];
static int n_sets;

static void test_rmsnorm_matches_definition(void)
{
    float x[5] = {1, -2, 3, -4, 5}, w[5] = {1, 0.5f, 2, 1, -1}, out[5];
    rmsnorm(out, x, w, 5, 1e-5f);
    double ms = (1 + 4 + 9 + 16 + 25) / 5.0, inv = 1 / sqrt(ms + 1e-5);
    for (int i = 0; i < 5; i++)
        CHECKF(fabs(out[i] - x[i] * inv * w[i]) < 1e-6, "element %d: %g", i, out[i]);
}

/* Rotating q by position m and k by n leaves q.k a function of m - n only. */
static void test_rope_dot_product_depends_on_distance_only(void)
{
    float q0[8] = {0.3f, -1, 2, 0.5f, 1, 1, -0.2f, 0.7f}, k0[8] = {1, 0.1f, -0.4f, 2, 0.3f, -1, 1, 0.2f};
    double prev = NAN;
    for (int m = 3; m < 200; m += 49) {
        float q[8], k[8], cs[4], sn[4];
        memcpy(q, q0, sizeof q);
        memcpy(k, k0, sizeof k);
        rope_angles(cs, sn, 8, m, 10000.0f, 1.0f);
        rope(q, 1, 8, 8, cs, sn);
        rope_angles(cs, sn, 8, m - 3, 10000.0f, 1.0f);
        rope(k, 1, 8, 8, cs, sn);
        double d = 0;
        for (int i = 0; i < 8; i++)
            d += q[i] * k[i];
        if (prev == prev)
            CHECKF(fabs(d - prev) < 1e-4, "position %d: %g vs %g", m, d, prev);
        prev = d;
    }
}

/* Pairs are adjacent (x[2i], x[2i+1]); pair 0 turns by pos radians; dims past rope_dim stay. */
static void test_rope_rotates_interleaved_pairs(void)
{
    float v[6] = {1, 0, 1, 0, 5, 6}, cs[2], sn[2];
    rope_angles(cs, sn, 4, 2, 10000.0f, 1.0f);
    rope(v, 1, 6, 4, cs, sn);
    CHECK(fabs(v[0] - cos(2.0)) < 1e-6 && fabs(v[1] - sin(2.0)) < 1e-6);
    double a = 2 * pow(10000.0, -2.0 / 4);
    CHECK(fabs(v[2] - cos(a)) < 1e-6 && fabs(v[3] - sin(a)) < 1e-6);
    CHECK(v[4] == 5 && v[5] == 6);
}

static void test_softmax_is_stable_and_normalised(void)
{
    float x[3] = {1000, 1001, 1002};
    softmax(x, 3);
    double e = exp(1.0), sum = 1 + e + e * e;
    CHECK(fabs(x[2] - e * e / sum) < 1e-6 && fabs(x[0] + x[1] + x[2] - 1) < 1e-6);
}

static void test_swiglu_is_silu_gate_times_up(void)
{
    float g[3] = {-2, 0, 3}, u[3] = {1, 5, -1};
    swiglu(g, u, 3);
    CHECK(fabs(g[0] - (-2 / (1 + exp(2.0)))) < 1e-6 && g[1] == 0 && fabs(g[2] - (-3 / (1 + exp(-3.0)))) < 1e-6);
}

/* Several matrices in one call, several tokens, any thread count: each out[t][r] = W[r] . x[t]. */
static void test_matmul_matches_naive_for_many_shapes(void)
{
    const int cols = 96, rows[3] = {7, 64, 33}, n_tokens = 11;
    float *w[3], *out[3], x[11 * 96];
    tensor t[3];
    const tensor *tp[3];
    for (int i = 0; i < n_tokens * cols; i++)
        x[i] = sinf(i * 0.37f);
    for (int m = 0; m < 3; m++) {
        w[m] = malloc(sizeof(float) * rows[m] * cols);
        out[m] = malloc(sizeof(float) * rows[m] * n_tokens);
        for (int i = 0; i < rows[m] * cols; i++)
            w[m][i] = cosf(i * 0.11f + m);
        t[m] = (tensor){TYPE_F32, rows[m], cols, sizeof(float) * cols, w[m]};
        tp[m] = &t[m];
    }
    for (int k = 0; k < n_sets; k++)
        for (int threads = 1; threads <= 4; threads++) {
            ops_context ops = matmul_ops(threads, sets[k], 0, cols);
            matmul(&ops, x, n_tokens, 3, tp, out);
            free_ops(&ops);
            for (int m = 0; m < 3; m++)
                for (int tok = 0; tok < n_tokens; tok++)
                    for (int r = 0; r < rows[m]; r++) {
                        double want = 0;
                        for (int c = 0; c < cols; c++)
                            want += (double)w[m][r * cols + c] * x[tok * cols + c];
                        CHECKF(fabs(out[m][tok * rows[m] + r] - want) < 1e-4, "%s threads %d matrix %d token %d "
                               "row %d: %g vs %g", sets[k]->name, threads, m, tok, r, out[m][tok * rows[m] + r],
                               want);
                    }
        }
    for (int m = 0; m < 3; m++) {
        free(w[m]);
        free(out[m]);
    }
}

/* Prefill's blocked GEMM equals one dot product per (row, token) for every storage type, across
 * several column blocks, a row count that is not a multiple of the row block, and a short final
 * token tile; and the same output whatever the thread count. Where the set has an int8 GEMM for
 * the type (the AMX set's Q8_0 and Q4_0), the dot product is the scalar vec_dot with x quantized
 * to Q8_0, as in decode. */
static void test_matmul_prefill_gemm_matches_dot_products_for_every_type(void)
{
    /* columns: more than one column block (512 or 1024) in every set, the last one short;
     * 150-row tasks: several panel groups */
    const int cols = 1120, rows = 600, n_tokens = 19;
    const int types[] = {TYPE_F32, TYPE_F16, TYPE_BF16, TYPE_Q8_0, TYPE_Q4_0};
    float *wf = malloc(sizeof(float) * rows * cols), *x = malloc(sizeof(float) * n_tokens * cols);
    float *out1 = malloc(sizeof(float) * rows * n_tokens), *out3 = malloc(sizeof(float) * rows * n_tokens);
    char *xq = malloc(type_row_bytes(TYPE_Q8_0, cols));
    for (int i = 0; i < rows * cols; i++)
        wf[i] = sinf(i * 0.013f) + 0.1f * cosf(i * 1.7f);
    for (int i = 0; i < n_tokens * cols; i++)
        x[i] = cosf(i * 0.029f);
    for (int s = 0; s < n_sets; s++)
    for (size_t k = 0; k < sizeof types / sizeof *types; k++) {
        const type_traits *tt = type_traits_of(types[k]);
        const kernel_row scalar = kernel_row_of(&kernels_scalar, types[k]);
        const int int8 = kernel_row_of(sets[s], types[k]).vec_dot_gemm != NULL;
        size_t row_bytes = type_row_bytes(types[k], cols);
        char *w = malloc(row_bytes * rows);
        for (int r = 0; r < rows; r++)
            tt->from_float(wf + (size_t)r * cols, w + r * row_bytes, cols);
        tensor t = {types[k], rows, cols, row_bytes, w};
        const tensor *tp = &t;
        ops_context one = matmul_ops(1, sets[s], 0, cols), three = matmul_ops(3, sets[s], 0, cols);
        matmul(&one, x, n_tokens, 1, &tp, &out1);
        matmul(&three, x, n_tokens, 1, &tp, &out3);
        free_ops(&one);
        free_ops(&three);
        CHECKF(memcmp(out1, out3, sizeof(float) * rows * n_tokens) == 0, "%s %s: thread count changed the result",
               sets[s]->name, tt->name);
        for (int tok = 0; tok < n_tokens; tok++) {
            if (int8)
                type_traits_of(TYPE_Q8_0)->from_float(x + (size_t)tok * cols, xq, cols);
            for (int r = 0; r < rows; r++) {
                float want = int8 ? scalar.vec_dot(w + r * row_bytes, xq, cols)
                                  : scalar.dot(w + r * row_bytes, x + (size_t)tok * cols, cols);
                float got = out1[(size_t)tok * rows + r];
                CHECKF(fabsf(got - want) <= 1e-4f * (1 + fabsf(want)), "%s %s%s token %d row %d: %g vs %g",
                       sets[s]->name, tt->name, int8 ? " (int8 GEMM)" : "", tok, r, got, want);
            }
        }
        free(w);
    }
    free(wf); free(x); free(xq); free(out1); free(out3);
}

/* A kernel set's own panel packing gives the floats of the type's to_float, transposed, bit for
 * bit: panel[k * rows + r] = row r's value at k0 + k. Panels of 16 and 32 rows (the AVX2 and
 * AVX-512 tiles), an offset k0 and a short last block; a shape it does not take is left alone. */
static void test_gemm_pack_matches_to_float_transposed(void)
{
    const int cols = 1120, types[] = {TYPE_F32, TYPE_F16, TYPE_BF16, TYPE_Q8_0, TYPE_Q4_0};
    const int64_t k0s[] = {0, 512, 1024, 0};
    const int kcs[] = {512, 512, 96, 12};   /* the last is not a multiple of 8: refused */
    float *wf = malloc(sizeof(float) * 32 * cols), *row = malloc(sizeof(float) * cols);
    float *panel = malloc(sizeof(float) * 32 * 512);
    for (int i = 0; i < 32 * cols; i++)
        wf[i] = sinf(i * 0.37f) * (1 + i % 7);   /* no two neighbours alike: a transposition error shows */
    int packs = 0;
    for (int s = 0; s < n_sets; s++) {
        gemm_pack_fn pack = sets[s]->gemm.pack;
        if (!pack)
            continue;
        for (size_t k = 0; k < sizeof types / sizeof *types; k++)
        for (int rows = 16; rows <= 32; rows += 16)
        for (int b = 0; b < 4; b++) {
            const type_traits *tt = type_traits_of(types[k]);
            const size_t row_bytes = type_row_bytes(types[k], cols);
            char *w = malloc(row_bytes * rows);
            for (int r = 0; r < rows; r++)
                tt->from_float(wf + (size_t)r * cols, w + r * row_bytes, cols);
            for (int i = 0; i < rows * 512; i++)
                panel[i] = -12345.0f;
            if (!pack(types[k], w, row_bytes, k0s[b], kcs[b], rows, panel)) {
                CHECKF(kcs[b] % 8 != 0, "%s %s: a panel of %d x %d refused", sets[s]->name, tt->name, rows, kcs[b]);
                for (int i = 0; i < rows * 512; i++)
                    CHECKF(panel[i] == -12345.0f, "%s %s: a refused pack wrote the panel", sets[s]->name, tt->name);
                free(w);
                continue;
            }
            packs++;
            for (int r = 0; r < rows; r++) {
                tt->to_float(w + r * row_bytes, row, cols);
                for (int c = 0; c < kcs[b]; c++)
                    CHECKF(memcmp(&panel[(size_t)c * rows + r], &row[k0s[b] + c], sizeof(float)) == 0,
                           "%s %s rows %d k0 %d: panel[%d][%d] = %g, row has %g", sets[s]->name, tt->name, rows,
                           (int)k0s[b], c, r, panel[(size_t)c * rows + r], row[k0s[b] + c]);
            }
            free(w);
        }
    }
    if (n_sets > 1)
        CHECKF(packs > 0, "no kernel set packed a panel");
    free(wf); free(row); free(panel);
}

/* Every set's decode scores against a float64 dot and bit for bit against the scalar set's: head
 * dimensions with and without a tail past the chunks of 8, key counts around the sets' groups of
 * eight, keys a stride apart that is not a multiple of a vector, starting one float in. */
static void test_attention_scores_match_scalar_for_every_set(void)
{
    enum { MAX_N = 70, MAX_DIM = 136 };
    static const int dims[] = {1, 5, 8, 13, 48, 64, 72, 128};
    const size_t k_step = MAX_DIM + 3;
    float *q = malloc(sizeof(float) * (MAX_DIM + 1)), *k = malloc(sizeof(float) * (MAX_N * k_step + 1));
    float s_scalar[MAX_N + 1], s_set[MAX_N + 1];
    uint64_t rng = 0xca11;
    for (int i = 0; i < MAX_DIM + 1; i++) q[i] = (float)((int)(test_xorshift(&rng) % 2001) - 1000) / 600.0f;
    for (size_t i = 0; i < MAX_N * k_step + 1; i++) k[i] = (float)((int)(test_xorshift(&rng) % 2001) - 1000) / 800.0f;
    const float scale = 0.125f * 1.1f;
    for (int s = 0; s < n_sets; s++)
    for (size_t di = 0; di < sizeof dims / sizeof *dims; di++)
    for (int n = 0; n <= MAX_N; n += n < 20 ? 1 : 25) {
        const int head_dim = dims[di];
        s_scalar[n] = s_set[n] = 12345.0f;   /* a guard past the last score */
        kernels_scalar.attention_scores(q + 1, k + 1, k_step, n, head_dim, scale, s_scalar);
        sets[s]->attention_scores(q + 1, k + 1, k_step, n, head_dim, scale, s_set);
        CHECKF(s_set[n] == 12345.0f, "%s head_dim %d n %d: wrote past the last score", sets[s]->name, head_dim, n);
        for (int j = 0; j < n; j++) {
            double want = 0, size = 0;
            for (int d = 0; d < head_dim; d++) {
                want += (double)q[1 + d] * k[1 + j * k_step + d];
                size += fabs((double)q[1 + d] * k[1 + j * k_step + d]);
            }
            CHECKF(test_close_to(s_set[j], want * scale, size * scale, 1e-6), "%s head_dim %d n %d: score %d = %.9g, "
                   "float64 %.9g", sets[s]->name, head_dim, n, j, s_set[j], want * scale);
            CHECKF(memcmp(&s_set[j], &s_scalar[j], sizeof(float)) == 0, "%s head_dim %d n %d: score %d = %.9g, "
                   "scalar %.9g", sets[s]->name, head_dim, n, j, s_set[j], s_scalar[j]);
        }
    }
    free(q);
    free(k);
}

/* Every set's attention product against a float64 sum and against the scalar set's: m = 1..6 rows
 * over n = 0..70 terms, with strides and row starts that are not multiples of a vector, adding to
 * what c already holds. Each element is one fused multiply-add per term, in the order of p, in
 * every set: so where the compiler gives the scalar set fused multiply-adds too (FP_FAST_FMAF),
 * the bits must be the same; elsewhere, within float rounding. */
static void test_attention_product_matches_scalar_for_every_set(void)
{
    enum { N = 70, A_STEP = 9, B_STEP = 21, C_STEP = 19 };
    float *a_data = malloc(sizeof(float) * (ATTN_PRODUCT_ROWS + N * A_STEP)), *b = malloc(sizeof(float) * N * B_STEP);
    float c0[ATTN_PRODUCT_ROWS * C_STEP], c_scalar[ATTN_PRODUCT_ROWS * C_STEP], c_set[ATTN_PRODUCT_ROWS * C_STEP];
    uint64_t rng = 0x5eed;
    for (int i = 0; i < ATTN_PRODUCT_ROWS + N * A_STEP; i++)
        a_data[i] = (float)((int)(test_xorshift(&rng) % 2001) - 1000) / 700.0f;
    for (int i = 0; i < N * B_STEP; i++) b[i] = (float)((int)(test_xorshift(&rng) % 2001) - 1000) / 900.0f;
    for (int i = 0; i < ATTN_PRODUCT_ROWS * C_STEP; i++) c0[i] = (float)(i % 13) - 6.0f;
    const float *a[ATTN_PRODUCT_ROWS];
    for (int u = 0; u < ATTN_PRODUCT_ROWS; u++)
        a[u] = a_data + 1 + u;                           /* rows start one float in: unaligned */
    for (int s = 0; s < n_sets; s++)
    for (int m = 1; m <= ATTN_PRODUCT_ROWS; m++)
    for (int n = 0; n <= N; n += n < 8 ? 1 : 31) {
        memcpy(c_scalar, c0, sizeof c0), memcpy(c_set, c0, sizeof c0);
        kernels_scalar.attention_product(m, n, a, A_STEP, b + 3, B_STEP, c_scalar, C_STEP);
        sets[s]->attention_product(m, n, a, A_STEP, b + 3, B_STEP, c_set, C_STEP);
        for (int u = 0; u < ATTN_PRODUCT_ROWS; u++)
        for (int i = 0; i < C_STEP; i++) {
            const int k = u * C_STEP + i;
            if (u >= m || i >= ATTN_PRODUCT_COLS) {      /* outside the m x 16 block: untouched */
                CHECKF(c_set[k] == c0[k], "%s m %d n %d: c[%d][%d] written", sets[s]->name, m, n, u, i);
                continue;
            }
            double want = c0[k], scale = fabs(c0[k]);
            for (int p = 0; p < n; p++) {
                want += (double)a[u][p * A_STEP] * b[3 + p * B_STEP + i];
                scale += fabs((double)a[u][p * A_STEP] * b[3 + p * B_STEP + i]);
            }
            CHECKF(test_close_to(c_set[k], want, scale, 1e-6), "%s m %d n %d: c[%d][%d] = %.9g, float64 %.9g",
                   sets[s]->name, m, n, u, i, c_set[k], want);
#ifdef FP_FAST_FMAF
            CHECKF(memcmp(&c_set[k], &c_scalar[k], sizeof(float)) == 0, "%s m %d n %d: c[%d][%d] = %.9g, scalar %.9g",
                   sets[s]->name, m, n, u, i, c_set[k], c_scalar[k]);
#endif
        }
    }
    free(a_data), free(b);
}

/* The int8 GEMMs' weight panels (kernels/int8_panel.h), as AVX2 packs them, against their
 * definition: byte 4n + j of b[block][h][i] is weight 4i + j of row 16h + n (Q4_0: its nibble
 * minus 8), each row's scale and weight sum beside them, rows past nr all zero. Q8_0 weights
 * include -128 and 127. Rows start at 0, 12 and 32 (two panels, the second of 13 rows or of 1,
 * then one), the blocks at 0, 5 and 16, and a short range of blocks ends the matrix. */
static void test_int8_panel_pack_matches_its_definition(void)
{
#if defined(__x86_64__)
    if (!__builtin_cpu_supports("avx2"))
        SKIP("this CPU has no AVX2");
    enum { ROWS = 45, BLOCKS = 21 };
    uint64_t rng = 0x1a2b3c;
    int8_panel *panels = malloc(2 * sizeof *panels);
    const int types[] = {TYPE_Q8_0, TYPE_Q4_0};
    for (int t = 0; t < 2; t++) {
        const int type = types[t];
        const size_t row_bytes = type_row_bytes(type, BLOCKS * INT8_BLOCK);
        const size_t block_bytes = type_traits_of(type)->block_bytes;
        uint8_t *data = malloc(row_bytes * ROWS);
        for (size_t i = 0; i < row_bytes * ROWS; i++)
            data[i] = (uint8_t)test_xorshift(&rng);
        for (int r = 0; r < ROWS; r++)   /* scales: small normal fp16 values, so none is NaN */
            for (int b = 0; b < BLOCKS; b++) {
                uint8_t *block = data + r * row_bytes + (size_t)b * block_bytes;
                block[0] = (uint8_t)(test_xorshift(&rng) & 0xff), block[1] = 0x20;   /* 2^-7 .. */
            }
        tensor w = {type, ROWS, BLOCKS * INT8_BLOCK, row_bytes, data};
        const int64_t starts[][2] = {{0, 0}, {12, 5}, {32, 16}};   /* first row, first block */
        for (size_t c = 0; c < sizeof starts / sizeof *starts; c++) {
            const int64_t rb = starts[c][0], kb = starts[c][1];
            const int nr = (int)(ROWS - rb), n_panels = (nr + INT8_PANEL_ROWS - 1) / INT8_PANEL_ROWS;
            const int nb = BLOCKS - kb < INT8_RANGE_BLOCKS ? (int)(BLOCKS - kb) : INT8_RANGE_BLOCKS;
            memset(panels, 0x55, 2 * sizeof *panels);
            avx2_pack_int8_panels(&w, rb, nr, kb, nb, panels);
            for (int b = 0; b < nb; b++)
            for (int r = 0; r < n_panels * INT8_PANEL_ROWS; r++) {
                const int8_panel *p = &panels[r / INT8_PANEL_ROWS];
                const int pr = r % INT8_PANEL_ROWS;   /* the row in its panel */
                int8_t q[INT8_BLOCK] = {0};
                float d = 0.0f;
                if (r < nr) {
                    const uint8_t *block = data + (rb + r) * row_bytes + (size_t)(kb + b) * block_bytes;
                    d = fp16_to_fp32((uint16_t)(block[0] | block[1] << 8));
                    for (int k = 0; k < INT8_BLOCK; k++)
                        q[k] = type == TYPE_Q8_0 ? (int8_t)block[2 + k]
                                                 : (int8_t)((k < 16 ? block[2 + k] & 15 : block[2 + k - 16] >> 4) - 8);
                }
                int32_t sum = 0;
                for (int k = 0; k < INT8_BLOCK; k++) {
                    sum += q[k];
                    CHECKF(p->b[b][pr / 16][k / 4][4 * (pr % 16) + k % 4] == q[k], "%s rows %d.. blocks %d..: row %d "
                           "block %d weight %d", type_traits_of(type)->name, (int)rb, (int)kb, r, b, k);
                }
                CHECKF(memcmp(&p->d[b][pr], &d, sizeof d) == 0, "%s: row %d block %d scale",
                       type_traits_of(type)->name, r, b);
                CHECKF(p->sum[b][pr] == sum, "%s: row %d block %d sum %d, want %d", type_traits_of(type)->name, r, b,
                       p->sum[b][pr], sum);
            }
        }
        free(data);
    }
    free(panels);
#else
    SKIP("the int8 panels are packed by the x86-64 AVX2 set");
#endif
}

/* F16 weights in fp16 panels (gemm_kernel.tile_f16 / pack_f16): the set's pack gives the stored
 * halves transposed, bit for bit, and leaves a shape it does not take alone; and a prefill matmul
 * of F16 weights gives the bits of the same set with fp32 panels (the conversion is exact, the sums
 * the same), with a short last panel (600 rows), a short last column block and 19 tokens. */
static void test_gemm_f16_panels_give_the_fp32_panels_bits(void)
{
    const int rows = 600, cols = 1120, n_tokens = 19;
    float *wf = malloc(sizeof(float) * rows * cols), *x = malloc(sizeof(float) * n_tokens * cols);
    float *out16 = malloc(sizeof(float) * rows * n_tokens), *out32 = malloc(sizeof(float) * rows * n_tokens);
    uint16_t *panel = malloc(sizeof(uint16_t) * 32 * 512);
    for (int i = 0; i < rows * cols; i++)
        wf[i] = sinf(i * 0.37f) * (1 + i % 7);
    for (int i = 0; i < n_tokens * cols; i++)
        x[i] = cosf(i * 0.029f);
    const size_t row_bytes = type_row_bytes(TYPE_F16, cols);
    char *w = malloc(row_bytes * rows);
    for (int r = 0; r < rows; r++)
        type_traits_of(TYPE_F16)->from_float(wf + (size_t)r * cols, w + r * row_bytes, cols);
    const tensor t = {TYPE_F16, rows, cols, row_bytes, w}, *tp = &t;
    int checked = 0;
    for (int s = 0; s < n_sets; s++) {
        const gemm_kernel *g = &sets[s]->gemm;
        if (!g->tile_f16)
            continue;
        checked++;
        if (g->pack_f16) {
            const int64_t k0s[] = {0, 512, 1024};
            const int kcs[] = {512, 104, 96};
            for (int b = 0; b < 3; b++) {
                CHECK(g->pack_f16(w, row_bytes, k0s[b], kcs[b], g->rows, panel));
                for (int r = 0; r < g->rows; r++)
                    for (int k = 0; k < kcs[b]; k++)
                        CHECKF(panel[(size_t)k * g->rows + r] == ((const uint16_t *)(w + r * row_bytes))[k0s[b] + k],
                               "%s: fp16 panel[%d][%d] from k0 %d", sets[s]->name, k, r, (int)k0s[b]);
            }
            for (int i = 0; i < 32 * 512; i++)
                panel[i] = 0x1234;
            CHECK(!g->pack_f16(w, row_bytes, 0, 12, g->rows, panel));   /* 12 columns: refused */
            for (int i = 0; i < 32 * 512; i++)
                CHECKF(panel[i] == 0x1234, "%s: a refused fp16 pack wrote the panel", sets[s]->name);
        }
        kernel_set fp32 = *sets[s];
        fp32.gemm.tile_f16 = NULL, fp32.gemm.pack_f16 = NULL;
        ops_context a = matmul_ops(2, sets[s], 0, cols), b = matmul_ops(2, &fp32, 0, cols);
        matmul(&a, x, n_tokens, 1, &tp, &out16);
        matmul(&b, x, n_tokens, 1, &tp, &out32);
        free_ops(&a), free_ops(&b);
        for (int i = 0; i < rows * n_tokens; i++)
            CHECKF(memcmp(&out16[i], &out32[i], sizeof(float)) == 0,
                   "%s: output %d = %.9g with fp16 panels, %.9g with fp32", sets[s]->name, i, out16[i], out32[i]);
    }
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2"))
        CHECKF(checked > 0, "no kernel set has fp16 panels");
#endif
    free(wf), free(x), free(out16), free(out32), free(panel), free(w);
}

/* The fast path of a short batch (decode) for Q8_0/Q4_0 weights: x quantized once to Q8_0, each
 * output the scalar set's integer dot product of the row with that x (so within float rounding of
 * it), the same bits for any thread count, and within the int8 rounding of x of the exact path. */
static void test_matmul_int8_decode_matches_scalar_vec_dot(void)
{
    const int cols = 1024 + 96, rows = 45, types[] = {TYPE_Q8_0, TYPE_Q4_0};
    float *wf = malloc(sizeof(float) * rows * cols), x[5 * 1120], out1[5 * 45], out3[5 * 45], exact[5 * 45];
    float *o1 = out1, *o3 = out3, *oe = exact;
    for (int i = 0; i < rows * cols; i++)
        wf[i] = sinf(i * 0.013f) + 0.1f * cosf(i * 1.7f);
    for (int i = 0; i < 5 * cols; i++)
        x[i] = cosf(i * 0.029f);
    for (int s = 0; s < n_sets; s++)
        for (int k = 0; k < 2; k++)
            for (int n_tokens = 1; n_tokens <= 5; n_tokens += 2) {   /* 5: vec_dot4 and a tail */
                const type_traits *tt = type_traits_of(types[k]);
                const kernel_row scalar = kernel_row_of(&kernels_scalar, types[k]);
                size_t row_bytes = type_row_bytes(types[k], cols);
                char *w = malloc(row_bytes * rows), xq[1120 / 32 * 34];
                for (int r = 0; r < rows; r++)
                    tt->from_float(wf + (size_t)r * cols, w + r * row_bytes, cols);
                tensor t = {types[k], rows, cols, row_bytes, w};
                const tensor *tp = &t;
                ops_context one = matmul_ops(1, sets[s], 0, cols), three = matmul_ops(3, sets[s], 0, cols);
                ops_context ref = matmul_ops(1, sets[s], 1, cols);
                matmul(&one, x, n_tokens, 1, &tp, &o1);
                matmul(&three, x, n_tokens, 1, &tp, &o3);
                matmul(&ref, x, n_tokens, 1, &tp, &oe);
                free_ops(&one), free_ops(&three), free_ops(&ref);
                CHECKF(!memcmp(out1, out3, sizeof(float) * rows * n_tokens), "%s %s: thread count changed the "
                       "result", sets[s]->name, tt->name);
                for (int tok = 0; tok < n_tokens; tok++) {
                    type_traits_of(TYPE_Q8_0)->from_float(x + tok * cols, xq, cols);
                    for (int r = 0; r < rows; r++) {
                        float want = scalar.vec_dot(w + r * row_bytes, xq, cols), got = out1[tok * rows + r];
                        float e = exact[tok * rows + r];
                        CHECKF(fabsf(got - want) <= 1e-5f * (1 + fabsf(want)), "%s %s token %d row %d: %g vs "
                               "scalar %g", sets[s]->name, tt->name, tok, r, got, want);
                        /* x's int8 rounding (half a step, amax/254, per element) adds errors of
                         * random sign: far below 1e-3 of sum |w x| */
                        double magnitude = 0;
                        for (int c = 0; c < cols; c++)
                            magnitude += fabs((double)wf[r * cols + c] * x[tok * cols + c]);
                        CHECKF(fabsf(got - e) <= 1e-3 * magnitude, "%s %s token %d row %d: int8 %g vs exact %g "
                               "(sum |w x| %g)", sets[s]->name, tt->name, tok, r, got, e, magnitude);
                    }
                }
                free(w);
            }
    free(wf);
}

/* Decode's four-row float dot (dot_rows4) gives its set's dot bits for every row, for F32, F16 and
 * BF16 rows of lengths with and without tails past 8 and 16 (0 to 8 rows of 3 and 1 element
 * included); and a one-token F32 matmul, which uses it, gives the same bits for 1, 2 and 3
 * threads (the shares begin at different rows) and stays within 1e-4 of float64. */
static void test_dot_rows4_gives_dot_bits(void)
{
    enum { MAX_COLS = 203, ROWS = 4 };
    static const int lengths[] = {1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 96, 203};
    static const int types[] = {TYPE_F32, TYPE_F16, TYPE_BF16};
    float x[MAX_COLS], wf[ROWS * MAX_COLS];
    uint16_t wh[ROWS * MAX_COLS];
    uint64_t rng = 0xd07;
    for (int i = 0; i < MAX_COLS; i++) x[i] = (float)((int)(test_xorshift(&rng) % 2001) - 1000) / 500.0f;
    for (int i = 0; i < ROWS * MAX_COLS; i++) wf[i] = (float)((int)(test_xorshift(&rng) % 2001) - 1000) / 700.0f;
    int tried = 0;
    for (int s = 0; s < n_sets; s++)
    for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++) {
        const int type = types[ti];
        const kernel_row k = kernel_row_of(sets[s], type);
        if (!k.dot_rows4)
            continue;
        for (size_t li = 0; li < sizeof lengths / sizeof *lengths; li++) {
            const int n = lengths[li];
            const size_t row_bytes = type == TYPE_F32 ? sizeof(float) * MAX_COLS : sizeof(uint16_t) * MAX_COLS;
            for (int i = 0; i < ROWS * MAX_COLS; i++) {
                uint32_t bits;
                memcpy(&bits, &wf[i], sizeof bits);
                wh[i] = type == TYPE_F16 ? fp32_to_fp16(wf[i]) : (uint16_t)(bits >> 16);   /* bf16: the top half */
            }
            const void *w = type == TYPE_F32 ? (const void *)wf : (const void *)wh;
            float o[4];
            k.dot_rows4(w, row_bytes, x, n, o);
            for (int r = 0; r < ROWS; r++) {
                const float want = k.dot((const char *)w + r * row_bytes, x, n);
                CHECKF(memcmp(&o[r], &want, sizeof want) == 0, "%s %s n %d row %d: dot_rows4 %.9g, dot %.9g",
                       sets[s]->name, type_traits_of(type)->name, n, r, o[r], want);
            }
            tried++;
        }
    }
    CHECK(tried > 0);   /* the scalar set has none; every SIMD set this CPU runs has them */

    enum { COLS = 96, MROWS = 61 };
    float *w = malloc(sizeof(float) * MROWS * COLS), out[3][MROWS];
    for (int i = 0; i < MROWS * COLS; i++) w[i] = sinf(i * 0.23f);
    tensor t = {TYPE_F32, MROWS, COLS, sizeof(float) * COLS, w};
    const tensor *tp = &t;
    for (int s = 0; s < n_sets; s++) {
        for (int threads = 1; threads <= 3; threads++) {
            ops_context ops = matmul_ops(threads, sets[s], 0, COLS);
            float *o = out[threads - 1];
            matmul(&ops, x, 1, 1, &tp, &o);
            free_ops(&ops);
        }
        CHECKF(!memcmp(out[0], out[1], sizeof out[0]) && !memcmp(out[0], out[2], sizeof out[0]),
               "%s: the thread count changed a decode matmul", sets[s]->name);
        for (int r = 0; r < MROWS; r++) {
            double want = 0;
            for (int c = 0; c < COLS; c++)
                want += (double)w[r * COLS + c] * x[c];
            CHECKF(fabs(out[0][r] - want) < 1e-4, "%s row %d: %g vs %g", sets[s]->name, r, out[0][r], want);
        }
    }
    free(w);
}

/* Every task of every job runs exactly once, on a valid worker, across many back-to-back jobs
 * (including more threads than this machine has cores, where workers start late). */
struct count_job {
    int counts[64];
    int bad_worker;
    int n_threads;
};

static void count_task(void *arg, int task, int n_tasks, int worker)
{
    struct count_job *j = arg;
    if (worker < 0 || worker >= j->n_threads || n_tasks != 64)
        __atomic_store_n(&j->bad_worker, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&j->counts[task], 1, __ATOMIC_RELAXED);
}

static void test_threadpool_runs_every_task_once_per_job(void)
{
    for (int threads = 1; threads <= 5; threads += 2) {
        threadpool *pool = threadpool_new(threads);
        struct count_job j = {{0}, 0, threads};
        for (int job = 0; job < 5000; job++)
            threadpool_run(pool, count_task, &j, 64);
        for (int t = 0; t < 64; t++)
            CHECKF(j.counts[t] == 5000, "threads %d task %d ran %d times", threads, t, j.counts[t]);
        CHECK(!j.bad_worker);
        threadpool_free(pool);
    }
}

/* Guided shares cover 0..n exactly once, in order, never growing, none shorter than `min` but the
 * remainder; the first is about 1/(2 x threads) of the whole. */
static void test_threadpool_guided_shares_tile_the_range(void)
{
    const long ns[] = {1, 15, 16, 17, 144, 2304, 100000};
    const long mins[] = {0, 1, 4, 16};   /* 0: still at least one item per task */
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
        for (size_t b = 0; b < sizeof mins / sizeof mins[0]; b++)
            for (int threads = 1; threads <= 8; threads *= 2) {
                const long n = ns[a], min = mins[b];
                const int tasks = threadpool_guided_tasks(n, min, threads);
                long expect = 0, previous = n + 1;
                int ok = tasks >= 1 && tasks <= n;
                for (int t = 0; t < tasks && ok; t++) {
                    long begin, end;
                    threadpool_split_guided(n, min, threads, t, &begin, &end);
                    const long share = end - begin;
                    ok = begin == expect && share > 0 && share <= previous && (share >= min || end == n);
                    if (t == 0)
                        ok = ok && (share == n || share >= n / (2L * threads));
                    expect = end, previous = share;
                }
                CHECKF(ok && expect == n, "n %ld min %ld threads %d: shares do not tile 0..n", n, min, threads);
            }
}

static double thread_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* `test_kernels --bench`: single-thread speed of prefill's GEMM (gemm_rows, the whole tile loop
 * with packing) for each kernel set and type, and of the elementwise ops, in thread-CPU time so a
 * busy machine disturbs it less. A benchmark, not a test: it asserts nothing. */
static void bench(void)
{
    const int shapes[][2] = {{768, 768}, {2048, 768}, {768, 2048}}, n_tokens = 512;
    const int types[] = {TYPE_F32, TYPE_F16, TYPE_Q8_0, TYPE_Q4_0};
    printf("# single thread, %d tokens; GFLOP/s per thread-CPU second, best of 5\n", n_tokens);
    printf("%-7s %-5s %11s %9s\n", "set", "type", "rows x cols", "GFLOP/s");
    float *x = malloc(sizeof(float) * n_tokens * 2048), *out = malloc(sizeof(float) * n_tokens * 2048);
    float *wf = malloc(sizeof(float) * 2048 * 2048);
    for (int i = 0; i < n_tokens * 2048; i++)
        x[i] = cosf(i * 0.029f);
    for (int i = 0; i < 2048 * 2048; i++)
        wf[i] = sinf(i * 0.013f);
    for (int s = 0; s < n_sets; s++)
    for (size_t k = 0; k < sizeof types / sizeof *types; k++)
    for (size_t sh = 0; sh < sizeof shapes / sizeof *shapes; sh++) {
        const int rows = shapes[sh][0], cols = shapes[sh][1];
        const type_traits *tt = type_traits_of(types[k]);
        const size_t row_bytes = type_row_bytes(types[k], cols);
        char *w = malloc(row_bytes * rows);
        for (int r = 0; r < rows; r++)
            tt->from_float(wf + (size_t)r * cols, w + r * row_bytes, cols);
        const tensor t = {types[k], rows, cols, row_bytes, w};
        const kernel_row row = kernel_row_of(sets[s], types[k]);
        float *scratch = malloc(sizeof(float) * gemm_scratch_floats(&sets[s]->gemm));
        double best = 1e30;
        for (int rep = 0; rep < 5; rep++) {
            double t0 = thread_seconds();
            gemm_rows(&sets[s]->gemm, &row, &t, 0, rows, x, cols, n_tokens, out, rows, scratch);
            best = fmin(best, thread_seconds() - t0);
        }
        printf("%-7s %-5s %5d x %4d %9.1f\n", sets[s]->name, tt->name, rows, cols,
               2.0 * rows * cols * n_tokens / best / 1e9);
        fflush(stdout);
        free(scratch), free(w);
    }
    const int n = n_tokens * 2048;
    double best_swiglu = 1e30, best_norm = 1e30;
    for (int rep = 0; rep < 5; rep++) {
        memcpy(out, x, sizeof(float) * n);
        double t0 = thread_seconds();
        swiglu(out, x, n);
        double t1 = thread_seconds();
        for (int tok = 0; tok < n_tokens; tok++)
            rmsnorm(out + (size_t)tok * 2048, x + (size_t)tok * 2048, wf, 2048, 1e-5f);
        double t2 = thread_seconds();
        best_swiglu = fmin(best_swiglu, t1 - t0), best_norm = fmin(best_norm, t2 - t1);
    }
    printf("swiglu  %.2f ns per element; rmsnorm %.2f ns per element\n", best_swiglu / n * 1e9, best_norm / n * 1e9);
    free(x), free(out), free(wf);
}

int main(int argc, char **argv)
{
    n_sets = kernel_sets_supported(sets, 8);
    if (argc > 1 && !strcmp(argv[1], "--bench")) {
        bench();
        return 0;
    }
    RUN(test_rmsnorm_matches_definition);
    RUN(test_rope_dot_product_depends_on_distance_only);
    RUN(test_rope_rotates_interleaved_pairs);
    RUN(test_softmax_is_stable_and_normalised);
    RUN(test_swiglu_is_silu_gate_times_up);
    RUN(test_matmul_matches_naive_for_many_shapes);
    RUN(test_matmul_prefill_gemm_matches_dot_products_for_every_type);
    RUN(test_gemm_pack_matches_to_float_transposed);
    RUN(test_gemm_f16_panels_give_the_fp32_panels_bits);
    RUN(test_attention_product_matches_scalar_for_every_set);
    RUN(test_attention_scores_match_scalar_for_every_set);
    RUN(test_dot_rows4_gives_dot_bits);
    RUN(test_int8_panel_pack_matches_its_definition);
    RUN(test_matmul_int8_decode_matches_scalar_vec_dot);
    RUN(test_threadpool_runs_every_task_once_per_job);
    RUN(test_threadpool_guided_shares_tile_the_range);
    TEST_EXIT();
}
