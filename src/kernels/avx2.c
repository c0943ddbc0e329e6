/* avx2.c — the AVX2 + FMA + F16C kernel set (Haswell and later, Zen 1-3).
 *
 * Every function carries its own target attribute, so the library compiles with any -march and
 * a context uses these only when the CPU has them. Float-activation kernels dequantize weights in
 * registers and multiply them with fp32 activations; row tails of F32/F16/BF16 (n not a multiple
 * of 8) are finished in scalar code, so no load reaches past the row. Int8 kernels multiply Q8_0
 * or Q4_0 weights with Q8_0 activations in integers (vpmaddubsw). The AVX-512 set borrows the
 * activation quantizer and the panel packing (avx2_* functions), which run unchanged there. */

#if defined(__x86_64__)

#include "kernels/avx2.h"
#include "kernels/kernel_set.h"
#include "kernels/int8_panel.h"
#include "kernels/kquant_rows.h"

#include <immintrin.h>
#include <math.h>

/* ==== Float-like rows (F32, F16, BF16) ==== */

AVX2 INLINE __m256 load8(int type, const void *w, int64_t i)
{
    if (type == TYPE_F32) return _mm256_loadu_ps((const float *)w + i);
    __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)w + i));
    if (type == TYPE_F16) return _mm256_cvtph_ps(h);
    /* bf16 is the top half of an fp32 */
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

INLINE float weight_at(int type, const void *w, int64_t i)
{
    if (type == TYPE_F32) return ((const float *)w)[i];
    if (type == TYPE_F16) return fp16_to_fp32(((const uint16_t *)w)[i]);
    return bf16_to_fp32(((const uint16_t *)w)[i]);
}

/* The sum of the eight lanes of one row's partial sums, in the order of reduce_rows4 below:
 * ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)), so that dot and dot_rows4 agree bit for bit. */
AVX2 INLINE float reduce_row(__m256 v)
{
    const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(v, v), _mm256_hadd_ps(v, v));
    return _mm_cvtss_f32(_mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)));
}

/* The same for four rows at once: vhaddps pairs neighbouring lanes within each half, two rounds
 * leave row r's (l0 + l1) + (l2 + l3) in lane r and its (l4 + l5) + (l6 + l7) in lane r + 4. */
AVX2 INLINE __m128 reduce_rows4(__m256 v0, __m256 v1, __m256 v2, __m256 v3)
{
    const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(v0, v1), _mm256_hadd_ps(v2, v3));
    return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

/* Two accumulators, chunks of 8 taken alternately: two FMA chains are enough while the weights
 * stream from memory, and with dot_rows4's four rows, eight are in flight. */
AVX2 INLINE float dot_float_like(int type, const void *w, const float *x, int64_t n)
{
    __m256 even = _mm256_setzero_ps(), odd = even;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        even = _mm256_fmadd_ps(load8(type, w, i), _mm256_loadu_ps(x + i), even);
        odd = _mm256_fmadd_ps(load8(type, w, i + 8), _mm256_loadu_ps(x + i + 8), odd);
    }
    if (i + 8 <= n) {
        even = _mm256_fmadd_ps(load8(type, w, i), _mm256_loadu_ps(x + i), even);
        i += 8;
    }
    float tail = 0;
    for (; i < n; i++) tail += weight_at(type, w, i) * x[i];
    return reduce_row(_mm256_add_ps(even, odd)) + tail;
}

/* Four rows against one x: each x load serves four rows, and the four sums are reduced together
 * (no horizontal sum per row). Each row is summed exactly as dot_float_like sums it. The four rows
 * are four streams, which the hardware prefetcher picks up late at every new group of rows, so the
 * next group (contiguous, as the rows are) is prefetched into L2 as this one is consumed: one
 * ascending stream, one group ahead (as the int8 vec_dot_rows4 below). */
AVX2 INLINE void dot_rows4_float_like(int type, const void *w, size_t row_bytes, const float *x, int64_t n,
                                      float out[4])
{
    const char *row[4];
    for (int r = 0; r < 4; r++) row[r] = (const char *)w + r * row_bytes;
    __m256 even[4], odd[4];
    for (int r = 0; r < 4; r++) even[r] = odd[r] = _mm256_setzero_ps();
    const size_t element = type == TYPE_F32 ? 4 : 2;
    const uintptr_t next_group = (uintptr_t)w + 4 * row_bytes;
    uintptr_t prefetched = next_group;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const uintptr_t upto = next_group + 4 * (size_t)(i + 16) * element;
        for (; prefetched < upto; prefetched += 64) _mm_prefetch((const char *)prefetched, _MM_HINT_T1);
        const __m256 x0 = _mm256_loadu_ps(x + i), x1 = _mm256_loadu_ps(x + i + 8);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            even[r] = _mm256_fmadd_ps(load8(type, row[r], i), x0, even[r]);
            odd[r] = _mm256_fmadd_ps(load8(type, row[r], i + 8), x1, odd[r]);
        }
    }
    if (i + 8 <= n) {
        const __m256 x0 = _mm256_loadu_ps(x + i);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) even[r] = _mm256_fmadd_ps(load8(type, row[r], i), x0, even[r]);
        i += 8;
    }
    _mm_storeu_ps(out, reduce_rows4(_mm256_add_ps(even[0], odd[0]), _mm256_add_ps(even[1], odd[1]),
                                    _mm256_add_ps(even[2], odd[2]), _mm256_add_ps(even[3], odd[3])));
    for (int r = 0; r < 4; r++) {
        float tail = 0;
        for (int64_t j = i; j < n; j++) tail += weight_at(type, row[r], j) * x[j];
        out[r] += tail;
    }
}

