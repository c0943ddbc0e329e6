/* gguf.c — the bounded GGUF reader.
 *
 * A GGUF file is read front to back in four parts, and this file follows the same order:
 *   1. the header:      "GGUF", version, tensor count, kv count
 *   2. the metadata:    kv_count typed key/value pairs (general.architecture, llama.block_count,
 *                       tokenizer.ggml.tokens, ...)
 *   3. the tensor infos: name, shape, type and offset of each tensor
 *   4. the tensor data: after padding to general.alignment; each tensor at its offset from there.
 * Nothing is copied: strings, arrays and tensor data are pointers into the caller's mapping.
 *
 * The file is untrusted input. Every count, length and offset is checked against the bytes that
 * remain BEFORE it is used to read, skip or allocate, and every check that fails says what was
 * wrong and at which byte, in one line. The work done is proportional to the file size: each
 * element visited consumes at least one byte of the file, and each allocation is bounded by it. */
#include "gguf.h"
#include "tensor.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ==== Constants of the format and our limits ==== */

#define GGUF_MAGIC             0x46554747u   /* the bytes "GGUF" read as a little-endian uint32 */
#define GGUF_DEFAULT_ALIGNMENT 32            /* when general.alignment is absent */
#define GGUF_MAX_ALIGNMENT     (1u << 20)    /* larger is not a layout, it is a corrupt file */
#define GGUF_MAX_DIMS          4
#define GGUF_MAX_ELEMENTS      (1ull << 40)  /* per tensor: 4 TiB of F32, far past any real model */
#define GGUF_MAX_KEY_BYTES     65535         /* the spec's limit on a key's length */
/* The spec allows arrays of arrays without a limit; real files use none. Bounding the nesting
 * bounds the recursion (and so the stack) on a hostile file. */
#define GGUF_MAX_ARRAY_DEPTH   3

/* The smallest encodings, used to reject counts before anything is allocated for them:
 * a kv is a key (8-byte length, may be empty), a 4-byte type and at least a 1-byte value;
 * a tensor info is a name (8), n_dims (4), at least one dim (8), type (4) and offset (8). */
#define GGUF_MIN_KV_BYTES      (8 + 4 + 1)
#define GGUF_MIN_TENSOR_BYTES  (8 + 4 + 8 + 4 + 8)

/* Encoded size of each scalar value type; 0 for the two variable-length ones. */
static const uint8_t value_size[GGUF_TYPE_COUNT] = {
    [GGUF_UINT8] = 1, [GGUF_INT8] = 1, [GGUF_UINT16] = 2, [GGUF_INT16] = 2, [GGUF_UINT32] = 4,
    [GGUF_INT32] = 4, [GGUF_FLOAT32] = 4, [GGUF_BOOL] = 1, [GGUF_UINT64] = 8, [GGUF_INT64] = 8,
    [GGUF_FLOAT64] = 8,
};
static const char *const value_name[GGUF_TYPE_COUNT] = {
    "UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32", "BOOL", "STRING", "ARRAY",
    "UINT64", "INT64", "FLOAT64",
};

/* ==== The cursor: a position in the image and the context for error messages ==== */

typedef struct {
    const uint8_t *base;
    size_t size, pos;
    char where[160];        /* "header", "kv 3 'general.name'", "tensor 'output.weight'" */
    char *err;
    size_t errlen;
} reader;

