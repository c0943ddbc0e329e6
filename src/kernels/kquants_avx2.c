/* kquants_avx2.c — AVX2 dots of k-quant weight rows with Q8_K activation rows: one weight row
 * and one activation row (dot), 4 weight rows and one activation row (vec_dot4, decode), and
 * for Q4_K .. Q6_K one weight row and 4 activation rows (dot4, prefill); and the Q4_K, Q5_K
 * and Q6_K decoders to float (prefill's GEMM panels).
 *
 * The weights' 4-6 bit integers are unpacked to bytes in registers and multiplied with the
 * activations' int8 by _mm256_maddubs_epi16 (unsigned x signed bytes, adjacent pairs summed
 * into int16: at most 2 * 63 * 127, so never saturating), then by the sub-block scales with
 * _mm256_madd_epi16 into int32. Each super-block's integer sums are the scalar kernels'; they
 * are scaled and accumulated in float vectors across the row and summed horizontally once at
 * the end, so the result differs from the scalar one only by float summation order. Every
 * function carries its own target attribute: the library builds for any -march, and they run
 * only in the AVX2 and AVX-512 sets, which are used only on CPUs that have them (select.c). */

#include "kernels/kquants_avx2.h"
#include "kquants.h"      /* the layouts; off x86-64, the scalar kernels */

#if defined(__x86_64__)

#include "kernels/avx2.h"
#include "tensor.h"      /* fp16_to_fp32 */

#include <immintrin.h>
#include <string.h>

/* acc += sum over pairs of scale * q[k] * y[k]: 32 unsigned weights times 32 int8 activations,
 * with one int16 scale per pair of products. */
AVX2 INLINE __m256i dot32(__m256i acc, __m256i q, const int8_t *y, __m256i scale)
{
    __m256i pairs = _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)y));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, scale));
}

/* ==== Q4_K and Q5_K ==== */

/* The 6-bit scales and mins (layout in kquants.h) as two 64-bit words of 8 bytes each, with
 * 32-bit word arithmetic instead of 16 byte extractions: bytes 0-3 of the scales word are the
 * low 6 bits of packed bytes 0-3, bytes 4-7 are the nibbles of bytes 8-11 with the top 2 bits
 * of bytes 0-3 above them; the mins the same from bytes 4-7 and the high nibbles of 8-11. */
INLINE void scales_mins_words(const uint8_t packed[12], uint64_t *scales, uint64_t *mins)
{
    uint32_t u[3];
    memcpy(u, packed, sizeof u);
    uint32_t sc_low = u[0] & 0x3f3f3f3f, m_low = u[1] & 0x3f3f3f3f;
    uint32_t sc_high = (u[2] & 0x0f0f0f0f) | (((u[0] >> 6) & 0x03030303) << 4);
    uint32_t m_high = ((u[2] >> 4) & 0x0f0f0f0f) | (((u[1] >> 6) & 0x03030303) << 4);
    *scales = sc_low | (uint64_t)sc_high << 32;
    *mins = m_low | (uint64_t)m_high << 32;
}

/* Pick int16 number `index` of each 128-bit lane: a byte shuffle mask. */
AVX2 INLINE __m256i pick16(int low_lane_index, int high_lane_index)
{
    return _mm256_setr_m128i(_mm_set1_epi16((short)(0x0202 * low_lane_index + 0x0100)),
                             _mm_set1_epi16((short)(0x0202 * high_lane_index + 0x0100)));
}

/* One Q4_K/Q5_K super-block against `rows` activation rows y[r] (1 for a dot, 4 for dot4: the
 * weights are unpacked once for all of them); qh is NULL for Q4_K. Row r's integer sum goes
 * into acc[r] scaled by d * d_y, its mins term (sum_j m_j * bsums of sub-block j) into
 * acc_min[r] scaled by dmin * d_y: both stay vectors until the end of the row. */
