/* gguf.h — a bounded reader for GGUF files (versions 2 and 3), used in place over mmap.
 *
 * File layout (all little-endian):
 *   magic "GGUF" (uint32 0x46554747), version uint32, tensor_count uint64, kv_count uint64,
 *   kv_count key/value pairs:  key (gguf string), value type uint32, value
 *   tensor_count tensor infos: name (gguf string), n_dims uint32, dims uint64[n_dims]
 *                              (dims[0] varies fastest), type uint32, offset uint64
 *                              (relative to the start of the tensor data, a multiple of alignment)
 *   padding to `general.alignment` (default 32), then the tensor data.
 * A gguf string is a uint64 byte length followed by that many bytes, not NUL-terminated.
 * An array value is an element type uint32, a uint64 element count, then the elements.
 * Version 1 used 32-bit counts and is rejected.
 *
 * Every count, length and offset read from the file is checked against the bytes that remain:
 * a malformed file is an error with a message, never an out-of-bounds read. */
#ifndef ATTEND_GGUF_H
#define ATTEND_GGUF_H

#include <stddef.h>
#include <stdint.h>

enum gguf_value_type {
    GGUF_UINT8 = 0, GGUF_INT8 = 1, GGUF_UINT16 = 2, GGUF_INT16 = 3, GGUF_UINT32 = 4, GGUF_INT32 = 5,
    GGUF_FLOAT32 = 6, GGUF_BOOL = 7, GGUF_STRING = 8, GGUF_ARRAY = 9, GGUF_UINT64 = 10,
    GGUF_INT64 = 11, GGUF_FLOAT64 = 12, GGUF_TYPE_COUNT = 13
};

typedef struct {
    const char *ptr;     /* into the mapping; NOT NUL-terminated */
    uint64_t len;
} gguf_str;

typedef struct {
    gguf_str key;
    uint32_t type;           /* enum gguf_value_type */
    const uint8_t *value;    /* the raw encoded value inside the mapping */
    /* arrays: */
    uint32_t array_type;
    uint64_t array_len;
    const uint8_t *array_data;   /* first element */
    const uint64_t *str_offsets; /* arrays of strings: byte offset of each element from array_data (heap) */
} gguf_kv;

typedef struct {
    gguf_str name;
    uint32_t n_dims;
    uint64_t dims[4];        /* dims[0] is the fastest-varying (the row length) */
    uint32_t type;           /* ggml type id (see tensor.h) */
    uint64_t offset;         /* from the start of the tensor data */
    uint64_t n_elements;
    uint64_t n_bytes;        /* 0 when the type has no type traits */
    const void *data;        /* into the mapping, or NULL when the type is unknown */
} gguf_tensor;

typedef struct {
    const uint8_t *base;     /* the mapped file */
    size_t size;
    uint32_t version;
    uint64_t n_kv, n_tensors;
    gguf_kv *kv;             /* n_kv entries (heap) */
    gguf_tensor *tensors;    /* n_tensors entries (heap) */
    uint64_t alignment;
    uint64_t data_offset;    /* where the tensor data starts in the file */
} gguf_file;

/* Parse a GGUF image of `size` bytes at `base` (the caller maps and unmaps it). Validates the
 * header, every kv and tensor info, tensor extents (inside the file, non-overlapping, aligned,
 * names unique). Returns 0, or -1 with a one-line reason in err. */
int gguf_parse(gguf_file *g, const void *base, size_t size, char *err, size_t errlen);
void gguf_release(gguf_file *g);   /* frees the heap arrays; the mapping is the caller's */

/* Lookups: NULL / -1 when absent or of another type. Integer getters accept any integer type
 * whose value fits. */
const gguf_kv *gguf_find_kv(const gguf_file *g, const char *key);
int gguf_get_u32(const gguf_file *g, const char *key, uint32_t *out);
int gguf_get_f32(const gguf_file *g, const char *key, float *out);
int gguf_get_str(const gguf_file *g, const char *key, gguf_str *out);
/* Element i of an array of strings, in O(1): gguf_parse bounds-checks and indexes every string
 * array. An empty string for another kind of kv or an i out of range. */
gguf_str gguf_array_str(const gguf_kv *kv, uint64_t i);
const gguf_tensor *gguf_find_tensor(const gguf_file *g, const char *name);

#endif
