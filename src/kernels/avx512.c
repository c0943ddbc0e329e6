/* avx512.c — the AVX-512 (F/BW/VL and VNNI) kernel set.
 *
 * Every function carries its own target attribute, so the library compiles with any -march and
 * still runs on CPUs without AVX-512: a context uses these only when the CPU has them. Against
 * float activations, weights are dequantized in registers and multiplied with fp32 activations;
 * the activations are never rounded (AVX512_BF16's dot instructions would round them to bf16, so
 * they are not used). Against int8 activations (Q8_0 blocks, the fast path) the Q8_0 and Q4_0
 * weights are multiplied in integers with VNNI's vpdpbusd: row by row in decode, as a GEMM on
 * packed panels in prefill (at the end of the file). The activation quantizer and the panel
 * packing are the AVX2 set's, which run unchanged here.
 * Row tails are handled with masked loads, which never touch memory past the row. The kernels are
 * named in avx512.h: the AMX set (amx.c) reuses all of them. */

#if defined(__x86_64__)

#include "kernels/avx512.h"
#include "kernels/int8_panel.h"
#include "kernels/kernel_set.h"
#include "kernels/kquant_rows.h"

#include <immintrin.h>
#include <string.h>

/* No CPU this project is developed on has AVX-512, so tests/test_avx512_emulated.c includes this
 * file after tests/avx512_emulate.h, which defines ATTEND_AVX512_EMULATE and turns the AVX-512
 * intrinsics below into plain C: the set's logic (masks, tails, lane orders) is then tested on any
 * CPU. Only the AVX2/FMA/F16C parts run natively in that build. */
#if defined(ATTEND_AVX512_EMULATE)
#define AVX512 __attribute__((target("avx2,fma,f16c")))
#else
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))
#endif
#define INLINE static inline __attribute__((always_inline))

/* ==== Sixteen weights of a float-like row (F32, F16, BF16) as fp32 ==== */

AVX512 INLINE __m512 load16(int type, const void *w, int64_t i)
{
    if (type == TYPE_F32) return _mm512_loadu_ps((const float *)w + i);
    __m256i h = _mm256_loadu_si256((const __m256i *)((const uint16_t *)w + i));
    if (type == TYPE_F16) return _mm512_cvtph_ps(h);
    /* bf16 is the top half of an fp32 */
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* the weights from i in the lanes of mask (a row's head or tail), the other lanes zero */
AVX512 INLINE __m512 load16_tail(int type, const void *w, int64_t i, __mmask16 mask)
{
    if (type == TYPE_F32) return _mm512_maskz_loadu_ps(mask, (const float *)w + i);
    __m256i h = _mm256_maskz_loadu_epi16(mask, (const uint16_t *)w + i);
    if (type == TYPE_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

AVX512 INLINE __mmask16 tail_mask(int64_t count) { return (__mmask16)((1u << count) - 1); }

/* A load that straddles two cache lines costs two; streaming F32 weights at 32 mod 64 (all GGUF
 * promises) measured 26 GB/s against 44 aligned. So the first few weights, up to the next
 * multiple of one load (64 bytes for F32, 32 for F16/BF16), go through a masked load first. */
AVX512 INLINE int64_t aligning_head(int type, const void *w, int64_t n)
{
    size_t size = type == TYPE_F32 ? 4 : 2, load_bytes = 16 * size;
    int64_t head = (int64_t)(((load_bytes - (uintptr_t)w % load_bytes) % load_bytes) / size);
    return head < n ? head : n;
}

/* Four independent accumulators keep four FMA chains in flight while the weights stream. */
AVX512 INLINE float dot_float_like(int type, const void *w, const float *x, int64_t n)
{
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = aligning_head(type, w, n);
    if (i) {
        __mmask16 m = tail_mask(i);
        a2 = _mm512_fmadd_ps(load16_tail(type, w, 0, m), _mm512_maskz_loadu_ps(m, x), a2);
    }
    for (; i + 64 <= n; i += 64) {
        a0 = _mm512_fmadd_ps(load16(type, w, i), _mm512_loadu_ps(x + i), a0);
        a1 = _mm512_fmadd_ps(load16(type, w, i + 16), _mm512_loadu_ps(x + i + 16), a1);
        a2 = _mm512_fmadd_ps(load16(type, w, i + 32), _mm512_loadu_ps(x + i + 32), a2);
        a3 = _mm512_fmadd_ps(load16(type, w, i + 48), _mm512_loadu_ps(x + i + 48), a3);
    }
    for (; i + 16 <= n; i += 16)
        a0 = _mm512_fmadd_ps(load16(type, w, i), _mm512_loadu_ps(x + i), a0);
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        a1 = _mm512_fmadd_ps(load16_tail(type, w, i, m), _mm512_maskz_loadu_ps(m, x + i), a1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

/* Each 16 weights are loaded once and used for four activation rows: two accumulators per row. */
AVX512 INLINE void dot4_float_like(int type, const void *w, const float *x, int64_t stride,
                                   int64_t n, float out[4])
{
    const float *xr[4] = { x, x + stride, x + 2 * stride, x + 3 * stride };
    __m512 lo[4], hi[4];
    for (int r = 0; r < 4; r++) lo[r] = hi[r] = _mm512_setzero_ps();
    int64_t i = aligning_head(type, w, n);
    if (i) {
        __mmask16 m = tail_mask(i);
        __m512 w0 = load16_tail(type, w, 0, m);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) hi[r] = _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(m, xr[r]), hi[r]);
    }
    for (; i + 32 <= n; i += 32) {
        __m512 w0 = load16(type, w, i), w1 = load16(type, w, i + 16);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            lo[r] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(xr[r] + i), lo[r]);
            hi[r] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(xr[r] + i + 16), hi[r]);
        }
    }
    for (; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : tail_mask(n - i);
        __m512 w0 = load16_tail(type, w, i, m);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++)
            lo[r] = _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(m, xr[r] + i), lo[r]);
    }
    for (int r = 0; r < 4; r++) out[r] = _mm512_reduce_add_ps(_mm512_add_ps(lo[r], hi[r]));
}