/* Little-endian loads, byte by byte: no alignment assumed, no host byte order assumed. */
static uint64_t load_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* Write "gguf: <where>: <message>" into err and return -1. */
static int fail(reader *r, const char *fmt, ...)
{
    if (!r->err || r->errlen == 0) return -1;
    int n = snprintf(r->err, r->errlen, "gguf: %s: ", r->where);
    if (n < 0 || (size_t)n >= r->errlen) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err + n, r->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

/* A name from the file, made safe to print on one line: at most 64 bytes, control and non-ASCII
 * bytes shown as '?'. */
static const char *printable(gguf_str s, char out[72])
{
    size_t n = s.len < 64 ? (size_t)s.len : 64, i;
    for (i = 0; i < n; i++) out[i] = (s.ptr[i] >= 0x20 && s.ptr[i] < 0x7f) ? s.ptr[i] : '?';
    strcpy(out + i, s.len > 64 ? "..." : "");
    return out;
}

static size_t remaining(const reader *r) { return r->size - r->pos; }

/* Every read goes through need(): it is the one place that compares against the end of file. */
static int need(reader *r, uint64_t n, const char *what)
{
    if (n > remaining(r))
        return fail(r, "%s at byte %zu needs %llu bytes but the file ends at byte %zu",
                    what, r->pos, (unsigned long long)n, r->size);
    return 0;
}

static int read_u32(reader *r, uint32_t *v, const char *what)
{
    if (need(r, 4, what)) return -1;
    *v = (uint32_t)load_le(r->base + r->pos, 4);
    r->pos += 4;
    return 0;
}

static int read_u64(reader *r, uint64_t *v, const char *what)
{
    if (need(r, 8, what)) return -1;
    *v = load_le(r->base + r->pos, 8);
    r->pos += 8;
    return 0;
}

/* A gguf string: a uint64 byte length, then the bytes (UTF-8, no terminating NUL). */
static int read_str(reader *r, gguf_str *s, const char *what)
{
    uint64_t len;
    if (read_u64(r, &len, what)) return -1;
    if (len > remaining(r))
        return fail(r, "%s of %llu bytes at byte %zu runs past the end of the file (%zu bytes)",
                    what, (unsigned long long)len, r->pos - 8, r->size);
    s->ptr = (const char *)r->base + r->pos;
    s->len = len;
    r->pos += (size_t)len;
    return 0;
}

/* ==== 1. The header ==== */

/* Magic, version, then the two counts, each checked against the bytes that
 * remain so that the arrays allocated for them are bounded by the file size. */
static int parse_header(gguf_file *g, reader *r)
{
    uint32_t magic;
    snprintf(r->where, sizeof r->where, "header");
    if (read_u32(r, &magic, "magic")) return -1;
    if (magic != GGUF_MAGIC)
        return fail(r, "bad magic 0x%08x (expected 0x%08x, \"GGUF\")", magic, GGUF_MAGIC);
    if (read_u32(r, &g->version, "version")) return -1;
    /* v1 used 32-bit counts; v3 only added the option of a big-endian file, which shows here
     * as a byte-swapped version number. */
    if (g->version == 0x02000000u || g->version == 0x03000000u)
        return fail(r, "big-endian GGUF files are not supported");
    if (g->version != 2 && g->version != 3)
        return fail(r, "version %u is not supported (only 2 and 3)", g->version);
    if (read_u64(r, &g->n_tensors, "tensor count") || read_u64(r, &g->n_kv, "kv count")) return -1;
    if (g->n_kv > remaining(r) / GGUF_MIN_KV_BYTES)
        return fail(r, "kv count %llu cannot fit in the %zu bytes that remain",
                    (unsigned long long)g->n_kv, remaining(r));
    size_t after_kvs = remaining(r) - (size_t)g->n_kv * GGUF_MIN_KV_BYTES;
    if (g->n_tensors > after_kvs / GGUF_MIN_TENSOR_BYTES)
        return fail(r, "tensor count %llu cannot fit in the %zu bytes that remain",
                    (unsigned long long)g->n_tensors, remaining(r));
    g->kv = calloc(g->n_kv ? (size_t)g->n_kv : 1, sizeof *g->kv);
    g->tensors = calloc(g->n_tensors ? (size_t)g->n_tensors : 1, sizeof *g->tensors);
    if (!g->kv || !g->tensors) return fail(r, "out of memory");
    return 0;
}

/* ==== 2. The metadata: typed values ==== */

static int skip_value(reader *r, uint32_t type, int depth);

/* An array: element type uint32, element count uint64, then the elements back to back.
 * Arrays of fixed-size elements are skipped in one step once count * size is known to fit.
 * Arrays of strings or arrays are walked element by element; when `kv` is given (a top-level
 * array of strings), the offset of each string is recorded so gguf_array_str is O(1). */
static int read_array(reader *r, int depth, gguf_kv *kv)
{
    uint32_t elem;
    uint64_t n;
    if (depth > GGUF_MAX_ARRAY_DEPTH)
        return fail(r, "arrays nested deeper than %d at byte %zu", GGUF_MAX_ARRAY_DEPTH, r->pos);
    if (read_u32(r, &elem, "array element type") || read_u64(r, &n, "array length")) return -1;
    if (elem >= GGUF_TYPE_COUNT)
        return fail(r, "unknown array element type %u at byte %zu", elem, r->pos - 12);
    const uint8_t *data = r->base + r->pos;
    if (kv) {
        kv->array_type = elem;
        kv->array_len = n;
        kv->array_data = data;
    }
    if (value_size[elem]) {
        if (n > remaining(r) / value_size[elem])
            return fail(r, "array of %llu %s at byte %zu runs past the end of the file (%zu bytes)",
                        (unsigned long long)n, value_name[elem], r->pos - 12, r->size);
        r->pos += (size_t)n * value_size[elem];
        return 0;
    }
    /* A string needs at least its 8-byte length, an array its 12-byte header: reject a count
     * the remaining bytes cannot hold before allocating or looping over it. */
    size_t min_bytes = elem == GGUF_STRING ? 8 : 12;
    if (n > remaining(r) / min_bytes)
        return fail(r, "array of %llu %s at byte %zu cannot fit in the %zu bytes that remain",
                    (unsigned long long)n, value_name[elem], r->pos - 12, remaining(r));
    uint64_t *offsets = NULL;
    if (kv && elem == GGUF_STRING && n > 0) {
        offsets = malloc((size_t)n * sizeof *offsets);
        if (!offsets) return fail(r, "out of memory indexing %llu strings", (unsigned long long)n);
        kv->str_offsets = offsets;   /* owned by the kv from here, freed by gguf_release */
    }
    for (uint64_t i = 0; i < n; i++) {
        if (offsets) offsets[i] = (uint64_t)(r->base + r->pos - data);
        if (skip_value(r, elem, depth)) return -1;
    }
    return 0;
}

static int skip_value(reader *r, uint32_t type, int depth)
{
    gguf_str s;
    if (type == GGUF_STRING) return read_str(r, &s, "string value");
    if (type == GGUF_ARRAY) return read_array(r, depth + 1, NULL);
    if (need(r, value_size[type], value_name[type])) return -1;
    r->pos += value_size[type];
    return 0;
}

/* Order for the duplicate check: by length, then bytes. */
static int str_cmp(gguf_str a, gguf_str b)
{
    if (a.len != b.len) return a.len < b.len ? -1 : 1;
    return memcmp(a.ptr, b.ptr, (size_t)a.len);
}
static int kv_cmp(const void *a, const void *b)
{
    return str_cmp((*(const gguf_kv *const *)a)->key, (*(const gguf_kv *const *)b)->key);
}

/* Each kv: key (gguf string), value type uint32, value. */
static int parse_kvs(gguf_file *g, reader *r)
{
    for (uint64_t i = 0; i < g->n_kv; i++) {
        gguf_kv *kv = &g->kv[i];
        char name[72];
        snprintf(r->where, sizeof r->where, "kv %llu", (unsigned long long)i);
        if (read_str(r, &kv->key, "key")) return -1;
        snprintf(r->where, sizeof r->where, "kv %llu '%s'", (unsigned long long)i,
                 printable(kv->key, name));
        if (kv->key.len > GGUF_MAX_KEY_BYTES)
            return fail(r, "key of %llu bytes is longer than the spec's %d",
                        (unsigned long long)kv->key.len, GGUF_MAX_KEY_BYTES);
        if (read_u32(r, &kv->type, "value type")) return -1;
        if (kv->type >= GGUF_TYPE_COUNT)
            return fail(r, "unknown value type %u at byte %zu", kv->type, r->pos - 4);
        kv->value = r->base + r->pos;
        if (kv->type == GGUF_ARRAY ? read_array(r, 1, kv) : skip_value(r, kv->type, 0)) return -1;
    }
    /* Unique keys, checked by sorting pointers: O(n log n) however many kvs a file claims. */
    snprintf(r->where, sizeof r->where, "metadata");
    if (g->n_kv < 2) return 0;
    const gguf_kv **sorted = malloc((size_t)g->n_kv * sizeof *sorted);
    if (!sorted) return fail(r, "out of memory sorting %llu keys", (unsigned long long)g->n_kv);
    for (uint64_t i = 0; i < g->n_kv; i++) sorted[i] = &g->kv[i];
    qsort(sorted, (size_t)g->n_kv, sizeof *sorted, kv_cmp);
    int rc = 0;
    for (uint64_t i = 1; i < g->n_kv && rc == 0; i++)
        if (str_cmp(sorted[i - 1]->key, sorted[i]->key) == 0) {
            char name[72];
            rc = fail(r, "duplicate key '%s' (kv %td and kv %td)", printable(sorted[i]->key, name),
                      sorted[i - 1] - g->kv, sorted[i] - g->kv);
        }
    free(sorted);
    return rc;
}

/* An integer value of any width and signedness, if it is one and is not negative. */
static int kv_to_u64(const gguf_kv *kv, uint64_t *out)
{
    if (!kv) return -1;
    switch (kv->type) {
    case GGUF_UINT8: case GGUF_UINT16: case GGUF_UINT32: case GGUF_UINT64:
        *out = load_le(kv->value, value_size[kv->type]);
        return 0;
    case GGUF_INT8: case GGUF_INT16: case GGUF_INT32: case GGUF_INT64: {
        int bits = 8 * value_size[kv->type];
        uint64_t v = load_le(kv->value, value_size[kv->type]);
        if (v >> (bits - 1) & 1) return -1;   /* the sign bit: negative */
        *out = v;
        return 0;
    }
    default:
        return -1;
    }
}

/* general.alignment: the tensor data starts at, and every tensor offset is, a multiple of it. */
static int parse_alignment(gguf_file *g, reader *r)
{
    const gguf_kv *kv = gguf_find_kv(g, "general.alignment");
    uint64_t a = GGUF_DEFAULT_ALIGNMENT;
    snprintf(r->where, sizeof r->where, "general.alignment");
    if (kv && kv_to_u64(kv, &a))
        return fail(r, "must be a non-negative integer, not a %s value", value_name[kv->type]);
    if (a == 0 || (a & (a - 1)) != 0 || a > GGUF_MAX_ALIGNMENT)
        return fail(r, "%llu is not a power of two between 1 and %u",
                    (unsigned long long)a, GGUF_MAX_ALIGNMENT);
    g->alignment = a;
    return 0;
}

/* ==== 3. The tensor infos ==== */

/* Each: name (gguf string), n_dims uint32, dims uint64[n_dims], type uint32, offset uint64. */
static int parse_tensor_info(reader *r, gguf_tensor *t, uint64_t i)
{
    char name[72];
    snprintf(r->where, sizeof r->where, "tensor %llu", (unsigned long long)i);
    if (read_str(r, &t->name, "name")) return -1;
    snprintf(r->where, sizeof r->where, "tensor '%s'", printable(t->name, name));
    if (read_u32(r, &t->n_dims, "n_dims")) return -1;
    if (t->n_dims == 0 || t->n_dims > GGUF_MAX_DIMS)
        return fail(r, "n_dims %u is not between 1 and %d", t->n_dims, GGUF_MAX_DIMS);
    t->n_elements = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        if (read_u64(r, &t->dims[d], "dimension")) return -1;
        if (t->dims[d] == 0) return fail(r, "dims[%u] is 0", d);
        /* n * dim <= max, written so that it cannot overflow */
        if (t->dims[d] > GGUF_MAX_ELEMENTS / t->n_elements)
            return fail(r, "more than 2^40 elements (dims[%u] = %llu)", d,
                        (unsigned long long)t->dims[d]);
        t->n_elements *= t->dims[d];
    }
    if (read_u32(r, &t->type, "type") || read_u64(r, &t->offset, "offset")) return -1;
    return 0;
}

