/* formats.h — the model file formats attend reads, as a table of {probe, load}.
 *
 * attend_model_load maps the file and asks each format in turn whether the bytes are its own;
 * the first that says yes loads them. A loader sees only the mapped bytes and the builder
 * (model_builder.h); it never calls back into model_load.c. Adding a format is adding a row. */
#ifndef ATTEND_FORMATS_H
#define ATTEND_FORMATS_H

#include <stddef.h>
#include "model_builder.h"

typedef struct {
    const char *name;
    /* 1 when the `size` bytes at `base` look like this format (cheap: the header only). */
    int (*probe)(const void *base, size_t size);
    /* Fill `m` from the file through the builder; views may point into `base`, which stays mapped
     * as long as the model. 0, or -1 with a one-line reason in err. */
    int (*load)(attend_model *m, const void *base, size_t size, char *err, size_t errlen);
} model_format;

extern const model_format format_gguf_llama;   /* gguf_llama.c: GGUF files of architecture llama */
extern const model_format format_llama2c;      /* llama2c.c: llama2.c checkpoints v0, v1, v2 */

#endif
