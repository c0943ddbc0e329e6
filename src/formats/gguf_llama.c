/* gguf_llama.c — GGUF files of architecture "llama": the keys and tensor names of llama.cpp's
 * convention mapped onto the model of model.h.
 *
 *   llama.embedding_length, feed_forward_length, block_count, attention.head_count,
 *   attention.head_count_kv, context_length, rope.dimension_count, rope.freq_base,
 *   attention.layer_norm_rms_epsilon, attention.sliding_window (optional)   -> attend_config
 *   token_embd, output_norm, output (absent: tied), blk.N.{attn_norm, attn_q, attn_k, attn_v,
 *   attn_output, ffn_norm, ffn_gate, ffn_up, ffn_down}.weight   -> the weights, used in place
 *   tokenizer.ggml.{tokens, scores, token_type, bos/eos/unknown_token_id}  -> the tokenizer
 * gguf.c has already bounded every offset and length; this file checks shapes and meanings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats.h"
#include "formats/ggml_types.h"
#include "gguf.h"
#include "tensor.h"
#include "tokenizer.h"

/* Read "<arch>.<name>" as a u32 into *out; absent keys keep the default when !required. */
static int gguf_arch_u32(const gguf_file *g, const char *name, int required, int *out, char *err,
                         size_t errlen)
{
    char key[128];
    snprintf(key, sizeof key, "llama.%s", name);
    uint32_t v;
    if (gguf_get_u32(g, key, &v) == 0) {
        if (v > (1u << 30))
            return set_error(err, errlen, "gguf: %s = %u is out of range", key, v);
        *out = (int)v;
        return 0;
    }
    if (required || gguf_find_kv(g, key))
        return set_error(err, errlen, "gguf: %s is %s", key,
                         gguf_find_kv(g, key) ? "not an unsigned integer" : "missing");
    return 0;
}

/* The file's tensors sorted by name, so that each weight is found by binary search. A linear
 * gguf_find_tensor per weight would make loading quadratic: a file padded with a million tensors
 * the model does not use, placed before the ones it does, would take minutes to refuse. */
typedef struct {
    const gguf_tensor **by_name;
    uint64_t n;
    uint64_t data_offset, alignment;   /* the file's, for errors */
} tensor_index;

static int name_cmp(const char *name, size_t len, gguf_str s)
{
    int c = memcmp(name, s.ptr, len < s.len ? len : (size_t)s.len);
    return c ? c : (len > s.len) - (len < s.len);
}

static int tensor_cmp(const void *a, const void *b)
{
    gguf_str x = (*(const gguf_tensor *const *)a)->name;
    return name_cmp(x.ptr, (size_t)x.len, (*(const gguf_tensor *const *)b)->name);
}

static int index_tensors(tensor_index *ix, const gguf_file *g)
{
    ix->n = g->n_tensors;
    ix->data_offset = g->data_offset;
    ix->alignment = g->alignment;
    ix->by_name = malloc(sizeof *ix->by_name * (size_t)(g->n_tensors ? g->n_tensors : 1));
    if (!ix->by_name)
        return -1;
    for (uint64_t i = 0; i < g->n_tensors; i++)
        ix->by_name[i] = &g->tensors[i];
    qsort(ix->by_name, (size_t)ix->n, sizeof *ix->by_name, tensor_cmp);
    return 0;
}