/* Each 8 weights are loaded once and used for four activation rows: two accumulators per row. */
AVX2 INLINE void dot4_float_like(int type, const void *w, const float *x, int64_t stride,
                                 int64_t n, float out[4])
{
    const float *xr[4] = { x, x + stride, x + 2 * stride, x + 3 * stride };
    __m256 lo[4], hi[4];
    for (int r = 0; r < 4; r++) lo[r] = hi[r] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 w0 = load8(type, w, i), w1 = load8(type, w, i + 8);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            lo[r] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xr[r] + i), lo[r]);
            hi[r] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xr[r] + i + 8), hi[r]);
        }
    }
    for (; i + 8 <= n; i += 8) {
        __m256 w0 = load8(type, w, i);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) lo[r] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xr[r] + i), lo[r]);
    }
    for (int r = 0; r < 4; r++) {
        float tail = 0;
        for (int64_t j = i; j < n; j++) tail += weight_at(type, w, j) * xr[r][j];
        out[r] = hsum(_mm256_add_ps(lo[r], hi[r])) + tail;
    }
}

AVX2 INLINE void to_float_float_like(int type, const void *src, float *dst, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load8(type, src, i));
    for (; i < n; i++) dst[i] = weight_at(type, src, i);
}

/* ==== A quantized block as fp32: 32 quants in four registers, and the scale ==== */

/* the fp16 scale at the start of a block, broadcast (converted straight from memory: 8 bytes,
 * all inside the block, only the first half kept) */
AVX2 INLINE __m256 block_scale(const void *block)
{
    return _mm256_broadcastss_ps(_mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)block)));
}

/* 8 bytes from p, widened to 8 x int32 (sign- or zero-extended) */
AVX2 INLINE __m256i widen8_signed(const void *p) { return _mm256_cvtepi8_epi32(_mm_loadl_epi64(p)); }
AVX2 INLINE __m256i widen8_unsigned(const void *p) { return _mm256_cvtepu8_epi32(_mm_loadl_epi64(p)); }

AVX2 INLINE void q8_0_unpack(const block_q8_0 *b, __m256 q[4])
{
    for (int k = 0; k < 4; k++) q[k] = _mm256_cvtepi32_ps(widen8_signed(b->qs + 8 * k));
}

/* Bytes 0-7 and 8-15, one per 32-bit lane: the low nibbles are elements 0-15, the high
 * nibbles elements 16-31. */
AVX2 INLINE void q4_0_unpack(const block_q4_0 *b, __m256 q[4])
{
    const __m256i low_nibble = _mm256_set1_epi32(0x0f), eight = _mm256_set1_epi32(8);
    __m256i first = widen8_unsigned(b->qs), second = widen8_unsigned(b->qs + 8);
    q[0] = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_and_si256(first, low_nibble), eight));
    q[1] = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_and_si256(second, low_nibble), eight));
    q[2] = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(first, 4), eight));
    q[3] = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(second, 4), eight));
}

AVX2 INLINE __m256 unpack(int type, const void *blocks, int64_t b, __m256 q[4])
{
    if (type == TYPE_Q8_0) {
        const block_q8_0 *block = (const block_q8_0 *)blocks + b;
        q8_0_unpack(block, q);
        return block_scale(block);
    }
    const block_q4_0 *block = (const block_q4_0 *)blocks + b;
    q4_0_unpack(block, q);
    return block_scale(block);
}

/* acc += d * (q . x) for one block: the scale is applied once to the block's partial sum. */
AVX2 INLINE __m256 block_fma(int type, const void *blocks, int64_t b, const float *x, __m256 acc)
{
    __m256 q[4];
    __m256 d = unpack(type, blocks, b, q);
    x += 32 * b;
    __m256 partial = _mm256_mul_ps(q[0], _mm256_loadu_ps(x));
    partial = _mm256_fmadd_ps(q[1], _mm256_loadu_ps(x + 8), partial);
    partial = _mm256_fmadd_ps(q[2], _mm256_loadu_ps(x + 16), partial);
    partial = _mm256_fmadd_ps(q[3], _mm256_loadu_ps(x + 24), partial);
    return _mm256_fmadd_ps(d, partial, acc);
}

AVX2 INLINE float dot_quantized(int type, const void *w, const float *x, int64_t n)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t nb = n / 32, b = 0;
    for (; b + 4 <= nb; b += 4) {
        a0 = block_fma(type, w, b, x, a0);
        a1 = block_fma(type, w, b + 1, x, a1);
        a2 = block_fma(type, w, b + 2, x, a2);
        a3 = block_fma(type, w, b + 3, x, a3);
    }
    for (; b < nb; b++) a0 = block_fma(type, w, b, x, a0);
    return hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
}

/* For four rows the block is dequantized once (q * d) and shared by eight FMA chains. */
AVX2 INLINE void dot4_quantized(int type, const void *w, const float *x, int64_t stride,
                                int64_t n, float out[4])
{
    const float *xr[4] = { x, x + stride, x + 2 * stride, x + 3 * stride };
    __m256 even[4], odd[4];
    for (int r = 0; r < 4; r++) even[r] = odd[r] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / 32; b++) {
        __m256 q[4];
        __m256 d = unpack(type, w, b, q);
        for (int k = 0; k < 4; k++) q[k] = _mm256_mul_ps(q[k], d);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            const float *xb = xr[r] + 32 * b;
            even[r] = _mm256_fmadd_ps(q[0], _mm256_loadu_ps(xb), even[r]);
            odd[r] = _mm256_fmadd_ps(q[1], _mm256_loadu_ps(xb + 8), odd[r]);
            even[r] = _mm256_fmadd_ps(q[2], _mm256_loadu_ps(xb + 16), even[r]);
            odd[r] = _mm256_fmadd_ps(q[3], _mm256_loadu_ps(xb + 24), odd[r]);
        }
    }
    for (int r = 0; r < 4; r++) out[r] = hsum(_mm256_add_ps(even[r], odd[r]));
}

AVX2 INLINE void to_float_quantized(int type, const void *src, float *dst, int64_t n)
{
    for (int64_t b = 0; b < n / 32; b++) {
        __m256 q[4];
        __m256 d = unpack(type, src, b, q);
        for (int k = 0; k < 4; k++) _mm256_storeu_ps(dst + 32 * b + 8 * k, _mm256_mul_ps(q[k], d));
    }
}

