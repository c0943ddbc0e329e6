/* streaming_ppl.h — perplexity of one long text streamed through a sliding-window (ring) cache. */
#ifndef ATTEND_CLI_STREAMING_PPL_H
#define ATTEND_CLI_STREAMING_PPL_H

#include "attend.h"

/* Feed ids[0 .. n_ids) (BOS first) through ctx, whose cache is a ring (window W > 0), in batches of
 * `batch` tokens at positions 0, 1, 2, ... past n_ctx, and score every prediction made once the
 * window is full (of tokens W+1 .. n_ids-1): the model never sees more than the window (+ sinks).
 * Prints the perplexity and bits per byte to stdout. Returns 0, or -1 with a one-line reason in err. */
int streaming_perplexity(attend_context *ctx, const attend_tokenizer *tok, const int *ids, int n_ids, int vocab,
                         int window, int batch, const char *name, char *err, size_t errlen);

#endif
