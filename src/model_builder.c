/* model_builder.c — the loaders' side of attend_model (see model_builder.h). */
#include "model_builder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor.h"

/* Limits that keep every derived size far from overflow while admitting any real llama. */
enum { MAX_DIM = 1 << 16, MAX_HIDDEN = 1 << 18, MAX_LAYERS = 1024, MAX_HEADS = 1024,
       MAX_VOCAB = 1 << 22, MAX_SEQ = 1 << 22 };

static int check_config(attend_config *c, char *err, size_t errlen)
{
#define BOUND(field, lo, hi) \
    if (c->field < (lo) || c->field > (hi)) \
        return set_error(err, errlen, "model: %s = %d is out of range [%d, %d]", #field, \
                         c->field, (int)(lo), (int)(hi))
    BOUND(dim, 1, MAX_DIM);
    BOUND(hidden_dim, 1, MAX_HIDDEN);
    BOUND(n_layers, 1, MAX_LAYERS);
    BOUND(n_heads, 1, MAX_HEADS);
    BOUND(n_kv_heads, 1, c->n_heads);
    BOUND(vocab_size, 1, MAX_VOCAB);
    BOUND(max_seq_len, 1, MAX_SEQ);
    if (c->dim % c->n_heads)
        return set_error(err, errlen, "model: dim %d is not a multiple of n_heads %d", c->dim,
                         c->n_heads);
    if (c->n_heads % c->n_kv_heads)
        return set_error(err, errlen, "model: n_heads %d is not a multiple of n_kv_heads %d",
                         c->n_heads, c->n_kv_heads);
    if (c->head_dim == 0)
        c->head_dim = c->dim / c->n_heads;
    if (c->head_dim != c->dim / c->n_heads)
        return set_error(err, errlen, "model: head_dim %d != dim %d / n_heads %d", c->head_dim,
                         c->dim, c->n_heads);
    if (c->rope_dim == 0)
        c->rope_dim = c->head_dim;
    if (c->rope_dim < 2 || c->rope_dim > c->head_dim || c->rope_dim % 2)
        return set_error(err, errlen, "model: rope dimension %d must be even and in [2, %d]",
                         c->rope_dim, c->head_dim);
    if (!(c->rope_base > 1.0f && c->rope_base < 1e12f))
        return set_error(err, errlen, "model: rope freq_base %g is out of range", c->rope_base);
    if (c->rope_scale == 0.0f)
        c->rope_scale = 1.0f;   /* loaders that know no scaling leave it 0 */
    if (!(c->rope_scale >= 1.0f / 1024 && c->rope_scale <= 1024.0f))
        return set_error(err, errlen, "model: rope scaling factor %g is out of range", c->rope_scale);
    if (!(c->norm_eps > 0.0f && c->norm_eps < 1.0f))
        return set_error(err, errlen, "model: rms norm epsilon %g is out of range", c->norm_eps);
#undef BOUND
    return 0;
}

int model_builder_set_config(attend_model *m, const attend_config *c, char *err, size_t errlen)
{
    attend_config checked = *c;
    if (check_config(&checked, err, errlen) != 0)
        return -1;
    m->config = checked;
    free(m->layers);
    m->layers = calloc((size_t)checked.n_layers, sizeof *m->layers);
    if (!m->layers)
        return set_error(err, errlen, "out of memory");
    return 0;
}

void model_builder_set_format(attend_model *m, const char *format)
{
    snprintf(m->format, sizeof m->format, "%s", format);
}

int model_builder_own(attend_model *m, void *block)
{
    void **grown = realloc(m->owned, sizeof *grown * (size_t)(m->n_owned + 1));
    if (!grown) {
        free(block);
        return -1;
    }
    m->owned = grown;
    m->owned[m->n_owned++] = block;
    return 0;
}

int tensor_view(tensor *t, int type, int64_t rows, int64_t cols, const void *data)
{
    /* Q8_K is how activations are quantized for k-quant weights, not a weight type: no kernel
     * multiplies by a Q8_K matrix */
    if (!type_traits_of(type) || type == TYPE_Q8_K)
        return -1;
    t->type = type;
    t->rows = rows;
    t->cols = cols;
    t->row_bytes = type_row_bytes(type, cols);
    t->data = data;
    return 0;
}

int model_builder_set_meta(attend_model *m, int n, const char *const *keys, const size_t *keys_len,
                           const char *const *values, const size_t *values_len, char *err, size_t errlen)
{
    /* One block for all the text and one for the index: a file with many keys costs two
     * allocations, not one per key. */
    size_t bytes = 0;
    for (int i = 0; i < n; i++)
        bytes += keys_len[i] + values_len[i] + 2;
    char *text = malloc(bytes ? bytes : 1);
    if (!text || model_builder_own(m, text) != 0)   /* (which frees a block it cannot keep) */
        return set_error(err, errlen, "out of memory for the metadata");
    const char **index = malloc(sizeof *index * (size_t)(2 * n + 1));
    if (!index || model_builder_own(m, (void *)index) != 0)
        return set_error(err, errlen, "out of memory for the metadata");
    char *at = text;
    for (int i = 0; i < n; i++) {
        const char *from[2] = {keys[i], values[i]};
        const size_t len[2] = {keys_len[i], values_len[i]};
        for (int k = 0; k < 2; k++) {
            memcpy(at, from[k], len[k]);
            at[len[k]] = '\0';
            index[2 * i + k] = at;
            at += len[k] + 1;
        }
    }
    m->meta = index;
    m->n_meta = n;
    return 0;
}

void model_builder_set_tokenizer(attend_model *m, attend_tokenizer *t) { m->tok = t; }

int model_builder_finish(attend_model *m, char *err, size_t errlen)
{
    attend_config *c = &m->config;
    if (!m->layers)
        return set_error(err, errlen, "model: the loader set no config");
    if (!m->output.data) {
        m->output = m->token_embedding;
        c->tied_output = 1;
    }
    int missing = !m->token_embedding.data || !m->output_norm;
    for (int l = 0; l < c->n_layers; l++) {
        const layer_weights *w = &m->layers[l];
        missing |= !w->attn_norm || !w->ffn_norm || !w->wq.data || !w->wk.data || !w->wv.data ||
                   !w->wo.data || !w->w_gate.data || !w->w_up.data || !w->w_down.data;
    }
    if (missing)
        return set_error(err, errlen, "model: the loader left a weight unset");
    c->weight_type = m->layers[0].wq.type;
    return 0;
}
