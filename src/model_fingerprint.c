/* model_fingerprint.c — a cheap identity of a loaded model, for files that must only ever be
 * read back by the model that wrote them (the KV cache files of kv_cache.c).
 *
 * Hashing every weight would read the whole model (gigabytes) each time a prompt cache is opened.
 * Instead: FNV-1a 64 over the hyperparameters, field by field, then over the first and last 4 KiB
 * of a few tensors spread through the model (the embedding, the first layer's query projection,
 * the last layer's down projection, the classifier) with their types and shapes. Two different
 * trainings, quantizations or conversions of one shape differ in those bytes; a model file edited
 * only in its middle would not be told apart, which is the price of not reading it all. */
#include <string.h>

#include "model.h"

static const uint64_t fnv_prime = 0x100000001b3ull;

static uint64_t mix(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * fnv_prime;
    return h;
}

static uint64_t mix_int(uint64_t h, int64_t v) { return mix(h, &v, sizeof v); }

static uint64_t mix_float(uint64_t h, float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return mix(h, &u, sizeof u);
}

static uint64_t mix_tensor(uint64_t h, const tensor *t)
{
    enum { EDGE = 4096 };
    const size_t bytes = t->row_bytes * (size_t)t->rows;
    h = mix_int(mix_int(mix_int(h, t->type), t->rows), t->cols);
    if (!t->data)
        return h;
    if (bytes <= 2 * EDGE)
        return mix(h, t->data, bytes);
    h = mix(h, t->data, EDGE);
    return mix(h, (const char *)t->data + bytes - EDGE, EDGE);
}

uint64_t model_fingerprint(const attend_model *m)
{
    const attend_config *c = &m->config;
    uint64_t h = 0xcbf29ce484222325ull;
    const int ints[] = {c->dim, c->hidden_dim, c->n_layers, c->n_heads, c->n_kv_heads, c->head_dim,
                        c->rope_dim, c->vocab_size, c->max_seq_len, c->weight_type, c->tied_output};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        h = mix_int(h, ints[i]);
    h = mix_float(mix_float(mix_float(h, c->rope_base), c->norm_eps), c->rope_scale);
    h = mix_tensor(h, &m->token_embedding);
    h = mix_tensor(h, &m->layers[0].wq);
    h = mix_tensor(h, &m->layers[c->n_layers - 1].w_down);
    h = mix_tensor(h, &m->output);
    return mix(h, m->output_norm, sizeof(float) * (size_t)c->dim);
}
