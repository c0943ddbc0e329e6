/* test_avx512_emulated.c — the AVX-512 kernel set (kernels/avx512.c) on every x86-64 CPU with
 * AVX2, through an emulation of its AVX-512 intrinsics (tests/avx512_emulate.h), and on a CPU with
 * AVX-512 also through the real instructions.
 *
 * This file includes avx512.c after the emulation header, so it holds a second copy of the set,
 * emulated_kernels_avx512, whose AVX-512 intrinsics are plain C. First the emulation itself is
 * checked against hand-computed cases for each intrinsic (so a wrong emulation cannot hide a wrong
 * kernel); then every kernel of the emulated set against the scalar set (and float64) on awkward
 * shapes: rows of every tail length, starting at every alignment, ending at a guard page; then the
 * GEMM tile, and matmul() with the emulated set. The last test runs the library's real AVX-512 set
 * where the CPU has it and requires the emulated one's bits; elsewhere it says it was skipped. */
#include "kernels/kernel_set.h"   /* first: it declares the library's kernels_avx512 by that name */
#if defined(__x86_64__)
#include "avx512_emulate.h"
#include "kernels/avx512.c"
#undef kernels_avx512   /* from here on the library's real set; the emulated one is emulated_kernels_avx512 */
#endif

#include <signal.h>

#include "test.h"
#include "ops_fixture.h"
#include "ops/gemm.h"
#include "ops/matmul.h"

#if defined(__x86_64__)

/* ==== Helpers ==== */

static uint64_t rng_state = 0x853c49e6748fea9bull;
static float uniform(void) { return (float)((test_xorshift(&rng_state) >> 40) * 0x1p-23 - 1.0); }   /* [-1, 1) */

/* The emulated build runs its 128/256-bit parts, and the AVX2 set's quantizer and packing, natively. */
static void need_avx2(void)
{
    if (!kernel_set_supported(&kernels_avx2))
        SKIP("this CPU has no AVX2/FMA/F16C, which the emulated build runs natively");
}

/* Tests that call intrinsics themselves are compiled for the emulated build's target. */
#define USES_INTRINSICS __attribute__((target("avx2,fma,f16c")))

