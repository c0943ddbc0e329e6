/* quant.c — the type-traits table: one row per tensor storage type, in ggml's block layouts.
 *
 * This file holds the table itself, the half-precision conversions, ggml's reference quantizers
 * (from_float) and the portable scalar kernels. The scalar kernels are the reference the SIMD
 * variants (quant_avx2.c, quant_avx512.c) are tested against; quant_init() picks a variant once
 * and writes its kernels into the table, so callers never switch on the type or the CPU. */

#include "quant.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ==== Block layouts (ggml's, so GGUF tensor data is used in place) ==== */

/* 32 weights: w[j] = qs[j] * d */
typedef struct {
    uint16_t d;         /* fp16 scale */
    int8_t qs[32];
} block_q8_0;

/* 32 weights: w[j] = (q[j] - 8) * d, q[j] in the low nibble of qs[j] for j < 16 and in the
 * high nibble of qs[j - 16] for j >= 16 (so one byte holds elements j and j + 16). */
typedef struct {
    uint16_t d;         /* fp16 scale */
    uint8_t qs[16];
} block_q4_0;

_Static_assert(sizeof(block_q8_0) == 34, "block_q8_0 must match ggml's 34-byte layout");
_Static_assert(sizeof(block_q4_0) == 18, "block_q4_0 must match ggml's 18-byte layout");

/* ==== Half-precision conversions ==== */

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

/* ggml's reference: d = amax / 127, q = round(x / d). The quants use the fp32 scale, the
 * block stores it rounded to fp16. */
static void q8_0_from_float(const float *src, void *dst, int64_t n)
{
    block_q8_0 *block = dst;
    for (int64_t b = 0; b < n / 32; b++, block++, src += 32) {
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

/* ==== Scalar kernels ====
 * Portable C: each kernel dequantizes a chunk of the row into an L1-resident buffer with the
 * type's to_float and takes float dot products with four partial sums. This is the reference
 * the SIMD variants must match, and the path on CPUs without AVX2. */

enum { CHUNK = 256 };   /* elements per chunk; a multiple of every block size */

/* Sixteen partial sums: independent chains, and a shape compilers turn into one vector. */
static float dot_span(const float *w, const float *x, int64_t n)
{
    float partial[16] = { 0 };
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 16; k++) partial[k] += w[i + k] * x[i + k];
    for (; i < n; i++) partial[i % 16] += w[i] * x[i];
    float sum = 0;
    for (int k = 0; k < 16; k++) sum += partial[k];
    return sum;
}

typedef void (*to_float_fn)(const void *src, float *dst, int64_t n);

static float dot_chunked(to_float_fn to_float, int block_size, size_t block_bytes,
                         const void *w, const float *x, int64_t n)
{
    const uint8_t *row = w;
    float buf[CHUNK], sum = 0;
    for (int64_t i = 0; i < n; i += CHUNK) {
        int64_t len = n - i < CHUNK ? n - i : CHUNK;
        to_float(row + (size_t)(i / block_size) * block_bytes, buf, len);
        sum += dot_span(buf, x + i, len);
    }
    return sum;
}

static void dot4_chunked(to_float_fn to_float, int block_size, size_t block_bytes,
                         const void *w, const float *x, int64_t stride, int64_t n, float out[4])
{
    const uint8_t *row = w;
    float buf[CHUNK];
    out[0] = out[1] = out[2] = out[3] = 0;
    for (int64_t i = 0; i < n; i += CHUNK) {
        int64_t len = n - i < CHUNK ? n - i : CHUNK;
        to_float(row + (size_t)(i / block_size) * block_bytes, buf, len);
        for (int r = 0; r < 4; r++) out[r] += dot_span(buf, x + r * stride + i, len);
    }
}

static float f32_dot(const void *w, const float *x, int64_t n) { return dot_span(w, x, n); }

static void f32_dot4(const void *w, const float *x, int64_t stride, int64_t n, float out[4])
{
    for (int r = 0; r < 4; r++) out[r] = dot_span(w, x + r * stride, n);
}

static float f16_dot(const void *w, const float *x, int64_t n)
{ return dot_chunked(f16_to_float, 1, 2, w, x, n); }
static float bf16_dot(const void *w, const float *x, int64_t n)
{ return dot_chunked(bf16_to_float, 1, 2, w, x, n); }
static float q8_0_dot(const void *w, const float *x, int64_t n)
{ return dot_chunked(q8_0_to_float, 32, sizeof(block_q8_0), w, x, n); }
static float q4_0_dot(const void *w, const float *x, int64_t n)
{ return dot_chunked(q4_0_to_float, 32, sizeof(block_q4_0), w, x, n); }

static void f16_dot4(const void *w, const float *x, int64_t stride, int64_t n, float out[4])
{ dot4_chunked(f16_to_float, 1, 2, w, x, stride, n, out); }
static void bf16_dot4(const void *w, const float *x, int64_t stride, int64_t n, float out[4])
{ dot4_chunked(bf16_to_float, 1, 2, w, x, stride, n, out); }
static void q8_0_dot4(const void *w, const float *x, int64_t stride, int64_t n, float out[4])
{ dot4_chunked(q8_0_to_float, 32, sizeof(block_q8_0), w, x, stride, n, out); }
static void q4_0_dot4(const void *w, const float *x, int64_t stride, int64_t n, float out[4])
{ dot4_chunked(q4_0_to_float, 32, sizeof(block_q4_0), w, x, stride, n, out); }

/* ==== The table ==== */

/* Starts with the scalar kernels, so it is usable before quant_init(). */
static type_traits table[TYPE_COUNT] = {
    [TYPE_F32]  = { "F32",  1,  4,                  0, f32_to_float,  f32_from_float,
                    f32_dot,  f32_dot4 },
    [TYPE_F16]  = { "F16",  1,  2,                  0, f16_to_float,  f16_from_float,
                    f16_dot,  f16_dot4 },
    [TYPE_BF16] = { "BF16", 1,  2,                  0, bf16_to_float, bf16_from_float,
                    bf16_dot, bf16_dot4 },
    [TYPE_Q8_0] = { "Q8_0", 32, sizeof(block_q8_0), 1, q8_0_to_float, q8_0_from_float,
                    q8_0_dot, q8_0_dot4 },
    [TYPE_Q4_0] = { "Q4_0", 32, sizeof(block_q4_0), 1, q4_0_to_float, q4_0_from_float,
                    q4_0_dot, q4_0_dot4 },
};

/* Each variant's kernels in the table's shape; only to_float, dot and dot4 are read. */
static const type_traits scalar_kernels[TYPE_COUNT] = {
    [TYPE_F32]  = { .to_float = f32_to_float,  .dot = f32_dot,  .dot4 = f32_dot4 },
    [TYPE_F16]  = { .to_float = f16_to_float,  .dot = f16_dot,  .dot4 = f16_dot4 },
    [TYPE_BF16] = { .to_float = bf16_to_float, .dot = bf16_dot, .dot4 = bf16_dot4 },
    [TYPE_Q8_0] = { .to_float = q8_0_to_float, .dot = q8_0_dot, .dot4 = q8_0_dot4 },
    [TYPE_Q4_0] = { .to_float = q4_0_to_float, .dot = q4_0_dot, .dot4 = q4_0_dot4 },
};

#if defined(__x86_64__)
extern const type_traits quant_avx2_kernels[TYPE_COUNT];    /* quant_avx2.c */
extern const type_traits quant_avx512_kernels[TYPE_COUNT];  /* quant_avx512.c */
#endif

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

/* ==== Choosing the SIMD variant ==== */

enum { SIMD_SCALAR, SIMD_AVX2, SIMD_AVX512, SIMD_COUNT };
static const char *const simd_names[SIMD_COUNT] = { "scalar", "avx2", "avx512" };

/* The best variant this CPU (and OS: libgcc checks XCR0 for the vector state) supports. Every
 * AVX-512 CPU also has AVX2, so the variants are ordered. */
static int simd_best(void)
{
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("f16c") &&
        __builtin_cpu_supports("fma"))
        return SIMD_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
        __builtin_cpu_supports("f16c"))
        return SIMD_AVX2;
