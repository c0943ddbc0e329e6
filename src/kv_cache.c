/* kv_cache.c — allocation of the KV cache and the append of each step's keys and values. */
#include "kv_cache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fileio.h"
#include "rope.h"

/* The largest block of a supported type (Q8_0's): a padded row's last block fits this many floats. */
enum { MAX_KV_BLOCK = 32 };

int kv_cache_init(kv_cache *c, int n_layers, int n_ctx, int n_kv_heads, int head_dim, int type)
{
    const int block = type_traits_of(type)->block_size;
    const int stored_dim = (head_dim + block - 1) / block * block;
    const size_t row_bytes = type_row_bytes(type, stored_dim);
    const size_t per_tensor = (size_t)n_ctx * n_kv_heads * row_bytes;
    *c = (kv_cache){NULL, n_layers, NULL, per_tensor * 2 * (size_t)n_layers, NULL};
    c->memory = calloc(c->bytes ? c->bytes : 1, 1);
    c->layers = calloc((size_t)n_layers, sizeof *c->layers);
    if (!c->memory || !c->layers)
        return -1;
    for (int l = 0; l < n_layers; l++) {
        char *layer = (char *)c->memory + (size_t)l * per_tensor * 2;
        c->layers[l] = (kv_cache_layer){layer, layer + per_tensor, type, row_bytes, n_ctx, n_kv_heads,
                                        head_dim, stored_dim, 0, 0, NULL};
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

/* One row of head_dim floats into the cache's type (the type's reference conversion: F16 and
 * Q8_0 round the same way whichever kernel set the context runs). The whole blocks straight from
 * src; a last, partial block padded with zeros, which leave its scale (its largest magnitude / 127)
 * and so the rounding of its real values as they would be alone. */
static void store(const kv_cache_layer *c, void *dst, const float *src)
{
    const type_traits *tt = type_traits_of(c->type);
    const int whole = c->head_dim / tt->block_size * tt->block_size;
    tt->from_float(src, dst, whole);
    if (whole < c->head_dim) {
        float last[MAX_KV_BLOCK] = {0};
        memcpy(last, src + whole, sizeof(float) * (size_t)(c->head_dim - whole));
        tt->from_float(last, (char *)dst + (size_t)(whole / tt->block_size) * tt->block_bytes, tt->block_size);
    }
}

void kv_row_to_float(const kv_cache_layer *c, const void *row, float *dst)
{
    const type_traits *tt = type_traits_of(c->type);
    const int whole = c->head_dim / tt->block_size * tt->block_size;
    tt->to_float(row, dst, whole);
    if (whole < c->head_dim) {
        float last[MAX_KV_BLOCK];
        tt->to_float((const char *)row + (size_t)(whole / tt->block_size) * tt->block_bytes, last, tt->block_size);
        memcpy(dst + whole, last, sizeof(float) * (size_t)(c->head_dim - whole));
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

/* ==== Copy and context shift ==================================================================== */

int kv_cache_same_layout(const kv_cache *a, const kv_cache *b)
{
    if (a->n_layers != b->n_layers)
        return 0;
    if (a->n_layers == 0)
        return 1;
    const kv_cache_layer *x = &a->layers[0], *y = &b->layers[0];
    return x->type == y->type && x->n_kv_heads == y->n_kv_heads && x->head_dim == y->head_dim;
}

/* Bytes of n positions of one kv_head: they are contiguous in the layout. */
static size_t span_bytes(const kv_cache_layer *c, int n)
{
    return (size_t)n * c->row_bytes;
}

void kv_cache_copy(kv_cache *dst, const kv_cache *src, int n)
{
    for (int l = 0; l < dst->n_layers; l++) {
        kv_cache_layer *d = &dst->layers[l];
        const kv_cache_layer *s = &src->layers[l];
        for (int g = 0; g < d->n_kv_heads; g++) {
            memcpy(kv_key(d, g, 0), kv_key(s, g, 0), span_bytes(d, n));
            memcpy(kv_value(d, g, 0), kv_value(s, g, 0), span_bytes(d, n));
        }
    }
}

int kv_cache_shift(kv_cache *c, int n_filled, int keep, int n_discard, int rope_dim, float rope_base,
                   float rope_scale)
{
    const int n_moved = n_filled - keep - n_discard, n_pairs = rope_dim / 2;
    if (n_discard <= 0 || n_moved < 0)
        return 0;
    /* The rotation by -n_discard positions; each key is rotated in float (`row`) and stored back
     * in the cache's type. */
    const int head_dim = c->n_layers ? c->layers[0].head_dim : 0;
    float *cos_d = malloc(sizeof(float) * ((size_t)n_pairs * 2 + (size_t)head_dim + 1));
    if (!cos_d)
        return -1;
    float *sin_d = cos_d + n_pairs, *row = sin_d + n_pairs;
    rope_angles(cos_d, sin_d, rope_dim, -n_discard, rope_base, rope_scale);
    for (int l = 0; l < c->n_layers; l++) {
        kv_cache_layer *layer = &c->layers[l];
        for (int g = 0; g < layer->n_kv_heads; g++) {
            memmove(kv_key(layer, g, keep), kv_key(layer, g, keep + n_discard), span_bytes(layer, n_moved));
            memmove(kv_value(layer, g, keep), kv_value(layer, g, keep + n_discard), span_bytes(layer, n_moved));
            for (int p = keep; p < keep + n_moved; p++) {
                void *key = kv_key(layer, g, p);
                kv_row_to_float(layer, key, row);
                rope(row, 1, head_dim, rope_dim, cos_d, sin_d);
                store(layer, key, row);
            }
        }
    }
    free(cos_d);
    return 0;
}

/* ==== Save and load ================================================================================ */

/* FNV-1a, 64 bits: simple, and any changed byte changes it. Not a defence against an attacker
 * who forges files (nothing here is); a guard against truncation, bit rot and wrong files. */
static const uint64_t fnv_offset = 0xcbf29ce484222325ull, fnv_prime = 0x100000001b3ull;

static uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * fnv_prime;
    return h;
}

typedef struct {
    char magic[4];
    uint32_t version;
    uint64_t model_id;
    uint32_t n_layers, n_kv_heads, head_dim, kv_type;
    uint32_t n_tokens, reserved0;
    uint64_t data_bytes;
    uint8_t reserved[16];
} kv_file_header;
_Static_assert(sizeof(kv_file_header) == KV_FILE_HEADER, "the header is 64 bytes, without padding");

/* Bytes of K/V for n positions: every layer's keys and values. */
static uint64_t data_bytes(const kv_cache *c, int n)
{
    if (c->n_layers == 0)
        return 0;
    return (uint64_t)c->n_layers * 2 * c->layers[0].n_kv_heads * span_bytes(&c->layers[0], n);
}

/* fwrite that also feeds the checksum. */
static int put(FILE *f, uint64_t *h, const void *p, size_t n)
{
    *h = fnv1a(*h, p, n);
    return fwrite(p, 1, n, f) == n ? 0 : -1;
}

int kv_cache_save(const kv_cache *c, uint64_t model_id, const int *tokens, int n_tokens, const char *path,
                  char *err, size_t errlen)
{
    if (c->n_layers == 0 || n_tokens < 0 || n_tokens > c->layers[0].n_ctx)
        return set_error(err, errlen, "cannot save %d positions of a %d-position cache", n_tokens,
                         c->n_layers ? c->layers[0].n_ctx : 0);
    const kv_cache_layer *l0 = &c->layers[0];
    kv_file_header hdr = {{'A', 'T', 'K', 'V'}, KV_FILE_VERSION, model_id, (uint32_t)c->n_layers,
                          (uint32_t)l0->n_kv_heads, (uint32_t)l0->head_dim, (uint32_t)l0->type,
                          (uint32_t)n_tokens, 0, data_bytes(c, n_tokens), {0}};
    size_t len = strlen(path);
    char *tmp = malloc(len + 5);
    if (!tmp)
        return set_error(err, errlen, "out of memory");
    memcpy(tmp, path, len);
    memcpy(tmp + len, ".tmp", 5);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        set_error(err, errlen, "cannot write '%s': %s", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    uint64_t h = fnv_offset;
    int rc = put(f, &h, &hdr, sizeof hdr);
    for (int i = 0; i < n_tokens && rc == 0; i++) {
        int32_t t = tokens[i];
        rc = put(f, &h, &t, sizeof t);
    }
    for (int l = 0; l < c->n_layers && rc == 0; l++) {
        const kv_cache_layer *layer = &c->layers[l];
        for (int g = 0; g < layer->n_kv_heads && rc == 0; g++)
            rc = put(f, &h, kv_key(layer, g, 0), span_bytes(layer, n_tokens));
        for (int g = 0; g < layer->n_kv_heads && rc == 0; g++)
            rc = put(f, &h, kv_value(layer, g, 0), span_bytes(layer, n_tokens));
    }
    if (rc == 0)
        rc = fwrite(&h, sizeof h, 1, f) == 1 ? 0 : -1;
    int why = errno;
    if (fclose(f) != 0 && rc == 0) {
        rc = -1;
        why = errno;
    }
    if (rc == 0 && rename(tmp, path) != 0) {
        rc = -1;
        why = errno;
    }
    if (rc != 0) {
        set_error(err, errlen, "cannot write '%s': %s", path, strerror(why));
        remove(tmp);
    }
    free(tmp);
    return rc;
}

/* fread that also feeds the checksum; the caller has checked the file holds these bytes. */
static int get(FILE *f, uint64_t *h, void *p, size_t n)
{
    if (fread(p, 1, n, f) != n)
        return -1;
    *h = fnv1a(*h, p, n);
    return 0;
}

static const char *type_label(uint32_t type)
{
    return type == TYPE_F32 || type == TYPE_F16 || type == TYPE_Q8_0 ? type_traits_of((int)type)->name
                                                                       : "an unknown type";
}

int kv_cache_load(kv_cache *c, uint64_t model_id, const char *path, int *tokens, int max_tokens, char *err,
                  size_t errlen)
{
    struct stat st;
    int fd = open_regular_file(path, &st);
    if (fd == FILE_CANNOT_OPEN)
        return set_error(err, errlen, "cannot open '%s': %s", path, strerror(errno));
    if (fd == FILE_NOT_REGULAR)
        return set_error(err, errlen, "'%s' is not a regular file", path);
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return set_error(err, errlen, "cannot read '%s': %s", path, strerror(errno));
    }
    const uint64_t size = (uint64_t)st.st_size;
    const kv_cache_layer *l0 = c->n_layers ? &c->layers[0] : NULL;
    kv_file_header hdr;
    uint64_t h = fnv_offset;
    int n = -1;
    if (size < sizeof hdr + 8 || get(f, &h, &hdr, sizeof hdr) != 0) {
        set_error(err, errlen, "'%s' is truncated or not a KV cache file: %llu bytes, fewer than a header and "
                  "checksum (%d)", path, (unsigned long long)size, KV_FILE_HEADER + 8);
        goto done;
    }
    if (memcmp(hdr.magic, "ATKV", 4) != 0) {
        set_error(err, errlen, "'%s' is not a KV cache file (no ATKV magic)", path);
        goto done;
    }
    if (hdr.version != KV_FILE_VERSION) {
        set_error(err, errlen, "'%s' is a KV cache file of version %u; this build reads version %d", path,
                  hdr.version, KV_FILE_VERSION);
        goto done;
    }
    if (hdr.model_id != model_id) {
        set_error(err, errlen, "'%s' was saved by another model (fingerprint %016llx, this model's %016llx)",
                  path, (unsigned long long)hdr.model_id, (unsigned long long)model_id);
        goto done;
    }
    if (!l0 || hdr.n_layers != (uint32_t)c->n_layers || hdr.n_kv_heads != (uint32_t)l0->n_kv_heads ||
        hdr.head_dim != (uint32_t)l0->head_dim || hdr.kv_type != (uint32_t)l0->type) {
        set_error(err, errlen, "'%s' holds a cache of %u layers x %u kv heads x %u dims in %s, this context's "
                  "is %d x %d x %d in %s (see --kv-type)", path, hdr.n_layers, hdr.n_kv_heads, hdr.head_dim,
                  type_label(hdr.kv_type), c->n_layers, l0 ? l0->n_kv_heads : 0, l0 ? l0->head_dim : 0,
                  type_label(l0 ? (uint32_t)l0->type : 99u));
        goto done;
    }
    if (hdr.n_tokens > (uint32_t)l0->n_ctx || hdr.n_tokens > (uint32_t)(max_tokens > 0 ? max_tokens : 0)) {
        set_error(err, errlen, "'%s' holds %u positions, more than the %d this context takes", path, hdr.n_tokens,
                  l0->n_ctx < max_tokens ? l0->n_ctx : max_tokens);
        goto done;
    }
    /* Now that n_tokens is bounded by the context, the sizes cannot overflow. */
    const int count = (int)hdr.n_tokens;
    const uint64_t want = sizeof hdr + 4 * (uint64_t)count + data_bytes(c, count) + 8;
    if (hdr.data_bytes != data_bytes(c, count)) {
        set_error(err, errlen, "'%s' declares %llu bytes of keys and values for %d positions, expected %llu", path,
                  (unsigned long long)hdr.data_bytes, count, (unsigned long long)data_bytes(c, count));
        goto done;
    }
    if (size != want) {
        set_error(err, errlen, "'%s' is %s: %llu bytes, its header promises %llu", path,
                  size < want ? "truncated" : "longer than its contents", (unsigned long long)size,
                  (unsigned long long)want);
        goto done;
    }
    int ok = 1;
    for (int i = 0; i < count && ok; i++) {
        int32_t t;
        ok = get(f, &h, &t, sizeof t) == 0;
        tokens[i] = t;
    }
    for (int l = 0; l < c->n_layers && ok; l++) {
        kv_cache_layer *layer = &c->layers[l];
        for (int g = 0; g < layer->n_kv_heads && ok; g++)
            ok = get(f, &h, kv_key(layer, g, 0), span_bytes(layer, count)) == 0;
        for (int g = 0; g < layer->n_kv_heads && ok; g++)
            ok = get(f, &h, kv_value(layer, g, 0), span_bytes(layer, count)) == 0;
    }
    uint64_t stored;
    if (!ok || fread(&stored, sizeof stored, 1, f) != 1) {
        set_error(err, errlen, "cannot read '%s': %s", path, ferror(f) ? strerror(errno) : "it shrank");
        goto done;
    }
    if (stored != h) {
        set_error(err, errlen, "'%s' is corrupt: its checksum does not match its contents", path);
        goto done;
    }
    n = count;
done:
    fclose(f);
    return n;
}
