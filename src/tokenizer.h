/* tokenizer.h — inside the library: how a tokenizer is loaded, and the table of surfaces it
 * builds for streaming decode. What a program can do with one is in attend.h (attend_tokenize,
 * attend_token_to_piece, attend_detokenize, attend_stream_*): one C++ shim (tokenizer_sp.cpp) over
 * libsentencepiece implements all of it but the stream, which token_stream.c does in C from the
 * table.
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
#include <stdint.h>
#include <string.h>
#include "attend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How pieces spell a space: U+2581 '▁' (3 bytes of UTF-8). */
#define SPACE_SYMBOL "\xE2\x96\x81"

/* SentencePiece piece types (sentencepiece_model.proto), shared by GGUF's token_type array. */
enum { PIECE_NORMAL = 1, PIECE_UNKNOWN = 2, PIECE_CONTROL = 3, PIECE_USER_DEFINED = 4,
       PIECE_UNUSED = 5, PIECE_BYTE = 6 };

/* How one id decodes on its own: the streaming decoder (token_stream.c) needs nothing else. */
typedef struct {
    uint32_t surface_offset;   /* into token_surfaces.surfaces: the piece with every '▁' made ' ' */
    uint32_t surface_len;      /* (for the unknown piece: the unk surface, " ⁇ " by default) */
    uint8_t kind;              /* PIECE_NORMAL, PIECE_CONTROL, PIECE_UNKNOWN or PIECE_BYTE */
    uint8_t byte;              /* the byte of a <0xNN> piece */
    uint8_t leading_space;     /* the piece begins with '▁' (its surface with ' ') */
} token_piece;

/* Every id's surface, built once when the tokenizer loads, and how Decode treats the dummy
 * prefix: the first piece's leading '▁' (added at encode time) is dropped when the normaliser
 * adds a dummy prefix or removes extra whitespace; with the latter, every leading '▁' before the
 * first visible text goes. */
typedef struct {
    int n_vocab;
    const token_piece *pieces;   /* [n_vocab] */
    const char *surfaces;        /* the pieces' surfaces, one after another */
    size_t max_surface;          /* the longest, in bytes */
    int strip_dummy_prefix, strip_all_leading;
} token_surfaces;

const token_surfaces *tokenizer_surfaces(const attend_tokenizer *t);

attend_tokenizer *tokenizer_load_model(const char *path, char *err, size_t errlen);   /* tokenizer.model */
/* llama2.c's tokenizer.bin, whose token count is the checkpoint's vocab_size
 * (formats/llama2c_tokenizer.c) */
attend_tokenizer *tokenizer_load_llama2c(const char *path, int vocab_size, char *err, size_t errlen);
/* From vocabulary arrays: piece i is pieces[i] (lens[i] bytes, not NUL-terminated). bos/eos/unk
 * may be -1 when absent. `what` names the source in errors ("vocab", a file's path). */
attend_tokenizer *tokenizer_from_vocab(int n_vocab, const char *const *pieces, const size_t *lens,
                                       const float *scores, const int *types, int bos, int eos, int unk,
                                       const char *what, char *err, size_t errlen);

/* "<0xNN>" (upper-case hex, as SentencePiece spells byte pieces; n bytes) -> NN, else -1. */
static inline int byte_piece_value(const char *piece, size_t n)
{
    if (n != 6 || memcmp(piece, "<0x", 3) != 0 || piece[5] != '>') return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = piece[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}
void tokenizer_free(attend_tokenizer *t);

#ifdef __cplusplus
}
#endif
#endif
