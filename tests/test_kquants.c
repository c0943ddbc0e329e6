/* test_kquants.c — the k-quant kernels (src/kquants.c, src/kernels/kquants_avx2.c): block layouts,
 * decoding by hand-built blocks, quantization error against Q4_0 at equal bits, the Q8_K dots
 * against float64, and the AVX2 dots against the scalar ones.
 *
 * tests/test_kquants.sh also runs this program in two helper modes, for the cross-check with
 * the numpy implementation written independently from the format description (scripts/kquants.py):
 *   test_kquants --decode DIR   decode DIR/<T>.bin (written by numpy) and compare with DIR/<T>.f32
 *   test_kquants --encode DIR   quantize a Gaussian row, write DIR/<T>.in.f32, <T>.bin, <T>.out.f32 */

#include "kquants.h"
#include "kernels/kernel_set.h"
#include "kernels/kquants_avx2.h"
#include "tensor.h"
#include "test.h"

#include <stdint.h>

/* ==== Helpers ==== */

static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static double uniform01(void)
{
    return ((test_xorshift(&rng_state) >> 11) + 0.5) * 0x1p-53;
}

static float gaussian(void)     /* Box-Muller */
{
    return (float)(sqrt(-2 * log(uniform01())) * cos(6.283185307179586 * uniform01()));
}

static float *gaussian_row(int64_t n)
{
    float *x = malloc((size_t)n * sizeof *x);
    for (int64_t i = 0; i < n; i++) x[i] = gaussian();
    return x;
}

typedef void (*to_float_fn)(const void *, float *, int64_t);
typedef void (*from_float_fn)(const float *, void *, int64_t);
typedef float (*dot_q8_fn)(const void *, const void *, int64_t);
typedef float (*dot_f32_fn)(const void *, const float *, int64_t);
typedef void (*dot4_fn)(const void *, const void *, int64_t, int64_t, float[4]);
typedef void (*vec_dot4_fn)(const void *, size_t, const void *, int64_t, float[4]);
typedef void (*dot4_f32_fn)(const void *, const float *, int64_t, int64_t, float[4]);

typedef struct {
    const char *name;
    int type;
    to_float_fn to_float;
    from_float_fn from_float;
    dot_q8_fn dot_q8, dot_avx2;
    dot_f32_fn dot_f32;
    dot4_fn dot4, dot4_avx2;
    vec_dot4_fn vec_dot4, vec_dot4_avx2;
    dot4_f32_fn dot4_f32;
} kquant;

/* Q2_K and Q3_K have no Q8_K dot4 (NULL). */
static const kquant kquants[] = {
    { "Q2_K", TYPE_Q2_K, q2_K_to_float, q2_K_from_float, q2_K_dot_q8_K, q2_K_dot_q8_K_avx2, q2_K_dot_f32, NULL, NULL,
      q2_K_vec_dot4_q8_K, q2_K_vec_dot4_q8_K_avx2, q2_K_dot4_f32 },
    { "Q3_K", TYPE_Q3_K, q3_K_to_float, q3_K_from_float, q3_K_dot_q8_K, q3_K_dot_q8_K_avx2, q3_K_dot_f32, NULL, NULL,
      q3_K_vec_dot4_q8_K, q3_K_vec_dot4_q8_K_avx2, q3_K_dot4_f32 },
    { "Q4_K", TYPE_Q4_K, q4_K_to_float, q4_K_from_float, q4_K_dot_q8_K, q4_K_dot_q8_K_avx2, q4_K_dot_f32,
      q4_K_dot4_q8_K, q4_K_dot4_q8_K_avx2, q4_K_vec_dot4_q8_K, q4_K_vec_dot4_q8_K_avx2, q4_K_dot4_f32 },
    { "Q5_K", TYPE_Q5_K, q5_K_to_float, q5_K_from_float, q5_K_dot_q8_K, q5_K_dot_q8_K_avx2, q5_K_dot_f32,
      q5_K_dot4_q8_K, q5_K_dot4_q8_K_avx2, q5_K_vec_dot4_q8_K, q5_K_vec_dot4_q8_K_avx2, q5_K_dot4_f32 },
    { "Q6_K", TYPE_Q6_K, q6_K_to_float, q6_K_from_float, q6_K_dot_q8_K, q6_K_dot_q8_K_avx2, q6_K_dot_f32,
      q6_K_dot4_q8_K, q6_K_dot4_q8_K_avx2, q6_K_vec_dot4_q8_K, q6_K_vec_dot4_q8_K_avx2, q6_K_dot4_f32 },
};
enum { N_KQUANTS = sizeof kquants / sizeof kquants[0] };

