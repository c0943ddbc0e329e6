/* model.h — what a loaded model is, inside the engine (the public view is attend.h).
 *
 * Loaders (model.c for GGUF, llama2c.c for llama2.c checkpoints) fill one attend_model: the
 * config, and a tensor view per weight. Views point into the read-only file mapping whenever the
 * stored layout is one the kernels read directly; otherwise into `owned` heap memory. */
#ifndef ATTEND_MODEL_H
#define ATTEND_MODEL_H

#include <stddef.h>
#include "attend.h"
#include "kernels.h"

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

    void *map;                /* the file mapping */
    size_t map_size;
    void **owned;             /* heap blocks the views may point into (dequantized, converted) */
    int n_owned;
};

/* ---- helpers shared by the loaders (model.c) ---- */
int model_set_error(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Check a config for sizes that are positive, bounded and consistent; fills head_dim if 0. */
int model_check_config(attend_config *c, char *err, size_t errlen);
/* Keep a heap block alive as long as the model (freed by attend_model_free). */
int model_own(attend_model *m, void *block);
int tensor_view(tensor *t, int type, int64_t rows, int64_t cols, const void *data);

/* ---- the llama2.c loader (llama2c.c) ---- */
int llama2c_load(attend_model *m, char *err, size_t errlen);
int llama2c_is_checkpoint(const void *base, size_t size);

#endif
