/* kquants.c — scalar reference kernels of ggml's k-quant types: decode, quantize, and dots
 * against Q8_K activations and against float activations. The layouts are described in
 * kquants.h; the AVX2 dots (kernels/kquants_avx2.c) are tested against the ones here. */

#include "kquants.h"
#include "tensor.h"      /* fp16_to_fp32, fp32_to_fp16 */

#include <math.h>
#include <string.h>

size_t kquant_row_bytes(int type, int64_t n)
{
    if (n <= 0 || n % QK_K) return 0;
    size_t blocks = (size_t)(n / QK_K);
    switch (type) {
    case TYPE_Q2_K: return blocks * sizeof(block_q2_K);
    case TYPE_Q3_K: return blocks * sizeof(block_q3_K);
    case TYPE_Q4_K: return blocks * sizeof(block_q4_K);
    case TYPE_Q5_K: return blocks * sizeof(block_q5_K);
    case TYPE_Q6_K: return blocks * sizeof(block_q6_K);
    case TYPE_Q8_K: return blocks * sizeof(block_q8_K);
    default: return 0;
    }
}

/* ==== The 6-bit scales and mins of Q4_K / Q5_K ==== */

static void unpack_scales_mins(const uint8_t packed[12], uint8_t sc[8], uint8_t m[8])
{
    for (int j = 0; j < 4; j++) {
        sc[j] = packed[j] & 63;
        m[j] = packed[j + 4] & 63;
        sc[j + 4] = (uint8_t)((packed[j + 8] & 15) | ((packed[j] >> 6) << 4));
        m[j + 4] = (uint8_t)((packed[j + 8] >> 4) | ((packed[j + 4] >> 6) << 4));
    }
}

static void pack_scales_mins(const uint8_t sc[8], const uint8_t m[8], uint8_t packed[12])
{
    for (int j = 0; j < 4; j++) {
        packed[j] = (uint8_t)(sc[j] | ((sc[j + 4] >> 4) << 6));
        packed[j + 4] = (uint8_t)(m[j] | ((m[j + 4] >> 4) << 6));
        packed[j + 8] = (uint8_t)((sc[j + 4] & 15) | ((m[j + 4] & 15) << 4));
    }
}

/* ==== Decoding ==== */

/* q[0..256) of a Q4_K / Q5_K super-block in element order; qh is NULL for Q4_K. */
static void unpack_q4_q5(const uint8_t *qs, const uint8_t *qh, uint8_t q[QK_K])
{
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) {
            uint8_t byte = qs[32 * c + l];
            q[64 * c + l] = byte & 15;
            q[64 * c + 32 + l] = byte >> 4;
            if (qh) {
                q[64 * c + l] |= (uint8_t)(((qh[l] >> (2 * c)) & 1) << 4);
                q[64 * c + 32 + l] |= (uint8_t)(((qh[l] >> (2 * c + 1)) & 1) << 4);
            }
        }
}

/* q[0..256) of a Q6_K super-block in element order, still offset by 32 (0..63). */
static void unpack_q6(const block_q6_K *b, uint8_t q[QK_K])
{
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
        uint8_t *out = q + 128 * h;
        for (int l = 0; l < 32; l++) {
            out[l] = (uint8_t)((ql[l] & 15) | ((qh[l] & 3) << 4));
            out[32 + l] = (uint8_t)((ql[32 + l] & 15) | (((qh[l] >> 2) & 3) << 4));
            out[64 + l] = (uint8_t)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
            out[96 + l] = (uint8_t)((ql[32 + l] >> 4) | (((qh[l] >> 6) & 3) << 4));
        }
    }
}

/* w = (d * sc) * q - (dmin * m), in that order of float operations (numpy's decoder does the
 * same, so the two agree bit for bit). */
static void decode_q4_q5(float d, float dmin, const uint8_t scales[12], const uint8_t q[QK_K], float *dst)
{
    uint8_t sc[8], m[8];
    unpack_scales_mins(scales, sc, m);
    for (int j = 0; j < 8; j++) {
        float scale = d * sc[j], min = dmin * m[j];
        for (int l = 0; l < 32; l++) dst[32 * j + l] = scale * q[32 * j + l] - min;
    }
}

