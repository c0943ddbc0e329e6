/* bench_results.h — what one --bench run measured, and the ways it is written out
 * (bench_output.c): the table, JSON and CSV. Private to the command line's bench mode. */
#ifndef ATTEND_BENCH_RESULTS_H
#define ATTEND_BENCH_RESULTS_H

#include <stdio.h>
#include "attend.h"
#include "cli/probe.h"

/* One test: pp N or tg N at one depth, every repetition's times. */
typedef struct {
    char name[24];          /* "pp512", "tg128" */
    int prefill;            /* 1: pp, 0: tg */
    int n_tokens, depth, reps;
    double *seconds;        /* per repetition: the forward call (pp) or every token (tg) */
    double *ttft;           /* pp: per repetition, forward call + first sample */
    double *itl;            /* tg: reps x n_tokens token times */
    double roofline;        /* % of the probe's ceiling: FMA peak (pp) or read bandwidth (tg) */
    double per_token;       /* what the roofline counts: FLOPs (pp) or weight bytes read (tg) per token */
    int profiled;
    attend_profile profile;
    double sampling_seconds;
    long sampling_calls;
} bench_test;


/* The model, the run and the machine: the header of the table, repeated in every JSON object. */
typedef struct {
    const char *path, *format, *type, *kernels;
    double bytes, params, weight_bytes_per_token;
    int n_ctx, threads;
    double load_cold_ms, load_warm_ms, peak_rss_mib;
    char cpu[128];
    probe_result probe;
} bench_info;

void bench_print_header(FILE *f, const bench_info *in, int reps);
void bench_print_row(FILE *f, const bench_test *t);
void bench_write_json(FILE *f, const bench_info *in, const bench_test *tests, int n_tests);
void bench_write_csv(FILE *f, const bench_info *in, const bench_test *tests, int n_tests);

#endif