AVX2 INLINE void block_q4_q5(int rows, const uint8_t scales[12], const uint8_t *qs, const uint8_t *qh,
                             const block_q8_K *const *y, float d, float dmin, __m256 *acc, __m256 *acc_min)
{
    uint64_t sc_word, m_word;
    scales_mins_words(scales, &sc_word, &m_word);
    /* mins: each m_j twice (one per 16-activation bsum), times the bsums, pair-summed */
    __m128i m_bytes = _mm_cvtsi64_si128((long long)m_word);
    __m256i m_twice = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m_bytes, m_bytes));
    for (int r = 0; r < rows; r++) {
        __m256i mins = _mm256_madd_epi16(m_twice, _mm256_loadu_si256((const __m256i *)y[r]->bsums));
        acc_min[r] = _mm256_fmadd_ps(_mm256_set1_ps(dmin * y[r]->d), _mm256_cvtepi32_ps(mins), acc_min[r]);
    }

    /* the 8 scales as int16 in both lanes; sub-block j's scale is broadcast by a byte shuffle */
    __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc_word)));
    const __m256i low4 = _mm256_set1_epi8(15), one = _mm256_set1_epi8(1);
    __m256i high = qh ? _mm256_loadu_si256((const __m256i *)qh) : _mm256_setzero_si256();
    __m256i sum[4] = { _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256() };
    for (int c = 0; c < 4; c++) {
        __m256i bytes = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
        __m256i lo = _mm256_and_si256(bytes, low4);
        __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), low4);
        if (qh) {   /* bit 2c of qh[l] belongs to the low nibble, bit 2c + 1 to the high one */
            lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(high, one), 4));
            hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(high, 1), one), 4));
            high = _mm256_srli_epi16(high, 2);
        }
        __m256i scale_lo = _mm256_shuffle_epi8(sc16, pick16(2 * c, 2 * c));
        __m256i scale_hi = _mm256_shuffle_epi8(sc16, pick16(2 * c + 1, 2 * c + 1));
        for (int r = 0; r < rows; r++) {
            sum[r] = dot32(sum[r], lo, y[r]->qs + 64 * c, scale_lo);
            sum[r] = dot32(sum[r], hi, y[r]->qs + 64 * c + 32, scale_hi);
        }
    }
    for (int r = 0; r < rows; r++)
        acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(d * y[r]->d), _mm256_cvtepi32_ps(sum[r]), acc[r]);
}

/* A Q4_K (qh_offset 0) or Q5_K row against `rows` Q8_K rows stride bytes apart. */
AVX2 INLINE void dot_q4_q5_rows(int rows, const uint8_t *w, size_t block_bytes, int is_q5,
                                const void *x_q8k, int64_t stride, int64_t n, float *out)
{
    __m256 acc[4], acc_min[4];
    for (int r = 0; r < 4; r++) acc[r] = acc_min[r] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        const uint8_t *b = w + (size_t)i * block_bytes;
        uint16_t d16, dmin16;
        memcpy(&d16, b, 2);
        memcpy(&dmin16, b + 2, 2);
        const block_q8_K *y[4];
        for (int r = 0; r < rows; r++) y[r] = (const block_q8_K *)((const uint8_t *)x_q8k + r * stride) + i;
        /* Q4_K: d, dmin, scales[12], qs[128]; Q5_K: the same with qh[32] before qs */
        block_q4_q5(rows, b + 4, b + 16 + (is_q5 ? 32 : 0), is_q5 ? b + 16 : NULL, y,
                    fp16_to_fp32(d16), fp16_to_fp32(dmin16), acc, acc_min);
    }
    for (int r = 0; r < rows; r++) out[r] = hsum(acc[r]) - hsum(acc_min[r]);
}

AVX2 float q4_K_dot_q8_K_avx2(const void *w, const void *x_q8k, int64_t n)
{
    float out;
    dot_q4_q5_rows(1, w, sizeof(block_q4_K), 0, x_q8k, 0, n, &out);
    return out;
}

