/* util.c — the command line's shared helpers (see util.h). */
#include "cli/util.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fileio.h"

void die(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* One line, whatever bytes a file or an argument put into the message. */
    for (char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    fprintf(stderr, "error: %s\n", msg);
    exit(1);
}

double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* `len` bytes of text as token ids (BOS first when add_bos), special tokens parsed when `special`
 * (--special: then a text that starts with "<s>" gets no second BOS); `what` names the text in
 * errors. The caller frees. Every token spells at least one byte (byte fallback), so len + 2 ids
 * (BOS and the dummy-prefix space) almost always suffice and SentencePiece runs once; when not
 * (special tokens give each stretch of text its own dummy prefix), the count it returns sizes a
 * second call. */
int *encode(const attend_tokenizer *tok, const char *text, size_t len, int add_bos, int special,
                   const char *what, int *n)
{
    char err[256];
    if (len > INT_MAX / 2)
        die("%s is too long to tokenize (%zu bytes)", what, len);
    int (*tokenize)(const attend_tokenizer *, const char *, size_t, int, int *, int, char *, size_t) =
        special ? attend_tokenize_special : attend_tokenize;
    const int bos = add_bos ? attend_tokenizer_bos(tok) : -1;
    int cap = (int)len + 2, count = -1;
    int *ids = malloc(sizeof(int) * (size_t)cap);
    while (ids && (count = tokenize(tok, text, len, 0, ids + 1, cap - 1, err, sizeof err)) >= cap) {
        int *grown = realloc(ids, sizeof(int) * (size_t)(count + 1));
        if (!grown)
            free(ids);
        ids = grown;
        cap = count + 1;
    }
    if (!ids)
        die("out of memory for the tokens of %s", what);
    if (count < 0)
        die("cannot tokenize %s: %s", what, err);
    if (bos >= 0 && !(special && count > 0 && ids[1] == bos))
        ids[0] = bos, count++;
    else
        memmove(ids, ids + 1, sizeof(int) * (size_t)count);
    *n = count;
    return ids;
}

/* NaN or Inf weights (a corrupt file) surface as non-finite logits. Checking them costs vocab
 * comparisons per token, where scanning the weights at load would read the whole file; and it
 * also catches finite weights that overflow. Sampling from such logits would be meaningless. */
void check_logits(const float *logits, int rows, int vocab, int first_pos)
{
    for (size_t i = 0; i < (size_t)rows * vocab; i++)
        if (!isfinite(logits[i]))
            die("the model computed a non-finite logit (%g, token %zu at position %zu): its weights hold NaN "
                "or Inf values or overflow", logits[i], i % (size_t)vocab, first_pos + i / (size_t)vocab);
}

double next_token_nll(const float *row, int vocab, int next)
{
    float max = row[0];
    for (int v = 1; v < vocab; v++)
        max = row[v] > max ? row[v] : max;
    if (!isfinite(max))
        return max;
    double sum = 0;
    for (int v = 0; v < vocab; v++)
        sum += exp((double)row[v] - max);
    return log(sum) + max - row[next];
}

/* The logits of every one of n tokens from position 0, in forward passes of at most `batch` tokens
 * (<= 0: one pass). Small batches run the decode kernels, whose fast path differs from prefill's. */
void forward_all(attend_context *ctx, const int *ids, int n, int vocab, float *logits, int batch)
{
    char err[256];
    if (batch <= 0)
        batch = n;
    for (int done = 0; done < n; done += batch)
        if (attend_forward(ctx, ids + done, n - done < batch ? n - done : batch, done,
                           logits + (size_t)done * vocab, 1, err, sizeof err) != 0)
            die("%s", err);
}

/* fopen for writing, or die naming the file. */
FILE *create(const char *path)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        die("cannot write '%s': %s", path, strerror(errno));
    return f;
}

void finish(FILE *f, int status, const char *path)
{
    if (fclose(f) != 0)
        status = -1;
    if (status != 0)
        die("cannot write '%s': %s", path, strerror(errno));
}

/* A whole text file (a prompt, a perplexity corpus). Opened without blocking and required to be a
 * regular file, so a FIFO or a device named by mistake is an error, not a hang. */
char *read_file(const char *path, size_t *size)
{
    struct stat st;
    int fd = open_regular_file(path, &st);
    if (fd == FILE_CANNOT_OPEN)
        die("cannot open '%s': %s", path, strerror(errno));
    if (fd == FILE_NOT_REGULAR)
        die("'%s' is not a regular file", path);
    FILE *f = fdopen(fd, "rb");
    if (!f)
        die("cannot read '%s': %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *grown = realloc(buf, 2 * cap + 1);
            if (!grown)
                free(buf);
            buf = grown;
            cap *= 2;
        }
    }
    if (!buf)
        die("out of memory reading '%s'", path);
    if (ferror(f))
        die("cannot read '%s'", path);
    fclose(f);
    buf[n] = 0;
    *size = n;
    return buf;
}
