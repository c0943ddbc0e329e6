/* run.c — the command line: load a model, then generate text, tokenize, dump logits or measure
 * perplexity. Every failure is one line on stderr and exit status 1. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "attend.h"
#include "cli/attn_map.h"
#include "cli/bench.h"
#include "cli/streaming_ppl.h"
#include "fileio.h"

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* One line, whatever bytes a file or an argument put into the message. */
    for (char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    fprintf(stderr, "error: %s\n", msg);
    exit(1);
}

static void usage(FILE *f)
{
    fputs("usage: ./run MODEL [options]\n"
          "  MODEL                    a GGUF file or a llama2.c checkpoint (version 0, 1 or 2)\n"
          "  -p, --prompt TEXT        text to continue (default: empty, start from BOS)\n"
          "  -f, --file FILE          read the prompt from FILE instead\n"
          "  -n, --n-predict N        tokens to generate (default 256; stops early at EOS or a full context)\n"
          "  -t, --threads N          worker threads (default: online CPUs)\n"
          "  -c, --ctx-size N         context length in tokens (default: the model's)\n"
          "      --temp T             temperature; 0 = greedy (default 0.8)\n"
          "      --top-k K            keep the K most likely tokens; 0 = off (default 40)\n"
          "      --top-p P            nucleus sampling; 1 = off (default 0.95)\n"
          "      --min-p P            drop tokens below P x the top probability; 0 = off (default 0.05)\n"
          "      --repeat-penalty R   penalise the last --repeat-last-n tokens; 1 = off (default 1.0)\n"
          "      --repeat-last-n N    (default 64)\n"
          "  -s, --seed S             random seed (default: from the clock); same seed, same text\n"
          "  -z, --tokenizer FILE     tokenizer.model or llama2.c tokenizer.bin (needed for llama2.c files)\n"
          "  -v, --verbose            print a model summary to stderr\n"
          "      --kernels NAME       kernel set: auto (default), scalar, avx2, avx512 (or env ATTEND_SIMD)\n"
          "      --exact              float activations in every matmul (the reference path; slower for Q8_0/Q4_0)\n"
          "      --kv-type TYPE       KV cache element type: f32 (default) or f16\n"
          "      --window W           sliding-window attention: each token sees the last W (default: the\n"
          "                           model's sliding_window, else all); the KV cache becomes a ring, so\n"
          "                           generation runs past -c, and --perplexity streams the whole text\n"
          "      --sinks S            with --window: the first S tokens stay visible (attention sinks)\n"
          "  -b, --batch-size N       tokens per forward pass for --dump-logits and --perplexity (default:\n"
          "                           all at once; 1 runs them as decode steps)\n"
          "      --tokenize           print the prompt's token ids (BOS first) and exit\n"
          "      --dump-logits FILE   write float32 logits of every prompt position (n_tokens x vocab) and exit\n"
          "      --perplexity FILE    score FILE: perplexity and bits per byte over chunks of -c tokens\n"
          "                           (default 512), the second half of each chunk scored\n"
          "      --attn-map OUT       run the prompt, write its attention weights as OUT.png (a grid: rows =\n"
          "                           layers, columns = query heads) and OUT.html (interactive), and exit\n"
          "      --attn-map-text L:H  run the prompt, print layer L, query head H's weights as text, and exit\n"
          "      --attn-dump FILE     run the prompt, write its attention weights raw and exit: \"ATTN\", int32\n"
          "                           1, layers, heads, kv_heads, tokens, then float32 [layer][head][query][key]\n"
          "      --ignore-eos         keep generating past end-of-text (exactly -n tokens, context permitting)\n"
          "      --profile            time per operation class (and % of this machine's ceilings) on stderr\n"
          "      --bench              measure speed, print no text; -p/-n/-d take comma lists of token counts:\n"
          "                           -p prompt tokens (default 512), -n generated tokens (default 128);\n"
          "  -d, --depth LIST         tokens already in the KV cache (default 0)\n"
          "  -r, --repetitions N      measured runs per test, after a warm-up (default 5)\n"
          "      --json FILE          --bench: every test and repetition as JSON ('-' = stdout)\n"
          "      --csv FILE           --bench: one line per test as CSV ('-' = stdout)\n"
          "  -h, --help               this text\n",
          f);
}

