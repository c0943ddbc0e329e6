/* test_gguf.c — the GGUF reader on hand-built images (valid and malformed) and on ../shared. */
#include "formats/gguf.h"
#include "tensor.h"
#include "test.h"

#include <stdint.h>

/* ==== A little GGUF writer: appends little-endian fields to a growing buffer ==== */

typedef struct {
    uint8_t *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *src, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}
static void put_le(buf *b, uint64_t v, int bytes)
{
    uint8_t x[8];
    for (int i = 0; i < bytes; i++) x[i] = (uint8_t)(v >> (8 * i));
    put(b, x, (size_t)bytes);
}
static void put_u8(buf *b, uint8_t v) { put_le(b, v, 1); }
static void put_u32(buf *b, uint32_t v) { put_le(b, v, 4); }
static void put_u64(buf *b, uint64_t v) { put_le(b, v, 8); }
static void put_f32(buf *b, float f) { uint32_t u; memcpy(&u, &f, 4); put_u32(b, u); }
static void put_f64(buf *b, double d) { uint64_t u; memcpy(&u, &d, 8); put_u64(b, u); }
static void put_str(buf *b, const char *s) { put_u64(b, strlen(s)); put(b, s, strlen(s)); }
static void pad_to(buf *b, size_t alignment) { while (b->n % alignment) put_u8(b, 0); }

static void put_header(buf *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
    put_u32(b, 0x46554747u);
    put_u32(b, version);
    put_u64(b, n_tensors);
    put_u64(b, n_kv);
}
/* key, then type: the caller writes the value */
static void put_key(buf *b, const char *key, uint32_t type) { put_str(b, key); put_u32(b, type); }
static void put_kv_u32(buf *b, const char *key, uint32_t v) { put_key(b, key, GGUF_UINT32); put_u32(b, v); }
static void put_kv_str(buf *b, const char *key, const char *v) { put_key(b, key, GGUF_STRING); put_str(b, v); }

static void put_tensor_info(buf *b, const char *name, uint32_t n_dims, const uint64_t *dims,
                            uint32_t type, uint64_t offset)
{
    put_str(b, name);
    put_u32(b, n_dims);
    for (uint32_t i = 0; i < n_dims; i++) put_u64(b, dims[i]);
    put_u32(b, type);
    put_u64(b, offset);
}

/* Data bytes: value i of tensor `tag` is tag * 1000 + i, so a wrong offset shows. */
static void put_f32_data(buf *b, int tag, int n)
{
    for (int i = 0; i < n; i++) put_f32(b, (float)(tag * 1000 + i));
}

/* A file of two F32 tensors under the given alignment (0: no general.alignment kv). */
static buf two_tensor_file(uint32_t alignment)
{
    buf b = { 0 };
    size_t align = alignment ? alignment : 32;
    put_header(&b, 3, 2, alignment ? 2 : 1);
    put_kv_str(&b, "general.architecture", "llama");
    if (alignment) put_kv_u32(&b, "general.alignment", alignment);
    uint64_t a_dims[2] = { 4, 3 }, b_dims[1] = { 5 };
    /* a: 48 bytes at 0; b at the next multiple of the alignment */
    size_t b_offset = (48 + align - 1) / align * align;
    put_tensor_info(&b, "a.weight", 2, a_dims, TYPE_F32, 0);
    put_tensor_info(&b, "b.weight", 1, b_dims, TYPE_F32, b_offset);
    pad_to(&b, align);
    put_f32_data(&b, 1, 12);
    pad_to(&b, align);
    put_f32_data(&b, 2, 5);
    return b;
}

static char err[256];

/* Parse must fail, with a one-line message containing `expect`, leaving a released struct. */
static void expect_reject(buf *b, const char *expect)
{
    gguf_file g;
    err[0] = '\0';
    int rc = gguf_parse(&g, b->p, b->n, err, sizeof err);
    free(b->p);
    CHECKF(rc == -1, "parse accepted a file that should fail with '%s'", expect);
    CHECKF(strstr(err, expect) != NULL, "error '%s' does not mention '%s'", err, expect);
    CHECKF(strncmp(err, "gguf: ", 6) == 0 && !strchr(err, '\n'), "error not one 'gguf:' line: %s", err);
    CHECK(g.kv == NULL && g.tensors == NULL && g.n_kv == 0);
    gguf_release(&g);   /* a second release of a failed struct is harmless */
}

