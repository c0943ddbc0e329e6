/* fuzz_llama2c.c — the llama2.c checkpoint loader (versions 0, 1, 2) on the bytes in place, as
 * attend_model_load calls it once llama2c_is_checkpoint accepts the header; then a forward pass. */
#include "fuzz.h"
#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!llama2c_is_checkpoint(data, size)) return 0;
    attend_model *m = calloc(1, sizeof *m);
    char err[512];
    if (!m) abort();
    m->map = (void *)data;
    m->map_size = size;
    int rc = llama2c_load(m, err, sizeof err);
    if (rc != 0) fuzz_check_error(err);
    else fuzz_exercise_model(m);
    m->map = NULL;   /* libFuzzer's buffer, not a mapping */
    attend_model_free(m);
    return 0;
}
