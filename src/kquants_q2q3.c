/* kquants_q2q3.c — the 2- and 3-bit k-quants, Q2_K and Q3_K: decode, quantize, and dots
 * against Q8_K and float activations (scalar only). Layouts in kquants.h. Both cut the
 * super-block into 16 sub-blocks of 16, which line up with Q8_K's bsums, and both place the low
 * 2 bits of each weight the same way. */

#include "kquants.h"
#include "tensor.h"      /* fp16_to_fp32, fp32_to_fp16 */

#include <math.h>
#include <string.h>

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* ==== Bit placement shared by Q2_K and Q3_K ==== */

/* The low 2 bits of the 256 weights, in element order: weight 128h + 32j + l is bits 2j, 2j + 1
 * of qs[32h + l]. */
static void unpack_low2(const uint8_t qs[QK_K / 4], uint8_t q[QK_K])
{
    for (int h = 0; h < 2; h++)
        for (int j = 0; j < 4; j++)
            for (int l = 0; l < 32; l++)
                q[128 * h + 32 * j + l] = (qs[32 * h + l] >> (2 * j)) & 3;
}

static void pack_low2(const uint8_t q[QK_K], uint8_t qs[QK_K / 4])
{
    memset(qs, 0, QK_K / 4);
    for (int h = 0; h < 2; h++)
        for (int j = 0; j < 4; j++)
            for (int l = 0; l < 32; l++)
                qs[32 * h + l] |= (uint8_t)((q[128 * h + 32 * j + l] & 3) << (2 * j));
}

/* Q3_K's signed weights -4..3: low 2 bits as above, the third bit (set = no -4) in hmask. */
static void unpack_q3(const block_q3_K *b, int8_t q[QK_K])
{
    uint8_t low[QK_K];
    unpack_low2(b->qs, low);
    /* weight 128h + 32j + l: loops in that shape (not divisions of one index) vectorize */
    for (int h = 0; h < 2; h++)
        for (int j = 0; j < 4; j++)
            for (int l = 0; l < 32; l++) {
                int third = (b->hmask[l] >> (4 * h + j)) & 1;
                q[128 * h + 32 * j + l] = (int8_t)(low[128 * h + 32 * j + l] - 4 + 4 * third);
            }
}

/* Q3_K's 16 scales, s - 32 in -32..31. */
static void unpack_q3_scales(const uint8_t packed[12], int8_t s[16])
{
    for (int k = 0; k < 16; k++) {
        int low = (packed[k % 8] >> (4 * (k / 8))) & 15;
        int high = (packed[8 + k % 4] >> (2 * (k / 4))) & 3;
        s[k] = (int8_t)((low | (high << 4)) - 32);
    }
}

static void pack_q3_scales(const int8_t s[16], uint8_t packed[12])
{
    memset(packed, 0, 12);
    for (int k = 0; k < 16; k++) {
        int v = s[k] + 32;
        packed[k % 8] |= (uint8_t)((v & 15) << (4 * (k / 8)));
        packed[8 + k % 4] |= (uint8_t)((v >> 4) << (2 * (k / 4)));
    }
}

/* ==== Decoding ==== */

/* w = (d * sc) * q - (dmin * m), the order of float operations of ggml's decoder */
void q2_K_to_float(const void *src, float *dst, int64_t n)
{
    const block_q2_K *b = src;
    uint8_t q[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, b++, dst += QK_K) {
        unpack_low2(b->qs, q);
        float d = fp16_to_fp32(b->d), dmin = fp16_to_fp32(b->dmin);
        for (int g = 0; g < 16; g++) {
            float scale = d * (b->scales[g] & 15), min = dmin * (b->scales[g] >> 4);
            for (int l = 0; l < 16; l++) dst[16 * g + l] = scale * q[16 * g + l] - min;
        }
    }
}

/* w = (d * s) * q */
void q3_K_to_float(const void *src, float *dst, int64_t n)
{
    const block_q3_K *b = src;
    int8_t q[QK_K], s[16];
    for (int64_t i = 0; i < n / QK_K; i++, b++, dst += QK_K) {
        unpack_q3(b, q);
        unpack_q3_scales(b->scales, s);
        float d = fp16_to_fp32(b->d);
        for (int g = 0; g < 16; g++) {
            float scale = d * s[g];
            for (int l = 0; l < 16; l++) dst[16 * g + l] = scale * q[16 * g + l];
        }
    }
}

/* ==== Quantizing: fit each sub-block, quantize the scales to 4 or 6 bits, round the weights
 * against the scales as stored ==== */