/* ==== Valid files ==== */

/* One kv of every value type, an array of strings, an array of ints and an array of arrays. */
static buf every_type_file(void)
{
    buf b = { 0 };
    put_header(&b, 3, 1, 17);
    put_key(&b, "t.u8", GGUF_UINT8);    put_u8(&b, 200);
    put_key(&b, "t.i8", GGUF_INT8);     put_u8(&b, (uint8_t)-5);
    put_key(&b, "t.u16", GGUF_UINT16);  put_le(&b, 60000, 2);
    put_key(&b, "t.i16", GGUF_INT16);   put_le(&b, (uint16_t)-300, 2);
    put_key(&b, "t.u32", GGUF_UINT32);  put_u32(&b, 4000000000u);
    put_key(&b, "t.i32", GGUF_INT32);   put_u32(&b, (uint32_t)-7);
    put_key(&b, "t.f32", GGUF_FLOAT32); put_f32(&b, 1e-5f);
    put_key(&b, "t.bool", GGUF_BOOL);   put_u8(&b, 1);
    put_kv_str(&b, "t.str", "hello");
    put_key(&b, "t.u64", GGUF_UINT64);  put_u64(&b, 1ull << 40);
    put_key(&b, "t.i64", GGUF_INT64);   put_u64(&b, 123);
    put_key(&b, "t.f64", GGUF_FLOAT64); put_f64(&b, 0.25);
    put_key(&b, "t.u64small", GGUF_UINT64); put_u64(&b, 77);
    put_key(&b, "t.tokens", GGUF_ARRAY); put_u32(&b, GGUF_STRING); put_u64(&b, 4);
    put_str(&b, "<unk>"); put_str(&b, ""); put_str(&b, "hello world"); put_str(&b, "z");
    put_key(&b, "t.ints", GGUF_ARRAY); put_u32(&b, GGUF_INT32); put_u64(&b, 3);
    put_u32(&b, 1); put_u32(&b, 2); put_u32(&b, 3);
    /* [[1.5], []] */
    put_key(&b, "t.nested", GGUF_ARRAY); put_u32(&b, GGUF_ARRAY); put_u64(&b, 2);
    put_u32(&b, GGUF_FLOAT32); put_u64(&b, 1); put_f32(&b, 1.5f);
    put_u32(&b, GGUF_STRING); put_u64(&b, 0);
    put_kv_u32(&b, "general.alignment", 32);
    uint64_t dims[2] = { 32, 2 };
    put_tensor_info(&b, "q.weight", 2, dims, TYPE_Q8_0, 0);
    pad_to(&b, 32);
    for (int i = 0; i < 2 * 34; i++) put_u8(&b, (uint8_t)i);
    return b;
}