void q4_K_to_float(const void *src, float *dst, int64_t n)
{
    const block_q4_K *b = src;
    uint8_t q[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, b++, dst += QK_K) {
        unpack_q4_q5(b->qs, NULL, q);
        decode_q4_q5(fp16_to_fp32(b->d), fp16_to_fp32(b->dmin), b->scales, q, dst);
    }
}

void q5_K_to_float(const void *src, float *dst, int64_t n)
{
    const block_q5_K *b = src;
    uint8_t q[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, b++, dst += QK_K) {
        unpack_q4_q5(b->qs, b->qh, q);
        decode_q4_q5(fp16_to_fp32(b->d), fp16_to_fp32(b->dmin), b->scales, q, dst);
    }
}

/* w = (d * scale) * (q - 32) */
void q6_K_to_float(const void *src, float *dst, int64_t n)
{
    const block_q6_K *b = src;
    uint8_t q[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, b++, dst += QK_K) {
        unpack_q6(b, q);
        float d = fp16_to_fp32(b->d);
        for (int g = 0; g < 16; g++) {
            float scale = d * b->scales[g];
            for (int l = 0; l < 16; l++) dst[16 * g + l] = scale * (float)(q[16 * g + l] - 32);
        }
    }
}

void q8_K_to_float(const void *src, float *dst, int64_t n)
{
    const block_q8_K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, b++, dst += QK_K)
        for (int l = 0; l < QK_K; l++) dst[l] = b->d * b->qs[l];
}

/* ==== Quantizing ==== */

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* For a grid of candidate steps around (max - min) / nmax, round x onto the grid, then take
 * the least-squares scale and offset for those integers; keep the pair of least squared error.
 * The offset is kept non-positive as in ggml, so zero is always close to representable. */
float kquant_fit_affine(const float *x, int n, int nmax, float *min_out)
{
    float lo = 0, hi = x[0];
    for (int i = 0; i < n; i++) {
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
    }
    if (hi <= lo) {             /* all equal and <= 0: the min alone represents them */
        *min_out = -lo;
        return 0;
    }
    double sum_x = 0;
    for (int i = 0; i < n; i++) sum_x += x[i];
    float best_scale = (hi - lo) / nmax, best_min = -lo;
    double best_err = INFINITY;
    for (int step = -10; step <= 10; step++) {
        float inv = (nmax + 0.1f * step) / (hi - lo);
        double sum_l = 0, sum_ll = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = clampi((int)roundf((x[i] - lo) * inv), 0, nmax);
            sum_l += l; sum_ll += (double)l * l; sum_xl += (double)x[i] * l;
        }
        double det = n * sum_ll - sum_l * sum_l;
        if (det <= 0) continue;
        double scale = (n * sum_xl - sum_l * sum_x) / det;
        double offset = (sum_ll * sum_x - sum_l * sum_xl) / det;    /* x ~ scale * l + offset */
        if (offset > 0) {       /* the offset must be <= 0: refit the scale alone */
            offset = 0;
            scale = sum_xl / sum_ll;
        }
        if (scale <= 0) continue;
        double err = 0;
        for (int i = 0; i < n; i++) {
            int l = clampi((int)roundf((float)((x[i] - offset) / scale)), 0, nmax);
            double e = scale * l + offset - x[i];
            err += e * e;
        }
        if (err < best_err) {
            best_err = err;
            best_scale = (float)scale;
            best_min = (float)-offset;
        }
    }
    *min_out = best_min;
    return best_scale;
}

/* The Q4_K / Q5_K super-block: fit each sub-block of 32, quantize the 8 scales and 8 mins to
 * 6 bits against d = max scale / 63 and dmin = max min / 63, then round every weight against
 * the decoded scale and min it will be multiplied by. */