void q2_K_from_float(const float *src, void *dst, int64_t n)
{
    block_q2_K *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, b++, src += QK_K) {
        float scale[16], min[16], max_scale = 0, max_min = 0;
        for (int g = 0; g < 16; g++) {
            scale[g] = kquant_fit_affine(src + 16 * g, 16, 3, &min[g]);
            if (scale[g] > max_scale) max_scale = scale[g];
            if (min[g] > max_min) max_min = min[g];
        }
        b->d = fp32_to_fp16(max_scale / 15);
        b->dmin = fp32_to_fp16(max_min / 15);
        float d = fp16_to_fp32(b->d), dmin = fp16_to_fp32(b->dmin);
        uint8_t q[QK_K];
        for (int g = 0; g < 16; g++) {
            int sc = d > 0 ? clampi((int)roundf(scale[g] / d), 0, 15) : 0;
            int m = dmin > 0 ? clampi((int)roundf(min[g] / dmin), 0, 15) : 0;
            b->scales[g] = (uint8_t)(sc | (m << 4));
            float s = d * sc, mn = dmin * m;
            for (int l = 0; l < 16; l++)
                q[16 * g + l] = (uint8_t)(s > 0 ? clampi((int)roundf((src[16 * g + l] + mn) / s), 0, 3) : 0);
        }
        pack_low2(q, b->qs);
    }
}

void q3_K_from_float(const float *src, void *dst, int64_t n)
{
    block_q3_K *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, b++, src += QK_K) {
        float scale[16], max_scale = 0, amax = 0;
        for (int g = 0; g < 16; g++) {
            scale[g] = kquant_fit_symmetric(src + 16 * g, 16, 4);
            if (fabsf(scale[g]) > amax) { amax = fabsf(scale[g]); max_scale = scale[g]; }
        }
        b->d = fp32_to_fp16(max_scale / -32);   /* the largest scale becomes -32 */
        float d = fp16_to_fp32(b->d);
        int8_t s[16];
        uint8_t low[QK_K];
        memset(b->hmask, 0, sizeof b->hmask);
        for (int g = 0; g < 16; g++) {
            s[g] = (int8_t)(d != 0 ? clampi((int)roundf(scale[g] / d), -32, 31) : 0);
            float step = d * s[g];
            for (int l = 0; l < 16; l++) {
                int e = 16 * g + l;
                int u = (step != 0 ? clampi((int)roundf(src[e] / step), -4, 3) : 0) + 4;   /* 0..7 */
                low[e] = (uint8_t)(u & 3);
                b->hmask[e % 32] |= (uint8_t)((u >> 2) << (4 * (e / 128) + (e % 128) / 32));
            }
        }
        pack_q3_scales(s, b->scales);
        pack_low2(low, b->qs);
    }
}

/* ==== Dots ==== */

/* sum_g (d sc_g sum q y - dmin m_g sum y): sum y over a sub-block is one bsum */
float q2_K_dot_q8_K(const void *w, const void *x_q8k, int64_t n)
{
    const block_q2_K *b = w;
    const block_q8_K *y = x_q8k;
    uint8_t q[QK_K];
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        unpack_low2(b[i].qs, q);
        int32_t sum_qy = 0, sum_my = 0;
        for (int g = 0; g < 16; g++) {
            int32_t s = 0;
            for (int l = 0; l < 16; l++) s += q[16 * g + l] * y[i].qs[16 * g + l];
            sum_qy += (b[i].scales[g] & 15) * s;
            sum_my += (b[i].scales[g] >> 4) * y[i].bsums[g];
        }
        sum += y[i].d * (fp16_to_fp32(b[i].d) * (float)sum_qy - fp16_to_fp32(b[i].dmin) * (float)sum_my);
    }
    return sum;
}

float q3_K_dot_q8_K(const void *w, const void *x_q8k, int64_t n)
{
    const block_q3_K *b = w;
    const block_q8_K *y = x_q8k;
    int8_t q[QK_K], s[16];
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        unpack_q3(&b[i], q);
        unpack_q3_scales(b[i].scales, s);
        int32_t total = 0;
        for (int g = 0; g < 16; g++) {
            int32_t part = 0;
            for (int l = 0; l < 16; l++) part += q[16 * g + l] * y[i].qs[16 * g + l];
            total += s[g] * part;
        }
        sum += y[i].d * fp16_to_fp32(b[i].d) * (float)total;
    }
    return sum;
}

float q2_K_dot_f32(const void *w, const float *x, int64_t n)
{
    return kquant_dot_f32(q2_K_to_float, sizeof(block_q2_K), w, x, n);
}

float q3_K_dot_f32(const void *w, const float *x, int64_t n)
{
    return kquant_dot_f32(q3_K_to_float, sizeof(block_q3_K), w, x, n);
}
