/* kquants.h — ggml's k-quant storage types (Q4_K, Q5_K, Q6_K) and the 8-bit activation blocks
 * (Q8_K) their integer dot products run against. Library-internal.
 *
 * A k-quant row is cut into super-blocks of QK_K = 256 weights. Each super-block carries one or
 * two fp16 numbers (d, dmin) that scale small integer sub-block scales (and mins), which in turn
 * scale the 4-, 5- or 6-bit weights: two levels of scales cost ~0.5 bit per weight where Q4_0's
 * one fp16 per 32 weights costs the same, but fit the data far better. The layouts below are
 * byte for byte ggml's, so tensors of GGUF files written by llama.cpp are used in place.
 *
 * Q2_K and Q3_K (kquants_q2q3.c) have the same kernels except dot4.
 *
 * The functions have the shapes of the type-traits table in tensor.h (to_float, from_float) and
 * of the kernel sets' rows (kernels/kquant_rows.c wires them in). The integer dots take the activation row already quantized
 * to Q8_K (quantize it once per row with q8_K_from_float, reuse it for every weight row). */
#ifndef ATTEND_KQUANTS_H
#define ATTEND_KQUANTS_H

#include <stddef.h>
#include <stdint.h>
#include "tensor.h"     /* the type ids TYPE_Q2_K .. TYPE_Q8_K */

enum { QK_K = 256 };    /* weights per super-block */

/* ==== Block layouts ==== */

/* Q4_K: 8 sub-blocks of 32 weights. Sub-block j has a 6-bit scale sc[j] and a 6-bit min m[j];
 * weight w = d * sc[j] * q - dmin * m[j] with q in 0..15.
 * scales[12] packs the 16 six-bit numbers: for j < 4, the low 6 bits of scales[j] are sc[j]
 * and those of scales[j + 4] are m[j]; for j >= 4, scales[j + 4] holds the low 4 bits of sc[j]
 * (low nibble) and of m[j] (high nibble), and the top 2 bits of scales[j - 4] and scales[j]
 * hold the high 2 bits of sc[j] and m[j].
 * qs: the super-block is 4 chunks of 64 weights; chunk c uses qs[32c .. 32c + 32): weight
 * 64c + l (l < 32) is the low nibble of qs[32c + l] (sub-block 2c), weight 64c + 32 + l the
 * high nibble (sub-block 2c + 1). */
typedef struct {
    uint16_t d;             /* fp16: scale of the sub-block scales */
    uint16_t dmin;          /* fp16: scale of the sub-block mins */
    uint8_t scales[12];
    uint8_t qs[QK_K / 2];
} block_q4_K;

/* Q5_K: Q4_K plus a fifth bit: q = nibble + 16 * high bit, in 0..31. The high bit of weight
 * 64c + l is bit 2c of qh[l], that of weight 64c + 32 + l is bit 2c + 1 of qh[l]. */
typedef struct {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[12];
    uint8_t qh[QK_K / 8];
    uint8_t qs[QK_K / 2];
} block_q5_K;

/* Q6_K: 16 sub-blocks of 16 weights, each with a signed 8-bit scale; w = d * scales[i / 16]
 * * (q - 32) with q in 0..63 (low 4 bits in ql, high 2 bits in qh).
 * Each half h (weights 128h .. 128h + 128) uses ql[64h .. 64h + 64) and qh[32h .. 32h + 32);
 * within it, for l < 32: weight l is the low nibble of ql[l] with bits 0-1 of qh[l],
 * weight 32 + l the low nibble of ql[32 + l] with bits 2-3, weight 64 + l the high nibble of
 * ql[l] with bits 4-5, weight 96 + l the high nibble of ql[32 + l] with bits 6-7. */
typedef struct {
    uint8_t ql[QK_K / 2];
    uint8_t qh[QK_K / 4];
    int8_t scales[QK_K / 16];
    uint16_t d;             /* fp16 */
} block_q6_K;

