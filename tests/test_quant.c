/* test_quant.c — the type-traits table (conversions, ggml's block layouts and quantizers), and
 * every kernel set this CPU runs against the scalar set and a float64 reference.
 *
 * `test_quant --bench [rows]` instead measures single-thread matrix-vector speed (GB/s of weight
 * bytes, rows x 4096 matrix, default 4096 rows) per type and variant. */

#include "kernels/kernel_set.h"
#include "tensor.h"
#include "test.h"

#include <signal.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

/* ==== Helpers ==== */

static const int all_types[] = { TYPE_F32, TYPE_F16, TYPE_BF16, TYPE_Q8_0, TYPE_Q4_0 };
enum { N_TYPES = sizeof all_types / sizeof all_types[0] };

/* The kernel sets this CPU runs, each type's functions resolved; [0] is scalar. */
typedef struct {
    const char *name;
    kernel_row traits[TYPE_COUNT];
} variant;
static variant variants[8];
static int n_variants;

static void capture_variants(void)
{
    const kernel_set *sets[8];
    n_variants = kernel_sets_supported(sets, 8);
    for (int v = 0; v < n_variants; v++) {
        variants[v].name = sets[v]->name;
        for (int i = 0; i < N_TYPES; i++)
            variants[v].traits[all_types[i]] = kernel_row_of(sets[v], all_types[i]);
        printf("# kernel set %s: tested\n", sets[v]->name);
    }
    printf("# kernel_set_best() is %s\n", kernel_set_best()->name);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static float uniform(void)   /* in [-1, 1) */
{
    return (float)((test_xorshift(&rng_state) >> 40) * 0x1p-23 - 1.0);
}

static float *random_floats(int64_t n, float scale)
{
    float *x = malloc((size_t)n * sizeof *x);
    for (int64_t i = 0; i < n; i++) x[i] = uniform() * scale;
    return x;
}

/* A stored row of n random weights of the given type. F32/F16/BF16 rows start `shift`
 * elements past a 64-byte boundary, so the kernels meet every alignment. */
typedef struct {
    void *data;
    void *allocation;   /* to free */
} stored_row;

static stored_row random_row(int type, int64_t n, int shift)
{
    size_t size = type_traits_of(type)->block_size == 1 ? type_traits_of(type)->block_bytes : 0;
    float *src = random_floats(n, 2.0f);
    stored_row row;
    row.allocation = aligned_alloc(64, (type_row_bytes(type, n) + 128) / 64 * 64);
    row.data = (uint8_t *)row.allocation + (size_t)shift * size;
    type_traits_of(type)->from_float(src, row.data, n);
    free(src);
    return row;
}

static uint16_t f16(float f) { return fp32_to_fp16(f); }
static uint32_t bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* float64 dot of the dequantized row (scalar to_float) with x; *magnitude = sum |w x| */
static double reference_dot(int type, const void *w, const float *x, int64_t n, double *magnitude)
{
    float *wf = malloc((size_t)n * sizeof *wf);
    variants[0].traits[type].to_float(w, wf, n);
    double sum = 0, mag = 0;
    for (int64_t i = 0; i < n; i++) {
        sum += (double)wf[i] * x[i];
        mag += fabs((double)wf[i] * x[i]);
    }
    free(wf);
    *magnitude = mag;
    return sum;
}

/* the sizes each type is tested at: every n up to 300 and some large ones for F32/F16/BF16
 * (so every tail length occurs), every multiple of 32 up to 4096 for the block types */
static int next_n(int type, int n)
{
    if (type_traits_of(type)->block_size == 32) return n + 32 <= 4096 ? n + 32 : 0;
    if (n < 300) return n + 1;
    if (n < 4096) return n == 300 ? 1023 : n == 1023 ? 4096 : 0;
    return n == 4096 ? 4099 : 0;
}

/* ==== Half precision ==== */

static void test_fp16_round_trips_every_half_exactly(void)
{
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue;   /* nan: see the specials test */
        uint16_t back = fp32_to_fp16(fp16_to_fp32((uint16_t)h));
        CHECKF(back == h, "half 0x%04x -> %g -> 0x%04x", h, fp16_to_fp32((uint16_t)h), back);
    }
}

