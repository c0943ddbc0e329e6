/* fuzz_tokenizer_bin.c — tokenizer_load_llama2c on a memfd. The first two bytes are the model's
 * vocab_size (little-endian), the rest is the tokenizer.bin; what loads is encoded and decoded. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    int vocab_size = data[0] | data[1] << 8;
    char path[64], err[512];
    int fd = fuzz_memfd(data + 2, size - 2, path);
    attend_tokenizer *t = tokenizer_load_llama2c(path, vocab_size, err, sizeof err);
    close(fd);
    if (!t) {
        fuzz_check_error(err);
        return 0;
    }
    if (attend_tokenizer_vocab_size(t) != vocab_size) abort();
    fuzz_exercise_tokenizer(t, data, size);
    tokenizer_free(t);
    return 0;
}