/* Relative RMS error bounds on N(0, 1) rows: measured with this generator Q2_K 0.2692, Q3_K 0.1438,
 * Q4_K 0.0710, Q5_K 0.0357, Q6_K 0.0173 (Q4_0: 0.0850), times 1.5. */
static const double gaussian_bound[N_KQUANTS] = { 0.40, 0.216, 0.107, 0.054, 0.026 };

/* sqrt(mean (y - x)^2 / mean x^2) */
static double relative_rms(const float *x, const float *y, int64_t n)
{
    double err = 0, ref = 0;
    for (int64_t i = 0; i < n; i++) {
        err += ((double)y[i] - x[i]) * ((double)y[i] - x[i]);
        ref += (double)x[i] * x[i];
    }
    return sqrt(err / ref);
}

/* The AVX2 kernels run where the library would run the AVX2 set: the one CPU check (select.c). */
static int avx2_runs(void) { return kernel_set_supported(&kernels_avx2); }

/* ==== Layouts ==== */

static void test_kquants_block_sizes_match_ggml(void)
{
    CHECK(sizeof(block_q2_K) == 84 && sizeof(block_q3_K) == 110);
    CHECK(sizeof(block_q4_K) == 144 && sizeof(block_q5_K) == 176);
    CHECK(sizeof(block_q6_K) == 210 && sizeof(block_q8_K) == 292);
    CHECK(kquant_row_bytes(TYPE_Q4_K, 4096) == 16 * 144);
    CHECK(kquant_row_bytes(TYPE_Q5_K, 256) == 176);
    CHECK(kquant_row_bytes(TYPE_Q6_K, 512) == 420);
    CHECK(kquant_row_bytes(TYPE_Q8_K, 768) == 3 * 292);
    CHECK(kquant_row_bytes(TYPE_Q2_K, 256) == 84 && kquant_row_bytes(TYPE_Q3_K, 512) == 220);
}

static void test_kquants_row_bytes_rejects_partial_superblocks(void)
{
    const int64_t bad_n[] = { 0, -256, 32, 255, 257, 4096 + 32 };
    for (int t = 0; t < N_KQUANTS; t++)
        for (size_t i = 0; i < sizeof bad_n / sizeof bad_n[0]; i++)
            CHECKF(kquant_row_bytes(kquants[t].type, bad_n[i]) == 0, "%s n=%lld", kquants[t].name, (long long)bad_n[i]);
    CHECK(kquant_row_bytes(TYPE_Q4_0, 256) == 0);   /* not a k-quant */
    CHECK(kquant_row_bytes(99, 256) == 0);
}

/* One nonzero quantity at a time, placed by the format description (kquants.h), must land on
 * the element the description says. Independent of the quantizers. */