static void test_gguf_parses_every_value_type(void)
{
    buf b = every_type_file();
    gguf_file g;
    CHECKF(gguf_parse(&g, b.p, b.n, err, sizeof err) == 0, "%s", err);
    CHECK(g.version == 3 && g.n_kv == 17 && g.n_tensors == 1 && g.alignment == 32);
    uint32_t u;
    CHECK(gguf_get_u32(&g, "t.u8", &u) == 0 && u == 200);
    CHECK(gguf_get_u32(&g, "t.u16", &u) == 0 && u == 60000);
    CHECK(gguf_get_u32(&g, "t.u32", &u) == 0 && u == 4000000000u);
    CHECK(gguf_get_u32(&g, "t.i64", &u) == 0 && u == 123);
    CHECK(gguf_get_u32(&g, "t.u64small", &u) == 0 && u == 77);
    float f;
    CHECK(gguf_get_f32(&g, "t.f32", &f) == 0 && f == 1e-5f);
    CHECK(gguf_get_f32(&g, "t.f64", &f) == 0 && f == 0.25f);
    gguf_str s;
    CHECK(gguf_get_str(&g, "t.str", &s) == 0 && s.len == 5 && memcmp(s.ptr, "hello", 5) == 0);
    const gguf_kv *kv = gguf_find_kv(&g, "t.bool");
    CHECK(kv && kv->type == GGUF_BOOL && kv->value[0] == 1);
    kv = gguf_find_kv(&g, "t.i16");
    CHECK(kv && kv->type == GGUF_INT16 && (int16_t)(kv->value[0] | kv->value[1] << 8) == -300);
    kv = gguf_find_kv(&g, "t.ints");
    CHECK(kv && kv->type == GGUF_ARRAY && kv->array_type == GGUF_INT32 && kv->array_len == 3);
    CHECK(kv->array_data[8] == 3);
    kv = gguf_find_kv(&g, "t.nested");
    CHECK(kv && kv->array_type == GGUF_ARRAY && kv->array_len == 2 && kv->str_offsets == NULL);
    CHECK(gguf_array_str(kv, 0).len == 0);   /* not an array of strings */
    const gguf_tensor *t = gguf_find_tensor(&g, "q.weight");
    CHECK(t && t->n_dims == 2 && t->dims[0] == 32 && t->dims[1] == 2 && t->n_elements == 64);
    CHECK(t->type == TYPE_Q8_0 && t->n_bytes == 68 && t->data == b.p + g.data_offset);
    CHECK(((const uint8_t *)t->data)[67] == 67);
    CHECK(gguf_find_kv(&g, "t.missing") == NULL && gguf_find_tensor(&g, "q") == NULL);
    gguf_release(&g);
    CHECK(g.kv == NULL && g.n_kv == 0);
    free(b.p);
}

static void test_gguf_array_str_is_indexed(void)
{
    buf b = every_type_file();
    gguf_file g;
    CHECKF(gguf_parse(&g, b.p, b.n, err, sizeof err) == 0, "%s", err);
    const gguf_kv *kv = gguf_find_kv(&g, "t.tokens");
    CHECK(kv && kv->array_type == GGUF_STRING && kv->array_len == 4 && kv->str_offsets);
    const char *want[4] = { "<unk>", "", "hello world", "z" };
    for (int i = 0; i < 4; i++) {
        gguf_str s = gguf_array_str(kv, (uint64_t)i);
        CHECKF(s.len == strlen(want[i]) && memcmp(s.ptr, want[i], s.len) == 0, "token %d", i);
    }
    CHECK(gguf_array_str(kv, 4).len == 0 && gguf_array_str(kv, 4).ptr != NULL);
    CHECK(gguf_array_str(gguf_find_kv(&g, "t.str"), 0).len == 0);
    CHECK(gguf_array_str(NULL, 0).len == 0);
    gguf_release(&g);
    free(b.p);
}

static void test_gguf_integer_getters_reject_what_does_not_fit(void)
{
    buf b = every_type_file();
    gguf_file g;
    CHECKF(gguf_parse(&g, b.p, b.n, err, sizeof err) == 0, "%s", err);
    uint32_t u = 99;
    CHECK(gguf_get_u32(&g, "t.i8", &u) == -1);    /* negative */
    CHECK(gguf_get_u32(&g, "t.i32", &u) == -1);   /* negative */
    CHECK(gguf_get_u32(&g, "t.u64", &u) == -1);   /* 2^40 > UINT32_MAX */
    CHECK(gguf_get_u32(&g, "t.f32", &u) == -1);   /* not an integer */
    CHECK(gguf_get_u32(&g, "t.bool", &u) == -1);
    CHECK(gguf_get_u32(&g, "t.missing", &u) == -1 && u == 99);
    float f;
    CHECK(gguf_get_f32(&g, "t.u32", &f) == -1 && gguf_get_f32(&g, "t.str", &f) == -1);
    gguf_str s;
    CHECK(gguf_get_str(&g, "t.u32", &s) == -1 && gguf_get_str(&g, "t.tokens", &s) == -1);
    gguf_release(&g);
    free(b.p);
}

