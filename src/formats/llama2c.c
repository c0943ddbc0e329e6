/* llama2c.c — checkpoints written by llama2.c's export script (A. Karpathy).
 *
 *   version 0 ("legacy"): 7 int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size,
 *       seq_len), then float32 weights: token embedding, every layer's attention norm, wq, wk, wv,
 *       wo, ffn norm, w1 (gate), w2 (down), w3 (up), the final norm, two RoPE tables (seq_len *
 *       head_dim / 2 floats each, unused: we compute the angles), and the classifier if it is not
 *       shared. A negative vocab_size marks an unshared classifier.
 *   version 1: a 256-byte header (magic "ak42", int32 version, the 7 ints, uint8 shared_classifier),
 *       then float32: all attention norms, all ffn norms, the final norm, the token embedding, wq,
 *       wk, wv, wo, w1, w2, w3 of every layer, and the classifier if not shared.
 *   version 2: the version 1 header plus int32 group_size; the norms as float32, then the matrices
 *       in version 1's order (embedding, every layer's wq, ..., w3, classifier), each one — each
 *       layer's on its own — as its int8 values followed by one float32 scale per group of
 *       group_size values (w = q * scale).
 * Each matrix is stored (out_features, in_features), row-major: the layout our tensors use. Version 2
 * keeps its scales apart from its values, which no kernel reads directly, so it is dequantized to
 * float32 here — exact, since q * scale is what the file means. RoPE uses base 10000 and eps 1e-5. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats.h"
#include "tensor.h"

enum { LLAMA2C_MAGIC = 0x616b3432, V1_HEADER_BYTES = 256 };

typedef struct {
    int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
} llama2c_header;

static int llama2c_probe(const void *base, size_t size)
{
    uint32_t magic;
    if (size < sizeof(llama2c_header))
        return 0;
    memcpy(&magic, base, 4);
    if (magic == LLAMA2C_MAGIC)
        return 1;
    /* Version 0 has no magic: accept a header whose first fields look like a transformer. */
    llama2c_header h;
    memcpy(&h, base, sizeof h);
    return h.dim > 0 && h.hidden_dim > 0 && h.n_layers > 0 && h.n_heads > 0 && h.n_kv_heads > 0 &&
           h.vocab_size != 0 && h.seq_len > 0 && h.dim < (1 << 16) && h.n_layers < 1024;
}

/* A cursor over the weights that refuses to walk past the end of the file. */
typedef struct {
    const uint8_t *p, *end;
    int failed;
} reader;

static const void *take(reader *r, size_t bytes)
{
    if (r->failed || bytes > (size_t)(r->end - r->p)) {
        r->failed = 1;
        return NULL;
    }
    const void *at = r->p;
    r->p += bytes;
    return at;
}

/* A float32 matrix (rows, cols) of layer l out of a block of n_layers such matrices. */
static void f32_matrix(tensor *t, const float *block, int l, int64_t rows, int64_t cols)
{
    tensor_view(t, TYPE_F32, rows, cols, block ? block + (size_t)l * rows * cols : NULL);
}

/* Version 2: `count` matrices of n values (one per layer, or just one), each stored as its n int8
 * values then its n/group float32 scales -> one float32 copy owned by the model. */
static const float *dequantize_group_q8(attend_model *m, reader *r, size_t count, size_t n, int group)
{
    if (r->failed || count * n > (size_t)(r->end - r->p)) {   /* before allocating */
        r->failed = 1;
        return NULL;
    }
    float *w = malloc(count * n * sizeof *w);
    if (!w || model_builder_own(m, w) != 0) {
        r->failed = 1;
        return NULL;
    }
    for (size_t k = 0; k < count; k++) {
        const int8_t *q = take(r, n);
        const char *scale = take(r, n / (size_t)group * sizeof(float));
        if (!q || !scale)
            return NULL;
        for (size_t i = 0; i < n; i++) {
            float s;
            memcpy(&s, scale + i / (size_t)group * sizeof(float), sizeof s);
            w[k * n + i] = (float)q[i] * s;
        }
    }
    return w;
}