AVX512 INLINE void to_float_float_like(int type, const void *src, float *dst, int64_t n)
{
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, load16(type, src, i));
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(dst + i, m, load16_tail(type, src, i, m));
    }
}

/* ==== A quantized block as fp32: 32 quants in two registers, and the scale ==== */

/* The fp16 scale at the start of a block, broadcast. Converting straight from memory (8 bytes,
 * all inside the block; only the first half is kept) saves a move and measured a few % faster. */
AVX512 INLINE __m512 block_scale(const void *block)
{
    return _mm512_broadcastss_ps(_mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)block)));
}

/* Q8_0: sign-extend the int8 quants to int32 and convert. */
AVX512 INLINE void q8_0_unpack(const block_q8_0 *b, __m512 *lo, __m512 *hi)
{
    *lo = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)b->qs)));
    *hi = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(b->qs + 16))));
}

/* Q4_0: widen the 16 bytes to one per 32-bit lane. vpermps looks up only the low 4 bits of each
 * index, so the low nibble (element j) indexes a table of q - 8 directly; shifting by 4 exposes
 * the high nibble (element j + 16). No mask, convert or subtract needed. */
AVX512 INLINE void q4_0_unpack(const block_q4_0 *b, __m512 *lo, __m512 *hi)
{
    const __m512 q_minus_8 = _mm512_setr_ps(-8, -7, -6, -5, -4, -3, -2, -1,
                                            0, 1, 2, 3, 4, 5, 6, 7);
    __m512i bytes = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)b->qs));
    *lo = _mm512_permutexvar_ps(bytes, q_minus_8);
    *hi = _mm512_permutexvar_ps(_mm512_srli_epi32(bytes, 4), q_minus_8);
}

AVX512 INLINE void unpack(int type, const void *blocks, int64_t b, __m512 *lo, __m512 *hi,
                          __m512 *d)
{
    if (type == TYPE_Q8_0) {
        const block_q8_0 *block = (const block_q8_0 *)blocks + b;
        q8_0_unpack(block, lo, hi);
        *d = block_scale(block);
    } else {
        const block_q4_0 *block = (const block_q4_0 *)blocks + b;
        q4_0_unpack(block, lo, hi);
        *d = block_scale(block);
    }
}

/* acc += d * (q . x) for one block: the scale is applied once to the block's partial sum. */
AVX512 INLINE __m512 block_fma(int type, const void *blocks, int64_t b, const float *x, __m512 acc)
{
    __m512 lo, hi, d;
    unpack(type, blocks, b, &lo, &hi, &d);
    __m512 partial = _mm512_mul_ps(lo, _mm512_loadu_ps(x + 32 * b));
    partial = _mm512_fmadd_ps(hi, _mm512_loadu_ps(x + 32 * b + 16), partial);
    return _mm512_fmadd_ps(d, partial, acc);
}