/* Q2_K: 16 sub-blocks of 16 weights; scales[g] holds a 4-bit scale (low nibble) and a 4-bit
 * min (high nibble); w = d * sc * q - dmin * m with q in 0..3. Each half h (128 weights) uses
 * qs[32h .. 32h + 32): weight 128h + 32j + l (j < 4, l < 32) is bits 2j, 2j + 1 of qs[32h + l]. */
typedef struct {
    uint8_t scales[QK_K / 16];
    uint8_t qs[QK_K / 4];
    uint16_t d;             /* fp16: scale of the sub-block scales */
    uint16_t dmin;          /* fp16: scale of the sub-block mins */
} block_q2_K;

/* Q3_K: 16 sub-blocks of 16 weights with 6-bit scales s (stored s + 32); w = d * s * q with
 * q in -4..3. The low 2 bits of q are placed as Q2_K's; the third bit of weight
 * 128h + 32j + l is bit 4h + j of hmask[l], and q = low - 4 when it is clear, q = low when set.
 * scales[12]: the low 4 bits of sub-block k's scale are nibble k / 8 (low first) of byte k % 8;
 * its high 2 bits are bits 2 (k / 4), 2 (k / 4) + 1 of byte 8 + k % 4. */
typedef struct {
    uint8_t hmask[QK_K / 8];
    uint8_t qs[QK_K / 4];
    uint8_t scales[12];
    uint16_t d;             /* fp16 */
} block_q3_K;

/* Q8_K: activations. x = d * qs[i]; bsums[g] is the sum of qs[16g .. 16g + 16), which lets the
 * dots apply the mins (Q4_K/Q5_K) and the -32 offset (Q6_K) per sub-block without touching
 * the weights. d is a float, not fp16: activations are quantized once per token, so the extra
 * precision is free. */
typedef struct {
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];
} block_q8_K;

_Static_assert(sizeof(block_q2_K) == 84, "block_q2_K must match ggml's 84-byte layout");
_Static_assert(sizeof(block_q3_K) == 110, "block_q3_K must match ggml's 110-byte layout");
_Static_assert(sizeof(block_q4_K) == 144, "block_q4_K must match ggml's 144-byte layout");
_Static_assert(sizeof(block_q5_K) == 176, "block_q5_K must match ggml's 176-byte layout");
_Static_assert(sizeof(block_q6_K) == 210, "block_q6_K must match ggml's 210-byte layout");
_Static_assert(sizeof(block_q8_K) == 292, "block_q8_K must match ggml's 292-byte layout");

/* Bytes of a row of n elements of a k-quant type (Q2_K .. Q6_K, Q8_K), or 0 when the type is
 * not one of them or n is not a positive multiple of QK_K: a caller that gets 0 refuses the
 * tensor. */
size_t kquant_row_bytes(int type, int64_t n);

/* ==== Scalar reference kernels (n a multiple of QK_K in all of them) ==== */

/* dst[0..n) = the n weights stored at src */
void q2_K_to_float(const void *src, float *dst, int64_t n);     /* kquants_q2q3.c */
void q3_K_to_float(const void *src, float *dst, int64_t n);     /* kquants_q2q3.c */
void q4_K_to_float(const void *src, float *dst, int64_t n);
void q5_K_to_float(const void *src, float *dst, int64_t n);
void q6_K_to_float(const void *src, float *dst, int64_t n);
void q8_K_to_float(const void *src, float *dst, int64_t n);

/* Quantize n floats: per sub-block a search for the scale (and min) of least squared error,
 * then the sub-block scales quantized against the super-block's, then the weights rounded
 * again against the scales actually stored. */
void q2_K_from_float(const float *src, void *dst, int64_t n);
void q3_K_from_float(const float *src, void *dst, int64_t n);
void q4_K_from_float(const float *src, void *dst, int64_t n);
void q5_K_from_float(const float *src, void *dst, int64_t n);
void q6_K_from_float(const float *src, void *dst, int64_t n);
/* An activation row: d = max|x| / 127, q = round(x / d). */
void q8_K_from_float(const float *src, void *dst, int64_t n);

