/* bench.c — ./run MODEL --bench: prefill and decode speed, time to first token and inter-token
 * latency, measured without printing text.
 *
 * The method follows llama-bench, so the figures compare: prompts are random in-vocabulary token
 * ids (no tokenizer involved), each test runs once as a warm-up and then -r times, and decode
 * generates a fixed number of tokens (never stopping at end-of-text). On top of that it reports
 * what a latency-minded user asks: time to first token and the inter-token latency distribution.
 *
 * Tests, for each depth d of -d (the KV cache first filled with d tokens):
 *   pp N  one forward call over an N-token prompt at positions d .. d+N-1, then the first token
 *         sampled; tok/s counts the forward call, time to first token (TTFT) includes the sample;
 *   tg N  N tokens generated one at a time, each a forward pass and a greedy sample; every
 *         token's time is an inter-token latency (ITL).
 * A test at depth d writes positions d and above only, so the d positions filled once stay valid
 * for every repetition of every test at that depth; at depth 0 each repetition starts from an
 * empty cache (attend_forward at position 0 overwrites what was there). */
#include "cli/bench.h"
#include "cli/bench_results.h"
#include "cli/util.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

enum { MAX_LIST = 32, MAX_TESTS = MAX_LIST * MAX_LIST * 2, TOKEN_SEED = 1234 };

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (char *p = msg; *p; p++)   /* one line, whatever a path or an argument holds */
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    fprintf(stderr, "error: %s\n", msg);
    exit(1);
}

/* ==== options ================================================================================ */

typedef struct {
    int n;
    int v[MAX_LIST];
} int_list;

/* "512,1024": each value an integer in [lo, hi]; text NULL or "" means `fallback`. */
static int_list parse_list(const char *flag, const char *text, const char *fallback, long lo, long hi)
{
    int_list l = {0};
    const char *s = text && *text ? text : fallback;
    for (;;) {
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (end == s || errno || (*end && *end != ','))
            fail("%s expects a comma list of integers, got '%s'", flag, text);
        if (v < lo || v > hi)
            fail("%s must be between %ld and %ld, got %ld", flag, lo, hi, v);
        if (l.n == MAX_LIST)
            fail("%s takes at most %d values", flag, MAX_LIST);
        l.v[l.n++] = (int)v;
        if (!*end)
            return l;
        s = end + 1;
    }
}

static int list_max(const int_list *l)
{
    int m = 0;
    for (int i = 0; i < l->n; i++)
        m = l->v[i] > m ? l->v[i] : m;
    return m;
}

/* An output file, opened before anything is measured so that a bad path fails at once. */
static FILE *open_output(const char *path)
{
    if (!path)
        return NULL;
    if (!strcmp(path, "-"))
        return stdout;
    FILE *f = fopen(path, "w");
    if (!f)
        fail("cannot write '%s': %s", path, strerror(errno));
    return f;
}

static void close_output(FILE *f, const char *path)
{
    if (!f)
        return;
    int bad = ferror(f) | (f == stdout ? fflush(f) : fclose(f));
    if (bad)
        fail("cannot write '%s'", path);
}

/* ==== the machine and the model ============================================================== */

/* The probe runs in a child process, so its large buffer never counts in our peak resident
 * memory; without fork it runs here. */
static void probe_in_child(int n_threads, probe_result *out)
{
    int fd[2];
    if (pipe(fd) == 0) {
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            close(fd[0]);
            probe_result r;
            probe_run(n_threads, &r);
            _exit(write(fd[1], &r, sizeof r) == (ssize_t)sizeof r ? 0 : 1);
        }
        close(fd[1]);
        int ok = pid > 0 && read(fd[0], out, sizeof *out) == (ssize_t)sizeof *out;
        if (pid > 0)
            waitpid(pid, NULL, 0);
        close(fd[0]);
        if (ok)
            return;
    }
    probe_run(n_threads, out);
}

static void cpu_name(char *out, size_t len)
{
    snprintf(out, len, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
            snprintf(out, len, "%s", strchr(line, ':') + 2);
            out[strcspn(out, "\n")] = 0;
            break;
        }
    if (f)
        fclose(f);
}