static uint32_t bits_of(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

static const int float_types[] = {TYPE_F32, TYPE_F16, TYPE_BF16, TYPE_Q8_0, TYPE_Q4_0};
enum { N_FLOAT_TYPES = sizeof float_types / sizeof float_types[0] };

/* ==== The emulation, against hand-computed cases ==== */

USES_INTRINSICS static void test_emulated_loads_and_stores_touch_only_their_mask(void)
{
    need_avx2();
    float src[16], out[16];
    for (int i = 0; i < 16; i++) src[i] = (float)(i + 1);
    __m512 v = _mm512_maskz_loadu_ps(0x8005, src);
    _mm512_storeu_ps(out, v);
    const float want[16] = {1, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16};
    CHECK(!memcmp(out, want, sizeof out));
    for (int i = 0; i < 16; i++) out[i] = -1;
    _mm512_mask_storeu_ps(out, 0x0102, _mm512_loadu_ps(src));
    for (int i = 0; i < 16; i++)
        CHECKF(out[i] == (i == 1 || i == 8 ? src[i] : -1), "mask_storeu_ps element %d = %g", i, out[i]);
    /* a masked load of the last 3 floats before a guard page, and of 5 halves: no fault */
    float *edge = test_guarded_alloc(3 * sizeof(float));
    edge[0] = 7, edge[1] = 8, edge[2] = 9;
    _mm512_storeu_ps(out, _mm512_maskz_loadu_ps(0x0007, edge));
    CHECK(out[0] == 7 && out[1] == 8 && out[2] == 9 && out[3] == 0 && out[15] == 0);
    test_guarded_free(edge, 3 * sizeof(float));
    uint16_t *halves = test_guarded_alloc(5 * sizeof(uint16_t)), got16[16];
    for (int i = 0; i < 5; i++) halves[i] = (uint16_t)(0x1111 * (i + 1));
    _mm256_storeu_si256((__m256i *)got16, _mm256_maskz_loadu_epi16(0x001b, halves));   /* 0, 1, 3, 4 */
    const uint16_t want16[16] = {0x1111, 0x2222, 0, 0x4444, 0x5555};
    CHECK(!memcmp(got16, want16, sizeof got16));
    test_guarded_free(halves, 5 * sizeof(uint16_t));
    /* setr: first argument first; set1, setzero, broadcastss (element 0 of an __m128) */
    _mm512_storeu_ps(out, _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
    for (int i = 0; i < 16; i++) CHECK(out[i] == i);
    _mm512_storeu_ps(out, _mm512_broadcastss_ps(_mm_setr_ps(5, 6, 7, 8)));
    for (int i = 0; i < 16; i++) CHECK(out[i] == 5);
    _mm512_storeu_ps(out, _mm512_add_ps(_mm512_set1_ps(-2), _mm512_setzero_ps()));
    for (int i = 0; i < 16; i++) CHECK(out[i] == -2);
}

USES_INTRINSICS static void test_emulated_arithmetic_rounds_as_the_instructions(void)
{
    need_avx2();
    float out[16];
    /* (1 + 2^-12)^2 = 1 + 2^-11 + 2^-24: a multiply rounds the 2^-24 away (a tie, to even), a
     * fused multiply-add keeps it */
    const __m512 a = _mm512_set1_ps(1 + 0x1p-12f), c = _mm512_set1_ps(-(1 + 0x1p-11f));
    _mm512_storeu_ps(out, _mm512_fmadd_ps(a, a, c));
    CHECK(out[0] == 0x1p-24f && out[15] == 0x1p-24f);
    _mm512_storeu_ps(out, _mm512_add_ps(_mm512_mul_ps(a, a), c));
    CHECK(out[0] == 0 && out[15] == 0);
    _mm512_storeu_ps(out, _mm512_mul_ps(_mm512_setr_ps(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16),
                                        _mm512_set1_ps(-0.5f)));
    for (int i = 0; i < 16; i++) CHECK(out[i] == -0.5f * (i + 1));
    /* reduce_add_ps groups as GCC's: ((a0 + a8) + (a4 + a12)) + ... Here a0 + a8 = 2^24 + 1 rounds
     * to 2^24 but a4 + a12 = 2 survives: 2^24 + 2 (adding in element order would give 2^24). */
    float e[16] = {0};
    e[0] = 0x1p24f, e[8] = 1, e[4] = 1, e[12] = 1;
    CHECK(_mm512_reduce_add_ps(_mm512_loadu_ps(e)) == 0x1p24f + 2);
    /* ... then (t0 + t2) + (t1 + t3) of the four sums t_j: (2^24 - 2^24) + (1 + 1) = 2, where
     * (t0 + t1) + (t2 + t3) would give 0 and element order 1 */
    memset(e, 0, sizeof e);
    e[0] = 0x1p24f, e[2] = -0x1p24f, e[1] = 1, e[3] = 1;
    CHECK(_mm512_reduce_add_ps(_mm512_loadu_ps(e)) == 2);
}

USES_INTRINSICS static void test_emulated_conversions_are_exact(void)
{
    need_avx2();
    /* fp16: one, minus two, the largest, the smallest subnormal, infinity, a signalling NaN (quieted) */
    const uint16_t h[16] = {0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0xfc00, 0x7d01, 0x8000, 0x03ff};
    const uint32_t want_h[16] = {0x3f800000, 0xc0000000, 0x477fe000, 0x33800000, 0x7f800000, 0xff800000,
                                 0x7fe02000, 0x80000000, 0x387fc000};
    float out[16];
    __m256i hv;
    memcpy(&hv, h, sizeof hv);
    _mm512_storeu_ps(out, _mm512_cvtph_ps(hv));
    for (int i = 0; i < 16; i++)
        CHECKF(bits_of(out[i]) == want_h[i], "cvtph_ps of %#x: %#x", h[i], bits_of(out[i]));
    /* int32: 2^24 + 1 rounds to even, 2^31 - 1 up to 2^31 */
    emulated_m512i n = {.i32 = {16777217, -3, 2147483647, 16777219, -16777217}};
    _mm512_storeu_ps(out, _mm512_cvtepi32_ps(n));
    CHECK(out[0] == 16777216 && out[1] == -3 && out[2] == 0x1p31f && out[3] == 16777220 && out[4] == -16777216);
    /* widening: bytes signed and unsigned, 16-bit unsigned */
    const int8_t bytes[16] = {-128, -1, 0, 1, 127, -2};
    __m128i bv;
    memcpy(&bv, bytes, sizeof bv);
    emulated_m512i s = _mm512_cvtepi8_epi32(bv), u = _mm512_cvtepu8_epi32(bv);
    CHECK(s.i32[0] == -128 && s.i32[1] == -1 && s.i32[4] == 127 && s.i32[5] == -2 && s.i32[15] == 0);
    CHECK(u.i32[0] == 128 && u.i32[1] == 255 && u.i32[4] == 127 && u.i32[5] == 254 && u.i32[15] == 0);
    const uint16_t words[16] = {0xffff, 0x8000, 1};
    __m256i wv;
    memcpy(&wv, words, sizeof wv);
    emulated_m512i w = _mm512_cvtepu16_epi32(wv);
    CHECK(w.i32[0] == 65535 && w.i32[1] == 32768 && w.i32[2] == 1 && w.i32[3] == 0);
    /* shifts (a count past 31 clears), the bit cast, vpermps (low 4 bits of each index) */
    emulated_m512i x = {.u32 = {0x80000001u, 0xffffffffu, 0x00010000u}};
    emulated_m512i l = _mm512_slli_epi32(x, 1), r = _mm512_srli_epi32(x, 4), z = _mm512_slli_epi32(x, 32);
    CHECK(l.u32[0] == 2 && l.u32[1] == 0xfffffffeu && l.u32[2] == 0x00020000u);
    CHECK(r.u32[0] == 0x08000000u && r.u32[1] == 0x0fffffffu && r.u32[2] == 0x00001000u);
    CHECK(z.u32[0] == 0 && z.u32[1] == 0);
    _mm512_storeu_ps(out, _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(wv), 16)));
    CHECK(bits_of(out[0]) == 0xffff0000u && bits_of(out[1]) == 0x80000000u && bits_of(out[2]) == 0x00010000u);
    emulated_m512i idx;
    for (int i = 0; i < 16; i++) idx.u32[i] = (uint32_t)(15 - i) + (i % 2 ? 16 : 0x40);   /* high bits ignored */
    _mm512_storeu_ps(out, _mm512_permutexvar_ps(idx, _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                                                                     13, 14, 15)));
    for (int i = 0; i < 16; i++) CHECK(out[i] == 15 - i);
}

/* The emulated fp16 conversion against this CPU's F16C, for every one of the 65536 halves. */
USES_INTRINSICS static void test_emulated_cvtph_matches_f16c_for_every_half(void)
{
    need_avx2();
    for (uint32_t first = 0; first < 65536; first += 16) {
        uint16_t h[16];
        for (int i = 0; i < 16; i++) h[i] = (uint16_t)(first + i);
        __m256i hv;
        memcpy(&hv, h, sizeof hv);
        float emulated[16], native[16];
        _mm512_storeu_ps(emulated, _mm512_cvtph_ps(hv));
        _mm256_storeu_ps(native, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h)));
        _mm256_storeu_ps(native + 8, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + 8))));
        CHECKF(!memcmp(emulated, native, sizeof native), "halves %#x..%#x differ from F16C", first, first + 15);
    }
}

