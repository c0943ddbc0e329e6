/* chat.c — a conversation loop on one context: each line read from stdin is appended to the
 * sequence, and the model's greedy reply follows it, until EOS, a newline or 64 tokens. The KV
 * cache keeps every earlier turn, so each turn only runs its new tokens (positions continue).
 *   cc chat.c $(pkg-config --cflags --libs attend) -o chat && ./chat model.gguf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <attend.h>

enum { MAX_REPLY = 64 };

static int argmax(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

int main(int argc, char **argv)
{
    if (argc < 2) { fprintf(stderr, "usage: %s MODEL [TOKENIZER]\n", argv[0]); return 1; }
    char err[256], line[4096], text[64];
    attend_model_params mp = attend_model_default_params();
    mp.tokenizer_path = argc > 2 ? argv[2] : NULL;
    attend_model *model = attend_model_load(argv[1], &mp, err, sizeof err);
    attend_context *ctx = model ? attend_context_new(model, NULL, err, sizeof err) : NULL;
    const attend_tokenizer *tok = model ? attend_model_tokenizer(model) : NULL;
    if (!ctx || !tok) { fprintf(stderr, "error: %s\n", tok || !model ? err : "no vocabulary"); return 1; }
    const int vocab = attend_model_config(model)->vocab_size, n_ctx = attend_context_size(ctx);
    int *ids = malloc(sizeof(int) * (size_t)n_ctx);
    float *logits = malloc(sizeof(float) * (size_t)vocab);
    attend_stream *stream = attend_stream_new(tok);
    int pos = 0;   /* tokens already in the cache */

    while (fputs("> ", stdout), fflush(stdout), fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = '\0';
        /* The user's turn: BOS only at the very start of the sequence. */
        int n = attend_tokenize(tok, line, strlen(line), pos == 0, ids, n_ctx, err, sizeof err);
        if (n < 0 || n + MAX_REPLY > n_ctx - pos) {
            fprintf(stderr, "error: %s\n", n < 0 ? err : "the context is full");
            break;
        }
        if (n == 0) continue;
        /* The reply: feed the turn, then each chosen token, at the next free positions. */
        for (int step = 0; step < MAX_REPLY; step++) {
            if (attend_forward(ctx, ids, n, pos, logits, 0, err, sizeof err) != 0) {
                fprintf(stderr, "error: %s\n", err);
                return 1;
            }
            pos += n;
            int next = argmax(logits, vocab);
            int len = attend_token_to_piece(tok, next, text, sizeof text);
            if (next == attend_tokenizer_eos(tok) || (len > 0 && len <= (int)sizeof text && memchr(text, '\n', (size_t)len)))
                break;
            fwrite(text, 1, (size_t)attend_stream_next(stream, next, text, sizeof text), stdout);
            fflush(stdout);
            ids[0] = next;
            n = 1;
        }
        for (int len; (len = attend_stream_flush(stream, text, sizeof text)) > 0;)
            fwrite(text, 1, (size_t)len, stdout);
        putchar('\n');
    }
    attend_stream_free(stream);
    free(logits);
    free(ids);
    attend_context_free(ctx);
    attend_model_free(model);
    return 0;
}