static const gguf_tensor *find_tensor(const tensor_index *ix, const char *name)
{
    size_t len = strlen(name), lo = 0, hi = (size_t)ix->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = name_cmp(name, len, ix->by_name[mid]->name);
        if (c == 0)
            return ix->by_name[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* A weight by name, checked against the shape the config implies. rows/cols as in model.h. */
static int gguf_weight(const tensor_index *g, const char *name, int64_t rows, int64_t cols, tensor *t,
                       char *err, size_t errlen)
{
    const gguf_tensor *gt = find_tensor(g, name);
    if (!gt)
        return set_error(err, errlen, "gguf: tensor '%s' is missing", name);
    uint64_t want_rows = (uint64_t)rows;
    uint64_t have_rows = gt->n_dims >= 2 ? gt->dims[1] : 1;
    int extra = 0;
    for (uint32_t d = 2; d < gt->n_dims; d++)
        extra |= gt->dims[d] != 1;
    if (gt->dims[0] != (uint64_t)cols || have_rows != want_rows || extra)
        return set_error(err, errlen,
                         "gguf: tensor '%s' has shape [%llu, %llu], expected [%lld, %lld]", name,
                         (unsigned long long)gt->dims[0], (unsigned long long)have_rows,
                         (long long)cols, (long long)rows);
    if (tensor_view(t, (int)gt->type, rows, cols, gt->data) != 0) {
        const type_traits *tt = type_traits_of((int)gt->type);
        if (tt)     /* a type we know but no weight takes (Q8_K) */
            return set_error(err, errlen, "gguf: tensor '%s' has type %s, which only activations take",
                             name, tt->name);
        /* Name the type and say what to do: most such files are llama.cpp quantizations. */
        const char *type = ggml_type_name(gt->type);
        char label[48];
        if (type)
            snprintf(label, sizeof label, "%s (ggml type %u)", type, gt->type);
        else
            snprintf(label, sizeof label, "%u (not a ggml type)", gt->type);
        return set_error(err, errlen, "gguf: tensor '%s' has unsupported type %s: attend runs F32, F16, "
                         "BF16, Q8_0, Q4_0 and the k-quants Q2_K..Q6_K; requantize the file with llama.cpp's "
                         "llama-quantize (e.g. to Q8_0 or Q4_K_M) or convert the original weights with "
                         "scripts/convert.py", name, label);
    }
    /* The kernels read a tensor where it is mapped: an F32 value at a multiple of 4 bytes, an
     * fp16 (F16 and BF16 values, every block's scale) at a multiple of 2. The mapping starts on a
     * page, so this fails only in a file whose general.alignment (1 or 2) let an offset fall
     * between. */
    const size_t need = t->type == TYPE_F32 ? 4 : 2;
    if ((uintptr_t)gt->data % need)
        return set_error(err, errlen, "gguf: tensor '%s' (%s) starts at file offset %llu, not a multiple of %zu "
                         "bytes (general.alignment is %llu): its values cannot be read where they lie", name,
                         type_traits_of(t->type)->name, (unsigned long long)(g->data_offset + gt->offset), need,
                         (unsigned long long)g->alignment);
    return 0;
}

/* Norm weights are small vectors; the kernels want them as float32. */
static int gguf_vector(attend_model *m, const tensor_index *g, const char *name, int n, const float **out,
                       char *err, size_t errlen)
{
    tensor t = {0};
    if (gguf_weight(g, name, 1, n, &t, err, errlen) != 0)
        return -1;
    if (t.type == TYPE_F32) {
        *out = t.data;
        return 0;
    }
    float *f = malloc(sizeof(float) * (size_t)n);
    if (!f || model_builder_own(m, f) != 0)
        return set_error(err, errlen, "out of memory");
    type_traits_of(t.type)->to_float(t.data, f, n);
    *out = f;
    return 0;
}

/* Every string-valued key, for attend_model_meta_string (the chat template, the model's name). */
static int gguf_load_meta(attend_model *m, const gguf_file *g, char *err, size_t errlen)
{
    const char **keys = malloc(sizeof *keys * (size_t)(g->n_kv + 1));
    const char **values = malloc(sizeof *values * (size_t)(g->n_kv + 1));
    size_t *keys_len = malloc(sizeof *keys_len * (size_t)(g->n_kv + 1));
    size_t *values_len = malloc(sizeof *values_len * (size_t)(g->n_kv + 1));
    int n = 0, rc = -1;
    if (!keys || !values || !keys_len || !values_len) {
        set_error(err, errlen, "out of memory");
        goto done;
    }
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const gguf_kv *kv = &g->kv[i];
        if (kv->type != GGUF_STRING)
            continue;
        uint64_t len = 0;   /* a string value: a little-endian uint64 length, then the bytes */
        for (int b = 7; b >= 0; b--)
            len = len << 8 | kv->value[b];
        keys[n] = kv->key.ptr;
        keys_len[n] = (size_t)kv->key.len;
        values[n] = (const char *)kv->value + 8;
        values_len[n] = (size_t)len;
        n++;
    }
    rc = model_builder_set_meta(m, n, keys, keys_len, values, values_len, err, errlen);
done:
    free(keys);
    free(values);
    free(keys_len);
    free(values_len);
    return rc;
}

/* Shown on one line in an error: control and non-ASCII bytes as '?', at most 64 of them. */
static void shown_name(char shown[72], gguf_str s)
{
    size_t n = s.len < 64 ? (size_t)s.len : 64;
    for (size_t i = 0; i < n; i++)
        shown[i] = s.ptr[i] >= 0x20 && s.ptr[i] < 0x7f ? s.ptr[i] : '?';
    strcpy(shown + n, s.len > 64 ? "..." : "");
}

static int gguf_load_vocab(attend_model *m, const gguf_file *g, char *err, size_t errlen)
{
    const gguf_kv *tokens = gguf_find_kv(g, "tokenizer.ggml.tokens");
    if (!tokens)
        return 0;   /* no vocabulary: the caller may supply -z */
    /* The pieces and scores mean SentencePiece's BPE only when the file says "llama" (or, in files
     * older than the key, says nothing); GPT-2's byte-level BPE and the others cut text otherwise. */
    gguf_str model;
    if (gguf_find_kv(g, "tokenizer.ggml.model")) {
        char shown[72];
        if (gguf_get_str(g, "tokenizer.ggml.model", &model) != 0)
            return set_error(err, errlen, "gguf: tokenizer.ggml.model is not a string");
        shown_name(shown, model);
        if (model.len != 5 || memcmp(model.ptr, "llama", 5) != 0)
            return set_error(err, errlen, "gguf: tokenizer model '%s' is not supported (only 'llama', "
                             "SentencePiece; GPT-2-style BPE vocabularies are not)", shown);
    }
    const gguf_kv *scores = gguf_find_kv(g, "tokenizer.ggml.scores");
    const gguf_kv *types = gguf_find_kv(g, "tokenizer.ggml.token_type");
    const uint64_t n = tokens->array_len;
    if (tokens->type != GGUF_ARRAY || tokens->array_type != GGUF_STRING)
        return set_error(err, errlen, "gguf: tokenizer.ggml.tokens is not an array of strings");
    if (n != (uint64_t)m->config.vocab_size)
        return set_error(err, errlen, "gguf: tokenizer.ggml.tokens has %llu entries but the "
                         "vocabulary size is %d", (unsigned long long)n, m->config.vocab_size);
    if (scores && (scores->type != GGUF_ARRAY || scores->array_type != GGUF_FLOAT32 || scores->array_len != n))
        return set_error(err, errlen, "gguf: tokenizer.ggml.scores is not %llu float32s",
                         (unsigned long long)n);
    if (types && (types->type != GGUF_ARRAY || types->array_type != GGUF_INT32 || types->array_len != n))
        return set_error(err, errlen, "gguf: tokenizer.ggml.token_type is not %llu int32s",
                         (unsigned long long)n);

    const char **pieces = malloc(sizeof *pieces * n);
    size_t *lens = malloc(sizeof *lens * n);
    float *score = malloc(sizeof *score * n);
    int *type = malloc(sizeof *type * n);
    int rc = -1;
    if (!pieces || !lens || !score || !type) {
        set_error(err, errlen, "out of memory");
        goto done;
    }
    for (uint64_t i = 0; i < n; i++) {
        gguf_str s = gguf_array_str(tokens, i);
        pieces[i] = s.ptr;
        lens[i] = (size_t)s.len;
        score[i] = 0.0f;
        type[i] = 1;
        if (scores)
            memcpy(&score[i], scores->array_data + 4 * i, 4);
        if (types)
            memcpy(&type[i], types->array_data + 4 * i, 4);
    }
    /* An id that is present must be a token: absent is -1, but a file's 0xFFFFFFFF is not. */
    const char *names[3] = {"bos", "eos", "unknown"};
    int ids[3] = {-1, -1, -1};
    for (int i = 0; i < 3; i++) {
        char key[64];
        snprintf(key, sizeof key, "tokenizer.ggml.%s_token_id", names[i]);
        uint32_t id;
        if (!gguf_find_kv(g, key))
            continue;
        if (gguf_get_u32(g, key, &id) != 0) {
            set_error(err, errlen, "gguf: %s is not an unsigned 32-bit integer", key);
            goto done;
        }
        if (id >= n) {
            set_error(err, errlen, "gguf: %s %u is outside the %llu-token vocabulary", key, id,
                      (unsigned long long)n);
            goto done;
        }
        ids[i] = (int)id;
    }
    attend_tokenizer *tok = tokenizer_from_vocab((int)n, pieces, lens, score, type, ids[0], ids[1], ids[2],
                                                 "vocab", err, errlen);
    model_builder_set_tokenizer(m, tok);
    rc = tok ? 0 : -1;
done:
    free(pieces);
    free(lens);
    free(score);
    free(type);
    return rc;
}

/* The file's bytes of a name, shown on one line: control and non-ASCII bytes as '?'. */
static void show_name(char *out, size_t cap, gguf_str s)
{
    size_t n = s.len < cap - 4 ? (size_t)s.len : cap - 4;
    for (size_t i = 0; i < n; i++)
        out[i] = s.ptr[i] >= 0x20 && s.ptr[i] < 0x7f ? s.ptr[i] : '?';
    strcpy(out + n, s.len > n ? "..." : "");
}

/* RoPE scaling, as llama.cpp reads it: llama.rope.scaling.type "linear" (or absent, llama.cpp's
 * default) with llama.rope.scaling.factor (or the older llama.rope.scale_linear) divides positions
 * by the factor; "none" turns it off; any other type (yarn, longrope, ...) changes the rotation in
 * ways attend does not implement, so the file is refused rather than run wrongly. */
static int gguf_rope_scaling(const gguf_file *g, float *scale, char *err, size_t errlen)
{
    gguf_str type = {0};
    const gguf_kv *kv = gguf_find_kv(g, "llama.rope.scaling.type");
    if (kv && gguf_get_str(g, "llama.rope.scaling.type", &type) != 0)
        return set_error(err, errlen, "gguf: llama.rope.scaling.type is not a string");
    const char *factor_key = gguf_find_kv(g, "llama.rope.scaling.factor") ? "llama.rope.scaling.factor"
                           : gguf_find_kv(g, "llama.rope.scale_linear") ? "llama.rope.scale_linear" : NULL;
    float factor = 1.0f;
    if (factor_key && gguf_get_f32(g, factor_key, &factor) != 0)
        return set_error(err, errlen, "gguf: %s is not a float", factor_key);
    if (kv && type.len == 4 && memcmp(type.ptr, "none", 4) == 0) {
        *scale = 1.0f;
        return 0;
    }
    if (kv && !(type.len == 6 && memcmp(type.ptr, "linear", 6) == 0)) {
        char shown[68];
        show_name(shown, sizeof shown, type);
        return set_error(err, errlen, "gguf: llama.rope.scaling.type '%s' is not supported (attend "
                         "implements 'linear' and 'none')", shown);
    }
    if (factor == 0.0f)   /* llama.cpp reads 0 as "not set" */
        factor = 1.0f;
    if (!(factor >= 1.0f / 1024 && factor <= 1024.0f))
        return set_error(err, errlen, "gguf: %s = %g is out of range", factor_key, factor);
    *scale = factor;
    return 0;
}

static int gguf_llama_load(attend_model *m, const void *base, size_t size, char *err, size_t errlen)
{
    gguf_file g;
    tensor_index ix = {0};
    if (gguf_parse(&g, base, size, err, errlen) != 0)
        return -1;
    int rc = -1;
    attend_config cfg = {0}, *c = &cfg;
    gguf_str arch;
    if (gguf_get_str(&g, "general.architecture", &arch) != 0) {
        set_error(err, errlen, "gguf: general.architecture is missing");
        goto done;
    }
    if (arch.len != 5 || memcmp(arch.ptr, "llama", 5) != 0) {
        char shown[72];   /* the name is the file's */
        shown_name(shown, arch);
        set_error(err, errlen, "gguf: architecture '%s' is not supported (only 'llama')", shown);
        goto done;
    }
    char format[32];
    snprintf(format, sizeof format, "GGUF v%u", g.version);
    model_builder_set_format(m, format);
    c->rope_base = 10000.0f;
    c->norm_eps = 1e-5f;
    if (gguf_arch_u32(&g, "embedding_length", 1, &c->dim, err, errlen) ||
        gguf_arch_u32(&g, "feed_forward_length", 1, &c->hidden_dim, err, errlen) ||
        gguf_arch_u32(&g, "block_count", 1, &c->n_layers, err, errlen) ||
        gguf_arch_u32(&g, "attention.head_count", 1, &c->n_heads, err, errlen) ||
        gguf_arch_u32(&g, "context_length", 1, &c->max_seq_len, err, errlen) ||
        gguf_arch_u32(&g, "rope.dimension_count", 0, &c->rope_dim, err, errlen))
        goto done;
    c->n_kv_heads = c->n_heads;
    /* Models trained with a sliding window (Mistral) declare it; it becomes the default --window. */
    if (gguf_arch_u32(&g, "attention.head_count_kv", 0, &c->n_kv_heads, err, errlen) ||
        gguf_arch_u32(&g, "attention.sliding_window", 0, &c->sliding_window, err, errlen))
        goto done;
    if ((gguf_find_kv(&g, "llama.rope.freq_base") && gguf_get_f32(&g, "llama.rope.freq_base", &c->rope_base)) ||
        (gguf_find_kv(&g, "llama.attention.layer_norm_rms_epsilon") &&
         gguf_get_f32(&g, "llama.attention.layer_norm_rms_epsilon", &c->norm_eps))) {
        set_error(err, errlen, "gguf: rope.freq_base or layer_norm_rms_epsilon is not a float");
        goto done;
    }
    if (gguf_rope_scaling(&g, &c->rope_scale, err, errlen) != 0)
        goto done;
    if (g.n_tensors == 0) {
        set_error(err, errlen, "gguf: the file has no tensors (a vocabulary-only GGUF has no model "
                  "to run)");
        goto done;
    }
    /* The vocabulary size is the embedding's height. */
    const gguf_tensor *embd = gguf_find_tensor(&g, "token_embd.weight");
    if (!embd || embd->n_dims != 2 || embd->dims[1] > (1u << 30)) {
        set_error(err, errlen, "gguf: tensor 'token_embd.weight' is %s",
                  embd ? "not a 2-D matrix" : "missing");
        goto done;
    }
    c->vocab_size = (int)embd->dims[1];
    if (model_builder_set_config(m, &cfg, err, errlen) != 0)
        goto done;
    c = &m->config;   /* as checked, head_dim and rope_dim filled */

    const int64_t dim = c->dim, q_dim = (int64_t)c->n_heads * c->head_dim,
                  kv_dim = (int64_t)c->n_kv_heads * c->head_dim, hidden = c->hidden_dim;
    if (index_tensors(&ix, &g) != 0) {
        set_error(err, errlen, "out of memory");
        goto done;
    }
    if (gguf_weight(&ix, "token_embd.weight", c->vocab_size, dim, &m->token_embedding, err, errlen) ||
        gguf_vector(m, &ix, "output_norm.weight", c->dim, &m->output_norm, err, errlen))
        goto done;
    for (int l = 0; l < c->n_layers; l++) {
        layer_weights *w = &m->layers[l];
        char name[96];
#define W(field, suffix, rows, cols) \
    snprintf(name, sizeof name, "blk.%d.%s.weight", l, suffix); \
    if (gguf_weight(&ix, name, rows, cols, &w->field, err, errlen)) goto done;
#define V(field, suffix) \
    snprintf(name, sizeof name, "blk.%d.%s.weight", l, suffix); \
    if (gguf_vector(m, &ix, name, c->dim, &w->field, err, errlen)) goto done;
        V(attn_norm, "attn_norm");
        W(wq, "attn_q", q_dim, dim);
        W(wk, "attn_k", kv_dim, dim);
        W(wv, "attn_v", kv_dim, dim);
        W(wo, "attn_output", dim, q_dim);
        V(ffn_norm, "ffn_norm");
        W(w_gate, "ffn_gate", hidden, dim);
        W(w_up, "ffn_up", hidden, dim);
        W(w_down, "ffn_down", dim, hidden);
#undef W
#undef V
    }
    /* No output matrix: the classifier is tied to the token embedding (model_builder_finish). */
    if (find_tensor(&ix, "output.weight") &&
        gguf_weight(&ix, "output.weight", c->vocab_size, dim, &m->output, err, errlen))
        goto done;
    if (model_builder_finish(m, err, errlen) != 0)
        goto done;
    rc = gguf_load_vocab(m, &g, err, errlen) || gguf_load_meta(m, &g, err, errlen) ? -1 : 0;
done:
    free(ix.by_name);
    gguf_release(&g);
    return rc;
}

static int gguf_llama_probe(const void *base, size_t size)
{
    return size >= 4 && memcmp(base, "GGUF", 4) == 0;
}

const model_format format_gguf_llama = {"GGUF", gguf_llama_probe, gguf_llama_load};