static void test_fp16_specials_and_subnormals(void)
{
    CHECK(fp16_to_fp32(0x7c00) == INFINITY && fp16_to_fp32(0xfc00) == -INFINITY);
    CHECK(f16(INFINITY) == 0x7c00 && f16(-INFINITY) == 0xfc00);
    CHECK(isnan(fp16_to_fp32(0x7e00)) && isnan(fp16_to_fp32(0x7c01)));
    uint16_t nan = f16(NAN);
    CHECKF((nan & 0x7c00) == 0x7c00 && (nan & 0x200), "nan -> 0x%04x, not a quiet nan", nan);
    CHECK((f16(from_bits(0x7f800001)) & 0x7e00) == 0x7e00);    /* signalling nan stays a nan */
    CHECK(f16(-0.0f) == 0x8000 && signbit(fp16_to_fp32(0x8000)) && fp16_to_fp32(0x8000) == 0);
    CHECK(fp16_to_fp32(0x0001) == 0x1p-24f);                     /* smallest subnormal */
    CHECK(fp16_to_fp32(0x03ff) == 1023 * 0x1p-24f);              /* largest subnormal */
    CHECK(fp16_to_fp32(0x0400) == 0x1p-14f && fp16_to_fp32(0x7bff) == 65504);
    CHECK(f16(0x1p-24f) == 0x0001 && f16(-0x1p-24f) == 0x8001);
    CHECK(f16(0x1p-25f) == 0x0000);                  /* tie between 0 and 2^-24: even is 0 */
    CHECK(f16(0x1.000002p-25f) == 0x0001);           /* just above the tie */
    CHECK(f16(3 * 0x1p-25f) == 0x0002);              /* tie between 1 and 2 ulps: even is 2 */
    CHECK(f16(0x1p-26f) == 0 && f16(1e-30f) == 0 && f16(-1e-30f) == 0x8000);
    CHECK(f16(1023.5f * 0x1p-24f) == 0x0400);        /* rounds up into the normals */
    CHECK(f16(1 + 0x1p-11f) == 0x3c00 && f16(1 + 3 * 0x1p-11f) == 0x3c02);  /* ties to even */
    CHECK(f16(65519.0f) == 0x7bff && f16(65520.0f) == 0x7c00 && f16(1e10f) == 0x7c00);
}

/* Every fp32_to_fp16 result must be a nearest half, ties going to the even one; checked against
 * the neighbouring halves for random floats from 2^-30 to 2^17. */
static void test_fp16_rounds_to_nearest_even(void)
{
    for (int i = 0; i < 200000; i++) {
        float f = ldexpf(uniform(), (int)(uniform() * 24) - 7);
        if (i % 7 == 0) f = from_bits((bits(f) & 0xffff0000u) | 0x1000u);  /* ties, often */
        uint16_t h = f16(f);
        double want = fabs((double)f), got = fabs((double)fp16_to_fp32(h));
        CHECKF(signbit(f) == signbit(fp16_to_fp32(h)), "sign of %a lost", f);
        uint16_t mag = h & 0x7fff;
        if (mag == 0x7c00) {                      /* overflow: only from 65520 up */
            CHECKF(want >= 65520, "%a -> inf", f);
            continue;
        }
        double below = mag ? fp16_to_fp32(mag - 1) : 0, above = fp16_to_fp32(mag + 1);
        CHECKF(fabs(got - want) <= fabs(below - want) && fabs(got - want) <= fabs(above - want),
               "%a -> 0x%04x is not a nearest half", f, h);
        if (fabs(got - want) == fabs(below - want) || fabs(got - want) == fabs(above - want))
            CHECKF((mag & 1) == 0, "tie %a -> odd half 0x%04x", f, h);
    }
}

static void test_bf16_round_trips_and_rounds_to_nearest_even(void)
{
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7f80) == 0x7f80 && (h & 0x7f)) continue;
        CHECKF(fp32_to_bf16(bf16_to_fp32((uint16_t)h)) == h, "bf16 0x%04x", h);
    }
    CHECK(bf16_to_fp32(0x3f80) == 1.0f && bf16_to_fp32(0xc000) == -2.0f);
    CHECK(fp32_to_bf16(from_bits(0x3f808000)) == 0x3f80);  /* tie: stays even */
    CHECK(fp32_to_bf16(from_bits(0x3f818000)) == 0x3f82);  /* tie: up to even */
    CHECK(fp32_to_bf16(from_bits(0x3f808001)) == 0x3f81);  /* above the tie */
    CHECK(fp32_to_bf16(from_bits(0x7f7fffff)) == 0x7f80);  /* overflows to inf */
    CHECK(fp32_to_bf16(-0.0f) == 0x8000 && fp32_to_bf16(INFINITY) == 0x7f80);
    uint16_t nan = fp32_to_bf16(from_bits(0x7f800001));     /* payload only in dropped bits */
    CHECKF((nan & 0x7fc0) == 0x7fc0, "signalling nan -> 0x%04x, not a quiet nan", nan);
}

/* ==== Block layouts and quantizers ==== */

static void test_q8_0_block_dequantizes_as_q_times_d(void)
{
    uint8_t block[34];
    uint16_t d = f16(0.5f);
    memcpy(block, &d, 2);
    for (int j = 0; j < 32; j++) block[2 + j] = (uint8_t)(int8_t)(j - 16);
    block[2 + 31] = (uint8_t)(int8_t)-128;
    float out[32];
    for (int v = 0; v < n_variants; v++) {
        variants[v].traits[TYPE_Q8_0].to_float(block, out, 32);
        for (int j = 0; j < 31; j++)
            CHECKF(out[j] == (j - 16) * 0.5f, "%s: element %d is %g", variants[v].name, j, out[j]);
        CHECK(out[31] == -64.0f);
    }
}

