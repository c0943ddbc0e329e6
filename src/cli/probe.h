/* probe.h — this machine's ceilings, measured in about a second: how fast memory streams into
 * the cores and how many floating-point and int8 operations one core can do. The benchmark
 * mode and --profile express achieved speeds as percentages of these. */
#ifndef ATTEND_PROBE_H
#define ATTEND_PROBE_H

#include <stddef.h>

typedef struct {
    double read_gbs;       /* streaming read bandwidth of all threads together, GB/s (1e9 bytes) */
    int threads;           /* the threads that read */
    size_t read_bytes;     /* the buffer they read, several times the caches */
    double fma_gflops;     /* fp32 fused multiply-add peak of one thread, GFLOP/s */
    double int8_gops;      /* int8 dot product peak of one thread, GOP/s (a multiply-add counts 2) */
    const char *isa;       /* the instructions the probe used: "avx512", "avx2" or "scalar" */
    const char *int8_isa;  /* "avx512-vnni", "avx512bw", "avx2 maddubs" or "scalar" */
    double seconds;        /* what the probe took */
} probe_result;

/* Measure with n_threads readers. Returns 0, or -1 when the buffer cannot be allocated (then
 * read_gbs is 0 and the compute figures are still measured). */
int probe_run(int n_threads, probe_result *out);

#endif
