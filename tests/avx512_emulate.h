/* avx512_emulate.h — the AVX-512 intrinsics src/kernels/avx512.c uses, as plain C, so that the
 * AVX-512 kernel set can be run and tested on a CPU without AVX-512.
 *
 * Include this header, then kernels/avx512.c (tests/test_avx512_emulated.c and tests/test_amx.c
 * do). It defines ATTEND_AVX512_EMULATE, which makes avx512.c compile its functions for
 * AVX2/FMA/F16C only; the 128- and 256-bit AVX2/F16C intrinsics it also uses stay native.
 *
 * GCC's <immintrin.h> declares the real types and intrinsics whatever the target, so this header
 * includes it first and then #defines each name avx512.c uses (__m512, _mm512_add_ps, ...) onto an
 * emulated type or function of its own. Every function follows Intel's description of the
 * instruction lane by lane (element 0 in the lowest bytes, as in memory on x86):
 *   - masked loads read only the elements their mask selects and stores write only those (the
 *     hardware suppresses faults on the others), so a kernel that reads past a row still faults;
 *   - arithmetic rounds as the instruction does: one rounding per add or multiply, one per fused
 *     multiply-add (fmaf), conversions of fp16 and int8/int16 exact. This relies on the compiler
 *     not contracting a * b + c in this file into an FMA: -std=c11 implies -ffp-contract=off;
 *   - _mm512_reduce_add_ps is not one instruction but a sequence in GCC's avx512fintrin.h, whose
 *     order of additions this copies (see there).
 * tests/test_avx512_emulated.c checks each function against hand-computed cases, and, on a CPU
 * with AVX-512, the emulated kernels against the real ones bit for bit.
 *
 * avx512.c's external names are renamed (emulated_...), so the emulated copy links beside the
 * library's real set; one missing from the list below is a duplicate definition at link time. A
 * test that also wants the real set includes kernels/kernel_set.h before this header (so that it
 * declares kernels_avx512 under its own name) and #undefs kernels_avx512 after avx512.c. */
#ifndef ATTEND_AVX512_EMULATE_H
#define ATTEND_AVX512_EMULATE_H

#define ATTEND_AVX512_EMULATE

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* ==== avx512.c's external names ==== */

#define kernels_avx512 emulated_kernels_avx512
#define avx512_gemm_tile_32x8 emulated_avx512_gemm_tile_32x8
#define avx512_gemm_tile_32x8_f16 emulated_avx512_gemm_tile_32x8_f16
#define avx512_f32_to_float emulated_avx512_f32_to_float
#define avx512_f32_dot emulated_avx512_f32_dot
#define avx512_f32_dot4 emulated_avx512_f32_dot4
#define avx512_f16_to_float emulated_avx512_f16_to_float
#define avx512_f16_dot emulated_avx512_f16_dot
#define avx512_f16_dot4 emulated_avx512_f16_dot4
#define avx512_bf16_to_float emulated_avx512_bf16_to_float
#define avx512_bf16_dot emulated_avx512_bf16_dot
#define avx512_bf16_dot4 emulated_avx512_bf16_dot4
#define avx512_q8_0_to_float emulated_avx512_q8_0_to_float
#define avx512_q8_0_dot emulated_avx512_q8_0_dot
#define avx512_q8_0_dot4 emulated_avx512_q8_0_dot4
#define avx512_q4_0_to_float emulated_avx512_q4_0_to_float
#define avx512_q4_0_dot emulated_avx512_q4_0_dot
#define avx512_q4_0_dot4 emulated_avx512_q4_0_dot4
#define avx512_q8_0_vec_dot emulated_avx512_q8_0_vec_dot
#define avx512_q8_0_vec_dot4 emulated_avx512_q8_0_vec_dot4
#define avx512_q8_0_vec_dot_rows4 emulated_avx512_q8_0_vec_dot_rows4
#define avx512_q4_0_vec_dot emulated_avx512_q4_0_vec_dot
#define avx512_q4_0_vec_dot4 emulated_avx512_q4_0_vec_dot4
#define avx512_q4_0_vec_dot_rows4 emulated_avx512_q4_0_vec_dot_rows4

/* ==== The registers ==== */