static void test_kquants_decode_places_each_element_as_ggml(void)
{
    float out[QK_K];
    block_q4_K b4;
    memset(&b4, 0, sizeof b4);
    b4.d = fp32_to_fp16(1.0f);
    for (int j = 0; j < 8; j++) {       /* scale of sub-block j is j + 1, via the 6-bit packing */
        uint8_t sc = (uint8_t)(j + 1 + (j >= 4 ? 32 : 0));     /* j >= 4: use the high bits too */
        if (j < 4) b4.scales[j] |= sc;
        else { b4.scales[j + 4] |= sc & 15; b4.scales[j - 4] |= (uint8_t)((sc >> 4) << 6); }
    }
    b4.qs[32 * 2 + 5] = 0x73;           /* chunk 2, byte 5: element 133 (low) = 3, 165 (high) = 7 */
    q4_K_to_float(&b4, out, QK_K);
    for (int i = 0; i < QK_K; i++) {
        float want = i == 133 ? 3.0f * 37 : i == 165 ? 7.0f * 38 : 0.0f;    /* sub-blocks 4, 5 */
        CHECKF(out[i] == want, "Q4_K element %d = %g, want %g", i, out[i], want);
    }
    /* the min of sub-block 6 (high bits in scales[6]) applies to its 32 elements */
    memset(&b4, 0, sizeof b4);
    b4.dmin = fp32_to_fp16(0.5f);
    b4.scales[10] = (uint8_t)(5 << 4);  /* low 4 bits of m[6] */
    b4.scales[6] = (uint8_t)(1 << 6);   /* high 2 bits of m[6]: m[6] = 16 + 5 */
    q4_K_to_float(&b4, out, QK_K);
    for (int i = 0; i < QK_K; i++)
        CHECKF(out[i] == (i / 32 == 6 ? -0.5f * 21 : 0.0f), "Q4_K min: element %d = %g", i, out[i]);

    block_q5_K b5;
    memset(&b5, 0, sizeof b5);
    b5.d = fp32_to_fp16(1.0f);
    for (int j = 0; j < 4; j++) b5.scales[j] = 1;
    for (int j = 4; j < 8; j++) b5.scales[j + 4] = 1;
    b5.qh[9] = 1 << 5;                  /* fifth bit of element 32 * 5 + 9 */
    q5_K_to_float(&b5, out, QK_K);
    for (int i = 0; i < QK_K; i++)
        CHECKF(out[i] == (i == 169 ? 16.0f : 0.0f), "Q5_K element %d = %g", i, out[i]);

    block_q2_K b2;                      /* scale 3, min 2 in sub-block 11; q = 2 at one element */
    memset(&b2, 0, sizeof b2);
    b2.d = fp32_to_fp16(1.0f);
    b2.dmin = fp32_to_fp16(0.25f);
    b2.scales[11] = 3 | (2 << 4);
    b2.qs[32 + 20] = 2 << 2;            /* half 1, j = 1, l = 20: element 128 + 32 + 20 = 180 */
    q2_K_to_float(&b2, out, QK_K);
    for (int i = 0; i < QK_K; i++) {
        float want = i / 16 == 11 ? -0.5f : 0.0f;
        if (i == 180) want = 3.0f * 2 - 0.5f;
        CHECKF(out[i] == want, "Q2_K element %d = %g, want %g", i, out[i], want);
    }

    block_q3_K b3;                      /* every third bit set (q = low 2 bits), low bits 0 */
    memset(&b3, 0, sizeof b3);
    memset(b3.hmask, 0xff, sizeof b3.hmask);
    b3.d = fp32_to_fp16(1.0f);
    for (int k = 0; k < 8; k++) b3.scales[k] = 0x00;        /* low nibbles 0 ... */
    for (int k = 0; k < 4; k++) b3.scales[8 + k] = 0xaa;    /* ... high bits 2: every s = 32 - 32 = 0 */
    b3.scales[13 % 8] |= 5 << 4;        /* sub-block 13: low nibble 5 -> s = 32 + 5 - 32 = 5 */
    b3.qs[32 + 7] = 3 << 6;             /* half 1, j = 3, l = 7: element 128 + 96 + 7 = 231 (group 14) */
    b3.qs[32 + 17] = 1 << 4;            /* half 1, j = 2, l = 17: element 128 + 64 + 17 = 209 (group 13) */
    b3.hmask[17] &= (uint8_t)~(1 << 6); /* ... with its third bit clear: q = 1 - 4 */
    q3_K_to_float(&b3, out, QK_K);
    for (int i = 0; i < QK_K; i++) {
        float want = i == 209 ? 5.0f * -3 : 0.0f;
        CHECKF(out[i] == want, "Q3_K element %d = %g, want %g", i, out[i], want);
    }

    block_q6_K b6;
    memset(&b6, 0, sizeof b6);
    b6.d = fp32_to_fp16(1.0f);
    for (int g = 0; g < 16; g++) b6.scales[g] = (int8_t)(g + 1);
    memset(b6.ql, 0, sizeof b6.ql);
    memset(b6.qh, 0xaa, sizeof b6.qh);  /* every high pair = 2: q = 32, so w = 0 everywhere */
    b6.ql[64 + 32 + 3] = 0x50;          /* half 1, quarter 3 (high nibble of ql[32 + l]), l = 3 */
    q6_K_to_float(&b6, out, QK_K);
    for (int i = 0; i < QK_K; i++) {
        int want_index = 128 + 96 + 3;  /* element 227: group 14, scale 15 */
        CHECKF(out[i] == (i == want_index ? 15.0f * 5 : 0.0f), "Q6_K element %d = %g", i, out[i]);
    }
}

