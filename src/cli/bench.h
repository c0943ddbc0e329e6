/* bench.h — ./run MODEL --bench: speed measured without printing text, and --profile's report.
 * The command line's side only; it uses the public API (attend.h) like any other program. */
#ifndef ATTEND_BENCH_H
#define ATTEND_BENCH_H

#include <stdio.h>
#include "attend.h"
#include "cli/probe.h"

typedef struct {
    const char *model, *tokenizer;
    const char *prompts;       /* -p: comma list of prompt lengths; NULL or "" = "512" */
    const char *gens;          /* -n: comma list of generated-token counts; NULL = "128" */
    const char *depths;        /* -d: comma list of KV cache depths; NULL = "0" */
    const char *repetitions;   /* -r; NULL = "5" */
    attend_context_params context;   /* threads, kernels, KV type, exact; n_ctx 0 = what the tests need */
    const char *json, *csv;    /* files to write ("-" = stdout), or NULL */
    int profile;
} bench_options;

/* Run every test and print the table on stdout. Returns the exit status (0); a bad value, an
 * unreadable model or an unwritable output is one "error: ..." line on stderr and exit(1). */
int bench_main(const bench_options *o);

/* --profile: one table of the op classes in `p` (plus sampling, timed by the caller) with
 * achieved GB/s and GFLOP/s as percentages of the ceilings `c` measured for n_threads. */
void profile_report(FILE *f, const char *title, const attend_profile *p, double sampling_seconds,
                    long sampling_calls, const probe_result *c, int n_threads);
/* The same as JSON (an object), for --bench --json. */
void profile_json(FILE *f, const attend_profile *p, double sampling_seconds, long sampling_calls,
                  const probe_result *c, int n_threads);
/* --profile of normal generation: measure the ceilings, then report ctx's counters. */
void profile_report_context(FILE *f, attend_context *ctx, double sampling_seconds, long sampling_calls);

#endif
