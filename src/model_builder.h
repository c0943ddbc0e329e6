/* model_builder.h — how a loader fills an attend_model: the one door from src/formats/ into the
 * model. A loader sets the config (checked here once for every format), points each weight of
 * model.h at its bytes with tensor_view, hands heap blocks it made (dequantized, converted) to
 * the model, and may give it a tokenizer; model_builder_finish completes what every format
 * derives the same way. The loader never frees: on failure, attend_model_load frees the model
 * with everything given to it so far. */
#ifndef ATTEND_MODEL_BUILDER_H
#define ATTEND_MODEL_BUILDER_H

#include <stddef.h>
#include <stdint.h>
#include "model.h"

/* Check `c` for sizes that are positive, bounded and consistent (head_dim and rope_dim may be 0:
 * filled from dim / n_heads), store it, and allocate the layer array. */
int model_builder_set_config(attend_model *m, const attend_config *c, char *err, size_t errlen);
/* The name attend_model_format reports ("GGUF v3"). */
void model_builder_set_format(attend_model *m, const char *format);
/* Keep a heap block alive as long as the model. On failure the block is freed and -1 returned. */
int model_builder_own(attend_model *m, void *block);
/* Describe `rows` rows of `cols` elements of `type` at `data`; -1 for a type quant.c lacks. */
int tensor_view(tensor *t, int type, int64_t rows, int64_t cols, const void *data);
/* The vocabulary that came with the file (the model frees it). */
void model_builder_set_tokenizer(attend_model *m, attend_tokenizer *t);
/* The string metadata attend_model_meta_string reads: n pairs (keys[i], keys_len[i]) ->
 * (values[i], values_len[i]), copied NUL-terminated. -1 when memory runs out. */
int model_builder_set_meta(attend_model *m, int n, const char *const *keys, const size_t *keys_len,
                           const char *const *values, const size_t *values_len, char *err, size_t errlen);
/* After the weights: an unset classifier is tied to the token embedding, weight_type is the
 * query projection's type, and every weight must have been set. */
int model_builder_finish(attend_model *m, char *err, size_t errlen);

#endif
