/* avx2.h — what the AVX2 kernel files (avx2.c, kquants_avx2.c) share: the target attribute each
 * of their functions carries, so the library builds for any -march, and the horizontal sum. */
#ifndef ATTEND_KERNELS_AVX2_H
#define ATTEND_KERNELS_AVX2_H

#if defined(__x86_64__)

#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline))

/* The sum of the eight lanes */
AVX2 INLINE float hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

#endif
#endif