AVX2 float q5_K_dot_q8_K_avx2(const void *w, const void *x_q8k, int64_t n)
{
    float out;
    dot_q4_q5_rows(1, w, sizeof(block_q5_K), 1, x_q8k, 0, n, &out);
    return out;
}

AVX2 void q4_K_dot4_q8_K_avx2(const void *w, const void *x_q8k, int64_t stride, int64_t n, float out[4])
{
    dot_q4_q5_rows(4, w, sizeof(block_q4_K), 0, x_q8k, stride, n, out);
}

AVX2 void q5_K_dot4_q8_K_avx2(const void *w, const void *x_q8k, int64_t stride, int64_t n, float out[4])
{
    dot_q4_q5_rows(4, w, sizeof(block_q5_K), 1, x_q8k, stride, n, out);
}

/* 4 weight rows (w, w + row_bytes, ...) against one activation row: each row goes through
 * exactly the single-row sequence of operations, so out[r] equals the row's dot bit for bit. */
AVX2 INLINE void vec_dot4_q4_q5(const uint8_t *w, size_t row_bytes, size_t block_bytes, int is_q5,
                                const void *x_q8k, int64_t n, float out[4])
{
    __m256 acc[4], acc_min[4];
    for (int r = 0; r < 4; r++) acc[r] = acc_min[r] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        const block_q8_K *y = (const block_q8_K *)x_q8k + i;
        for (int r = 0; r < 4; r++) {
            const uint8_t *b = w + r * row_bytes + (size_t)i * block_bytes;
            uint16_t d16, dmin16;
            memcpy(&d16, b, 2);
            memcpy(&dmin16, b + 2, 2);
            block_q4_q5(1, b + 4, b + 16 + (is_q5 ? 32 : 0), is_q5 ? b + 16 : NULL, &y,
                        fp16_to_fp32(d16), fp16_to_fp32(dmin16), &acc[r], &acc_min[r]);
        }
    }
    for (int r = 0; r < 4; r++) out[r] = hsum(acc[r]) - hsum(acc_min[r]);
}

AVX2 void q4_K_vec_dot4_q8_K_avx2(const void *w, size_t row_bytes, const void *x_q8k, int64_t n, float out[4])
{
    vec_dot4_q4_q5(w, row_bytes, sizeof(block_q4_K), 0, x_q8k, n, out);
}

AVX2 void q5_K_vec_dot4_q8_K_avx2(const void *w, size_t row_bytes, const void *x_q8k, int64_t n, float out[4])
{
    vec_dot4_q4_q5(w, row_bytes, sizeof(block_q5_K), 1, x_q8k, n, out);
}

/* ==== Q6_K ====
 * Each 32-byte vector of weights spans two groups of 16 with their own int8 scales, one per
 * 128-bit lane, which is exactly how madd_epi16 sees the 16 int16 pair sums. The -32 offset is
 * taken out per super-block as 32 * sum_g scale_g * bsums_g. */
