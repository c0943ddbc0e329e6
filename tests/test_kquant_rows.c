/* test_kquant_rows.c — the k-quant rows of the kernel sets (kernels/kquant_rows.c) and the matmul
 * paths through them: every set this CPU runs against the scalar set, vec_dot4's bit-for-bit
 * contract, activations of two vec_dot_types in one matmul call, and prefill against decode.
 * (The kernels' own arithmetic is tested in test_kquants.c and against numpy by test_kquants.sh;
 * whole models against the float64 reference by test_kquant_models.sh.) */
#include "test.h"
#include "ops_fixture.h"
#include "kernels/kernel_set.h"
#include "kquants.h"
#include "model_builder.h"
#include "ops/gemm.h"
#include "ops/matmul.h"
#include "ops/threadpool.h"
#include "tensor.h"

static const kernel_set *sets[8];
static int n_sets;

static const int kquant_types[] = {TYPE_Q2_K, TYPE_Q3_K, TYPE_Q4_K, TYPE_Q5_K, TYPE_Q6_K};
enum { N_KQUANTS = 5 };

/* Deterministic data with a spread of magnitudes (a Gaussian-ish sum of sines). */
static void fill(float *x, int n, int seed)
{
    for (int i = 0; i < n; i++)
        x[i] = sinf(i * 0.0137f + seed) + 0.5f * sinf(i * 1.71f + 3 * seed) + 0.25f * cosf(i * 0.31f * (seed + 1));
}

/* rows x cols weights of `type`, quantized by the type's reference quantizer (free it). */
static char *quantized_matrix(int type, int rows, int cols, int seed)
{
    const size_t row_bytes = type_row_bytes(type, cols);
    float *wf = malloc(sizeof(float) * (size_t)rows * cols);
    char *w = malloc(row_bytes * rows);
    fill(wf, rows * cols, seed);
    for (int r = 0; r < rows; r++)
        type_traits_of(type)->from_float(wf + (size_t)r * cols, w + r * row_bytes, cols);
    free(wf);
    return w;
}

static void test_kquant_traits_are_ggml_layouts(void)
{
    const size_t bytes[] = {84, 110, 144, 176, 210};
    const char *names[] = {"Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"};
    for (int k = 0; k < N_KQUANTS; k++) {
        const type_traits *tt = type_traits_of(kquant_types[k]);
        CHECK(tt && tt->block_size == 256 && tt->block_bytes == bytes[k] && tt->quantized);
        CHECK(!strcmp(tt->name, names[k]) && tt->vec_dot_type == TYPE_Q8_K);
        CHECK(type_row_bytes(kquant_types[k], 512) == 2 * bytes[k]);
        CHECK(type_row_bytes(kquant_types[k], 300) == 0);      /* not whole super-blocks */
    }
    const type_traits *q8k = type_traits_of(TYPE_Q8_K);
    CHECK(q8k && q8k->block_bytes == 292 && !strcmp(q8k->name, "Q8_K"));
    /* Q8_K is an activation type: a loader cannot view a weight as one */
    tensor t;
    char data[292] = {0};
    CHECK(tensor_view(&t, TYPE_Q8_K, 1, 256, data) != 0);
    CHECK(tensor_view(&t, TYPE_Q4_K, 1, 256, data) == 0 && t.row_bytes == 144);
}

/* For each set and k-quant type: to_float and the Q8_K quantizer the same bits as the scalar
 * set's; the float and integer dots within float rounding of the scalar set's (only the order
 * of float additions may differ); vec_dot4's out[t] exactly the set's own vec_dot of token t. */
