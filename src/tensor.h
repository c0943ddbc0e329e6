/* tensor.h — the bottom layer: storage types, their immutable traits, and the tensor view.
 *
 * A weight matrix is `rows` rows of `cols` elements, each row stored as cols/block_size blocks
 * of block_bytes bytes (ggml's layouts and type ids, so GGUF tensors are used in place). What a
 * type *is* is said here and in one constant table (type_traits.c, with the reference codecs;
 * half.c converts fp16 and bf16); how fast a CPU computes with it lives in the kernel sets
 * (kernels/kernel_set.h). Everything else — kernels, formats, the model — builds on this header,
 * and it includes nothing of theirs. */
#ifndef ATTEND_TENSOR_H
#define ATTEND_TENSOR_H

#include <stddef.h>
#include <stdint.h>

/* The numbers are ggml's type ids, as stored in GGUF tensor infos. */
enum {
    TYPE_F32 = 0,
    TYPE_F16 = 1,
    TYPE_Q4_0 = 2,    /* 32 weights: fp16 scale d, 16 bytes of nibbles; w = (q - 8) * d */
    TYPE_Q8_0 = 8,    /* 32 weights: fp16 scale d, 32 int8; w = q * d */
    /* k-quants: super-blocks of 256 weights with two levels of scales (layouts in kquants.h) */
    TYPE_Q2_K = 10,
    TYPE_Q3_K = 11,
    TYPE_Q4_K = 12,
    TYPE_Q5_K = 13,
    TYPE_Q6_K = 14,
    TYPE_Q8_K = 15,   /* activations only: what k-quant rows are multiplied with; never a weight */
    TYPE_BF16 = 30,
    TYPE_COUNT = 31
};

/* ==== Block layouts (ggml's) ==== */

/* 32 values: x[j] = qs[j] * d. Also the int8 form activations take for Q8_0/Q4_0 weights. */
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

/* ==== Type traits ==== */

typedef struct {
    const char *name;       /* "F32", "Q8_0", ... */
    int block_size;         /* elements per block */
    size_t block_bytes;     /* bytes per block */
    int quantized;          /* 1 if the block carries a scale */
    /* dst[0..n) = the n values stored at src; n is a multiple of block_size (the reference:
     * kernel sets have faster ones that must give the same floats) */
    void (*to_float)(const void *src, float *dst, int64_t n);
    /* the inverse, rounding as ggml's reference quantizers do */
    void (*from_float)(const float *src, void *dst, int64_t n);
    /* The type activations are converted to before a dot product with a row of this type, on
     * the fast path: TYPE_F32 (float activations), TYPE_Q8_0 (int8 blocks, for Q8_0/Q4_0
     * weights) or TYPE_Q8_K (int8 super-blocks, for the k-quants), so the products are integer.
     * The exact path always uses TYPE_F32. */
    int vec_dot_type;
} type_traits;

/* NULL for an unknown or unsupported type id. */
const type_traits *type_traits_of(int type);

/* Bytes of one row of n elements (0 unless n is a multiple of the block size). */
size_t type_row_bytes(int type, int64_t n);

/* ==== Tensors ==== */

/* A matrix as stored: `rows` rows of `cols` elements of `type`, row r at
 * (const char *)data + r * row_bytes. `data` usually points into the mapped file. */
typedef struct {
    int type;
    int64_t rows, cols;
    size_t row_bytes;
    const void *data;
} tensor;

static inline const void *tensor_row(const tensor *t, int64_t r)
{
    return (const char *)t->data + (size_t)r * t->row_bytes;
}

/* ==== Half precision, the scalar reference conversions ==== */

float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);
float bf16_to_fp32(uint16_t h);
uint16_t fp32_to_bf16(float f);

#endif