/* The context the tests run in: the command line's parameters, sized for the deepest test. */
static attend_context *new_context(const attend_model *m, attend_context_params p, int n_ctx, const char **kernels)
{
    char err[512];
    p.n_ctx = n_ctx;
    attend_context *ctx = attend_context_new(m, &p, err, sizeof err);
    if (!ctx)
        fail("%s", err);
    *kernels = attend_context_kernels(ctx);
    return ctx;
}

static double bytes_per_weight(const char *type)
{
    static const struct { const char *name; double bytes; } sizes[] = {
        {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"Q8_0", 34.0 / 32}, {"Q4_0", 18.0 / 32}};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        if (!strcmp(type, sizes[i].name))
            return sizes[i].bytes;
    return 0;
}

/* Weight bytes a decode step reads: all of them, but for an untied model's token embedding, of
 * which it looks up one row. */
static double decode_weight_bytes(const attend_model *m)
{
    const attend_config *c = attend_model_config(m);
    double bytes = (double)attend_model_weight_bytes(m);
    if (!c->tied_output)
        bytes -= (double)c->vocab_size * c->dim * bytes_per_weight(attend_type_name(c->weight_type));
    return bytes;
}

/* Arithmetic of an n-token prompt after `depth` cached tokens: the layer projections for every
 * token, the classifier for the last one, and attention over depth + t + 1 keys for token t. */
static double prefill_flops(const attend_config *c, int n, int depth)
{
    double q = (double)c->n_heads * c->head_dim, kv = (double)c->n_kv_heads * c->head_dim;
    double layer = c->dim * (q + 2 * kv) + q * c->dim + 3.0 * c->dim * c->hidden_dim;
    double keys = (double)n * depth + (double)n * (n + 1) / 2;
    return 2.0 * n * layer * c->n_layers + 2.0 * c->vocab_size * c->dim + 4.0 * c->n_layers * q * keys;
}

/* ==== measuring ============================================================================== */

typedef struct {
    attend_context *ctx;
    attend_sampler *sampler;
    const attend_config *c;
    int *tokens;            /* random in-vocabulary ids, one per context position */
    float *logits;
} bench_state;

static void forward(bench_state *b, const int *tokens, int n, int pos, float *logits)
{
    char err[512];
    if (attend_forward(b->ctx, tokens, n, pos, logits, 0, err, sizeof err) != 0)
        fail("%s", err);
}

/* One pp repetition: returns the forward call's seconds; *ttft adds the first sample. */
static double run_prefill(bench_state *b, int n, int depth, double *ttft, double *sampling)
{
    double t0 = now_seconds();
    forward(b, b->tokens + depth, n, depth, b->logits);
    double t1 = now_seconds();
    attend_sample(b->sampler, b->logits, NULL, 0);
    *ttft = now_seconds() - t0;
    *sampling += *ttft - (t1 - t0);
    return t1 - t0;
}

/* One tg repetition: n tokens from a random first one, each token's time in itl[i]. */
static double run_decode(bench_state *b, int n, int depth, double *itl, double *sampling)
{
    int token = b->tokens[depth];
    double total = 0;
    for (int i = 0; i < n; i++) {
        double t0 = now_seconds();
        forward(b, &token, 1, depth + i, b->logits);
        double t1 = now_seconds();
        token = attend_sample(b->sampler, b->logits, NULL, 0);
        double t2 = now_seconds();
        itl[i] = t2 - t0;
        total += itl[i];
        *sampling += t2 - t1;
    }
    return total;
}