/* The integer intrinsics of the int8 kernels, lane by lane */
USES_INTRINSICS static void test_emulated_integer_intrinsics_match_hand_computed_cases(void)
{
    need_avx2();
    /* vpdpbusd: unsigned bytes of a times signed bytes of b, four per lane, added to src, wrapping */
    emulated_m512i src = {.i32 = {7, INT32_MAX, -5}}, a = {{0}}, b = {{0}};
    const uint8_t a0[4] = {255, 128, 1, 0};
    const int8_t b0[4] = {-128, 127, -1, 5};
    memcpy(a.u8, a0, 4), memcpy(b.i8, b0, 4);
    a.u8[4] = 1, b.i8[4] = 1;                          /* lane 1: INT32_MAX + 1 wraps */
    a.u8[8] = a.u8[9] = a.u8[10] = a.u8[11] = 255;     /* lane 2: 4 * 255 * -128 */
    b.i8[8] = b.i8[9] = b.i8[10] = b.i8[11] = -128;
    emulated_m512i d = _mm512_dpbusd_epi32(src, a, b);
    CHECKF(d.i32[0] == 7 - 32640 + 16256 - 1, "dpbusd lane 0: %d", d.i32[0]);
    CHECK(d.i32[1] == INT32_MIN && d.i32[2] == -5 - 4 * 255 * 128 && d.i32[3] == 0 && d.i32[15] == 0);
    /* constants, logic, wrapping 32-bit adds */
    emulated_m512i ones = _mm512_set1_epi8((char)0x80), zero = _mm512_setzero_si512();
    CHECK(ones.u8[0] == 0x80 && ones.u8[63] == 0x80 && zero.u64[0] == 0 && zero.u64[7] == 0);
    emulated_m512i x = _mm512_xor_si512(_mm512_set1_epi8(0x5a), _mm512_set1_epi8(0x0f));
    CHECK(x.u8[0] == 0x55 && x.u8[63] == 0x55 && _mm512_and_si512(x, _mm512_set1_epi8(0x0f)).u8[17] == 0x05);
    emulated_m512i i = {.i32 = {INT32_MAX, INT32_MIN, 5}}, j = {.i32 = {1, 1, 7}};
    emulated_m512i sum = _mm512_add_epi32(i, j), difference = _mm512_sub_epi32(i, j);
    CHECK(sum.i32[0] == INT32_MIN && sum.i32[1] == INT32_MIN + 1 && sum.i32[2] == 12);
    CHECK(difference.i32[0] == INT32_MAX - 1 && difference.i32[1] == INT32_MAX && difference.i32[2] == -2);
    /* moving 128- and 256-bit pieces */
    uint8_t bytes[64];
    for (int k = 0; k < 64; k++) bytes[k] = (uint8_t)k;
    emulated_m512i halves = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)bytes)),
                                               _mm256_loadu_si256((const __m256i *)(bytes + 32)), 1);
    CHECK(!memcmp(halves.u8, bytes, 64));
    emulated_m512i quarters = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)bytes));
    quarters = _mm512_mask_broadcast_i32x4(quarters, 0xff00, _mm_loadu_si128((const __m128i *)(bytes + 16)));
    for (int k = 0; k < 64; k++) CHECK(quarters.u8[k] == (k < 32 ? k % 16 : 16 + k % 16));
    quarters = _mm512_mask_broadcast_i32x4(quarters, 0x0010, _mm_loadu_si128((const __m128i *)(bytes + 32)));
    CHECK(quarters.u32[4] == halves.u32[8] && quarters.u32[5] == halves.u32[1]);   /* only element 4 */
    emulated_m512i shifted = _mm512_mask_srli_epi64(halves, 0xcc, halves, 4);
    for (int k = 0; k < 8; k++)
        CHECK(shifted.u64[k] == (0xcc >> k & 1 ? halves.u64[k] >> 4 : halves.u64[k]));
    /* in-quarter interleaves, quarter shuffles, quarter extracts */
    emulated_m512i p, q;
    for (int k = 0; k < 16; k++) p.u32[k] = (uint32_t)k, q.u32[k] = (uint32_t)(100 + k);
    emulated_m512i lo32 = _mm512_unpacklo_epi32(p, q), hi32 = _mm512_unpackhi_epi32(p, q);
    emulated_m512i lo64 = _mm512_unpacklo_epi64(p, q), hi64 = _mm512_unpackhi_epi64(p, q);
    for (int k = 0; k < 4; k++) {
        const uint32_t f = (uint32_t)(4 * k);
        CHECK(lo32.u32[f] == f && lo32.u32[f + 1] == 100 + f && lo32.u32[f + 2] == f + 1 && lo32.u32[f + 3] == 101 + f);
        CHECK(hi32.u32[f] == f + 2 && hi32.u32[f + 1] == 102 + f && hi32.u32[f + 2] == f + 3 && hi32.u32[f + 3] == 103 + f);
        CHECK(lo64.u32[f] == f && lo64.u32[f + 1] == f + 1 && lo64.u32[f + 2] == 100 + f && lo64.u32[f + 3] == 101 + f);
        CHECK(hi64.u32[f] == f + 2 && hi64.u32[f + 1] == f + 3 && hi64.u32[f + 2] == 102 + f && hi64.u32[f + 3] == 103 + f);
    }
    emulated_m512i shuffled = _mm512_shuffle_i32x4(p, q, _MM_SHUFFLE(3, 1, 2, 0));   /* p.0 p.2 q.1 q.3 */
    CHECK(shuffled.u32[0] == 0 && shuffled.u32[4] == 8 && shuffled.u32[8] == 104 && shuffled.u32[12] == 112);
    CHECK(shuffled.u32[3] == 3 && shuffled.u32[7] == 11 && shuffled.u32[11] == 107 && shuffled.u32[15] == 115);
    float out[4];
    const __m512 f = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    _mm_storeu_ps(out, _mm512_extractf32x4_ps(f, 2));
    CHECK(out[0] == 8 && out[3] == 11);
    _mm_storeu_ps(out, _mm512_castps512_ps128(f));
    CHECK(out[0] == 0 && out[3] == 3);
}

