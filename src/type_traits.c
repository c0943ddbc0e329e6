/* type_traits.c — the type-traits table of tensor.h: one constant row per storage type, in ggml's
 * block layouts.
 *
 * This file holds the table and ggml's reference dequantizers (to_float) and quantizers
 * (from_float) of the float and 32-element types; the k-quants' are in kquants.c, the
 * half-precision conversions in half.c. They are the definition of each type; the kernel sets in
 * kernels/ compute faster with them and are tested against these. */

#include "tensor.h"

#include "kquants.h"

#include <math.h>
#include <string.h>

_Static_assert(sizeof(block_q8_0) == 34, "block_q8_0 must match ggml's 34-byte layout");
_Static_assert(sizeof(block_q4_0) == 18, "block_q4_0 must match ggml's 18-byte layout");

/* ==== to_float and from_float ==== */

static void f32_to_float(const void *src, float *dst, int64_t n) { memcpy(dst, src, (size_t)n * 4); }
static void f32_from_float(const float *src, void *dst, int64_t n) { memcpy(dst, src, (size_t)n * 4); }

static void f16_to_float(const void *src, float *dst, int64_t n)
{
    const uint16_t *h = src;
    for (int64_t i = 0; i < n; i++) dst[i] = fp16_to_fp32(h[i]);
}

static void f16_from_float(const float *src, void *dst, int64_t n)
{
    uint16_t *h = dst;
    for (int64_t i = 0; i < n; i++) h[i] = fp32_to_fp16(src[i]);
}

static void bf16_to_float(const void *src, float *dst, int64_t n)
{
    const uint16_t *h = src;
    for (int64_t i = 0; i < n; i++) dst[i] = bf16_to_fp32(h[i]);
}

static void bf16_from_float(const float *src, void *dst, int64_t n)
{
    uint16_t *h = dst;
    for (int64_t i = 0; i < n; i++) h[i] = fp32_to_bf16(src[i]);
}

static void q8_0_to_float(const void *src, float *dst, int64_t n)
{
    const block_q8_0 *block = src;
    for (int64_t b = 0; b < n / 32; b++, block++, dst += 32) {
        float d = fp16_to_fp32(block->d);
        for (int j = 0; j < 32; j++) dst[j] = block->qs[j] * d;
    }
}

/* Whether the 32 values of a block are all finite. A block that is not (corrupt activations, a
 * corrupt cache loaded from a file) is stored with a NaN scale and zero quants, so that it reads
 * back as NaN, as it went in: the rounding of the quantizers below would convert NaN or infinity
 * to an integer, which C leaves undefined. */
static int block_finite(const float *x)
{
    int finite = 1;
    for (int j = 0; j < 32; j++)
        finite &= isfinite(x[j]) != 0;
    return finite;
}

/* ggml's reference: d = amax / 127, q = round(x / d). The quants use the fp32 scale, the
 * block stores it rounded to fp16. */
static void q8_0_from_float(const float *src, void *dst, int64_t n)
{
    block_q8_0 *block = dst;
    for (int64_t b = 0; b < n / 32; b++, block++, src += 32) {
        if (!block_finite(src)) {
            block->d = fp32_to_fp16(NAN);
            memset(block->qs, 0, sizeof block->qs);
            continue;
        }
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = amax > fabsf(src[j]) ? amax : fabsf(src[j]);
        float d = amax / 127, id = d != 0 ? 1 / d : 0;
        block->d = fp32_to_fp16(d);
        for (int j = 0; j < 32; j++) block->qs[j] = (int8_t)roundf(src[j] * id);
    }
}

static void q4_0_to_float(const void *src, float *dst, int64_t n)
{
    const block_q4_0 *block = src;
    for (int64_t b = 0; b < n / 32; b++, block++, dst += 32) {
        float d = fp16_to_fp32(block->d);
        for (int j = 0; j < 16; j++) {
            dst[j] = ((block->qs[j] & 0x0f) - 8) * d;
            dst[j + 16] = ((block->qs[j] >> 4) - 8) * d;
        }
    }
}

