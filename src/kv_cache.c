/* kv_cache.c — allocation of the KV cache and the append of each step's keys and values. */
#include "kv_cache.h"

#include "ops/elementwise.h"

#include <stdlib.h>
#include <string.h>

int kv_cache_init(kv_cache *c, int n_layers, int n_ctx, int n_kv_heads, int head_dim, int type)
{
    const size_t elem_bytes = type == TYPE_F16 ? 2 : 4;
    const size_t per_tensor = (size_t)n_ctx * n_kv_heads * head_dim * elem_bytes;
    *c = (kv_cache){NULL, n_layers, NULL, per_tensor * 2 * (size_t)n_layers, NULL};
    c->memory = calloc(c->bytes ? c->bytes : 1, 1);
    c->layers = calloc((size_t)n_layers, sizeof *c->layers);
    if (!c->memory || !c->layers)
        return -1;
    for (int l = 0; l < n_layers; l++) {
        char *layer = (char *)c->memory + (size_t)l * per_tensor * 2;
        c->layers[l] = (kv_cache_layer){layer, layer + per_tensor, type, elem_bytes, n_ctx, n_kv_heads,
                                        head_dim, 0, 0, NULL};
    }
    return 0;
}

void kv_cache_free(kv_cache *c)
{
    free(c->sink_memory);
    free(c->memory);
    free(c->layers);
    c->sink_memory = NULL;
    c->memory = NULL;
    c->layers = NULL;
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

int kv_cache_make_ring(kv_cache *c, int window, int sinks)
{
    const int n_kv_heads = c->layers[0].n_kv_heads, head_dim = c->layers[0].head_dim;
    const size_t per_layer = ((size_t)n_kv_heads * sinks + 1) * head_dim;
    c->sink_memory = calloc(per_layer * c->n_layers, sizeof(float));
    if (!c->sink_memory)
        return -1;
    for (int l = 0; l < c->n_layers; l++) {
        c->layers[l].window = window;
        c->layers[l].sinks = sinks;
        c->layers[l].sink_keys = c->sink_memory + per_layer * l;
    }
    return 0;
}

void kv_cache_place_sinks(kv_cache_layer *c, const float *cos, const float *sin, int rope_dim)
{
    float *rotated = c->sink_keys + (size_t)c->n_kv_heads * c->sinks * c->head_dim;   /* the spare row */
    for (int g = 0; g < c->n_kv_heads; g++)
        for (int j = 0; j < c->sinks; j++) {
            memcpy(rotated, c->sink_keys + ((size_t)g * c->sinks + j) * c->head_dim, sizeof(float) * c->head_dim);
            rope(rotated, 1, c->head_dim, rope_dim, cos, sin);
            store(c, kv_key(c, g, j), rotated);
        }
}

void kv_cache_append(kv_cache_layer *c, int pos, int n_tokens, const float *key, const float *value)
{
    const size_t kv_dim = (size_t)c->n_kv_heads * c->head_dim;
    for (int t = 0; t < n_tokens; t++)
        for (int g = 0; g < c->n_kv_heads; g++) {
            store(c, kv_key(c, g, pos + t), key + t * kv_dim + (size_t)g * c->head_dim);
            if (c->window && pos + t < c->sinks)   /* a sink: keep its key as rotated at its position */
                memcpy(c->sink_keys + ((size_t)g * c->sinks + pos + t) * c->head_dim,
                       key + t * kv_dim + (size_t)g * c->head_dim, sizeof(float) * c->head_dim);
            store(c, kv_value(c, g, pos + t), value + t * kv_dim + (size_t)g * c->head_dim);
        }
}
