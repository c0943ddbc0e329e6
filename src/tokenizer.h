/* tokenizer.h — SentencePiece tokenization for C, implemented by one C++ shim
 * (tokenizer_sp.cpp) over libsentencepiece.
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

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tokenizer tokenizer;

tokenizer *tokenizer_load_model(const char *path, char *err, size_t errlen);       /* tokenizer.model */
tokenizer *tokenizer_load_llama2c(const char *path, int vocab_size, char *err, size_t errlen); /* tokenizer.bin */
/* From vocabulary arrays: piece i is pieces[i] (lens[i] bytes, not NUL-terminated). bos/eos/unk
 * may be -1 when absent. */
tokenizer *tokenizer_from_vocab(int n_vocab, const char *const *pieces, const size_t *lens,
                                const float *scores, const int *types, int bos, int eos, int unk,
                                char *err, size_t errlen);
void tokenizer_free(tokenizer *t);

int tokenizer_vocab_size(const tokenizer *t);
int tokenizer_bos(const tokenizer *t);   /* -1 if none */
int tokenizer_eos(const tokenizer *t);

/* Encode `len` bytes of text; BOS first when add_bos. Writes at most max_ids ids and returns the
 * total count (which may exceed max_ids: call again with more room), or -1 with err set. */
int tokenizer_encode(const tokenizer *t, const char *text, size_t len, int add_bos, int *ids,
                     int max_ids, char *err, size_t errlen);

/* The text of a whole id sequence, as SentencePiece decodes it. Returns the byte length (which
 * may exceed cap; out is NUL-terminated within cap), or -1 for an id out of range. */
long tokenizer_decode(const tokenizer *t, const int *ids, int n, char *out, size_t cap);

/* Streaming decode for generation: feed ids one at a time and print what comes back. The text
 * returned only ever ends on a whole UTF-8 character: bytes of byte-fallback pieces (<0xNN>) are
 * held until their character is complete. The concatenation of everything returned (plus the
 * final flush) equals tokenizer_decode of the whole sequence. Control tokens yield nothing. */
typedef struct tokenizer_stream tokenizer_stream;
tokenizer_stream *tokenizer_stream_new(const tokenizer *t);
const char *tokenizer_stream_next(tokenizer_stream *s, int id, size_t *len);
const char *tokenizer_stream_flush(tokenizer_stream *s, size_t *len);   /* what is still held */
void tokenizer_stream_free(tokenizer_stream *s);

#ifdef __cplusplus
}
#endif
#endif