/* ggml's reference: the element of largest magnitude, with its sign, maps to q = 0 (d = max / -8),
 * so that extreme is exact and the opposite side clips at q = 15, i.e. 7 * |d|. */
static void q4_0_from_float(const float *src, void *dst, int64_t n)
{
    block_q4_0 *block = dst;
    for (int64_t b = 0; b < n / 32; b++, block++, src += 32) {
        if (!block_finite(src)) {
            block->d = fp32_to_fp16(NAN);
            memset(block->qs, 0x88, sizeof block->qs);   /* q = 8: weight 0, times NaN */
            continue;
        }
        float amax = 0, max = 0;
        for (int j = 0; j < 32; j++)
            if (amax < fabsf(src[j])) { amax = fabsf(src[j]); max = src[j]; }
        float d = max / -8, id = d != 0 ? 1 / d : 0;
        block->d = fp32_to_fp16(d);
        for (int j = 0; j < 16; j++) {
            int low = (int8_t)(src[j] * id + 8.5f), high = (int8_t)(src[j + 16] * id + 8.5f);
            low = low < 15 ? low : 15;
            high = high < 15 ? high : 15;
            block->qs[j] = (uint8_t)(low | high << 4);
        }
    }
}

/* ==== The table ==== */

static const type_traits table[TYPE_COUNT] = {
    [TYPE_F32]  = { "F32",  1,  4,                  0, f32_to_float,  f32_from_float,  TYPE_F32 },
    [TYPE_F16]  = { "F16",  1,  2,                  0, f16_to_float,  f16_from_float,  TYPE_F32 },
    [TYPE_BF16] = { "BF16", 1,  2,                  0, bf16_to_float, bf16_from_float, TYPE_F32 },
    [TYPE_Q8_0] = { "Q8_0", 32, sizeof(block_q8_0), 1, q8_0_to_float, q8_0_from_float, TYPE_Q8_0 },
    [TYPE_Q4_0] = { "Q4_0", 32, sizeof(block_q4_0), 1, q4_0_to_float, q4_0_from_float, TYPE_Q8_0 },
    /* k-quants (kquants.c, kquants_q2q3.c): their integer dots take Q8_K activations */
    [TYPE_Q2_K] = { "Q2_K", QK_K, sizeof(block_q2_K), 1, q2_K_to_float, q2_K_from_float, TYPE_Q8_K },
    [TYPE_Q3_K] = { "Q3_K", QK_K, sizeof(block_q3_K), 1, q3_K_to_float, q3_K_from_float, TYPE_Q8_K },
    [TYPE_Q4_K] = { "Q4_K", QK_K, sizeof(block_q4_K), 1, q4_K_to_float, q4_K_from_float, TYPE_Q8_K },
    [TYPE_Q5_K] = { "Q5_K", QK_K, sizeof(block_q5_K), 1, q5_K_to_float, q5_K_from_float, TYPE_Q8_K },
    [TYPE_Q6_K] = { "Q6_K", QK_K, sizeof(block_q6_K), 1, q6_K_to_float, q6_K_from_float, TYPE_Q8_K },
    /* activations only (model loaders refuse it as a weight); quantized once per token */
    [TYPE_Q8_K] = { "Q8_K", QK_K, sizeof(block_q8_K), 1, q8_K_to_float, q8_K_from_float, TYPE_F32 },
};

const type_traits *type_traits_of(int type)
{
    if (type < 0 || type >= TYPE_COUNT || !table[type].name) return NULL;
    return &table[type];
}

size_t type_row_bytes(int type, int64_t n)
{
    const type_traits *t = type_traits_of(type);
    if (!t || n < 0 || n % t->block_size) return 0;
    return (size_t)(n / t->block_size) * t->block_bytes;
}