/* The emulated functions handle native __m128i/__m256i values, so they carry the target that
 * avx512.c's emulated build has (AVX2, FMA, F16C). They are not inlined: inlined into avx512.c's
 * unrolled kernels they made a test take 13 s to compile (nearly 4 minutes with the sanitizers),
 * against 4 s; the tests run as fast either way. */
#define EMULATED static __attribute__((noinline, unused, target("avx2,fma,f16c")))

typedef struct { float f32[16]; } emulated_m512;
typedef union {
    int8_t i8[64];
    uint8_t u8[64];
    uint16_t u16[32];
    int32_t i32[16];
    uint32_t u32[16];
    uint64_t u64[8];
} emulated_m512i;
typedef uint16_t emulated_mmask16;

#define __m512 emulated_m512
#define __m512i emulated_m512i
#define __mmask16 emulated_mmask16

/* ==== Setting, loading and storing ==== */

EMULATED emulated_m512 emulated_mm512_setzero_ps(void) { emulated_m512 r = {{0}}; return r; }

EMULATED emulated_m512 emulated_mm512_set1_ps(float a)
{
    emulated_m512 r;
    for (int i = 0; i < 16; i++) r.f32[i] = a;
    return r;
}

/* setr: the first argument is element 0 */
EMULATED emulated_m512 emulated_mm512_setr_ps(float e0, float e1, float e2, float e3, float e4, float e5,
                                              float e6, float e7, float e8, float e9, float e10, float e11,
                                              float e12, float e13, float e14, float e15)
{
    emulated_m512 r = {{e0, e1, e2, e3, e4, e5, e6, e7, e8, e9, e10, e11, e12, e13, e14, e15}};
    return r;
}

EMULATED emulated_m512 emulated_mm512_loadu_ps(const void *p)
{
    emulated_m512 r;
    memcpy(r.f32, p, sizeof r.f32);
    return r;
}

EMULATED void emulated_mm512_storeu_ps(void *p, emulated_m512 a) { memcpy(p, a.f32, sizeof a.f32); }

/* element i from p if bit i of k is set, else 0; unselected elements are not read */
EMULATED emulated_m512 emulated_mm512_maskz_loadu_ps(emulated_mmask16 k, const void *p)
{
    emulated_m512 r = {{0}};
    for (int i = 0; i < 16; i++)
        if (k >> i & 1) memcpy(&r.f32[i], (const float *)p + i, sizeof(float));
    return r;
}

/* element i to p if bit i of k is set; the others are not written */
EMULATED void emulated_mm512_mask_storeu_ps(void *p, emulated_mmask16 k, emulated_m512 a)
{
    for (int i = 0; i < 16; i++)
        if (k >> i & 1) memcpy((float *)p + i, &a.f32[i], sizeof(float));
}

/* AVX512BW+VL: sixteen 16-bit elements, masked as maskz_loadu_ps (the result is a native __m256i) */
EMULATED __m256i emulated_mm256_maskz_loadu_epi16(emulated_mmask16 k, const void *p)
{
    uint16_t r[16] = {0};
    for (int i = 0; i < 16; i++)
        if (k >> i & 1) memcpy(&r[i], (const uint16_t *)p + i, sizeof(uint16_t));
    __m256i v;
    memcpy(&v, r, sizeof v);
    return v;
}

/* element 0 of a native __m128 in all sixteen */
EMULATED emulated_m512 emulated_mm512_broadcastss_ps(__m128 a)
{
    float lanes[4];
    memcpy(lanes, &a, sizeof lanes);
    return emulated_mm512_set1_ps(lanes[0]);
}

/* ==== Arithmetic ==== */

EMULATED emulated_m512 emulated_mm512_add_ps(emulated_m512 a, emulated_m512 b)
{
    for (int i = 0; i < 16; i++) a.f32[i] = a.f32[i] + b.f32[i];
    return a;
}

EMULATED emulated_m512 emulated_mm512_mul_ps(emulated_m512 a, emulated_m512 b)
{
    for (int i = 0; i < 16; i++) a.f32[i] = a.f32[i] * b.f32[i];
    return a;
}

