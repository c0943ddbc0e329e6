/* kquant_rows.h — the k-quant rows (Q2_K .. Q6_K, and Q8_K for their activations) of the kernel
 * sets, as table entries each set's file pastes into its row table.
 *
 * The kernels themselves are kquants.c, kquants_q2q3.c (portable) and kernels/kquants_avx2.c (AVX2);
 * kquant_rows.c adapts them to the kernel_row shapes (the 4-row dots take the stride as size_t)
 * and states which of them keep vec_dot4's contract. Keeping the rows here leaves the sets'
 * files one line each. */
#ifndef ATTEND_KQUANT_ROWS_H
#define ATTEND_KQUANT_ROWS_H

#include "kernels/kernel_set.h"
#include "kernels/kquants_avx2.h"
#include "kquants.h"

/* vec_dot4: one weight row against four Q8_K activation rows x_stride bytes apart; out[t]
 * equals the set's vec_dot of row t bit for bit. */
void kquant_q2_K_vec_dot4(const void *w, const void *xq, size_t x_stride, int64_t n, float out[4]);
void kquant_q3_K_vec_dot4(const void *w, const void *xq, size_t x_stride, int64_t n, float out[4]);
void kquant_q4_K_vec_dot4(const void *w, const void *xq, size_t x_stride, int64_t n, float out[4]);
void kquant_q5_K_vec_dot4(const void *w, const void *xq, size_t x_stride, int64_t n, float out[4]);
void kquant_q6_K_vec_dot4(const void *w, const void *xq, size_t x_stride, int64_t n, float out[4]);
void kquant_q2_K_vec_dot4_avx2(const void *w, const void *xq, size_t x_stride, int64_t n, float out[4]);
void kquant_q3_K_vec_dot4_avx2(const void *w, const void *xq, size_t x_stride, int64_t n, float out[4]);
void kquant_q4_K_vec_dot4_avx2(const void *w, const void *xq, size_t x_stride, int64_t n, float out[4]);
void kquant_q5_K_vec_dot4_avx2(const void *w, const void *xq, size_t x_stride, int64_t n, float out[4]);
void kquant_q6_K_vec_dot4_avx2(const void *w, const void *xq, size_t x_stride, int64_t n, float out[4]);

/* The portable rows: reference conversions, float dots that dequantize a super-block at a time,
 * integer dots against Q8_K. */
#define KQUANT_ROW_SCALAR(t, TYPE)                                                               \
    [TYPE] = { .to_float = t##_to_float, .from_float = t##_from_float, .dot = t##_dot_f32,       \
               .dot4 = t##_dot4_f32, .vec_dot = t##_dot_q8_K, .vec_dot4 = kquant_##t##_vec_dot4 }
#define KQUANT_ROWS_SCALAR                                                                       \
    KQUANT_ROW_SCALAR(q2_K, TYPE_Q2_K), KQUANT_ROW_SCALAR(q3_K, TYPE_Q3_K),                      \
    KQUANT_ROW_SCALAR(q4_K, TYPE_Q4_K), KQUANT_ROW_SCALAR(q5_K, TYPE_Q5_K),                      \
    KQUANT_ROW_SCALAR(q6_K, TYPE_Q6_K),                                                          \
    [TYPE_Q8_K] = { .to_float = q8_K_to_float, .from_float = q8_K_from_float }

/* The AVX2 rows (also the AVX-512 set's: the integer dots run unchanged there); what they leave
 * NULL is the scalar set's (kernel_row_of). */
#define KQUANT_ROW_AVX2(t, TYPE)                                                                 \
    [TYPE] = { .dot = t##_dot_f32_avx2, .dot4 = t##_dot4_f32_avx2,                               \
               .vec_dot = t##_dot_q8_K_avx2, .vec_dot4 = kquant_##t##_vec_dot4_avx2 }
#define KQUANT_ROW_AVX2_DECODE(t, TYPE)                                                          \
    [TYPE] = { .to_float = t##_to_float_avx2, .dot = t##_dot_f32_avx2, .dot4 = t##_dot4_f32_avx2, \
               .vec_dot = t##_dot_q8_K_avx2, .vec_dot4 = kquant_##t##_vec_dot4_avx2 }
#define KQUANT_ROWS_AVX2                                                                         \
    KQUANT_ROW_AVX2(q2_K, TYPE_Q2_K), KQUANT_ROW_AVX2(q3_K, TYPE_Q3_K),                          \
    KQUANT_ROW_AVX2_DECODE(q4_K, TYPE_Q4_K), KQUANT_ROW_AVX2_DECODE(q5_K, TYPE_Q5_K),            \
    KQUANT_ROW_AVX2_DECODE(q6_K, TYPE_Q6_K)

#endif