#endif
    return SIMD_SCALAR;
}

static const type_traits *simd_kernels(int variant)
{
#if defined(__x86_64__)
    if (variant == SIMD_AVX512) return quant_avx512_kernels;
    if (variant == SIMD_AVX2) return quant_avx2_kernels;
#endif
    (void)variant;
    return scalar_kernels;
}

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;

/* Store a kernel pointer only if it changes, so calling quant_init() again (the usual case: the
 * same CPU, the same environment) writes nothing while other threads call through the table. */
#define SET_KERNEL(field, value) do {                                                   \
        if (__atomic_load_n(&(field), __ATOMIC_RELAXED) != (value))                     \
            __atomic_store_n(&(field), (value), __ATOMIC_RELEASE);                      \
    } while (0)

/* The lock serialises concurrent calls. Switching variants while another thread computes is
 * harmless in practice (each pointer is stored whole, and every variant computes the same
 * function) but is a data race in C11's terms: switch before starting the workers. */
const char *quant_init(void)
{
    int variant = simd_best();
    const char *env = getenv("ATTEND_SIMD");
    if (env)
        for (int v = 0; v < SIMD_COUNT; v++)
            if (!strcmp(env, simd_names[v]) && v < variant) variant = v;

    const type_traits *kernels = simd_kernels(variant);
    pthread_mutex_lock(&init_lock);
    for (int t = 0; t < TYPE_COUNT; t++) {
        if (!table[t].name) continue;
        const type_traits *k = kernels[t].dot ? &kernels[t] : &scalar_kernels[t];
        SET_KERNEL(table[t].to_float, k->to_float);
        SET_KERNEL(table[t].dot, k->dot);
        SET_KERNEL(table[t].dot4, k->dot4);
    }
    pthread_mutex_unlock(&init_lock);
    return simd_names[variant];
}
