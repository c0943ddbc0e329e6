/* llama2c_tokenizer.c — llama2.c's tokenizer.bin (A. Karpathy), read into vocabulary arrays for
 * the SentencePiece shim (tokenizer.h's tokenizer_from_vocab).
 *
 *   int32 max_token_length, then vocab_size times: float32 score, int32 length, `length` bytes.
 * The count is not in the file: it is the checkpoint's vocab_size, and the file must hold exactly
 * that many tokens. The texts are written as llama2.c decodes them: a space as ' ' (SentencePiece
 * spells it '▁', U+2581), BOS and EOS as "\n<s>\n" and "\n</s>\n". They are turned back into
 * pieces here, and typed: <unk> unknown, <s> and </s> control, <0xNN> byte, the rest normal. */
#include "error.h"
#include "fileio.h"
#include "tokenizer.h"

#include <stdlib.h>
#include <string.h>

enum { MAX_FILE = 1 << 30 };   /* tokenizer files are a few MB: anything past 1 GiB is a wrong path */

static int32_t i32_at(const char *p) { int32_t v; memcpy(&v, p, 4); return v; }

attend_tokenizer *tokenizer_load_llama2c(const char *path, int vocab_size, char *err, size_t errlen)
{
    if (vocab_size <= 0 || vocab_size > (1 << 24)) {
        set_error(err, errlen, "tokenizer: %s: vocab_size %d out of range", path, vocab_size);
        return NULL;
    }
    size_t size;
    char *file = read_whole_file(path, "tokenizer", MAX_FILE, &size, err, errlen);
    if (!file)
        return NULL;
    attend_tokenizer *t = NULL;
    const char **pieces = NULL;
    size_t *lens = NULL;
    float *scores = NULL;
    int *types = NULL;
    char *text = NULL;
    if (size < 4) {
        set_error(err, errlen, "tokenizer: %s: %zu bytes, too short for max_token_length", path, size);
        goto done;
    }
    const int32_t max_len = i32_at(file);
    if (max_len <= 0 || (size_t)max_len > size) {
        set_error(err, errlen, "tokenizer: %s: max_token_length %d out of range", path, max_len);
        goto done;
    }

    /* 1. The layout: every length inside the file and the file exactly used up. The pieces' bytes
     * are counted as they will be (a space takes 3), for one buffer to hold them all. */
    size_t at = 4, text_bytes = 0;
    for (int i = 0; i < vocab_size; i++) {
        if (size - at < 8) {
            set_error(err, errlen, "tokenizer: %s: truncated at token %d of %d (offset %zu): "
                      "vocab_size does not match the file", path, i, vocab_size, at);
            goto done;
        }
        const int32_t len = i32_at(file + at + 4);
        at += 8;
        if (len <= 0 || len > max_len || (size_t)len > size - at) {
            set_error(err, errlen, "tokenizer: %s: token %d length %d at offset %zu outside 1..%d "
                      "or past the end of the file (%zu bytes)", path, i, len, at - 4, max_len, size);
            goto done;
        }
        for (int32_t k = 0; k < len; k++)
            text_bytes += file[at + (size_t)k] == ' ' ? 3 : 1;
        at += (size_t)len;
    }
    if (at != size) {
        set_error(err, errlen, "tokenizer: %s: %zu bytes after token %d: the file holds more "
                  "than vocab_size %d tokens", path, size - at, vocab_size - 1, vocab_size);
        goto done;
    }

    /* 2. The pieces, their scores and types. */
    const size_t n = (size_t)vocab_size;
    pieces = malloc(n * sizeof *pieces);
    lens = malloc(n * sizeof *lens);
    scores = malloc(n * sizeof *scores);
    types = malloc(n * sizeof *types);
    text = malloc(text_bytes + 1);
    if (!pieces || !lens || !scores || !types || !text) {
        set_error(err, errlen, "tokenizer: %s: out of memory", path);
        goto done;
    }
    int bos = -1, eos = -1, unk = -1;
    char *out = text;
    at = 4;
    for (int i = 0; i < vocab_size; i++) {
        memcpy(&scores[i], file + at, 4);
        size_t len = (size_t)i32_at(file + at + 4);
        const char *s = file + at + 8;
        at += 8 + len;
        if (len == 5 && !memcmp(s, "\n<s>\n", 5)) {
            s = "<s>";
            len = 3;
        } else if (len == 6 && !memcmp(s, "\n</s>\n", 6)) {
            s = "</s>";
            len = 4;
        }
        pieces[i] = out;
        for (size_t k = 0; k < len; k++) {
            if (s[k] == ' ') { memcpy(out, SPACE_SYMBOL, 3); out += 3; }
            else *out++ = s[k];
        }
        lens[i] = (size_t)(out - pieces[i]);
        const char *p = pieces[i];
        const size_t m = lens[i];
        int type = PIECE_NORMAL;
        if (m == 5 && !memcmp(p, "<unk>", 5)) { type = PIECE_UNKNOWN; if (unk < 0) unk = i; }
        else if (m == 3 && !memcmp(p, "<s>", 3)) { type = PIECE_CONTROL; if (bos < 0) bos = i; }
        else if (m == 4 && !memcmp(p, "</s>", 4)) { type = PIECE_CONTROL; if (eos < 0) eos = i; }
        else if (byte_piece_value(p, m) >= 0) type = PIECE_BYTE;
        types[i] = type;
    }
    if (unk < 0) {
        set_error(err, errlen, "tokenizer: %s: no <unk> piece", path);
        goto done;
    }
    t = tokenizer_from_vocab(vocab_size, pieces, lens, scores, types, bos, eos, unk, path, err, errlen);
done:
    free(file);
    free(pieces);
    free(lens);
    free(scores);
    free(types);
    free(text);
    return t;
}
