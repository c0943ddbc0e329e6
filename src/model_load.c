/* model_load.c — open a model file, map it, hand it to the format that recognises it, and describe
 * the result.
 *
 * The file is mapped read-only and its tensors are used where they lie: loading a model costs a
 * page-table entry per page, and the kernel brings in weights as the first forward pass touches
 * them. The formats (src/formats/) fill the model through model_builder.h; this file only
 * chooses one from the table below and adds the tokenizer given with -z. */
#include "model.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "formats/formats.h"
#include "tensor.h"
#include "tokenizer.h"

/* Asked in order; the first whose probe accepts the bytes loads them. llama2.c version 0 has no
 * magic (its probe judges the first fields), so it comes last. */
static const model_format *const formats[] = {&format_gguf_llama, &format_llama2c};

/* ---- tokenizer files given with -z ---------------------------------------------------------- */

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* tokenizer.model is a SentencePiece protobuf; anything else is taken as llama2.c tokenizer.bin. */
static attend_tokenizer *load_tokenizer_file(const char *path, int vocab_size, char *err, size_t errlen)
{
    if (ends_with(path, ".model"))
        return tokenizer_load_model(path, err, errlen);
    return tokenizer_load_llama2c(path, vocab_size, err, errlen);
}

/* ---- the public entry points ---------------------------------------------------------------- */

attend_model_params attend_model_default_params(void)
{
    return (attend_model_params){.tokenizer_path = NULL, .preload = 1};
}

attend_model *attend_model_load(const char *path, const attend_model_params *params, char *err, size_t errlen)
{
    const attend_model_params p = params ? *params : attend_model_default_params();
    const char *tokenizer_path = p.tokenizer_path;
    attend_model *m = calloc(1, sizeof *m);
    if (!m) {
        set_error(err, errlen, "out of memory");
        return NULL;
    }
    struct stat st;
    int fd = open_regular_file(path, &st);
    if (fd == FILE_CANNOT_OPEN) {
        set_error(err, errlen, "cannot open model '%s': %s", path, strerror(errno));
        goto fail;
    }
    if (fd == FILE_NOT_REGULAR) {
        set_error(err, errlen, "model '%s' is not a regular file", path);
        goto fail;
    }
    if (st.st_size < 8) {
        set_error(err, errlen, "model '%s' is too small to be a model (%lld bytes)", path,
                  (long long)st.st_size);
        close(fd);
        goto fail;
    }
    m->map_size = (size_t)st.st_size;
    /* MAP_POPULATE (params.preload) reads the file into the mapping now, in large batches, rather
     * than a page at a time as the first forward pass touches each weight (on this VM a first touch
     * costs as much as the arithmetic); load time shows up as load time, not as a slow first prompt. */
    m->map = mmap(NULL, m->map_size, PROT_READ, MAP_PRIVATE | (p.preload ? MAP_POPULATE : 0), fd, 0);
    close(fd);
    if (m->map == MAP_FAILED) {
        m->map = NULL;
        set_error(err, errlen, "cannot map model '%s': %s", path, strerror(errno));
        goto fail;
    }

    const model_format *format = NULL;
    for (size_t i = 0; i < sizeof formats / sizeof formats[0] && !format; i++)
        if (formats[i]->probe(m->map, m->map_size))
            format = formats[i];
    if (!format) {
        set_error(err, errlen, "model '%s' is neither GGUF nor a llama2.c checkpoint", path);
        goto fail;
    }
    if (format->load(m, m->map, m->map_size, err, errlen) != 0)
        goto fail;

    /* A tokenizer given on the command line replaces the one in the file. */
    if (tokenizer_path) {
        attend_tokenizer *t = load_tokenizer_file(tokenizer_path, m->config.vocab_size, err, errlen);
        if (!t)
            goto fail;
        if (m->tok)
            tokenizer_free(m->tok);
        m->tok = t;
    }
    if (m->tok && attend_tokenizer_vocab_size(m->tok) != m->config.vocab_size) {
        set_error(err, errlen, "tokenizer has %d tokens but the model's vocabulary is %d",
                  attend_tokenizer_vocab_size(m->tok), m->config.vocab_size);
        goto fail;
    }
    return m;
fail:
    attend_model_free(m);
    return NULL;
}

void attend_model_free(attend_model *m)
{
    if (!m)
        return;
    if (m->tok)
        tokenizer_free(m->tok);
    for (int i = 0; i < m->n_owned; i++)
        free(m->owned[i]);
    free(m->owned);
    free(m->layers);
    if (m->map)
        munmap(m->map, m->map_size);
    free(m);
}

#define STR_(x) #x
#define STR(x) STR_(x)
const char *attend_version(void)
{
    return STR(ATTEND_VERSION_MAJOR) "." STR(ATTEND_VERSION_MINOR) "." STR(ATTEND_VERSION_PATCH);
}

const attend_config *attend_model_config(const attend_model *m) { return &m->config; }

const char *attend_type_name(int type)
{
    const type_traits *tt = type_traits_of(type);
    return tt ? tt->name : "unknown";
}
const attend_tokenizer *attend_model_tokenizer(const attend_model *m) { return m->tok; }
const char *attend_model_format(const attend_model *m) { return m->format; }

const char *attend_model_meta_string(const attend_model *m, const char *key)
{
    for (int i = 0; key && i < m->n_meta; i++)
        if (!strcmp(m->meta[2 * i], key))
            return m->meta[2 * i + 1];
    return NULL;
}

static size_t tensor_bytes(const tensor *t) { return t->row_bytes * (size_t)t->rows; }

size_t attend_model_param_count(const attend_model *m)
{
    const attend_config *c = &m->config;
    size_t per_layer = 2 * (size_t)c->dim + (size_t)m->layers[0].wq.rows * c->dim * 2 +
                       (size_t)m->layers[0].wk.rows * c->dim * 2 + 3 * (size_t)c->hidden_dim * c->dim;
    size_t n = (size_t)c->vocab_size * c->dim + c->dim + per_layer * c->n_layers;
    if (!c->tied_output)
        n += (size_t)c->vocab_size * c->dim;
    return n;
}

size_t attend_model_weight_bytes(const attend_model *m)
{
    size_t n = tensor_bytes(&m->token_embedding);
    for (int l = 0; l < m->config.n_layers; l++) {
        const layer_weights *w = &m->layers[l];
        n += tensor_bytes(&w->wq) + tensor_bytes(&w->wk) + tensor_bytes(&w->wv) + tensor_bytes(&w->wo) +
             tensor_bytes(&w->w_gate) + tensor_bytes(&w->w_up) + tensor_bytes(&w->w_down) +
             2 * sizeof(float) * (size_t)m->config.dim;
    }
    if (!m->config.tied_output)
        n += tensor_bytes(&m->output);
    return n + sizeof(float) * (size_t)m->config.dim;
}