AVX512 INLINE float dot_quantized(int type, const void *w, const float *x, int64_t n)
{
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t nb = n / 32, b = 0;
    for (; b + 4 <= nb; b += 4) {
        a0 = block_fma(type, w, b, x, a0);
        a1 = block_fma(type, w, b + 1, x, a1);
        a2 = block_fma(type, w, b + 2, x, a2);
        a3 = block_fma(type, w, b + 3, x, a3);
    }
    for (; b < nb; b++) a0 = block_fma(type, w, b, x, a0);
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

/* For four rows the block is dequantized once (q * d) and shared by eight FMA chains. */
AVX512 INLINE void dot4_quantized(int type, const void *w, const float *x, int64_t stride,
                                  int64_t n, float out[4])
{
    const float *xr[4] = { x, x + stride, x + 2 * stride, x + 3 * stride };
    __m512 lo_acc[4], hi_acc[4];
    for (int r = 0; r < 4; r++) lo_acc[r] = hi_acc[r] = _mm512_setzero_ps();
    for (int64_t b = 0; b < n / 32; b++) {
        __m512 lo, hi, d;
        unpack(type, w, b, &lo, &hi, &d);
        lo = _mm512_mul_ps(lo, d);
        hi = _mm512_mul_ps(hi, d);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            lo_acc[r] = _mm512_fmadd_ps(lo, _mm512_loadu_ps(xr[r] + 32 * b), lo_acc[r]);
            hi_acc[r] = _mm512_fmadd_ps(hi, _mm512_loadu_ps(xr[r] + 32 * b + 16), hi_acc[r]);
        }
    }
    for (int r = 0; r < 4; r++) out[r] = _mm512_reduce_add_ps(_mm512_add_ps(lo_acc[r], hi_acc[r]));
}

AVX512 INLINE void to_float_quantized(int type, const void *src, float *dst, int64_t n)
{
    for (int64_t b = 0; b < n / 32; b++) {
        __m512 lo, hi, d;
        unpack(type, src, b, &lo, &hi, &d);
        _mm512_storeu_ps(dst + 32 * b, _mm512_mul_ps(lo, d));
        _mm512_storeu_ps(dst + 32 * b + 16, _mm512_mul_ps(hi, d));
    }
}

/* ==== The kernels, one set per type ==== */

#define FLOAT_LIKE_KERNELS(name, TYPE)                                                         \
    AVX512 void avx512_##name##_to_float(const void *src, float *dst, int64_t n)               \
    { to_float_float_like(TYPE, src, dst, n); }                                                \
    AVX512 float avx512_##name##_dot(const void *w, const float *x, int64_t n)                 \
    { return dot_float_like(TYPE, w, x, n); }                                                  \
    AVX512 void avx512_##name##_dot4(const void *w, const float *x, int64_t s, int64_t n, float o[4]) \
    { dot4_float_like(TYPE, w, x, s, n, o); }

#define QUANTIZED_KERNELS(name, TYPE)                                                          \
    AVX512 void avx512_##name##_to_float(const void *src, float *dst, int64_t n)               \
    { to_float_quantized(TYPE, src, dst, n); }                                                 \
    AVX512 float avx512_##name##_dot(const void *w, const float *x, int64_t n)                 \
    { return dot_quantized(TYPE, w, x, n); }                                                   \
    AVX512 void avx512_##name##_dot4(const void *w, const float *x, int64_t s, int64_t n, float o[4]) \
    { dot4_quantized(TYPE, w, x, s, n, o); }

FLOAT_LIKE_KERNELS(f32, TYPE_F32)
FLOAT_LIKE_KERNELS(f16, TYPE_F16)
FLOAT_LIKE_KERNELS(bf16, TYPE_BF16)
QUANTIZED_KERNELS(q8_0, TYPE_Q8_0)
QUANTIZED_KERNELS(q4_0, TYPE_Q4_0)

/* ==== Int8 activations (Q8_0 blocks): integer dot products with AVX512-VNNI ====
 *
 * vpdpbusd adds to each 32-bit lane the four products of an unsigned byte of one operand and a
 * signed byte of the other, exactly. Weights and activations are both signed, so the weights are
 * made unsigned by an offset c: w + 128 (w xor 0x80) for Q8_0, and Q4_0's nibbles already are
 * q = w + 8. Then sum (w + c) x = sum w x + c sum x, and c sum x depends on the activations only:
 * it is computed once per activation block (a vpdpbusd with the constant c) and starts, negated,
 * every accumulator against that block, so one vpdpbusd per weight block leaves sum w x. This is
 * exact for every int8 on both sides. (The other usual trick, |w| times x with w's sign, needs
 * vpsignb, which has no 512-bit form, and negates x, which wraps for -128.)
 *
 * A register holds two blocks (64 quants): its lanes are eight partial sums of each. For four dot
 * products (vec_dot4: one weight row, four tokens; vec_dot_rows4: four rows, one token) over four
 * blocks, eight registers reduce to one whose quarter k holds block k's int32 sums, lane i dot
 * product i's. Each block's sum is exact, and the float part is the scalar set's,
 *     sum = sum + (float)s_b * (d_w * d_x),       blocks in order from sum = 0,
 * (d_w * d_x, a product of two fp16, is exact; two roundings per block), so every kernel here gives
 * scalar.c's vec_dot bits, vec_dot4 and vec_dot_rows4 give vec_dot's, and decode gives the bits of
 * the AMX set's prefill GEMM. In that order a dot product's adds are one dependent chain; four dot
 * products run in the lanes of one vector, a block one add for the four. The adds must not become
 * FMAs (-std=c11 implies -ffp-contract=off). */

