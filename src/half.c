/* half.c — the half-precision conversions of tensor.h (IEEE fp16 and bfloat16 to and from fp32),
 * in integer arithmetic: the scalar reference that the kernel sets' F16C and AVX-512 conversions
 * must match bit for bit. */

#include "tensor.h"

#include <string.h>

static uint32_t bits_of(float f) { uint32_t u; memcpy(&u, &f, sizeof u); return u; }
static float float_of(uint32_t u) { float f; memcpy(&f, &u, sizeof f); return f; }

/* Branch-free (so loops over it vectorize) and exact without touching fp32 subnormals (so it
 * holds under flush-to-zero too): the exponent and mantissa bits move into fp32 position and
 * the exponent is rebiased; inf/nan get the all-ones exponent; a subnormal half m * 2^-24 is
 * made the normal 2^-14 * (1 + m/1024), and subtracting 2^-14 leaves m * 2^-24 exactly. */
float fp16_to_fp32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t bits = (uint32_t)(h & 0x7fff) << 13, exponent = bits & 0x0f800000;
    bits += (uint32_t)(127 - 15) << 23;
    uint32_t special = bits + ((uint32_t)(128 - 16) << 23);       /* inf or nan */
    float subnormal = float_of(bits + (1u << 23)) - 0x1p-14f;
    bits = exponent == 0x0f800000 ? special : exponent == 0 ? bits_of(subnormal) : bits;
    return float_of(sign | bits);
}

/* Round to nearest, ties to even, in integer arithmetic so the result does not depend on the
 * FPU rounding mode. */
uint16_t fp32_to_fp16(float f)
{
    uint32_t u = bits_of(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    u &= 0x7fffffff;
    if (u > 0x7f800000)                     /* nan: keep the top payload bits, force quiet */
        return sign | 0x7e00 | (uint16_t)((u >> 13) & 0x3ff);
    if (u >= 0x477ff000)                    /* >= 65520 (halfway past 65504) or inf */
        return sign | 0x7c00;
    if (u >= 0x38800000) {                  /* >= 2^-14: a normal half */
        u += 0x0fff + ((u >> 13) & 1);      /* round the 13 dropped bits, ties to even */
        u -= (uint32_t)(127 - 15) << 23;    /* rebias; a mantissa carry bumps the exponent */
        return sign | (uint16_t)(u >> 13);
    }
    /* A half subnormal is m * 2^-24. The float is mantissa * 2^(exponent - 150) with the
     * implicit bit, so m = mantissa >> (126 - exponent), rounded. Below 2^-25 it rounds to 0
     * (2^-25 itself is a tie and goes to the even 0). */
    uint32_t exponent = u >> 23;
    if (exponent < 102) return sign;
    uint32_t mantissa = (u & 0x7fffff) | 0x800000;
    uint32_t shift = 126 - exponent;        /* 14..24 */
    uint32_t m = mantissa >> shift, rest = mantissa & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rest > half || (rest == half && (m & 1))) m++;  /* m == 1024 is the smallest normal */
    return sign | (uint16_t)m;
}

float bf16_to_fp32(uint16_t h) { return float_of((uint32_t)h << 16); }

uint16_t fp32_to_bf16(float f)
{
    uint32_t u = bits_of(f);
    if ((u & 0x7fffffff) > 0x7f800000)     /* nan: truncate, and keep it a (quiet) nan */
        return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fff + ((u >> 16) & 1);          /* round to nearest, ties to even */
    return (uint16_t)(u >> 16);
}