/* ---- strict number parsing: the whole argument must be a number in range ---------------------- */

static long parse_int(const char *flag, const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno)
        die("%s expects an integer, got '%s'", flag, s);
    if (v < lo || v > hi)
        die("%s must be between %ld and %ld, got %ld", flag, lo, hi, v);
    return v;
}

static float parse_float(const char *flag, const char *s, float lo, float hi)
{
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (!*s || *end || errno || !isfinite(v))
        die("%s expects a number, got '%s'", flag, s);
    if (v < lo || v > hi)
        die("%s must be between %g and %g, got %g", flag, lo, hi, v);
    return v;
}

static int is_flag(const char *arg, const char *short_name, const char *long_name)
{
    return (short_name && !strcmp(arg, short_name)) || !strcmp(arg, long_name);
}

typedef struct {
    const char *model, *prompt, *prompt_file, *tokenizer, *dump_logits, *perplexity;
    const char *attn_map, *attn_map_text, *attn_dump;   /* attention maps: see attention_maps() */
    int n_predict, threads, ctx_size, verbose, tokenize, seed_given, batch_size;
    const char *n_predict_text, *depths, *repetitions, *json, *csv;   /* --bench reads lists */
    int bench, profile, ignore_eos, window_given;
    attend_sampler_params sampling;
    attend_context_params context;
} options;