/* ==== The emulated set against the scalar set ==== */

/* The sizes a float-like type is tried at: every tail length, twice, and longer rows; block types:
 * 1 to 40 blocks, and a long row */
static int next_n(int type, int n)
{
    if (type_traits_of(type)->block_size == 32) return n < 32 * 40 ? n + 32 : n == 32 * 40 ? 4096 : 0;
    if (n < 80) return n + 1;
    return n == 80 ? 127 : n == 127 ? 1023 : n == 1023 ? 4099 : 0;
}

/* A stored row placed for a kernel: `shift` elements past a 64-byte boundary (shift < 0: flush
 * against a guard page instead, where any read past it faults). */
typedef struct {
    void *data;
    void *allocation;   /* NULL: guarded */
    size_t bytes;
} placed;

static placed place(const void *bytes, size_t n_bytes, size_t shift_bytes, int guarded)
{
    placed p = {.bytes = n_bytes};
    if (guarded) {
        p.data = test_guarded_alloc(n_bytes);
    } else {
        p.allocation = aligned_alloc(64, (n_bytes + shift_bytes + 63) / 64 * 64 + 64);
        p.data = (char *)p.allocation + shift_bytes;
    }
    memcpy(p.data, bytes, n_bytes);
    return p;
}

static void unplace(placed p)
{
    if (!p.allocation)
        test_guarded_free(p.data, p.bytes);
    else
        free(p.allocation);
}

/* to_float, dot and dot4 of the emulated set for one row in every placement, against the scalar
 * set: to_float bit for bit, the dot products within 1e-5 of sum |w x| of scalar's and float64's. */
static void check_float_kernels(int type, int n)
{
    const type_traits *tt = type_traits_of(type);
    const kernel_row set = kernel_row_of(&emulated_kernels_avx512, type), scalar = kernel_row_of(&kernels_scalar, type);
    const size_t bytes = type_row_bytes(type, n), element = tt->block_size == 1 ? tt->block_bytes : 0;
    const int64_t stride = n + 3;   /* dot4's activation rows apart by more than n */
    float *wf = malloc(sizeof(float) * n), *want = malloc(sizeof(float) * n), *x_src = malloc(sizeof(float) * 4 * stride);
    char *stored = malloc(bytes);
    for (int i = 0; i < n; i++) wf[i] = 2 * uniform();
    for (int i = 0; i < 4 * stride; i++) x_src[i] = uniform();
    tt->from_float(wf, stored, n);
    scalar.to_float(stored, want, n);
    double exact[4] = {0}, magnitude[4] = {0};
    float scalar_dot[4];
    scalar.dot4(stored, x_src, stride, n, scalar_dot);
    for (int r = 0; r < 4; r++)
        for (int i = 0; i < n; i++) {
            exact[r] += (double)want[i] * x_src[r * stride + i];
            magnitude[r] += fabs((double)want[i] * x_src[r * stride + i]);
        }
    /* shifts 0..15 elements (float-like types; every alignment of aligning_head), 0 and 2 bytes
     * (blocks, whose fp16 scale keeps them 2-byte aligned), and flush against a guard page, with x
     * there too */
    const int n_shifts = element ? 16 : 2;
    for (int s = -1; s < n_shifts; s++) {
        const placed w = place(stored, bytes, s < 0 ? 0 : (size_t)s * (element ? element : 2), s < 0);
        const placed x = place(x_src, sizeof(float) * (size_t)(3 * stride + n), 0, s < 0);
        const placed out = place(want, sizeof(float) * (size_t)n, 0, s < 0);
        memset(out.data, 0xA5, out.bytes);
        set.to_float(w.data, out.data, n);
        CHECKF(!memcmp(out.data, want, out.bytes), "%s n=%d shift %d: to_float differs from scalar", tt->name, n, s);
        float got = set.dot(w.data, (const float *)x.data + 3 * stride, n), four[4];
        CHECKF(test_close_to(got, scalar_dot[3], magnitude[3], 1e-5) && test_close_to(got, exact[3], magnitude[3], 1e-5),
               "%s n=%d shift %d: dot %.9g, scalar %.9g, float64 %.9g", tt->name, n, s, got, scalar_dot[3], exact[3]);
        set.dot4(w.data, x.data, stride, n, four);
        for (int r = 0; r < 4; r++)
            CHECKF(test_close_to(four[r], scalar_dot[r], magnitude[r], 1e-5) && test_close_to(four[r], exact[r], magnitude[r], 1e-5),
                   "%s n=%d shift %d row %d: dot4 %.9g, scalar %.9g, float64 %.9g", tt->name, n, s, r, four[r],
                   scalar_dot[r], exact[r]);
        unplace(w), unplace(x), unplace(out);
    }
    free(wf), free(want), free(x_src), free(stored);
}

static void test_emulated_float_kernels_match_scalar_for_every_type_and_shape(void)
{
    need_avx2();
    for (int t = 0; t < N_FLOAT_TYPES; t++)
        for (int n = type_traits_of(float_types[t])->block_size; n; n = next_n(float_types[t], n))
            check_float_kernels(float_types[t], n);
}

/* The tile is, for each output, fmaf(x[t][k], w[k][r], acc) over k in order from 0: exactly that
 * chain's bits, and the scalar set's tile within rounding. */
