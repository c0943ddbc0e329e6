/* forward.c — the transformer: a context (KV cache + buffers) and the forward pass.
 *
 * One call runs a batch of consecutive tokens through every layer. A batch of one is a decode
 * step; a longer batch is prefill, where each weight row is read once for several tokens. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attention.h"
#include "kernels.h"
#include "model.h"
#include "profile.h"
#include "quant.h"

/* Tokens per forward step: longer inputs are processed in chunks of this size. Activation
 * buffers are sized for it once, at context creation. */
enum { MAX_BATCH = 512 };

struct attend_context {
    const attend_model *model;
    int n_ctx;
    threadpool *pool;

    kv_cache_layer *cache;   /* per layer; key/value point into kv_memory */
    float *kv_memory;

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
    float *attn_scratch;          /* per worker, see attention_scratch_floats */
    profile prof;                 /* per-op timers, off unless attend_context_set_profiling */
};

static int online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

attend_context *attend_context_new(const attend_model *m, int n_ctx, int n_threads, char *err, size_t errlen)
{
    const attend_config *c = &m->config;
    if (n_ctx <= 0)
        n_ctx = c->max_seq_len;
    if (n_ctx > c->max_seq_len) {
        model_set_error(err, errlen, "context size %d exceeds the model's %d positions", n_ctx,
                        c->max_seq_len);
        return NULL;
    }
    if (n_threads <= 0)
        n_threads = online_cpus();
    if (n_threads > 1024) {
        model_set_error(err, errlen, "%d threads is more than the 1024 supported", n_threads);
        return NULL;
    }
    attend_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        model_set_error(err, errlen, "out of memory");
        return NULL;
    }
    ctx->model = m;
    ctx->n_ctx = n_ctx;
    ctx->pool = threadpool_new(n_threads);

    const size_t q_dim = (size_t)c->n_heads * c->head_dim, kv_dim = (size_t)c->n_kv_heads * c->head_dim;
    const size_t kv_floats = (size_t)c->n_layers * n_ctx * kv_dim * 2;
    ctx->kv_memory = calloc(kv_floats, sizeof(float));
    ctx->cache = calloc((size_t)c->n_layers, sizeof *ctx->cache);
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
    if (ctx->pool)
        ctx->attn_scratch = malloc(sizeof(float) * threadpool_size(ctx->pool) *
                                   attention_scratch_floats(c->n_heads, c->n_kv_heads, c->head_dim));
    if (!ctx->pool || !ctx->kv_memory || !ctx->cache || !ctx->x || !ctx->xn || !ctx->query || !ctx->key ||
        !ctx->value || !ctx->attn || !ctx->proj || !ctx->gate || !ctx->up || !ctx->rope_cos ||
        !ctx->rope_sin || !ctx->attn_scratch) {
        model_set_error(err, errlen, "out of memory for a %d-token context (%.1f MiB of KV cache)", n_ctx,
                        kv_floats * 4.0 / (1 << 20));
        attend_context_free(ctx);
        return NULL;
    }
    for (int l = 0; l < c->n_layers; l++) {
        float *layer = ctx->kv_memory + (size_t)l * n_ctx * kv_dim * 2;
        ctx->cache[l] = (kv_cache_layer){layer, layer + (size_t)n_ctx * kv_dim, n_ctx, c->n_kv_heads,
                                         c->head_dim};
    }
    return ctx;
}

void attend_context_free(attend_context *ctx)
{
    if (!ctx)
        return;
    if (ctx->pool)
        threadpool_free(ctx->pool);
    free(ctx->kv_memory);
    free(ctx->cache);
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
    free(ctx->attn_scratch);
    free(ctx);
}

int attend_context_size(const attend_context *ctx) { return ctx->n_ctx; }
int attend_context_threads(const attend_context *ctx) { return threadpool_size(ctx->pool); }

void attend_context_set_profiling(attend_context *ctx, int on)
{
    profile_switch(&ctx->prof, on);
    threadpool_time_waits(ctx->pool, on ? &ctx->prof.pool_wait_seconds : NULL, &ctx->prof.pool_jobs);
}