/* Byte j holds element j in its low nibble and element j + 16 in its high nibble. */
static void test_q4_0_block_dequantizes_in_nibble_order(void)
{
    uint8_t block[18];
    uint16_t d = f16(0.25f);
    memcpy(block, &d, 2);
    for (int j = 0; j < 16; j++) block[2 + j] = (uint8_t)(j | (15 - j) << 4);
    float out[32];
    for (int v = 0; v < n_variants; v++) {
        variants[v].traits[TYPE_Q4_0].to_float(block, out, 32);
        for (int j = 0; j < 16; j++) {
            CHECKF(out[j] == (j - 8) * 0.25f, "%s: element %d is %g", variants[v].name, j, out[j]);
            CHECKF(out[j + 16] == (7 - j) * 0.25f, "%s: element %d is %g", variants[v].name,
                   j + 16, out[j + 16]);
        }
    }
}

static void test_q8_0_from_float_matches_ggml_rounding(void)
{
    float x[64] = { 0 };
    x[0] = -127, x[1] = 2.5f, x[2] = -2.5f, x[3] = 0.49f, x[4] = 126.6f;  /* d = 1 exactly */
    for (int j = 0; j < 32; j++) x[32 + j] = (float)(j - 16);              /* amax 16 at j = 0 */
    uint8_t block[68];
    type_traits_of(TYPE_Q8_0)->from_float(x, block, 64);
    uint16_t d0, d1;
    memcpy(&d0, block, 2);
    memcpy(&d1, block + 34, 2);
    CHECK(d0 == f16(1.0f) && d1 == f16(16.0f / 127));
    int8_t *q = (int8_t *)(block + 2);
    CHECK(q[0] == -127 && q[3] == 0 && q[4] == 127 && q[5] == 0);
    CHECK(q[1] == 3 && q[2] == -3);         /* roundf: halves go away from zero, not to even */
    q = (int8_t *)(block + 36);
    CHECK(q[0] == -127 && q[16] == 0 && q[31] == 119);       /* 15 * 127 / 16 = 119.06 */
    CHECK(q[4] == -95 && q[20] == 32);                       /* -12 * 7.9375 = -95.25, 31.75 */

    /* q = round(x * (1 / d)) with d = amax / 127 rounded first, not x * 127 / amax: here the
     * two differ (x * id = -125.5 within an ulp), and ggml's order gives -126. */
    float y[32] = { 0x1.333332p-3f, -0x1.2f9256p-3f };
    type_traits_of(TYPE_Q8_0)->from_float(y, block, 32);
    CHECK((int8_t)block[2] == 127 && (int8_t)block[3] == -126);
}

/* The element of largest magnitude keeps its sign: it maps to q = 0 and is exact; the first
 * one wins a tie; the other side clips at q = 15. */
static void test_q4_0_from_float_follows_the_sign_of_the_extreme(void)
{
    float x[32] = { 0 };
    uint8_t block[18];
    uint16_t d;
    float out[32];
    const type_traits *q4 = type_traits_of(TYPE_Q4_0);

    x[3] = -4, x[20] = 3, x[5] = 0.74f;                       /* negative extreme: d = +0.5 */
    q4->from_float(x, block, 32);
    memcpy(&d, block, 2);
    CHECK(d == f16(0.5f));
    CHECK((block[2 + 3] & 0x0f) == 0 && (block[2 + 4] >> 4) == 14);   /* 3 * 2 + 8.5 = 14.5 */
    CHECK((block[2 + 5] & 0x0f) == 9);                                /* 0.74 * 2 + 8.5 = 9.98 */
    CHECK((block[2 + 0] & 0x0f) == 8);
    q4->to_float(block, out, 32);
    CHECK(out[3] == -4 && out[20] == 3 && out[0] == 0 && out[5] == 0.5f);

    x[3] = 4, x[20] = -4;                                     /* tie: the first (+4) is max */
    q4->from_float(x, block, 32);
    memcpy(&d, block, 2);
    CHECK(d == f16(-0.5f));
    CHECK((block[2 + 3] & 0x0f) == 0 && (block[2 + 4] >> 4) == 15);   /* 16.5 clipped to 15 */
    q4->to_float(block, out, 32);
    CHECK(out[3] == 4 && out[20] == -3.5f);
}