static void test_emulated_gemm_tile_is_one_fma_chain_per_output(void)
{
    need_avx2();
    CHECK(emulated_kernels_avx512.gemm.rows == 32 && emulated_kernels_avx512.gemm.tokens == 8);
    const int kcs[] = {1, 7, 64, 512};
    float *panel = malloc(sizeof(float) * 32 * 512), *x[8], tile[8 * 32], scalar_tile[8 * 32];
    for (int t = 0; t < 8; t++) x[t] = malloc(sizeof(float) * 512);
    for (int i = 0; i < 32 * 512; i++) panel[i] = uniform();
    for (int t = 0; t < 8; t++)
        for (int k = 0; k < 512; k++) x[t][k] = uniform();
    for (size_t c = 0; c < sizeof kcs / sizeof *kcs; c++) {
        const int kc = kcs[c];
        emulated_kernels_avx512.gemm.tile(panel, kc, (const float *const *)x, tile);
        kernels_scalar.gemm.tile(panel, kc, (const float *const *)x, scalar_tile);
        for (int t = 0; t < 8; t++)
            for (int r = 0; r < 32; r++) {
                float chain = 0;
                double magnitude = 0;
                for (int k = 0; k < kc; k++) {
                    chain = fmaf(x[t][k], panel[k * 32 + r], chain);
                    magnitude += fabs((double)x[t][k] * panel[k * 32 + r]);
                }
                CHECKF(bits_of(tile[t * 32 + r]) == bits_of(chain), "kc %d token %d row %d: %.9g, the FMA chain "
                       "%.9g", kc, t, r, tile[t * 32 + r], chain);
                CHECKF(test_close_to(tile[t * 32 + r], scalar_tile[t * 32 + r], magnitude, 1e-5), "kc %d token %d row %d",
                       kc, t, r);
            }
    }
    free(panel);
    for (int t = 0; t < 8; t++) free(x[t]);
}

/* matmul() with the emulated set, decode and prefill, exact and int8 paths, 1 and 3 threads:
 * the same bits for both thread counts, and each output within rounding of the scalar set's dot
 * product (int8 path: the scalar vec_dot of x quantized as matmul quantizes it). */
static void test_matmul_with_the_emulated_set(void)
{
    need_avx2();
    enum { ROWS = 37, COLS = 544 + 512, MAX_TOKENS = 19 };
    const int token_counts[] = {1, 3, 5, MAX_TOKENS};
    static float x[MAX_TOKENS * COLS], wf[ROWS * COLS], out1[MAX_TOKENS * ROWS], out3[MAX_TOKENS * ROWS];
    static char xq[COLS / 32 * 34];
    for (int i = 0; i < MAX_TOKENS * COLS; i++) x[i] = uniform();
    for (int i = 0; i < ROWS * COLS; i++) wf[i] = uniform();
    for (int t = 0; t < N_FLOAT_TYPES; t++) {
        const int type = float_types[t];
        const size_t row_bytes = type_row_bytes(type, COLS);
        char *w = malloc(row_bytes * ROWS);
        for (int r = 0; r < ROWS; r++) type_traits_of(type)->from_float(wf + r * COLS, w + r * row_bytes, COLS);
        const tensor tw = {type, ROWS, COLS, row_bytes, w}, *tp = &tw;
        const kernel_row scalar = kernel_row_of(&kernels_scalar, type);
        for (int exact = 0; exact <= 1; exact++)
            for (size_t c = 0; c < sizeof token_counts / sizeof *token_counts; c++) {
                const int n_tokens = token_counts[c];
                const int int8 = !exact && scalar.vec_dot &&
                                 (n_tokens < GEMM_TOKENS || emulated_kernels_avx512.row[type].vec_dot_gemm);
                ops_context one = matmul_ops(1, &emulated_kernels_avx512, exact, COLS);
                ops_context three = matmul_ops(3, &emulated_kernels_avx512, exact, COLS);
                float *o1 = out1, *o3 = out3;
                matmul(&one, x, n_tokens, 1, &tp, &o1);
                matmul(&three, x, n_tokens, 1, &tp, &o3);
                free_ops(&one), free_ops(&three);
                CHECKF(!memcmp(out1, out3, sizeof(float) * n_tokens * ROWS), "%s, %d tokens: 3 threads differ from 1",
                       type_traits_of(type)->name, n_tokens);
                for (int tok = 0; tok < n_tokens; tok++) {
                    if (int8) type_traits_of(TYPE_Q8_0)->from_float(x + tok * COLS, xq, COLS);
                    for (int r = 0; r < ROWS; r++) {
                        const float want = int8 ? scalar.vec_dot(w + r * row_bytes, xq, COLS)
                                                : scalar.dot(w + r * row_bytes, x + tok * COLS, COLS);
                        double magnitude = 0;
                        for (int i = 0; i < COLS; i++) magnitude += fabs((double)wf[r * COLS + i] * x[tok * COLS + i]);
                        CHECKF(test_close_to(out1[tok * ROWS + r], want, magnitude, 1e-5), "%s%s, %d tokens: token %d row "
                               "%d = %.9g, scalar %.9g", type_traits_of(type)->name, exact ? " exact" : "", n_tokens,
                               tok, r, out1[tok * ROWS + r], want);
                    }
                }
            }
        free(w);
    }
}

/* F16 weights in fp16 panels, converted in the emulated tile: a prefill's bits are those of the
 * same set with fp32 panels (a short last panel of 37 - 32 rows, a short last column block). */
static void test_emulated_f16_panels_give_the_fp32_panels_bits(void)
{
    need_avx2();
    enum { ROWS = 37, COLS = 544 + 512, TOKENS = 19 };
    static float x[TOKENS * COLS], wf[ROWS * COLS], out16[TOKENS * ROWS], out32[TOKENS * ROWS];
    for (int i = 0; i < TOKENS * COLS; i++) x[i] = uniform();
    for (int i = 0; i < ROWS * COLS; i++) wf[i] = uniform();
    const size_t row_bytes = type_row_bytes(TYPE_F16, COLS);
    char *w = malloc(row_bytes * ROWS);
    for (int r = 0; r < ROWS; r++) type_traits_of(TYPE_F16)->from_float(wf + r * COLS, w + r * row_bytes, COLS);
    const tensor tw = {TYPE_F16, ROWS, COLS, row_bytes, w}, *tp = &tw;
    CHECK(emulated_kernels_avx512.gemm.tile_f16 && emulated_kernels_avx512.gemm.pack_f16);
    kernel_set fp32 = emulated_kernels_avx512;
    fp32.gemm.tile_f16 = NULL, fp32.gemm.pack_f16 = NULL;
    ops_context a = matmul_ops(2, &emulated_kernels_avx512, 0, COLS), b = matmul_ops(2, &fp32, 0, COLS);
    float *o16 = out16, *o32 = out32;
    matmul(&a, x, TOKENS, 1, &tp, &o16);
    matmul(&b, x, TOKENS, 1, &tp, &o32);
    free_ops(&a), free_ops(&b);
    CHECK(!memcmp(out16, out32, sizeof out16));
    free(w);
}

