/* fuzz.h — what the libFuzzer targets in tests/fuzz/ share.
 *
 * Each target feeds one loader arbitrary bytes. A finding is a crash, a sanitizer report, a hang
 * (libFuzzer's -timeout) or a broken promise checked here: a refusal must come with a one-line,
 * non-empty reason, and a model or tokenizer that loads must be usable without faulting. */
#ifndef ATTEND_FUZZ_H
#define ATTEND_FUZZ_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "attend.h"
#include "tokenizer.h"

/* An error message must be one non-empty line: the CLI prints it as is. */
static inline void fuzz_check_error(const char *err)
{
    if (!err[0] || strchr(err, '\n') || strlen(err) >= 511) {
        fprintf(stderr, "fuzz: bad error message: \"%s\"\n", err);
        abort();
    }
}

/* The loaders that take a path read it from a memfd: no disk, and /proc/self/fd/N is a path. */
static inline int fuzz_memfd(const uint8_t *data, size_t size, char path[64])
{
    int fd = memfd_create("fuzz", 0);
    if (fd < 0) abort();
    for (size_t done = 0; done < size;) {
        ssize_t n = write(fd, data + done, size - done);
        if (n <= 0) abort();
        done += (size_t)n;
    }
    snprintf(path, 64, "/proc/self/fd/%d", fd);
    return fd;
}

/* Encode, decode and stream-decode: the streamed text must equal the whole decode (attend.h). */
static inline void fuzz_exercise_tokenizer(const attend_tokenizer *t, const uint8_t *text, size_t len)
{
    static const char *const fixed[] = {"Once upon a time", " ", "", "\xff\xfe invalid \xc3", "\xe2\x96\x81\xf0\x9f\x98\x80"};
    char err[512];
    int ids[512];
    for (int k = 0; k < 6; k++) {
        const char *s = k < 5 ? fixed[k] : (const char *)text;
        size_t n = k < 5 ? strlen(s) : (len < 256 ? len : 256);
        int count = attend_tokenize(t, s, n, 1, ids, 512, err, sizeof err);
        if (count < 0) { fuzz_check_error(err); continue; }
        if (count > 512) count = 512;
        for (int i = 0; i < count; i++)
            if (ids[i] < 0 || ids[i] >= attend_tokenizer_vocab_size(t)) abort();
        char whole[8192], streamed[8192];
        long whole_len = attend_detokenize(t, ids, count, whole, sizeof whole);
        attend_stream *st = attend_stream_new(t);
        if (!st) abort();
        size_t at = 0;
        char p[64];
        for (int i = 0; i <= count; i++) {
            int piece_len = i < count ? attend_stream_next(st, ids[i], p, sizeof p)
                                      : attend_stream_flush(st, p, sizeof p);
            if (piece_len < 0) abort();
            if (at + (size_t)piece_len < sizeof streamed) memcpy(streamed + at, p, (size_t)piece_len);
            at += (size_t)piece_len;
            if (i == count && piece_len > 0) i--;   /* flush until it returns 0 */
        }
        attend_stream_free(st);
        if (whole_len >= 0 && (size_t)whole_len < sizeof whole && at < sizeof streamed &&
            (at != (size_t)whole_len || memcmp(whole, streamed, at) != 0)) {
            fprintf(stderr, "fuzz: streamed decode \"%.*s\" != decode \"%s\"\n", (int)at, streamed, whole);
            abort();
        }
    }
}

/* A model that loaded runs: a small context, one thread, a prompt of the first and last ids. */
static inline void fuzz_exercise_model(attend_model *m)
{
    const attend_config *c = attend_model_config(m);
    char err[512];
    attend_context_params p = attend_context_default_params();
    p.n_ctx = c->max_seq_len < 8 ? c->max_seq_len : 8;
    p.n_threads = 1;
    attend_context *ctx = attend_context_new(m, &p, err, sizeof err);
    if (!ctx) { fuzz_check_error(err); return; }
    int tokens[2] = {0, c->vocab_size - 1};
    int n = attend_context_size(ctx) < 2 ? 1 : 2;
    float *logits = malloc(sizeof(float) * (size_t)c->vocab_size * 2);
    if (!logits) abort();
    if (attend_forward(ctx, tokens, n, 0, logits, 1, err, sizeof err) != 0) abort();
    free(logits);
    attend_context_free(ctx);
    const attend_tokenizer *t = attend_model_tokenizer(m);
    if (t) fuzz_exercise_tokenizer(t, (const uint8_t *)"hello", 5);
}

#endif