static void test_all_zero_blocks_quantize_to_zero(void)
{
    float x[64] = { 0 }, out[64];
    uint8_t q8[68], q4[36];
    type_traits_of(TYPE_Q8_0)->from_float(x, q8, 64);
    type_traits_of(TYPE_Q4_0)->from_float(x, q4, 64);
    for (int b = 0; b < 2; b++) {
        uint16_t d8, d4;
        memcpy(&d8, q8 + 34 * b, 2);
        memcpy(&d4, q4 + 18 * b, 2);
        CHECK(d8 == 0);
        CHECK(d4 == 0x8000);                   /* ggml: d = 0 / -8 is -0, and q = 8 */
        for (int j = 0; j < 32; j++) CHECK(q8[34 * b + 2 + j] == 0);
        for (int j = 0; j < 16; j++) CHECK(q4[18 * b + 2 + j] == 0x88);
    }
    type_traits_of(TYPE_Q4_0)->to_float(q4, out, 64);
    for (int j = 0; j < 64; j++) CHECK(out[j] == 0);
}

/* A block holding a NaN or an infinity (corrupt activations or a corrupt KV cache file) is stored
 * so that it reads back as NaN, every value of it, instead of being rounded to integers (undefined
 * for NaN); the finite blocks beside it quantize as they would alone. */
static void test_non_finite_blocks_read_back_as_nan(void)
{
    float x[128], alone[32];
    for (int i = 0; i < 128; i++) x[i] = 0.05f * (float)(i % 23) - 0.4f;
    x[7] = NAN;
    x[32 + 31] = INFINITY;
    x[64] = -INFINITY;
    for (int t = 0; t < 2; t++) {
        const int type = t ? TYPE_Q4_0 : TYPE_Q8_0;
        const size_t bb = type_traits_of(type)->block_bytes;
        uint8_t q[4 * 34], q_alone[34];
        float out[128];
        type_traits_of(type)->from_float(x, q, 128);
        type_traits_of(type)->to_float(q, out, 128);
        for (int i = 0; i < 96; i++)
            CHECKF(isnan(out[i]), "%s: value %d reads %g", type_traits_of(type)->name, i, out[i]);
        type_traits_of(type)->from_float(x + 96, q_alone, 32);
        CHECKF(!memcmp(q + 3 * bb, q_alone, bb), "%s: the finite block changed", type_traits_of(type)->name);
        type_traits_of(type)->to_float(q_alone, alone, 32);
        for (int i = 0; i < 32; i++)
            CHECK(out[96 + i] == alone[i]);
    }
}

/* Error bounds: Q8_0 within half a step (plus the fp16 rounding of d), Q4_0 within a step
 * (half a step, except the clipped side). */
static void test_quantized_round_trip_error_is_bounded(void)
{
    const int n = 4096;
    float *x = random_floats(n, 3.0f), out[4096];
    uint8_t row[4096 / 32 * 34];
    for (int t = 0; t < 2; t++) {
        int type = t ? TYPE_Q4_0 : TYPE_Q8_0;
        const type_traits *tr = type_traits_of(type);
        tr->from_float(x, row, n);
        tr->to_float(row, out, n);
        for (int b = 0; b < n / 32; b++) {
            uint16_t dh;
            memcpy(&dh, row + b * tr->block_bytes, 2);
            float d = fabsf(fp16_to_fp32(dh)), amax = 0;
            for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[32 * b + j]));
            float ideal = type == TYPE_Q8_0 ? amax / 127 : amax / 8;
            float bound = (type == TYPE_Q8_0 ? 0.5f * d : d) + 128 * fabsf(d - ideal) + 1e-6f;
            for (int j = 0; j < 32; j++) {
                float err = fabsf(out[32 * b + j] - x[32 * b + j]);
                CHECKF(err <= bound, "%s block %d elem %d: %g -> %g", tr->name, b, j,
                       x[32 * b + j], out[32 * b + j]);
            }
        }
    }
    free(x);
}

/* ==== Kernels: every variant against the scalar reference and float64 ==== */

static void test_every_variant_to_float_equals_scalar(void)
{
    for (int t = 0; t < N_TYPES; t++) {
        int type = all_types[t];
        for (int n = type_traits_of(type)->block_size; n; n = next_n(type, n)) {
            stored_row stored = random_row(type, n, n % 16);
            void *row = stored.data;
            float *want = malloc((size_t)n * 4), *got = malloc((size_t)n * 4);
            variants[0].traits[type].to_float(row, want, n);
            for (int v = 1; v < n_variants; v++) {
                variants[v].traits[type].to_float(row, got, n);
                CHECKF(!memcmp(want, got, (size_t)n * 4), "%s %s n=%d", variants[v].name,
                       type_traits_of(type)->name, n);
            }
            free(stored.allocation), free(want), free(got);
        }
    }
}

