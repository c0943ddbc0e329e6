/* kquants_avx2.h — the AVX2 + FMA kernels of the k-quants (kquants_avx2.c), of which the AVX2 and
 * AVX-512 sets' k-quant rows are made (kquant_rows.h).
 *
 * Same results as the scalar dots of kquants.h up to float summation order (the integer sums are
 * the same). Call them only where the AVX2 set runs (kernel_set_supported(&kernels_avx2)); off
 * x86-64 the names exist, so that callers link, as the scalar kernels. */
#ifndef ATTEND_KQUANTS_AVX2_H
#define ATTEND_KQUANTS_AVX2_H

#include <stddef.h>
#include <stdint.h>

float q2_K_dot_q8_K_avx2(const void *w, const void *x_q8k, int64_t n);
float q3_K_dot_q8_K_avx2(const void *w, const void *x_q8k, int64_t n);
float q4_K_dot_q8_K_avx2(const void *w, const void *x_q8k, int64_t n);
float q5_K_dot_q8_K_avx2(const void *w, const void *x_q8k, int64_t n);
float q6_K_dot_q8_K_avx2(const void *w, const void *x_q8k, int64_t n);
void q4_K_dot4_q8_K_avx2(const void *w, const void *x_q8k, int64_t stride, int64_t n, float out[4]);
void q5_K_dot4_q8_K_avx2(const void *w, const void *x_q8k, int64_t stride, int64_t n, float out[4]);
void q6_K_dot4_q8_K_avx2(const void *w, const void *x_q8k, int64_t stride, int64_t n, float out[4]);
void q2_K_vec_dot4_q8_K_avx2(const void *w, size_t row_bytes, const void *x_q8k, int64_t n, float out[4]);
void q3_K_vec_dot4_q8_K_avx2(const void *w, size_t row_bytes, const void *x_q8k, int64_t n, float out[4]);
void q4_K_vec_dot4_q8_K_avx2(const void *w, size_t row_bytes, const void *x_q8k, int64_t n, float out[4]);
void q5_K_vec_dot4_q8_K_avx2(const void *w, size_t row_bytes, const void *x_q8k, int64_t n, float out[4]);
void q6_K_vec_dot4_q8_K_avx2(const void *w, size_t row_bytes, const void *x_q8k, int64_t n, float out[4]);
/* dst[0..n) = the weights, the same floats as q4_K_to_float .. q6_K_to_float bit for bit */
void q4_K_to_float_avx2(const void *src, float *dst, int64_t n);
void q5_K_to_float_avx2(const void *src, float *dst, int64_t n);
void q6_K_to_float_avx2(const void *src, float *dst, int64_t n);
/* float activations: a super-block decoded once, then FMA (for 4 rows x, x + stride, ...: once
 * for all four) */
float q2_K_dot_f32_avx2(const void *w, const float *x, int64_t n);
float q3_K_dot_f32_avx2(const void *w, const float *x, int64_t n);
float q4_K_dot_f32_avx2(const void *w, const float *x, int64_t n);
float q5_K_dot_f32_avx2(const void *w, const float *x, int64_t n);
float q6_K_dot_f32_avx2(const void *w, const float *x, int64_t n);
void q2_K_dot4_f32_avx2(const void *w, const float *x, int64_t stride, int64_t n, float out[4]);
void q3_K_dot4_f32_avx2(const void *w, const float *x, int64_t stride, int64_t n, float out[4]);
void q4_K_dot4_f32_avx2(const void *w, const float *x, int64_t stride, int64_t n, float out[4]);
void q5_K_dot4_f32_avx2(const void *w, const float *x, int64_t stride, int64_t n, float out[4]);
void q6_K_dot4_f32_avx2(const void *w, const float *x, int64_t stride, int64_t n, float out[4]);


#endif