/* ==== Quantization error ==== */

static void test_kquants_quantize_error_beats_q4_0_and_orders_by_bits(void)
{
    const int64_t n = 64 * QK_K;
    float *x = gaussian_row(n), *y = malloc((size_t)n * sizeof *y);
    void *blocks = malloc((size_t)n * 2);
    double err[N_KQUANTS];
    for (int t = 0; t < N_KQUANTS; t++) {
        kquants[t].from_float(x, blocks, n);
        kquants[t].to_float(blocks, y, n);
        err[t] = relative_rms(x, y, n);
        printf("# %s relative RMS error on N(0,1): %.4f (%.4g bits per weight)\n", kquants[t].name, err[t],
               8.0 * kquant_row_bytes(kquants[t].type, n) / n);
        CHECKF(err[t] < gaussian_bound[t], "%s error %.4f >= %.4f", kquants[t].name, err[t], gaussian_bound[t]);
    }
    const type_traits *q4_0 = type_traits_of(TYPE_Q4_0);
    q4_0->from_float(x, blocks, n);
    q4_0->to_float(blocks, y, n);
    double err_q4_0 = relative_rms(x, y, n);
    printf("# Q4_0 relative RMS error on N(0,1): %.4f (4.5 bits per weight)\n", err_q4_0);
    CHECKF(err[2] < err_q4_0, "Q4_K %.4f is not better than Q4_0 %.4f at the same 4.5 bits", err[2], err_q4_0);
    for (int t = 1; t < N_KQUANTS; t++)
        CHECKF(err[t] < err[t - 1], "%s error %.4f >= %s error %.4f", kquants[t].name, err[t], kquants[t - 1].name, err[t - 1]);
    free(x); free(y); free(blocks);
}

/* Rows that stress the fits: zeros, a constant, all positive, one outlier, tiny values. */
static void test_kquants_quantize_edge_rows(void)
{
    const int64_t n = 5 * QK_K;
    float *x = calloc((size_t)n, sizeof *x), *y = malloc((size_t)n * sizeof *y);
    void *blocks = malloc((size_t)n * 2);
    for (int i = 0; i < QK_K; i++) {
        x[QK_K + i] = -0.75f;                       /* constant */
        x[2 * QK_K + i] = 1.0f + (float)i / QK_K;   /* all positive */
        x[3 * QK_K + i] = 0.01f * gaussian();
        x[4 * QK_K + i] = 1e-3f * gaussian();
    }
    x[3 * QK_K + 77] = 40.0f;                       /* an outlier in a small sub-block */
    for (int t = 0; t < N_KQUANTS; t++) {
        kquants[t].from_float(x, blocks, n);
        kquants[t].to_float(blocks, y, n);
        for (int i = 0; i < QK_K; i++) CHECKF(y[i] == 0, "%s: zero row decodes to %g", kquants[t].name, y[i]);
        CHECKF(fabsf(y[QK_K + 5] + 0.75f) < 0.75f * 0.02f, "%s: constant -0.75 -> %g", kquants[t].name, y[QK_K + 5]);
        CHECKF(relative_rms(x + 2 * QK_K, y + 2 * QK_K, QK_K) < gaussian_bound[t] / 2, "%s: positive row", kquants[t].name);
        CHECKF(fabsf(y[3 * QK_K + 77] - 40.0f) < 40.0f * 0.05f, "%s: outlier 40 -> %g", kquants[t].name, y[3 * QK_K + 77]);
        CHECKF(relative_rms(x + 4 * QK_K, y + 4 * QK_K, QK_K) < gaussian_bound[t], "%s: tiny row", kquants[t].name);
    }
    free(x); free(y); free(blocks);
}

