/* forward.c — the transformer: a context (KV cache + buffers) and the forward pass.
 *
 * One call runs a batch of consecutive tokens through every layer. A batch of one is a decode
 * step; a longer batch is prefill, where each weight row is read once for several tokens. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attention_weights.h"
#include "kv_cache.h"
#include "model.h"
#include "ops/attention.h"
#include "ops/elementwise.h"
#include "ops/matmul.h"
#include "ops/ops.h"
#include "profile.h"
#include "rope.h"
#include "tensor.h"

/* Tokens per forward step: longer inputs are processed in chunks of this size. Activation
 * buffers are sized for it once, at context creation. */
enum { MAX_BATCH = 512 };
/* RoPE pairs of a head that the sinks' re-rotation holds on the stack (rope_dim / 2 <= this). */
enum { MAX_ROPE_PAIRS = 512 };

struct attend_context {
    const attend_model *model;
    int n_ctx;
    int window, sinks;       /* a sliding window over a ring cache, or 0 (attend_context_params) */
    threadpool *pool;
    ops_context ops;         /* the kernel set chosen for this CPU, scratch memory per worker */
    kv_cache cache;
    int n_filled;            /* positions 0 .. n_filled-1 of the cache hold keys and values */

    /* Activations for up to MAX_BATCH tokens, one row per token. */
    float *x;        /* (batch, dim)        the residual stream */
    float *xn;       /* (batch, dim)        x after RMSNorm */
    float *query;    /* (batch, n_heads * head_dim) */
    float *key;      /* (batch, n_kv_heads * head_dim) */
    float *value;    /* (batch, n_kv_heads * head_dim) */
    float *attn;     /* (batch, n_heads * head_dim)  attention output, before Wo */
    float *proj;     /* (batch, dim)        a projection added back into x */
    float *gate;     /* (batch, hidden_dim) */
    float *up;       /* (batch, hidden_dim) */
    float *rope_cos, *rope_sin;   /* (batch, rope_dim / 2): the RoPE angles of each position */

    int (*should_abort)(void *user);   /* asked between layers; non-zero stops attend_forward */
    void *abort_user;
    attention_observer observer;       /* optional: sees every layer's attention weights */
    profile prof;                      /* per-op timers, off unless attend_context_set_profiling */
};

static int online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

attend_context_params attend_context_default_params(void)
{
    return (attend_context_params){.n_ctx = 0, .n_threads = 0, .kernels = NULL, .kv_type = ATTEND_KV_F32,
                                   .exact = 0};
}