/* One Q6_K super-block against `rows` activation rows y[r]; row r's sum goes into acc[r]. */
AVX2 INLINE void block_q6(int rows, const block_q6_K *b, const block_q8_K *const *y, __m256 *acc)
{
    const __m256i low4 = _mm256_set1_epi8(15), two_bits = _mm256_set1_epi8(3);
    __m256i scales16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b->scales));
    __m256i sum[4];
    for (int r = 0; r < rows; r++) {
        __m256i offset = _mm256_madd_epi16(scales16, _mm256_loadu_si256((const __m256i *)y[r]->bsums));
        sum[r] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(offset, 5));
    }
    for (int h = 0; h < 2; h++) {
        /* half h's 8 scales (int16) in both lanes; quarter k needs scale 2k in the low lane
         * and 2k + 1 in the high lane */
        __m256i half_scales = h == 0 ? _mm256_permute2x128_si256(scales16, scales16, 0x00)
                                     : _mm256_permute2x128_si256(scales16, scales16, 0x11);
        const uint8_t *ql = b->ql + 64 * h;
        __m256i ql0 = _mm256_loadu_si256((const __m256i *)ql);
        __m256i ql1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
        __m256i qh = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * h));
        __m256i q[4] = {
            _mm256_and_si256(ql0, low4), _mm256_and_si256(ql1, low4),
            _mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4),
            _mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4),
        };
        for (int k = 0; k < 4; k++) {     /* quarter k: bits 2k, 2k + 1 of qh */
            __m256i top = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), two_bits);
            __m256i qk = _mm256_or_si256(q[k], _mm256_slli_epi16(top, 4));
            __m256i scale = _mm256_shuffle_epi8(half_scales, pick16(2 * k, 2 * k + 1));
            for (int r = 0; r < rows; r++)
                sum[r] = dot32(sum[r], qk, y[r]->qs + 128 * h + 32 * k, scale);
        }
    }
    float d = fp16_to_fp32(b->d);
    for (int r = 0; r < rows; r++)
        acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(d * y[r]->d), _mm256_cvtepi32_ps(sum[r]), acc[r]);
}

/* A Q6_K row against `rows` Q8_K rows stride bytes apart. */
AVX2 INLINE void dot_q6_rows(int rows, const void *w, const void *x_q8k, int64_t stride, int64_t n, float *out)
{
    const block_q6_K *b = w;
    __m256 acc[4];
    for (int r = 0; r < 4; r++) acc[r] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        const block_q8_K *y[4];
        for (int r = 0; r < rows; r++) y[r] = (const block_q8_K *)((const uint8_t *)x_q8k + r * stride) + i;
        block_q6(rows, &b[i], y, acc);
    }
    for (int r = 0; r < rows; r++) out[r] = hsum(acc[r]);
}

/* 4 weight rows against one activation row, each bit for bit as its single-row dot. */
AVX2 void q6_K_vec_dot4_q8_K_avx2(const void *w, size_t row_bytes, const void *x_q8k, int64_t n, float out[4])
{
    __m256 acc[4];
    for (int r = 0; r < 4; r++) acc[r] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        const block_q8_K *y = (const block_q8_K *)x_q8k + i;
        for (int r = 0; r < 4; r++)
            block_q6(1, (const block_q6_K *)((const uint8_t *)w + r * row_bytes) + i, &y, &acc[r]);
    }
    for (int r = 0; r < 4; r++) out[r] = hsum(acc[r]);
}

AVX2 float q6_K_dot_q8_K_avx2(const void *w, const void *x_q8k, int64_t n)
{
    float out;
    dot_q6_rows(1, w, x_q8k, 0, n, &out);
    return out;
}

AVX2 void q6_K_dot4_q8_K_avx2(const void *w, const void *x_q8k, int64_t stride, int64_t n, float out[4])
{
    dot_q6_rows(4, w, x_q8k, stride, n, out);
}

/* ==== Dequantizing (the GEMM's panels in prefill) ====
 * The same float operations as the reference decoders, in the same order (a product, then for
 * Q4_K a difference; no fused multiply-add), so the floats are the reference's bit for bit. */

/* 8 bytes of p (unsigned or signed), as 8 floats */
AVX2 INLINE __m256 bytes_u8_ps(__m128i p) { return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(p)); }
AVX2 INLINE __m256 bytes_i8_ps(__m128i p) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(p)); }

/* One Q4_K / Q5_K super-block (qh NULL for Q4_K): w = (d * sc_j) * q - (dmin * m_j) over sub-block
 * j of 32 weights; Q5_K's fifth bit of weight 64c + l is bit 2c of qh[l] (low nibble) or 2c + 1. */