/* ==== The kernels, one set per type ==== */

#define FLOAT_LIKE_KERNELS(name, TYPE)                                                         \
    AVX2 static void name##_to_float(const void *src, float *dst, int64_t n)                   \
    { to_float_float_like(TYPE, src, dst, n); }                                                \
    AVX2 static float name##_dot(const void *w, const float *x, int64_t n)                     \
    { return dot_float_like(TYPE, w, x, n); }                                                  \
    AVX2 static void name##_dot4(const void *w, const float *x, int64_t s, int64_t n, float o[4]) \
    { dot4_float_like(TYPE, w, x, s, n, o); }                                                  \
    AVX2 static void name##_dot_rows4(const void *w, size_t rb, const float *x, int64_t n, float o[4]) \
    { dot_rows4_float_like(TYPE, w, rb, x, n, o); }

#define QUANTIZED_KERNELS(name, TYPE)                                                          \
    AVX2 static void name##_to_float(const void *src, float *dst, int64_t n)                   \
    { to_float_quantized(TYPE, src, dst, n); }                                                 \
    AVX2 static float name##_dot(const void *w, const float *x, int64_t n)                     \
    { return dot_quantized(TYPE, w, x, n); }                                                   \
    AVX2 static void name##_dot4(const void *w, const float *x, int64_t s, int64_t n, float o[4]) \
    { dot4_quantized(TYPE, w, x, s, n, o); }

FLOAT_LIKE_KERNELS(f32, TYPE_F32)
FLOAT_LIKE_KERNELS(f16, TYPE_F16)
FLOAT_LIKE_KERNELS(bf16, TYPE_BF16)
QUANTIZED_KERNELS(q8_0, TYPE_Q8_0)
QUANTIZED_KERNELS(q4_0, TYPE_Q4_0)

/* ==== Int8 activations: Q8_0 blocks ==== */

/* Activations into Q8_0 blocks, bit for bit as the reference quantizer: d = amax / 127 and
 * q = roundf(x / d), whose halves round away from zero (vroundps has no such mode, so the
 * rounding is done by hand: truncate, then step away from zero where the rest is >= 1/2). */
AVX2 void avx2_quantize_q8_0(const float *x, void *dst, int64_t n)
{
    const __m256 sign_bit = _mm256_set1_ps(-0.0f), half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
    block_q8_0 *block = dst;
    for (int64_t b = 0; b < n / 32; b++, block++, x += 32) {
        __m256 v[4], amax = _mm256_setzero_ps();
        for (int k = 0; k < 4; k++) {
            v[k] = _mm256_loadu_ps(x + 8 * k);
            amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign_bit, v[k]));
        }
        __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
        m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        m = _mm_max_ss(m, _mm_movehdup_ps(m));
        const float d = _mm_cvtss_f32(m) / 127, id = d != 0 ? 1 / d : 0;
        block->d = fp32_to_fp16(d);
        const __m256 scale = _mm256_set1_ps(id);
        __m256i q[4];
        for (int k = 0; k < 4; k++) {
            __m256 y = _mm256_mul_ps(v[k], scale);
            __m256 t = _mm256_round_ps(y, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
            __m256 away = _mm256_cmp_ps(_mm256_andnot_ps(sign_bit, _mm256_sub_ps(y, t)), half, _CMP_GE_OQ);
            __m256 step = _mm256_or_ps(_mm256_and_ps(y, sign_bit), one);     /* +-1 with y's sign */
            q[k] = _mm256_cvtps_epi32(_mm256_add_ps(t, _mm256_and_ps(away, step)));
        }
        /* 32 int32 -> 32 int8; the packs work per 128-bit lane, the permute restores the order */
        __m256i q16a = _mm256_packs_epi32(q[0], q[1]), q16b = _mm256_packs_epi32(q[2], q[3]);
        __m256i q8 = _mm256_packs_epi16(q16a, q16b);
        q8 = _mm256_permutevar8x32_epi32(q8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)block->qs, q8);
    }
}

/* ---- The dot of one weight block with one activation block, in integers ----
 *
 * Every (weight row, activation row) pair is summed the same way by vec_dot, vec_dot4 and
 * vec_dot_rows4, so each kernel gives the others' bits:
 *   - block b gives two exact int32 sums, A_b over elements 0-15 and B_b over 16-31;
 *   - four accumulators per half, by b mod 4: acc[b % 4] = fma(A_b, d_b, acc[b % 4]) with
 *     d_b = the weight scale times the activation scale (the same for B_b);
 *   - the result is ((a0 + a1) + (a2 + a3)) + ((b0 + b1) + (b2 + b3)).
 * Four blocks (of one row, or of four rows or tokens) share one vector: their eight half sums,
 * eight scales and eight accumulators are the lanes [A0 A1 A2 A3 | B0 B1 B2 B3], so a block costs
 * a quarter of a conversion and an FMA, and four FMA chains are in flight. */

/* The 32 quants of a Q4_0 block as unsigned nibbles, in element order: the 16 bytes in both
 * halves, the upper half shifted right by 4, so the low half holds elements 0-15 (low nibbles)
 * and the upper half 16-31 (high nibbles). */
AVX2 INLINE __m256i q4_0_nibbles(const block_q4_0 *b)
{
    __m256i bytes = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)b->qs));
    return _mm256_and_si256(_mm256_srlv_epi64(bytes, _mm256_setr_epi64x(0, 0, 4, 4)), _mm256_set1_epi8(0x0f));
}

AVX2 INLINE __m256i q8_0_quants(const block_q8_0 *b) { return _mm256_loadu_si256((const __m256i *)b->qs); }