/* The kernel set the caller asked for, if this CPU runs it; else an error naming the ones it does. */
static const kernel_set *choose_kernels(const char *name, char *err, size_t errlen)
{
    if (!name || strcmp(name, "auto") == 0)
        return kernel_set_best();
    const kernel_set *k = kernel_set_named(name), *supported[8];
    if (k && kernel_set_supported(k))
        return k;
    char list[128] = "";
    int n = kernel_sets_supported(supported, 8);
    for (int i = 0; i < n; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", supported[i]->name);
    set_error(err, errlen, "kernel set '%s' is %s (this CPU runs: auto, %s)", name,
              k ? "not supported by this CPU" : "unknown", list);
    return NULL;
}

static size_t max_size(size_t a, size_t b) { return a > b ? a : b; }

attend_context *attend_context_new(const attend_model *m, const attend_context_params *params, char *err,
                                   size_t errlen)
{
    const attend_config *c = &m->config;
    attend_context_params p = params ? *params : attend_context_default_params();
    int n_ctx = p.n_ctx > 0 ? p.n_ctx : c->max_seq_len;
    if (n_ctx > c->max_seq_len) {
        set_error(err, errlen, "context size %d exceeds the model's %d positions", n_ctx,
                  c->max_seq_len);
        return NULL;
    }
    int n_threads = p.n_threads > 0 ? p.n_threads : online_cpus();
    if (n_threads > 1024) {
        set_error(err, errlen, "%d threads is more than the 1024 supported", n_threads);
        return NULL;
    }
    if (p.kv_type != ATTEND_KV_F32 && p.kv_type != ATTEND_KV_F16 && p.kv_type != ATTEND_KV_Q8_0) {
        set_error(err, errlen, "KV cache type %d is not ATTEND_KV_F32, ATTEND_KV_F16 or ATTEND_KV_Q8_0",
                  p.kv_type);
        return NULL;
    }
    _Static_assert((int)ATTEND_KV_F32 == (int)TYPE_F32 && (int)ATTEND_KV_F16 == (int)TYPE_F16 &&
                   (int)ATTEND_KV_Q8_0 == (int)TYPE_Q8_0,
                   "the public KV types are the storage type ids (ggml's)");
    if (p.window < 0 || p.sinks < 0 || (p.sinks > 0 && p.window == 0) ||
        (p.window > 0 && p.sinks > n_ctx - p.window)) {
        set_error(err, errlen, "window %d with %d sinks does not fit: need window >= 1 (or 0 for none), "
                  "sinks >= 0 and sinks + window <= the %d-token context", p.window, p.sinks, n_ctx);
        return NULL;
    }
    if (p.sinks > 0 && c->rope_dim / 2 > MAX_ROPE_PAIRS) {
        set_error(err, errlen, "attention sinks support heads of up to %d rotated dimensions, not %d",
                  2 * MAX_ROPE_PAIRS, c->rope_dim);
        return NULL;
    }
    const kernel_set *kernels = choose_kernels(p.kernels, err, errlen);
    if (!kernels)
        return NULL;
    attend_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        set_error(err, errlen, "out of memory");
        return NULL;
    }
    ctx->model = m;
    ctx->n_ctx = n_ctx;
    ctx->window = p.window;
    ctx->sinks = p.sinks;
    ctx->pool = threadpool_new(n_threads);

    const size_t q_dim = (size_t)c->n_heads * c->head_dim, kv_dim = (size_t)c->n_kv_heads * c->head_dim;
    /* Per-worker scratch serves the GEMM and attention, which never run at once; the quantized
     * activations are as wide as the widest matrix input. */
    const size_t scratch = max_size(matmul_scratch_floats(kernels),
                                    attention_scratch_floats(c->n_heads, c->n_kv_heads, c->head_dim));
    const size_t widest = max_size(max_size((size_t)c->dim, (size_t)c->hidden_dim), q_dim);
    int ops_ok = ctx->pool &&
                 ops_context_init(&ctx->ops, ctx->pool, kernels, p.exact != 0, scratch,
                                  matmul_quantized_bytes(kernels, (int64_t)widest, MAX_BATCH)) == 0;
    /* With a window the cache holds sinks + window slots, however long the sequence grows. */
    int kv_ok = kv_cache_init(&ctx->cache, c->n_layers, p.window ? p.sinks + p.window : n_ctx, c->n_kv_heads,
                              c->head_dim, p.kv_type) == 0;
    if (kv_ok && p.window)
        kv_ok = kv_cache_make_ring(&ctx->cache, p.window, p.sinks) == 0;
    ctx->x = malloc(sizeof(float) * MAX_BATCH * c->dim);
    ctx->xn = malloc(sizeof(float) * MAX_BATCH * c->dim);
    ctx->query = malloc(sizeof(float) * MAX_BATCH * q_dim);
    ctx->key = malloc(sizeof(float) * MAX_BATCH * kv_dim);
    ctx->value = malloc(sizeof(float) * MAX_BATCH * kv_dim);
    ctx->attn = malloc(sizeof(float) * MAX_BATCH * q_dim);
    ctx->proj = malloc(sizeof(float) * MAX_BATCH * c->dim);
    ctx->gate = malloc(sizeof(float) * MAX_BATCH * c->hidden_dim);
    ctx->up = malloc(sizeof(float) * MAX_BATCH * c->hidden_dim);
    ctx->rope_cos = malloc(sizeof(float) * MAX_BATCH * c->rope_dim / 2);
    ctx->rope_sin = malloc(sizeof(float) * MAX_BATCH * c->rope_dim / 2);
    if (!ops_ok || !kv_ok || !ctx->x || !ctx->xn || !ctx->query || !ctx->key || !ctx->value || !ctx->attn ||
        !ctx->proj || !ctx->gate || !ctx->up || !ctx->rope_cos || !ctx->rope_sin) {
        set_error(err, errlen, "out of memory for a %d-token context (%.1f MiB of KV cache)", n_ctx,
                  ctx->cache.bytes / 1048576.0);
        attend_context_free(ctx);
        return NULL;
    }
    return ctx;
}

void attend_context_free(attend_context *ctx)
{
    if (!ctx)
        return;
    ops_context_free(&ctx->ops);
    if (ctx->pool)
        threadpool_free(ctx->pool);
    kv_cache_free(&ctx->cache);
    free(ctx->x);
    free(ctx->xn);
    free(ctx->query);
    free(ctx->key);
    free(ctx->value);
    free(ctx->attn);
    free(ctx->proj);
    free(ctx->gate);
    free(ctx->up);
    free(ctx->rope_cos);
    free(ctx->rope_sin);
    attention_observer_free(&ctx->observer);
    free(ctx);
}