int attend_context_profile(const attend_context *ctx, attend_profile *out)
{
    return profile_export(&ctx->prof, out);
}

/* out (n, rows) = W @ in for one matrix. */
static void project(attend_context *ctx, const float *in, int n, const tensor *w, float *out)
{
    double tick = profile_begin(&ctx->prof);
    matmul(ctx->pool, in, n, 1, &w, &out);
    PROFILE_END(&ctx->prof, profile_matmul_class(w->type), tick, profile_cost_matmul(n, 1, &w));
}

static void add(float *x, const float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] += y[i];
}

/* One chunk of at most MAX_BATCH tokens at positions pos .. pos+n-1. */
static void forward_chunk(attend_context *ctx, const int *tokens, int n, int pos)
{
    const attend_model *m = ctx->model;
    const attend_config *c = &m->config;
    const int dim = c->dim, head_dim = c->head_dim;
    const size_t q_dim = (size_t)c->n_heads * head_dim, kv_dim = (size_t)c->n_kv_heads * head_dim;
    const type_traits *embed_type = type_traits_of(m->token_embedding.type);
    const int n_pairs = c->rope_dim / 2;
    profile *prof = &ctx->prof;
    double tick;   /* profiling: each operation's start (see profile.h) */

    /* The rotation angles depend on the position only: compute them once for every layer. */
    tick = profile_begin(prof);
    for (int t = 0; t < n; t++)
        rope_angles(ctx->rope_cos + t * n_pairs, ctx->rope_sin + t * n_pairs, c->rope_dim, pos + t,
                    c->rope_base);
    PROFILE_END(prof, PROF_ROPE, tick, ((profile_cost){8.0 * n * n_pairs, 0}));

    /* The residual stream starts as each token's embedding row. */
    tick = profile_begin(prof);
    for (int t = 0; t < n; t++)
        embed_type->to_float((const char *)m->token_embedding.data +
                             (size_t)tokens[t] * m->token_embedding.row_bytes, ctx->x + (size_t)t * dim, dim);
    PROFILE_END(prof, PROF_EMBED, tick, profile_cost_embed(n, dim, m->token_embedding.row_bytes));

    for (int l = 0; l < c->n_layers; l++) {
        const layer_weights *w = &m->layers[l];
        kv_cache_layer *cache = &ctx->cache[l];

        /* Attention block: x += Wo · attention(RoPE(Wq·norm(x)), RoPE(Wk·norm(x)), Wv·norm(x)) */
        tick = profile_begin(prof);
        for (int t = 0; t < n; t++)
            rmsnorm(ctx->xn + (size_t)t * dim, ctx->x + (size_t)t * dim, w->attn_norm, dim, c->norm_eps);
        PROFILE_END(prof, PROF_NORM, tick, profile_cost_norm(n, dim));
        const tensor *qkv_w[3] = {&w->wq, &w->wk, &w->wv};
        float *qkv_out[3] = {ctx->query, ctx->key, ctx->value};
        tick = profile_begin(prof);
        matmul(ctx->pool, ctx->xn, n, 3, qkv_w, qkv_out);
        PROFILE_END(prof, profile_matmul_class(w->wq.type), tick, profile_cost_matmul(n, 3, qkv_w));

        tick = profile_begin(prof);
        for (int t = 0; t < n; t++) {
            /* RoPE: rotate queries and keys by their position, so that query·key depends on the
             * distance between the two positions only. */
            const float *cos = ctx->rope_cos + t * n_pairs, *sin = ctx->rope_sin + t * n_pairs;
            rope(ctx->query + t * q_dim, c->n_heads, head_dim, c->rope_dim, cos, sin);
            rope(ctx->key + t * kv_dim, c->n_kv_heads, head_dim, c->rope_dim, cos, sin);
            /* Append this position's key and value to the cache. */
            for (int g = 0; g < c->n_kv_heads; g++) {
                memcpy(kv_key(cache, g, pos + t), ctx->key + t * kv_dim + (size_t)g * head_dim,
                       sizeof(float) * head_dim);
                memcpy(kv_value(cache, g, pos + t), ctx->value + t * kv_dim + (size_t)g * head_dim,
                       sizeof(float) * head_dim);
            }
        }
        PROFILE_END(prof, PROF_ROPE, tick,
                    profile_cost_rope(n, c->n_heads, c->n_kv_heads, head_dim, c->rope_dim));

        tick = profile_begin(prof);
        attention(ctx->pool, ctx->attn, ctx->query, cache, n, pos, c->n_heads, ctx->attn_scratch);
        PROFILE_END(prof, PROF_ATTENTION, tick,
                    profile_cost_attention(n, pos, c->n_heads, c->n_kv_heads, head_dim));
        project(ctx, ctx->attn, n, &w->wo, ctx->proj);
        tick = profile_begin(prof);
        add(ctx->x, ctx->proj, (size_t)n * dim);   /* residual connection */
        PROFILE_END(prof, PROF_RESIDUAL, tick, profile_cost_residual(n, dim));

        /* Feed-forward block (SwiGLU): x += W_down · (silu(W_gate·norm(x)) * W_up·norm(x)) */
        tick = profile_begin(prof);
        for (int t = 0; t < n; t++)
            rmsnorm(ctx->xn + (size_t)t * dim, ctx->x + (size_t)t * dim, w->ffn_norm, dim, c->norm_eps);
        PROFILE_END(prof, PROF_NORM, tick, profile_cost_norm(n, dim));
        const tensor *ffn_w[2] = {&w->w_gate, &w->w_up};
        float *ffn_out[2] = {ctx->gate, ctx->up};
        tick = profile_begin(prof);
        matmul(ctx->pool, ctx->xn, n, 2, ffn_w, ffn_out);
        PROFILE_END(prof, profile_matmul_class(w->w_gate.type), tick, profile_cost_matmul(n, 2, ffn_w));
        tick = profile_begin(prof);
        swiglu(ctx->gate, ctx->up, n * c->hidden_dim);
        PROFILE_END(prof, PROF_SWIGLU, tick, profile_cost_swiglu(n, c->hidden_dim));
        project(ctx, ctx->gate, n, &w->w_down, ctx->proj);
        tick = profile_begin(prof);
        add(ctx->x, ctx->proj, (size_t)n * dim);   /* residual connection */
        PROFILE_END(prof, PROF_RESIDUAL, tick, profile_cost_residual(n, dim));
    }
}