/* ==== Int8 activations: the VNNI kernels ==== */

static const int int8_types[] = {TYPE_Q8_0, TYPE_Q4_0};

/* 1 to 40 blocks (every tail of the kernels' 4- and 8-block steps, several times), then 128 */
static int next_block_count(int n_blocks) { return n_blocks < 40 ? n_blocks + 1 : n_blocks == 40 ? 128 : 0; }

/* A random fp16 scale: either sign, a few binades, now and then zero */
static uint16_t random_scale(int allow_negative)
{
    const uint64_t r = test_xorshift(&rng_state);
    if (r % 41 == 0) return 0;
    const float d = (0.25f + (float)(r >> 40 & 1023) / 1024) * ldexpf(1, (int)(r >> 20 & 7) - 12);
    return fp32_to_fp16(allow_negative && r >> 60 & 1 ? -d : d);
}

/* `count` rows of n_blocks blocks of `type` (Q8_0 activations too), row_stride bytes apart, every
 * quant over its whole range (-128 included on both sides, which the quantizer never writes but a
 * file may hold, and which the offset trick must take) and random scales. Guarded: the last row
 * ends at a guard page. Free with test_guarded_free(p, *bytes). */
static char *random_blocks(int type, int count, int n_blocks, size_t row_stride, size_t *bytes)
{
    *bytes = (size_t)(count - 1) * row_stride + type_row_bytes(type, 32 * n_blocks);
    char *p = test_guarded_alloc(*bytes);
    memset(p, 0x5a, *bytes);   /* the gaps between rows */
    for (int r = 0; r < count; r++)
        for (int b = 0; b < n_blocks; b++) {
            if (type == TYPE_Q8_0) {
                block_q8_0 *block = (block_q8_0 *)(p + r * row_stride) + b;
                block->d = random_scale(1);
                for (int j = 0; j < 32; j++) block->qs[j] = (int8_t)test_xorshift(&rng_state);
            } else {
                block_q4_0 *block = (block_q4_0 *)(p + r * row_stride) + b;
                block->d = random_scale(1);
                for (int j = 0; j < 16; j++) block->qs[j] = (uint8_t)test_xorshift(&rng_state);
            }
        }
    return p;
}

/* Four rows of weights and four of Q8_0 activations of n_blocks blocks, at strides of no whole
 * block (rows 6 bytes apart beyond their length, tokens 2; even: a block's fp16 scale is 2-byte
 * aligned), each group ending at a guard page */
typedef struct {
    int n;
    size_t w_stride, x_stride, w_bytes, x_bytes;
    char *w, *x;
} int8_operands;

static int8_operands random_int8_operands(int type, int n_blocks)
{
    int8_operands o = {.n = 32 * n_blocks};
    o.w_stride = type_row_bytes(type, o.n) + 6, o.x_stride = type_row_bytes(TYPE_Q8_0, o.n) + 2;
    o.w = random_blocks(type, 4, n_blocks, o.w_stride, &o.w_bytes);
    o.x = random_blocks(TYPE_Q8_0, 4, n_blocks, o.x_stride, &o.x_bytes);
    return o;
}

static void free_int8_operands(int8_operands o)
{
    test_guarded_free(o.w, o.w_bytes), test_guarded_free(o.x, o.x_bytes);
}

/* vec_dot is the scalar set's vec_dot bit for bit (the same exact block sums, the same float
 * additions in the same order: see avx512.c); vec_dot4 gives each token's vec_dot, vec_dot_rows4
 * each row's, bit for bit: for 1 to 40 blocks and 128 (every step's tail), rows and activations
 * at strides of no whole block, the last of them flush against a guard page. */
static void test_emulated_vec_dot_is_the_scalar_vec_dot_bit_for_bit(void)
{
    need_avx2();
    for (int t = 0; t < 2; t++) {
        const int type = int8_types[t];
        const kernel_row set = kernel_row_of(&emulated_kernels_avx512, type), scalar = kernel_row_of(&kernels_scalar, type);
        const char *name = type_traits_of(type)->name;
        for (int n_blocks = 1; n_blocks; n_blocks = next_block_count(n_blocks)) {
            const int8_operands o = random_int8_operands(type, n_blocks);
            const int n = o.n;
            const size_t w_stride = o.w_stride, x_stride = o.x_stride;
            const char *w = o.w, *x = o.x;
            float four[4];
            set.vec_dot4(w + 3 * w_stride, x, x_stride, n, four);
            for (int i = 0; i < 4; i++) {
                const float want = scalar.vec_dot(w + i * w_stride, x + i * x_stride, n);
                const float got = set.vec_dot(w + i * w_stride, x + i * x_stride, n);
                CHECKF(bits_of(got) == bits_of(want), "%s %d blocks, pair %d: vec_dot %.9g, scalar %.9g", name,
                       n_blocks, i, got, want);
                const float one = set.vec_dot(w + 3 * w_stride, x + i * x_stride, n);
                CHECKF(bits_of(four[i]) == bits_of(one), "%s %d blocks, token %d: vec_dot4 %.9g, vec_dot %.9g",
                       name, n_blocks, i, four[i], one);
            }
            set.vec_dot_rows4(w, w_stride, x + 3 * x_stride, n, four);
            for (int r = 0; r < 4; r++) {
                const float one = set.vec_dot(w + r * w_stride, x + 3 * x_stride, n);
                CHECKF(bits_of(four[r]) == bits_of(one), "%s %d blocks, row %d: vec_dot_rows4 %.9g, vec_dot %.9g",
                       name, n_blocks, r, four[r], one);
            }
            free_int8_operands(o);
        }
    }
}

