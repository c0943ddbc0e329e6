/* kquant_rows.c — the k-quant kernels in the kernel sets' vec_dot4 shape.
 *
 * Q4_K, Q5_K and Q6_K have 4-activation-row dots (qX_K_dot4_q8_K*) that unpack a weight
 * super-block once for the four tokens; each token's sums go through exactly the operations of
 * the single-row dot, so out[t] is vec_dot's bit for bit (tests/test_kquant_rows.c checks).
 * Q2_K and Q3_K have none: four single-row dots, bit for bit by construction. */
#include "kernels/kquant_rows.h"

#define FOUR_DOTS(name, dot)                                                                     \
    void name(const void *w, const void *xq, size_t x_stride, int64_t n, float out[4])           \
    {                                                                                            \
        for (int t = 0; t < 4; t++) out[t] = dot(w, (const char *)xq + t * x_stride, n);        \
    }
#define SHARED_UNPACK(name, dot4)                                                                \
    void name(const void *w, const void *xq, size_t x_stride, int64_t n, float out[4])           \
    {                                                                                            \
        dot4(w, xq, (int64_t)x_stride, n, out);                                                  \
    }

FOUR_DOTS(kquant_q2_K_vec_dot4, q2_K_dot_q8_K)
FOUR_DOTS(kquant_q3_K_vec_dot4, q3_K_dot_q8_K)
SHARED_UNPACK(kquant_q4_K_vec_dot4, q4_K_dot4_q8_K)
SHARED_UNPACK(kquant_q5_K_vec_dot4, q5_K_dot4_q8_K)
SHARED_UNPACK(kquant_q6_K_vec_dot4, q6_K_dot4_q8_K)

/* kquants_avx2.c defines its functions on every platform (off x86-64 as the scalar ones), so
 * these compile everywhere; the AVX2 set that uses them exists only on x86-64. */
FOUR_DOTS(kquant_q2_K_vec_dot4_avx2, q2_K_dot_q8_K_avx2)
FOUR_DOTS(kquant_q3_K_vec_dot4_avx2, q3_K_dot_q8_K_avx2)
SHARED_UNPACK(kquant_q4_K_vec_dot4_avx2, q4_K_dot4_q8_K_avx2)
SHARED_UNPACK(kquant_q5_K_vec_dot4_avx2, q5_K_dot4_q8_K_avx2)
SHARED_UNPACK(kquant_q6_K_vec_dot4_avx2, q6_K_dot4_q8_K_avx2)
