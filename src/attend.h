/* attend.h — the whole public API of the attend inference engine.
 *
 *   attend_model      the weights and hyperparameters of one file, mapped read-only
 *   attend_context    a KV cache, activation buffers and a thread pool for one sequence
 *   attend_tokenizer  text <-> token ids (SentencePiece), owned by its model
 *   attend_sampler    turns a row of logits into the next token
 *
 * Link with `pkg-config --cflags --libs attend` (the static library: `pkg-config --static ...`).
 *
 * ==== Contract, for every call below ====
 * Ownership  What attend_*_new / attend_*_load returns is the caller's, freed by the matching
 *            attend_*_free (which accepts NULL). A pointer returned by any other call (the config,
 *            the tokenizer, a name) belongs to the object it came from and lives as long as that
 *            object. Buffers passed in (token ids, logits, text, `err`) stay the caller's; no call
 *            keeps a pointer to them after it returns.
 * Errors     A call that can fail returns NULL or -1 and writes a one-line reason (no newline,
 *            NUL-terminated, truncated to errlen) into `err`, which may be NULL. Nothing here
 *            prints, exits, or reads the environment: that is the program's job.
 * Threads    A model is immutable once loaded: share it across threads and across any number of
 *            contexts. A context is used by one thread at a time (it owns a thread pool of its
 *            own, which runs inside its calls). The tokenizer is immutable after loading and may
 *            be shared; a stream and a sampler, like a context, belong to one thread at a time.
 *            Free a model after every context made from it.
 * ABI        Every public symbol is prefixed attend_ (the library exports nothing else). Structs
 *            the library hands out by pointer (attend_config) only ever grow at the end. */
#ifndef ATTEND_H
#define ATTEND_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define ATTEND_API __attribute__((visibility("default")))
#else
#define ATTEND_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define ATTEND_VERSION_MAJOR 0
#define ATTEND_VERSION_MINOR 2
#define ATTEND_VERSION_PATCH 0
/* The library's version as "MAJOR.MINOR.PATCH": the one running, which may be newer than the
 * header a program was compiled with (same MAJOR: compatible). */
ATTEND_API const char *attend_version(void);

typedef struct attend_model attend_model;
typedef struct attend_context attend_context;
typedef struct attend_tokenizer attend_tokenizer;
typedef struct attend_stream attend_stream;
typedef struct attend_sampler attend_sampler;

/* The hyperparameters of a llama-family decoder, read through attend_model_config(). The model
 * owns it; it is a struct rather than a dozen getters because it is read-only and handed out by
 * pointer, so later versions may append fields (never reorder or remove them) without breaking a
 * program compiled against this header. Do not allocate or embed one expecting the library to
 * fill it. */
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
    int weight_type;    /* storage type of the largest matrices: see attend_type_name() */
    int tied_output;    /* 1: the classifier reuses the token embedding */
    float rope_scale;   /* linear RoPE scaling (llama.rope.scaling.type "linear"): positions are
                           divided by this factor in the rotation angles; 1 = none */
    int sliding_window; /* 0, or the window the model was trained with (llama.attention.sliding_window) */
} attend_config;

/* ==== Model ================================================================================= */
typedef struct {
    const char *tokenizer_path;  /* NULL: the file's own vocabulary (GGUF); else tokenizer.model or
                                    llama2.c tokenizer.bin, which replaces it (llama2.c files need one) */
    int preload;                 /* 1 (default): read the whole file into memory at load, so the first
                                    prompt does not pay for page faults; 0: pages come in on first use */
} attend_model_params;

ATTEND_API attend_model_params attend_model_default_params(void);
/* Load a GGUF file or a llama2.c checkpoint (version 0, 1 or 2), chosen by the file's contents.
 * params may be NULL (the defaults). Returns NULL + err on failure. */
ATTEND_API attend_model *attend_model_load(const char *path, const attend_model_params *params, char *err,
                                           size_t errlen);
