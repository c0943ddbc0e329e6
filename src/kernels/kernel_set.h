/* kernel_set.h — one set of compute kernels per instruction set, chosen once per context.
 *
 * A kernel set is a constant struct: for each storage type, the inner loops that read it (a row
 * per type, as in tensor.h's traits), the register tile of the prefill GEMM, and the product at
 * the heart of prefill attention. There is one set per file: scalar.c (portable C, the
 * reference), avx2.c (AVX2 + FMA + F16C), avx512.c (AVX-512 F/BW/VL/VNNI), amx.c (the AVX-512
 * set plus an int8 prefill GEMM on Intel's AMX tiles). A set may leave a row's function NULL;
 * kernel_row_of() then takes the scalar one (or the type's own reference conversion), and that
 * is the only place a fallback happens. vec_dot_gemm has no fallback: without it, prefill takes
 * the float GEMM. The GEMM tile and the attention product are never NULL.
 *
 * Which set runs is decided when a context is created (kernel_set_best(), or a name the caller
 * asks for) and stored in it; ops receive it as an argument. Nothing here is mutable. */
#ifndef ATTEND_KERNEL_SET_H
#define ATTEND_KERNEL_SET_H

#include <stddef.h>
#include <stdint.h>
#include "tensor.h"

typedef struct {
    /* dst[0..n) = the values of a stored row; the same floats as the type's reference */
    void (*to_float)(const void *src, float *dst, int64_t n);
    /* a float row into this type (for a vec_dot_type: how activations are quantized) */
    void (*from_float)(const float *src, void *dst, int64_t n);

    /* Float activations (the exact path). sum_i w[i] * x[i] over n elements of a stored row: */
    float (*dot)(const void *w, const float *x, int64_t n);
    /* the same for 4 activation rows x, x + stride, ...: loading a weight once for several
     * tokens is what makes a short batch cheaper than 4 decode steps. */
    void (*dot4)(const void *w, const float *x, int64_t stride, int64_t n, float out[4]);
    /* four weight rows w, w + row_bytes, ... against one activation row x (decode): x is loaded
     * once for four rows, and the four sums are reduced together. out[r] must equal dot(row r, x)
     * bit for bit, so it comes with the set's own dot (as vec_dot_rows4 with vec_dot). May be
     * NULL: decode then calls dot per row. */
    void (*dot_rows4)(const void *w, size_t row_bytes, const float *x, int64_t n, float out[4]);

    /* Activations already converted to the type's vec_dot_type (the fast path; NULL when the
     * vec_dot_type is F32). xq is a row of n values in that type. */
    float (*vec_dot)(const void *w, const void *xq, int64_t n);
    /* the same for 4 activation rows xq, xq + x_stride bytes, ...: each weight block is loaded
     * once for four tokens. out[t] must equal vec_dot(w, row t) bit for bit. */
    void (*vec_dot4)(const void *w, const void *xq, size_t x_stride, int64_t n, float out[4]);
    /* four weight rows w, w + row_bytes, ... against one activation row xq (decode): the
     * activation block is loaded once for four rows. out[r] must equal vec_dot(row r, xq) bit for
     * bit, so it comes with the set's own vec_dot (kernel_row_of never mixes them) and a matrix
     * may multiply any of its rows either way. May be NULL: decode then calls vec_dot per row. */
    void (*vec_dot_rows4)(const void *w, size_t row_bytes, const void *xq, int64_t n, float out[4]);

    /* Prefill against activations already in the vec_dot_type (NULL in every set but amx; matmul
     * then uses the float GEMM): out[t * ldo + r] = W[r] . x[t] for rows r0 <= r < r1 of w and
     * n_tokens rows of xq, x_stride bytes apart. Each output is summed the same way whatever rows
     * it is called with, so the thread count changes nothing. `scratch` holds the set's
     * vec_dot_gemm_scratch bytes and belongs to the calling thread. */
    void (*vec_dot_gemm)(const tensor *w, int64_t r0, int64_t r1, const void *xq, size_t x_stride,
                         int n_tokens, float *out, int64_t ldo, void *scratch);
} kernel_row;

/* The prefill GEMM's register tile: tile[t * rows + r] = sum_k panel[k * rows + r] * x[t][k] for
 * `tokens` token pointers and a panel of kc packed columns of `rows` weights (see ops/gemm.c). */
typedef void (*gemm_tile_fn)(const float *panel, int kc, const float *const *x, float *tile);

/* Optionally, a faster way to pack a whole panel: `rows` stored rows of `type` from first_row
 * (row_bytes apart), columns k0 .. k0+kc-1, into panel[k * rows + r], the same floats as the
 * type's to_float. Returns 0, having written nothing, for a type or shape it does not take. */
