/* kquants_avx2.c — AVX2 dots of Q4_K, Q5_K and Q6_K weight rows with Q8_K activation rows.
 *
 * The weights' 4-6 bit integers are unpacked to bytes in registers and multiplied with the
 * activations' int8 by _mm256_maddubs_epi16 (unsigned x signed bytes, adjacent pairs summed
 * into int16: at most 2 * 63 * 127, so never saturating), then by the sub-block scales with
 * _mm256_madd_epi16 into int32. The integer sums are exactly the scalar kernels', and each
 * super-block is scaled by the same float expression in the same order, so the results equal
 * the scalar ones. Every function carries its own target attribute: the library builds for any
 * -march, and callers check kquants_avx2_supported() first. */

#include "kquants.h"

#if defined(__x86_64__)

#include "quant.h"      /* fp16_to_fp32 */

#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline))

int kquants_avx2_supported(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

AVX2 INLINE int32_t hsum_i32(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

/* The 6-bit scales and mins of a Q4_K/Q5_K super-block (layout in kquants.h). */
INLINE void scales_mins(const uint8_t p[12], uint8_t sc[8], uint8_t m[8])
{
    for (int j = 0; j < 4; j++) {
        sc[j] = p[j] & 63;
        m[j] = p[j + 4] & 63;
        sc[j + 4] = (uint8_t)((p[j + 8] & 15) | ((p[j] >> 6) << 4));
        m[j + 4] = (uint8_t)((p[j + 8] >> 4) | ((p[j + 4] >> 6) << 4));
    }
}

/* sum_j m[j] * (sum of the activations of sub-block j), from bsums: 16 int16 pair-summed
 * against the mins repeated twice. */
AVX2 INLINE int32_t mins_times_bsums(const uint8_t m[8], const int16_t bsums[16])
{
    __m256i mins = _mm256_setr_epi16(m[0], m[0], m[1], m[1], m[2], m[2], m[3], m[3],
                                     m[4], m[4], m[5], m[5], m[6], m[6], m[7], m[7]);
    return hsum_i32(_mm256_madd_epi16(mins, _mm256_loadu_si256((const __m256i *)bsums)));
}

/* acc += scale * sum over pairs of q[k] * y[k]: 32 unsigned weights times 32 int8 activations. */
AVX2 INLINE __m256i dot32(__m256i acc, __m256i q, const int8_t *y, __m256i scale)
{
    __m256i pairs = _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)y));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, scale));
}

/* Q4_K and Q5_K share everything but the fifth bit; qh is NULL for Q4_K. */
AVX2 INLINE float dot_q4_q5(uint16_t d16, uint16_t dmin16, const uint8_t scales[12],
                            const uint8_t *qs, const uint8_t *qh, const block_q8_K *y)
{
    uint8_t sc[8], m[8];
    scales_mins(scales, sc, m);
    const __m256i low4 = _mm256_set1_epi8(15), one = _mm256_set1_epi8(1);
    __m256i high = qh ? _mm256_loadu_si256((const __m256i *)qh) : _mm256_setzero_si256();
    __m256i acc = _mm256_setzero_si256();
    for (int c = 0; c < 4; c++) {
        __m256i bytes = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
        __m256i lo = _mm256_and_si256(bytes, low4);
        __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), low4);
        if (qh) {   /* bit 2c of qh[l] belongs to the low nibble, bit 2c + 1 to the high one */
            lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(high, one), 4));
            hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(high, 1), one), 4));
            high = _mm256_srli_epi16(high, 2);
        }
        acc = dot32(acc, lo, y->qs + 64 * c, _mm256_set1_epi16(sc[2 * c]));
        acc = dot32(acc, hi, y->qs + 64 * c + 32, _mm256_set1_epi16(sc[2 * c + 1]));
    }
    int32_t sum_qy = hsum_i32(acc), sum_my = mins_times_bsums(m, y->bsums);
    return y->d * (fp16_to_fp32(d16) * (float)sum_qy - fp16_to_fp32(dmin16) * (float)sum_my);
}

AVX2 float q4_K_dot_q8_K_avx2(const void *w, const void *x_q8k, int64_t n)
{
    const block_q4_K *b = w;
    const block_q8_K *y = x_q8k;
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++)
        sum += dot_q4_q5(b[i].d, b[i].dmin, b[i].scales, b[i].qs, NULL, &y[i]);
    return sum;
}

AVX2 float q5_K_dot_q8_K_avx2(const void *w, const void *x_q8k, int64_t n)
{
    const block_q5_K *b = w;
    const block_q8_K *y = x_q8k;
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++)
        sum += dot_q4_q5(b[i].d, b[i].dmin, b[i].scales, b[i].qs, b[i].qh, &y[i]);
    return sum;
}

/* Q6_K: each 32-byte vector of weights spans two groups of 16 with their own int8 scales, one
 * per 128-bit lane, which is exactly how madd_epi16 sees the 16 int16 pair sums. The -32
 * offset is taken out afterwards as 32 * sum_g scale_g * bsums_g. */
AVX2 float q6_K_dot_q8_K_avx2(const void *w, const void *x_q8k, int64_t n)
{
    const block_q6_K *b = w;
    const block_q8_K *y = x_q8k;
    const __m256i low4 = _mm256_set1_epi8(15), two = _mm256_set1_epi8(3);
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const int8_t *sc = b[i].scales;
        __m256i acc = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = b[i].ql + 64 * h;
            __m256i ql0 = _mm256_loadu_si256((const __m256i *)ql);
            __m256i ql1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            __m256i qh = _mm256_loadu_si256((const __m256i *)(b[i].qh + 32 * h));
            __m256i q[4] = {
                _mm256_and_si256(ql0, low4), _mm256_and_si256(ql1, low4),
                _mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4),
                _mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4),
            };
            for (int k = 0; k < 4; k++) {     /* quarter k: bits 2k, 2k + 1 of qh */
                __m256i top = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), two);
                q[k] = _mm256_or_si256(q[k], _mm256_slli_epi16(top, 4));
                int g = 8 * h + 2 * k;
                __m256i scale = _mm256_setr_m128i(_mm_set1_epi16(sc[g]), _mm_set1_epi16(sc[g + 1]));
                acc = dot32(acc, q[k], y[i].qs + 128 * h + 32 * k, scale);
            }
        }
        __m256i scales16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)sc));
        int32_t offset = hsum_i32(_mm256_madd_epi16(scales16, _mm256_loadu_si256((const __m256i *)y[i].bsums)));
        int32_t total = hsum_i32(acc) - 32 * offset;
        sum += y[i].d * fp16_to_fp32(b[i].d) * (float)total;
    }
    return sum;
}

#else   /* not x86-64: no AVX2; the names exist so callers link, and fall back to scalar */

int kquants_avx2_supported(void) { return 0; }
float q4_K_dot_q8_K_avx2(const void *w, const void *x, int64_t n) { return q4_K_dot_q8_K(w, x, n); }
float q5_K_dot_q8_K_avx2(const void *w, const void *x, int64_t n) { return q5_K_dot_q8_K(w, x, n); }
float q6_K_dot_q8_K_avx2(const void *w, const void *x, int64_t n) { return q6_K_dot_q8_K(w, x, n); }

#endif