/* Blocks b0 and b1 of a Q8_0 row, their 32 quants each, in one register */
AVX512 INLINE __m512i q8_0_pair(const block_q8_0 *row, int64_t b0, int64_t b1)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)row[b0].qs)),
                              _mm256_loadu_si256((const __m256i *)row[b1].qs), 1);
}

/* Two blocks of weights as unsigned bytes w + c. Q4_0: each block's 16 bytes twice (b0 in the
 * lower two 128-bit quarters, b1 in the upper), the second copy shifted right by 4 to bring the
 * high nibbles (elements 16-31) down, then 4 bits kept: the 32 elements of each block in order. */
AVX512 INLINE __m512i weight_pair(int type, const void *row, int64_t b0, int64_t b1)
{
    if (type == TYPE_Q8_0)
        return _mm512_xor_si512(q8_0_pair(row, b0, b1), _mm512_set1_epi8((char)0x80));
    const block_q4_0 *blocks = row;
    __m512i bytes = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)blocks[b0].qs));
    bytes = _mm512_mask_broadcast_i32x4(bytes, 0xff00, _mm_loadu_si128((const __m128i *)blocks[b1].qs));
    bytes = _mm512_mask_srli_epi64(bytes, 0xcc, bytes, 4);
    return _mm512_and_si512(bytes, _mm512_set1_epi8(0x0f));
}

AVX512 INLINE uint16_t weight_scale(int type, const void *row, int64_t b)
{
    return type == TYPE_Q8_0 ? ((const block_q8_0 *)row)[b].d : ((const block_q4_0 *)row)[b].d;
}

/* -c times each lane's four activations: where an accumulator against x starts */
AVX512 INLINE __m512i offset_correction(int type, __m512i x)
{
    const __m512i c = _mm512_set1_epi8(type == TYPE_Q8_0 ? (char)0x80 : 8), zero = _mm512_setzero_si512();
    return _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, c, x));
}

/* sum w x of two blocks of weights and activations, as eight partial sums each */
AVX512 INLINE __m512i pair_dot(int type, const void *row, int64_t b0, int64_t b1, __m512i x, __m512i start)
{
    return _mm512_dpbusd_epi32(start, weight_pair(type, row, b0, b1), x);
}

/* Lane 4q + i: the sum of p_i's lanes 4q .. 4q+3 (its 128-bit quarter q) */
AVX512 INLINE __m512i quarter_sums(__m512i p0, __m512i p1, __m512i p2, __m512i p3)
{
    const __m512i s01 = _mm512_add_epi32(_mm512_unpacklo_epi32(p0, p1), _mm512_unpackhi_epi32(p0, p1));
    const __m512i s23 = _mm512_add_epi32(_mm512_unpacklo_epi32(p2, p3), _mm512_unpackhi_epi32(p2, p3));
    return _mm512_add_epi32(_mm512_unpacklo_epi64(s01, s23), _mm512_unpackhi_epi64(s01, s23));
}

/* quarter_sums of two blocks each (quarters 0-1 the first block, 2-3 the second), for blocks
 * 0-1 (a) and 2-3 (b): quarter k of the result is block k's four sums */
AVX512 INLINE __m512i block_sums(__m512i a, __m512i b)
{
    return _mm512_add_epi32(_mm512_shuffle_i32x4(a, b, _MM_SHUFFLE(2, 0, 2, 0)),
                            _mm512_shuffle_i32x4(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
}

/* (float)sums * (d_w * d_x), lane by lane, from sixteen fp16 scales of each side */
AVX512 INLINE __m512 scaled(__m512i sums, const uint16_t dw[16], const uint16_t dx[16])
{
    const __m512 d = _mm512_mul_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)dw)),
                                   _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)dx)));
    return _mm512_mul_ps(_mm512_cvtepi32_ps(sums), d);
}