typedef int (*gemm_pack_fn)(int type, const void *first_row, size_t row_bytes, int64_t k0, int kc, int rows,
                            float *panel);

/* F16 weights may stay in fp16 in their panels (panel[k * rows + r], the stored halves), half the
 * bytes to pack and to stream through the caches, and be converted in the tile: the same sums as
 * `tile` over their fp32 values, bit for bit (the conversion is exact). */
typedef void (*gemm_tile_f16_fn)(const uint16_t *panel, int kc, const float *const *x, float *tile);
/* `rows` F16 rows from first_row, columns k0 .. k0+kc-1, into such a panel; 0 (nothing written) for
 * a shape it does not take. */
typedef int (*gemm_pack_f16_fn)(const void *first_row, size_t row_bytes, int64_t k0, int kc, int rows,
                                uint16_t *panel);

typedef struct {
    int rows;        /* weight rows per tile (the panel's width) */
    int tokens;      /* tokens per tile */
    int k_block;     /* columns per packed panel: rows * k_block floats should stay in L1/L2 */
    gemm_tile_fn tile;
    gemm_pack_fn pack;   /* may be NULL: gemm.c then dequantizes row by row and transposes */
    gemm_tile_f16_fn tile_f16;   /* may be NULL: F16 panels are then fp32, as for every other type */
    gemm_pack_f16_fn pack_f16;   /* may be NULL: gemm.c then copies the halves one by one */
} gemm_kernel;

enum { GEMM_MAX_ROWS = 32, GEMM_MAX_TOKENS = 8, GEMM_MAX_K = 1024 };

/* Attention's two small matrix products in prefill (ops/attention.c: scores = keys . queries, and
 * the weighted values), register-blocked as the GEMM's tile is:
 *     c[u * c_step + i] += sum over p < n of a[u][p * a_step] * b[p * b_step + i]
 * for the m rows u < m (1 <= m <= ATTN_PRODUCT_ROWS) and the 16 columns i < 16. Each element is
 * summed over p in order, one fused multiply-add per term where the set has them (the scalar
 * set: where the compiler targets them), so how the rows are grouped changes no bits. */
enum { ATTN_PRODUCT_ROWS = 6, ATTN_PRODUCT_COLS = 16 };
typedef void (*attention_product_fn)(int m, int n, const float *const a[], size_t a_step, const float *b,
                                     size_t b_step, float *c, size_t c_step);

/* Decode's scores (ops/attention.c): one query against n keys of head_dim floats each,
 *     score[j] = scale * (q . k[j * k_step ...]),
 * each dot summed in one fixed order whatever the set: eight partial sums, p_i over the elements
 * d = i mod 8 of the whole chunks of 8, in order, one multiply and one add per term (not fused);
 * then ((p0 + p1) + (p2 + p3)) + ((p4 + p5) + (p6 + p7)); then the last head_dim mod 8 terms one
 * by one; then the scale. So every set gives the same bits. (A SIMD set sums eight keys at once
 * and transposes their partial sums into one vector: no horizontal sum per key.) */
typedef void (*attention_scores_fn)(const float *q, const float *k, size_t k_step, int n, int head_dim, float scale,
                                    float *score);

typedef struct {
    const char *name;               /* "scalar", "avx2", "avx512", "amx" */
    kernel_row row[TYPE_COUNT];     /* indexed by storage type */
    gemm_kernel gemm;
    attention_product_fn attention_product;
    attention_scores_fn attention_scores;
    size_t vec_dot_gemm_scratch;    /* per-thread bytes the rows' vec_dot_gemm need (0: no row has one) */
} kernel_set;

extern const kernel_set kernels_scalar;   /* kernels/scalar.c */
extern const kernel_set kernels_avx2;     /* kernels/avx2.c */
extern const kernel_set kernels_avx512;   /* kernels/avx512.c */
extern const kernel_set kernels_amx;      /* kernels/amx.c */

/* The functions for one type: the set's own, the scalar set's where it has none, the type's
 * reference conversions where neither has one. */
kernel_row kernel_row_of(const kernel_set *k, int type);

/* ---- choosing a set (kernels/select.c) ---- */
/* Whether this CPU (and OS) runs the set. For "amx" on Linux this also asks the kernel for the
 * process's permission to use the tiles (the first call that gets this far does; see select.c). */
int kernel_set_supported(const kernel_set *k);
/* The fastest set this CPU runs. */
const kernel_set *kernel_set_best(void);
/* The set of that name ("scalar", "avx2", "avx512", "amx"), or NULL; supported or not. */
const kernel_set *kernel_set_named(const char *name);
/* The sets this CPU runs, scalar first, fastest last; returns how many (at most max). */
int kernel_sets_supported(const kernel_set **out, int max);

#endif