/* a * b + c, rounded once */
EMULATED emulated_m512 emulated_mm512_fmadd_ps(emulated_m512 a, emulated_m512 b, emulated_m512 c)
{
    for (int i = 0; i < 16; i++) a.f32[i] = fmaf(a.f32[i], b.f32[i], c.f32[i]);
    return a;
}

/* GCC's order (avx512fintrin.h, __MM512_REDUCE_OP): the upper 256 bits added to the lower,
 * then the upper 128 of that to its lower, then elements 2 and 3 to 0 and 1, then 1 to 0:
 *     t[j] = (a[j] + a[j+8]) + (a[j+4] + a[j+12]),  result (t[0] + t[2]) + (t[1] + t[3]).
 * (Each add is written upper + lower as GCC's is; float addition commutes, so only the
 * grouping matters.) */
EMULATED float emulated_mm512_reduce_add_ps(emulated_m512 a)
{
    float half[8], quarter[4];
    for (int j = 0; j < 8; j++) half[j] = a.f32[j + 8] + a.f32[j];
    for (int j = 0; j < 4; j++) quarter[j] = half[j + 4] + half[j];
    const float t0 = quarter[0] + quarter[2], t1 = quarter[1] + quarter[3];
    return t0 + t1;
}

/* ==== Conversions and bit moves ==== */

/* One fp16 value as fp32, exactly (VCVTPH2PS ignores MXCSR.DAZ: subnormals convert as they
 * are); a signalling NaN comes back quiet, its payload kept. */
