/* probe.c — the machine's ceilings: streaming read bandwidth, FMA peak and int8 dot peak.
 *
 * Each figure is the best of a few short windows, because the machine is shared: the best window
 * is the one least disturbed by other work. The loops are written so that only the hardware
 * limits them:
 *   - bandwidth: every thread streams its own share of a buffer far larger than the caches with
 *     the widest loads, adding into 8 independent accumulators (one accumulator would make the
 *     add latency, not memory, the limit);
 *   - FMA: 12 independent chains of vector FMAs per thread, more than latency x issue width;
 *   - int8: vpmaddubsw + vpmaddwd + vpaddd per 32 (AVX2) or 64 (AVX-512) byte products, or one
 *     vpdpbusd with AVX512-VNNI, over 8-12 independent accumulators.
 * Each instruction set has its own function with a target attribute; the best one this CPU runs
 * is chosen at run time, with a portable scalar fallback. */
#include "probe.h"
#include "cli/util.h"

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define PROBE_X86 1
#else
#define PROBE_X86 0
#endif

/* Under a sanitizer the figures mean nothing and its shadow memory makes a large buffer slow to
 * fill: a small one keeps the sanitizer test runs short. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
enum { BUFFER_MIB = 32 };
#else
enum { BUFFER_MIB = 512 };
#endif
enum { READ_PASSES = 5, WINDOWS = 5 };

/* Tells the compiler `v` may have changed, so a loop-invariant computation on it stays in the
 * loop; it emits no instruction. */
#define OPAQUE(v) __asm__ volatile("" : "+x"(v))
#define OPAQUE_ZMM(v) __asm__ volatile("" : "+v"(v))

/* ==== streaming read ======================================================================== */

/* Sanitizer builds (make asan, make tsan) would check every load of the read loops, turning a
 * second of probing into a minute; the loops read only the probe's own buffer. */
#define UNCHECKED __attribute__((no_sanitize("address", "thread", "undefined")))

/* Sum of n floats (n a multiple of 128, p 64-byte aligned); the sum only keeps the loads alive. */
UNCHECKED static float read_scalar(const float *p, size_t n)
{
    float a[8] = {0};
    for (size_t i = 0; i < n; i += 8)
        for (int k = 0; k < 8; k++)
            a[k] += p[i + k];
    return a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
}

#if PROBE_X86
UNCHECKED __attribute__((target("avx2")))
static float read_avx2(const float *p, size_t n)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    for (size_t i = 0; i < n; i += 64) {
        a0 = _mm256_add_ps(a0, _mm256_load_ps(p + i));
        a1 = _mm256_add_ps(a1, _mm256_load_ps(p + i + 8));
        a2 = _mm256_add_ps(a2, _mm256_load_ps(p + i + 16));
        a3 = _mm256_add_ps(a3, _mm256_load_ps(p + i + 24));
        a4 = _mm256_add_ps(a4, _mm256_load_ps(p + i + 32));
        a5 = _mm256_add_ps(a5, _mm256_load_ps(p + i + 40));
        a6 = _mm256_add_ps(a6, _mm256_load_ps(p + i + 48));
        a7 = _mm256_add_ps(a7, _mm256_load_ps(p + i + 56));
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                             _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    float out[8];
    _mm256_storeu_ps(out, s);
    return out[0] + out[1] + out[2] + out[3] + out[4] + out[5] + out[6] + out[7];
}