/* acc + quarter 0, + quarter 1, ... of the first `count` quarters: four dot products, block by block */
AVX512 INLINE __m128 add_blocks_in_order(__m128 acc, __m512 terms, int count)
{
    acc = _mm_add_ps(acc, _mm512_castps512_ps128(terms));
    if (count > 1) acc = _mm_add_ps(acc, _mm512_extractf32x4_ps(terms, 1));
    if (count > 2) acc = _mm_add_ps(acc, _mm512_extractf32x4_ps(terms, 2));
    if (count > 3) acc = _mm_add_ps(acc, _mm512_extractf32x4_ps(terms, 3));
    return acc;
}

/* The blocks of a step from b, `width` of them: b, b+1, ..., the ones past the last of the row's
 * `count` remaining repeat it, so that nothing is read past a row (their sums are not added). */
AVX512 INLINE void step_blocks(int64_t b, int count, int64_t *blk, int width)
{
    for (int k = 0; k < width; k++) blk[k] = b + (k < count ? k : count - 1);
}

/* four weight rows against one token: the activation pair and its correction are shared */
AVX512 INLINE __m128 rows_step(int type, const void *const w[4], const block_q8_0 *x, int64_t b, int count,
                               __m128 acc)
{
    int64_t blk[4];
    step_blocks(b, count, blk, 4);
    const __m512i x01 = q8_0_pair(x, blk[0], blk[1]), x23 = q8_0_pair(x, blk[2], blk[3]);
    const __m512i c01 = offset_correction(type, x01), c23 = offset_correction(type, x23);
    __m512i p01[4], p23[4];
    uint16_t dw[16], dx[16];
    for (int r = 0; r < 4; r++) {
        p01[r] = pair_dot(type, w[r], blk[0], blk[1], x01, c01);
        p23[r] = pair_dot(type, w[r], blk[2], blk[3], x23, c23);
        for (int k = 0; k < 4; k++) dw[4 * k + r] = weight_scale(type, w[r], blk[k]), dx[4 * k + r] = x[blk[k]].d;
    }
    const __m512i sums = block_sums(quarter_sums(p01[0], p01[1], p01[2], p01[3]),
                                    quarter_sums(p23[0], p23[1], p23[2], p23[3]));
    return add_blocks_in_order(acc, scaled(sums, dw, dx), count);
}

/* one weight row against four tokens: the weight pair is loaded once for the four */
AVX512 INLINE __m128 tokens_step(int type, const void *w, const block_q8_0 *const x[4], int64_t b, int count,
                                 __m128 acc)
{
    int64_t blk[4];
    step_blocks(b, count, blk, 4);
    const __m512i w01 = weight_pair(type, w, blk[0], blk[1]), w23 = weight_pair(type, w, blk[2], blk[3]);
    __m512i p01[4], p23[4];
    uint16_t dw[16], dx[16];
    for (int t = 0; t < 4; t++) {
        const __m512i x01 = q8_0_pair(x[t], blk[0], blk[1]), x23 = q8_0_pair(x[t], blk[2], blk[3]);
        p01[t] = _mm512_dpbusd_epi32(offset_correction(type, x01), w01, x01);
        p23[t] = _mm512_dpbusd_epi32(offset_correction(type, x23), w23, x23);
        for (int k = 0; k < 4; k++) dw[4 * k + t] = weight_scale(type, w, blk[k]), dx[4 * k + t] = x[t][blk[k]].d;
    }
    const __m512i sums = block_sums(quarter_sums(p01[0], p01[1], p01[2], p01[3]),
                                    quarter_sums(p23[0], p23[1], p23[2], p23[3]));
    return add_blocks_in_order(acc, scaled(sums, dw, dx), count);
}

/* One dot product, eight blocks a step: pair i holds blocks i and i + 4, so that quarter_sums and
 * block_sums leave block k's sum in lane k. */
AVX512 INLINE float vec_dot(int type, const void *w, const void *xq, int64_t n)
{
    const block_q8_0 *x = xq;
    const int64_t nb = n / 32;
    float sum = 0;
    for (int64_t b = 0; b < nb; b += 8) {
        const int count = nb - b < 8 ? (int)(nb - b) : 8;
        int64_t blk[8];
        step_blocks(b, count, blk, 8);
        __m512i p[4];
        uint16_t dw[16] = {0}, dx[16] = {0};
        for (int i = 0; i < 4; i++) {
            const __m512i xi = q8_0_pair(x, blk[i], blk[i + 4]);
            p[i] = pair_dot(type, w, blk[i], blk[i + 4], xi, offset_correction(type, xi));
        }
        for (int k = 0; k < 8; k++) dw[k] = weight_scale(type, w, blk[k]), dx[k] = x[blk[k]].d;
        const __m512i q = quarter_sums(p[0], p[1], p[2], p[3]);
        float terms[16];
        _mm512_storeu_ps(terms, scaled(block_sums(q, q), dw, dx));
        for (int k = 0; k < count; k++) sum += terms[k];
    }
    return sum;
}

