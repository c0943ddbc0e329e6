/* profile_report.c — --profile's table: where the time went, and how close each class of
 * operations came to this machine's ceilings.
 *
 * A matmul that reads its weights once per token is bound by memory: compare its GB/s with the
 * probe's streaming read bandwidth. A prefill matmul reuses each weight for many tokens and is
 * bound by arithmetic: compare its GFLOP/s with the FMA peak of all threads (int8 classes with the
 * int8 dot peak). Whichever percentage is higher says which ceiling the class is up against. */
#include "cli/bench.h"

#include <string.h>

/* Percentages of the ceilings for `bytes` and `flops` done in `seconds`. */
static void against(const probe_result *c, int n_threads, double seconds, double bytes, double flops, int int8,
                    double *gbs, double *gflops, double *pct_bw, double *pct_peak)
{
    *gbs = seconds > 0 ? bytes / seconds / 1e9 : 0;
    *gflops = seconds > 0 ? flops / seconds / 1e9 : 0;
    double peak = int8 ? probe_int8_ceiling(c, n_threads) : probe_fma_ceiling(c, n_threads);
    *pct_bw = c->read_gbs > 0 ? 100 * *gbs / c->read_gbs : 0;
    *pct_peak = peak > 0 ? 100 * *gflops / peak : 0;
}

void profile_report(FILE *f, const char *title, const attend_profile *p, double sampling_seconds,
                    long sampling_calls, const probe_result *c, int n_threads)
{
    double total = p->forward_seconds + sampling_seconds, classes = 0;
    fprintf(f, "\nprofile of %s: %.3f ms in %ld forward passes + %.3f ms sampling; ceilings: read %.1f GB/s, "
            "FMA %.1f GFLOP/s, int8 %.1f GOP/s (%d thread%s)\n", title, p->forward_seconds * 1e3, p->forward_calls,
            sampling_seconds * 1e3, c->read_gbs, probe_fma_ceiling(c, n_threads), probe_int8_ceiling(c, n_threads),
            n_threads,
            n_threads == 1 ? "" : "s");
    fprintf(f, "| %-22s | %9s | %12s | %6s | %8s | %6s | %9s | %6s |\n", "op class", "calls", "ms", "% time",
            "GB/s", "% read", "GFLOP/s", "% peak");
    fprintf(f, "|%s|%s|%s|%s|%s|%s|%s|%s|\n", "------------------------", "----------:", "-------------:",
            "-------:", "---------:", "-------:", "----------:", "-------:");
    for (int i = 0; i < p->n_entries; i++) {
        const attend_profile_entry *e = &p->entries[i];
        double gbs, gflops, pct_bw, pct_peak;
        against(c, n_threads, e->seconds, e->bytes, e->flops, e->int8, &gbs, &gflops, &pct_bw, &pct_peak);
        fprintf(f, "| %-22s | %9ld | %12.3f | %6.1f | %8.2f | %6.1f | %9.2f | %6.1f |\n", e->name, e->calls,
                e->seconds * 1e3, total > 0 ? 100 * e->seconds / total : 0, gbs, pct_bw, gflops, pct_peak);
        classes += e->seconds;
    }
    if (sampling_calls > 0)
        fprintf(f, "| %-22s | %9ld | %12.3f | %6.1f | %8s | %6s | %9s | %6s |\n", "sampling", sampling_calls,
                sampling_seconds * 1e3, total > 0 ? 100 * sampling_seconds / total : 0, "", "", "", "");
    double other = p->forward_seconds - classes;
    fprintf(f, "| %-22s | %9s | %12.3f | %6.1f | %8s | %6s | %9s | %6s |\n", "other (in forward)", "",
            other * 1e3, total > 0 ? 100 * other / total : 0, "", "", "", "");
    fprintf(f, "| %-22s | %9s | %12.3f | %6.1f | %8s | %6s | %9s | %6s |\n", "total", "", total * 1e3, 100.0, "",
            "", "", "");
    fprintf(f, "thread-pool waits: %.3f ms over %ld parallel jobs (the caller idle at the end of a job; "
            "already inside the classes above)\n", p->pool_wait_seconds * 1e3, p->pool_jobs);
}

void profile_json(FILE *f, const attend_profile *p, double sampling_seconds, long sampling_calls,
                  const probe_result *c, int n_threads)
{
    fprintf(f, "{\"forward_calls\": %ld, \"forward_seconds\": %.9f, \"sampling_calls\": %ld, "
            "\"sampling_seconds\": %.9f, \"pool_jobs\": %ld, \"pool_wait_seconds\": %.9f, \"classes\": [",
            p->forward_calls, p->forward_seconds, sampling_calls, sampling_seconds, p->pool_jobs,
            p->pool_wait_seconds);
    for (int i = 0; i < p->n_entries; i++) {
        const attend_profile_entry *e = &p->entries[i];
        double gbs, gflops, pct_bw, pct_peak;
        against(c, n_threads, e->seconds, e->bytes, e->flops, e->int8, &gbs, &gflops, &pct_bw, &pct_peak);
        fprintf(f, "%s{\"name\": \"%s\", \"calls\": %ld, \"seconds\": %.9f, \"bytes\": %.0f, \"flops\": %.0f, "
                "\"int8\": %d, \"gb_s\": %.4f, \"pct_read_bandwidth\": %.2f, \"gflop_s\": %.4f, "
                "\"pct_peak\": %.2f}",
                i ? ", " : "", e->name, e->calls, e->seconds, e->bytes, e->flops, e->int8, gbs, pct_bw, gflops,
                pct_peak);
    }
    fprintf(f, "]}");
}

void profile_report_context(FILE *f, attend_context *ctx, double sampling_seconds, long sampling_calls)
{
    attend_profile p;
    attend_context_profile(ctx, &p);
    attend_context_set_profiling(ctx, 0);
    probe_result c;
    probe_run(attend_context_threads(ctx), &c);
    profile_report(f, "this run", &p, sampling_seconds, sampling_calls, &c, attend_context_threads(ctx));
}
