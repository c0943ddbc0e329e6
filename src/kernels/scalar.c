/* scalar.c — the portable kernel set: plain C, the reference every other set is tested against,
 * and the path on CPUs without AVX2.
 *
 * Float-activation kernels dequantize a chunk of the row into an L1-resident buffer with the
 * type's reference to_float and take float dot products with sixteen partial sums. The int8
 * kernels multiply int8 quants exactly in integers, one block at a time, and scale each block's
 * sum by the product of the two scales. */
#include "kernels/kernel_set.h"
#include "kernels/kquant_rows.h"
#include "vec_math.h"

#include <string.h>

enum { CHUNK = 256 };   /* elements per chunk; a multiple of every block size */

/* ==== Float activations ==== */

/* Sixteen partial sums: independent chains, and a shape compilers turn into one vector. */
static float dot_span(const float *w, const float *x, int64_t n)
{
    float partial[16] = { 0 };
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 16; k++) partial[k] += w[i + k] * x[i + k];
    for (; i < n; i++) partial[i % 16] += w[i] * x[i];
    float sum = 0;
    for (int k = 0; k < 16; k++) sum += partial[k];
    return sum;
}

static float dot_chunked(int type, const void *w, const float *x, int64_t n)
{
    const type_traits *tt = type_traits_of(type);
    const uint8_t *row = w;
    float buf[CHUNK], sum = 0;
    for (int64_t i = 0; i < n; i += CHUNK) {
        int64_t len = n - i < CHUNK ? n - i : CHUNK;
        tt->to_float(row + (size_t)(i / tt->block_size) * tt->block_bytes, buf, len);
        sum += dot_span(buf, x + i, len);
    }
    return sum;
}

static void dot4_chunked(int type, const void *w, const float *x, int64_t stride, int64_t n, float out[4])
{
    const type_traits *tt = type_traits_of(type);
    const uint8_t *row = w;
    float buf[CHUNK];
    out[0] = out[1] = out[2] = out[3] = 0;
    for (int64_t i = 0; i < n; i += CHUNK) {
        int64_t len = n - i < CHUNK ? n - i : CHUNK;
        tt->to_float(row + (size_t)(i / tt->block_size) * tt->block_bytes, buf, len);
        for (int r = 0; r < 4; r++) out[r] += dot_span(buf, x + r * stride + i, len);
    }
}

static float f32_dot(const void *w, const float *x, int64_t n) { return dot_span(w, x, n); }

static void f32_dot4(const void *w, const float *x, int64_t stride, int64_t n, float out[4])
{
    for (int r = 0; r < 4; r++) out[r] = dot_span(w, x + r * stride, n);
}

#define CHUNKED(name, TYPE)                                                                    \
    static float name##_dot(const void *w, const float *x, int64_t n)                          \
    { return dot_chunked(TYPE, w, x, n); }                                                     \
    static void name##_dot4(const void *w, const float *x, int64_t s, int64_t n, float o[4])   \
    { dot4_chunked(TYPE, w, x, s, n, o); }
CHUNKED(f16, TYPE_F16)
CHUNKED(bf16, TYPE_BF16)
CHUNKED(q8_0, TYPE_Q8_0)
CHUNKED(q4_0, TYPE_Q4_0)

/* ==== Int8 activations (Q8_0 blocks) ==== */

/* One accumulator, blocks in order: vec_dot4 repeats exactly this per row. */
static float q8_0_vec_dot(const void *w, const void *xq, int64_t n)
{
    const block_q8_0 *wb = w, *xb = xq;
    float sum = 0;
    for (int64_t b = 0; b < n / 32; b++) {
        int32_t s = 0;
        for (int j = 0; j < 32; j++) s += wb[b].qs[j] * xb[b].qs[j];
        sum += (float)s * (fp16_to_fp32(wb[b].d) * fp16_to_fp32(xb[b].d));
    }
    return sum;
}

static float q4_0_vec_dot(const void *w, const void *xq, int64_t n)
{
    const block_q4_0 *wb = w;
    const block_q8_0 *xb = xq;
    float sum = 0;
    for (int64_t b = 0; b < n / 32; b++) {
        int32_t s = 0;
        for (int j = 0; j < 16; j++)
            s += ((wb[b].qs[j] & 0x0f) - 8) * xb[b].qs[j] + ((wb[b].qs[j] >> 4) - 8) * xb[b].qs[j + 16];
        sum += (float)s * (fp16_to_fp32(wb[b].d) * fp16_to_fp32(xb[b].d));
    }
    return sum;
}

