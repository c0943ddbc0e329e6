/* run.c — the command line: load a model, then generate text, tokenize, dump logits or measure
 * perplexity. Every failure is one line on stderr and exit status 1. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attend.h"
#include "cli/attn_map.h"
#include "cli/bench.h"
#include "cli/chat.h"
#include "cli/escapes.h"
#include "cli/stop.h"
#include "cli/util.h"
#include "cli/prompt_cache.h"
#include "cli/streaming_ppl.h"

static void usage(FILE *f)
{
    fputs("usage: ./run MODEL [options]\n"
          "  MODEL, -m, --model MODEL a GGUF file or a llama2.c checkpoint (version 0, 1 or 2)\n"
          "  -p, --prompt TEXT        text to continue (default: empty, start from BOS)\n"
          "  -f, --file FILE          read the prompt from FILE instead (at most 64 bytes per context token)\n"
          "  -e, --escape             turn \\n \\t \\\\ \\\" \\' in the prompt into the characters\n"
          "      --special            parse special tokens written in the prompt (<s>, </s>, <|im_end|>, ...)\n"
          "      --no-display-prompt  print only the generated text, not the prompt before it\n"
          "  -n, --n-predict N        tokens to generate (default 256; stops early at EOS or a full context)\n"
          "  -t, --threads N          worker threads (default: online CPUs)\n"
          "  -c, --ctx-size N         context length in tokens (default: the model's)\n"
          "      --temp T             temperature; 0 = greedy (default 0.8)\n"
          "      --top-k K            keep the K most likely tokens; 0 = off (default 40)\n"
          "      --top-p P            nucleus sampling; 1 = off (default 0.95)\n"
          "      --min-p P            drop tokens below P x the top probability; 0 = off (default 0.05)\n"
          "      --repeat-penalty R   penalise the last --repeat-last-n tokens; 1 = off (default 1.0)\n"
          "      --repeat-last-n N    (default 64)\n"
          "  -s, --seed S             random seed (default: from the clock and the process; -v prints it)\n"
          "  -z, --tokenizer FILE     tokenizer.model or llama2.c tokenizer.bin (needed for llama2.c files)\n"
          "  -v, --verbose            print a model summary to stderr\n"
          "      --kernels NAME       kernel set: auto (default), scalar, avx2, avx512, amx (or env ATTEND_SIMD)\n"
          "      --exact              float activations in every matmul (the reference path; slower for Q8_0/Q4_0)\n"
          "      --kv-type TYPE       KV cache type: f32 (default), f16 or q8_0\n"
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
          "      --chat, -cnv         chat: one user turn per line of stdin (or the one of -p), formatted with the\n"
          "                           model's chat template; -n tokens per answer at most\n"
          "      --chat-template NAME llama2, mistral, zephyr, chatml or phi3 (default: the model's)\n"
          "      --system TEXT        --chat: the system message\n"
          "      --stop, --reverse-prompt STRING  end generation (a --chat answer) where the text contains\n"
          "                           STRING, which is not printed (repeatable)\n"
          "      --prompt-cache FILE  reuse the KV cache FILE holds for the longest common prefix of its prompt and\n"
          "                           this one (refused if from another model or damaged), then save this prompt's\n"
          "      --context-shift      when generation fills the context, drop the oldest half of the tokens after\n"
          "                           --keep and go on (the kept keys re-rotated to their new positions)\n"
          "      --keep N             prompt tokens (after BOS) a context shift keeps; -1 = the whole prompt (default 0)\n"
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
    int escape, special, no_display_prompt, chat_mode;
    chat_options chat;   /* --chat's own settings (src/cli/chat.c) */
    const char *n_predict_text, *depths, *repetitions, *json, *csv;   /* --bench reads lists */
    int bench, profile, ignore_eos, window_given;
    const char *prompt_cache;      /* --prompt-cache FILE */
    int context_shift, keep, keep_given;
    attend_sampler_params sampling;
    attend_context_params context;
} options;

