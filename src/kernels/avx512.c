/* avx512.c — the AVX-512 (F/BW/VL) kernel set.
 *
 * Every function carries its own target attribute, so the library compiles with any -march and
 * still runs on CPUs without AVX-512: a context uses these only when the CPU has them. The int8
 * (vec_dot) kernels and the activation quantizer are the AVX2 set's, which run unchanged here.
 * Weights are dequantized in registers and multiplied with fp32 activations; the activations are
 * never rounded (AVX512_BF16's dot instructions would round them to bf16, so they are not used).
 * Row tails are handled with masked loads, which never touch memory past the row. The kernels are
 * named in avx512.h: the AMX set (amx.c) reuses all of them. */

#if defined(__x86_64__)

#include "kernels/avx512.h"
#include "kernels/kernel_set.h"
#include "kernels/kquant_rows.h"

#include <immintrin.h>

/* No CPU this project is developed on has AVX-512, so tests/test_avx512_emulated.c includes this
 * file after tests/avx512_emulate.h, which defines ATTEND_AVX512_EMULATE and turns the AVX-512
 * intrinsics below into plain C: the set's logic (masks, tails, lane orders) is then tested on any
 * CPU. Only the AVX2/FMA/F16C parts run natively in that build. */
#if defined(ATTEND_AVX512_EMULATE)
#define AVX512 __attribute__((target("avx2,fma,f16c")))
#else
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))
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

/* ==== The GEMM tile: 32 rows x 8 tokens in 16 registers ==== */

AVX512 void avx512_gemm_tile_32x8(const float *panel, int kc, const float *const *x, float *tile)
{
    __m512 c[8][2];
    for (int t = 0; t < 8; t++)
        c[t][0] = c[t][1] = _mm512_setzero_ps();
    for (int k = 0; k < kc; k++) {
        const __m512 w0 = _mm512_loadu_ps(panel + k * 32);
        const __m512 w1 = _mm512_loadu_ps(panel + k * 32 + 16);
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

const kernel_set kernels_avx512 = {
    .name = "avx512",
    .row = {
        AVX512_FLOAT_ROWS,
        [TYPE_Q8_0] = { AVX512_Q8_0_ROW },
        [TYPE_Q4_0] = { AVX512_Q4_0_ROW },
        KQUANT_ROWS_AVX2,       /* kernels/kquant_rows.h */
    },
    .gemm = AVX512_GEMM,
};

#else
#include "kernels/kernel_set.h"
/* Never supported off x86-64 (kernel_set_supported), so never run; a name for the error message. */
const kernel_set kernels_avx512 = { .name = "avx512" };
#endif /* __x86_64__ */