/* Sixteen int16 sums of adjacent products w[j] x[j] + w[j+1] x[j+1]. vpmaddubsw multiplies
 * unsigned by signed bytes. Q4_0: the nibbles q are unsigned and w = q - 8, so the products are
 * q x - 8 x (each pair within +-2 * 15 * 127, and the difference within +-2 * 8 * 128); the
 * 8 x term depends on the activations only and is shared by every row of a vec_dot_rows4.
 * Q8_0: w's sign moves onto x (|w| * sign(w) x = w x); a pair is at most 2 * 128 * 127. */
AVX2 INLINE __m256i q4_0_pairs(const block_q4_0 *w, __m256i x)
{
    return _mm256_sub_epi16(_mm256_maddubs_epi16(q4_0_nibbles(w), x),
                            _mm256_maddubs_epi16(_mm256_set1_epi8(8), x));
}

AVX2 INLINE __m256i q8_0_pairs(const block_q8_0 *w, __m256i x)
{
    __m256i q = q8_0_quants(w);
    return _mm256_maddubs_epi16(_mm256_sign_epi8(q, q), _mm256_sign_epi8(x, q));
}

/* Four blocks' pair sums -> [A0 A1 A2 A3 | B0 B1 B2 B3] as floats (exact: |A| < 2^24). Each
 * block's pairs become four int32 per 128-bit half (vpmaddwd), then the four blocks' quadruples
 * are summed by a transpose: unpacks and adds, which keep elements 0-15 and 16-31 apart as every
 * step stays within its half. (Three vphaddd did the same in fewer instructions but more uops:
 * the unpacks measured 6 % faster for a whole Q4_0 row dot kept in L2, on a Zen 3.) */
AVX2 INLINE __m256 half_sums4(__m256i p0, __m256i p1, __m256i p2, __m256i p3)
{
    const __m256i ones = _mm256_set1_epi16(1);
    const __m256i m0 = _mm256_madd_epi16(p0, ones), m1 = _mm256_madd_epi16(p1, ones);
    const __m256i m2 = _mm256_madd_epi16(p2, ones), m3 = _mm256_madd_epi16(p3, ones);
    /* [m0_0+m0_2, m1_0+m1_2, m0_1+m0_3, m1_1+m1_3], and the same for blocks 2 and 3 */
    const __m256i s01 = _mm256_add_epi32(_mm256_unpacklo_epi32(m0, m1), _mm256_unpackhi_epi32(m0, m1));
    const __m256i s23 = _mm256_add_epi32(_mm256_unpacklo_epi32(m2, m3), _mm256_unpackhi_epi32(m2, m3));
    return _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_unpacklo_epi64(s01, s23), _mm256_unpackhi_epi64(s01, s23)));
}

/* Four fp16 scales, converted together */
AVX2 INLINE __m128 halves_to_float4(uint16_t a, uint16_t b, uint16_t c, uint16_t d)
{
    return _mm_cvtph_ps(_mm_setr_epi16((short)a, (short)b, (short)c, (short)d, 0, 0, 0, 0));
}

/* The four products of weight and activation scales, in both halves: [d0 d1 d2 d3 | d0 d1 d2 d3] */
AVX2 INLINE __m256 scales4(__m128 w, __m128 x)
{
    __m128 d = _mm_mul_ps(w, x);
    return _mm256_set_m128(d, d);
}

/* ((a0 + a1) + (a2 + a3)) + ((b0 + b1) + (b2 + b3)) of the accumulators of one pair, given as
 * the vector sum s = (acc0 + acc1) + (acc2 + acc3) and the lane r of the pair */
AVX2 INLINE float finish(__m256 s, int r)
{
    float lanes[8];
    _mm256_storeu_ps(lanes, s);
    return lanes[r] + lanes[r + 4];
}

/* vec_dot_rows4 reads four rows at once: four streams, each 0.4-6 KB long, which the hardware
 * prefetcher picks up late at every new group of rows (measured with two threads on a 400 MB
 * matrix: 15-30% slower than one row at a time). The four rows are contiguous, and so is the
 * next group, so while a group is multiplied the next one is prefetched into L2 in one
 * ascending sweep, at the pace the group is consumed: a single stream again, one group ahead.
 * (Prefetching each row 512 bytes ahead instead was still slower than one row at a time for
 * rows of 2048 weights.) */