UNCHECKED __attribute__((target("avx512f")))
static float read_avx512(const float *p, size_t n)
{
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    for (size_t i = 0; i < n; i += 128) {
        a0 = _mm512_add_ps(a0, _mm512_load_ps(p + i));
        a1 = _mm512_add_ps(a1, _mm512_load_ps(p + i + 16));
        a2 = _mm512_add_ps(a2, _mm512_load_ps(p + i + 32));
        a3 = _mm512_add_ps(a3, _mm512_load_ps(p + i + 48));
        a4 = _mm512_add_ps(a4, _mm512_load_ps(p + i + 64));
        a5 = _mm512_add_ps(a5, _mm512_load_ps(p + i + 80));
        a6 = _mm512_add_ps(a6, _mm512_load_ps(p + i + 96));
        a7 = _mm512_add_ps(a7, _mm512_load_ps(p + i + 112));
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                             _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
    return _mm512_reduce_add_ps(s);
}
#endif

typedef float (*read_fn)(const float *p, size_t n);

struct reader {
    atomic_int *go;    /* 0 until every reader is started; then the barrier is ready */
    pthread_barrier_t *barrier;
    read_fn read;
    float *share;
    size_t n;          /* floats in the share */
    double *pass_seconds;   /* READ_PASSES, written by reader 0 */
    atomic_int *passes;     /* passes done; reader 0 sets *stop when they are slow */
    atomic_int *stop;
    volatile float sink;
};

/* Each reader fills its own share first (so its pages are local to it), then every pass starts
 * and ends at a barrier: the pass time is that of the slowest reader. */
static void *reader_main(void *v)
{
    struct reader *r = v;
    memset(r->share, 1, r->n * sizeof(float));   /* 0x01010101: a small normal float */
    while (!atomic_load(r->go))
        sched_yield();
    for (int pass = 0; pass < READ_PASSES; pass++) {
        pthread_barrier_wait(r->barrier);   /* reader 0's *stop, set before it came here, is seen */
        if (atomic_load(r->stop))
            break;
        double t0 = now_seconds();
        r->sink += r->read(r->share, r->n);
        pthread_barrier_wait(r->barrier);
        if (r->pass_seconds) {
            r->pass_seconds[pass] = now_seconds() - t0;
            atomic_store(r->passes, pass + 1);
            if (r->pass_seconds[pass] > 0.25)
                atomic_store(r->stop, 1);   /* a slow machine or build: no time for more passes */
        }
    }
    return NULL;
}

static int probe_read(int n_threads, read_fn read, probe_result *out)
{
    size_t bytes = (size_t)BUFFER_MIB << 20;
    float *buf = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED)
        return -1;
#ifdef MADV_HUGEPAGE
    madvise(buf, bytes, MADV_HUGEPAGE);   /* fewer page faults and TLB misses, when available */
#endif
    struct reader r[64];
    pthread_t th[64];
    if (n_threads > 64)
        n_threads = 64;
    pthread_barrier_t barrier;
    atomic_int go = 0, passes = 0, stop = 0;
    double pass_seconds[READ_PASSES];
    const size_t floats = bytes / sizeof(float), per = floats / (size_t)n_threads / 128 * 128;
    for (int i = 0; i < n_threads; i++)
        r[i] = (struct reader){&go, &barrier, read, buf + per * i, per, i == 0 ? pass_seconds : NULL,
                               &passes, &stop, 0};
    /* Should a thread not start, the others read without it: the barrier counts those started. */
    int started = 1;
    while (started < n_threads && pthread_create(&th[started], NULL, reader_main, &r[started]) == 0)
        started++;
    pthread_barrier_init(&barrier, NULL, (unsigned)started);
    atomic_store(&go, 1);
    reader_main(&r[0]);
    for (int i = 1; i < started; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&barrier);
    munmap(buf, bytes);
    double best = pass_seconds[0];
    for (int k = 1; k < atomic_load(&passes); k++)
        best = pass_seconds[k] < best ? pass_seconds[k] : best;
    out->read_gbs = (double)per * started * sizeof(float) / best / 1e9;
    out->threads = started;
    out->read_bytes = bytes;
    return 0;
}

/* ==== FMA peak of one thread ================================================================ */
/* Each returns the operations it did in `iters` iterations (a multiply-add counts 2) and leaves
 * a value in *sink so the chains are not optimised away. acc = acc * m + c converges to
 * c / (1 - m) = 1: no overflow, no denormals. */

static double fma_scalar(long iters, float *sink)
{
    float a[12];
    for (int k = 0; k < 12; k++)
        a[k] = (float)k;
    const float m = 0.9999f, c = 0.0001f;
    for (long i = 0; i < iters; i++)
        for (int k = 0; k < 12; k++)
            a[k] = fmaf(a[k], m, c);
    float s = 0;
    for (int k = 0; k < 12; k++)
        s += a[k];
    *sink = s;
    return 2.0 * 12 * iters;
}

#if PROBE_X86
#define CHAINS12(step) \
    step(0) step(1) step(2) step(3) step(4) step(5) step(6) step(7) step(8) step(9) step(10) step(11)

__attribute__((target("avx2,fma")))
static double fma_avx2(long iters, float *sink)
{
    const __m256 m = _mm256_set1_ps(0.9999f), c = _mm256_set1_ps(0.0001f);
#define DECL(k) __m256 a##k = _mm256_set1_ps((float)k);
#define STEP(k) a##k = _mm256_fmadd_ps(a##k, m, c);
#define SUM(k) s = _mm256_add_ps(s, a##k);
    CHAINS12(DECL)
    for (long i = 0; i < iters; i++) {
        CHAINS12(STEP)
    }
    __m256 s = _mm256_setzero_ps();
    CHAINS12(SUM)
    float out[8];
    _mm256_storeu_ps(out, s);
    *sink = out[0] + out[7];
    return 2.0 * 12 * 8 * iters;
#undef DECL
#undef STEP
#undef SUM
}