/* Activations are quantized at run time, so Q8_K takes anything: the range is symmetric, and a
 * super-block with a NaN or an infinity becomes d = NaN (the dots then give NaN, as float
 * arithmetic would) without touching the other super-blocks. */
static void test_kquants_q8_K_takes_any_activation(void)
{
    float x[2 * QK_K];
    for (int i = 0; i < 2 * QK_K; i++) x[i] = (float)(i % QK_K - 128) / 128;
    x[0] = -1.0f;       /* the largest magnitude is negative: still -127 .. 127 */
    block_q8_K b[2];
    q8_K_from_float(x, b, 2 * QK_K);
    CHECK(b[0].qs[0] == -127 && b[0].qs[255] == 126 && b[0].qs[128] == 0 && b[0].qs[129] == 1);
    CHECK(b[0].qs[127] == -1 && b[0].d == 1.0f / 127);
    for (int bad = 0; bad < 2; bad++) {
        x[5] = bad ? INFINITY : NAN;
        q8_K_from_float(x, b, 2 * QK_K);
        CHECK(isnan(b[0].d) && b[0].qs[7] == 0 && b[0].bsums[3] == 0);
        CHECK(b[1].d > 0 && b[1].qs[255] == 126);
    }
}

/* ==== Dots ==== */

/* With x quantized to Q8_K, the integer dot equals the float64 dot of the decoded weights and
 * the decoded activations up to float rounding, and the float64 dot with the true x within
 * sum |w| * d_x / 2 (each activation is off by at most half its step). */
static void test_kquants_dot_q8_K_matches_float64(void)
{
    const int64_t n = 16 * QK_K;
    float *x = gaussian_row(n), *w = gaussian_row(n), *wq = malloc((size_t)n * sizeof *wq);
    float *xq = malloc((size_t)n * sizeof *xq);
    void *blocks = malloc((size_t)n * 2), *xblocks = malloc(kquant_row_bytes(TYPE_Q8_K, n));
    q8_K_from_float(x, xblocks, n);
    q8_K_to_float(xblocks, xq, n);
    const block_q8_K *xb = xblocks;
    for (int g = 0; g < 16; g++) {
        int sum = 0;
        for (int l = 0; l < 16; l++) sum += xb[3].qs[16 * g + l];
        CHECKF(sum == xb[3].bsums[g], "bsums[%d] = %d, want %d", g, xb[3].bsums[g], sum);
    }
    for (int t = 0; t < N_KQUANTS; t++) {
        kquants[t].from_float(w, blocks, n);
        kquants[t].to_float(blocks, wq, n);
        double exact_q = 0, exact = 0, magnitude = 0, step_bound = 0;
        for (int64_t i = 0; i < n; i++) {
            exact_q += (double)wq[i] * xq[i];
            exact += (double)wq[i] * x[i];
            magnitude += fabs((double)wq[i] * x[i]);
            step_bound += fabs((double)wq[i]) * xb[i / QK_K].d / 2;
        }
        double got = kquants[t].dot_q8(blocks, xblocks, n);
        CHECKF(fabs(got - exact_q) <= 1e-5 * magnitude, "%s: q8 dot %.7g, float64 of decoded %.7g",
               kquants[t].name, got, exact_q);
        CHECKF(fabs(got - exact) <= step_bound + 1e-5 * magnitude, "%s: q8 dot %.7g, float64 %.7g, bound %.3g",
               kquants[t].name, got, exact, step_bound);
        double got_f32 = kquants[t].dot_f32(blocks, x, n);
        CHECKF(fabs(got_f32 - exact) <= 1e-5 * magnitude, "%s: f32 dot %.7g, float64 %.7g", kquants[t].name, got_f32, exact);
    }
    free(x); free(w); free(wq); free(xq); free(blocks); free(xblocks);
}

