/* fuzz_model.c — attend_model_load (GGUF or llama2.c, by magic) on a memfd, and a forward pass
 * of two tokens through whatever loads. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64], err[512];
    int fd = fuzz_memfd(data, size, path);
    attend_model *m = attend_model_load(path, NULL, err, sizeof err);
    close(fd);
    if (!m) {
        fuzz_check_error(err);
        return 0;
    }
    fuzz_exercise_model(m);
    attend_model_free(m);
    return 0;
}
