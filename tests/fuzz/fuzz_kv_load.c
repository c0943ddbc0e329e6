/* fuzz_kv_load.c — attend_kv_load (the prompt-cache file) on arbitrary bytes from a memfd, into a
 * 16-position context of the default model (models/stories-attend.gguf, or $ATTEND_FUZZ_MODEL),
 * with an F32 cache or, when the input's last byte has bit 1 set, a Q8_0 one (the default model's
 * heads of 16 are stored padded to blocks of 32: scales and padding come from the input too).
 *
 * Random bytes rarely carry this model's fingerprint and a valid checksum, which would stop every
 * input at the first checks. So when the input's last byte is odd, the target writes the model's
 * fingerprint into the header and a correct checksum at the end before loading: the fuzzer then
 * reaches the layout, count, size and token checks too. Whatever loads must leave a cache the
 * forward pass can continue from. */
#include "fuzz.h"
#include "model.h"

static attend_model *model;
static attend_context *ctx_f32, *ctx_q8_0;

static void setup(void)
{
    char err[512];
    const char *path = getenv("ATTEND_FUZZ_MODEL");
    model = attend_model_load(path ? path : "models/stories-attend.gguf", NULL, err, sizeof err);
    if (!model) {
        fprintf(stderr, "fuzz_kv_load: %s (run from the repository, or set ATTEND_FUZZ_MODEL)\n", err);
        abort();
    }
    attend_context_params p = attend_context_default_params();
    p.n_ctx = 16;
    p.n_threads = 1;
    ctx_f32 = attend_context_new(model, &p, err, sizeof err);
    p.kv_type = ATTEND_KV_Q8_0;
    ctx_q8_0 = attend_context_new(model, &p, err, sizeof err);
    if (!ctx_f32 || !ctx_q8_0) abort();
}

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!model) setup();
    attend_context *ctx = size && (data[size - 1] & 2) ? ctx_q8_0 : ctx_f32;
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) abort();
    memcpy(copy, data, size);
    if (size >= 72 && (data[size - 1] & 1)) {
        uint64_t id = model_fingerprint(model);
        memcpy(copy + 8, &id, 8);
        uint64_t h = fnv1a(copy, size - 8);
        memcpy(copy + size - 8, &h, 8);
    }
    char path[64], err[512];
    int fd = fuzz_memfd(copy, size, path);
    free(copy);
    int tokens[16];
    int n = attend_kv_load(ctx, path, tokens, 16, err, sizeof err);
    close(fd);
    if (n < 0) {
        fuzz_check_error(err);
        if (attend_kv_size(ctx) != 0) abort();
        return 0;
    }
    if (n > 16 || attend_kv_size(ctx) != n) abort();
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= attend_model_config(model)->vocab_size) abort();
    if (n < 16) {
        int next = 1;
        if (attend_forward(ctx, &next, 1, n, NULL, 0, err, sizeof err) != 0) abort();
    }
    return 0;
}
