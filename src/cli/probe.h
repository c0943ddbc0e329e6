/* probe.h — this machine's ceilings, measured in about a second: how fast memory streams into
 * the cores and how many floating-point and int8 operations one core, and all of them at once,
 * can do. The benchmark mode and --profile express achieved speeds as percentages of these. */
#ifndef ATTEND_PROBE_H
#define ATTEND_PROBE_H

#include <stddef.h>

typedef struct {
    double read_gbs;       /* streaming read bandwidth of all threads together, GB/s (1e9 bytes) */
    int threads;           /* the threads that read */
    size_t read_bytes;     /* the buffer they read, several times the caches */
    double fma_gflops;     /* fp32 fused multiply-add peak of one thread, GFLOP/s */
    double int8_gops;      /* int8 dot product peak of one thread, GOP/s (a multiply-add counts 2) */
    double fma_gflops_all; /* the same with `threads` threads at once (not always threads x one's) */
    double int8_gops_all;
    const char *isa;       /* the instructions the probe used: "avx512", "avx2" or "scalar" */
    const char *int8_isa;  /* "avx512-vnni", "avx512bw", "avx2 maddubs" or "scalar" */
    double seconds;        /* what the probe took */
} probe_result;

/* The FMA and int8 ceilings of n_threads threads: measured all at once when the probe ran that
 * many, else one thread's peak times n_threads. */
static inline double probe_fma_ceiling(const probe_result *p, int n_threads)
{
    return n_threads == p->threads ? p->fma_gflops_all : p->fma_gflops * n_threads;
}
static inline double probe_int8_ceiling(const probe_result *p, int n_threads)
{
    return n_threads == p->threads ? p->int8_gops_all : p->int8_gops * n_threads;
}

/* Measure with n_threads readers. Returns 0, or -1 when the buffer cannot be allocated (then
 * read_gbs is 0 and the compute figures are still measured). */
int probe_run(int n_threads, probe_result *out);

#endif
