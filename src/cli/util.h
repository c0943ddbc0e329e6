/* util.h — what every mode of the command line shares: one-line errors, the clock, reading and
 * writing files, tokenizing a text, and running a whole token sequence for its logits. */
#ifndef ATTEND_CLI_UTIL_H
#define ATTEND_CLI_UTIL_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include "attend.h"

/* "error: ..." on stderr as one line (control bytes become '?'), then exit status 1. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
double now_seconds(void);   /* a monotonic clock */

/* `len` bytes of text as token ids (BOS first when add_bos; special tokens parsed when `special`);
 * `what` names the text in errors. The caller frees; *n receives the count. */
int *encode(const attend_tokenizer *tok, const char *text, size_t len, int add_bos, int special,
            const char *what, int *n);
/* die unless every logit of `rows` rows is finite (a corrupt model shows up here). */
void check_logits(const float *logits, int rows, int vocab, int first_pos);
/* -log p(next) under the softmax of one row of logits (max subtracted, summed in double): the loss
 * perplexity averages. Non-finite when the row holds NaN or Inf. */
double next_token_nll(const float *row, int vocab, int next);
/* The logits of n tokens from position 0, in forward passes of at most `batch` tokens (<= 0: one). */
void forward_all(attend_context *ctx, const int *ids, int n, int vocab, float *logits, int batch);

/* Room for `need` bytes in the heap buffer *p of *cap bytes, grown to twice that and a little more
 * when short: 0, or -1 when out of memory (the buffer is then left as it was). */
static inline int grow_buffer(char **p, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t grown_cap = 2 * need + 64;
    char *grown = realloc(*p, grown_cap);
    if (!grown)
        return -1;
    *p = grown;
    *cap = grown_cap;
    return 0;
}

/* A whole regular file, NUL-terminated (never blocks on a FIFO); *size receives its length. */
char *read_file(const char *path, size_t *size);
FILE *create(const char *path);                    /* fopen for writing, or die naming the file */
void finish(FILE *f, int status, const char *path); /* fclose; die naming the file on any error */

#endif