ATTEND_API void attend_model_free(attend_model *m);
ATTEND_API const attend_config *attend_model_config(const attend_model *m);
ATTEND_API const attend_tokenizer *attend_model_tokenizer(const attend_model *m);   /* NULL: none */
ATTEND_API const char *attend_model_format(const attend_model *m);   /* "GGUF v3", "llama2.c v1" */
ATTEND_API size_t attend_model_param_count(const attend_model *m);
ATTEND_API size_t attend_model_weight_bytes(const attend_model *m);
ATTEND_API const char *attend_type_name(int type);   /* "F32", "Q8_0", ... ("unknown" otherwise) */
/* The value of a string key of the file's metadata ("tokenizer.chat_template", "general.name"),
 * NUL-terminated (cut at a NUL byte the value holds); NULL when the key is absent, is not a string,
 * or the format has no metadata (llama2.c). */
ATTEND_API const char *attend_model_meta_string(const attend_model *m, const char *key);

/* ==== Context: one sequence ================================================================= */
/* KV cache types (ggml's type ids). Q8_0: blocks of 32 int8 values and an F16 scale, 34 bytes per
 * 32 values; a head_dim that is not a multiple of 32 is stored padded with zeros to whole blocks. */
enum { ATTEND_KV_F32 = 0, ATTEND_KV_F16 = 1, ATTEND_KV_Q8_0 = 8 };

typedef struct {
    int n_ctx;            /* <= 0: the model's max_seq_len */
    int n_threads;        /* <= 0: the online CPUs */
    const char *kernels;  /* NULL or "auto": the best set this CPU runs; or "scalar", "avx2", "avx512", "amx" */
    int kv_type;          /* ATTEND_KV_F32 (default), ATTEND_KV_F16 or ATTEND_KV_Q8_0 */
    int exact;            /* 1: float activations in every matmul (the reference path);
                             0 (default): int8 activations for quantized weights */
    int window;           /* 0 (default): full causal attention; W > 0: each query sees the last W
                             positions (a sliding window), and the KV cache is a ring of sinks + W
                             slots, so positions may run past n_ctx (see attend_forward) */
    int sinks;            /* with a window: the first S positions stay visible too (attention sinks);
                             sinks + window <= n_ctx */
} attend_context_params;

ATTEND_API attend_context_params attend_context_default_params(void);
/* params may be NULL (the defaults). NULL + err when n_ctx exceeds the model's positions, memory
 * runs out, or the kernel set is unknown or one this CPU cannot run (the error names those it can). */
ATTEND_API attend_context *attend_context_new(const attend_model *m, const attend_context_params *params,
                                              char *err, size_t errlen);
ATTEND_API void attend_context_free(attend_context *c);
ATTEND_API int attend_context_size(const attend_context *c);   /* n_ctx */
ATTEND_API int attend_context_threads(const attend_context *c);
ATTEND_API const char *attend_context_kernels(const attend_context *c);   /* the set in use: "avx2", ... */

/* Run the transformer over `n` tokens placed at positions pos .. pos+n-1, appending their keys
 * and values to the cache (which must already hold positions 0 .. pos-1: to continue a sequence,
 * pass the next position; to start over, pass 0; an earlier pos truncates the cache there, see
 * attend_kv_size below).
 * logits: NULL, or room for the logits of the last token (all_logits == 0) or of all n tokens
 * (all_logits == 1, row-major n x vocab_size). With a window, positions are unbounded: the ring
 * forgets what left the window, and n_ctx only bounds the window and what an observer sees.
 * Returns 0, or -1 + err when pos+n exceeds n_ctx (no window), pos exceeds attend_kv_size (a gap),
 * a token is outside the vocabulary, or the abort callback asked to stop ("aborted"; the cache
 * then holds positions 0 .. pos-1 only). */
ATTEND_API int attend_forward(attend_context *c, const int *tokens, int n, int pos, float *logits,
                              int all_logits, char *err, size_t errlen);

/* Ask attend_forward to stop early: `should_abort(user)` is called between layers, on the thread
 * that called attend_forward; a non-zero return aborts the call. NULL removes the callback. */
ATTEND_API void attend_context_set_abort(attend_context *c, int (*should_abort)(void *user), void *user);

/* ---- observing attention (maps, teaching; off by default and free when off) ---------------- */
/* Called by attend_forward once per layer and chunk of tokens (prompts are run in chunks of up to
 * 512), after that layer's keys and values are in the cache. `weights` holds, for the n_tokens
 * queries at positions pos0 .. pos0+n_tokens-1, every query head h and key position j < n_keys
 * (n_keys = pos0 + n_tokens), at weights[(t * n_heads + h) * n_keys + j]:
 *     softmax_j(q[t][h] . k[h / n_rep][j] / sqrt(head_dim))  for j <= pos0 + t    (n_rep = n_heads / n_kv_heads)
 *     0                                                      for j >  pos0 + t    (masked: the future)
 * Each row sums to 1. The weights are recomputed in float64 from the queries and the cache (the
 * fast kernel never stores them) and stay valid until the callback returns. */
