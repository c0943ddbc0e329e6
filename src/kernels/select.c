/* select.c — which kernel sets this CPU runs, and the one fallback rule for missing kernels.
 *
 * The CPU is asked (cpuid, through libgcc, which also checks that the OS saves the vector state)
 * every time; nothing is cached, so there is no state to race on. A context asks once. */
#include "kernels/kernel_set.h"

#include <string.h>

/* Ordered slowest to fastest: every AVX-512 CPU also runs AVX2, every x86-64 runs scalar. */
static const kernel_set *const all_sets[] = { &kernels_scalar, &kernels_avx2, &kernels_avx512 };
enum { N_SETS = sizeof all_sets / sizeof all_sets[0] };

int kernel_set_supported(const kernel_set *k)
{
    if (k == &kernels_scalar)
        return 1;
#if defined(__x86_64__)
    __builtin_cpu_init();
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
               __builtin_cpu_supports("f16c");
    if (k == &kernels_avx2)
        return avx2;
    if (k == &kernels_avx512)
        return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl");
#endif
    return 0;
}

const kernel_set *kernel_set_best(void)
{
    for (int i = N_SETS - 1; i > 0; i--)
        if (kernel_set_supported(all_sets[i]))
            return all_sets[i];
    return &kernels_scalar;
}

const kernel_set *kernel_set_named(const char *name)
{
    for (int i = 0; i < N_SETS; i++)
        if (strcmp(name, all_sets[i]->name) == 0)
            return all_sets[i];
    return NULL;
}

int kernel_sets_supported(const kernel_set **out, int max)
{
    int n = 0;
    for (int i = 0; i < N_SETS && n < max; i++)
        if (kernel_set_supported(all_sets[i]))
            out[n++] = all_sets[i];
    return n;
}

kernel_row kernel_row_of(const kernel_set *k, int type)
{
    kernel_row row = k->row[type];
    const kernel_row *scalar = &kernels_scalar.row[type];
    const type_traits *traits = type_traits_of(type);
#define FALLBACK(field) if (!row.field) row.field = scalar->field
    FALLBACK(to_float);
    FALLBACK(from_float);
    FALLBACK(dot);
    FALLBACK(dot4);
    FALLBACK(vec_dot);
    FALLBACK(vec_dot4);
#undef FALLBACK
    /* vec_dot_rows4 gives its own set's vec_dot bits: the scalar one only with the scalar vec_dot */
    if (!k->row[type].vec_dot)
        row.vec_dot_rows4 = scalar->vec_dot_rows4;
    if (!row.to_float && traits)
        row.to_float = traits->to_float;
    if (!row.from_float && traits)
        row.from_float = traits->from_float;
    return row;
}