static void q8_0_vec_dot4(const void *w, const void *xq, size_t x_stride, int64_t n, float out[4])
{
    for (int t = 0; t < 4; t++) out[t] = q8_0_vec_dot(w, (const char *)xq + t * x_stride, n);
}

static void q4_0_vec_dot4(const void *w, const void *xq, size_t x_stride, int64_t n, float out[4])
{
    for (int t = 0; t < 4; t++) out[t] = q4_0_vec_dot(w, (const char *)xq + t * x_stride, n);
}

static void q8_0_vec_dot_rows4(const void *w, size_t row_bytes, const void *xq, int64_t n, float out[4])
{
    for (int r = 0; r < 4; r++) out[r] = q8_0_vec_dot((const char *)w + r * row_bytes, xq, n);
}

static void q4_0_vec_dot_rows4(const void *w, size_t row_bytes, const void *xq, int64_t n, float out[4])
{
    for (int r = 0; r < 4; r++) out[r] = q4_0_vec_dot((const char *)w + r * row_bytes, xq, n);
}

/* ==== The GEMM tile: 32 rows x 8 tokens, left to the compiler ==== */

static void gemm_tile_32x8(const float *panel, int kc, const float *const *x, float *tile)
{
    memset(tile, 0, sizeof(float) * 8 * 32);
    for (int k = 0; k < kc; k++)
        for (int t = 0; t < 8; t++) {
            const float xk = x[t][k];
            for (int r = 0; r < 32; r++)
                tile[t * 32 + r] += panel[k * 32 + r] * xk;
        }
}

/* ==== Attention's product (kernel_set.h), left to the compiler ==== */

/* MADD (vec_math.h): one rounding per term where the compiler targets a fused multiply-add, as the
 * SIMD sets' products have: then every set gives attention the same bits. */

static void attention_product(int m, int n, const float *const a[], size_t a_step, const float *b, size_t b_step,
                              float *c, size_t c_step)
{
    for (int u = 0; u < m; u++)
        for (int p = 0; p < n; p++) {
            const float a_up = a[u][p * a_step];
            for (int i = 0; i < ATTN_PRODUCT_COLS; i++)
                c[u * c_step + i] = MADD(a_up, b[p * b_step + i], c[u * c_step + i]);
        }
}

/* ==== Decode's scores (kernel_set.h): eight partial sums, as the SIMD sets keep them ==== */

/* A multiply, then an add, as the contract says: ISO C (the Makefile's -std=c11) does not let GCC
 * fuse them; a GNU-dialect build (-ffp-contract=fast) may, and would then differ from the SIMD
 * sets in the last bit. */
static void attention_scores(const float *q, const float *k, size_t k_step, int n, int head_dim, float scale,
                             float *score)
{
    for (int j = 0; j < n; j++) {
        const float *key = k + (size_t)j * k_step;
        float part[8] = {0};
        int d = 0;
        for (; d + 8 <= head_dim; d += 8)
            for (int i = 0; i < 8; i++)
                part[i] = part[i] + q[d + i] * key[d + i];
        float s = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
        for (; d < head_dim; d++)
            s = s + q[d] * key[d];
        score[j] = s * scale;
    }
}

/* to_float and from_float are the types' own reference conversions (kernel_row_of). */
const kernel_set kernels_scalar = {
    .name = "scalar",
    .row = {
        [TYPE_F32]  = { .dot = f32_dot,  .dot4 = f32_dot4 },
        [TYPE_F16]  = { .dot = f16_dot,  .dot4 = f16_dot4 },
        [TYPE_BF16] = { .dot = bf16_dot, .dot4 = bf16_dot4 },
        [TYPE_Q8_0] = { .dot = q8_0_dot, .dot4 = q8_0_dot4,
                        .vec_dot = q8_0_vec_dot, .vec_dot4 = q8_0_vec_dot4,
                        .vec_dot_rows4 = q8_0_vec_dot_rows4 },
        [TYPE_Q4_0] = { .dot = q4_0_dot, .dot4 = q4_0_dot4,
                        .vec_dot = q4_0_vec_dot, .vec_dot4 = q4_0_vec_dot4,
                        .vec_dot_rows4 = q4_0_vec_dot_rows4 },
        KQUANT_ROWS_SCALAR,     /* kernels/kquant_rows.h */
    },
    .gemm = { .rows = 32, .tokens = 8, .k_block = 512, .tile = gemm_tile_32x8 },
    .attention_product = attention_product,
    .attention_scores = attention_scores,
};
