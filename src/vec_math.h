/* vec_math.h — the little floating-point math of the ops and of the scalar kernel set, written so
 * the compiler vectorizes it. (Beside tensor.h, at the bottom: both layers include it.) */
#ifndef ATTEND_VEC_MATH_H
#define ATTEND_VEC_MATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* a * b + c, in one rounding where the CPU has a fused multiply-add (C11's FP_FAST_FMAF says so):
 * ISO C mode does not let the compiler fuse a * b + c by itself, and FMA is what the vector units
 * do best. */
#ifdef FP_FAST_FMAF
#define MADD(a, b, c) fmaf(a, b, c)
#else
#define MADD(a, b, c) ((a) * (b) + (c))
#endif

/* 2^t for t in [-127, 127] (the caller clamps: a call to expf, or a clamp in here, would stop the
 * vectorizer). 2^t = 2^k * 2^f with k = round(t) and |f| <= 1/2; 2^f by its Taylor series to
 * degree 6, relative error ~1e-7, float rounding. t = -127 gives 0 (2^-127 is no normal float);
 * NaN stays NaN. e^x is pow2_clamped(x / ln 2), clamped. */
static inline float pow2_clamped(float t)
{
    /* Adding 1.5 * 2^23 rounds t to the nearest integer k, which lands in the low bits of r's
     * mantissa: r's bit pattern is that of 1.5 * 2^23 plus k. */
    const float r = t + 12582912.0f, f = t - (r - 12582912.0f);
    float p = 1.5403530e-4f;             /* (ln 2)^k / k!, k = 6 .. 1 */
    p = MADD(p, f, 1.3333558e-3f);
    p = MADD(p, f, 9.6181291e-3f);
    p = MADD(p, f, 5.5504109e-2f);
    p = MADD(p, f, 2.4022651e-1f);
    p = MADD(p, f, 6.9314718e-1f);
    p = MADD(p, f, 1.0f);
    uint32_t bits;
    memcpy(&bits, &r, sizeof bits);
    bits = (bits - 0x4B400000u + 127u) << 23;   /* 2^k */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

#endif