static void test_gguf_honours_alignment_64(void)
{
    buf b = two_tensor_file(64);
    gguf_file g;
    CHECKF(gguf_parse(&g, b.p, b.n, err, sizeof err) == 0, "%s", err);
    CHECK(g.alignment == 64 && g.data_offset % 64 == 0);
    const gguf_tensor *a = gguf_find_tensor(&g, "a.weight"), *t = gguf_find_tensor(&g, "b.weight");
    CHECK(a && t && a->offset == 0 && t->offset == 64 && t->n_bytes == 20);
    CHECK(t->data == b.p + g.data_offset + 64);
    float x;
    memcpy(&x, t->data, 4);
    CHECK(x == 2000.0f);
    memcpy(&x, (const float *)a->data + 11, 4);
    CHECK(x == 1011.0f);
    CHECK((const uint8_t *)t->data + t->n_bytes == b.p + b.n);
    gguf_release(&g);
    free(b.p);
}

static void test_gguf_default_alignment_is_32(void)
{
    buf b = two_tensor_file(0);
    gguf_file g;
    CHECKF(gguf_parse(&g, b.p, b.n, err, sizeof err) == 0, "%s", err);
    CHECK(g.alignment == 32 && g.data_offset % 32 == 0);
    CHECK(gguf_find_tensor(&g, "b.weight")->offset == 64);
    gguf_release(&g);
    free(b.p);
}

/* A tensor of a type quant.c does not know is kept, without data, for the loader to judge. */
static void test_gguf_keeps_unknown_tensor_type_without_data(void)
{
    buf b = { 0 };
    uint64_t dims[1] = { 256 };
    put_header(&b, 3, 2, 0);
    put_tensor_info(&b, "k.weight", 1, dims, 6 /* ggml Q5_0 */, 0);
    put_tensor_info(&b, "f.weight", 1, dims, TYPE_F32, 1024);
    pad_to(&b, 32);
    for (int i = 0; i < 2048; i++) put_u8(&b, 0);
    gguf_file g;
    CHECKF(gguf_parse(&g, b.p, b.n, err, sizeof err) == 0, "%s", err);
    const gguf_tensor *t = gguf_find_tensor(&g, "k.weight");
    CHECK(t && t->type == 6 && t->data == NULL && t->n_bytes == 0 && t->n_elements == 256);
    CHECK(gguf_find_tensor(&g, "f.weight")->data != NULL);
    gguf_release(&g);
    free(b.p);
}

static void test_gguf_release_is_safe_on_zeroed_and_failed(void)
{
    gguf_file g;
    memset(&g, 0, sizeof g);
    gguf_release(&g);
    gguf_release(&g);
    CHECK(gguf_parse(&g, NULL, 0, err, sizeof err) == -1 && err[0]);
    gguf_release(&g);
    CHECK(gguf_parse(&g, "GGUF", 4, NULL, 0) == -1);   /* no error buffer: still fails cleanly */
    gguf_release(&g);
}

/* ==== Rejections: one per malformation ==== */

static void test_gguf_rejects_bad_magic(void)
{
    buf b = two_tensor_file(0);
    b.p[0] = 'X';
    expect_reject(&b, "bad magic");
}

static void test_gguf_rejects_version_1(void)
{
    buf b = two_tensor_file(0);
    b.p[4] = 1;
    expect_reject(&b, "version 1");
    b = two_tensor_file(0);
    b.p[4] = 4;
    expect_reject(&b, "version 4");
    b = two_tensor_file(0);
    b.p[4] = 0;
    b.p[7] = 3;
    expect_reject(&b, "big-endian");
}

static void test_gguf_rejects_huge_kv_count(void)
{
    buf b = { 0 };
    put_header(&b, 3, 0, 1ull << 60);
    put_kv_str(&b, "general.name", "x");
    expect_reject(&b, "kv count 1152921504606846976");
}

static void test_gguf_rejects_huge_tensor_count(void)
{
    buf b = { 0 };
    put_header(&b, 3, UINT64_MAX, 0);
    for (int i = 0; i < 100; i++) put_u8(&b, 0);
    expect_reject(&b, "tensor count 18446744073709551615");
}