static void run_test(bench_state *b, bench_test *t, int profile, const probe_result *probe, double weight_bytes,
                     int n_threads)
{
    double sampling = 0;
    /* Warm-up: fault the weights in, wake the workers, warm the caches. Decode warms up on a few
     * tokens; the measured runs then overwrite the positions it wrote. */
    double ignored;
    if (t->prefill)
        run_prefill(b, t->n_tokens, t->depth, &ignored, &sampling);
    else
        run_decode(b, t->n_tokens < 16 ? t->n_tokens : 16, t->depth, t->itl, &sampling);
    sampling = 0;
    if (profile)
        attend_context_set_profiling(b->ctx, 1);
    for (int r = 0; r < t->reps; r++)
        t->seconds[r] = t->prefill ? run_prefill(b, t->n_tokens, t->depth, &t->ttft[r], &sampling)
                                   : run_decode(b, t->n_tokens, t->depth, t->itl + (size_t)r * t->n_tokens,
                                                &sampling);
    if (profile) {
        attend_context_profile(b->ctx, &t->profile);
        attend_context_set_profiling(b->ctx, 0);
        t->profiled = 1;
        t->sampling_seconds = sampling;
        t->sampling_calls = t->prefill ? t->reps : (long)t->reps * t->n_tokens;
    }
    double tok_s = 0;   /* the mean of the repetitions' tok/s, as the table shows */
    for (int r = 0; r < t->reps; r++)
        tok_s += t->n_tokens / t->seconds[r] / t->reps;
    t->per_token = t->prefill ? prefill_flops(b->c, t->n_tokens, t->depth) / t->n_tokens : weight_bytes;
    double ceiling = t->prefill ? probe_fma_ceiling(probe, n_threads) : probe->read_gbs;
    t->roofline = ceiling > 0 ? 100 * t->per_token * tok_s / (ceiling * 1e9) : 0;
}

/* ==== the benchmark ========================================================================== */

static attend_model *load(const bench_options *o, double *ms)
{
    char err[512];
    double t0 = now_seconds();
    attend_model_params mp = attend_model_default_params();
    mp.tokenizer_path = o->tokenizer;
    attend_model *m = attend_model_load(o->model, &mp, err, sizeof err);
    if (!m)
        fail("%s", err);
    *ms = (now_seconds() - t0) * 1e3;
    return m;
}