/* The extremes of the offset trick, by hand: every Q8_0 weight and activation -128 (block sum
 * 32 * 16384 = 2^19), or weights 127 against -128, and Q4_0 nibbles 0 and 15 (w = -8, 7). */
static void test_emulated_vec_dot_takes_the_extreme_quants(void)
{
    need_avx2();
    block_q8_0 w8[3], x[3];
    block_q4_0 w4[3];
    for (int b = 0; b < 3; b++) {
        w8[b].d = x[b].d = w4[b].d = fp32_to_fp16(1.0f);
        memset(x[b].qs, 0x80, 32);                              /* -128 */
        memset(w8[b].qs, b == 1 ? 0x7f : 0x80, 32);             /* 127 or -128 */
        memset(w4[b].qs, b == 1 ? 0xff : 0x00, 16);             /* 7 or -8 */
    }
    const float q8 = 2 * 32 * 16384.0f - 32 * 127 * 128.0f, q4 = 2 * 32 * 8 * 128.0f - 32 * 7 * 128.0f;
    const kernel_row k8 = kernel_row_of(&emulated_kernels_avx512, TYPE_Q8_0);
    const kernel_row k4 = kernel_row_of(&emulated_kernels_avx512, TYPE_Q4_0);
    CHECKF(k8.vec_dot(w8, x, 96) == q8, "Q8_0: %.9g, want %.9g", k8.vec_dot(w8, x, 96), q8);
    CHECKF(k4.vec_dot(w4, x, 96) == q4, "Q4_0: %.9g, want %.9g", k4.vec_dot(w4, x, 96), q4);
}

/* The int8 prefill GEMM (vec_dot_gemm) is the scalar vec_dot bit for bit, every output: 1 to 33
 * blocks (short, whole and split ranges of 16), 70 rows (two full panels and a short one), row
 * ranges that start inside a panel, 13 tokens (two steps of six and one), quants over their whole
 * range, scales of either sign; it writes its rows and tokens only. The extreme quants too. */
static void check_int8_gemm_is_the_scalar_vec_dot(const kernel_set *k)
{
    enum { ROWS = 70, TOKENS = 13, LDO = ROWS + 3 };
    const int block_counts[] = {1, 15, 16, 17, 33};
    const int64_t ranges[][2] = {{0, ROWS}, {5, 44}, {39, 70}, {69, 70}};   /* last panels: 6, 7, 31, 1 rows */
    static float out[TOKENS * LDO];
    void *scratch = malloc(k->vec_dot_gemm_scratch);
    for (size_t t = 0; t < sizeof int8_types / sizeof *int8_types; t++)
    for (size_t c = 0; c < sizeof block_counts / sizeof *block_counts; c++) {
        const int type = int8_types[t], n = 32 * block_counts[c];
        const kernel_row scalar = kernel_row_of(&kernels_scalar, type);
        size_t w_bytes, x_bytes;
        const size_t row_bytes = type_row_bytes(type, n), x_stride = type_row_bytes(TYPE_Q8_0, n) + 2;
        char *w = random_blocks(type, ROWS, block_counts[c], row_bytes, &w_bytes);
        char *x = random_blocks(TYPE_Q8_0, TOKENS, block_counts[c], x_stride, &x_bytes);
        if (c == 0) {   /* the extremes: every quant -128 or 127 (Q4_0: -8 or 7) */
            for (int r = 0; r < ROWS; r++)
                memset(w + r * row_bytes + 2, r % 2 ? 0x80 : (type == TYPE_Q8_0 ? 0x7f : 0xff), row_bytes - 2);
            for (int tok = 0; tok < TOKENS; tok++)
                memset(x + tok * x_stride + 2, tok % 3 ? 0x80 : 0x7f, 32);
        }
        const tensor tw = {type, ROWS, n, row_bytes, w};
        for (size_t g = 0; g < sizeof ranges / sizeof *ranges; g++) {
            const int64_t r0 = ranges[g][0], r1 = ranges[g][1];
            for (int i = 0; i < TOKENS * LDO; i++) out[i] = NAN;
            k->row[type].vec_dot_gemm(&tw, r0, r1, x, x_stride, TOKENS, out, LDO, scratch);
            for (int tok = 0; tok < TOKENS; tok++)
                for (int r = 0; r < LDO; r++) {
                    const float got = out[tok * LDO + r];
                    if (r < r0 || r >= r1) {
                        CHECKF(isnan(got), "%s %s, %d blocks: token %d row %d written outside rows %d..%d",
                               k->name, type_traits_of(type)->name, block_counts[c], tok, r, (int)r0, (int)r1);
                        continue;
                    }
                    const float want = scalar.vec_dot(w + r * row_bytes, x + tok * x_stride, n);
                    CHECKF(!memcmp(&got, &want, sizeof got), "%s %s, %d blocks, rows %d..%d: token %d row %d = %.9g, "
                           "scalar vec_dot %.9g", k->name, type_traits_of(type)->name, block_counts[c], (int)r0, (int)r1, tok,
                           r, got, want);
                }
        }
        test_guarded_free(w, w_bytes), test_guarded_free(x, x_bytes);
    }
    free(scratch);
}

static void test_emulated_int8_gemm_is_the_scalar_vec_dot_bit_for_bit(void)
{
    need_avx2();
    check_int8_gemm_is_the_scalar_vec_dot(&emulated_kernels_avx512);
}

/* ==== The real instructions ==== */