EMULATED float emulated_half_to_float(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exponent = h >> 10 & 0x1f, mantissa = h & 0x3ffu;
    uint32_t bits;
    if (exponent == 0x1f)
        bits = sign | 0x7f800000u | mantissa << 13 | (mantissa ? 0x00400000u : 0);
    else if (exponent)
        bits = sign | (exponent + 127 - 15) << 23 | mantissa << 13;
    else {
        const float magnitude = (float)mantissa * 0x1p-24f;   /* subnormal (or zero): exact */
        memcpy(&bits, &magnitude, sizeof bits);
        bits |= sign;
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* sixteen fp16 values (a native __m256i) as fp32 */
EMULATED emulated_m512 emulated_mm512_cvtph_ps(__m256i a)
{
    uint16_t h[16];
    memcpy(h, &a, sizeof h);
    emulated_m512 r;
    for (int i = 0; i < 16; i++) r.f32[i] = emulated_half_to_float(h[i]);
    return r;
}

/* int32 to fp32, rounded to nearest even (the default MXCSR mode, which C's conversion also uses) */
EMULATED emulated_m512 emulated_mm512_cvtepi32_ps(emulated_m512i a)
{
    emulated_m512 r;
    for (int i = 0; i < 16; i++) r.f32[i] = (float)a.i32[i];
    return r;
}

/* vpmovsxbd, vpmovzxbd, vpmovzxwd: the sixteen elements of a native vector, sign- or
 * zero-extended to 32 bits */
#define EMULATED_WIDEN(name, native, element, lane)                                                 \
    EMULATED emulated_m512i emulated_mm512_##name(native a)                                         \
    {                                                                                              \
        element e[16];                                                                             \
        memcpy(e, &a, sizeof e);                                                                   \
        emulated_m512i r;                                                                          \
        for (int i = 0; i < 16; i++) r.lane[i] = e[i];                                             \
        return r;                                                                                  \
    }
EMULATED_WIDEN(cvtepi8_epi32, __m128i, int8_t, i32)
EMULATED_WIDEN(cvtepu8_epi32, __m128i, uint8_t, u32)
EMULATED_WIDEN(cvtepu16_epi32, __m256i, uint16_t, u32)
#undef EMULATED_WIDEN

/* shifts of each 32-bit element by a count; a count above 31 gives 0 */
EMULATED emulated_m512i emulated_mm512_slli_epi32(emulated_m512i a, unsigned count)
{
    for (int i = 0; i < 16; i++) a.u32[i] = count > 31 ? 0 : a.u32[i] << count;
    return a;
}

EMULATED emulated_m512i emulated_mm512_srli_epi32(emulated_m512i a, unsigned count)
{
    for (int i = 0; i < 16; i++) a.u32[i] = count > 31 ? 0 : a.u32[i] >> count;
    return a;
}

EMULATED emulated_m512 emulated_mm512_castsi512_ps(emulated_m512i a)
{
    emulated_m512 r;
    memcpy(r.f32, a.u8, sizeof r.f32);
    return r;
}

/* vpermps: element i of the result is a's element idx[i] mod 16 (only the low 4 bits count) */
EMULATED emulated_m512 emulated_mm512_permutexvar_ps(emulated_m512i idx, emulated_m512 a)
{
    emulated_m512 r;
    for (int i = 0; i < 16; i++) r.f32[i] = a.f32[idx.u32[i] & 15];
    return r;
}

/* ==== Integers: the int8 dot products (AVX512F, BW and VNNI) ==== */

EMULATED emulated_m512i emulated_mm512_setzero_si512(void) { emulated_m512i r = {{0}}; return r; }

EMULATED emulated_m512i emulated_mm512_set1_epi32(int a)
{
    emulated_m512i r;
    for (int i = 0; i < 16; i++) r.i32[i] = a;
    return r;
}

EMULATED emulated_m512i emulated_mm512_loadu_si512(const void *p)
{
    emulated_m512i r;
    memcpy(r.u8, p, sizeof r.u8);
    return r;
}

EMULATED emulated_m512i emulated_mm512_set1_epi8(char a)
{
    emulated_m512i r;
    memset(r.u8, (unsigned char)a, sizeof r.u8);
    return r;
}

/* a native __m256i in the lower half; Intel leaves the upper half undefined, here it is zero */
EMULATED emulated_m512i emulated_mm512_castsi256_si512(__m256i a)
{
    emulated_m512i r = {{0}};
    memcpy(r.u8, &a, sizeof a);
    return r;
}

/* a with its 256-bit half imm (bit 0 of it) replaced by b */
EMULATED emulated_m512i emulated_mm512_inserti64x4(emulated_m512i a, __m256i b, int imm)
{
    memcpy(a.u8 + 32 * (imm & 1), &b, sizeof b);
    return a;
}

/* 32-bit element i: element i mod 4 of a (a native __m128i) where bit i of k is set, else src's */
EMULATED emulated_m512i emulated_mm512_mask_broadcast_i32x4(emulated_m512i src, emulated_mmask16 k, __m128i a)
{
    uint32_t lanes[4];
    memcpy(lanes, &a, sizeof lanes);
    for (int i = 0; i < 16; i++)
        if (k >> i & 1) src.u32[i] = lanes[i % 4];
    return src;
}

EMULATED emulated_m512i emulated_mm512_broadcast_i32x4(__m128i a)
{
    return emulated_mm512_mask_broadcast_i32x4(emulated_mm512_setzero_si512(), 0xffff, a);
}

/* 64-bit element i: a's shifted right by count (past 63: 0) where bit i of k is set, else src's */
EMULATED emulated_m512i emulated_mm512_mask_srli_epi64(emulated_m512i src, uint8_t k, emulated_m512i a,
                                                       unsigned count)
{
    for (int i = 0; i < 8; i++)
        if (k >> i & 1) src.u64[i] = count > 63 ? 0 : a.u64[i] >> count;
    return src;
}

EMULATED emulated_m512i emulated_mm512_and_si512(emulated_m512i a, emulated_m512i b)
{
    for (int i = 0; i < 8; i++) a.u64[i] &= b.u64[i];
    return a;
}

EMULATED emulated_m512i emulated_mm512_xor_si512(emulated_m512i a, emulated_m512i b)
{
    for (int i = 0; i < 8; i++) a.u64[i] ^= b.u64[i];
    return a;
}

/* 32-bit adds and subtracts wrap around */
EMULATED emulated_m512i emulated_mm512_add_epi32(emulated_m512i a, emulated_m512i b)
{
    for (int i = 0; i < 16; i++) a.u32[i] += b.u32[i];
    return a;
}

EMULATED emulated_m512i emulated_mm512_sub_epi32(emulated_m512i a, emulated_m512i b)
{
    for (int i = 0; i < 16; i++) a.u32[i] -= b.u32[i];
    return a;
}

/* vpdpbusd: to each 32-bit element of src, the four products of a's bytes (unsigned) and b's
 * (signed) at the same places, exactly, the sum wrapping around as src + products does */
EMULATED emulated_m512i emulated_mm512_dpbusd_epi32(emulated_m512i src, emulated_m512i a, emulated_m512i b)
{
    for (int i = 0; i < 16; i++) {
        int32_t products = 0;   /* at most 4 * 255 * 128 in magnitude */
        for (int j = 4 * i; j < 4 * i + 4; j++) products += (int32_t)a.u8[j] * b.i8[j];
        src.u32[i] += (uint32_t)products;
    }
    return src;
}

/* The unpacks interleave within each 128-bit quarter: unpacklo_epi32 gives a0 b0 a1 b1,
 * unpackhi_epi32 a2 b2 a3 b3 (of that quarter's four 32-bit elements); the epi64 forms a0 b0 and
 * a1 b1 of its two 64-bit elements. */
#define EMULATED_UNPACK(name, lane, per_quarter, first)                                            \
    EMULATED emulated_m512i emulated_mm512_##name(emulated_m512i a, emulated_m512i b)              \
    {                                                                                              \
        emulated_m512i r;                                                                          \
        for (int q = 0; q < 4; q++)                                                                \
            for (int j = 0; j < per_quarter / 2; j++) {                                            \
                r.lane[q * per_quarter + 2 * j] = a.lane[q * per_quarter + first + j];             \
                r.lane[q * per_quarter + 2 * j + 1] = b.lane[q * per_quarter + first + j];         \
            }                                                                                      \
        return r;                                                                                  \
    }
EMULATED_UNPACK(unpacklo_epi32, u32, 4, 0)
EMULATED_UNPACK(unpackhi_epi32, u32, 4, 2)
EMULATED_UNPACK(unpacklo_epi64, u64, 2, 0)
EMULATED_UNPACK(unpackhi_epi64, u64, 2, 1)
#undef EMULATED_UNPACK

/* 128-bit quarters: the result's 0 and 1 are a's quarters imm[1:0] and imm[3:2], its 2 and 3
 * b's quarters imm[5:4] and imm[7:6] */
EMULATED emulated_m512i emulated_mm512_shuffle_i32x4(emulated_m512i a, emulated_m512i b, int imm)
{
    emulated_m512i r;
    for (int q = 0; q < 4; q++)
        memcpy(r.u8 + 16 * q, (q < 2 ? a.u8 : b.u8) + 16 * (imm >> (2 * q) & 3), 16);
    return r;
}

/* 128-bit quarter imm (its low 2 bits) of a, as a native __m128; castps512_ps128 is quarter 0 */
EMULATED __m128 emulated_mm512_extractf32x4_ps(emulated_m512 a, int imm)
{
    __m128 r;
    memcpy(&r, a.f32 + 4 * (imm & 3), sizeof r);
    return r;
}

EMULATED __m128 emulated_mm512_castps512_ps128(emulated_m512 a) { return emulated_mm512_extractf32x4_ps(a, 0); }

/* ==== The names avx512.c uses ==== */

#undef _mm512_setzero_ps
#define _mm512_setzero_ps emulated_mm512_setzero_ps
#undef _mm512_set1_ps
#define _mm512_set1_ps emulated_mm512_set1_ps
#undef _mm512_setr_ps
#define _mm512_setr_ps emulated_mm512_setr_ps
#undef _mm512_loadu_ps
#define _mm512_loadu_ps emulated_mm512_loadu_ps
#undef _mm512_storeu_ps
#define _mm512_storeu_ps emulated_mm512_storeu_ps
#undef _mm512_maskz_loadu_ps
#define _mm512_maskz_loadu_ps emulated_mm512_maskz_loadu_ps
#undef _mm512_mask_storeu_ps
#define _mm512_mask_storeu_ps emulated_mm512_mask_storeu_ps
#undef _mm256_maskz_loadu_epi16
#define _mm256_maskz_loadu_epi16 emulated_mm256_maskz_loadu_epi16
#undef _mm512_broadcastss_ps
#define _mm512_broadcastss_ps emulated_mm512_broadcastss_ps
#undef _mm512_add_ps
#define _mm512_add_ps emulated_mm512_add_ps
#undef _mm512_mul_ps
#define _mm512_mul_ps emulated_mm512_mul_ps
#undef _mm512_fmadd_ps
#define _mm512_fmadd_ps emulated_mm512_fmadd_ps
#undef _mm512_reduce_add_ps
#define _mm512_reduce_add_ps emulated_mm512_reduce_add_ps
#undef _mm512_cvtph_ps
#define _mm512_cvtph_ps emulated_mm512_cvtph_ps
#undef _mm512_cvtepi32_ps
#define _mm512_cvtepi32_ps emulated_mm512_cvtepi32_ps
#undef _mm512_cvtepi8_epi32
#define _mm512_cvtepi8_epi32 emulated_mm512_cvtepi8_epi32
#undef _mm512_cvtepu8_epi32
#define _mm512_cvtepu8_epi32 emulated_mm512_cvtepu8_epi32
#undef _mm512_cvtepu16_epi32
#define _mm512_cvtepu16_epi32 emulated_mm512_cvtepu16_epi32
#undef _mm512_slli_epi32
#define _mm512_slli_epi32 emulated_mm512_slli_epi32
#undef _mm512_srli_epi32
#define _mm512_srli_epi32 emulated_mm512_srli_epi32
#undef _mm512_castsi512_ps
#define _mm512_castsi512_ps emulated_mm512_castsi512_ps
#undef _mm512_permutexvar_ps
#define _mm512_permutexvar_ps emulated_mm512_permutexvar_ps

#undef _mm512_setzero_si512
#define _mm512_setzero_si512 emulated_mm512_setzero_si512
#undef _mm512_set1_epi8
#define _mm512_set1_epi8 emulated_mm512_set1_epi8
#undef _mm512_set1_epi32
#define _mm512_set1_epi32 emulated_mm512_set1_epi32
#undef _mm512_loadu_si512
#define _mm512_loadu_si512 emulated_mm512_loadu_si512
#undef _mm512_castsi256_si512
#define _mm512_castsi256_si512 emulated_mm512_castsi256_si512
#undef _mm512_inserti64x4
#define _mm512_inserti64x4 emulated_mm512_inserti64x4
#undef _mm512_mask_broadcast_i32x4
#define _mm512_mask_broadcast_i32x4 emulated_mm512_mask_broadcast_i32x4
#undef _mm512_broadcast_i32x4
#define _mm512_broadcast_i32x4 emulated_mm512_broadcast_i32x4
#undef _mm512_mask_srli_epi64
#define _mm512_mask_srli_epi64 emulated_mm512_mask_srli_epi64
#undef _mm512_and_si512
#define _mm512_and_si512 emulated_mm512_and_si512
#undef _mm512_xor_si512
#define _mm512_xor_si512 emulated_mm512_xor_si512
#undef _mm512_add_epi32
#define _mm512_add_epi32 emulated_mm512_add_epi32
#undef _mm512_sub_epi32
#define _mm512_sub_epi32 emulated_mm512_sub_epi32
#undef _mm512_dpbusd_epi32
#define _mm512_dpbusd_epi32 emulated_mm512_dpbusd_epi32
#undef _mm512_unpacklo_epi32
#define _mm512_unpacklo_epi32 emulated_mm512_unpacklo_epi32
#undef _mm512_unpackhi_epi32
#define _mm512_unpackhi_epi32 emulated_mm512_unpackhi_epi32
#undef _mm512_unpacklo_epi64
#define _mm512_unpacklo_epi64 emulated_mm512_unpacklo_epi64
#undef _mm512_unpackhi_epi64
#define _mm512_unpackhi_epi64 emulated_mm512_unpackhi_epi64
#undef _mm512_shuffle_i32x4
#define _mm512_shuffle_i32x4 emulated_mm512_shuffle_i32x4
#undef _mm512_extractf32x4_ps
#define _mm512_extractf32x4_ps emulated_mm512_extractf32x4_ps
#undef _mm512_castps512_ps128
#define _mm512_castps512_ps128 emulated_mm512_castps512_ps128

#undef EMULATED

#endif