#define INT8_KERNELS(name, block_type, pairs)                                                     \
    /* the four accumulators by b mod 4 are the lanes of one vector, so four consecutive blocks  \
     * take one FMA; the last n/32 mod 4 blocks go into their lanes one at a time */              \
    AVX2 float avx2_##name##_vec_dot(const void *w, const void *xq, int64_t n)                    \
    {                                                                                             \
        const block_type *wb = w;                                                                 \
        const block_q8_0 *xb = xq;                                                                \
        const int64_t nb = n / 32;                                                                \
        __m256 acc = _mm256_setzero_ps();                                                         \
        int64_t b = 0;                                                                            \
        for (; b + 4 <= nb; b += 4) {                                                             \
            __m256 s = half_sums4(pairs(&wb[b], q8_0_quants(&xb[b])),                             \
                                  pairs(&wb[b + 1], q8_0_quants(&xb[b + 1])),                     \
                                  pairs(&wb[b + 2], q8_0_quants(&xb[b + 2])),                     \
                                  pairs(&wb[b + 3], q8_0_quants(&xb[b + 3])));                    \
            __m256 d = scales4(halves_to_float4(wb[b].d, wb[b + 1].d, wb[b + 2].d, wb[b + 3].d),  \
                               halves_to_float4(xb[b].d, xb[b + 1].d, xb[b + 2].d, xb[b + 3].d)); \
            acc = _mm256_fmadd_ps(s, d, acc);                                                     \
        }                                                                                         \
        for (; b < nb; b++) {                                                                     \
            const __m256i p = pairs(&wb[b], q8_0_quants(&xb[b]));                                 \
            __m256 s = half_sums4(p, p, p, p);                                                    \
            __m256 d = _mm256_set1_ps(_cvtsh_ss(wb[b].d) * _cvtsh_ss(xb[b].d));                   \
            const __m256 lane = _mm256_castsi256_ps(_mm256_cmpeq_epi32(                           \
                _mm256_setr_epi32(0, 1, 2, 3, 0, 1, 2, 3), _mm256_set1_epi32((int)(b % 4))));     \
            acc = _mm256_blendv_ps(acc, _mm256_fmadd_ps(s, d, acc), lane);                        \
        }                                                                                         \
        /* (acc0 + acc1) + (acc2 + acc3) in lanes 0 and 4 */                                      \
        __m256 sum01 = _mm256_add_ps(acc, _mm256_permute_ps(acc, _MM_SHUFFLE(2, 3, 0, 1)));       \
        return finish(_mm256_add_ps(sum01, _mm256_permute_ps(sum01, _MM_SHUFFLE(1, 0, 3, 2))), 0); \
    }                                                                                             \
    /* block b of four tokens: lane t holds token t's sums; the weight block is loaded once */    \
    AVX2 INLINE __m256 name##_tokens_step(const block_type *w, const block_q8_0 *const x[4],      \
                                          int64_t b, __m256 acc)                                  \
    {                                                                                             \
        __m256 s = half_sums4(pairs(&w[b], q8_0_quants(&x[0][b])), pairs(&w[b], q8_0_quants(&x[1][b])), \
                              pairs(&w[b], q8_0_quants(&x[2][b])), pairs(&w[b], q8_0_quants(&x[3][b]))); \
        __m256 d = scales4(_mm_set1_ps(_cvtsh_ss(w[b].d)),                                        \
                           halves_to_float4(x[0][b].d, x[1][b].d, x[2][b].d, x[3][b].d));         \
        return _mm256_fmadd_ps(s, d, acc);                                                        \
    }                                                                                             \
    AVX2 void avx2_##name##_vec_dot4(const void *w, const void *xq, size_t x_stride, int64_t n,   \
                                     float out[4])                                                \
    {                                                                                             \
        const block_q8_0 *x[4];                                                                   \
        for (int t = 0; t < 4; t++) x[t] = (const block_q8_0 *)((const char *)xq + t * x_stride); \
        __m256 acc[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps() }; \
        int64_t b = 0;                                                                            \
        for (; b + 4 <= n / 32; b += 4)                                                           \
            for (int k = 0; k < 4; k++) acc[k] = name##_tokens_step(w, x, b + k, acc[k]);         \
        for (int k = 0; b + k < n / 32; k++) acc[k] = name##_tokens_step(w, x, b + k, acc[k]);    \
        const __m256 sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])); \
        for (int t = 0; t < 4; t++) out[t] = finish(sum, t);                                      \
    }                                                                                             \
    /* block b of four weight rows: lane r holds row r's sums; the activation block is loaded    \
     * once for the four rows */                                                                  \
    AVX2 INLINE __m256 name##_rows_step(const block_type *const w[4], const block_q8_0 *x,        \
                                        int64_t b, __m256 acc)                                    \
    {                                                                                             \
        const __m256i xb = q8_0_quants(&x[b]);                                                    \
        __m256 s = half_sums4(pairs(&w[0][b], xb), pairs(&w[1][b], xb), pairs(&w[2][b], xb),      \
                              pairs(&w[3][b], xb));                                               \
        __m256 d = scales4(halves_to_float4(w[0][b].d, w[1][b].d, w[2][b].d, w[3][b].d),          \
                           _mm_set1_ps(_cvtsh_ss(x[b].d)));                                       \
        return _mm256_fmadd_ps(s, d, acc);                                                        \
    }                                                                                             \
    AVX2 void avx2_##name##_vec_dot_rows4(const void *w, size_t row_bytes, const void *xq,       \
                                          int64_t n, float out[4])                               \
    {                                                                                             \
        const block_type *wr[4];                                                                  \
        for (int r = 0; r < 4; r++) wr[r] = (const block_type *)((const char *)w + r * row_bytes); \
        const block_q8_0 *x = xq;                                                                 \
        __m256 acc[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps() }; \
        int64_t b = 0;                                                                            \
        const uintptr_t next_group = (uintptr_t)w + 4 * row_bytes;                               \
        uintptr_t prefetched = next_group;                                                        \
        for (; b + 4 <= n / 32; b += 4) {                                                         \
            /* as far into the next group as the blocks up to b + 4 are into this one */          \
            const uintptr_t upto = next_group + 4 * (size_t)(b + 4) * sizeof(block_type);         \
            for (; prefetched < upto; prefetched += 64) _mm_prefetch((const char *)prefetched, _MM_HINT_T1); \
            for (int k = 0; k < 4; k++) acc[k] = name##_rows_step(wr, x, b + k, acc[k]);          \
        }                                                                                         \
        for (int k = 0; b + k < n / 32; k++) acc[k] = name##_rows_step(wr, x, b + k, acc[k]);     \
        const __m256 sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])); \
        for (int r = 0; r < 4; r++) out[r] = finish(sum, r);                                      \
    }

INT8_KERNELS(q8_0, block_q8_0, q8_0_pairs)
INT8_KERNELS(q4_0, block_q4_0, q4_0_pairs)

/* ==== The GEMM tile: 16 rows x 6 tokens in 12 accumulators ==== */

/* At each k, two loads bring 16 rows' weights and each token's x[k] is broadcast once: 12 FMAs
 * per 2 loads and 6 broadcasts; 12 + 2 + 1 of the 16 ymm registers. The accumulators are named
 * variables, not an array: GCC spilled the array to the stack at every k. The panel holds fp32,
 * or fp16 (F16 weights), converted as loaded: half the bytes through L2 and L1, and the same sums
 * (the conversion is exact). */