static void quantize_q4_q5(const float *x, int nmax, uint16_t *d_out, uint16_t *dmin_out,
                           uint8_t scales_out[12], uint8_t q[QK_K])
{
    float scale[8], min[8], max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; j++) {
        scale[j] = kquant_fit_affine(x + 32 * j, 32, nmax, &min[j]);
        if (scale[j] > max_scale) max_scale = scale[j];
        if (min[j] > max_min) max_min = min[j];
    }
    uint16_t d_h = fp32_to_fp16(max_scale / 63), dmin_h = fp32_to_fp16(max_min / 63);
    float d = fp16_to_fp32(d_h), dmin = fp16_to_fp32(dmin_h);
    uint8_t sc[8], m[8];
    for (int j = 0; j < 8; j++) {
        sc[j] = (uint8_t)(d > 0 ? clampi((int)roundf(scale[j] / d), 0, 63) : 0);
        m[j] = (uint8_t)(dmin > 0 ? clampi((int)roundf(min[j] / dmin), 0, 63) : 0);
        float s = d * sc[j], mn = dmin * m[j];
        for (int l = 0; l < 32; l++)
            q[32 * j + l] = (uint8_t)(s > 0 ? clampi((int)roundf((x[32 * j + l] + mn) / s), 0, nmax) : 0);
    }
    *d_out = d_h;
    *dmin_out = dmin_h;
    pack_scales_mins(sc, m, scales_out);
}

static void pack_nibbles(const uint8_t q[QK_K], uint8_t qs[QK_K / 2])
{
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++)
            qs[32 * c + l] = (uint8_t)((q[64 * c + l] & 15) | ((q[64 * c + 32 + l] & 15) << 4));
}

void q4_K_from_float(const float *src, void *dst, int64_t n)
{
    block_q4_K *b = dst;
    uint8_t q[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, b++, src += QK_K) {
        quantize_q4_q5(src, 15, &b->d, &b->dmin, b->scales, q);
        pack_nibbles(q, b->qs);
    }
}

void q5_K_from_float(const float *src, void *dst, int64_t n)
{
    block_q5_K *b = dst;
    uint8_t q[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, b++, src += QK_K) {
        quantize_q4_q5(src, 31, &b->d, &b->dmin, b->scales, q);
        pack_nibbles(q, b->qs);
        memset(b->qh, 0, sizeof b->qh);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
                b->qh[l] |= (uint8_t)(((q[64 * c + l] >> 4) << (2 * c)) | ((q[64 * c + 32 + l] >> 4) << (2 * c + 1)));
    }
}

/* The element of largest magnitude is mapped near -nmax (the longer side of the asymmetric
 * range, so its sign decides the scale's); a few neighbouring steps are tried, each with its
 * least-squares scale. */
float kquant_fit_symmetric(const float *x, int n, int nmax)
{
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > amax) { amax = fabsf(x[i]); max = x[i]; }
    if (amax == 0) return 0;
    float best_scale = max / -nmax;
    double best_err = INFINITY;
    for (int step = -9; step <= 9; step++) {
        float inv = -(nmax + 0.1f * step) / max;
        double sum_ll = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = clampi((int)roundf(x[i] * inv), -nmax, nmax - 1);
            sum_ll += (double)l * l; sum_xl += (double)x[i] * l;
        }
        if (sum_ll == 0) continue;
        double scale = sum_xl / sum_ll, err = 0;
        for (int i = 0; i < n; i++) {
            int l = clampi((int)roundf((float)(x[i] / scale)), -nmax, nmax - 1);
            double e = scale * l - x[i];
            err += e * e;
        }
        if (err < best_err) { best_err = err; best_scale = (float)scale; }
    }
    return best_scale;
}

void q6_K_from_float(const float *src, void *dst, int64_t n)
{
    block_q6_K *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, b++, src += QK_K) {
        float scale[16], max_scale = 0, amax = 0;
        for (int g = 0; g < 16; g++) {
            scale[g] = kquant_fit_symmetric(src + 16 * g, 16, 32);
            if (fabsf(scale[g]) > amax) { amax = fabsf(scale[g]); max_scale = scale[g]; }
        }
        /* int8 scales: the largest maps to -128 side; d carries the sign back */
        float d = max_scale / -128;
        uint16_t d_h = fp32_to_fp16(d);
        d = fp16_to_fp32(d_h);
        uint8_t q[QK_K];
        for (int g = 0; g < 16; g++) {
            int sc = d != 0 ? clampi((int)roundf(scale[g] / d), -128, 127) : 0;
            b->scales[g] = (int8_t)sc;
            float s = d * sc;
            for (int l = 0; l < 16; l++)
                q[16 * g + l] = (uint8_t)(s != 0 ? clampi((int)roundf(src[16 * g + l] / s), -32, 31) + 32 : 32);
        }
        b->d = d_h;
        for (int h = 0; h < 2; h++) {
            const uint8_t *in = q + 128 * h;
            uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
            for (int l = 0; l < 32; l++) {
                ql[l] = (uint8_t)((in[l] & 15) | ((in[64 + l] & 15) << 4));
                ql[32 + l] = (uint8_t)((in[32 + l] & 15) | ((in[96 + l] & 15) << 4));
                qh[l] = (uint8_t)((in[l] >> 4) | ((in[32 + l] >> 4) << 2) | ((in[64 + l] >> 4) << 4) | ((in[96 + l] >> 4) << 6));
            }
        }
    }
}