/* ==== 4. The tensor data ==== */

/* With the data offset known, place each tensor: its offset aligned, its bytes inside the file.
 * A tensor of a type without type traits (tensor.h) is kept with data = NULL and n_bytes = 0:
 * its size is unknown, so it cannot be bounds- or overlap-checked, and the loader reports it by
 * name if the model needs it (a tool listing a file's tensors does not). */
static int place_tensor(const gguf_file *g, reader *r, gguf_tensor *t)
{
    char name[72];
    snprintf(r->where, sizeof r->where, "tensor '%s'", printable(t->name, name));
    if (t->offset % g->alignment)
        return fail(r, "offset %llu is not a multiple of the alignment %llu",
                    (unsigned long long)t->offset, (unsigned long long)g->alignment);
    const type_traits *traits = type_traits_of((int)t->type);
    if (!traits) return 0;
    if (t->dims[0] % (uint64_t)traits->block_size)
        return fail(r, "row length %llu is not a multiple of the %s block size %d",
                    (unsigned long long)t->dims[0], traits->name, traits->block_size);
    /* dims[0] <= 2^40 and a block is a few bytes per element: no overflow. */
    t->n_bytes = type_row_bytes((int)t->type, (int64_t)t->dims[0]) * (t->n_elements / t->dims[0]);
    /* Compared by subtraction, so that a huge offset cannot wrap around the sum. */
    if (g->data_offset > g->size || t->offset > g->size - g->data_offset)
        return fail(r, "offset %llu puts its data past the end of the file (%zu bytes, data at %llu)",
                    (unsigned long long)t->offset, g->size, (unsigned long long)g->data_offset);
    uint64_t start = g->data_offset + t->offset;
    if (t->n_bytes > g->size - start)
        return fail(r, "data [%llu, %llu) ends past the end of the file (%zu bytes)",
                    (unsigned long long)start, (unsigned long long)(start + t->n_bytes), g->size);
    t->data = g->base + start;
    return 0;
}