static options parse_args(int argc, char **argv)
{
    options o = {.prompt = "", .n_predict = 256, .sampling = attend_sampler_defaults(),
                 .context = attend_context_default_params()};
    /* ATTEND_SIMD names a kernel set too (the library reads no environment; --kernels wins) */
    const char *simd = getenv("ATTEND_SIMD");
    if (simd && *simd) o.context.kernels = simd;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define IS(short_, long_) is_flag(a, short_, long_)
#define VALUE() (i + 1 < argc ? argv[++i] : (die("%s needs a value", a), ""))
        if (IS("-h", "--help")) {
            usage(stdout);
            exit(0);
        } else if (IS("-p", "--prompt")) o.prompt = VALUE();
        else if (IS("-f", "--file")) o.prompt_file = VALUE();
        else if (IS("-n", "--n-predict")) o.n_predict_text = VALUE();
        else if (IS("-t", "--threads")) o.threads = (int)parse_int(a, VALUE(), 1, 1024);
        else if (IS("-c", "--ctx-size")) o.ctx_size = (int)parse_int(a, VALUE(), 1, 1 << 22);
        else if (IS(NULL, "--temp")) o.sampling.temperature = parse_float(a, VALUE(), 0, 100);
        else if (IS(NULL, "--top-k")) o.sampling.top_k = (int)parse_int(a, VALUE(), 0, INT_MAX);
        else if (IS(NULL, "--top-p")) o.sampling.top_p = parse_float(a, VALUE(), 0, 1);
        else if (IS(NULL, "--min-p")) o.sampling.min_p = parse_float(a, VALUE(), 0, 1);
        else if (IS(NULL, "--repeat-penalty")) o.sampling.repeat_penalty = parse_float(a, VALUE(), 0.01f, 100);
        else if (IS(NULL, "--repeat-last-n")) o.sampling.repeat_last_n = (int)parse_int(a, VALUE(), 0, INT_MAX);
        else if (IS("-s", "--seed")) {
            o.sampling.seed = (uint64_t)parse_int(a, VALUE(), 0, LONG_MAX);
            o.seed_given = 1;
        } else if (IS("-z", "--tokenizer")) o.tokenizer = VALUE();
        else if (IS("-v", "--verbose")) o.verbose = 1;
        else if (IS(NULL, "--kernels")) o.context.kernels = VALUE();
        else if (IS(NULL, "--exact")) o.context.exact = 1;
        else if (IS("-b", "--batch-size")) o.batch_size = (int)parse_int(a, VALUE(), 1, 1 << 22);
        else if (IS(NULL, "--kv-type")) {
            const char *v = VALUE();
            if (strcmp(v, "f32") && strcmp(v, "f16"))
                die("--kv-type expects f32 or f16, got '%s'", v);
            o.context.kv_type = strcmp(v, "f16") ? ATTEND_KV_F32 : ATTEND_KV_F16;
        }
        else if (IS(NULL, "--window")) {
            o.context.window = (int)parse_int(a, VALUE(), 1, 1 << 22);
            o.window_given = 1;
        } else if (IS(NULL, "--sinks")) o.context.sinks = (int)parse_int(a, VALUE(), 0, 1 << 22);
        else if (IS(NULL, "--tokenize")) o.tokenize = 1;
        else if (IS(NULL, "--dump-logits")) o.dump_logits = VALUE();
        else if (IS(NULL, "--perplexity")) o.perplexity = VALUE();
        else if (IS(NULL, "--attn-map")) o.attn_map = VALUE();
        else if (IS(NULL, "--attn-map-text")) o.attn_map_text = VALUE();
        else if (IS(NULL, "--attn-dump")) o.attn_dump = VALUE();
        else if (IS(NULL, "--ignore-eos")) o.ignore_eos = 1;
        else if (IS(NULL, "--profile")) o.profile = 1;
        else if (IS(NULL, "--bench")) o.bench = 1;
        else if (IS("-d", "--depth")) o.depths = VALUE();
        else if (IS("-r", "--repetitions")) o.repetitions = VALUE();
        else if (IS(NULL, "--json")) o.json = VALUE();
        else if (IS(NULL, "--csv")) o.csv = VALUE();
        else if (a[0] == '-' && a[1])
            die("unknown option '%s' (see --help)", a);
        else if (o.model)
            die("unexpected argument '%s': the model is already '%s'", a, o.model);
        else
            o.model = a;
#undef IS
#undef VALUE
    }
    if (!o.model) {
        usage(stderr);
        die("no model file given");
    }
    if (o.prompt_file && *o.prompt)
        die("give the prompt with -p or with -f, not both");
    if (o.bench && (o.prompt_file || o.tokenize || o.dump_logits || o.perplexity))
        die("--bench measures speed alone: it does not take -f, --tokenize, --dump-logits or --perplexity");
    if (!o.bench && (o.depths || o.repetitions || o.json || o.csv))
        die("-d, -r, --json and --csv belong to --bench");
    if (!o.bench && o.n_predict_text)
        o.n_predict = (int)parse_int("-n", o.n_predict_text, 0, INT_MAX);
    if (!o.seed_given)
        o.sampling.seed = (uint64_t)time(NULL);
    return o;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* `len` bytes of text as token ids (BOS first when add_bos); `what` names the text in errors.
 * The caller frees. Every token spells at least one byte (byte fallback), so len + 2 ids (BOS and
 * the dummy-prefix space) always suffice and SentencePiece runs once; were that ever wrong, the
 * count it returns sizes a second call. */
static int *encode(const attend_tokenizer *tok, const char *text, size_t len, int add_bos, const char *what, int *n)
{
    char err[256];
    if (len > INT_MAX / 2)
        die("%s is too long to tokenize (%zu bytes)", what, len);
    int cap = (int)len + 2;
    int *ids = malloc(sizeof(int) * (size_t)cap);
    if (!ids)
        die("out of memory for the tokens of %s", what);
    int count = attend_tokenize(tok, text, len, add_bos, ids, cap, err, sizeof err);
    if (count > cap) {
        int *grown = realloc(ids, sizeof(int) * (size_t)count);
        if (!grown)
            die("out of memory for %d tokens of %s", count, what);
        ids = grown;
        if (attend_tokenize(tok, text, len, add_bos, ids, count, err, sizeof err) != count)
            count = -1;
    }
    if (count < 0)
        die("cannot tokenize %s: %s", what, err);
    *n = count;
    return ids;
}

