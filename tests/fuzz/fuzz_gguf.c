/* fuzz_gguf.c — gguf_parse on arbitrary bytes, then every lookup the model loader makes.
 * libFuzzer hands over an exactly-sized heap copy, so ASan sees any read past the image. */
#include "fuzz.h"
#include "formats/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gguf_file g;
    char err[512];
    if (gguf_parse(&g, data, size, err, sizeof err) != 0) {
        fuzz_check_error(err);
        return 0;
    }
    volatile uint8_t sink = 0;
    for (uint64_t i = 0; i < g.n_kv; i++) {
        const gguf_kv *kv = &g.kv[i];
        if (kv->key.len) sink ^= (uint8_t)kv->key.ptr[kv->key.len - 1];
        if (kv->type == GGUF_ARRAY && kv->array_type == GGUF_STRING)
            for (uint64_t k = 0; k < kv->array_len; k++) {
                gguf_str s = gguf_array_str(kv, k);
                if (s.len) sink ^= (uint8_t)s.ptr[s.len - 1];
            }
    }
    static const char *const keys[] = {"general.architecture", "general.alignment", "llama.context_length",
                                       "llama.rope.freq_base", "tokenizer.ggml.bos_token_id"};
    for (int k = 0; k < 5; k++) {
        uint32_t u;
        float f;
        gguf_str s;
        gguf_get_u32(&g, keys[k], &u);
        gguf_get_f32(&g, keys[k], &f);
        if (gguf_get_str(&g, keys[k], &s) == 0 && s.len) sink ^= (uint8_t)s.ptr[s.len - 1];
    }
    for (uint64_t i = 0; i < g.n_tensors; i++) {
        const gguf_tensor *t = &g.tensors[i];
        if (t->data && t->n_bytes) sink ^= ((const uint8_t *)t->data)[0] ^ ((const uint8_t *)t->data)[t->n_bytes - 1];
        if (t->name.len) sink ^= (uint8_t)(gguf_find_tensor(&g, "token_embd.weight") != NULL);
    }
    (void)sink;
    gguf_release(&g);
    return 0;
}