AVX2 INLINE void q4_q5_block_to_float(uint16_t d16, uint16_t dmin16, const uint8_t scales[12], const uint8_t *qs,
                                      const uint8_t *qh, float *dst)
{
    const __m256i low4 = _mm256_set1_epi8(15), one = _mm256_set1_epi8(1);
    uint64_t sc_word, m_word;
    scales_mins_words(scales, &sc_word, &m_word);
    const float d = fp16_to_fp32(d16), dmin = fp16_to_fp32(dmin16);
    const __m256i high_bits = qh ? _mm256_loadu_si256((const __m256i *)qh) : _mm256_setzero_si256();
    for (int c = 0; c < 4; c++) {
        const __m256i bytes = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
        for (int high = 0; high < 2; high++) {      /* low nibbles: sub-block 2c, high: 2c + 1 */
            const int j = 2 * c + high;
            const __m256 scale = _mm256_set1_ps(d * (uint8_t)(sc_word >> (8 * j)));
            const __m256 min = _mm256_set1_ps(dmin * (uint8_t)(m_word >> (8 * j)));
            __m256i q = _mm256_and_si256(high ? _mm256_srli_epi16(bytes, 4) : bytes, low4);
            if (qh) {
                __m256i fifth = _mm256_and_si256(_mm256_srl_epi16(high_bits, _mm_cvtsi32_si128(j)), one);
                q = _mm256_or_si256(q, _mm256_slli_epi16(fifth, 4));
            }
            __m128i q_lo = _mm256_castsi256_si128(q), q_hi = _mm256_extracti128_si256(q, 1);
            float *o = dst + 32 * j;
            _mm256_storeu_ps(o, _mm256_sub_ps(_mm256_mul_ps(scale, bytes_u8_ps(q_lo)), min));
            _mm256_storeu_ps(o + 8, _mm256_sub_ps(_mm256_mul_ps(scale, bytes_u8_ps(_mm_srli_si128(q_lo, 8))), min));
            _mm256_storeu_ps(o + 16, _mm256_sub_ps(_mm256_mul_ps(scale, bytes_u8_ps(q_hi)), min));
            _mm256_storeu_ps(o + 24, _mm256_sub_ps(_mm256_mul_ps(scale, bytes_u8_ps(_mm_srli_si128(q_hi, 8))), min));
        }
    }
}

AVX2 void q4_K_to_float_avx2(const void *src, float *dst, int64_t n)
{
    const block_q4_K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, b++, dst += QK_K)
        q4_q5_block_to_float(b->d, b->dmin, b->scales, b->qs, NULL, dst);
}

AVX2 void q5_K_to_float_avx2(const void *src, float *dst, int64_t n)
{
    const block_q5_K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, b++, dst += QK_K)
        q4_q5_block_to_float(b->d, b->dmin, b->scales, b->qs, b->qh, dst);
}

/* w = (d * scale_g) * (q - 32) over group g of 16 weights */
AVX2 void q6_K_to_float_avx2(const void *src, float *dst, int64_t n)
{
    const block_q6_K *b = src;
    const __m256i low4 = _mm256_set1_epi8(15), two_bits = _mm256_set1_epi8(3), offset = _mm256_set1_epi8(32);
    for (int64_t i = 0; i < n / QK_K; i++, b++, dst += QK_K) {
        const float d = fp16_to_fp32(b->d);
        for (int h = 0; h < 2; h++) {
            const __m256i ql0 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h));
            const __m256i ql1 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h + 32));
            const __m256i qh = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * h));
            const __m256i low[4] = {
                _mm256_and_si256(ql0, low4), _mm256_and_si256(ql1, low4),
                _mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4),
                _mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4),
            };
            for (int k = 0; k < 4; k++) {       /* quarter k: weights 128h + 32k .. + 32 */
                __m256i top = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), two_bits);
                __m256i q = _mm256_sub_epi8(_mm256_or_si256(low[k], _mm256_slli_epi16(top, 4)), offset);
                __m128i q_lo = _mm256_castsi256_si128(q), q_hi = _mm256_extracti128_si256(q, 1);
                const int e = 128 * h + 32 * k;
                const __m256 s0 = _mm256_set1_ps(d * b->scales[e / 16]), s1 = _mm256_set1_ps(d * b->scales[e / 16 + 1]);
                _mm256_storeu_ps(dst + e, _mm256_mul_ps(s0, bytes_i8_ps(q_lo)));
                _mm256_storeu_ps(dst + e + 8, _mm256_mul_ps(s0, bytes_i8_ps(_mm_srli_si128(q_lo, 8))));
                _mm256_storeu_ps(dst + e + 16, _mm256_mul_ps(s1, bytes_i8_ps(q_hi)));
                _mm256_storeu_ps(dst + e + 24, _mm256_mul_ps(s1, bytes_i8_ps(_mm_srli_si128(q_hi, 8))));
            }
        }
    }
}

