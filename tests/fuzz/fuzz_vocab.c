/* fuzz_vocab.c — tokenizer_from_vocab, the path of every GGUF vocabulary, on arrays cut from the
 * input: byte 0..2 pick bos, eos and unk (0xff = -1, else an id modulo the vocabulary), then each
 * piece is a type byte, a score byte and a length byte followed by that many bytes. */
#include "fuzz.h"

enum { MAX_PIECES = 4096 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *pieces[MAX_PIECES];
    static size_t lens[MAX_PIECES];
    static float scores[MAX_PIECES];
    static int types[MAX_PIECES];
    if (size < 3) return 0;
    int n = 0;
    for (size_t at = 3; at + 3 <= size && n < MAX_PIECES; n++) {
        types[n] = data[at] % 8;                 /* 0 and 7 are invalid types */
        scores[n] = (float)(int8_t)data[at + 1];
        size_t len = data[at + 2];
        at += 3;
        if (len > size - at) len = size - at;
        pieces[n] = (const char *)data + at;
        lens[n] = len;
        at += len;
    }
    if (n == 0) return 0;
    int special[3];
    for (int k = 0; k < 3; k++) special[k] = data[k] == 0xff ? -1 : data[k] % n;
    char err[512];
    attend_tokenizer *t = tokenizer_from_vocab(n, pieces, lens, scores, types, special[0], special[1], special[2],
                                        "vocab", err, sizeof err);
    if (!t) {
        fuzz_check_error(err);
        return 0;
    }
    if (attend_tokenizer_vocab_size(t) != n) abort();
    fuzz_exercise_tokenizer(t, data, size);
    tokenizer_free(t);
    return 0;
}