static void test_every_variant_dot_matches_scalar_and_float64(void)
{
    for (int t = 0; t < N_TYPES; t++) {
        int type = all_types[t];
        for (int n = type_traits_of(type)->block_size; n; n = next_n(type, n)) {
            stored_row stored = random_row(type, n, n % 16);
            void *row = stored.data;
            float *x = random_floats(n, 1.0f);
            double magnitude, exact = reference_dot(type, row, x, n, &magnitude);
            float scalar = variants[0].traits[type].dot(row, x, n);
            for (int v = 0; v < n_variants; v++) {
                float got = variants[v].traits[type].dot(row, x, n);
                CHECKF(test_close_to(got, scalar, magnitude, 1e-5), "%s %s n=%d: %.9g vs scalar %.9g",
                       variants[v].name, type_traits_of(type)->name, n, got, scalar);
                CHECKF(test_close_to(got, exact, magnitude, 1e-5), "%s %s n=%d: %.9g vs float64 %.9g",
                       variants[v].name, type_traits_of(type)->name, n, got, exact);
            }
            free(stored.allocation), free(x);
        }
    }
}

static void test_every_variant_dot4_matches_dot_per_row(void)
{
    for (int t = 0; t < N_TYPES; t++) {
        int type = all_types[t];
        for (int n = type_traits_of(type)->block_size; n; n = next_n(type, n)) {
            int64_t stride = n + 5;              /* rows apart by more than n */
            stored_row stored = random_row(type, n, (n + 5) % 16);
            void *row = stored.data;
            float *x = random_floats(4 * stride, 1.0f);
            for (int v = 0; v < n_variants; v++) {
                float out[4];
                variants[v].traits[type].dot4(row, x, stride, n, out);
                for (int r = 0; r < 4; r++) {
                    double magnitude, exact = reference_dot(type, row, x + r * stride, n, &magnitude);
                    float scalar = variants[0].traits[type].dot(row, x + r * stride, n);
                    CHECKF(test_close_to(out[r], scalar, magnitude, 1e-5) &&
                           test_close_to(out[r], exact, magnitude, 1e-5),
                           "%s %s n=%d row %d: %.9g vs scalar %.9g, float64 %.9g", variants[v].name,
                           type_traits_of(type)->name, n, r, out[r], scalar, exact);
                }
            }
            free(stored.allocation), free(x);
        }
    }
}

/* A row (and the activations) placed flush against an unmapped page: any read past the end
 * faults, and the handler turns the fault into a FAIL. */
static void on_fault(int sig)
{
    (void)sig;
    static const char msg[] = "kernel touched memory past the end of its row (SIGSEGV)";
    memcpy(test_msg_, msg, sizeof msg);
    longjmp(test_jmp_, 1);
}

static void test_kernels_never_read_past_the_row(void)
{
    struct sigaction sa = { 0 }, old_segv, old_bus;
    sa.sa_handler = on_fault;
    sa.sa_flags = SA_NODEFER;
    sigaction(SIGSEGV, &sa, &old_segv);
    sigaction(SIGBUS, &sa, &old_bus);
    static const int sizes[] = { 1, 7, 15, 17, 31, 32, 33, 63, 96, 172, 4096 };
    for (int t = 0; t < N_TYPES; t++) {
        int type = all_types[t];
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            int n = sizes[s];
            size_t bytes = type_row_bytes(type, n);
            if (!bytes) continue;                 /* not a whole number of blocks */
            void *row = test_guarded_alloc(bytes);
            float *x = test_guarded_alloc(4 * (size_t)n * 4);
            float *out = test_guarded_alloc((size_t)n * 4);
            CHECK(row && x && out);
            float *src = random_floats(4 * n, 1.0f);
            memcpy(x, src, 4 * (size_t)n * 4);
            type_traits_of(type)->from_float(src, row, n);
            for (int v = 0; v < n_variants; v++) {
                const kernel_row *k = &variants[v].traits[type];
                float sums[4];
                volatile float sink = k->dot(row, x + 3 * n, n);
                k->dot4(row, x, n, n, sums);
                k->to_float(row, out, n);
                if (k->vec_dot) {   /* int8: the quantized x flush against the guard page, too */
                    size_t xq_bytes = type_row_bytes(TYPE_Q8_0, n);
                    void *xq = test_guarded_alloc(xq_bytes);
                    void *xq_out = test_guarded_alloc(xq_bytes);
                    CHECK(xq && xq_out);
                    type_traits_of(TYPE_Q8_0)->from_float(src, xq, n);
                    variants[v].traits[TYPE_Q8_0].from_float(x + 3 * n, xq_out, n);
                    sink = k->vec_dot(row, xq, n);
                    k->vec_dot4(row, xq, 0, n, sums);
                    if (k->vec_dot_rows4) k->vec_dot_rows4(row, 0, xq, n, sums);
                    test_guarded_free(xq, xq_bytes), test_guarded_free(xq_out, xq_bytes);
                }
                (void)sink;
            }
            free(src);
            test_guarded_free(row, bytes), test_guarded_free(x, 4 * (size_t)n * 4);
            test_guarded_free(out, (size_t)n * 4);
        }
    }
    sigaction(SIGSEGV, &old_segv, NULL);
    sigaction(SIGBUS, &old_bus, NULL);
}

/* ==== The table and the choice of kernel set ==== */