static void test_kquant_rows_of_every_set_match_scalar(void)
{
    enum { COLS = 1024, ROWS = 3 };
    float x[4 * COLS], wf[COLS], ref[COLS];
    fill(x, 4 * COLS, 7);
    const kernel_row scalar_q8k = kernel_row_of(&kernels_scalar, TYPE_Q8_K);
    static char xq[4][COLS / 256 * 292], xq_set[COLS / 256 * 292];
    for (int t = 0; t < 4; t++)
        scalar_q8k.from_float(x + t * COLS, xq[t], COLS);
    for (int s = 0; s < n_sets; s++) {
        const kernel_row q8k = kernel_row_of(sets[s], TYPE_Q8_K);
        for (int t = 0; t < 4; t++) {
            q8k.from_float(x + t * COLS, xq_set, COLS);
            CHECKF(!memcmp(xq_set, xq[t], sizeof xq_set), "%s: Q8_K quantizer differs from scalar", sets[s]->name);
        }
        for (int k = 0; k < N_KQUANTS; k++) {
            const int type = kquant_types[k];
            const type_traits *tt = type_traits_of(type);
            const kernel_row row = kernel_row_of(sets[s], type), scalar = kernel_row_of(&kernels_scalar, type);
            CHECKF(row.to_float && row.dot && row.dot4 && row.vec_dot && row.vec_dot4, "%s %s: a kernel is missing",
                   sets[s]->name, tt->name);
            const size_t row_bytes = type_row_bytes(type, COLS);
            char *w = quantized_matrix(type, ROWS, COLS, k);
            for (int r = 0; r < ROWS; r++) {
                const char *wr = w + r * row_bytes;
                row.to_float(wr, wf, COLS);
                tt->to_float(wr, ref, COLS);
                CHECKF(!memcmp(wf, ref, sizeof wf), "%s %s: to_float differs from the reference", sets[s]->name, tt->name);
                float o4[4], f4[4], scalar_f4[4];
                row.vec_dot4(wr, xq[0], sizeof xq[0], COLS, o4);
                row.dot4(wr, x, COLS, COLS, f4);
                scalar.dot4(wr, x, COLS, COLS, scalar_f4);
                for (int t = 0; t < 4; t++) {
                    double magnitude = 0;
                    for (int c = 0; c < COLS; c++)
                        magnitude += fabs((double)ref[c] * x[t * COLS + c]);
                    const float v = row.vec_dot(wr, xq[t], COLS), sv = scalar.vec_dot(wr, xq[t], COLS);
                    CHECKF(!memcmp(&o4[t], &v, sizeof v), "%s %s row %d token %d: vec_dot4 %.9g but vec_dot %.9g",
                           sets[s]->name, tt->name, r, t, o4[t], v);
                    CHECKF(fabs(v - sv) <= 1e-5 * magnitude, "%s %s row %d token %d: vec_dot %g vs scalar %g",
                           sets[s]->name, tt->name, r, t, v, sv);
                    const float d = row.dot(wr, x + t * COLS, COLS), sd = scalar.dot(wr, x + t * COLS, COLS);
                    CHECKF(fabs(d - sd) <= 1e-5 * magnitude && fabs(f4[t] - sd) <= 1e-5 * magnitude &&
                           fabs(scalar_f4[t] - sd) <= 1e-5 * magnitude,
                           "%s %s row %d token %d: dot %g, dot4 %g vs scalar %g", sets[s]->name, tt->name, r, t, d,
                           f4[t], sd);
                    /* and the integer dot is near the float one: x's int8 rounding per super-block */
                    CHECKF(fabs(v - sd) <= 5e-3 * magnitude, "%s %s row %d token %d: int8 %g vs float %g (sum |w x| %g)",
                           sets[s]->name, tt->name, r, t, v, sd, magnitude);
                }
            }
            free(w);
        }
    }
}

/* Q, K and V (or one call's matrices) may mix vec_dot_types, as a llama.cpp "Q4_0" file mixes Q4_0
 * and Q6_K: x goes into ops->quantized once per type, and each matrix's outputs are the bits it
 * gets alone, for 1 and 2 threads, decode (1 token), a short batch (5: vec_dot4 and a tail) and
 * prefill (GEMM_TOKENS + 3, float activations through the GEMM's panels). */