static void test_gguf_rejects_string_length_past_eof(void)
{
    buf b = { 0 };
    put_header(&b, 3, 0, 1);
    put_key(&b, "general.name", GGUF_STRING);
    put_u64(&b, 1000);
    put(&b, "short", 5);
    expect_reject(&b, "kv 0 'general.name': string value of 1000 bytes at byte 48 runs past");
    b = (buf){ 0 };
    put_header(&b, 3, 0, 1);
    put_u64(&b, UINT64_MAX);   /* the key's own length */
    put(&b, "general.name", 12);
    expect_reject(&b, "key of 18446744073709551615 bytes");
}

static void test_gguf_rejects_unknown_value_type(void)
{
    buf b = { 0 };
    put_header(&b, 3, 0, 1);
    put_key(&b, "general.name", 13);
    put_u64(&b, 0);
    expect_reject(&b, "unknown value type 13");
}

static void test_gguf_rejects_unknown_array_element_type(void)
{
    buf b = { 0 };
    put_header(&b, 3, 0, 1);
    put_key(&b, "a", GGUF_ARRAY);
    put_u32(&b, 99);
    put_u64(&b, 0);
    expect_reject(&b, "unknown array element type 99");
}

static void test_gguf_rejects_deeply_nested_arrays(void)
{
    /* [[[[]]]]: four levels; three are allowed */
    for (int levels = 3; levels <= 4; levels++) {
        buf b = { 0 };
        put_header(&b, 3, 0, 1);
        put_key(&b, "nested", GGUF_ARRAY);
        for (int i = 1; i < levels; i++) { put_u32(&b, GGUF_ARRAY); put_u64(&b, 1); }
        put_u32(&b, GGUF_UINT8);
        put_u64(&b, 0);
        if (levels == 3) {
            gguf_file g;
            CHECKF(gguf_parse(&g, b.p, b.n, err, sizeof err) == 0, "%s", err);
            gguf_release(&g);
            free(b.p);
        } else {
            expect_reject(&b, "arrays nested deeper than 3");
        }
    }
}

static void test_gguf_rejects_array_length_past_eof(void)
{
    /* 2^62 UINT32 elements: 2^64 bytes, which would wrap to 0 if multiplied */
    buf b = { 0 };
    put_header(&b, 3, 0, 1);
    put_key(&b, "a", GGUF_ARRAY);
    put_u32(&b, GGUF_UINT32);
    put_u64(&b, 1ull << 62);
    put_u32(&b, 0);
    expect_reject(&b, "array of 4611686018427387904 UINT32");
    /* a string array that claims more strings than bytes remain: rejected before allocating */
    b = (buf){ 0 };
    put_header(&b, 3, 0, 1);
    put_key(&b, "tokens", GGUF_ARRAY);
    put_u32(&b, GGUF_STRING);
    put_u64(&b, 1ull << 50);
    put_str(&b, "a");
    expect_reject(&b, "cannot fit");
}

static void test_gguf_rejects_duplicate_key(void)
{
    buf b = { 0 };
    put_header(&b, 3, 0, 3);
    put_kv_u32(&b, "llama.block_count", 5);
    put_kv_str(&b, "general.name", "x");
    put_kv_u32(&b, "llama.block_count", 6);
    expect_reject(&b, "duplicate key 'llama.block_count' (kv 0 and kv 2)");
}

static void test_gguf_rejects_duplicate_tensor_name(void)
{
    buf b = { 0 };
    uint64_t dims[1] = { 8 };
    put_header(&b, 3, 2, 0);
    put_tensor_info(&b, "w", 1, dims, TYPE_F32, 0);
    put_tensor_info(&b, "w", 1, dims, TYPE_F32, 32);
    pad_to(&b, 32);
    put_f32_data(&b, 0, 16);
    expect_reject(&b, "duplicate tensor name 'w'");
}

static void one_tensor_file(buf *b, uint32_t n_dims, const uint64_t *dims, uint32_t type,
                            uint64_t offset, size_t data_bytes)
{
    *b = (buf){ 0 };
    put_header(b, 3, 1, 0);
    put_tensor_info(b, "blk.0.attn_q.weight", n_dims, dims, type, offset);
    pad_to(b, 32);
    for (size_t i = 0; i < data_bytes; i++) put_u8(b, 0);
}