static void test_table_describes_the_ggml_types(void)
{
    CHECK(type_traits_of(TYPE_Q4_0)->block_size == 32 && type_traits_of(TYPE_Q4_0)->block_bytes == 18);
    CHECK(type_traits_of(TYPE_Q8_0)->block_size == 32 && type_traits_of(TYPE_Q8_0)->block_bytes == 34);
    CHECK(type_traits_of(TYPE_F16)->block_bytes == 2 && !type_traits_of(TYPE_F16)->quantized);
    CHECK(type_traits_of(TYPE_Q4_0)->quantized && !strcmp(type_traits_of(TYPE_BF16)->name, "BF16"));
    CHECK(!type_traits_of(3) && !type_traits_of(-1) && !type_traits_of(TYPE_COUNT));
    CHECK(type_row_bytes(TYPE_Q4_0, 4096) == 2304 && type_row_bytes(TYPE_Q8_0, 4096) == 4352);
    CHECK(type_row_bytes(TYPE_F16, 172) == 344 && type_row_bytes(TYPE_F32, 172) == 688);
    CHECK(type_row_bytes(TYPE_Q8_0, 33) == 0 && type_row_bytes(7, 32) == 0);
}

static void test_kernel_sets_are_chosen_by_cpu_and_name(void)
{
    CHECK(!strcmp(variants[0].name, "scalar"));
    CHECK(!strcmp(kernel_set_best()->name, variants[n_variants - 1].name));
    CHECK(kernel_set_named("avx2") == &kernels_avx2 && kernel_set_named("scalar") == &kernels_scalar);
    CHECK(kernel_set_named("avx512") == &kernels_avx512 && !kernel_set_named("no-such-set"));
    CHECK(kernel_set_named("amx") == &kernels_amx);
    CHECK(kernel_set_supported(&kernels_scalar));
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (kernel_set_supported(&kernels_amx))   /* the CPU, its XCR0 and Linux's permission: select.c */
        CHECK(!strcmp(kernel_set_best()->name, "amx"));
    else if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl"))
        CHECK(!strcmp(kernel_set_best()->name, "avx512"));
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        CHECK(!strcmp(kernel_set_best()->name, "avx2"));
#endif
    /* every set fills what the ops call, directly or through kernel_row_of's fallback */
    const kernel_set *sets[4] = {&kernels_scalar, &kernels_avx2, &kernels_avx512, &kernels_amx};
    for (int k = 0; k < 4; k++) {
        if (!kernel_set_supported(sets[k])) continue;
        CHECK(sets[k]->gemm.tile && sets[k]->gemm.rows <= GEMM_MAX_ROWS &&
              sets[k]->gemm.tokens <= GEMM_MAX_TOKENS && sets[k]->gemm.k_block <= GEMM_MAX_K);
        for (int i = 0; i < N_TYPES; i++) {
            kernel_row r = kernel_row_of(sets[k], all_types[i]);
            CHECK(r.to_float && r.from_float && r.dot && r.dot4);
            CHECK(!r.vec_dot == (type_traits_of(all_types[i])->vec_dot_type == TYPE_F32));
            /* an int8 GEMM needs the integer dot's activations, and scratch */
            CHECK(!r.vec_dot_gemm || (r.vec_dot && sets[k]->vec_dot_gemm_scratch > 0));
        }
    }
}

/* ==== Int8 activations: quantizing them, and the integer dot products ==== */

/* Every set's activation quantizer gives the reference quantizer's bytes, ties included. */
static void test_every_variant_quantizes_activations_as_the_reference(void)
{
    const int n = 4096;
    float *x = random_floats(n, 3.0f);
    for (int i = 0; i < 64; i++) x[i] = (float)(i % 9) * 0.5f - 2.0f;   /* d = 2/127: ties */
    for (int i = 64; i < 96; i++) x[i] = 0;                               /* an all-zero block */
    uint8_t want[4096 / 32 * 34], got[4096 / 32 * 34];
    type_traits_of(TYPE_Q8_0)->from_float(x, want, n);
    for (int v = 0; v < n_variants; v++) {
        variants[v].traits[TYPE_Q8_0].from_float(x, got, n);
        for (int b = 0; b < n / 32; b++)
            CHECKF(!memcmp(want + 34 * b, got + 34 * b, 34), "%s: block %d differs", variants[v].name, b);
    }
    free(x);
}

/* vec_dot(w, quantize(x)) against float64 over the dequantized operands (the integer products
 * are exact, so only the float sums of block results may differ), and each set against scalar;
 * vec_dot4 gives each activation row's vec_dot bit for bit. */