static void put_fp16(uint8_t *p, float v)
{
    uint16_t h = fp32_to_fp16(v);
    memcpy(p, &h, sizeof h);
}

/* sum_i |w_i x_i| in float64 over the decoded row and activations: the scale of the float
 * rounding error any summation order can make. */
static double dot_magnitude(const kquant *k, const void *blocks, const void *xblocks, int64_t n)
{
    float *w = malloc((size_t)n * sizeof *w), *x = malloc((size_t)n * sizeof *x);
    k->to_float(blocks, w, n);
    q8_K_to_float(xblocks, x, n);
    double m = 0;
    for (int64_t i = 0; i < n; i++) m += fabs((double)w[i] * x[i]);
    free(w); free(x);
    return m;
}

/* The AVX2 dots do the same integer sums per super-block as the scalar ones and differ only in
 * how the float scaling is rounded and summed: within 2e-6 of the magnitude, ~16 float32 ulps
 * (measured: up to 1e-6, when one huge activation makes one super-block's terms dominate).
 * Random bytes exercise every bit pattern, including the largest q with the largest |y|. */
static void test_kquants_avx2_dots_match_scalar(void)
{
    if (!avx2_runs()) SKIP("this CPU has no AVX2");
    const int64_t n = 24 * QK_K;
    float *x = gaussian_row(n), *w = gaussian_row(n);
    void *blocks = malloc((size_t)n * 2), *xblocks = malloc(kquant_row_bytes(TYPE_Q8_K, n));
    double worst = 0;
    for (int round = 0; round < 2; round++) {
        if (round == 1) x[100] = 1e4f;      /* one huge activation: most q8 round to 0, one to 127 */
        q8_K_from_float(x, xblocks, n);
        for (int t = 0; t < N_KQUANTS; t++) {
            if (!kquants[t].dot_avx2) continue;
            for (int random_bytes = 0; random_bytes < 2; random_bytes++) {
                kquants[t].from_float(w, blocks, n);
                if (random_bytes) {     /* every bit pattern, with finite scales */
                    uint8_t *raw = blocks;
                    size_t bytes = kquant_row_bytes(kquants[t].type, n), per_block = bytes / (size_t)(n / QK_K);
                    for (size_t i = 0; i < bytes; i++) raw[i] = (uint8_t)(uniform01() * 256);
                    for (int64_t b = 0; b < n / QK_K; b++) {
                        uint8_t *block = raw + (size_t)b * per_block;
                        switch (kquants[t].type) {      /* where d (and dmin) are */
                        case TYPE_Q2_K: put_fp16(block + 80, 0.01f * gaussian()); put_fp16(block + 82, 0.01f * gaussian()); break;
                        case TYPE_Q3_K: put_fp16(block + 108, 0.01f * gaussian()); break;
                        case TYPE_Q6_K: put_fp16(block + 208, 0.01f * gaussian()); break;
                        default: put_fp16(block, 0.01f * gaussian()); put_fp16(block + 2, 0.01f * gaussian());
                        }
                    }
                }
                double scalar = kquants[t].dot_q8(blocks, xblocks, n), simd = kquants[t].dot_avx2(blocks, xblocks, n);
                double magnitude = dot_magnitude(&kquants[t], blocks, xblocks, n);
                CHECKF(fabs(scalar - simd) <= 2e-6 * magnitude, "%s%s: avx2 %.9g, scalar %.9g, magnitude %.3g",
                       kquants[t].name, random_bytes ? " random bytes" : "", simd, scalar, magnitude);
                if (fabs(scalar - simd) / magnitude > worst) worst = fabs(scalar - simd) / magnitude;
            }
        }
    }
    printf("# avx2 vs scalar: largest difference %.3g of the magnitude\n", worst);
    free(x); free(w); free(blocks); free(xblocks);
}