int bench_main(const bench_options *o)
{
    const int_list prompts = parse_list("-p", o->prompts, "512", 0, 1 << 22);
    const int_list gens = parse_list("-n", o->gens, "128", 0, 1 << 22);
    const int_list depths = parse_list("-d", o->depths, "0", 0, 1 << 22);
    const int reps = parse_list("-r", o->repetitions, "5", 1, 100000).v[0];
    if (o->repetitions && strchr(o->repetitions, ','))
        fail("-r takes one number, got '%s'", o->repetitions);
    if (list_max(&prompts) == 0 && list_max(&gens) == 0)
        fail("nothing to measure: -p and -n are both 0");
    FILE *json = open_output(o->json), *csv = open_output(o->csv);
    /* When JSON or CSV goes to stdout, the table goes to stderr. */
    FILE *out = json == stdout || csv == stdout ? stderr : stdout;

    bench_info in = {.path = o->model};

    /* Cold: the first mapping of the file in this process. Warm: a second load, its pages cached. */
    attend_model *m = load(o, &in.load_cold_ms);
    attend_model_free(m);
    m = load(o, &in.load_warm_ms);
    const attend_config *c = attend_model_config(m);

    /* The context holds the deepest test: depth + the longer of prompt and generation. */
    int need = list_max(&depths) + (list_max(&prompts) > list_max(&gens) ? list_max(&prompts) : list_max(&gens));
    int n_ctx = o->context.n_ctx > 0 ? o->context.n_ctx : need;
    if (need > n_ctx || need > c->max_seq_len)
        fail("depth %d + %d tokens needs %d positions but the %s holds %d (see -d, -p, -n%s)", list_max(&depths),
             need - list_max(&depths), need, o->context.n_ctx > 0 ? "context (-c)" : "model's context",
             need > n_ctx ? n_ctx : c->max_seq_len, o->context.n_ctx > 0 ? ", -c" : "");
    /* The probe after every check, so that a mistake is reported at once, and before the context's
     * workers exist, so that it has the machine to itself. */
    int n_threads = o->context.n_threads > 0 ? o->context.n_threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    probe_in_child(n_threads > 0 ? n_threads : 1, &in.probe);
    cpu_name(in.cpu, sizeof in.cpu);
    bench_state b = {.c = c};
    b.ctx = new_context(m, o->context, n_ctx, &in.kernels);
    b.sampler = attend_sampler_new(c->vocab_size, &(attend_sampler_params){.temperature = 0, .top_p = 1,
                                                                           .repeat_penalty = 1});
    b.tokens = malloc(sizeof(int) * (size_t)n_ctx);
    b.logits = malloc(sizeof(float) * (size_t)c->vocab_size);
    if (!b.sampler || !b.tokens || !b.logits)
        fail("out of memory");
    uint64_t x = TOKEN_SEED;   /* xorshift64: the same tokens every run */
    for (int i = 0; i < n_ctx; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        b.tokens[i] = (int)(x % (uint64_t)c->vocab_size);
    }
    in.format = attend_model_format(m);
    in.type = attend_type_name(c->weight_type);
    in.bytes = (double)attend_model_weight_bytes(m);
    in.params = (double)attend_model_param_count(m);
    in.weight_bytes_per_token = decode_weight_bytes(m);
    in.n_ctx = n_ctx;
    in.threads = attend_context_threads(b.ctx);
    bench_print_header(out, &in, reps);

    bench_test *tests = calloc(MAX_TESTS, sizeof *tests);
    int n_tests = 0;
    if (!tests)
        fail("out of memory");
    for (int di = 0; di < depths.n; di++) {
        const int depth = depths.v[di];
        if (depth > 0)
            forward(&b, b.tokens, depth, 0, NULL);   /* untimed: the cache every test here starts from */
        for (int kind = 0; kind < 2; kind++) {
            const int_list *sizes = kind == 0 ? &prompts : &gens;
            for (int si = 0; si < sizes->n; si++) {
                if (sizes->v[si] == 0)
                    continue;
                bench_test *t = &tests[n_tests++];
                t->prefill = kind == 0;
                t->n_tokens = sizes->v[si];
                t->depth = depth;
                t->reps = reps;
                snprintf(t->name, sizeof t->name, "%s%d", t->prefill ? "pp" : "tg", t->n_tokens);
                t->seconds = calloc((size_t)reps, sizeof(double));
                t->ttft = calloc((size_t)reps, sizeof(double));
                t->itl = t->prefill ? NULL : calloc((size_t)reps * t->n_tokens, sizeof(double));
                if (!t->seconds || !t->ttft || (!t->prefill && !t->itl))
                    fail("out of memory for %d repetitions of %s", reps, t->name);
                run_test(&b, t, o->profile, &in.probe, in.weight_bytes_per_token, in.threads);
                bench_print_row(out, t);
            }
        }
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    in.peak_rss_mib = ru.ru_maxrss / 1024.0;   /* ru_maxrss is in KiB on Linux */
    fprintf(out, "\npeak resident memory %.1f MiB (weights are mapped: their pages count once touched)\n",
            in.peak_rss_mib);
    for (int i = 0; i < n_tests; i++)
        if (tests[i].profiled) {
            char title[64];
            snprintf(title, sizeof title, "%s at depth %d, %d repetitions", tests[i].name, tests[i].depth, reps);
            profile_report(out, title, &tests[i].profile, tests[i].sampling_seconds, tests[i].sampling_calls,
                           &in.probe, in.threads);
        }
    if (json)
        bench_write_json(json, &in, tests, n_tests);
    if (csv)
        bench_write_csv(csv, &in, tests, n_tests);
    close_output(json, o->json);
    close_output(csv, o->csv);

    for (int i = 0; i < n_tests; i++) {
        free(tests[i].seconds);
        free(tests[i].ttft);
        free(tests[i].itl);
    }
    free(tests);
    free(b.tokens);
    free(b.logits);
    attend_sampler_free(b.sampler);
    attend_context_free(b.ctx);
    attend_model_free(m);
    return 0;
}