AVX2 INLINE void gemm_tile(const void *panel, int f16, int kc, const float *const *x, float *tile)
{
    const float *x0 = x[0], *x1 = x[1], *x2 = x[2], *x3 = x[3], *x4 = x[4], *x5 = x[5];
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    const float *fp32 = panel;
    const __m128i *fp16 = panel;   /* 8 halves each */
    /* Four steps of k per pass of the loop: GCC 12 leaves it rolled, and its counter, compare and
     * branch then sit between every 12 FMAs (unrolled: prefill 1.04-1.16x on s110M F16 and the
     * TinyLlama shape's F16, about 1.0-1.08x on F32, in interleaved pairs on a Zen 3). */
#pragma GCC unroll 4
    for (int k = 0; k < kc; k++) {
        const __m256 w0 = f16 ? _mm256_cvtph_ps(_mm_loadu_si128(fp16 + 2 * k)) : _mm256_loadu_ps(fp32 + k * 16);
        const __m256 w1 = f16 ? _mm256_cvtph_ps(_mm_loadu_si128(fp16 + 2 * k + 1)) : _mm256_loadu_ps(fp32 + k * 16 + 8);
        __m256 xk;
#define TOKEN(t) xk = _mm256_broadcast_ss(x##t + k);                                              \
                 c##t##0 = _mm256_fmadd_ps(xk, w0, c##t##0);                                    \
                 c##t##1 = _mm256_fmadd_ps(xk, w1, c##t##1);
        TOKEN(0) TOKEN(1) TOKEN(2) TOKEN(3) TOKEN(4) TOKEN(5)
#undef TOKEN
    }
#define STORE(t) _mm256_storeu_ps(tile + t * 16, c##t##0); _mm256_storeu_ps(tile + t * 16 + 8, c##t##1);
    STORE(0) STORE(1) STORE(2) STORE(3) STORE(4) STORE(5)
#undef STORE
}

AVX2 static void gemm_tile_16x6(const float *panel, int kc, const float *const *x, float *tile)
{
    gemm_tile(panel, 0, kc, x, tile);
}

AVX2 static void gemm_tile_16x6_f16(const uint16_t *panel, int kc, const float *const *x, float *tile)
{
    gemm_tile(panel, 1, kc, x, tile);
}

/* ==== Attention's product (kernel_set.h): up to 6 rows x 16 columns in 12 accumulators ==== */

/* The shape of the GEMM tile, for the same reason: an FMA has a latency of 4-5 cycles and two
 * issue each cycle, so 8-10 independent sums must be in flight; 4 rows x 16 (8 sums) ran at half
 * the FMA peak, 6 x 16 at three quarters of it. m is a constant in each case of the switch, so the
 * loops over u unroll and the arrays become registers. */
AVX2 INLINE void product_rows(const int m, int n, const float *const a[], size_t a_step, const float *b,
                              size_t b_step, float *c, size_t c_step)
{
    __m256 lo[ATTN_PRODUCT_ROWS], hi[ATTN_PRODUCT_ROWS];
#pragma GCC unroll 6
    for (int u = 0; u < m; u++) {
        lo[u] = _mm256_loadu_ps(c + u * c_step);
        hi[u] = _mm256_loadu_ps(c + u * c_step + 8);
    }
    for (int p = 0; p < n; p++) {
        const __m256 b0 = _mm256_loadu_ps(b + p * b_step), b1 = _mm256_loadu_ps(b + p * b_step + 8);
#pragma GCC unroll 6
        for (int u = 0; u < m; u++) {
            const __m256 x = _mm256_broadcast_ss(a[u] + p * a_step);
            lo[u] = _mm256_fmadd_ps(x, b0, lo[u]);
            hi[u] = _mm256_fmadd_ps(x, b1, hi[u]);
        }
    }
#pragma GCC unroll 6
    for (int u = 0; u < m; u++) {
        _mm256_storeu_ps(c + u * c_step, lo[u]);
        _mm256_storeu_ps(c + u * c_step + 8, hi[u]);
    }
}

AVX2 void avx2_attention_product(int m, int n, const float *const a[], size_t a_step, const float *b,
                                 size_t b_step, float *c, size_t c_step)
{
    switch (m) {
    case 6: product_rows(6, n, a, a_step, b, b_step, c, c_step); break;
    case 5: product_rows(5, n, a, a_step, b, b_step, c, c_step); break;
    case 4: product_rows(4, n, a, a_step, b, b_step, c, c_step); break;
    case 3: product_rows(3, n, a, a_step, b, b_step, c, c_step); break;
    case 2: product_rows(2, n, a, a_step, b, b_step, c, c_step); break;
    default: product_rows(1, n, a, a_step, b, b_step, c, c_step); break;
    }
}

/* ==== Decode's scores (kernel_set.h): eight keys at once ==== */

/* The partial sums of one key: lane i sums the elements d = i mod 8 of the whole chunks (a
 * multiply, then an add: the order and roundings of the scalar set, not a fused multiply-add). */
AVX2 INLINE __m256 key_partials(const float *q, const float *key, int chunks)
{
    __m256 part = _mm256_setzero_ps();
    for (int c = 0; c < chunks; c++)
        part = _mm256_add_ps(part, _mm256_mul_ps(_mm256_loadu_ps(q + 8 * c), _mm256_loadu_ps(key + 8 * c)));
    return part;
}

AVX2 void avx2_attention_scores(const float *q, const float *k, size_t k_step, int n, int head_dim, float scale,
                                float *score)
{
    const int chunks = head_dim / 8;
    int j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 p[8];
        for (int u = 0; u < 8; u++)
            p[u] = key_partials(q, k + (size_t)(j + u) * k_step, chunks);
        /* Transposed sums, four keys at a time: reduce_rows4 is the scalar set's tree, key by key. */
        __m256 s = _mm256_set_m128(reduce_rows4(p[4], p[5], p[6], p[7]), reduce_rows4(p[0], p[1], p[2], p[3]));
        if (head_dim % 8) {   /* the last terms one by one, as the scalar set adds them */
            float lanes[8];
            _mm256_storeu_ps(lanes, s);
            for (int u = 0; u < 8; u++)
                for (int d = 8 * chunks; d < head_dim; d++)
                    lanes[u] = lanes[u] + q[d] * k[(size_t)(j + u) * k_step + d];
            s = _mm256_loadu_ps(lanes);
        }
        _mm256_storeu_ps(score + j, _mm256_mul_ps(s, _mm256_set1_ps(scale)));
    }
    for (; j < n; j++) {   /* the last n mod 8 keys, each on its own */
        const float *key = k + (size_t)j * k_step;
        float s = reduce_row(key_partials(q, key, chunks));
        for (int d = 8 * chunks; d < head_dim; d++)
            s = s + q[d] * key[d];
        score[j] = s * scale;
    }
}