/* q[l] = x[l] * inv rounded half away from zero, for finite x with |x| * inv <= 127. restrict
 * tells the compiler the int8 stores do not alias x, and the rounding is branch-free, so the
 * loop vectorizes (it runs once per activation row per matrix). */
static void round_q8(const float *restrict x, float inv, int8_t *restrict q)
{
    for (int l = 0; l < QK_K; l++) {
        float v = x[l] * inv;
        int r = (int)(v + copysignf(0.5f, v));
        q[l] = (int8_t)(r < -127 ? -127 : r > 127 ? 127 : r);
    }
}

/* d = max|x| / 127. The maximum is taken over the bit patterns of |x| (integer max, which
 * vectorizes, and orders non-negative floats as their values); a pattern at or above
 * infinity's means a NaN or an infinity, and then the block is d = NaN, q = 0, so the dots
 * give NaN as float arithmetic would, with no undefined conversion. */
void q8_K_from_float(const float *src, void *dst, int64_t n)
{
    block_q8_K *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, b++, src += QK_K) {
        uint32_t max_bits = 0;
        for (int l = 0; l < QK_K; l++) {
            uint32_t u;
            memcpy(&u, &src[l], sizeof u);
            u &= 0x7fffffff;
            max_bits = u > max_bits ? u : max_bits;
        }
        if (max_bits >= 0x7f800000) {
            b->d = NAN;
            memset(b->qs, 0, sizeof b->qs);
            memset(b->bsums, 0, sizeof b->bsums);
            continue;
        }
        float amax;
        memcpy(&amax, &max_bits, sizeof amax);
        float d = amax / 127, inv = d > 0 ? 1 / d : 0;
        b->d = d;
        round_q8(src, inv, b->qs);
        for (int g = 0; g < 16; g++) {
            int sum = 0;
            for (int l = 0; l < 16; l++) sum += b->qs[16 * g + l];
            b->bsums[g] = (int16_t)sum;
        }
    }
}

/* ==== Dots against Q8_K activations ====
 * For Q4_K/Q5_K, sum_i (d sc q_i - dmin m) y_i = d sum_j sc_j (sum q y) - dmin sum_j m_j (sum y)
 * per sub-block j, and sum y over a sub-block is two of Q8_K's bsums: the mins cost nothing per
 * weight. Each super-block's integer total is scaled by the activation's d once. */

static float dot_q4_q5_q8(float d, float dmin, const uint8_t scales[12], const uint8_t q[QK_K],
                          const block_q8_K *y)
{
    uint8_t sc[8], m[8];
    unpack_scales_mins(scales, sc, m);
    int32_t sum_qy = 0, sum_my = 0;
    for (int j = 0; j < 8; j++) {
        int32_t s = 0;
        for (int l = 0; l < 32; l++) s += q[32 * j + l] * y->qs[32 * j + l];
        sum_qy += sc[j] * s;
        sum_my += m[j] * (y->bsums[2 * j] + y->bsums[2 * j + 1]);
    }
    return y->d * (d * (float)sum_qy - dmin * (float)sum_my);
}

float q4_K_dot_q8_K(const void *w, const void *x_q8k, int64_t n)
{
    const block_q4_K *b = w;
    const block_q8_K *y = x_q8k;
    uint8_t q[QK_K];
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        unpack_q4_q5(b[i].qs, NULL, q);
        sum += dot_q4_q5_q8(fp16_to_fp32(b[i].d), fp16_to_fp32(b[i].dmin), b[i].scales, q, &y[i]);
    }
    return sum;
}