/* dot4 (one weight row, 4 activation rows stride bytes apart, here with a gap between them)
 * gives each row's dot: the scalar dot4 exactly, the AVX2 one within the bound above. */
static void test_kquants_dot4_matches_four_dots(void)
{
    const int64_t n = 12 * QK_K;
    const size_t row = kquant_row_bytes(TYPE_Q8_K, n), stride = row + 292 * 3;
    float *w = gaussian_row(n), *x = gaussian_row(n);
    void *blocks = malloc((size_t)n * 2);
    uint8_t *xs = calloc(4, stride);
    for (int r = 0; r < 4; r++) {
        for (int64_t i = 0; i < n; i++) x[i] = gaussian() * (float)(r + 1);
        q8_K_from_float(x, xs + r * stride, n);
    }
    for (int t = 0; t < N_KQUANTS; t++) {
        if (!kquants[t].dot4) continue;
        kquants[t].from_float(w, blocks, n);
        float scalar[4], simd[4];
        kquants[t].dot4(blocks, xs, (int64_t)stride, n, scalar);
        for (int r = 0; r < 4; r++)
            CHECKF(scalar[r] == kquants[t].dot_q8(blocks, xs + r * stride, n), "%s dot4 row %d", kquants[t].name, r);
        if (!avx2_runs()) continue;
        kquants[t].dot4_avx2(blocks, xs, (int64_t)stride, n, simd);
        for (int r = 0; r < 4; r++) {
            double magnitude = dot_magnitude(&kquants[t], blocks, xs + r * stride, n);
            CHECKF(fabs((double)simd[r] - scalar[r]) <= 2e-6 * magnitude, "%s avx2 dot4 row %d: %.9g, scalar %.9g",
                   kquants[t].name, r, simd[r], scalar[r]);
        }
    }
    free(w); free(x); free(blocks); free(xs);
}

/* vec_dot4 (4 weight rows, one activation row) gives each row's dot bit for bit, scalar and
 * AVX2 alike, so a matmul may group rows without changing any result; dot4_f32 likewise. */
static void test_kquants_vec_dot4_equals_each_rows_dot(void)
{
    const int64_t n = 6 * QK_K;
    float *w = gaussian_row(4 * n), *x = gaussian_row(4 * n);
    void *xq = malloc(kquant_row_bytes(TYPE_Q8_K, n));
    q8_K_from_float(x, xq, n);
    for (int t = 0; t < N_KQUANTS; t++) {
        size_t row_bytes = kquant_row_bytes(kquants[t].type, n) + 64;     /* rows with a gap */
        uint8_t *rows = calloc(4, row_bytes);
        for (int r = 0; r < 4; r++) kquants[t].from_float(w + r * n, rows + r * row_bytes, n);
        float got[4];
        kquants[t].vec_dot4(rows, row_bytes, xq, n, got);
        for (int r = 0; r < 4; r++) {
            float want = kquants[t].dot_q8(rows + r * row_bytes, xq, n);
            CHECKF(memcmp(&got[r], &want, 4) == 0, "%s vec_dot4 row %d: %.9g, dot %.9g", kquants[t].name, r, got[r], want);
        }
        kquants[t].dot4_f32(rows, x, n, n, got);
        for (int r = 0; r < 4; r++) {
            float want = kquants[t].dot_f32(rows, x + r * n, n);
            CHECKF(memcmp(&got[r], &want, 4) == 0, "%s dot4_f32 row %d", kquants[t].name, r);
        }
        if (avx2_runs()) {
            kquants[t].vec_dot4_avx2(rows, row_bytes, xq, n, got);
            for (int r = 0; r < 4; r++) {
                float want = kquants[t].dot_avx2(rows + r * row_bytes, xq, n);
                CHECKF(memcmp(&got[r], &want, 4) == 0, "%s avx2 vec_dot4 row %d: %.9g, dot %.9g",
                       kquants[t].name, r, got[r], want);
            }
        }
        free(rows);
    }
    free(w); free(x); free(xq);
}