/* ==== Float activations (the exact path) ====
 * Each super-block is decoded once into 256 floats (the decoders above, or the scalar ones for
 * Q2_K / Q3_K) and multiplied with `rows` activation rows (1 for dot, 4 for dot4), two FMA chains
 * per row. */
typedef void (*kquant_decode_fn)(const void *src, float *dst, int64_t n);

AVX2 INLINE void dot_f32_rows(kquant_decode_fn decode, size_t block_bytes, const void *w, const float *x,
                              int64_t stride, int rows, int64_t n, float *out)
{
    float buf[QK_K] __attribute__((aligned(32)));
    __m256 even[4], odd[4];
    for (int r = 0; r < 4; r++) even[r] = odd[r] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        decode((const uint8_t *)w + (size_t)i * block_bytes, buf, QK_K);
        for (int r = 0; r < rows; r++) {
            const float *xr = x + r * stride + i * QK_K;
            for (int l = 0; l < QK_K; l += 16) {
                even[r] = _mm256_fmadd_ps(_mm256_load_ps(buf + l), _mm256_loadu_ps(xr + l), even[r]);
                odd[r] = _mm256_fmadd_ps(_mm256_load_ps(buf + l + 8), _mm256_loadu_ps(xr + l + 8), odd[r]);
            }
        }
    }
    for (int r = 0; r < rows; r++) out[r] = hsum(_mm256_add_ps(even[r], odd[r]));
}

#define DOT_F32_AVX2(t, decode)                                                                  \
    AVX2 float t##_dot_f32_avx2(const void *w, const float *x, int64_t n)                         \
    {                                                                                            \
        float out;                                                                               \
        dot_f32_rows(decode, sizeof(block_##t), w, x, 0, 1, n, &out);                            \
        return out;                                                                              \
    }                                                                                            \
    AVX2 void t##_dot4_f32_avx2(const void *w, const float *x, int64_t stride, int64_t n, float out[4]) \
    {                                                                                            \
        dot_f32_rows(decode, sizeof(block_##t), w, x, stride, 4, n, out);                        \
    }
DOT_F32_AVX2(q2_K, q2_K_to_float)
DOT_F32_AVX2(q3_K, q3_K_to_float)
DOT_F32_AVX2(q4_K, q4_K_to_float_avx2)
DOT_F32_AVX2(q5_K, q5_K_to_float_avx2)
DOT_F32_AVX2(q6_K, q6_K_to_float_avx2)

/* ==== Q2_K and Q3_K ====
 * 16 sub-blocks of 16 like Q6_K, so the same per-lane scales; the low 2 bits of quarter j of
 * half h are bits 2j, 2j + 1 of the half's 32 qs bytes. */

/* Q2_K: w = d sc q - dmin m; the mins term is the 16 bsums times the 16 mins. */
AVX2 float q2_K_dot_q8_K_avx2(const void *w, const void *x_q8k, int64_t n)
{
    const block_q2_K *b = w;
    const block_q8_K *y = x_q8k;
    const __m256i two_bits = _mm256_set1_epi8(3);
    __m256 acc = _mm256_setzero_ps(), acc_min = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        __m128i packed = _mm_loadu_si128((const __m128i *)b[i].scales);
        __m256i scales16 = _mm256_cvtepu8_epi16(_mm_and_si128(packed, _mm_set1_epi8(15)));
        __m256i mins16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), _mm_set1_epi8(15)));
        __m256i mins = _mm256_madd_epi16(mins16, _mm256_loadu_si256((const __m256i *)y[i].bsums));
        float dy = y[i].d;
        acc_min = _mm256_fmadd_ps(_mm256_set1_ps(fp16_to_fp32(b[i].dmin) * dy), _mm256_cvtepi32_ps(mins), acc_min);
        __m256i sum = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i half_scales = h == 0 ? _mm256_permute2x128_si256(scales16, scales16, 0x00)
                                         : _mm256_permute2x128_si256(scales16, scales16, 0x11);
            __m256i qs = _mm256_loadu_si256((const __m256i *)(b[i].qs + 32 * h));
            for (int j = 0; j < 4; j++) {
                __m256i q = _mm256_and_si256(_mm256_srli_epi16(qs, 2 * j), two_bits);
                __m256i scale = _mm256_shuffle_epi8(half_scales, pick16(2 * j, 2 * j + 1));
                sum = dot32(sum, q, y[i].qs + 128 * h + 32 * j, scale);
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(fp16_to_fp32(b[i].d) * dy), _mm256_cvtepi32_ps(sum), acc);
    }
    return hsum(acc) - hsum(acc_min);
}