static int tensor_name_cmp(const void *a, const void *b)
{
    return str_cmp((*(const gguf_tensor *const *)a)->name, (*(const gguf_tensor *const *)b)->name);
}
static int tensor_offset_cmp(const void *a, const void *b)
{
    uint64_t x = (*(const gguf_tensor *const *)a)->offset, y = (*(const gguf_tensor *const *)b)->offset;
    return (x > y) - (x < y);
}

/* Unique names and disjoint extents, both by sorting pointers to the tensors. */
static int check_tensors_disjoint(gguf_file *g, reader *r)
{
    snprintf(r->where, sizeof r->where, "tensors");
    if (g->n_tensors < 2) return 0;
    const gguf_tensor **sorted = malloc((size_t)g->n_tensors * sizeof *sorted);
    if (!sorted) return fail(r, "out of memory sorting %llu tensors", (unsigned long long)g->n_tensors);
    for (uint64_t i = 0; i < g->n_tensors; i++) sorted[i] = &g->tensors[i];
    int rc = 0;
    char a[72], b[72];
    qsort(sorted, (size_t)g->n_tensors, sizeof *sorted, tensor_name_cmp);
    for (uint64_t i = 1; i < g->n_tensors && rc == 0; i++)
        if (str_cmp(sorted[i - 1]->name, sorted[i]->name) == 0)
            rc = fail(r, "duplicate tensor name '%s' (tensor %td and tensor %td)",
                      printable(sorted[i]->name, a), sorted[i - 1] - g->tensors,
                      sorted[i] - g->tensors);
    /* Sorted by offset, extents are disjoint iff each ends before the next one starts. Tensors
     * of unknown type (n_bytes 0) have no known extent and take no part. */
    qsort(sorted, (size_t)g->n_tensors, sizeof *sorted, tensor_offset_cmp);
    const gguf_tensor *prev = NULL;
    for (uint64_t i = 0; i < g->n_tensors && rc == 0; i++) {
        const gguf_tensor *t = sorted[i];
        if (t->n_bytes == 0) continue;
        if (prev && prev->offset + prev->n_bytes > t->offset)
            rc = fail(r, "'%s' data [%llu, %llu) overlaps '%s' data [%llu, %llu)",
                      printable(prev->name, a), (unsigned long long)(g->data_offset + prev->offset),
                      (unsigned long long)(g->data_offset + prev->offset + prev->n_bytes),
                      printable(t->name, b), (unsigned long long)(g->data_offset + t->offset),
                      (unsigned long long)(g->data_offset + t->offset + t->n_bytes));
        prev = t;
    }
    free(sorted);
    return rc;
}