static void test_gguf_rejects_bad_n_dims(void)
{
    buf b;
    uint64_t dims[5] = { 1, 1, 1, 1, 1 };
    one_tensor_file(&b, 0, dims, TYPE_F32, 0, 4);
    expect_reject(&b, "tensor 'blk.0.attn_q.weight': n_dims 0");
    one_tensor_file(&b, 5, dims, TYPE_F32, 0, 4);
    expect_reject(&b, "n_dims 5");
}

static void test_gguf_rejects_zero_dim(void)
{
    buf b;
    uint64_t dims[2] = { 4, 0 };
    one_tensor_file(&b, 2, dims, TYPE_F32, 0, 16);
    expect_reject(&b, "dims[1] is 0");
}

static void test_gguf_rejects_too_many_elements(void)
{
    buf b;
    uint64_t dims[2] = { 1ull << 20, 1ull << 21 };   /* 2^41 elements */
    one_tensor_file(&b, 2, dims, TYPE_F32, 0, 0);
    expect_reject(&b, "more than 2^40 elements (dims[1] = 2097152)");
    uint64_t wrap[3] = { 1ull << 32, 1ull << 32, 1 };   /* 2^64: wraps to 0 if multiplied */
    one_tensor_file(&b, 3, wrap, TYPE_F32, 0, 0);
    expect_reject(&b, "more than 2^40 elements");
}

static void test_gguf_rejects_row_not_multiple_of_block(void)
{
    buf b;
    uint64_t dims[2] = { 48, 2 };
    one_tensor_file(&b, 2, dims, TYPE_Q8_0, 0, 256);
    expect_reject(&b, "row length 48 is not a multiple of the Q8_0 block size 32");
}

static void alignment_file(buf *b, uint32_t type, uint64_t value)
{
    *b = (buf){ 0 };
    put_header(b, 3, 0, 1);
    put_key(b, "general.alignment", type);
    if (type == GGUF_STRING) put_str(b, "32");
    else put_le(b, value, type == GGUF_UINT64 ? 8 : 4);
}

static void test_gguf_rejects_bad_alignment(void)
{
    buf b;
    alignment_file(&b, GGUF_UINT32, 0);
    expect_reject(&b, "general.alignment: 0 is not a power of two");
    alignment_file(&b, GGUF_UINT32, 48);
    expect_reject(&b, "48 is not a power of two");
    alignment_file(&b, GGUF_UINT64, 1ull << 40);
    expect_reject(&b, "1099511627776 is not a power of two between 1 and 1048576");
    alignment_file(&b, GGUF_STRING, 0);
    expect_reject(&b, "not a STRING value");
    alignment_file(&b, GGUF_FLOAT32, 0x42000000);   /* 32.0f */
    expect_reject(&b, "not a FLOAT32 value");
    alignment_file(&b, GGUF_INT32, (uint32_t)-32);
    expect_reject(&b, "not a INT32 value");
    alignment_file(&b, GGUF_UINT64, 64);   /* and a good one of another integer type passes */
    gguf_file g;
    CHECKF(gguf_parse(&g, b.p, b.n, err, sizeof err) == 0, "%s", err);
    CHECK(g.alignment == 64);
    gguf_release(&g);
    free(b.p);
}

static void test_gguf_rejects_misaligned_offset(void)
{
    buf b;
    uint64_t dims[1] = { 4 };
    one_tensor_file(&b, 1, dims, TYPE_F32, 4, 64);
    expect_reject(&b, "offset 4 is not a multiple of the alignment 32");
}

static void test_gguf_rejects_offset_past_eof(void)
{
    buf b;
    uint64_t dims[1] = { 16 };
    one_tensor_file(&b, 1, dims, TYPE_F32, 32, 64);   /* data [32, 96) of 64 bytes */
    size_t data_offset = b.n - 64;
    char want[160];
    snprintf(want, sizeof want, "tensor 'blk.0.attn_q.weight': data [%zu, %zu) ends past the end"
             " of the file (%zu bytes)", data_offset + 32, data_offset + 96, b.n);
    expect_reject(&b, want);
    one_tensor_file(&b, 1, dims, TYPE_F32, UINT64_MAX - 31, 64);   /* would wrap the sum */
    expect_reject(&b, "offset 18446744073709551584 puts its data past the end");
}