/* Q3_K: q = u - 4 with u = low 2 bits | third bit << 2 in 0..7, unsigned as maddubs wants;
 * sum q y = sum u y - 4 sum y, the second from bsums. The 6-bit scales are unpacked with
 * 32-bit word arithmetic: word i holds scales 4i .. 4i + 3, their low nibbles from bytes 0-7
 * (low nibbles for i < 2, high for i >= 2) and their high 2 bits from bits 2i, 2i + 1 of
 * bytes 8-11. */
AVX2 float q3_K_dot_q8_K_avx2(const void *w, const void *x_q8k, int64_t n)
{
    const block_q3_K *b = w;
    const block_q8_K *y = x_q8k;
    const __m256i two_bits = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        uint32_t a[3], word[4];
        memcpy(a, b[i].scales, sizeof a);
        for (int k = 0; k < 4; k++)
            word[k] = ((a[k % 2] >> (4 * (k / 2))) & 0x0f0f0f0f) | (((a[2] >> (2 * k)) & 0x03030303) << 4);
        __m128i s8 = _mm_sub_epi8(_mm_loadu_si128((const __m128i *)word), _mm_set1_epi8(32));
        __m256i scales16 = _mm256_cvtepi8_epi16(s8);
        __m256i offset = _mm256_madd_epi16(scales16, _mm256_loadu_si256((const __m256i *)y[i].bsums));
        __m256i sum = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(offset, 2));
        __m256i hmask = _mm256_loadu_si256((const __m256i *)b[i].hmask);
        for (int h = 0; h < 2; h++) {
            __m256i half_scales = h == 0 ? _mm256_permute2x128_si256(scales16, scales16, 0x00)
                                         : _mm256_permute2x128_si256(scales16, scales16, 0x11);
            __m256i qs = _mm256_loadu_si256((const __m256i *)(b[i].qs + 32 * h));
            for (int j = 0; j < 4; j++) {
                __m256i third = _mm256_and_si256(_mm256_srli_epi16(hmask, 4 * h + j), one);
                __m256i u = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qs, 2 * j), two_bits),
                                            _mm256_slli_epi16(third, 2));
                __m256i scale = _mm256_shuffle_epi8(half_scales, pick16(2 * j, 2 * j + 1));
                sum = dot32(sum, u, y[i].qs + 128 * h + 32 * j, scale);
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(fp16_to_fp32(b[i].d) * y[i].d), _mm256_cvtepi32_ps(sum), acc);
    }
    return hsum(acc);
}