static void print_summary(const attend_model *m, const attend_context *ctx)
{
    const attend_config *c = attend_model_config(m);
    fprintf(stderr, "model: %s, %.2fM parameters, %.1f MiB of %s weights\n", attend_model_format(m),
            attend_model_param_count(m) / 1e6, attend_model_weight_bytes(m) / 1048576.0,
            attend_type_name(c->weight_type));
    fprintf(stderr, "shape: dim %d, hidden %d, %d layers, %d query heads, %d kv heads (%s), head_dim %d, "
            "vocab %d, trained context %d, rope base %g over %d dims, %s output\n",
            c->dim, c->hidden_dim, c->n_layers, c->n_heads, c->n_kv_heads,
            c->n_kv_heads == c->n_heads ? "multi-head" : c->n_kv_heads == 1 ? "multi-query" : "grouped-query",
            c->head_dim, c->vocab_size, c->max_seq_len, c->rope_base, c->rope_dim,
            c->tied_output ? "tied" : "separate");
    fprintf(stderr, "run: context %d, %d threads, %s kernels\n", attend_context_size(ctx),
            attend_context_threads(ctx), attend_context_kernels(ctx));
}

/* ---- modes --------------------------------------------------------------------------------- */

/* NaN or Inf weights (a corrupt file) surface as non-finite logits. Checking them costs vocab
 * comparisons per token, where scanning the weights at load would read the whole file; and it
 * also catches finite weights that overflow. Sampling from such logits would be meaningless. */
static void check_logits(const float *logits, int rows, int vocab, int first_pos)
{
    for (size_t i = 0; i < (size_t)rows * vocab; i++)
        if (!isfinite(logits[i]))
            die("the model computed a non-finite logit (%g, token %zu at position %zu): its weights hold NaN "
                "or Inf values or overflow", logits[i], i % (size_t)vocab, first_pos + i / (size_t)vocab);
}

/* The logits of every one of n tokens from position 0, in forward passes of at most `batch` tokens
 * (<= 0: one pass). Small batches run the decode kernels, whose fast path differs from prefill's. */
static void forward_all(attend_context *ctx, const int *ids, int n, int vocab, float *logits, int batch)
{
    char err[256];
    if (batch <= 0)
        batch = n;
    for (int done = 0; done < n; done += batch)
        if (attend_forward(ctx, ids + done, n - done < batch ? n - done : batch, done,
                           logits + (size_t)done * vocab, 1, err, sizeof err) != 0)
            die("%s", err);
}

static void dump_logits(attend_context *ctx, const int *ids, int n, int vocab, const char *path, int batch)
{
    float *logits = malloc(sizeof(float) * (size_t)n * vocab);
    if (!logits)
        die("out of memory for %d x %d logits", n, vocab);
    forward_all(ctx, ids, n, vocab, logits, batch);
    check_logits(logits, n, vocab, 0);
    FILE *f = fopen(path, "wb");
    int written = f && fwrite(logits, sizeof(float) * vocab, (size_t)n, f) == (size_t)n;
    if (f && fclose(f) != 0)
        written = 0;
    int why = errno;
    free(logits);   /* before a failure too, so that LeakSanitizer runs (make asan) stay quiet */
    if (!written)
        die("cannot write logits to '%s': %s", path, strerror(why));
}

/* Print what one more token completes: whole UTF-8 characters only (the stream holds the rest). */
static void write_token(attend_stream *stream, int id)
{
    char text[256];
    int len = attend_stream_next(stream, id, text, sizeof text);
    if (len < 0)
        die("token id %d is outside the vocabulary", id);
    fwrite(text, 1, (size_t)len, stdout);
}