int attend_context_size(const attend_context *ctx) { return ctx->n_ctx; }
int attend_context_threads(const attend_context *ctx) { return threadpool_size(ctx->pool); }
const char *attend_context_kernels(const attend_context *ctx) { return ctx->ops.kernels->name; }

void attend_context_set_abort(attend_context *ctx, int (*should_abort)(void *user), void *user)
{
    ctx->should_abort = should_abort;
    ctx->abort_user = user;
}

int attend_context_set_observer(attend_context *ctx, attend_attention_observer fn, void *user, char *err,
                                size_t errlen)
{
    const attend_config *c = &ctx->model->config;
    const int rows = ctx->n_ctx < MAX_BATCH ? ctx->n_ctx : MAX_BATCH;
    if (attention_observer_set(&ctx->observer, fn, user, rows, c->n_heads, c->head_dim, ctx->n_ctx) != 0)
        return set_error(err, errlen, "out of memory for the attention weights of %d x %d positions",
                         rows, ctx->n_ctx);
    return 0;
}

void attend_context_set_profiling(attend_context *ctx, int on)
{
    profile_switch(&ctx->prof, on);
    threadpool_time_waits(ctx->pool, on ? &ctx->prof.pool_wait_seconds : NULL, &ctx->prof.pool_jobs);
}

int attend_context_profile(const attend_context *ctx, attend_profile *out)
{
    return profile_export(&ctx->prof, out);
}

/* Run the statement `op`, and when profiling is on charge its time and `cost` (bytes and flops
 * from the shapes, see profile.h) to the class `cls`. Off, it costs one branch. */
#define TIMED(cls, cost, ...)                                   \
    do {                                                        \
        const double start_ = profile_begin(&ctx->prof);        \
        __VA_ARGS__;                                            \
        PROFILE_END(&ctx->prof, (cls), start_, (cost));         \
    } while (0)

/* out[m] (n, rows) = w[m] @ in for the matrices w[0 .. n_mats) that read the same input. */
static void project_all(attend_context *ctx, const float *in, int n, int n_mats, const tensor *const *w,
                        float *const *out)
{
    TIMED(profile_matmul_class(w[0]->type), profile_cost_matmul(n, n_mats, w),
          matmul(&ctx->ops, in, n, n_mats, w, out));
}

/* out (n, rows) = W @ in for one matrix. */
static void project(attend_context *ctx, const float *in, int n, const tensor *w, float *out)
{
    project_all(ctx, in, n, 1, &w, &out);
}

static void add(float *x, const float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] += y[i];
}

/* RoPE's cos and sin for one position, with the model's base and linear scaling (rope.h). */
static void position_angles(float *cos_out, float *sin_out, const attend_config *c, int pos)
{
    rope_angles(cos_out, sin_out, c->rope_dim, pos, c->rope_base, c->rope_scale);
}

/* One chunk of at most MAX_BATCH tokens at positions pos .. pos+n-1. Returns -1 when the abort
 * callback stopped it between two layers. */