AVX512 INLINE void vec_dot4(int type, const void *w, const void *xq, size_t x_stride, int64_t n, float out[4])
{
    const block_q8_0 *x[4];
    for (int t = 0; t < 4; t++) x[t] = (const block_q8_0 *)((const char *)xq + t * x_stride);
    const int64_t nb = n / 32;
    __m128 acc = _mm_setzero_ps();
    for (int64_t b = 0; b < nb; b += 4) acc = tokens_step(type, w, x, b, nb - b < 4 ? (int)(nb - b) : 4, acc);
    _mm_storeu_ps(out, acc);
}

/* As in the AVX2 set (avx2.c, where it was measured): while a group of four rows is multiplied,
 * the next group is prefetched into L2 at the pace this one is read, one ascending stream where
 * the hardware prefetcher would meet four new ones at every group. */
AVX512 INLINE void vec_dot_rows4(int type, const void *w, size_t row_bytes, const void *xq, int64_t n, float out[4])
{
    const void *rows[4];
    for (int r = 0; r < 4; r++) rows[r] = (const char *)w + r * row_bytes;
    const int64_t nb = n / 32;
    const size_t block_bytes = type == TYPE_Q8_0 ? sizeof(block_q8_0) : sizeof(block_q4_0);
    const uintptr_t next_group = (uintptr_t)w + 4 * row_bytes;
    uintptr_t prefetched = next_group;
    __m128 acc = _mm_setzero_ps();
    for (int64_t b = 0; b < nb; b += 4) {
        for (; prefetched < next_group + 4 * (size_t)(b + 4) * block_bytes; prefetched += 64)
            _mm_prefetch((const char *)prefetched, _MM_HINT_T1);
        acc = rows_step(type, rows, xq, b, nb - b < 4 ? (int)(nb - b) : 4, acc);
    }
    _mm_storeu_ps(out, acc);
}

#define INT8_KERNELS(name, TYPE)                                                               \
    AVX512 float avx512_##name##_vec_dot(const void *w, const void *xq, int64_t n)             \
    { return vec_dot(TYPE, w, xq, n); }                                                        \
    AVX512 void avx512_##name##_vec_dot4(const void *w, const void *xq, size_t s, int64_t n, float o[4]) \
    { vec_dot4(TYPE, w, xq, s, n, o); }                                                        \
    AVX512 void avx512_##name##_vec_dot_rows4(const void *w, size_t rb, const void *xq, int64_t n, float o[4]) \
    { vec_dot_rows4(TYPE, w, rb, xq, n, o); }

INT8_KERNELS(q8_0, TYPE_Q8_0)
INT8_KERNELS(q4_0, TYPE_Q4_0)

/* ==== The GEMM tile: 32 rows x 8 tokens in 16 registers ==== */

/* The panel holds fp32, or fp16 (F16 weights; see the AVX2 set's tile), converted as loaded. */
AVX512 INLINE void gemm_tile(const void *panel, int f16, int kc, const float *const *x, float *tile)
{
    const float *fp32 = panel;
    const __m256i *fp16 = panel;   /* 16 halves each */
    __m512 c[8][2];
    for (int t = 0; t < 8; t++)
        c[t][0] = c[t][1] = _mm512_setzero_ps();
    for (int k = 0; k < kc; k++) {
        const __m512 w0 = f16 ? _mm512_cvtph_ps(_mm256_loadu_si256(fp16 + 2 * k)) : _mm512_loadu_ps(fp32 + k * 32);
        const __m512 w1 = f16 ? _mm512_cvtph_ps(_mm256_loadu_si256(fp16 + 2 * k + 1))
                              : _mm512_loadu_ps(fp32 + k * 32 + 16);
        for (int t = 0; t < 8; t++) {
            const __m512 xk = _mm512_set1_ps(x[t][k]);
            c[t][0] = _mm512_fmadd_ps(xk, w0, c[t][0]);
            c[t][1] = _mm512_fmadd_ps(xk, w1, c[t][1]);
        }
    }
    for (int t = 0; t < 8; t++) {
        _mm512_storeu_ps(tile + t * 32, c[t][0]);
        _mm512_storeu_ps(tile + t * 32 + 16, c[t][1]);
    }
}