static void test_matmul_mixes_vec_dot_types_in_one_call(void)
{
    enum { COLS = 512, ROWS = 37, MAX_TOKENS = GEMM_TOKENS + 3 };
    const int types[] = {TYPE_Q4_0, TYPE_Q6_K, TYPE_Q4_K, TYPE_Q8_0};
    char *w[4];
    tensor t[4];
    const tensor *tp[4];
    static float x[MAX_TOKENS * COLS], together[4][MAX_TOKENS * ROWS], alone[MAX_TOKENS * ROWS],
        two_threads[4][MAX_TOKENS * ROWS];
    fill(x, MAX_TOKENS * COLS, 3);
    for (int m = 0; m < 4; m++) {
        w[m] = quantized_matrix(types[m], ROWS, COLS, 11 + m);
        t[m] = (tensor){types[m], ROWS, COLS, type_row_bytes(types[m], COLS), w[m]};
        tp[m] = &t[m];
    }
    float *out[4] = {together[0], together[1], together[2], together[3]};
    float *out2[4] = {two_threads[0], two_threads[1], two_threads[2], two_threads[3]};
    const int token_counts[] = {1, 5, MAX_TOKENS};
    for (int s = 0; s < n_sets; s++) {
        ops_context one = matmul_ops(1, sets[s], 0, COLS), two = matmul_ops(2, sets[s], 0, COLS);
        for (int c = 0; c < 3; c++) {
            const int n = token_counts[c];
            matmul(&one, x, n, 4, tp, out);
            matmul(&two, x, n, 4, tp, out2);
            for (int m = 0; m < 4; m++) {
                float *o = alone;
                matmul(&one, x, n, 1, &tp[m], &o);
                const char *type_name = type_traits_of(types[m])->name;
                CHECKF(!memcmp(alone, together[m], sizeof(float) * n * ROWS),
                       "%s %s, %d tokens: alone differs from in a mixed call", sets[s]->name, type_name, n);
                CHECKF(!memcmp(two_threads[m], together[m], sizeof(float) * n * ROWS),
                       "%s %s, %d tokens: 2 threads differ from 1", sets[s]->name, type_name, n);
            }
        }
        free_ops(&one), free_ops(&two);
    }
    for (int m = 0; m < 4; m++)
        free(w[m]);
}

/* Prefill (the GEMM, k-quant rows dequantized into its panels) against decode's exact path (float
 * dot per row) for every k-quant type and set: the same products, summed in another order. */
static void test_kquant_prefill_matches_exact_decode(void)
{
    enum { COLS = 768, ROWS = 21, N = GEMM_TOKENS + 5 };
    static float x[N * COLS], prefill[N * ROWS], decode[ROWS], wf[COLS];
    fill(x, N * COLS, 5);
    for (int s = 0; s < n_sets; s++) {
        ops_context exact = matmul_ops(2, sets[s], 1, COLS);
        for (int k = 0; k < N_KQUANTS; k++) {
            char *w = quantized_matrix(kquant_types[k], ROWS, COLS, 20 + k);
            tensor t = {kquant_types[k], ROWS, COLS, type_row_bytes(kquant_types[k], COLS), w};
            const tensor *tp = &t;
            float *o = prefill;
            matmul(&exact, x, N, 1, &tp, &o);
            for (int tok = 0; tok < N; tok++) {
                o = decode;
                matmul(&exact, x + tok * COLS, 1, 1, &tp, &o);
                for (int r = 0; r < ROWS; r++) {
                    type_traits_of(kquant_types[k])->to_float(w + r * t.row_bytes, wf, COLS);
                    double magnitude = 0;
                    for (int c = 0; c < COLS; c++)
                        magnitude += fabs((double)wf[c] * x[tok * COLS + c]);
                    CHECKF(fabs(prefill[tok * ROWS + r] - decode[r]) <= 1e-5 * magnitude,
                           "%s %s token %d row %d: prefill %g vs decode %g", sets[s]->name,
                           type_traits_of(kquant_types[k])->name, tok, r, prefill[tok * ROWS + r], decode[r]);
                }
            }
            free(w);
        }
        free_ops(&exact);
    }
}

int main(void)
{
    n_sets = kernel_sets_supported(sets, 8);
    for (int s = 0; s < n_sets; s++)
        printf("# kernel set %s: tested\n", sets[s]->name);
    RUN(test_kquant_traits_are_ggml_layouts);
    RUN(test_kquant_rows_of_every_set_match_scalar);
    RUN(test_matmul_mixes_vec_dot_types_in_one_call);
    RUN(test_kquant_prefill_matches_exact_decode);
    TEST_EXIT();
}
