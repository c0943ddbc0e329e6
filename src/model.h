/* model.h — what a loaded model is, inside the engine (the public view is attend.h).
 *
 * The loaders of src/formats/ fill one attend_model through model_builder.h: the config, and a
 * tensor view per weight. Views point into the read-only file mapping whenever the stored layout
 * is one the kernels read directly; otherwise into `owned` heap memory. forward.c reads it. */
#ifndef ATTEND_MODEL_H
#define ATTEND_MODEL_H

#include <stddef.h>
#include "attend.h"
#include "error.h"
#include "tensor.h"

typedef struct {
    const float *attn_norm;   /* (dim)                    RMSNorm weight before attention */
    tensor wq;                /* (n_heads * head_dim, dim)   query projection */
    tensor wk;                /* (n_kv_heads * head_dim, dim) key projection */
    tensor wv;                /* (n_kv_heads * head_dim, dim) value projection */
    tensor wo;                /* (dim, n_heads * head_dim)   output projection */
    const float *ffn_norm;    /* (dim)                    RMSNorm weight before the feed-forward */
    tensor w_gate;            /* (hidden_dim, dim) */
    tensor w_up;              /* (hidden_dim, dim) */
    tensor w_down;            /* (dim, hidden_dim) */
} layer_weights;

struct attend_model {
    attend_config config;
    tensor token_embedding;   /* (vocab_size, dim) */
    layer_weights *layers;    /* n_layers */
    const float *output_norm; /* (dim) */
    tensor output;            /* (vocab_size, dim); the token embedding when tied */

    attend_tokenizer *tok;          /* NULL when the file has none and none was given */
    char format[32];
    const char **meta;        /* the file's string metadata: key 2i, value 2i + 1, NUL-terminated */
    int n_meta;               /* (pairs; both arrays are owned blocks) */

    void *map;                /* the file mapping */
    size_t map_size;
    void **owned;             /* heap blocks the views may point into (dequantized, converted) */
    int n_owned;
};

/* A cheap identity of the model (model_fingerprint.c): the config and a few weights' edge bytes. */
uint64_t model_fingerprint(const attend_model *m);

#endif