static options parse_args(int argc, char **argv)
{
    options o = {.prompt = "", .n_predict = 256, .sampling = attend_sampler_default_params(),
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
        } else if (IS("-m", "--model")) {
            const char *v = VALUE();
            if (o.model)
                die("unexpected model '%s': the model is already '%s'", v, o.model);
            o.model = v;
        } else if (IS("-p", "--prompt")) o.prompt = VALUE();
        else if (IS("-e", "--escape")) o.escape = 1;
        else if (IS(NULL, "--special")) o.special = 1;
        else if (IS(NULL, "--no-display-prompt")) o.no_display_prompt = 1;
        else if (IS("-cnv", "--chat")) o.chat_mode = 1;
        else if (IS(NULL, "--chat-template")) o.chat.template_name = VALUE();
        else if (IS(NULL, "--system")) o.chat.system = VALUE();
        else if (IS(NULL, "--stop") || IS(NULL, "--reverse-prompt")) {
            if (o.chat.n_stops == CHAT_MAX_STOPS)
                die("at most %d stop strings", CHAT_MAX_STOPS);
            o.chat.stops[o.chat.n_stops++] = VALUE();
        }
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
            if (strcmp(v, "f32") && strcmp(v, "f16") && strcmp(v, "q8_0"))
                die("--kv-type expects f32, f16 or q8_0, got '%s'", v);
            o.context.kv_type = !strcmp(v, "f16") ? ATTEND_KV_F16 : !strcmp(v, "q8_0") ? ATTEND_KV_Q8_0 : ATTEND_KV_F32;
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
        else if (IS(NULL, "--prompt-cache")) o.prompt_cache = VALUE();
        else if (IS(NULL, "--context-shift")) o.context_shift = 1;
        else if (IS(NULL, "--keep")) {
            o.keep = (int)parse_int(a, VALUE(), -1, INT_MAX);
            o.keep_given = 1;
        }
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
    if (!o.chat_mode && (o.chat.template_name || o.chat.system))
        die("--chat-template and --system belong to --chat");
    if (o.bench && (o.prompt_file || o.tokenize || o.dump_logits || o.perplexity))
        die("--bench measures speed alone: it does not take -f, --tokenize, --dump-logits or --perplexity");
    /* One mode per run: each reads the prompt (or a file) and exits in its own way. */
    const char *modes[] = {o.tokenize ? "--tokenize" : NULL, o.dump_logits ? "--dump-logits" : NULL,
                           o.perplexity ? "--perplexity" : NULL, o.chat_mode ? "--chat" : NULL,
                           o.bench ? "--bench" : NULL,
                           o.attn_map || o.attn_map_text || o.attn_dump ? "the attention maps" : NULL};
    const char *mode = NULL;
    for (size_t k = 0; k < sizeof modes / sizeof modes[0]; k++) {
        if (modes[k] && mode)
            die("%s and %s are different modes: choose one", mode, modes[k]);
        mode = modes[k] ? modes[k] : mode;
    }
    if (!o.bench && (o.depths || o.repetitions || o.json || o.csv))
        die("-d, -r, --json and --csv belong to --bench");
    if ((o.prompt_cache || o.context_shift) &&
        (o.bench || o.tokenize || o.dump_logits || o.perplexity || o.attn_map || o.attn_map_text || o.attn_dump))
        die("--prompt-cache and --context-shift apply to generation, not to --bench, --tokenize, --dump-logits, "
            "--perplexity or the attention maps");
    if (o.keep_given && !o.context_shift)
        die("--keep is what a context shift keeps: it needs --context-shift");
    if (!o.bench && o.n_predict_text)
        o.n_predict = (int)parse_int("-n", o.n_predict_text, 0, INT_MAX);
    if (!o.seed_given) {
        /* Runs started in the same second (a script's loop) must still differ: the nanoseconds
         * and the process id go in too, mixed by splitmix64's finaliser. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t z = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec ^ (uint64_t)getpid() << 40;
        z = (z ^ z >> 30) * 0xbf58476d1ce4e5b9u;
        z = (z ^ z >> 27) * 0x94d049bb133111ebu;
        o.sampling.seed = (z ^ z >> 31) >> 1;   /* within -s's range, so it can be given back */
    }
    return o;
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

/* Print what one more token completes: whole UTF-8 characters only (the stream holds the rest).
 * A token not shown (--no-display-prompt) still goes through the stream, which decides from it
 * whether the next token's leading space is the dummy prefix. Generated text passes through the
 * --stop filter (`stops`, NULL for the prompt), which holds back what may begin a stop string;
 * returns 1 when one has completed. */
static int write_token(attend_stream *stream, int id, int show, stop_filter *stops)
{
    char text[256];
    const char *out = text;
    int len = attend_stream_next(stream, id, text, sizeof text);
    if (len < 0)
        die("token id %d is outside the vocabulary", id);
    int hit = stops ? stop_put(stops, text, (size_t)len) : 0;
    if (hit < 0)
        die("out of memory");
    if (stops)
        len = (int)stop_take(stops, &out, hit);
    if (show)
        fwrite(out, 1, (size_t)len, stdout);
    return hit;
}

static void generate(attend_context *ctx, const attend_tokenizer *tok, const options *o, int *prompt, int n_prompt,
                     int vocab)
{
    const int n_ctx = attend_context_size(ctx);
    int *history = malloc(sizeof(int) * (size_t)n_ctx);
    float *logits = malloc(sizeof(float) * (size_t)vocab);
    attend_sampler *sampler = attend_sampler_new(vocab, &o->sampling);
    attend_stream *stream = attend_stream_new(tok);
    char err[256];
    if (!history || !logits || !sampler || !stream)
        die("out of memory");
    memcpy(history, prompt, sizeof(int) * (size_t)n_prompt);

    if (o->profile)
        attend_context_set_profiling(ctx, 1);
    /* --prompt-cache: the positions a saved prompt shares with this one are loaded, not run. */
    int reused = 0;
    double load_s = 0;
    if (o->prompt_cache &&
        (reused = prompt_cache_restore(ctx, o->prompt_cache, prompt, n_prompt, &load_s, err, sizeof err)) < 0)
        die("%s", err);
    double t0 = now_seconds();
    if (attend_forward(ctx, prompt + reused, n_prompt - reused, reused, logits, 0, err, sizeof err) != 0)
        die("%s", err);
    double t1 = now_seconds();
    if (o->prompt_cache) {
        if (prompt_cache_save(ctx, o->prompt_cache, prompt, n_prompt, err, sizeof err) != 0)
            die("%s", err);
        if (load_s < 0)
            fprintf(stderr, "prompt cache: '%s' is new: saved the %d prompt tokens' cache\n", o->prompt_cache,
                    n_prompt);
        else
        {
            /* The time saved is the prefill of the reused tokens, less the load. It is estimated at
             * the speed of the tokens run now only when they are a batch (>= 16): a few tokens run
             * at decode speed, which would overstate a batched prefill's cost several times. */
            const int n_run = n_prompt - reused;
            const double run_s = reused * (t1 - t0) / n_run;
            char saved[160] = "";
            if (n_run >= 16)
                snprintf(saved, sizeof saved, ": about %.2f ms saved (running them: ~%.2f ms at this prompt's "
                         "speed)", (run_s - load_s) * 1e3, run_s * 1e3);
            else
                snprintf(saved, sizeof saved, " instead of running them (the first run's \"prompt:\" line "
                         "shows what that costs)");
            fprintf(stderr, "prompt cache: reused %d of %d prompt tokens from '%s', loaded in %.2f ms%s\n", reused,
                    n_prompt, o->prompt_cache, load_s * 1e3, saved);
        }
        t0 = now_seconds() - (t1 - t0);   /* the save is not prompt time */
        t1 = now_seconds();
    }
    double forward_s = 0, sampling_s = 0, t;   /* of the generated tokens, apart from printing them */
    check_logits(logits, 1, vocab, n_prompt - 1);

    /* Echo the prompt as the tokenizer sees it (once it has run, so that a model refused for
     * non-finite logits prints nothing), then continue from there. */
    for (int i = 0; i < n_prompt; i++)
        write_token(stream, prompt[i], !o->no_display_prompt, NULL);
    fflush(stdout);
    int n = n_prompt, n_history = n_prompt, generated = 0, shifts = 0;
    /* A context shift keeps BOS and --keep prompt tokens (-1: all of them), as llama.cpp does. */
    const int bos = n_prompt > 0 && prompt[0] == attend_tokenizer_bos(tok);
    const int keep = o->keep < 0 || o->keep > n_prompt - bos ? n_prompt : o->keep + bos;
    const char *stop = "the -n limit";
    stop_filter stops = {0};
    for (int i = 0; i < o->chat.n_stops; i++)
        stop_add(&stops, o->chat.stops[i]);
    while (generated < o->n_predict) {
        t = now_seconds();
        int next = attend_sample(sampler, logits, history, n_history);
        sampling_s += now_seconds() - t;
        if (next == attend_tokenizer_eos(tok) && !o->ignore_eos) {
            stop = "end of text";
            break;
        }
        int hit = write_token(stream, next, 1, &stops);
        fflush(stdout);
        generated++;
        if (hit) {
            stop = "a stop string (--stop)";
            break;
        }
        if (n == n_ctx && !o->context.window) {
            /* Context shift: drop the oldest half of what follows the kept tokens. */
            const int discard = (n - keep) / 2;
            if (!o->context_shift || discard == 0 || attend_kv_shift(ctx, keep, discard) != 0) {
                stop = "a full context (-c)";
                break;
            }
            memmove(history + keep, history + keep + discard, sizeof(int) * (size_t)(n - keep - discard));
            n -= discard;
            n_history -= discard;
            shifts++;
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
    const char *out;
    for (int len; !stops.hit && (len = attend_stream_flush(stream, rest, sizeof rest)) > 0;)
        stop_put(&stops, rest, (size_t)len);
    size_t n_out = stop_take(&stops, &out, 1);
    fwrite(out, 1, n_out, stdout);
    stop_free(&stops);
    fputc('\n', stdout);
    fflush(stdout);
    double t2 = now_seconds();
    /* A generated token costs a sampling step and (but for the last) a forward pass. */
    fprintf(stderr, "\nprompt: %d tokens in %.2f ms (%.1f tok/s); generated: %d tokens in %.2f ms "
            "(%.1f tok/s); forward %.2f ms + sampling %.2f ms (%.1f tok/s), output %.2f ms; stopped at %s\n",
            n_prompt - reused, (t1 - t0) * 1e3, (n_prompt - reused) / (t1 - t0), generated, (t2 - t1) * 1e3,
            generated > 0 ? generated / (t2 - t1) : 0.0, forward_s * 1e3, sampling_s * 1e3,
            generated > 0 ? generated / (forward_s + sampling_s) : 0.0,
            (t2 - t1 - forward_s - sampling_s) * 1e3, stop);
    if (shifts)
        fprintf(stderr, "context shifts: %d (keeping %d tokens, each dropping half of the rest)\n", shifts, keep);
    if (o->profile)
        profile_report_context(stderr, ctx, sampling_s, generated);
    attend_stream_free(stream);
    attend_sampler_free(sampler);
    free(logits);
    free(history);
}

/* ---- attention maps (src/cli/attn_map.c) --------------------------------------------------------- */

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
        if (!isfinite(map->w[i])) {
            attn_map_free(map);   /* before dying, so that LeakSanitizer runs (make asan) stay quiet */
            die("the model computed a non-finite attention weight (layer %zu, head %zu): its weights hold "
                "NaN or Inf values or overflow", i / ((size_t)n * n) / c->n_heads, i / ((size_t)n * n) % c->n_heads);
        }
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
    const int tty = isatty(STDERR_FILENO);   /* a log gets a line per ~10 %, a terminal one updated line */
    size_t size;
    char *text = read_file(path, &size);
    char what[300];
    snprintf(what, sizeof what, "'%s'", path);
    const int n_ctx = attend_context_size(ctx), first = n_ctx / 2;
    if (n_ctx < 4)   /* the second half of a chunk must hold a prediction to score */
        die("perplexity needs a context of at least 4 tokens, got -c %d", n_ctx);
    int n_tokens;
    int *ids = encode(tok, text, size, 1, 0, what, &n_tokens);
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
            double loss = next_token_nll(logits + (size_t)j * vocab, vocab, chunk[j + 1]);
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
        if (tty || (k + 1) * 10 / n_chunks != k * 10 / n_chunks)
            fprintf(stderr, "%sperplexity: chunk %d/%d, running PPL %.4f, %.1f s%s", tty ? "\r" : "", k + 1, n_chunks,
                    exp(mean), now_seconds() - t0, tty ? "" : "\n");
    }
    if (tty)
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
    size_t prompt_bytes = strlen(o.prompt);
    if (o.prompt_file)
        o.prompt = prompt_text = read_file(o.prompt_file, &prompt_bytes);
    if (o.escape) {
        char *copy = prompt_text ? prompt_text : strdup(o.prompt);
        if (!copy)
            die("out of memory");
        unescape(copy);
        o.prompt = prompt_text = copy;
    }
    attend_model_params mp = attend_model_default_params();
    mp.tokenizer_path = o.tokenizer;
    attend_model *model = attend_model_load(o.model, &mp, err, sizeof err);
    if (!model)
        die("%s", err);
    const attend_config *c = attend_model_config(model);
    const attend_tokenizer *tok = attend_model_tokenizer(model);
    if (!tok)
        die("'%s' carries no vocabulary: pass a tokenizer with -z tokenizer.bin or -z tokenizer.model", o.model);

    if (o.tokenize) {
        int n;
        int *ids = encode(tok, o.prompt, strlen(o.prompt), 1, o.special, "the prompt", &n);
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
    if (o.context.window && (o.prompt_cache || o.context_shift))
        die("--prompt-cache and --context-shift move positions in the KV cache; a sliding window (--window, "
            "or the model's) keeps a ring of them instead: use one or the other");
    attend_context *ctx = attend_context_new(model, &o.context, err, sizeof err);
    if (!ctx)
        die("%s", err);
    if (o.verbose) {
        print_summary(model, ctx);
        fprintf(stderr, "seed: %llu\n", (unsigned long long)o.sampling.seed);
        if (o.context.window)
            fprintf(stderr, "attention: sliding window of %d, %d sinks (a KV ring of %d slots)\n", o.context.window,
                    o.context.sinks, o.context.window + o.context.sinks);
    }
    /* A token spells a few bytes on average: a prompt file of far more bytes than the context has
     * tokens cannot fit, and tokenizing all of it first (a log file given by mistake) is waste. */
    if (o.prompt_file && !o.perplexity && prompt_bytes > 64 * (size_t)attend_context_size(ctx))
        die("the prompt file '%s' is %zu bytes, far more than a context of %d tokens holds (at most 64 bytes "
            "per token): shorten it or raise -c", o.prompt_file, prompt_bytes, attend_context_size(ctx));

    if (o.perplexity) {
        perplexity(ctx, tok, o.perplexity, c->vocab_size, o.batch_size, o.context.window);
    } else if (o.chat_mode) {
        o.chat.prompt = o.prompt_file || *o.prompt ? o.prompt : NULL;
        o.chat.n_predict = o.n_predict;
        o.chat.verbose = o.verbose;
        o.chat.sampling = o.sampling;
        if (chat_run(ctx, model, &o.chat, err, sizeof err) != 0)
            die("%s", err);
    } else {
        int n_prompt;
        int *prompt = encode(tok, o.prompt, strlen(o.prompt), 1, o.special, "the prompt", &n_prompt);
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