/* ==== The whole file ==== */

int gguf_parse(gguf_file *g, const void *base, size_t size, char *err, size_t errlen)
{
    reader r = { .base = base, .size = base ? size : 0, .err = err, .errlen = errlen };
    memset(g, 0, sizeof *g);
    g->base = r.base;
    g->size = r.size;
    if (err && errlen) err[0] = '\0';
    if (parse_header(g, &r) || parse_kvs(g, &r) || parse_alignment(g, &r)) goto fail;
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (parse_tensor_info(&r, &g->tensors[i], i)) goto fail;
    /* The data starts at the next multiple of the alignment. It may lie past the end of a file
     * with no tensor data (a vocab-only file ends right after the infos). */
    g->data_offset = (r.pos + g->alignment - 1) / g->alignment * g->alignment;
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (place_tensor(g, &r, &g->tensors[i])) goto fail;
    if (check_tensors_disjoint(g, &r)) goto fail;
    return 0;
fail:
    gguf_release(g);
    return -1;
}

void gguf_release(gguf_file *g)
{
    if (!g) return;
    if (g->kv)
        for (uint64_t i = 0; i < g->n_kv; i++) free((void *)g->kv[i].str_offsets);
    free(g->kv);
    free(g->tensors);
    memset(g, 0, sizeof *g);
}