/* Q2_K and Q3_K: 4 weight rows as 4 single-row dots (bit for bit the same, by construction). */
AVX2 void q2_K_vec_dot4_q8_K_avx2(const void *w, size_t row_bytes, const void *x_q8k, int64_t n, float out[4])
{
    for (int r = 0; r < 4; r++) out[r] = q2_K_dot_q8_K_avx2((const uint8_t *)w + r * row_bytes, x_q8k, n);
}

AVX2 void q3_K_vec_dot4_q8_K_avx2(const void *w, size_t row_bytes, const void *x_q8k, int64_t n, float out[4])
{
    for (int r = 0; r < 4; r++) out[r] = q3_K_dot_q8_K_avx2((const uint8_t *)w + r * row_bytes, x_q8k, n);
}

#else   /* not x86-64: no AVX2; the names exist so that kquant_rows.c links, as the scalar kernels */

float q2_K_dot_q8_K_avx2(const void *w, const void *x, int64_t n) { return q2_K_dot_q8_K(w, x, n); }
float q3_K_dot_q8_K_avx2(const void *w, const void *x, int64_t n) { return q3_K_dot_q8_K(w, x, n); }
float q4_K_dot_q8_K_avx2(const void *w, const void *x, int64_t n) { return q4_K_dot_q8_K(w, x, n); }
float q5_K_dot_q8_K_avx2(const void *w, const void *x, int64_t n) { return q5_K_dot_q8_K(w, x, n); }
float q6_K_dot_q8_K_avx2(const void *w, const void *x, int64_t n) { return q6_K_dot_q8_K(w, x, n); }
void q4_K_dot4_q8_K_avx2(const void *w, const void *x, int64_t stride, int64_t n, float out[4])
{
    q4_K_dot4_q8_K(w, x, stride, n, out);
}
#define VEC_DOT4_FALLBACK(type)                                                                  \
    void type##_vec_dot4_q8_K_avx2(const void *w, size_t row_bytes, const void *x, int64_t n, float out[4]) \
    {                                                                                            \
        type##_vec_dot4_q8_K(w, row_bytes, x, n, out);                                           \
    }
VEC_DOT4_FALLBACK(q2_K)
VEC_DOT4_FALLBACK(q3_K)
VEC_DOT4_FALLBACK(q4_K)
VEC_DOT4_FALLBACK(q5_K)
VEC_DOT4_FALLBACK(q6_K)
void q5_K_dot4_q8_K_avx2(const void *w, const void *x, int64_t stride, int64_t n, float out[4])
{
    q5_K_dot4_q8_K(w, x, stride, n, out);
}
void q6_K_dot4_q8_K_avx2(const void *w, const void *x, int64_t stride, int64_t n, float out[4])
{
    q6_K_dot4_q8_K(w, x, stride, n, out);
}
void q4_K_to_float_avx2(const void *src, float *dst, int64_t n) { q4_K_to_float(src, dst, n); }
void q5_K_to_float_avx2(const void *src, float *dst, int64_t n) { q5_K_to_float(src, dst, n); }
void q6_K_to_float_avx2(const void *src, float *dst, int64_t n) { q6_K_to_float(src, dst, n); }
#define DOT_F32_FALLBACK(t)                                                                      \
    float t##_dot_f32_avx2(const void *w, const float *x, int64_t n) { return t##_dot_f32(w, x, n); } \
    void t##_dot4_f32_avx2(const void *w, const float *x, int64_t stride, int64_t n, float out[4]) \
    {                                                                                            \
        t##_dot4_f32(w, x, stride, n, out);                                                      \
    }
DOT_F32_FALLBACK(q2_K)
DOT_F32_FALLBACK(q3_K)
DOT_F32_FALLBACK(q4_K)
DOT_F32_FALLBACK(q5_K)
DOT_F32_FALLBACK(q6_K)

#endif