static void test_every_variant_vec_dot_matches_scalar_and_float64(void)
{
    const int int8_types[] = {TYPE_Q8_0, TYPE_Q4_0};
    for (int t = 0; t < 2; t++) {
        int type = int8_types[t];
        for (int n = 32; n <= 4096; n += n < 512 ? 32 : 1024) {
            size_t row_bytes = type_row_bytes(type, n);
            size_t x_bytes = type_row_bytes(TYPE_Q8_0, n) + 6;   /* an odd stride between tokens */
            uint8_t *w = malloc(row_bytes), *xq = malloc(4 * x_bytes);
            float *src = random_floats(n, 2.0f);
            type_traits_of(type)->from_float(src, w, n);
            free(src);
            float *xd = malloc(sizeof(float) * n);
            for (int r = 0; r < 4; r++) {
                float *x = random_floats(n, 1.0f);
                type_traits_of(TYPE_Q8_0)->from_float(x, xq + r * x_bytes, n);
                free(x);
            }
            for (int r = 0; r < 4; r++) {
                type_traits_of(TYPE_Q8_0)->to_float(xq + r * x_bytes, xd, n);
                double magnitude, exact = reference_dot(type, w, xd, n, &magnitude);
                float scalar = variants[0].traits[type].vec_dot(w, xq + r * x_bytes, n);
                for (int v = 0; v < n_variants; v++) {
                    const kernel_row *k = &variants[v].traits[type];
                    float got = k->vec_dot(w, xq + r * x_bytes, n), four[4];
                    k->vec_dot4(w, xq, x_bytes, n, four);
                    CHECKF(test_close_to(got, exact, magnitude, 1e-5) && test_close_to(got, scalar, magnitude, 1e-5),
                           "%s %s n=%d token %d: %.9g vs scalar %.9g, float64 %.9g", variants[v].name,
                           type_traits_of(type)->name, n, r, got, scalar, exact);
                    CHECKF(four[r] == got, "%s %s n=%d token %d: vec_dot4 %.9g != vec_dot %.9g",
                           variants[v].name, type_traits_of(type)->name, n, r, four[r], got);
                }
            }
            free(w), free(xq), free(xd);
        }
    }
}

/* vec_dot_rows4 (decode's four rows per activation load) gives each row's vec_dot bit for bit,
 * whatever the number of blocks (a multiple of 4 or not) and the rows' stride. */
static void test_every_variant_vec_dot_rows4_matches_vec_dot_per_row(void)
{
    const int int8_types[] = {TYPE_Q8_0, TYPE_Q4_0};
    for (int t = 0; t < 2; t++) {
        int type = int8_types[t];
        for (int n = 32; n <= 4096; n += n < 512 ? 32 : 1024) {
            size_t row_bytes = type_row_bytes(type, n), stride = row_bytes + 10;
            uint8_t *w = malloc(4 * stride), *xq = malloc(type_row_bytes(TYPE_Q8_0, n));
            for (int r = 0; r < 4; r++) {
                float *src = random_floats(n, 1.0f + r);
                type_traits_of(type)->from_float(src, w + r * stride, n);
                free(src);
            }
            float *x = random_floats(n, 1.0f);
            type_traits_of(TYPE_Q8_0)->from_float(x, xq, n);
            free(x);
            for (int v = 0; v < n_variants; v++) {
                const kernel_row *k = &variants[v].traits[type];
                CHECKF(k->vec_dot_rows4, "%s %s: no vec_dot_rows4", variants[v].name, type_traits_of(type)->name);
                if (!k->vec_dot_rows4) continue;
                float four[4];
                k->vec_dot_rows4(w, stride, xq, n, four);
                for (int r = 0; r < 4; r++) {
                    float one = k->vec_dot(w + r * stride, xq, n);
                    CHECKF(four[r] == one, "%s %s n=%d row %d: vec_dot_rows4 %.9g != vec_dot %.9g",
                           variants[v].name, type_traits_of(type)->name, n, r, four[r], one);
                }
            }
            free(w), free(xq);
        }
    }
}

/* Extreme quants: Q8_0 weights at +-127 (and -128, which ggml never writes but a file may hold)
 * against activations at +-127 must not saturate vpmaddubsw's int16 pair sums. */
static void test_vec_dot_survives_extreme_quants(void)
{
    block_q8_0 w[2], x[2];
    for (int b = 0; b < 2; b++) {
        w[b].d = x[b].d = fp32_to_fp16(1.0f);
        for (int j = 0; j < 32; j++) {
            w[b].qs[j] = (int8_t)(b ? -128 : (j % 2 ? 127 : -127));
            x[b].qs[j] = (int8_t)(j % 3 ? 127 : -127);
        }
    }
    double want = 0;
    for (int b = 0; b < 2; b++)
        for (int j = 0; j < 32; j++) want += (double)w[b].qs[j] * x[b].qs[j];
    for (int v = 0; v < n_variants; v++) {
        float got = variants[v].traits[TYPE_Q8_0].vec_dot(w, x, 64);
        CHECKF(got == (float)want, "%s: %.9g vs %.9g", variants[v].name, got, want);
    }
}

/* ==== Benchmark (not a test) ==== */