static void test_gguf_rejects_overlapping_tensors(void)
{
    buf b = { 0 };
    uint64_t dims[1] = { 16 };   /* 64 bytes each */
    put_header(&b, 3, 3, 0);
    put_tensor_info(&b, "c", 1, dims, TYPE_F32, 128);
    put_tensor_info(&b, "a", 1, dims, TYPE_F32, 0);
    put_tensor_info(&b, "b", 1, dims, TYPE_F32, 32);
    pad_to(&b, 32);
    size_t data_offset = b.n;
    put_f32_data(&b, 0, 48);
    char want[160];
    snprintf(want, sizeof want, "'a' data [%zu, %zu) overlaps 'b' data [%zu, %zu)",
             data_offset, data_offset + 64, data_offset + 32, data_offset + 96);
    expect_reject(&b, want);
}

/* Every prefix of a valid file is an invalid file: each must fail with a message, and no read
 * may leave the prefix (each is its own heap block, so ASan sees a read one byte past it). */
static void test_gguf_rejects_every_truncation(void)
{
    buf files[2] = { every_type_file(), two_tensor_file(64) };
    for (int f = 0; f < 2; f++) {
        gguf_file g;
        CHECKF(gguf_parse(&g, files[f].p, files[f].n, err, sizeof err) == 0, "%s", err);
        gguf_release(&g);
        for (size_t len = 0; len < files[f].n; len++) {
            uint8_t *prefix = malloc(len ? len : 1);
            memcpy(prefix, files[f].p, len);
            err[0] = '\0';
            int rc = gguf_parse(&g, prefix, len, err, sizeof err);
            free(prefix);
            CHECKF(rc == -1, "file %d cut to %zu of %zu bytes parsed", f, len, files[f].n);
            CHECKF(strncmp(err, "gguf: ", 6) == 0 && !strchr(err, '\n'),
                   "cut to %zu: bad message '%s'", len, err);
        }
        free(files[f].p);
    }
}

/* ==== Real files in ../shared ==== */

static uint8_t *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(n > 0 ? (size_t)n : 1);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) { free(p); p = NULL; }
    fclose(f);
    *size = (size_t)n;
    return p;
}

static void test_gguf_parses_stories260K(void)
{
    const char *dir = test_shared_dir();
    if (!dir) SKIP("../shared is absent (set ATTEND_SHARED): stories260K.gguf NOT TESTED");
    char path[1024];
    snprintf(path, sizeof path, "%s/models/stories260K/stories260K.gguf", dir);
    size_t size;
    uint8_t *p = read_file(path, &size);
    CHECKF(p, "cannot read %.400s", path);
    gguf_file g;
    CHECKF(gguf_parse(&g, p, size, err, sizeof err) == 0, "%s", err);
    CHECK(g.version == 3 && g.n_tensors == 48 && g.n_kv == 19 && g.alignment == 32);
    uint32_t u;
    CHECK(gguf_get_u32(&g, "llama.embedding_length", &u) == 0 && u == 64);
    CHECK(gguf_get_u32(&g, "llama.block_count", &u) == 0 && u == 5);
    CHECK(gguf_get_u32(&g, "llama.attention.head_count_kv", &u) == 0 && u == 4);
    float eps;
    CHECK(gguf_get_f32(&g, "llama.attention.layer_norm_rms_epsilon", &eps) == 0 && eps == 1e-5f);
    gguf_str s;
    CHECK(gguf_get_str(&g, "general.architecture", &s) == 0 && s.len == 5 && !memcmp(s.ptr, "llama", 5));
    const gguf_kv *tokens = gguf_find_kv(&g, "tokenizer.ggml.tokens");
    CHECK(tokens && tokens->array_type == GGUF_STRING && tokens->array_len == 512);
    s = gguf_array_str(tokens, 0);
    CHECK(s.len == 5 && memcmp(s.ptr, "<unk>", 5) == 0);
    s = gguf_array_str(tokens, 1);
    CHECK(s.len == 3 && memcmp(s.ptr, "<s>", 3) == 0);
    const gguf_tensor *t = gguf_find_tensor(&g, "token_embd.weight");
    CHECK(t && t->type == TYPE_F32 && t->dims[0] == 64 && t->dims[1] == 512 && t->n_bytes == 131072);
    CHECK(t->data == p + g.data_offset);
    t = gguf_find_tensor(&g, "blk.4.ffn_down.weight");
    CHECK(t && t->dims[0] == 172 && t->dims[1] == 64);
    gguf_release(&g);
    free(p);
}

