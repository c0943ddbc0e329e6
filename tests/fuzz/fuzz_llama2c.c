/* fuzz_llama2c.c — the llama2.c checkpoint loader (versions 0, 1, 2) on the bytes in place, as
 * attend_model_load calls it once format_llama2c.probe accepts the header; then a forward pass. */
#include "fuzz.h"
#include "formats/formats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!format_llama2c.probe(data, size)) return 0;
    attend_model *m = calloc(1, sizeof *m);
    char err[512];
    if (!m) abort();
    int rc = format_llama2c.load(m, data, size, err, sizeof err);
    if (rc != 0) fuzz_check_error(err);
    else fuzz_exercise_model(m);
    attend_model_free(m);   /* m->map is NULL: libFuzzer's buffer is not unmapped */
    return 0;
}