/* On a CPU with AVX-512, the library's real set gives the emulated set's bits in every kernel. */
static void test_real_avx512_matches_the_emulation(void)
{
    const kernel_set *real = &kernels_avx512;
    if (!kernel_set_supported(real))
        SKIP("this CPU runs no AVX-512: the real instructions were not run here; the emulated set above was");
    check_int8_gemm_is_the_scalar_vec_dot(real);   /* the prefill GEMM: the scalar bits, so the emulated ones */
    for (int t = 0; t < N_FLOAT_TYPES; t++) {
        const int type = float_types[t];
        const type_traits *tt = type_traits_of(type);
        const kernel_row a = kernel_row_of(real, type), b = kernel_row_of(&emulated_kernels_avx512, type);
        for (int n = tt->block_size; n; n = next_n(type, n)) {
            const size_t bytes = type_row_bytes(type, n), element = tt->block_size == 1 ? tt->block_bytes : 0;
            float *wf = malloc(sizeof(float) * n), *x = malloc(sizeof(float) * 4 * n);
            float *out_a = malloc(sizeof(float) * n), *out_b = malloc(sizeof(float) * n);
            char *stored = malloc(bytes + 64);
            for (int i = 0; i < n; i++) wf[i] = 2 * uniform();
            for (int i = 0; i < 4 * n; i++) x[i] = uniform();
            for (int s = 0; s < (element ? 16 : 1); s++) {
                void *w = stored + s * element;
                tt->from_float(wf, w, n);
                a.to_float(w, out_a, n), b.to_float(w, out_b, n);
                CHECKF(!memcmp(out_a, out_b, sizeof(float) * n), "%s n=%d shift %d: to_float", tt->name, n, s);
                const float dot_a = a.dot(w, x, n), dot_b = b.dot(w, x, n);
                CHECKF(bits_of(dot_a) == bits_of(dot_b), "%s n=%d shift %d: dot %.9g, emulated %.9g", tt->name, n, s,
                       dot_a, dot_b);
                float four_a[4], four_b[4];
                a.dot4(w, x, n, n, four_a), b.dot4(w, x, n, n, four_b);
                CHECKF(!memcmp(four_a, four_b, sizeof four_a), "%s n=%d shift %d: dot4", tt->name, n, s);
            }
            free(wf), free(x), free(out_a), free(out_b), free(stored);
        }
    }
    float *panel = malloc(sizeof(float) * 32 * 512), *x[8], tile_a[8 * 32], tile_b[8 * 32];
    for (int i = 0; i < 32 * 512; i++) panel[i] = uniform();
    for (int t = 0; t < 8; t++) {
        x[t] = malloc(sizeof(float) * 512);
        for (int k = 0; k < 512; k++) x[t][k] = uniform();
    }
    for (int t = 0; t < 2; t++) {
        const int type = int8_types[t];
        const kernel_row a = kernel_row_of(real, type), b = kernel_row_of(&emulated_kernels_avx512, type);
        for (int n_blocks = 1; n_blocks; n_blocks = next_block_count(n_blocks)) {
            const int8_operands o = random_int8_operands(type, n_blocks);
            float four_a[4], four_b[4];
            CHECKF(bits_of(a.vec_dot(o.w, o.x, o.n)) == bits_of(b.vec_dot(o.w, o.x, o.n)), "%s %d blocks: vec_dot",
                   type_traits_of(type)->name, n_blocks);
            a.vec_dot4(o.w, o.x, o.x_stride, o.n, four_a), b.vec_dot4(o.w, o.x, o.x_stride, o.n, four_b);
            CHECKF(!memcmp(four_a, four_b, sizeof four_a), "%s %d blocks: vec_dot4", type_traits_of(type)->name,
                   n_blocks);
            a.vec_dot_rows4(o.w, o.w_stride, o.x, o.n, four_a), b.vec_dot_rows4(o.w, o.w_stride, o.x, o.n, four_b);
            CHECKF(!memcmp(four_a, four_b, sizeof four_a), "%s %d blocks: vec_dot_rows4",
                   type_traits_of(type)->name, n_blocks);
            free_int8_operands(o);
        }
    }
    real->gemm.tile(panel, 512, (const float *const *)x, tile_a);
    emulated_kernels_avx512.gemm.tile(panel, 512, (const float *const *)x, tile_b);
    CHECK(!memcmp(tile_a, tile_b, sizeof tile_a));
    free(panel);
    for (int t = 0; t < 8; t++) free(x[t]);
}

/* A kernel reading past a row into its guard page fails the test that ran it, not the program. */
static void on_fault(int sig)
{
    (void)sig;
    static const char msg[] = "a kernel touched memory past the end of its row (SIGSEGV)";
    memcpy(test_msg_, msg, sizeof msg);
    longjmp(test_jmp_, 1);
}

int main(void)
{
    struct sigaction fault = {.sa_handler = on_fault, .sa_flags = SA_NODEFER};
    sigaction(SIGSEGV, &fault, NULL);
    printf("# kernel set avx512: %s\n", kernel_set_supported(&kernels_avx512)
                                            ? "supported: real instructions tested against the emulation"
                                            : "not supported: emulated only");
    RUN(test_emulated_loads_and_stores_touch_only_their_mask);
    RUN(test_emulated_arithmetic_rounds_as_the_instructions);
    RUN(test_emulated_conversions_are_exact);
    RUN(test_emulated_cvtph_matches_f16c_for_every_half);
    RUN(test_emulated_integer_intrinsics_match_hand_computed_cases);
    RUN(test_emulated_float_kernels_match_scalar_for_every_type_and_shape);
    RUN(test_emulated_gemm_tile_is_one_fma_chain_per_output);
    RUN(test_emulated_vec_dot_is_the_scalar_vec_dot_bit_for_bit);
    RUN(test_emulated_vec_dot_takes_the_extreme_quants);
    RUN(test_emulated_int8_gemm_is_the_scalar_vec_dot_bit_for_bit);
    RUN(test_matmul_with_the_emulated_set);
    RUN(test_emulated_f16_panels_give_the_fp32_panels_bits);
    RUN(test_real_avx512_matches_the_emulation);
    TEST_EXIT();
}

#else

int main(void)
{
    printf("skip test_avx512_emulated: the AVX-512 set exists on x86-64 only\n");
    return 0;
}

#endif
