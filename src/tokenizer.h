/* tokenizer.h — inside the library: how a tokenizer is loaded. What a program can do with one is
 * in attend.h (attend_tokenize, attend_token_to_piece, attend_detokenize, attend_stream_*). Both
 * are implemented by one C++ shim (tokenizer_sp.cpp) over libsentencepiece.
 *
 * Three sources give the same tokenizer: a SentencePiece `tokenizer.model`; the vocabulary arrays
 * of a GGUF file (pieces, scores, token types); and a llama2.c `tokenizer.bin`. For the latter two
 * the shim serialises a SentencePiece ModelProto in memory (BPE, byte fallback, identity
 * normalisation with a dummy prefix) and loads it, so encoding is SentencePiece's own, not an
 * approximation. Token types use SentencePiece's numbers, which GGUF shares:
 * 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte. */
#ifndef ATTEND_TOKENIZER_H
#define ATTEND_TOKENIZER_H

#include <stddef.h>
#include "attend.h"

#ifdef __cplusplus
extern "C" {
#endif

attend_tokenizer *tokenizer_load_model(const char *path, char *err, size_t errlen);   /* tokenizer.model */
attend_tokenizer *tokenizer_load_llama2c(const char *path, int vocab_size, char *err,
                                         size_t errlen);                          /* tokenizer.bin */
/* From vocabulary arrays: piece i is pieces[i] (lens[i] bytes, not NUL-terminated). bos/eos/unk
 * may be -1 when absent. */
attend_tokenizer *tokenizer_from_vocab(int n_vocab, const char *const *pieces, const size_t *lens,
                                       const float *scores, const int *types, int bos, int eos, int unk,
                                       char *err, size_t errlen);
void tokenizer_free(attend_tokenizer *t);

#ifdef __cplusplus
}
#endif
#endif