/* ==== Lookups ==== */

static int str_eq(gguf_str s, const char *c)
{
    size_t n = strlen(c);
    return s.len == n && memcmp(s.ptr, c, n) == 0;
}

const gguf_kv *gguf_find_kv(const gguf_file *g, const char *key)
{
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (str_eq(g->kv[i].key, key)) return &g->kv[i];
    return NULL;
}

int gguf_get_u32(const gguf_file *g, const char *key, uint32_t *out)
{
    uint64_t v;
    if (kv_to_u64(gguf_find_kv(g, key), &v) || v > UINT32_MAX) return -1;
    *out = (uint32_t)v;
    return 0;
}

int gguf_get_f32(const gguf_file *g, const char *key, float *out)
{
    const gguf_kv *kv = gguf_find_kv(g, key);
    if (!kv) return -1;
    if (kv->type == GGUF_FLOAT32) {
        uint32_t bits = (uint32_t)load_le(kv->value, 4);
        memcpy(out, &bits, 4);
    } else if (kv->type == GGUF_FLOAT64) {
        uint64_t bits = load_le(kv->value, 8);
        double d;
        memcpy(&d, &bits, 8);
        *out = (float)d;
    } else {
        return -1;
    }
    return 0;
}

int gguf_get_str(const gguf_file *g, const char *key, gguf_str *out)
{
    const gguf_kv *kv = gguf_find_kv(g, key);
    if (!kv || kv->type != GGUF_STRING) return -1;
    out->len = load_le(kv->value, 8);
    out->ptr = (const char *)kv->value + 8;
    return 0;
}

gguf_str gguf_array_str(const gguf_kv *kv, uint64_t i)
{
    gguf_str s = { "", 0 };
    if (!kv || kv->type != GGUF_ARRAY || kv->array_type != GGUF_STRING || i >= kv->array_len ||
        !kv->str_offsets)
        return s;
    const uint8_t *p = kv->array_data + kv->str_offsets[i];
    s.len = load_le(p, 8);
    s.ptr = (const char *)p + 8;
    return s;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *g, const char *name)
{
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (str_eq(g->tensors[i].name, name)) return &g->tensors[i];
    return NULL;
}
