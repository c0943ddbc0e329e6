/* avx512.h — the AVX-512 set's kernels, by name, for the sets built on it.
 *
 * avx512.c defines them; the AMX set (amx.c) is these rows and this float GEMM tile plus its int8
 * prefill GEMM, so it lists them in its own table. The activation quantizer and the GEMM's panel
 * packing are the AVX2 set's (avx2.c), which run unchanged on these CPUs. */
#ifndef ATTEND_KERNELS_AVX512_H
#define ATTEND_KERNELS_AVX512_H

#include <stddef.h>
#include <stdint.h>

/* ---- from avx512.c: float activations, and the GEMM's register tile (32 rows x 8 tokens) ---- */
#define AVX512_FLOAT_KERNELS(name)                                                                  \
    void avx512_##name##_to_float(const void *src, float *dst, int64_t n);                         \
    float avx512_##name##_dot(const void *w, const float *x, int64_t n);                           \
    void avx512_##name##_dot4(const void *w, const float *x, int64_t stride, int64_t n, float out[4]);
AVX512_FLOAT_KERNELS(f32)
AVX512_FLOAT_KERNELS(f16)
AVX512_FLOAT_KERNELS(bf16)
AVX512_FLOAT_KERNELS(q8_0)
AVX512_FLOAT_KERNELS(q4_0)
#undef AVX512_FLOAT_KERNELS
void avx512_gemm_tile_32x8(const float *panel, int kc, const float *const *x, float *tile);
void avx512_gemm_tile_32x8_f16(const uint16_t *panel, int kc, const float *const *x, float *tile);

/* ---- from avx512.c: int8 activations (AVX512-VNNI); each gives the scalar set's vec_dot bits ---- */
#define AVX512_INT8_KERNELS(name)                                                                   \
    float avx512_##name##_vec_dot(const void *w, const void *xq, int64_t n);                       \
    void avx512_##name##_vec_dot4(const void *w, const void *xq, size_t x_stride, int64_t n, float out[4]); \
    void avx512_##name##_vec_dot_rows4(const void *w, size_t row_bytes, const void *xq, int64_t n, float out[4]);
AVX512_INT8_KERNELS(q8_0)
AVX512_INT8_KERNELS(q4_0)
#undef AVX512_INT8_KERNELS

/* ---- from avx2.c: the GEMM's panel packing (8-row blocks, so 32-row panels too) ---- */
int avx2_pack_rows(int type, const void *first_row, size_t row_bytes, int64_t k0, int kc, int rows, float *panel);
int avx2_pack_f16(const void *first_row, size_t row_bytes, int64_t k0, int kc, int rows, uint16_t *panel);

/* ---- from avx2.c: attention's product (16 columns are two ymm registers: AVX2's shape fits) and
 * decode's scores ---- */
void avx2_attention_product(int m, int n, const float *const a[], size_t a_step, const float *b, size_t b_step,
                            float *c, size_t c_step);
void avx2_attention_scores(const float *q, const float *k, size_t k_step, int n, int head_dim, float scale,
                           float *score);

/* ---- from avx2.c: the activation quantizer (float rows into Q8_0 blocks) ---- */
void avx2_quantize_q8_0(const float *x, void *dst, int64_t n);

/* The AVX-512 set's table entries, which the AMX set repeats (adding its int8 GEMM to the Q8_0
 * and Q4_0 rows): one list, so the two sets cannot drift apart. */
#define AVX512_FLOAT_ROWS                                                                           \
    [TYPE_F32]  = { .to_float = avx512_f32_to_float,  .dot = avx512_f32_dot,  .dot4 = avx512_f32_dot4 }, \
    [TYPE_F16]  = { .to_float = avx512_f16_to_float,  .dot = avx512_f16_dot,  .dot4 = avx512_f16_dot4 }, \
    [TYPE_BF16] = { .to_float = avx512_bf16_to_float, .dot = avx512_bf16_dot, .dot4 = avx512_bf16_dot4 }
#define AVX512_Q8_0_ROW                                                                             \
    .to_float = avx512_q8_0_to_float, .from_float = avx2_quantize_q8_0, .dot = avx512_q8_0_dot,     \
    .dot4 = avx512_q8_0_dot4, .vec_dot = avx512_q8_0_vec_dot, .vec_dot4 = avx512_q8_0_vec_dot4,     \
    .vec_dot_rows4 = avx512_q8_0_vec_dot_rows4
#define AVX512_Q4_0_ROW                                                                             \
    .to_float = avx512_q4_0_to_float, .dot = avx512_q4_0_dot, .dot4 = avx512_q4_0_dot4,             \
    .vec_dot = avx512_q4_0_vec_dot, .vec_dot4 = avx512_q4_0_vec_dot4,                               \
    .vec_dot_rows4 = avx512_q4_0_vec_dot_rows4
#define AVX512_GEMM { .rows = 32, .tokens = 8, .k_block = 512, .tile = avx512_gemm_tile_32x8, .pack = avx2_pack_rows, \
                      .tile_f16 = avx512_gemm_tile_32x8_f16, .pack_f16 = avx2_pack_f16 }

#endif
