/* quant.h — tensor storage types, described by one type-traits table.
 *
 * A weight matrix is `rows` rows of `cols` elements, each row stored as cols/block_size blocks
 * of block_bytes bytes (ggml's layouts, so GGUF tensors are used in place). Adding a type is
 * adding a row to the table: the matmul asks the table, it never switches on the type. */
#ifndef ATTEND_QUANT_H
#define ATTEND_QUANT_H

#include <stddef.h>
#include <stdint.h>

/* The numbers are ggml's type ids, as stored in GGUF tensor infos. */
enum {
    TYPE_F32 = 0,
    TYPE_F16 = 1,
    TYPE_Q4_0 = 2,    /* 32 weights: fp16 scale d, 16 bytes of nibbles; w = (q - 8) * d */
    TYPE_Q8_0 = 8,    /* 32 weights: fp16 scale d, 32 int8; w = q * d */
    TYPE_BF16 = 30,
    TYPE_COUNT = 31
};

typedef struct {
    const char *name;       /* "F32", "Q8_0", ... */
    int block_size;         /* elements per block */
    size_t block_bytes;     /* bytes per block */
    int quantized;          /* 1 if the block carries a scale */
    /* dst[0..n) = the n values stored at src; n is a multiple of block_size */
    void (*to_float)(const void *src, float *dst, int64_t n);
    /* the inverse, rounding as ggml's reference quantizers do; used by tests and tools */
    void (*from_float)(const float *src, void *dst, int64_t n);
    /* sum_i w[i] * x[i] over n elements of a stored row w and float activations x */
    float (*dot)(const void *w, const float *x, int64_t n);
    /* the same for 4 activation rows at once (x, x+stride, ...): out[j] = w . x_j.
     * Loading a weight row once for several tokens is what makes prefill cheaper than decode. */
    void (*dot4)(const void *w, const float *x, int64_t stride, int64_t n, float out[4]);
} type_traits;

/* NULL for an unknown or unsupported type id. */
const type_traits *type_traits_of(int type);

/* Bytes of one row of n elements (n must be a multiple of the block size). */
size_t type_row_bytes(int type, int64_t n);

/* Pick the fastest SIMD variant this CPU runs (AVX-512, AVX2/FMA or scalar) and store it in the
 * table. Called once by the model loader; the environment variable ATTEND_SIMD=scalar|avx2|avx512
 * forces a variant (tests compare them). Returns the name of the variant chosen. */
const char *quant_init(void);

/* Scalar conversions shared by every module that touches half precision. */
float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);
float bf16_to_fp32(uint16_t h);
uint16_t fp32_to_bf16(float f);

#endif
