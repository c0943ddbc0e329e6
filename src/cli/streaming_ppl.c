/* streaming_ppl.c — perplexity through a sliding window, the measurement of StreamingLLM.
 *
 * Chunked perplexity (run.c) restarts the cache for every chunk, so the first tokens of the text,
 * BOS above all, are always in view. Here one long text runs through the ring cache once, far past
 * the context length: once the window has slid past the first tokens, only the attention sinks (if
 * any) keep them visible. Xiao et al. (2023) found that models lean on those first tokens as a
 * place to put attention that has nowhere better to go, so losing them hurts far more than losing
 * any other W-distant token; this mode shows it on our models. */
#include "cli/streaming_ppl.h"
#include "cli/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int fail(char *err, size_t errlen, const char *msg)
{
    snprintf(err, errlen, "%s", msg);
    return -1;
}

int streaming_perplexity(attend_context *ctx, const attend_tokenizer *tok, const int *ids, int n_ids, int vocab,
                         int window, int batch, const char *name, char *err, size_t errlen)
{
    if (n_ids < window + 2) {
        snprintf(err, errlen, "'%s' has %d tokens: a window of %d needs at least %d to score one", name, n_ids,
                 window, window + 2);
        return -1;
    }
    batch = batch > 0 && batch < 64 ? batch : 64;
    float *logits = malloc(sizeof(float) * (size_t)batch * vocab);
    size_t dec_cap = (size_t)n_ids * 64 + 64;   /* a piece spells at most a few dozen bytes */
    char *dec = malloc(dec_cap);
    if (!logits || !dec) {
        free(logits);
        free(dec);
        return fail(err, errlen, "out of memory");
    }
    double nll = 0, nll2 = 0;
    long scored = 0;
    int status = 0;
    for (int pos = 0; pos < n_ids - 1 && status == 0; pos += batch) {
        const int n = n_ids - 1 - pos < batch ? n_ids - 1 - pos : batch;
        if (attend_forward(ctx, ids + pos, n, pos, logits, 1, err, errlen) != 0) {
            status = -1;
            break;
        }
        for (int t = 0; t < n; t++) {
            if (pos + t < window)   /* the window is not full yet: the model still sees BOS */
                continue;
            double loss = next_token_nll(logits + (size_t)t * vocab, vocab, ids[pos + t + 1]);
            if (!isfinite(loss)) {
                status = fail(err, errlen, "non-finite logits");
                break;
            }
            nll += loss;
            nll2 += loss * loss;
            scored++;
        }
        if ((pos / batch) % 16 == 0)
            fprintf(stderr, "\rstreaming perplexity: %d/%d tokens, running PPL %.4f", pos + n, n_ids,
                    scored ? exp(nll / scored) : 0.0);
    }
    fputc('\n', stderr);
    if (status == 0) {
        /* Bytes spelled by the scored tokens W+1 .. n_ids-1 (decoded after their predecessor, whose
         * leading space the decoder drops). */
        long with = attend_detokenize(tok, ids + window, n_ids - window, dec, dec_cap);
        long without = attend_detokenize(tok, ids + window, 1, dec, dec_cap);
        if (with < 0 || without < 0)
            status = fail(err, errlen, "cannot decode the scored tokens");
        else {
            double mean = nll / scored, var = nll2 / scored - mean * mean;
            double err_mean = scored > 1 && var > 0 ? sqrt(var / (scored - 1)) : 0;
            printf("streaming perplexity: %s: %d tokens through a window of %d, %ld tokens scored, %ld bytes\n",
                   name, n_ids, window, scored, with - without);
            printf("PPL = %.4f +/- %.4f\n", exp(mean), exp(mean) * err_mean);
            printf("bits per byte = %.4f\n", nll / log(2.0) / (double)(with - without));
        }
    }
    free(dec);
    free(logits);
    return status;
}
