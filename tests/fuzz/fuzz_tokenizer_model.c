/* fuzz_tokenizer_model.c — tokenizer_load_model (a SentencePiece tokenizer.model, parsed by
 * libsentencepiece after our own scan of its normaliser flags) on a memfd. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64], err[512];
    int fd = fuzz_memfd(data, size, path);
    attend_tokenizer *t = tokenizer_load_model(path, err, sizeof err);
    close(fd);
    if (!t) {
        fuzz_check_error(err);
        return 0;
    }
    fuzz_exercise_tokenizer(t, data, size);
    tokenizer_free(t);
    return 0;
}