float q5_K_dot_q8_K(const void *w, const void *x_q8k, int64_t n)
{
    const block_q5_K *b = w;
    const block_q8_K *y = x_q8k;
    uint8_t q[QK_K];
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        unpack_q4_q5(b[i].qs, b[i].qh, q);
        sum += dot_q4_q5_q8(fp16_to_fp32(b[i].d), fp16_to_fp32(b[i].dmin), b[i].scales, q, &y[i]);
    }
    return sum;
}

/* sum (q - 32) y = sum q y - 32 sum y, with sum y from bsums, per group of 16. */
float q6_K_dot_q8_K(const void *w, const void *x_q8k, int64_t n)
{
    const block_q6_K *b = w;
    const block_q8_K *y = x_q8k;
    uint8_t q[QK_K];
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        unpack_q6(&b[i], q);
        int32_t total = 0;
        for (int g = 0; g < 16; g++) {
            int32_t s = 0;
            for (int l = 0; l < 16; l++) s += q[16 * g + l] * y[i].qs[16 * g + l];
            total += b[i].scales[g] * (s - 32 * y[i].bsums[g]);
        }
        sum += y[i].d * fp16_to_fp32(b[i].d) * (float)total;
    }
    return sum;
}

#define DOT4_FROM_DOT(type)                                                                     \
    void type##_dot4_q8_K(const void *w, const void *x_q8k, int64_t stride, int64_t n, float out[4]) \
    {                                                                                           \
        for (int r = 0; r < 4; r++) out[r] = type##_dot_q8_K(w, (const uint8_t *)x_q8k + r * stride, n); \
    }
DOT4_FROM_DOT(q4_K)
DOT4_FROM_DOT(q5_K)
DOT4_FROM_DOT(q6_K)

#define VEC_DOT4_FROM_DOT(type)                                                                 \
    void type##_vec_dot4_q8_K(const void *w, size_t row_bytes, const void *x_q8k, int64_t n, float out[4]) \
    {                                                                                           \
        for (int r = 0; r < 4; r++) out[r] = type##_dot_q8_K((const uint8_t *)w + r * row_bytes, x_q8k, n); \
    }
VEC_DOT4_FROM_DOT(q2_K)
VEC_DOT4_FROM_DOT(q3_K)
VEC_DOT4_FROM_DOT(q4_K)
VEC_DOT4_FROM_DOT(q5_K)
VEC_DOT4_FROM_DOT(q6_K)

/* ==== Dots against float activations ==== */

float kquant_dot_f32(void (*to_float)(const void *, float *, int64_t), size_t block_bytes,
                     const void *w, const float *x, int64_t n)
{
    float buf[QK_K], sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        to_float((const uint8_t *)w + (size_t)i * block_bytes, buf, QK_K);
        float part[8] = { 0 };      /* 8 partial sums vectorize and keep rounding error small */
        for (int l = 0; l < QK_K; l++) part[l % 8] += buf[l] * x[QK_K * i + l];
        for (int k = 0; k < 8; k++) sum += part[k];
    }
    return sum;
}

float q4_K_dot_f32(const void *w, const float *x, int64_t n)
{
    return kquant_dot_f32(q4_K_to_float, sizeof(block_q4_K), w, x, n);
}

float q5_K_dot_f32(const void *w, const float *x, int64_t n)
{
    return kquant_dot_f32(q5_K_to_float, sizeof(block_q5_K), w, x, n);
}

float q6_K_dot_f32(const void *w, const float *x, int64_t n)
{
    return kquant_dot_f32(q6_K_to_float, sizeof(block_q6_K), w, x, n);
}

#define DOT4_F32_FROM_DOT(type)                                                                 \
    void type##_dot4_f32(const void *w, const float *x, int64_t stride, int64_t n, float out[4]) \
    {                                                                                           \
        for (int r = 0; r < 4; r++) out[r] = type##_dot_f32(w, x + r * stride, n);               \
    }
DOT4_F32_FROM_DOT(q2_K)
DOT4_F32_FROM_DOT(q3_K)
DOT4_F32_FROM_DOT(q4_K)
DOT4_F32_FROM_DOT(q5_K)
DOT4_F32_FROM_DOT(q6_K)