/* ==== Packing rows into GEMM panels ==== */

/* v[i] = row i's 8 values -> v[k] = the 8 rows' value k: pairs, then quads, then 128-bit halves. */
AVX2 INLINE void transpose8(__m256 v[8])
{
    __m256 t[8], s[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(v[i], v[i + 1]);       /* a0 b0 a1 b1 | a4 b4 a5 b5 */
        t[i + 1] = _mm256_unpackhi_ps(v[i], v[i + 1]);   /* a2 b2 a3 b3 | a6 b6 a7 b7 */
    }
    for (int i = 0; i < 8; i += 4) {
        s[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);       /* a0 b0 c0 d0 | a4 b4 c4 d4 */
        s[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);   /* a1 b1 c1 d1 | a5 b5 c5 d5 */
        s[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        s[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
    }
    for (int k = 0; k < 4; k++) {
        v[k] = _mm256_permute2f128_ps(s[k], s[k + 4], 0x20);       /* rows a-d, then e-h, of k */
        v[k + 4] = _mm256_permute2f128_ps(s[k], s[k + 4], 0x31);   /* the same of k + 4 */
    }
}

/* Values k .. k+7 of a stored row (k a multiple of 8) as fp32, as its to_float gives them: for
 * Q8_0 and Q4_0, the quarter of a block that q8_0_unpack / q4_0_unpack put in q[k % 32 / 8]. */
AVX2 INLINE __m256 load8_any(int type, const void *row, int64_t k)
{
    if (type != TYPE_Q8_0 && type != TYPE_Q4_0)
        return load8(type, row, k);
    const int quarter = (int)(k % 32 / 8);
    if (type == TYPE_Q8_0) {
        const block_q8_0 *b = (const block_q8_0 *)row + k / 32;
        return _mm256_mul_ps(_mm256_cvtepi32_ps(widen8_signed(b->qs + 8 * quarter)), block_scale(b));
    }
    const block_q4_0 *b = (const block_q4_0 *)row + k / 32;
    const __m256i bytes = widen8_unsigned(b->qs + 8 * (quarter & 1));
    const __m256i nibbles = quarter < 2 ? _mm256_and_si256(bytes, _mm256_set1_epi32(0x0f))   /* elements 0-15 */
                                        : _mm256_srli_epi32(bytes, 4);                        /* 16-31 */
    return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(nibbles, _mm256_set1_epi32(8))), block_scale(b));
}

/* gemm.c's pack, straight from the stored rows: 8 rows x 8 columns converted in registers and
 * transposed, instead of dequantizing each row into a buffer and copying it out one float at a
 * time (4-9 % of the CPU samples of an F32/F16 prefill). The same floats as to_float, so the
 * same GEMM. */
AVX2 int avx2_pack_rows(int type, const void *first_row, size_t row_bytes, int64_t k0, int kc, int rows,
                         float *panel)
{
    const int quantized = type == TYPE_Q8_0 || type == TYPE_Q4_0;
    if ((type != TYPE_F32 && type != TYPE_F16 && type != TYPE_BF16 && !quantized) || kc % 8 != 0 || rows % 8 != 0 ||
        (quantized && k0 % 32 != 0))
        return 0;
    for (int k = 0; k < kc; k += 8)
        for (int r0 = 0; r0 < rows; r0 += 8) {
            __m256 v[8];
            for (int i = 0; i < 8; i++)
                v[i] = load8_any(type, (const char *)first_row + (size_t)(r0 + i) * row_bytes, k0 + k);
            transpose8(v);
            for (int i = 0; i < 8; i++)
                _mm256_storeu_ps(panel + (size_t)(k + i) * rows + r0, v[i]);
        }
    return 1;
}

/* ==== Q8_0/Q4_0 weights into the int8 GEMMs' panels (kernels/int8_panel.h) ==== */

/* Block b of a Q8_0 or Q4_0 row as 32 signed weights (Q4_0: low nibbles are weights 0-15, high
 * nibbles 16-31, each minus 8), and its scale. */
AVX2 INLINE __m256i int8_block(int type, const void *row, int64_t b, float *d)
{
    if (type == TYPE_Q8_0) {
        const block_q8_0 *block = (const block_q8_0 *)row + b;
        *d = fp16_to_fp32(block->d);
        return _mm256_loadu_si256((const __m256i *)block->qs);
    }
    const block_q4_0 *block = (const block_q4_0 *)row + b;
    *d = fp16_to_fp32(block->d);
    const __m128i bytes = _mm_loadu_si128((const __m128i *)block->qs), low4 = _mm_set1_epi8(0x0f);
    const __m256i nibbles = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(bytes, 4), low4), _mm_and_si128(bytes, low4));
    return _mm256_sub_epi8(nibbles, _mm256_set1_epi8(8));
}

/* Eight rows at a time: their blocks as eight vectors of 8 dwords (4 weights each), transposed,
 * so that vector i holds dword i of the eight rows — one 32-byte half of b[block][h][i]. The
 * rows' weight sums come from the same vectors: vpmaddubsw against ones adds byte pairs,
 * vpmaddwd against ones adds those into each dword's four. */