static int forward_chunk(attend_context *ctx, const int *tokens, int n, int pos)
{
    const attend_model *m = ctx->model;
    const attend_config *c = &m->config;
    const int dim = c->dim, head_dim = c->head_dim;
    const size_t q_dim = (size_t)c->n_heads * head_dim, kv_dim = (size_t)c->n_kv_heads * head_dim;
    const type_traits *embed_type = type_traits_of(m->token_embedding.type);
    const int n_pairs = c->rope_dim / 2;

    /* The rotation angles depend on the position only: compute them once for every layer. */
    TIMED(PROF_ROPE, ((profile_cost){8.0 * n * n_pairs, 0}),
          for (int t = 0; t < n; t++)
              position_angles(ctx->rope_cos + t * n_pairs, ctx->rope_sin + t * n_pairs, c, pos + t));

    /* The residual stream starts as each token's embedding row. */
    TIMED(PROF_EMBED, profile_cost_embed(n, dim, m->token_embedding.row_bytes),
          for (int t = 0; t < n; t++)
              embed_type->to_float((const char *)m->token_embedding.data +
                                   (size_t)tokens[t] * m->token_embedding.row_bytes, ctx->x + (size_t)t * dim, dim));

    for (int l = 0; l < c->n_layers; l++) {
        if (ctx->should_abort && ctx->should_abort(ctx->abort_user))
            return -1;
        const layer_weights *w = &m->layers[l];
        kv_cache_layer *cache = &ctx->cache.layers[l];

        /* Attention block: x += Wo · attention(RoPE(Wq·norm(x)), RoPE(Wk·norm(x)), Wv·norm(x)) */
        TIMED(PROF_NORM, profile_cost_norm(n, dim),
              for (int t = 0; t < n; t++)
                  rmsnorm(ctx->xn + (size_t)t * dim, ctx->x + (size_t)t * dim, w->attn_norm, dim, c->norm_eps));
        const tensor *qkv_w[3] = {&w->wq, &w->wk, &w->wv};
        float *qkv_out[3] = {ctx->query, ctx->key, ctx->value};
        project_all(ctx, ctx->xn, n, 3, qkv_w, qkv_out);

        /* RoPE: rotate queries and keys by their position, so that query·key depends on the
         * distance between the two positions only. Then append these positions' keys and values
         * to the cache. */
        TIMED(PROF_ROPE, profile_cost_rope(n, c->n_heads, c->n_kv_heads, head_dim, c->rope_dim),
              for (int t = 0; t < n; t++) {
                  const float *cos = ctx->rope_cos + t * n_pairs, *sin = ctx->rope_sin + t * n_pairs;
                  rope(ctx->query + t * q_dim, c->n_heads, head_dim, c->rope_dim, cos, sin);
                  rope(ctx->key + t * kv_dim, c->n_kv_heads, head_dim, c->rope_dim, cos, sin);
              });

        /* A chunk that wraps a full ring would overwrite keys its own first queries still see: there,
         * each token's key goes in just before its query attends (overwriting the one key that has
         * left its window). Otherwise all the chunk's keys go in at once. */
        const int one_by_one = ctx->window && pos + n > ctx->sinks + ctx->window;
        for (int t0 = 0, step = one_by_one ? 1 : n; t0 < n; t0 += step) {
            const int p = pos + t0;
            TIMED(PROF_ROPE, ((profile_cost){0, 0}),
                  kv_cache_append(cache, p, step, ctx->key + t0 * kv_dim, ctx->value + t0 * kv_dim);
                  if (kv_sink_shift(cache, p) > 0) {   /* StreamingLLM positions: see kv_cache.h */
                      float cos[MAX_ROPE_PAIRS], sin[MAX_ROPE_PAIRS];
                      position_angles(cos, sin, c, kv_sink_shift(cache, p));
                      kv_cache_place_sinks(cache, cos, sin, c->rope_dim);
                  });
            TIMED(PROF_ATTENTION, profile_cost_attention(step, p, c->n_heads, c->n_kv_heads, head_dim),
                  attention(&ctx->ops, ctx->attn + t0 * q_dim, ctx->query + t0 * q_dim, cache, step, p,
                            c->n_heads));
            if (p + step <= ctx->n_ctx)   /* the observer's memory covers the first n_ctx positions */
                attention_observer_call(&ctx->observer, l, ctx->query + t0 * q_dim, cache, step, p, c->n_heads);
        }
        project(ctx, ctx->attn, n, &w->wo, ctx->proj);
        TIMED(PROF_RESIDUAL, profile_cost_residual(n, dim),
              add(ctx->x, ctx->proj, (size_t)n * dim));   /* residual connection */

        /* Feed-forward block (SwiGLU): x += W_down · (silu(W_gate·norm(x)) * W_up·norm(x)) */
        TIMED(PROF_NORM, profile_cost_norm(n, dim),
              for (int t = 0; t < n; t++)
                  rmsnorm(ctx->xn + (size_t)t * dim, ctx->x + (size_t)t * dim, w->ffn_norm, dim, c->norm_eps));
        const tensor *ffn_w[2] = {&w->w_gate, &w->w_up};
        float *ffn_out[2] = {ctx->gate, ctx->up};
        project_all(ctx, ctx->xn, n, 2, ffn_w, ffn_out);
        TIMED(PROF_SWIGLU, profile_cost_swiglu(n, c->hidden_dim),
              swiglu(ctx->gate, ctx->up, n * c->hidden_dim));
        project(ctx, ctx->gate, n, &w->w_down, ctx->proj);
        TIMED(PROF_RESIDUAL, profile_cost_residual(n, dim),
              add(ctx->x, ctx->proj, (size_t)n * dim));   /* residual connection */
    }
    return 0;
}

/* logits (n, vocab) = W_out · norm(x) for the last n rows of the residual stream. */
static void classify(attend_context *ctx, int first, int n, float *logits)
{
    const attend_model *m = ctx->model;
    const int dim = m->config.dim;
    TIMED(PROF_NORM, profile_cost_norm(n, dim),
          for (int t = first; t < first + n; t++)
              rmsnorm(ctx->xn + (size_t)t * dim, ctx->x + (size_t)t * dim, m->output_norm, dim,
                      m->config.norm_eps));
    project(ctx, ctx->xn + (size_t)first * dim, n, &m->output, logits);
}

