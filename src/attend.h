/* attend.h — the whole public API of the attend inference engine, on one screen.
 *
 *   attend_model   the weights and hyperparameters of one file, mapped read-only (shareable)
 *   attend_context a KV cache, activation buffers and a thread pool for one sequence
 *   attend_sampler turns a row of logits into the next token
 *
 * Every function that can fail returns NULL or -1 and writes a one-line reason into `err`
 * (which may be NULL). Nothing here prints or exits: that is the CLI's job. */
#ifndef ATTEND_H
#define ATTEND_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer.h"   /* tokenizer_encode, tokenizer_stream_*: part of this API */

typedef struct attend_model attend_model;
typedef struct attend_context attend_context;
typedef struct attend_sampler attend_sampler;

/* The hyperparameters of a llama-family decoder. */
typedef struct {
    int dim;            /* residual stream width (embedding_length) */
    int hidden_dim;     /* SwiGLU inner width (feed_forward_length) */
    int n_layers;       /* transformer blocks */
    int n_heads;        /* query heads */
    int n_kv_heads;     /* key/value heads: == n_heads (MHA), divides it (GQA), 1 (MQA) */
    int head_dim;       /* dim / n_heads */
    int rope_dim;       /* leading dimensions of each head that RoPE rotates (usually head_dim) */
    int vocab_size;
    int max_seq_len;    /* context the model was trained for */
    float rope_base;    /* RoPE frequency base (10000 for llama) */
    float norm_eps;     /* RMSNorm epsilon */
    int weight_type;    /* storage type of the largest matrices (a TYPE_* value, see quant.h) */
    int tied_output;    /* 1: the classifier reuses the token embedding */
} attend_config;

/* ---- model ------------------------------------------------------------------------------ */
/* Load a GGUF file or a llama2.c checkpoint (version 0, 1 or 2), chosen by the file's magic.
 * `tokenizer_path` (tokenizer.model or llama2.c tokenizer.bin) may be NULL for GGUF files, which
 * carry their vocabulary. */
attend_model *attend_model_load(const char *path, const char *tokenizer_path, char *err, size_t errlen);
void attend_model_free(attend_model *m);
const attend_config *attend_model_config(const attend_model *m);
tokenizer *attend_model_tokenizer(const attend_model *m);     /* NULL if the file has none */
const char *attend_model_format(const attend_model *m);       /* "GGUF v3", "llama2.c v1", ... */
size_t attend_model_param_count(const attend_model *m);
size_t attend_model_weight_bytes(const attend_model *m);
const char *attend_type_name(int type);   /* "F32", "Q8_0", ... for attend_config.weight_type */
const char *attend_simd(void);            /* the kernels in use: "avx512", "avx2" or "scalar" */

/* ---- context: one sequence ------------------------------------------------------------ */
/* n_ctx <= 0 means the model's max_seq_len; n_threads <= 0 means the online CPUs. */
attend_context *attend_context_new(const attend_model *m, int n_ctx, int n_threads, char *err, size_t errlen);
void attend_context_free(attend_context *c);
int attend_context_size(const attend_context *c);   /* n_ctx */
int attend_context_threads(const attend_context *c);

/* Run the transformer over `n` tokens placed at positions pos .. pos+n-1, appending their keys
 * and values to the cache (which must already hold positions 0 .. pos-1).
 * logits: NULL, or room for the logits of the last token (all_logits == 0) or of all n tokens
 * (all_logits == 1, row-major n x vocab_size). Returns 0, or -1 when pos+n exceeds n_ctx. */
int attend_forward(attend_context *c, const int *tokens, int n, int pos, float *logits, int all_logits,
                   char *err, size_t errlen);

/* ---- profiling: where the forward pass spends its time ---------------------------------- */
/* One class of operations (matmuls over one weight type, attention, RMSNorm, ...) summed over the
 * attend_forward calls since profiling was switched on. bytes and flops are what the shapes imply
 * (each weight read once, a multiply-add counts 2), not hardware counters. */
typedef struct {
    const char *name;   /* "matmul F32", "attention", "rmsnorm", ... */
    long calls;
    double seconds;
    double bytes;       /* bytes read and written */
    double flops;       /* arithmetic operations */
    int int8;           /* 1: flops are int8 operations (compare with an int8 ceiling, not FMA) */
} attend_profile_entry;

enum { ATTEND_PROFILE_MAX_ENTRIES = 16 };

typedef struct {
    int n_entries;      /* the classes that ran at least once */
    attend_profile_entry entries[ATTEND_PROFILE_MAX_ENTRIES];
    long forward_calls;
    double forward_seconds;     /* inside attend_forward: the entries sum to at most this */
    long pool_jobs;
    double pool_wait_seconds;   /* the caller waiting for workers to finish a parallel job: already
                                   part of the entries' seconds, not in addition to them */
} attend_profile;

/* on = 1 clears the counters and starts counting, 0 stops (the counters stay readable). Off by
 * default, and then the forward pass reads no clock. */
void attend_context_set_profiling(attend_context *c, int on);
/* Copy the counters into *out; returns out->n_entries. */
int attend_context_profile(const attend_context *c, attend_profile *out);

/* ---- sampling -------------------------------------------------------------------------- */
typedef struct {
    float temperature;     /* 0 = greedy (argmax) */
    int top_k;             /* 0 = off */
    float top_p;           /* 1 = off */
    float min_p;           /* 0 = off */
    float repeat_penalty;  /* 1 = off; applies to the last repeat_last_n tokens */
    int repeat_last_n;
    uint64_t seed;
} attend_sampler_params;

attend_sampler_params attend_sampler_defaults(void);
attend_sampler *attend_sampler_new(int vocab_size, attend_sampler_params p);
void attend_sampler_free(attend_sampler *s);
/* Pick the next token from `logits` (modified in place); `history` is every token so far. */
int attend_sample(attend_sampler *s, float *logits, const int *history, int n_history);

#endif