static int llama2c_load(attend_model *m, const void *file, size_t size, char *err, size_t errlen)
{
    const uint8_t *base = file;
    uint32_t magic;
    memcpy(&magic, base, 4);
    int version = 0, shared = 0, group = 0;
    llama2c_header h;
    reader r = {base, base + size, 0};
    if (magic == LLAMA2C_MAGIC) {
        if (size < V1_HEADER_BYTES)
            return set_error(err, errlen, "llama2.c: header is truncated (%zu bytes)", size);
        int32_t v;
        memcpy(&v, base + 4, 4);
        if (v != 1 && v != 2)
            return set_error(err, errlen, "llama2.c: version %d is not supported (0, 1 or 2)", v);
        version = v;
        memcpy(&h, base + 8, sizeof h);
        shared = base[8 + sizeof h];
        if (shared > 1)
            return set_error(err, errlen, "llama2.c: shared_classifier flag is %d, not 0 or 1", shared);
        if (version == 2) {
            memcpy(&group, base + 9 + sizeof h, 4);
            if (group <= 0 || group > (1 << 20))
                return set_error(err, errlen, "llama2.c: group_size %d is out of range", group);
        }
        r.p = base + V1_HEADER_BYTES;
    } else {
        memcpy(&h, base, sizeof h);
        shared = h.vocab_size > 0;
        /* INT32_MIN has no positive twin: negating it would overflow. */
        if (h.vocab_size == INT32_MIN)
            return set_error(err, errlen, "llama2.c: vocab_size %d is out of range", h.vocab_size);
        if (h.vocab_size < 0)
            h.vocab_size = -h.vocab_size;
        r.p = base + sizeof h;
    }
    char format[32];
    snprintf(format, sizeof format, "llama2.c v%d", version);
    model_builder_set_format(m, format);

    const attend_config header = {.dim = h.dim, .hidden_dim = h.hidden_dim, .n_layers = h.n_layers,
                                  .n_heads = h.n_heads, .n_kv_heads = h.n_kv_heads,
                                  .vocab_size = h.vocab_size, .max_seq_len = h.seq_len,
                                  .rope_base = 10000.0f, .norm_eps = 1e-5f};
    if (model_builder_set_config(m, &header, err, errlen) != 0)
        return -1;
    const attend_config *c = &m->config;
    if (version == 2 && (c->dim % group || c->hidden_dim % group))
        return set_error(err, errlen, "llama2.c: group_size %d does not divide dim %d and hidden_dim %d",
                         group, c->dim, c->hidden_dim);

    const size_t L = (size_t)c->n_layers, dim = (size_t)c->dim, hidden = (size_t)c->hidden_dim,
                 vocab = (size_t)c->vocab_size, q_dim = (size_t)c->n_heads * c->head_dim,
                 kv_dim = (size_t)c->n_kv_heads * c->head_dim;
    /* The sizes of the matrices in file order: embedding, wq, wk, wv, wo, w1, w2, w3 (per layer). */
    const size_t n_embed = vocab * dim, n_wq = q_dim * dim, n_wk = kv_dim * dim, n_wo = dim * q_dim,
                 n_ffn = hidden * dim;
    const float *embed, *att_norm, *ffn_norm, *final_norm, *wq, *wk, *wv, *wo, *w1, *w2, *w3, *wcls = NULL;
#define F32(n) ((const float *)take(&r, (n) * sizeof(float)))
    if (version == 0) {
        embed = F32(n_embed);
        att_norm = F32(L * dim);
        wq = F32(L * n_wq); wk = F32(L * n_wk); wv = F32(L * n_wk); wo = F32(L * n_wo);
        ffn_norm = F32(L * dim);
        w1 = F32(L * n_ffn); w2 = F32(L * n_ffn); w3 = F32(L * n_ffn);
        final_norm = F32(dim);
        take(&r, (size_t)c->max_seq_len * c->head_dim * sizeof(float));   /* the two RoPE tables */
        if (!shared)
            wcls = F32(n_embed);
    } else {
        att_norm = F32(L * dim);
        ffn_norm = F32(L * dim);
        final_norm = F32(dim);
        if (version == 1) {
            embed = F32(n_embed);
            wq = F32(L * n_wq); wk = F32(L * n_wk); wv = F32(L * n_wk); wo = F32(L * n_wo);
            w1 = F32(L * n_ffn); w2 = F32(L * n_ffn); w3 = F32(L * n_ffn);
            if (!shared)
                wcls = F32(n_embed);
        } else {
#define Q8(count, n) dequantize_group_q8(m, &r, (count), (n), group)
            embed = Q8(1, n_embed);
            wq = Q8(L, n_wq); wk = Q8(L, n_wk); wv = Q8(L, n_wk); wo = Q8(L, n_wo);
            w1 = Q8(L, n_ffn); w2 = Q8(L, n_ffn); w3 = Q8(L, n_ffn);
            if (!shared)
                wcls = Q8(1, n_embed);
#undef Q8
        }
    }
#undef F32
    if (r.failed)
        return set_error(err, errlen, "llama2.c v%d: file is truncated: %zu bytes cannot hold the "
                         "weights of this config (dim %d, %d layers, vocab %d)", version,
                         size, c->dim, c->n_layers, c->vocab_size);
    if (r.p != r.end)
        return set_error(err, errlen, "llama2.c v%d: %zu unexpected bytes after the weights",
                         version, (size_t)(r.end - r.p));

    tensor_view(&m->token_embedding, TYPE_F32, c->vocab_size, c->dim, embed);
    m->output_norm = final_norm;
    for (int l = 0; l < c->n_layers; l++) {
        layer_weights *w = &m->layers[l];
        w->attn_norm = att_norm + (size_t)l * dim;
        w->ffn_norm = ffn_norm + (size_t)l * dim;
        f32_matrix(&w->wq, wq, l, q_dim, dim);
        f32_matrix(&w->wk, wk, l, kv_dim, dim);
        f32_matrix(&w->wv, wv, l, kv_dim, dim);
        f32_matrix(&w->wo, wo, l, dim, q_dim);
        f32_matrix(&w->w_gate, w1, l, hidden, dim);
        f32_matrix(&w->w_down, w2, l, dim, hidden);
        f32_matrix(&w->w_up, w3, l, hidden, dim);
    }
    if (wcls)   /* otherwise the builder ties the classifier to the embedding */
        tensor_view(&m->output, TYPE_F32, c->vocab_size, c->dim, wcls);
    return model_builder_finish(m, err, errlen);
}

const model_format format_llama2c = {"llama2.c", llama2c_probe, llama2c_load};