int attend_forward(attend_context *ctx, const int *tokens, int n, int pos, float *logits, int all_logits,
                   char *err, size_t errlen)
{
    const attend_config *c = &ctx->model->config;
    if (n <= 0 || pos < 0 || n > (ctx->window ? INT_MAX : ctx->n_ctx) - pos)
        return set_error(err, errlen, "cannot place %d tokens at position %d in a %d-token context",
                         n, pos, ctx->n_ctx);
    if (pos > ctx->n_filled)
        return set_error(err, errlen, "position %d would leave a gap: the cache holds positions 0 .. %d",
                         pos, ctx->n_filled - 1);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= c->vocab_size)
            return set_error(err, errlen, "token id %d is outside the vocabulary [0, %d)", tokens[i],
                             c->vocab_size);
    const double start = profile_begin(&ctx->prof);
    ctx->n_filled = pos;   /* an earlier position rewinds: what followed it is forgotten */
    for (int done = 0; done < n; done += MAX_BATCH) {
        int chunk = n - done < MAX_BATCH ? n - done : MAX_BATCH;
        if (forward_chunk(ctx, tokens + done, chunk, pos + done) != 0) {
            ctx->n_filled = pos;   /* as attend.h promises, whatever chunks were done */
            return set_error(err, errlen, "aborted");
        }
        ctx->n_filled = pos + done + chunk;
        if (logits && all_logits)
            classify(ctx, 0, chunk, logits + (size_t)done * c->vocab_size);
        else if (logits && done + chunk == n)
            classify(ctx, chunk - 1, 1, logits);
    }
    if (ctx->prof.on) {
        ctx->prof.forward_calls++;
        ctx->prof.forward_seconds += profile_now() - start;
    }
    return 0;
}

/* ==== KV cache control: thin wrappers over kv_cache.c, which owns the layout ==== */

int attend_kv_size(const attend_context *ctx) { return ctx->n_filled; }

/* A ring (a sliding window) keeps only the last positions, in slots that are not positions: the
 * calls below, which move positions around, refuse it. */
int attend_kv_truncate(attend_context *ctx, int n_keep)
{
    if (ctx->window || n_keep < 0 || n_keep > ctx->n_filled)
        return -1;
    ctx->n_filled = n_keep;
    return 0;
}

int attend_kv_copy(attend_context *dst, const attend_context *src)
{
    if (dst == src)
        return 0;
    if (dst->window || src->window || dst->model != src->model || !kv_cache_same_layout(&dst->cache, &src->cache) ||
        src->n_filled > dst->n_ctx)
        return -1;
    kv_cache_copy(&dst->cache, &src->cache, src->n_filled);
    dst->n_filled = src->n_filled;
    return 0;
}

int attend_kv_shift(attend_context *ctx, int keep, int n_discard)
{
    const attend_config *c = &ctx->model->config;
    if (ctx->window || keep < 0 || n_discard < 0 || n_discard > ctx->n_filled - keep)
        return -1;
    if (kv_cache_shift(&ctx->cache, ctx->n_filled, keep, n_discard, c->rope_dim, c->rope_base, c->rope_scale) != 0)
        return -1;
    ctx->n_filled -= n_discard;
    return 0;
}

int attend_kv_save(const attend_context *ctx, const char *path, const int *tokens, int n_tokens, char *err,
                   size_t errlen)
{
    if (ctx->window)
        return set_error(err, errlen, "a sliding-window cache (a ring of positions) cannot be saved");
    if (n_tokens != ctx->n_filled || (n_tokens > 0 && !tokens))
        return set_error(err, errlen, "%d tokens given for a cache of %d positions: save one token per "
                         "position", n_tokens, ctx->n_filled);
    return kv_cache_save(&ctx->cache, model_fingerprint(ctx->model), tokens, n_tokens, path, err, errlen);
}

int attend_kv_load(attend_context *ctx, const char *path, int *tokens, int max_tokens, char *err, size_t errlen)
{
    if (ctx->window)
        return set_error(err, errlen, "a sliding-window cache (a ring of positions) cannot be loaded");
    ctx->n_filled = 0;
    int n = kv_cache_load(&ctx->cache, model_fingerprint(ctx->model), path, tokens, max_tokens, err, errlen);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= ctx->model->config.vocab_size)
            return set_error(err, errlen, "'%s' holds token id %d, outside the vocabulary [0, %d)", path,
                             tokens[i], ctx->model->config.vocab_size);
    if (n > 0)
        ctx->n_filled = n;
    return n;
}