static void test_gguf_parses_llama_spm_vocab(void)
{
    const char *dir = test_shared_dir();
    if (!dir) SKIP("../shared is absent (set ATTEND_SHARED): ggml-vocab-llama-spm.gguf NOT TESTED");
    char path[1024];
    snprintf(path, sizeof path, "%s/models/vocab/ggml-vocab-llama-spm.gguf", dir);
    size_t size;
    uint8_t *p = read_file(path, &size);
    CHECKF(p, "cannot read %.400s", path);
    gguf_file g;
    CHECKF(gguf_parse(&g, p, size, err, sizeof err) == 0, "%s", err);
    CHECK(g.n_tensors == 0);
    const gguf_kv *tokens = gguf_find_kv(&g, "tokenizer.ggml.tokens");
    CHECK(tokens && tokens->array_len == 32000);
    gguf_str s = gguf_array_str(tokens, 0);
    CHECK(s.len == 5 && memcmp(s.ptr, "<unk>", 5) == 0);
    s = gguf_array_str(tokens, 31999);
    CHECK(s.len > 0 && s.ptr + s.len <= (const char *)p + size);
    const gguf_kv *scores = gguf_find_kv(&g, "tokenizer.ggml.scores");
    CHECK(scores && scores->array_type == GGUF_FLOAT32 && scores->array_len == 32000);
    uint32_t u;
    CHECK(gguf_get_u32(&g, "llama.vocab_size", &u) == 0 && u == 32000);
    gguf_release(&g);
    free(p);
}

int main(void)
{
    RUN(test_gguf_parses_every_value_type);
    RUN(test_gguf_array_str_is_indexed);
    RUN(test_gguf_integer_getters_reject_what_does_not_fit);
    RUN(test_gguf_honours_alignment_64);
    RUN(test_gguf_default_alignment_is_32);
    RUN(test_gguf_keeps_unknown_tensor_type_without_data);
    RUN(test_gguf_release_is_safe_on_zeroed_and_failed);
    RUN(test_gguf_rejects_bad_magic);
    RUN(test_gguf_rejects_version_1);
    RUN(test_gguf_rejects_huge_kv_count);
    RUN(test_gguf_rejects_huge_tensor_count);
    RUN(test_gguf_rejects_string_length_past_eof);
    RUN(test_gguf_rejects_unknown_value_type);
    RUN(test_gguf_rejects_unknown_array_element_type);
    RUN(test_gguf_rejects_deeply_nested_arrays);
    RUN(test_gguf_rejects_array_length_past_eof);
    RUN(test_gguf_rejects_duplicate_key);
    RUN(test_gguf_rejects_duplicate_tensor_name);
    RUN(test_gguf_rejects_bad_n_dims);
    RUN(test_gguf_rejects_zero_dim);
    RUN(test_gguf_rejects_too_many_elements);
    RUN(test_gguf_rejects_row_not_multiple_of_block);
    RUN(test_gguf_rejects_bad_alignment);
    RUN(test_gguf_rejects_misaligned_offset);
    RUN(test_gguf_rejects_offset_past_eof);
    RUN(test_gguf_rejects_overlapping_tensors);
    RUN(test_gguf_rejects_every_truncation);
    RUN(test_gguf_parses_stories260K);
    RUN(test_gguf_parses_llama_spm_vocab);
    TEST_EXIT();
}