AVX512 void avx512_gemm_tile_32x8(const float *panel, int kc, const float *const *x, float *tile)
{
    gemm_tile(panel, 0, kc, x, tile);
}

AVX512 void avx512_gemm_tile_32x8_f16(const uint16_t *panel, int kc, const float *const *x, float *tile)
{
    gemm_tile(panel, 1, kc, x, tile);
}

/* ==== Prefill against int8 activations: a GEMM on packed panels, with vpdpbusd ====
 *
 * Prefill meets each weight once per token, so the weights are worth packing first, as gemm.c
 * packs them for the float GEMM: a group of 32-row panels over 16 blocks of K, in the VNNI layout
 * of kernels/int8_panel.h (packed by the AVX2 set), stays in L2 while steps of 6 tokens meet it.
 * In a panel, the 16 lanes of b[block][h][i] are 16 rows' weights 4i .. 4i+3; a token's
 * activations 4i .. 4i+3, broadcast as one dword, meet all 16 rows in one vpdpbusd. Six tokens
 * times two halves keep twelve int32 sums (and twelve float outputs) in registers: enough
 * independent chains to cover vpdpbusd's latency.
 *
 * vpdpbusd wants one operand unsigned. Here it is the activations, x + 128 (x xor 0x80), since
 * they are converted once per step and the weight panels are shared with the AMX set's signed
 * tiles: sum (x + 128) w = sum x w + 128 sum w, and each block's sums start at -128 x the row's
 * weight sum, which the panel carries. The block then ends as the scalar vec_dot's does,
 * sum + (float)s * (d_w * d_x), a multiply and an add: so prefill gives decode's bits. */

enum { VNNI_TOKENS = 6, VNNI_GROUP_PANELS = 8 };

typedef struct {
    int8_panel panels[VNNI_GROUP_PANELS];                    /* 160 KiB, in L2 while the steps meet them */
    uint8_t x[VNNI_TOKENS][INT8_RANGE_BLOCKS][INT8_BLOCK];   /* a step's activations + 128 */
    float x_d[VNNI_TOKENS][INT8_RANGE_BLOCKS];               /* and their block scales */
} vnni_scratch;

/* nt tokens from xq (x_stride bytes apart), blocks kb .. kb+n_blocks-1, into the step's
 * activations; the step's missing tokens are zeros, multiplied and never stored. */
AVX512 static void vnni_step_activations(vnni_scratch *s, const void *xq, size_t x_stride, int nt, int64_t kb,
                                         int n_blocks)
{
    const __m256i offset = _mm256_set1_epi8((char)0x80);
    for (int t = 0; t < VNNI_TOKENS; t++)
        for (int b = 0; b < n_blocks; b++) {
            if (t >= nt) {
                memset(s->x[t][b], 0, INT8_BLOCK);
                s->x_d[t][b] = 0.0f;
                continue;
            }
            const block_q8_0 *block = (const block_q8_0 *)((const char *)xq + (size_t)t * x_stride) + kb + b;
            _mm256_storeu_si256((__m256i *)s->x[t][b],
                                _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)block->qs), offset));
            s->x_d[t][b] = fp16_to_fp32(block->d);
        }
}

/* The step's six tokens against one panel over n_blocks blocks: out[t * ldo + r] for the panel's
 * nr rows and the step's nt tokens, continued from the previous range of K unless first. */
AVX512 static void vnni_panel(const int8_panel *p, const vnni_scratch *s, int nt, int n_blocks, int first,
                              float *out, int64_t ldo, int nr)
{
    const __mmask16 mask[2] = { nr >= 16 ? 0xffff : (__mmask16)((1u << nr) - 1),
                                nr <= 16 ? 0 : nr >= 32 ? 0xffff : (__mmask16)((1u << (nr - 16)) - 1) };
    __m512 acc[VNNI_TOKENS][2];
#pragma GCC unroll 6
    for (int t = 0; t < VNNI_TOKENS; t++)
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++)
            acc[t][h] = first || t >= nt ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(mask[h], out + t * ldo + 16 * h);
    for (int b = 0; b < n_blocks; b++) {
        __m512i sum[VNNI_TOKENS][2];
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const __m512i start = _mm512_sub_epi32(_mm512_setzero_si512(),
                                                   _mm512_slli_epi32(_mm512_loadu_si512(&p->sum[b][16 * h]), 7));
#pragma GCC unroll 6
            for (int t = 0; t < VNNI_TOKENS; t++)
                sum[t][h] = start;
        }