/* CPU time of this thread: the machine is shared, and wall time counts the time others ran */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void bench(int rows)
{
    const int cols = 4096;
    printf("# single thread, %d x %d matrix times vector (dot) and times 4 vectors (dot4); int8:\n"
           "# x quantized, then one row per vec_dot, or four per vec_dot_rows4 (decode's path);\n"
           "# GB/s of weight bytes streamed per thread-CPU second, best of 8; 64-byte aligned\n",
           rows, cols);
    printf("%-6s %-7s %9s %11s %12s %14s %14s\n", "type", "variant", "MB", "dot GB/s", "dot4 GB/s",
           "int8 dot GB/s", "int8 rows4");
    float *x = aligned_alloc(64, 4 * cols * sizeof *x), *y = malloc((size_t)rows * 4 * sizeof *y);
    for (int i = 0; i < 4 * cols; i++) x[i] = uniform();
    for (int t = 0; t < N_TYPES; t++) {
        int type = all_types[t];
        size_t row_bytes = type_row_bytes(type, cols), bytes = row_bytes * rows;
        uint8_t *w = aligned_alloc(64, (bytes + 63) / 64 * 64);
        float *src = random_floats(cols, 1.0f);
        for (int r = 0; r < rows; r++) type_traits_of(type)->from_float(src, w + r * row_bytes, cols);
        free(src);
        for (int v = 0; v < n_variants; v++) {
            const kernel_row *k = &variants[v].traits[type];
            double best = 1e30, best4 = 1e30, best8 = 1e30, best_rows4 = 1e30;
            uint8_t xq[4096 / 32 * 34];
            for (int rep = 0; rep < 8; rep++) {
                double t0 = now();
                for (int r = 0; r < rows; r++) y[r] = k->dot(w + r * row_bytes, x, cols);
                double t1 = now();
                for (int r = 0; r < rows; r++) k->dot4(w + r * row_bytes, x, cols, cols, y + 4 * r);
                double t2 = now();
                if (k->vec_dot) {   /* decode's fast path: quantize x once, then integer dots */
                    variants[v].traits[TYPE_Q8_0].from_float(x, xq, cols);
                    for (int r = 0; r < rows; r++) y[r] = k->vec_dot(w + r * row_bytes, xq, cols);
                }
                double t3 = now();
                if (k->vec_dot_rows4) {
                    variants[v].traits[TYPE_Q8_0].from_float(x, xq, cols);
                    for (int r = 0; r + 4 <= rows; r += 4) k->vec_dot_rows4(w + r * row_bytes, row_bytes, xq, cols, y + r);
                }
                double t4 = now();
                best = fmin(best, t1 - t0), best4 = fmin(best4, t2 - t1), best8 = fmin(best8, t3 - t2);
                best_rows4 = fmin(best_rows4, t4 - t3);
            }
            printf("%-6s %-7s %9.1f %11.1f %12.1f %14.1f %14.1f\n", type_traits_of(type)->name, variants[v].name,
                   bytes / 1e6, bytes / best / 1e9, bytes / best4 / 1e9, k->vec_dot ? bytes / best8 / 1e9 : 0.0,
                   k->vec_dot_rows4 ? bytes / best_rows4 / 1e9 : 0.0);
            fflush(stdout);
        }
        free(w);
    }
    free(x), free(y);
}

int main(int argc, char **argv)
{
    capture_variants();
    if (argc > 1 && !strcmp(argv[1], "--bench")) {
        bench(argc > 2 ? atoi(argv[2]) : 4096);
        return 0;
    }
    RUN(test_fp16_round_trips_every_half_exactly);
    RUN(test_fp16_specials_and_subnormals);
    RUN(test_fp16_rounds_to_nearest_even);
    RUN(test_bf16_round_trips_and_rounds_to_nearest_even);
    RUN(test_q8_0_block_dequantizes_as_q_times_d);
    RUN(test_q4_0_block_dequantizes_in_nibble_order);
    RUN(test_q8_0_from_float_matches_ggml_rounding);
    RUN(test_q4_0_from_float_follows_the_sign_of_the_extreme);
    RUN(test_all_zero_blocks_quantize_to_zero);
    RUN(test_non_finite_blocks_read_back_as_nan);
    RUN(test_quantized_round_trip_error_is_bounded);
    RUN(test_every_variant_to_float_equals_scalar);
    RUN(test_every_variant_dot_matches_scalar_and_float64);
    RUN(test_every_variant_dot4_matches_dot_per_row);
    RUN(test_kernels_never_read_past_the_row);
    RUN(test_table_describes_the_ggml_types);
    RUN(test_kernel_sets_are_chosen_by_cpu_and_name);
    RUN(test_every_variant_quantizes_activations_as_the_reference);
    RUN(test_every_variant_vec_dot_matches_scalar_and_float64);
    RUN(test_every_variant_vec_dot_rows4_matches_vec_dot_per_row);
    RUN(test_vec_dot_survives_extreme_quants);
    TEST_EXIT();
}