static void generate(attend_context *ctx, const attend_tokenizer *tok, const options *o, int *prompt, int n_prompt,
                     int vocab)
{
    const int n_ctx = attend_context_size(ctx);
    int *history = malloc(sizeof(int) * (size_t)n_ctx);
    float *logits = malloc(sizeof(float) * (size_t)vocab);
    attend_sampler *sampler = attend_sampler_new(vocab, o->sampling);
    attend_stream *stream = attend_stream_new(tok);
    char err[256];
    if (!history || !logits || !sampler || !stream)
        die("out of memory");
    memcpy(history, prompt, sizeof(int) * (size_t)n_prompt);

    if (o->profile)
        attend_context_set_profiling(ctx, 1);
    double t0 = now_seconds();
    if (attend_forward(ctx, prompt, n_prompt, 0, logits, 0, err, sizeof err) != 0)
        die("%s", err);
    double t1 = now_seconds();
    double forward_s = 0, sampling_s = 0, t;   /* of the generated tokens, apart from printing them */
    check_logits(logits, 1, vocab, n_prompt - 1);

    /* Echo the prompt as the tokenizer sees it (once it has run, so that a model refused for
     * non-finite logits prints nothing), then continue from there. */
    for (int i = 0; i < n_prompt; i++)
        write_token(stream, prompt[i]);
    fflush(stdout);
    int n = n_prompt, n_history = n_prompt, generated = 0;
    const char *stop = "the -n limit";
    while (generated < o->n_predict) {
        t = now_seconds();
        int next = attend_sample(sampler, logits, history, n_history);
        sampling_s += now_seconds() - t;
        if (next == attend_tokenizer_eos(tok) && !o->ignore_eos) {
            stop = "end of text";
            break;
        }
        write_token(stream, next);
        fflush(stdout);
        generated++;
        if (n == n_ctx && !o->context.window) {
            stop = "a full context (-c)";
            break;
        }
        if (n_history == n_ctx) {   /* a window runs on: the sampler keeps the last half of history */
            memmove(history, history + n_ctx / 2, sizeof(int) * (size_t)(n_ctx - n_ctx / 2));
            n_history -= n_ctx / 2;
        }
        history[n_history++] = next;
        t = now_seconds();
        if (attend_forward(ctx, &next, 1, n, logits, 0, err, sizeof err) != 0)
            die("%s", err);
        forward_s += now_seconds() - t;
        check_logits(logits, 1, vocab, n);
        n++;
    }
    char rest[64];
    for (int len; (len = attend_stream_flush(stream, rest, sizeof rest)) > 0;)
        fwrite(rest, 1, (size_t)len, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    double t2 = now_seconds();
    /* A generated token costs a sampling step and (but for the last) a forward pass. */
    fprintf(stderr, "\nprompt: %d tokens in %.2f ms (%.1f tok/s); generated: %d tokens in %.2f ms "
            "(%.1f tok/s); forward %.2f ms + sampling %.2f ms (%.1f tok/s), output %.2f ms; stopped at %s\n",
            n_prompt, (t1 - t0) * 1e3, n_prompt / (t1 - t0), generated, (t2 - t1) * 1e3,
            generated > 0 ? generated / (t2 - t1) : 0.0, forward_s * 1e3, sampling_s * 1e3,
            generated > 0 ? generated / (forward_s + sampling_s) : 0.0,
            (t2 - t1 - forward_s - sampling_s) * 1e3, stop);
    if (o->profile)
        profile_report_context(stderr, ctx, sampling_s, generated);
    attend_stream_free(stream);
    attend_sampler_free(sampler);
    free(logits);
    free(history);
}

/* ---- attention maps (src/cli/attn_map.c) --------------------------------------------------------- */

/* fopen for writing, or die naming the file. */
static FILE *create(const char *path)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        die("cannot write '%s': %s", path, strerror(errno));
    return f;
}

static void finish(FILE *f, int status, const char *path)
{
    if (fclose(f) != 0)
        status = -1;
    if (status != 0)
        die("cannot write '%s': %s", path, strerror(errno));
}

/* Run the prompt with an observer that keeps every layer's and head's attention weights, then
 * write or print what was asked: --attn-dump, --attn-map (PNG + HTML), --attn-map-text. */
