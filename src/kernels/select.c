/* select.c — which kernel sets this CPU runs, and the one fallback rule for missing kernels.
 *
 * The CPU is asked (cpuid, through libgcc, which also checks that the OS saves the vector state)
 * every time; nothing is cached, so there is no state to race on. A context asks once. */
#include "kernels/kernel_set.h"

#include <string.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif
#if defined(__x86_64__) && defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

/* Ordered slowest to fastest: every AVX-512 CPU also runs AVX2, every x86-64 runs scalar, and
 * the AMX set is the AVX-512 set with a faster prefill. */
static const kernel_set *const all_sets[] = { &kernels_scalar, &kernels_avx2, &kernels_avx512, &kernels_amx };
enum { N_SETS = sizeof all_sets / sizeof all_sets[0] };

#if defined(__x86_64__)
/* AMX-TILE and AMX-INT8 in the CPU, their state enabled by the OS, and this process allowed to
 * use it. Only asked on a CPU with AVX-512, whose support (libgcc checks XCR0 for it) implies
 * that xgetbv may run.
 *   - cpuid leaf 7, sub-leaf 0, EDX bit 24: AMX-TILE; bit 25: AMX-INT8.
 *   - XCR0 bit 17 (XTILECFG) and bit 18 (XTILEDATA): the OS saves and restores the tiles.
 *   - Linux (5.16 and later) also gives the 8 KiB of tile data to a process only when it asks:
 *     arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA). Without it the first tile instruction
 *     faults. The permission is the process's (every thread's), and asking again is harmless; it
 *     is refused, for one, if a thread's sigaltstack is too small for the larger signal frame. */
static int amx_usable(void)
{
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) || !(edx & (1u << 24)) || !(edx & (1u << 25)))
        return 0;
    unsigned xcr0_low, xcr0_high;
    __asm__ volatile("xgetbv" : "=a"(xcr0_low), "=d"(xcr0_high) : "c"(0));
    if ((xcr0_low & (3u << 17)) != (3u << 17))
        return 0;
#if defined(__linux__)
    enum { ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };
    return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
#else
    return 0;
#endif
}
#endif

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
    /* VNNI (cpuid leaf 7, ECX bit 11) for the int8 decode kernels: the CPUs this set is meant for
     * have it (Cascade Lake, Ice Lake and later, Zen 4 and later); Skylake-SP/X, without it, take
     * the AVX2 set. */
    int avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
    if (k == &kernels_avx512)
        return avx512;
    if (k == &kernels_amx)
        return avx512 && amx_usable();
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
    /* vec_dot_rows4 gives its own set's vec_dot bits: the scalar one only with the scalar vec_dot
     * (and dot_rows4 its set's dot bits) */
    if (!k->row[type].vec_dot)
        row.vec_dot_rows4 = scalar->vec_dot_rows4;
    if (!k->row[type].dot)
        row.dot_rows4 = scalar->dot_rows4;
    if (!row.to_float && traits)
        row.to_float = traits->to_float;
    if (!row.from_float && traits)
        row.from_float = traits->from_float;
    return row;
}