typedef void (*attend_attention_observer)(void *user, int layer, int n_tokens, int pos0, int n_heads,
                                          int n_keys, const float *weights);
/* With a window, keys that left it are masked (weight 0) like future ones, and only chunks within
 * the first n_ctx positions are observed. Set the observer (fn NULL: remove it). Its memory, min(n_ctx, 512) x n_heads x n_ctx floats, is
 * allocated here, not per token. Returns 0, or -1 when that memory cannot be had. */
ATTEND_API int attend_context_set_observer(attend_context *c, attend_attention_observer fn, void *user,
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
ATTEND_API void attend_context_set_profiling(attend_context *c, int on);
/* Copy the counters into *out; returns out->n_entries. */
ATTEND_API int attend_context_profile(const attend_context *c, attend_profile *out);

/* ---- KV cache control: rewind, copy, shift, save and restore a context's cache ------------ */
/* A context's cache holds the keys and values of positions 0 .. attend_kv_size() - 1. attend_forward
 * at pos needs pos <= attend_kv_size(): pos == size appends; pos < size first truncates the cache
 * to pos (so pos = 0 starts over), then appends; pos > size is an error (a gap). These calls belong
 * to the context and follow its contract: one thread at a time, nothing kept after they return.
 * A context with a sliding window keeps a ring of its last positions, not positions 0 .. size-1:
 * truncate, copy, shift, save and load refuse it (-1, with err where there is one). */
ATTEND_API int attend_kv_size(const attend_context *c);
/* Forget every position from n_keep on: the cache holds 0 .. n_keep-1. -1 when n_keep < 0 or
 * n_keep > attend_kv_size (nothing changes then). */
ATTEND_API int attend_kv_truncate(attend_context *c, int n_keep);
/* Make dst's cache a copy of src's filled positions (dst's own are dropped). Both contexts must
 * come from the same model and have the same KV type, with dst's n_ctx >= attend_kv_size(src);
 * else -1 and dst is unchanged. src must not be in use by another thread during the call. */
ATTEND_API int attend_kv_copy(attend_context *dst, const attend_context *src);
/* Context shift (for generation that fills the context): keep positions 0 .. keep-1, drop the
 * n_discard positions after them, and move the rest down by n_discard; their keys are rotated by
 * RoPE to their new positions (exactly, to float rounding: in a one-layer model the cache then
 * equals one computed afresh over the kept tokens). In deeper layers the moved keys and values
 * still carry what the dropped tokens contributed: llama.cpp's approximation, which keeps a long
 * generation going without recomputing. attend_kv_size shrinks by n_discard. -1 (nothing changes) when
 * keep < 0, n_discard < 0, keep + n_discard > attend_kv_size, or memory runs out. */
ATTEND_API int attend_kv_shift(attend_context *c, int keep, int n_discard);
/* Save the filled positions and the tokens that produced them (n_tokens must equal attend_kv_size;
 * one token per position) to `path`, with the model's fingerprint and the cache layout, and a
 * checksum. The file is written beside `path` and renamed over it. 0, or -1 + err. */
ATTEND_API int attend_kv_save(const attend_context *c, const char *path, const int *tokens, int n_tokens,
                              char *err, size_t errlen);
/* Restore a file of attend_kv_save into this context: its tokens go to tokens[0 .. n) and its
 * positions into the cache. Returns n (>= 0), or -1 + err when the file is missing, not a KV file,
 * from another model (its fingerprint: the config and a few weights' bytes), of another layout or
 * KV type, truncated or too long, fails its checksum, or holds more than max_tokens or n_ctx
 * positions. The file is never trusted: each length is checked against its size first. On
 * failure the cache is left empty (attend_kv_size 0). */
ATTEND_API int attend_kv_load(attend_context *c, const char *path, int *tokens, int max_tokens, char *err,
                              size_t errlen);

/* ==== Tokenizer ============================================================================= */
/* Token ids of SentencePiece's own encoding (the vocabulary of the model's file, or -z's). */
ATTEND_API int attend_tokenizer_vocab_size(const attend_tokenizer *t);
ATTEND_API int attend_tokenizer_bos(const attend_tokenizer *t);   /* -1 if the vocabulary has none */
ATTEND_API int attend_tokenizer_eos(const attend_tokenizer *t);   /* -1 if the vocabulary has none */

/* Encode `len` bytes of text; BOS first when add_bos (and the vocabulary has one). Writes at most
 * max_ids ids and returns the total count, which may exceed max_ids (call again with that much
 * room; ids may be NULL when max_ids is 0), or -1 + err. */
ATTEND_API int attend_tokenize(const attend_tokenizer *t, const char *text, size_t len, int add_bos,
                               int *ids, int max_ids, char *err, size_t errlen);

/* attend_tokenize with special tokens parsed: a control, user-defined or unknown piece written in
 * the text ("<s>", "</s>", "<|im_start|>", "<unk>") becomes its id (the longest such piece at each
 * position) instead of being spelled out in pieces; the text between them is encoded as
 * attend_tokenize does, each stretch with its own leading space (the dummy prefix), as llama.cpp
 * does. For text a program wrote (a chat template's output), never for text a user typed. BOS is
 * added when add_bos, even if the text starts with "<s>" (check ids[0] to avoid two). */
ATTEND_API int attend_tokenize_special(const attend_tokenizer *t, const char *text, size_t len, int add_bos,
                                       int *ids, int max_ids, char *err, size_t errlen);

/* The text of one token on its own: '▁' as a space, a byte piece <0xNN> as its byte, control
 * tokens as nothing. Returns its length in bytes, copied into buf only when it fits (length <=
 * buflen; not NUL-terminated); -1 for an id outside the vocabulary. */
ATTEND_API int attend_token_to_piece(const attend_tokenizer *t, int id, char *buf, size_t buflen);

/* The text of a whole id sequence, as SentencePiece decodes it (the first piece's leading space
 * dropped). Returns its byte length, which may exceed cap; out receives at most cap - 1 bytes and a
 * NUL when cap > 0. -1 for an id out of range. */
ATTEND_API long attend_detokenize(const attend_tokenizer *t, const int *ids, int n, char *out, size_t cap);

/* Streaming detokenization for generation: feed ids one at a time, write out what comes back.
 * Text only ever comes out in whole UTF-8 characters (the bytes of byte-fallback pieces are held
 * until their character is complete), and everything that comes out, up to the last flush,
 * equals attend_detokenize of the whole sequence.
 * attend_stream_next copies the text now complete into buf (at most buflen bytes, never part of a
 * character; not NUL-terminated) and returns how many bytes it wrote, or -1 for an id outside the
 * vocabulary. Text that does not fit stays in the stream and comes out first on the next call:
 * nothing is lost with any buflen >= 4, and with buflen >= 64 a typical piece never waits.
 * attend_stream_flush ends the sequence: call it until it returns 0. A new sequence takes a new
 * stream (or a flushed one). */
ATTEND_API attend_stream *attend_stream_new(const attend_tokenizer *t);   /* NULL: out of memory */
ATTEND_API int attend_stream_next(attend_stream *s, int id, char *buf, size_t buflen);
ATTEND_API int attend_stream_flush(attend_stream *s, char *buf, size_t buflen);
ATTEND_API void attend_stream_free(attend_stream *s);

/* ==== Sampling ============================================================================== */
typedef struct {
    float temperature;     /* 0 = greedy (argmax) */
    int top_k;             /* 0 = off */
    float top_p;           /* 1 = off */
    float min_p;           /* 0 = off */
    float repeat_penalty;  /* 1 = off; applies to the last repeat_last_n tokens */
    int repeat_last_n;
    uint64_t seed;
} attend_sampler_params;

ATTEND_API attend_sampler_params attend_sampler_default_params(void);
/* params may be NULL (the defaults); they are copied. NULL when out of memory. */
ATTEND_API attend_sampler *attend_sampler_new(int vocab_size, const attend_sampler_params *params);
ATTEND_API void attend_sampler_free(attend_sampler *s);
/* Pick the next token from `logits` (modified in place); `history` is every token so far. */
ATTEND_API int attend_sample(attend_sampler *s, float *logits, const int *history, int n_history);

#ifdef __cplusplus
}
#endif
#endif