static void attention_maps(attend_context *ctx, const attend_model *model, const options *o, const int *ids, int n)
{
    const attend_config *c = attend_model_config(model);
    int layer = -1, head = -1;
    if (o->attn_map_text) {
        char extra;
        if (sscanf(o->attn_map_text, "%d:%d%c", &layer, &head, &extra) != 2)
            die("--attn-map-text expects LAYER:HEAD (e.g. 0:3), got '%s'", o->attn_map_text);
        if (layer < 0 || layer >= c->n_layers || head < 0 || head >= c->n_heads)
            die("--attn-map-text %s: the model has layers 0..%d and query heads 0..%d", o->attn_map_text,
                c->n_layers - 1, c->n_heads - 1);
    }
    if ((o->attn_map || o->attn_map_text) && n > ATTN_MAP_MAX_TOKENS)
        die("the prompt is %d tokens; attention maps are drawn for at most %d", n, ATTN_MAP_MAX_TOKENS);
    const double mib = (double)c->n_layers * c->n_heads * n * n * sizeof(float) / (1 << 20);
    if (mib > 1024)   /* every weight of every head is kept: n^2 grows fast */
        die("the attention weights of %d tokens would take %.0f MiB (at most 1024): shorten the prompt", n, mib);
    char err[256], path[4096];
    if (o->attn_map && strlen(o->attn_map) > sizeof path - 6)
        die("--attn-map: the name is too long");
    const char *slash = strrchr(o->model, '/');
    attn_map *map = attn_map_new(c, attend_model_tokenizer(model), ids, n, slash ? slash + 1 : o->model);
    if (!map)
        die("out of memory for the attention maps of %d tokens", n);
    if (attend_context_set_observer(ctx, attn_map_observe, map, err, sizeof err) != 0 ||
        attend_forward(ctx, ids, n, 0, NULL, 0, err, sizeof err) != 0)
        die("%s", err);
    attend_context_set_observer(ctx, NULL, NULL, NULL, 0);
    /* As with logits (check_logits): NaN or Inf weights in the file show up here, not as a map. */
    for (size_t i = 0; i < (size_t)c->n_layers * c->n_heads * n * n; i++)
        if (!isfinite(map->w[i]))
            die("the model computed a non-finite attention weight (layer %zu, head %zu): its weights hold "
                "NaN or Inf values or overflow", i / ((size_t)n * n) / c->n_heads, i / ((size_t)n * n) % c->n_heads);
    if (o->attn_dump) {
        FILE *f = create(o->attn_dump);
        finish(f, attn_map_write_dump(map, f), o->attn_dump);
    }
    if (o->attn_map) {
        snprintf(path, sizeof path, "%s.png", o->attn_map);
        FILE *f = create(path);
        finish(f, attn_map_write_png(map, f), path);
        snprintf(path, sizeof path, "%s.html", o->attn_map);
        f = create(path);
        finish(f, attn_map_write_html(map, f), path);
        fprintf(stderr, "attention maps: %s.png, %s.html (%d layers x %d heads, %d token%s)\n", o->attn_map,
                o->attn_map, c->n_layers, c->n_heads, n, n == 1 ? "" : "s");
    }
    if (o->attn_map_text)
        attn_map_print_text(map, layer, head, stdout);
    attn_map_free(map);
}

/* A whole text file (a prompt, a perplexity corpus). Opened without blocking and required to be a
 * regular file, so a FIFO or a device named by mistake is an error, not a hang. */
static char *read_file(const char *path, size_t *size)
{
    struct stat st;
    int fd = open_regular_file(path, &st);
    if (fd == FILE_CANNOT_OPEN)
        die("cannot open '%s': %s", path, strerror(errno));
    if (fd == FILE_NOT_REGULAR)
        die("'%s' is not a regular file", path);
    FILE *f = fdopen(fd, "rb");
    if (!f)
        die("cannot read '%s': %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *grown = realloc(buf, 2 * cap + 1);
            if (!grown)
                free(buf);
            buf = grown;
            cap *= 2;
        }
    }
    if (!buf)
        die("out of memory reading '%s'", path);
    if (ferror(f))
        die("cannot read '%s'", path);
    fclose(f);
    buf[n] = 0;
    *size = n;
    return buf;
}

