/* kv_cache.c — allocation of the KV cache and the append of each step's keys and values. */
#include "kv_cache.h"

#include <stdlib.h>
#include <string.h>

int kv_cache_init(kv_cache *c, int n_layers, int n_ctx, int n_kv_heads, int head_dim, int type)
{
    const size_t elem_bytes = type == TYPE_F16 ? 2 : 4;
    const size_t per_tensor = (size_t)n_ctx * n_kv_heads * head_dim * elem_bytes;
    *c = (kv_cache){NULL, n_layers, NULL, per_tensor * 2 * (size_t)n_layers};
    c->memory = calloc(c->bytes ? c->bytes : 1, 1);
    c->layers = calloc((size_t)n_layers, sizeof *c->layers);
    if (!c->memory || !c->layers)
        return -1;
    for (int l = 0; l < n_layers; l++) {
        char *layer = (char *)c->memory + (size_t)l * per_tensor * 2;
        c->layers[l] = (kv_cache_layer){layer, layer + per_tensor, type, elem_bytes, n_ctx, n_kv_heads,
                                        head_dim, 0, 0};
    }
    return 0;
}

void kv_cache_free(kv_cache *c)
{
    free(c->memory);
    free(c->layers);
    c->memory = NULL;
    c->layers = NULL;
}

void kv_cache_make_ring(kv_cache *c, int window, int sinks)
{
    for (int l = 0; l < c->n_layers; l++) {
        c->layers[l].window = window;
        c->layers[l].sinks = sinks;
    }
}

static void store(const kv_cache_layer *c, void *dst, const float *src)
{
    if (c->type == TYPE_F16) {
        uint16_t *h = dst;
        for (int d = 0; d < c->head_dim; d++)
            h[d] = fp32_to_fp16(src[d]);
    } else {
        memcpy(dst, src, sizeof(float) * (size_t)c->head_dim);
    }
}

void kv_cache_append(kv_cache_layer *c, int pos, int n_tokens, const float *key, const float *value)
{
    const size_t kv_dim = (size_t)c->n_kv_heads * c->head_dim;
    for (int t = 0; t < n_tokens; t++)
        for (int g = 0; g < c->n_kv_heads; g++) {
            store(c, kv_key(c, g, pos + t), key + t * kv_dim + (size_t)g * c->head_dim);
            store(c, kv_value(c, g, pos + t), value + t * kv_dim + (size_t)g * c->head_dim);
        }
}