__attribute__((target("avx512f")))
static double fma_avx512(long iters, float *sink)
{
    const __m512 m = _mm512_set1_ps(0.9999f), c = _mm512_set1_ps(0.0001f);
#define DECL(k) __m512 a##k = _mm512_set1_ps((float)k);
#define STEP(k) a##k = _mm512_fmadd_ps(a##k, m, c);
#define SUM(k) s = _mm512_add_ps(s, a##k);
    CHAINS12(DECL)
    for (long i = 0; i < iters; i++) {
        CHAINS12(STEP)
    }
    __m512 s = _mm512_setzero_ps();
    CHAINS12(SUM)
    *sink = _mm512_reduce_add_ps(s);
    return 2.0 * 12 * 16 * iters;
#undef DECL
#undef STEP
#undef SUM
}
#endif

/* ==== int8 dot peak of one thread =========================================================== */
/* Unsigned x signed bytes summed into int32 lanes, as a Q8_0 dot product does. */

static double int8_scalar(long iters, float *sink)
{
    int32_t a[8] = {0};
    uint8_t u[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    int8_t s = -1;
    for (long i = 0; i < iters; i++)
        for (int k = 0; k < 8; k++) {
            a[k] += (int32_t)u[k] * s;
            u[k] ^= (uint8_t)i;   /* varies, so the product is not hoisted */
        }
    *sink = (float)(a[0] + a[7]);
    return 2.0 * 8 * iters;
}

#if PROBE_X86
#define CHAINS8(step) step(0) step(1) step(2) step(3) step(4) step(5) step(6) step(7)

__attribute__((target("avx2")))
static double int8_avx2(long iters, float *sink)
{
    const __m256i w = _mm256_set1_epi8(-3), ones = _mm256_set1_epi16(1);
#define DECL(k) __m256i u##k = _mm256_set1_epi8((char)(k + 1)), a##k = _mm256_setzero_si256();
#define STEP(k) \
    OPAQUE(u##k); \
    a##k = _mm256_add_epi32(a##k, _mm256_madd_epi16(_mm256_maddubs_epi16(u##k, w), ones));
#define SUM(k) s = _mm256_add_epi32(s, a##k);
    CHAINS8(DECL)
    for (long i = 0; i < iters; i++) {
        CHAINS8(STEP)
    }
    __m256i s = _mm256_setzero_si256();
    CHAINS8(SUM)
    *sink = (float)_mm256_extract_epi32(s, 0);
    return 2.0 * 8 * 32 * iters;
#undef DECL
#undef STEP
#undef SUM
}

__attribute__((target("avx512f,avx512bw")))
static double int8_avx512bw(long iters, float *sink)
{
    const __m512i w = _mm512_set1_epi8(-3), ones = _mm512_set1_epi16(1);
#define DECL(k) __m512i u##k = _mm512_set1_epi8((char)(k + 1)), a##k = _mm512_setzero_si512();
#define STEP(k) \
    OPAQUE_ZMM(u##k); \
    a##k = _mm512_add_epi32(a##k, _mm512_madd_epi16(_mm512_maddubs_epi16(u##k, w), ones));
#define SUM(k) s = _mm512_add_epi32(s, a##k);
    CHAINS8(DECL)
    for (long i = 0; i < iters; i++) {
        CHAINS8(STEP)
    }
    __m512i s = _mm512_setzero_si512();
    CHAINS8(SUM)
    *sink = (float)_mm512_reduce_add_epi32(s);
    return 2.0 * 8 * 64 * iters;
#undef DECL
#undef STEP
#undef SUM
}

__attribute__((target("avx512f,avx512vnni")))
static double int8_avx512vnni(long iters, float *sink)
{
    const __m512i u = _mm512_set1_epi8(2), w = _mm512_set1_epi8(-3);
#define DECL(k) __m512i a##k = _mm512_set1_epi32(k);
#define STEP(k) a##k = _mm512_dpbusd_epi32(a##k, u, w);
#define SUM(k) s = _mm512_add_epi32(s, a##k);
    CHAINS12(DECL)
    for (long i = 0; i < iters; i++) {
        CHAINS12(STEP)
    }
    __m512i s = _mm512_setzero_si512();
    CHAINS12(SUM)
    *sink = (float)_mm512_reduce_add_epi32(s);
    return 2.0 * 12 * 64 * iters;
#undef DECL
#undef STEP
#undef SUM
}
#endif

/* Operations per second of `kernel` on this thread: iterations are doubled until one window
 * takes at least 20 ms (*iters_out: how many), then the best of WINDOWS windows counts. */
static double peak(double (*kernel)(long, float *), long *iters_out)
{
    float sink;
    long iters = 1 << 12;
    double t = 0, ops = 0;
    for (;;) {
        double t0 = now_seconds();
        ops = kernel(iters, &sink);
        t = now_seconds() - t0;
        if (t >= 0.02 || iters > (1L << 40))
            break;
        iters *= 2;
    }
    double best = ops / t;
    for (int w = 1; w < WINDOWS; w++) {
        double t0 = now_seconds();
        ops = kernel(iters, &sink);
        double rate = ops / (now_seconds() - t0);
        best = rate > best ? rate : best;
    }
    *iters_out = iters;
    return best;
}

/* The same kernel on n_threads threads at once, `iters` iterations each: the sum of their rates
 * (what a job whose threads claim work at their own pace can reach), the best of WINDOWS windows.
 * Measured rather than assumed to be n_threads x one thread's: on a shared virtual machine two
 * loops at once often run unevenly (here one at 85-93 GFLOP/s, the other slowed to 45-70), and
 * the figure should say what all threads together got. */
struct computer {
    double (*kernel)(long, float *);
    long iters;
    atomic_int *go;   /* 0: wait; 1: run; -1: a thread could not be started, return */
    double ops, seconds;
    float sink;
};

static void *computer_main(void *v)
{
    struct computer *c = v;
    int go;
    while ((go = atomic_load(c->go)) == 0)
        sched_yield();
    if (go < 0)
        return NULL;
    double t0 = now_seconds();
    c->ops = c->kernel(c->iters, &c->sink);
    c->seconds = now_seconds() - t0;
    return NULL;
}

/* 0 when a thread cannot be started */
static double peak_all(int n_threads, double (*kernel)(long, float *), long iters)
{
    struct computer c[64];
    pthread_t th[64];
    if (n_threads > 64)
        n_threads = 64;
    double best = 0;
    for (int w = 0; w < WINDOWS; w++) {
        atomic_int go = 0;
        int started = 1;
        for (int i = 0; i < n_threads; i++)
            c[i] = (struct computer){kernel, iters, &go, 0, 0, 0};
        while (started < n_threads && pthread_create(&th[started], NULL, computer_main, &c[started]) == 0)
            started++;
        atomic_store(&go, started == n_threads ? 1 : -1);
        if (started == n_threads)
            computer_main(&c[0]);
        double rate = c[0].seconds > 0 ? c[0].ops / c[0].seconds : 0;
        for (int i = 1; i < started; i++) {
            pthread_join(th[i], NULL);
            rate += c[i].seconds > 0 ? c[i].ops / c[i].seconds : 0;
        }
        if (started < n_threads)
            return 0;
        best = rate > best ? rate : best;
    }
    return best;
}

int probe_run(int n_threads, probe_result *out)
{
    double t0 = now_seconds();
    memset(out, 0, sizeof *out);
    read_fn read = read_scalar;
    double (*fma)(long, float *) = fma_scalar;
    double (*int8)(long, float *) = int8_scalar;
    out->isa = out->int8_isa = "scalar";
#if PROBE_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        read = read_avx2, fma = fma_avx2, int8 = int8_avx2;
        out->isa = "avx2";
        out->int8_isa = "avx2 maddubs";
    }
    if (__builtin_cpu_supports("avx512f")) {
        read = read_avx512, fma = fma_avx512;
        out->isa = "avx512";
    }
    if (__builtin_cpu_supports("avx512bw")) {
        int8 = int8_avx512bw;
        out->int8_isa = "avx512bw maddubs";
    }
    if (__builtin_cpu_supports("avx512vnni")) {
        int8 = int8_avx512vnni;
        out->int8_isa = "avx512-vnni";
    }
#endif
    long fma_iters, int8_iters;
    out->fma_gflops = peak(fma, &fma_iters) / 1e9;
    out->int8_gops = peak(int8, &int8_iters) / 1e9;
    int status = probe_read(n_threads < 1 ? 1 : n_threads, read, out);
    out->fma_gflops_all = out->int8_gops_all = 0;
    if (out->threads > 1) {
        out->fma_gflops_all = peak_all(out->threads, fma, fma_iters) / 1e9;
        out->int8_gops_all = peak_all(out->threads, int8, int8_iters) / 1e9;
    }
    /* a failed measurement (no second thread) leaves one thread's peak times the threads */
    if (out->fma_gflops_all <= 0)
        out->fma_gflops_all = out->fma_gflops * (out->threads > 0 ? out->threads : 1);
    if (out->int8_gops_all <= 0)
        out->int8_gops_all = out->int8_gops * (out->threads > 0 ? out->threads : 1);
    out->seconds = now_seconds() - t0;
    return status;
}