/* Perplexity as llama.cpp's tool measures it, so the figures compare: the text is tokenized with
 * BOS first, the tokens are cut into chunks of n_ctx (so chunk k starts at token k * n_ctx of that
 * sequence, BOS included: the same windows as llama.cpp), the first token of each chunk is replaced
 * by BOS, and the model's predictions for the second half of each chunk are scored (so every scored
 * token has at least n_ctx/2 tokens of context). Bits per byte divide the total negative
 * log2-likelihood by the bytes of text those tokens spell, which compares models with different
 * tokenizers. */
static void perplexity(attend_context *ctx, const attend_tokenizer *tok, const char *path, int vocab, int batch,
                       int window)
{
    size_t size;
    char *text = read_file(path, &size);
    char what[300];
    snprintf(what, sizeof what, "'%s'", path);
    const int n_ctx = attend_context_size(ctx), first = n_ctx / 2;
    if (n_ctx < 4)   /* the second half of a chunk must hold a prediction to score */
        die("perplexity needs a context of at least 4 tokens, got -c %d", n_ctx);
    int n_tokens;
    int *ids = encode(tok, text, size, 1, what, &n_tokens);
    if (window) {   /* one pass through the ring, far past the context: see streaming_ppl.c */
        char err[256];
        if (streaming_perplexity(ctx, tok, ids, n_tokens, vocab, window, batch, path, err, sizeof err) != 0)
            die("%s", err);
        free(ids);
        free(text);
        return;
    }
    const int n_bos = attend_tokenizer_bos(tok) >= 0, n_chunks = n_tokens / n_ctx;
    if (n_chunks < 1)
        die("'%s' has %d tokens: perplexity needs at least one chunk of -c %d tokens", path,
            n_tokens - n_bos, n_ctx);
    float *logits = malloc(sizeof(float) * (size_t)n_ctx * vocab);
    int *chunk = malloc(sizeof(int) * (size_t)n_ctx);
    size_t dec_cap = 1 << 20;
    char *dec = malloc(dec_cap);
    if (!logits || !chunk || !dec)
        die("out of memory");
    double nll = 0, nll2 = 0, bytes = 0;
    long scored = 0;
    double t0 = now_seconds();
    for (int k = 0; k < n_chunks; k++) {
        memcpy(chunk, ids + (size_t)k * n_ctx, sizeof(int) * (size_t)n_ctx);
        chunk[0] = attend_tokenizer_bos(tok) >= 0 ? attend_tokenizer_bos(tok) : chunk[0];
        forward_all(ctx, chunk, n_ctx, vocab, logits, batch);
        check_logits(logits, n_ctx, vocab, 0);
        for (int j = first; j < n_ctx - 1; j++) {
            const float *row = logits + (size_t)j * vocab;
            float max = row[0];
            for (int v = 1; v < vocab; v++)
                max = row[v] > max ? row[v] : max;
            double sum = 0;
            for (int v = 0; v < vocab; v++)
                sum += exp((double)row[v] - max);
            double loss = log(sum) + max - row[chunk[j + 1]];   /* -log p(next token) */
            nll += loss;
            nll2 += loss * loss;
            scored++;
        }
        /* Bytes spelled by the scored tokens: decode with and without them after their predecessor
         * (decoding drops the leading space of the first piece, so it must not be a scored one). */
        const int *span = ids + (size_t)k * n_ctx + first;
        long with = attend_detokenize(tok, span, n_ctx - first, dec, dec_cap);
        long without = attend_detokenize(tok, span, 1, dec, dec_cap);
        if (with < 0 || without < 0)
            die("cannot decode the tokens of chunk %d", k);
        bytes += (double)(with - without);
        double mean = nll / scored;
        fprintf(stderr, "\rperplexity: chunk %d/%d, running PPL %.4f, %.1f s", k + 1, n_chunks, exp(mean),
                now_seconds() - t0);
    }
    fputc('\n', stderr);
    double mean = nll / scored, var = nll2 / scored - mean * mean;
    double err_mean = scored > 1 && var > 0 ? sqrt(var / (scored - 1)) : 0;
    printf("perplexity: %s: %d chunks of %d tokens, %ld tokens scored, %.0f bytes\n", path, n_chunks, n_ctx,
           scored, bytes);
    printf("PPL = %.4f +/- %.4f\n", exp(mean), exp(mean) * err_mean);
    printf("bits per byte = %.4f\n", nll / log(2.0) / bytes);
    free(dec);
    free(chunk);
    free(logits);
    free(ids);
    free(text);
}