/* ==== Helper modes for tests/test_kquants.sh ==== */

/* The fixtures: every k-quant, then Q8_K. */
static const kquant q8_K_entry = { "Q8_K", TYPE_Q8_K, q8_K_to_float, q8_K_from_float,
                                   NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL };
enum { N_FIXTURES = N_KQUANTS + 1 };
static const kquant *fixture(int i) { return i < N_KQUANTS ? &kquants[i] : &q8_K_entry; }

static void *read_file(const char *dir, const char *name, const char *ext, size_t *size)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s%s", dir, name, ext);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc(len > 0 ? (size_t)len : 1);
    *size = fread(buf, 1, (size_t)len, f);
    fclose(f);
    return buf;
}

static void write_file(const char *dir, const char *name, const char *ext, const void *data, size_t size)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s%s", dir, name, ext);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size) { fprintf(stderr, "cannot write %s\n", path); exit(1); }
    fclose(f);
}

static const char *decode_dir;
static void test_kquants_decode_numpy_blocks_bit_exact(void)
{
    for (int t = 0; t < N_FIXTURES; t++) {
        const kquant *k = fixture(t);
        size_t nb, nf;
        uint8_t *blocks = read_file(decode_dir, k->name, ".bin", &nb);
        float *want = read_file(decode_dir, k->name, ".f32", &nf);
        CHECKF(blocks && want, "%s: fixture missing in %s", k->name, decode_dir);
        int64_t n = (int64_t)(nf / 4);
        CHECKF(n > 0 && kquant_row_bytes(k->type, n) == nb, "%s: %zu bytes for %lld values",
               k->name, nb, (long long)n);
        float *got = malloc(nf);
        k->to_float(blocks, got, n);
        for (int64_t i = 0; i < n; i++)
            CHECKF(memcmp(&got[i], &want[i], 4) == 0, "%s element %lld: C %.9g, numpy %.9g",
                   k->name, (long long)i, got[i], want[i]);
        printf("# %s: %lld values decoded as numpy does\n", k->name, (long long)n);
        free(blocks); free(want); free(got);
    }
}

static int encode(const char *dir)
{
    const int64_t n = 8 * QK_K;
    float *x = gaussian_row(n), *y = malloc((size_t)n * sizeof *y);
    x[3] = 9.0f;                        /* an outlier, so the sub-block scales differ */
    void *blocks = malloc(kquant_row_bytes(TYPE_Q8_K, n));
    for (int t = 0; t < N_FIXTURES; t++) {
        const kquant *k = fixture(t);
        k->from_float(x, blocks, n);
        k->to_float(blocks, y, n);
        write_file(dir, k->name, ".in.f32", x, (size_t)n * 4);
        write_file(dir, k->name, ".bin", blocks, kquant_row_bytes(k->type, n));
        write_file(dir, k->name, ".out.f32", y, (size_t)n * 4);
    }
    free(x); free(y); free(blocks);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--encode")) return encode(argv[2]);
    if (argc == 3 && !strcmp(argv[1], "--decode")) {
        decode_dir = argv[2];
        RUN(test_kquants_decode_numpy_blocks_bit_exact);
        TEST_EXIT();
    }
    RUN(test_kquants_block_sizes_match_ggml);
    RUN(test_kquants_row_bytes_rejects_partial_superblocks);
    RUN(test_kquants_decode_places_each_element_as_ggml);
    RUN(test_kquants_quantize_error_beats_q4_0_and_orders_by_bits);
    RUN(test_kquants_quantize_edge_rows);
    RUN(test_kquants_q8_K_takes_any_activation);
    RUN(test_kquants_dot_q8_K_matches_float64);
    RUN(test_kquants_avx2_dots_match_scalar);
    RUN(test_kquants_dot4_matches_four_dots);
    RUN(test_kquants_vec_dot4_equals_each_rows_dot);
    TEST_EXIT();
}