AVX2 static void pack_int8_panel(const tensor *w, int64_t rb, int nr, int64_t kb, int n_blocks, int8_panel *panel)
{
    const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
    for (int r0 = 0; r0 < INT8_PANEL_ROWS; r0 += 8) {
        const int h = r0 / 16, offset = 4 * (r0 % 16);
        for (int b = 0; b < n_blocks; b++) {
            __m256 v[8];   /* dwords, moved as floats by transpose8 (never computed with) */
            for (int i = 0; i < 8; i++) {
                const int r = r0 + i;
                float d = 0.0f;
                v[i] = r < nr ? _mm256_castsi256_ps(int8_block(w->type, tensor_row(w, rb + r), kb + b, &d))
                              : _mm256_setzero_ps();
                panel->d[b][r] = d;
            }
            transpose8(v);
            __m256i sums = _mm256_setzero_si256();
            for (int i = 0; i < 8; i++) {
                const __m256i quads = _mm256_castps_si256(v[i]);
                _mm256_storeu_si256((__m256i *)&panel->b[b][h][i][offset], quads);
                sums = _mm256_add_epi32(sums, _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, quads), ones16));
            }
            _mm256_storeu_si256((__m256i *)&panel->sum[b][r0], sums);
        }
    }
}

AVX2 void avx2_pack_int8_panels(const tensor *w, int64_t rb, int nr, int64_t kb, int n_blocks, int8_panel *panels)
{
    for (int p = 0; p * INT8_PANEL_ROWS < nr; p++) {
        const int first = p * INT8_PANEL_ROWS, rows = nr - first < INT8_PANEL_ROWS ? nr - first : INT8_PANEL_ROWS;
        pack_int8_panel(w, rb + first, rows, kb, n_blocks, &panels[p]);
    }
}

/* gemm_kernel.pack_f16: F16 rows into an fp16 panel, 8 rows x 8 columns at a time transposed in
 * registers (pairs of 16-bit values, then of 32, then of 64: three rounds of unpacks). */
AVX2 int avx2_pack_f16(const void *first_row, size_t row_bytes, int64_t k0, int kc, int rows, uint16_t *panel)
{
    if (kc % 8 != 0 || rows % 8 != 0)
        return 0;
    for (int k = 0; k < kc; k += 8)
        for (int r0 = 0; r0 < rows; r0 += 8) {
            __m128i v[8], pairs[8], quads[8];
            for (int i = 0; i < 8; i++)
                v[i] = _mm_loadu_si128((const __m128i *)((const char *)first_row + (size_t)(r0 + i) * row_bytes) +
                                       (k0 + k) / 8);
            for (int i = 0; i < 8; i += 2) {   /* rows i, i+1: columns 0-3, then 4-7, interleaved */
                pairs[i] = _mm_unpacklo_epi16(v[i], v[i + 1]);
                pairs[i + 1] = _mm_unpackhi_epi16(v[i], v[i + 1]);
            }
            for (int i = 0; i < 8; i += 4) {   /* rows i .. i+3: columns 0-1, 2-3, 4-5, 6-7 */
                quads[i] = _mm_unpacklo_epi32(pairs[i], pairs[i + 2]);
                quads[i + 1] = _mm_unpackhi_epi32(pairs[i], pairs[i + 2]);
                quads[i + 2] = _mm_unpacklo_epi32(pairs[i + 1], pairs[i + 3]);
                quads[i + 3] = _mm_unpackhi_epi32(pairs[i + 1], pairs[i + 3]);
            }
            for (int j = 0; j < 4; j++) {      /* the 8 rows of columns 2j and 2j+1 */
                uint16_t *column = panel + (size_t)(k + 2 * j) * rows + r0;
                _mm_storeu_si128((__m128i *)column, _mm_unpacklo_epi64(quads[j], quads[j + 4]));
                _mm_storeu_si128((__m128i *)(column + rows), _mm_unpackhi_epi64(quads[j], quads[j + 4]));
            }
        }
    return 1;
}

const kernel_set kernels_avx2 = {
    .name = "avx2",
    .row = {
        [TYPE_F32]  = { .to_float = f32_to_float,  .dot = f32_dot,  .dot4 = f32_dot4,  .dot_rows4 = f32_dot_rows4 },
        [TYPE_F16]  = { .to_float = f16_to_float,  .dot = f16_dot,  .dot4 = f16_dot4,  .dot_rows4 = f16_dot_rows4 },
        [TYPE_BF16] = { .to_float = bf16_to_float, .dot = bf16_dot, .dot4 = bf16_dot4, .dot_rows4 = bf16_dot_rows4 },
        [TYPE_Q8_0] = { .to_float = q8_0_to_float, .from_float = avx2_quantize_q8_0,
                        .dot = q8_0_dot, .dot4 = q8_0_dot4,
                        .vec_dot = avx2_q8_0_vec_dot, .vec_dot4 = avx2_q8_0_vec_dot4,
                        .vec_dot_rows4 = avx2_q8_0_vec_dot_rows4 },
        [TYPE_Q4_0] = { .to_float = q4_0_to_float, .dot = q4_0_dot, .dot4 = q4_0_dot4,
                        .vec_dot = avx2_q4_0_vec_dot, .vec_dot4 = avx2_q4_0_vec_dot4,
                        .vec_dot_rows4 = avx2_q4_0_vec_dot_rows4 },
        KQUANT_ROWS_AVX2,       /* kernels/kquant_rows.h */
    },
    .gemm = { .rows = 16, .tokens = 6, .k_block = 1024, .tile = gemm_tile_16x6, .pack = avx2_pack_rows,
              .tile_f16 = gemm_tile_16x6_f16, .pack_f16 = avx2_pack_f16 },
    .attention_product = avx2_attention_product,
    .attention_scores = avx2_attention_scores,
};

#else
#include "kernels/kernel_set.h"
/* Never supported off x86-64 (kernel_set_supported), so never run; a name for the error message. */
const kernel_set kernels_avx2 = { .name = "avx2" };
#endif /* __x86_64__ */
