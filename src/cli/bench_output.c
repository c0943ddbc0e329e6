/* bench_output.c — a --bench run's results as a table (stdout), JSON (every repetition's raw
 * times and every token's latency) and CSV (one line per test), with the statistics they share:
 * mean and sample standard deviation over repetitions, latency percentiles by nearest rank. */
#include "cli/bench_results.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/bench.h"

/* ==== statistics ============================================================================= */

static void mean_sd(const double *x, int n, double scale, double *mean, double *sd)
{
    double m = 0, v = 0;
    for (int i = 0; i < n; i++)
        m += x[i] * scale / n;
    for (int i = 0; i < n; i++)
        v += (x[i] * scale - m) * (x[i] * scale - m);
    *mean = m;
    *sd = n > 1 ? sqrt(v / (n - 1)) : 0;
}

/* tok/s of each repetition, then their mean and sample standard deviation. */
static void rate(const bench_test *t, double *mean, double *sd)
{
    double m = 0, v = 0;
    for (int i = 0; i < t->reps; i++)
        m += t->n_tokens / t->seconds[i] / t->reps;
    for (int i = 0; i < t->reps; i++)
        v += (t->n_tokens / t->seconds[i] - m) * (t->n_tokens / t->seconds[i] - m);
    *mean = m;
    *sd = t->reps > 1 ? sqrt(v / (t->reps - 1)) : 0;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Inter-token latency percentiles in ms (nearest rank) over every token of every repetition. */
static void latency(const bench_test *t, double out[4])
{
    size_t n = (size_t)t->reps * t->n_tokens;
    double *s = malloc(sizeof(double) * n);
    if (!s) {
        out[0] = out[1] = out[2] = out[3] = NAN;
        return;
    }
    memcpy(s, t->itl, sizeof(double) * n);
    qsort(s, n, sizeof *s, by_value);
    static const double q[3] = {0.50, 0.90, 0.99};
    for (int k = 0; k < 3; k++) {
        size_t rank = (size_t)ceil(q[k] * n);
        out[k] = s[rank > 0 ? rank - 1 : 0] * 1e3;
    }
    out[3] = s[n - 1] * 1e3;
    free(s);
}

/* ==== output ================================================================================= */


/* A right-aligned table cell `width` characters wide; "±" is one character in two bytes. */
static void cell(FILE *f, const char *s, int width)
{
    int chars = 0;
    for (const char *p = s; *p; p++)
        chars += ((unsigned char)*p & 0xc0) != 0x80;
    fprintf(f, " %*s%s |", width - chars > 0 ? width - chars : 0, "", s);
}

void bench_print_row(FILE *f, const bench_test *t)
{
    double mean, sd;
    rate(t, &mean, &sd);
    char ttft[48] = "", itl[4][16] = {"", "", "", ""};
    if (t->prefill) {
        double m, s;
        mean_sd(t->ttft, t->reps, 1e3, &m, &s);
        snprintf(ttft, sizeof ttft, "%.2f ± %.2f", m, s);
    } else if (t->n_tokens > 0) {
        double l[4];
        latency(t, l);
        for (int k = 0; k < 4; k++)
            snprintf(itl[k], sizeof itl[k], "%.3f", l[k]);
    }
    char tps[48], roof[24];
    snprintf(tps, sizeof tps, "%.2f ± %.2f", mean, sd);
    snprintf(roof, sizeof roof, "%.1f%% %s", t->roofline, t->prefill ? "FMA" : "BW");
    fprintf(f, "| %-7s | %6d |", t->name, t->depth);
    cell(f, tps, 20);
    cell(f, ttft, 18);
    for (int k = 0; k < 4; k++)
        cell(f, itl[k], 8);
    cell(f, roof, 9);
    fputc('\n', f);
    fflush(f);
}

void bench_print_header(FILE *f, const bench_info *in, int reps)
{
    const probe_result *p = &in->probe;
    fprintf(f, "model: %s (%s, %s weights, %.1f MiB, %.2fM parameters); load %.2f ms cold (first mapping), "
            "%.2f ms warm\n", in->path, in->format, in->type, in->bytes / 1048576.0, in->params / 1e6,
            in->load_cold_ms, in->load_warm_ms);
    fprintf(f, "run: context %d, %d threads, %s kernels; CPU %s\n", in->n_ctx, in->threads, in->kernels, in->cpu);
    fprintf(f, "ceilings (probe, %.1f s): streaming read %.1f GB/s (%d threads), FMA %.1f GFLOP/s per thread, "
            "%.1f with %d at once (%s), int8 dot %.1f GOP/s per thread, %.1f with %d at once (%s)\n", p->seconds,
            p->read_gbs, p->threads, p->fma_gflops, p->fma_gflops_all, p->threads, p->isa, p->int8_gops,
            p->int8_gops_all, p->threads, p->int8_isa);
    fprintf(f, "method: a warm-up, then %d repetitions per test; random in-vocabulary tokens; greedy sampling; "
            "tg never stops at end-of-text; roofline: pp FLOPs vs the FMA peak of all threads at once, tg weight "
            "bytes vs read\n\n", reps);
    fprintf(f, "| %-7s | %6s | %20s | %18s | %8s | %8s | %8s | %8s | %9s |\n", "test", "depth", "tok/s",
            "TTFT ms", "ITL p50", "p90", "p99", "max ms", "roofline");
    fprintf(f, "|---------|-------:|---------------------:|-------------------:|---------:|---------:|---------:"
            "|---------:|----------:|\n");
    fflush(f);
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static void json_array(FILE *f, const double *x, size_t n, double scale)
{
    fputc('[', f);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s%.6g", i ? ", " : "", x[i] * scale);
    fputc(']', f);
}

void bench_write_json(FILE *f, const bench_info *in, const bench_test *tests, int n_tests)
{
    fprintf(f, "[\n");
    for (int i = 0; i < n_tests; i++) {
        const bench_test *t = &tests[i];
        const probe_result *p = &in->probe;
        double mean, sd;
        rate(t, &mean, &sd);
        fprintf(f, "  {\"model\": ");
        json_string(f, in->path);
        fprintf(f, ", \"format\": ");
        json_string(f, in->format);
        fprintf(f, ", \"type\": \"%s\", \"size_bytes\": %.0f, \"params\": %.0f, \"n_ctx\": %d, \"threads\": %d, "
                "\"kernels\": \"%s\", \"cpu\": ", in->type, in->bytes, in->params, in->n_ctx, in->threads,
                in->kernels);
        json_string(f, in->cpu);
        fprintf(f, ",\n   \"probe\": {\"read_gb_s\": %.3f, \"read_threads\": %d, \"read_bytes\": %zu, "
                "\"fma_gflop_s_per_thread\": %.3f, \"int8_gop_s_per_thread\": %.3f, \"fma_gflop_s_all_threads\": %.3f, "
                "\"int8_gop_s_all_threads\": %.3f, \"isa\": \"%s\", \"int8_isa\": \"%s\", \"seconds\": %.3f},\n",
                p->read_gbs, p->threads, p->read_bytes, p->fma_gflops, p->int8_gops, p->fma_gflops_all,
                p->int8_gops_all, p->isa, p->int8_isa, p->seconds);
        fprintf(f, "   \"load_cold_ms\": %.3f, \"load_warm_ms\": %.3f, \"peak_rss_mib\": %.1f,\n",
                in->load_cold_ms, in->load_warm_ms, in->peak_rss_mib);
        fprintf(f, "   \"test\": \"%s\", \"kind\": \"%s\", \"n_tokens\": %d, \"depth\": %d, \"repetitions\": %d, "
                "\"tok_s_mean\": %.4f, \"tok_s_stddev\": %.4f, \"roofline_pct\": %.2f, \"roofline_of\": \"%s\", "
                "\"%s\": %.6g,\n", t->name, t->prefill ? "pp" : "tg", t->n_tokens, t->depth, t->reps, mean, sd,
                t->roofline, t->prefill ? "fma_peak" : "read_bandwidth",
                t->prefill ? "flops_per_token" : "weight_bytes_per_token", t->per_token);
        fprintf(f, "   \"seconds\": ");
        json_array(f, t->seconds, (size_t)t->reps, 1);
        if (t->prefill) {
            double m, s;
            mean_sd(t->ttft, t->reps, 1e3, &m, &s);
            fprintf(f, ",\n   \"ttft_ms_mean\": %.4f, \"ttft_ms_stddev\": %.4f, \"ttft_ms\": ", m, s);
            json_array(f, t->ttft, (size_t)t->reps, 1e3);
        } else if (t->n_tokens > 0) {
            double l[4];
            latency(t, l);
            fprintf(f, ",\n   \"itl_ms_p50\": %.4f, \"itl_ms_p90\": %.4f, \"itl_ms_p99\": %.4f, "
                    "\"itl_ms_max\": %.4f,\n   \"itl_ms\": [", l[0], l[1], l[2], l[3]);
            for (int r = 0; r < t->reps; r++) {
                fprintf(f, r ? ",\n     " : "\n     ");
                json_array(f, t->itl + (size_t)r * t->n_tokens, (size_t)t->n_tokens, 1e3);
            }
            fprintf(f, "]");
        }
        if (t->profiled) {
            fprintf(f, ",\n   \"profile\": ");
            profile_json(f, &t->profile, t->sampling_seconds, t->sampling_calls, p, in->threads);
        }
        fprintf(f, "}%s\n", i + 1 < n_tests ? "," : "");
    }
    fprintf(f, "]\n");
}

static void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

void bench_write_csv(FILE *f, const bench_info *in, const bench_test *tests, int n_tests)
{
    fprintf(f, "model,type,size_bytes,params,threads,kernels,test,n_tokens,depth,repetitions,tok_s_mean,"
            "tok_s_stddev,ttft_ms_mean,ttft_ms_stddev,itl_ms_p50,itl_ms_p90,itl_ms_p99,itl_ms_max,roofline_pct,"
            "roofline_of\n");
    for (int i = 0; i < n_tests; i++) {
        const bench_test *t = &tests[i];
        double mean, sd, ttft = 0, ttft_sd = 0, l[4] = {0, 0, 0, 0};
        rate(t, &mean, &sd);
        if (t->prefill)
            mean_sd(t->ttft, t->reps, 1e3, &ttft, &ttft_sd);
        else if (t->n_tokens > 0)
            latency(t, l);
        csv_field(f, in->path);
        fprintf(f, ",%s,%.0f,%.0f,%d,%s,%s,%d,%d,%d,%.4f,%.4f,", in->type, in->bytes, in->params, in->threads,
                in->kernels, t->name, t->n_tokens, t->depth, t->reps, mean, sd);
        if (t->prefill)
            fprintf(f, "%.4f,%.4f,,,,,", ttft, ttft_sd);
        else
            fprintf(f, ",,%.4f,%.4f,%.4f,%.4f,", l[0], l[1], l[2], l[3]);
        fprintf(f, "%.2f,%s\n", t->roofline, t->prefill ? "fma_peak" : "read_bandwidth");
    }
}