/* logits (n, vocab) = W_out · norm(x) for the last n rows of the residual stream. */
static void classify(attend_context *ctx, int first, int n, float *logits)
{
    const attend_model *m = ctx->model;
    const int dim = m->config.dim;
    double tick = profile_begin(&ctx->prof);
    for (int t = first; t < first + n; t++)
        rmsnorm(ctx->xn + (size_t)t * dim, ctx->x + (size_t)t * dim, m->output_norm, dim, m->config.norm_eps);
    PROFILE_END(&ctx->prof, PROF_NORM, tick, profile_cost_norm(n, dim));
    project(ctx, ctx->xn + (size_t)first * dim, n, &m->output, logits);
}

int attend_forward(attend_context *ctx, const int *tokens, int n, int pos, float *logits, int all_logits,
                   char *err, size_t errlen)
{
    const attend_config *c = &ctx->model->config;
    if (n <= 0 || pos < 0 || n > ctx->n_ctx - pos)
        return model_set_error(err, errlen, "cannot place %d tokens at position %d in a %d-token context",
                               n, pos, ctx->n_ctx);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= c->vocab_size)
            return model_set_error(err, errlen, "token id %d is outside the vocabulary [0, %d)", tokens[i],
                                   c->vocab_size);
    double start = profile_begin(&ctx->prof);
    for (int done = 0; done < n; done += MAX_BATCH) {
        int chunk = n - done < MAX_BATCH ? n - done : MAX_BATCH;
        forward_chunk(ctx, tokens + done, chunk, pos + done);
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