int main(int argc, char **argv)
{
    options o = parse_args(argc, argv);
    char err[512];
    if (o.bench) {
        attend_context_params context = o.context;
        context.n_ctx = o.ctx_size;
        context.n_threads = o.threads;
        return bench_main(&(bench_options){o.model, o.tokenizer, o.prompt, o.n_predict_text, o.depths,
                                           o.repetitions, context, o.json, o.csv, o.profile});
    }
    char *prompt_text = NULL;   /* -f: the whole file is the prompt (up to its first NUL byte) */
    if (o.prompt_file) {
        size_t size;
        o.prompt = prompt_text = read_file(o.prompt_file, &size);
    }
    attend_model *model = attend_model_load(o.model, o.tokenizer, err, sizeof err);
    if (!model)
        die("%s", err);
    const attend_config *c = attend_model_config(model);
    const attend_tokenizer *tok = attend_model_tokenizer(model);
    if (!tok)
        die("'%s' carries no vocabulary: pass a tokenizer with -z tokenizer.bin or -z tokenizer.model", o.model);

    if (o.tokenize) {
        int n;
        int *ids = encode(tok, o.prompt, strlen(o.prompt), 1, "the prompt", &n);
        for (int i = 0; i < n; i++)
            printf(i ? " %d" : "%d", ids[i]);
        printf("\n");
        free(ids);
        free(prompt_text);
        attend_model_free(model);
        return 0;
    }
    if (o.perplexity && !o.ctx_size)
        o.ctx_size = c->max_seq_len < 512 ? c->max_seq_len : 512;
    o.context.n_ctx = o.ctx_size;
    o.context.n_threads = o.threads;
    /* A model trained with a sliding window gets it by default, when it is shorter than the context. */
    const int n_ctx = o.ctx_size > 0 ? o.ctx_size : c->max_seq_len;
    if (!o.window_given && c->sliding_window > 0 && c->sliding_window < n_ctx)
        o.context.window = c->sliding_window;
    attend_context *ctx = attend_context_new(model, &o.context, err, sizeof err);
    if (!ctx)
        die("%s", err);
    if (o.verbose)
        print_summary(model, ctx);
    if (o.verbose && o.context.window)
        fprintf(stderr, "attention: sliding window of %d, %d sinks (a KV ring of %d slots)\n", o.context.window,
                o.context.sinks, o.context.window + o.context.sinks);

    if (o.perplexity) {
        perplexity(ctx, tok, o.perplexity, c->vocab_size, o.batch_size, o.context.window);
    } else {
        int n_prompt;
        int *prompt = encode(tok, o.prompt, strlen(o.prompt), 1, "the prompt", &n_prompt);
        if (n_prompt > attend_context_size(ctx))
            die("the prompt is %d tokens but the context holds %d (see -c)", n_prompt, attend_context_size(ctx));
        if (o.attn_map || o.attn_map_text || o.attn_dump)
            attention_maps(ctx, model, &o, prompt, n_prompt);
        else if (o.dump_logits)
            dump_logits(ctx, prompt, n_prompt, c->vocab_size, o.dump_logits, o.batch_size);
        else
            generate(ctx, tok, &o, prompt, n_prompt, c->vocab_size);
        free(prompt);
    }
    attend_context_free(ctx);
    attend_model_free(model);
    free(prompt_text);
    return 0;
}