/* sum_i w[i] * x[i] for a weight row w and an activation row x_q8k quantized to Q8_K: integer
 * sums inside each sub-block, scaled in float once per sub-block. */
float q2_K_dot_q8_K(const void *w, const void *x_q8k, int64_t n);
float q3_K_dot_q8_K(const void *w, const void *x_q8k, int64_t n);
float q4_K_dot_q8_K(const void *w, const void *x_q8k, int64_t n);
float q5_K_dot_q8_K(const void *w, const void *x_q8k, int64_t n);
float q6_K_dot_q8_K(const void *w, const void *x_q8k, int64_t n);

/* The same for 4 activation rows at once (x_q8k, x_q8k + stride bytes, ...): out[j] = w . x_j.
 * Unpacking a weight super-block once for several tokens is what makes prefill cheaper than
 * decode. The scalar versions are 4 calls of the dot, the reference for the SIMD ones. */
void q4_K_dot4_q8_K(const void *w, const void *x_q8k, int64_t stride, int64_t n, float out[4]);
void q5_K_dot4_q8_K(const void *w, const void *x_q8k, int64_t stride, int64_t n, float out[4]);
void q6_K_dot4_q8_K(const void *w, const void *x_q8k, int64_t stride, int64_t n, float out[4]);

/* 4 weight rows (w, w + row_bytes, ...) against one Q8_K activation row: out[r] equals the
 * dot of row r bit for bit (the shape of the kernel sets' vec_dot4, used by decode's matmul,
 * so grouping rows never changes results). */
void q2_K_vec_dot4_q8_K(const void *w, size_t row_bytes, const void *x_q8k, int64_t n, float out[4]);
void q3_K_vec_dot4_q8_K(const void *w, size_t row_bytes, const void *x_q8k, int64_t n, float out[4]);
void q4_K_vec_dot4_q8_K(const void *w, size_t row_bytes, const void *x_q8k, int64_t n, float out[4]);
void q5_K_vec_dot4_q8_K(const void *w, size_t row_bytes, const void *x_q8k, int64_t n, float out[4]);
void q6_K_vec_dot4_q8_K(const void *w, size_t row_bytes, const void *x_q8k, int64_t n, float out[4]);

/* The same with float activations (dequantize a super-block, then a float dot): the exact path,
 * for tests and for callers that do not quantize activations. */
float q2_K_dot_f32(const void *w, const float *x, int64_t n);
float q3_K_dot_f32(const void *w, const float *x, int64_t n);
float q4_K_dot_f32(const void *w, const float *x, int64_t n);
float q5_K_dot_f32(const void *w, const float *x, int64_t n);
float q6_K_dot_f32(const void *w, const float *x, int64_t n);
/* ... for 4 float activation rows x, x + stride, ... (stride in floats): 4 float dots */
void q2_K_dot4_f32(const void *w, const float *x, int64_t stride, int64_t n, float out[4]);
void q3_K_dot4_f32(const void *w, const float *x, int64_t stride, int64_t n, float out[4]);
void q4_K_dot4_f32(const void *w, const float *x, int64_t stride, int64_t n, float out[4]);
void q5_K_dot4_f32(const void *w, const float *x, int64_t stride, int64_t n, float out[4]);
void q6_K_dot4_f32(const void *w, const float *x, int64_t stride, int64_t n, float out[4]);

/* ==== Helpers shared by kquants.c and kquants_q2q3.c ==== */

/* x[0..n) ~ scale * q - min with q in 0..nmax and min >= 0: returns scale, sets *min. */
float kquant_fit_affine(const float *x, int n, int nmax, float *min_out);
/* x[0..n) ~ scale * q with q in -nmax..nmax-1 (scale may be negative): returns scale. */
float kquant_fit_symmetric(const float *x, int n, int nmax);
/* sum w x over a row: each super-block of block_bytes decoded by to_float, then a float dot. */
float kquant_dot_f32(void (*to_float)(const void *, float *, int64_t), size_t block_bytes,
                     const void *w, const float *x, int64_t n);

#endif