#pragma GCC unroll 8
        for (int i = 0; i < INT8_BLOCK / 4; i++) {
            const __m512i w0 = _mm512_loadu_si512(p->b[b][0][i]), w1 = _mm512_loadu_si512(p->b[b][1][i]);
#pragma GCC unroll 6
            for (int t = 0; t < VNNI_TOKENS; t++) {
                int32_t quad;
                memcpy(&quad, &s->x[t][b][4 * i], sizeof quad);
                const __m512i x = _mm512_set1_epi32(quad);
                sum[t][0] = _mm512_dpbusd_epi32(sum[t][0], x, w0);
                sum[t][1] = _mm512_dpbusd_epi32(sum[t][1], x, w1);
            }
        }
        const __m512 d0 = _mm512_loadu_ps(p->d[b]), d1 = _mm512_loadu_ps(p->d[b] + 16);
#pragma GCC unroll 6
        for (int t = 0; t < VNNI_TOKENS; t++) {
            const __m512 x_d = _mm512_set1_ps(s->x_d[t][b]);
            acc[t][0] = _mm512_add_ps(acc[t][0], _mm512_mul_ps(_mm512_cvtepi32_ps(sum[t][0]), _mm512_mul_ps(d0, x_d)));
            acc[t][1] = _mm512_add_ps(acc[t][1], _mm512_mul_ps(_mm512_cvtepi32_ps(sum[t][1]), _mm512_mul_ps(d1, x_d)));
        }
    }
    for (int t = 0; t < nt; t++)
        for (int h = 0; h < 2; h++)
            _mm512_mask_storeu_ps(out + t * ldo + 16 * h, mask[h], acc[t][h]);
}

/* kernel_row.vec_dot_gemm for Q8_0 and Q4_0 weights (w->type says which), x in Q8_0 blocks. */
AVX512 static void int8_gemm(const tensor *w, int64_t r0, int64_t r1, const void *xq, size_t x_stride, int n_tokens,
                             float *out, int64_t ldo, void *scratch)
{
    vnni_scratch *s = scratch;
    const int64_t n_blocks_row = w->cols / INT8_BLOCK, group_rows = VNNI_GROUP_PANELS * INT8_PANEL_ROWS;
    for (int64_t rg = r0; rg < r1; rg += group_rows) {
        const int64_t rg_end = r1 - rg < group_rows ? r1 : rg + group_rows;
        const int n_panels = (int)((rg_end - rg + INT8_PANEL_ROWS - 1) / INT8_PANEL_ROWS);
        for (int64_t kb = 0; kb < n_blocks_row; kb += INT8_RANGE_BLOCKS) {
            const int n_blocks = (int)(n_blocks_row - kb < INT8_RANGE_BLOCKS ? n_blocks_row - kb : INT8_RANGE_BLOCKS);
            avx2_pack_int8_panels(w, rg, (int)(rg_end - rg), kb, n_blocks, s->panels);
            for (int t0 = 0; t0 < n_tokens; t0 += VNNI_TOKENS) {
                const int nt = n_tokens - t0 < VNNI_TOKENS ? n_tokens - t0 : VNNI_TOKENS;
                vnni_step_activations(s, (const char *)xq + (size_t)t0 * x_stride, x_stride, nt, kb, n_blocks);
                for (int p = 0; p < n_panels; p++) {
                    const int64_t rb = rg + (int64_t)p * INT8_PANEL_ROWS;
                    vnni_panel(&s->panels[p], s, nt, n_blocks, kb == 0, out + (size_t)t0 * ldo + rb, ldo,
                               (int)(rg_end - rb < INT8_PANEL_ROWS ? rg_end - rb : INT8_PANEL_ROWS));
                }
            }
        }
    }
}

const kernel_set kernels_avx512 = {
    .name = "avx512",
    .row = {
        AVX512_FLOAT_ROWS,
        [TYPE_Q8_0] = { AVX512_Q8_0_ROW, .vec_dot_gemm = int8_gemm },
        [TYPE_Q4_0] = { AVX512_Q4_0_ROW, .vec_dot_gemm = int8_gemm },
        KQUANT_ROWS_AVX2,       /* kernels/kquant_rows.h */
    },
    .gemm = AVX512_GEMM,
    .attention_product = avx2_attention_product,
    .attention_scores = avx2_attention_scores,
    .vec_dot_gemm_scratch = sizeof(vnni_scratch),
};

#else
#include "kernels/kernel_set.h"
/* Never supported off x86-64 (kernel_set_supported), so never run; a name for the error message. */
const kernel_set kernels_avx512 = { .name = "avx512" };
#endif /* __x86_64__ */
