/* simple.c — load a model, tokenize a prompt, generate greedily, stream the text.
 *   cc simple.c $(pkg-config --cflags --libs attend) -o simple && ./simple model.gguf "Once upon a time" */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <attend.h>

int main(int argc, char **argv)
{
    if (argc < 3) { fprintf(stderr, "usage: %s MODEL PROMPT [N]\n", argv[0]); return 1; }
    char err[256], text[64];
    attend_model *model = attend_model_load(argv[1], NULL, err, sizeof err);
    attend_context *ctx = model ? attend_context_new(model, NULL, err, sizeof err) : NULL;
    const attend_tokenizer *tok = model ? attend_model_tokenizer(model) : NULL;
    if (!ctx || !tok) { fprintf(stderr, "error: %s\n", tok || !model ? err : "no vocabulary"); return 1; }
    const int vocab = attend_model_config(model)->vocab_size, n_ctx = attend_context_size(ctx);
    const int n_predict = argc > 3 ? atoi(argv[3]) : 64;

    int *ids = malloc(sizeof(int) * (size_t)n_ctx);
    float *logits = malloc(sizeof(float) * (size_t)vocab);
    int n = attend_tokenize(tok, argv[2], strlen(argv[2]), 1, ids, n_ctx, err, sizeof err);
    if (n < 0 || n >= n_ctx) { fprintf(stderr, "error: %s\n", n < 0 ? err : "prompt too long"); return 1; }
    attend_stream *stream = attend_stream_new(tok);
    for (int i = 0; i < n; i++)   /* echo the prompt */
        fwrite(text, 1, (size_t)attend_stream_next(stream, ids[i], text, sizeof text), stdout);

    /* Prefill the prompt, then one token at a time: argmax of the logits, fed back in. */
    int pos = 0, next = -1;
    for (int step = 0; step < n_predict && pos + n <= n_ctx; step++) {
        if (attend_forward(ctx, ids + pos, n, pos, logits, 0, err, sizeof err) != 0) {
            fprintf(stderr, "error: %s\n", err);
            return 1;
        }
        pos += n;
        next = 0;
        for (int v = 1; v < vocab; v++)
            if (logits[v] > logits[next]) next = v;
        if (next == attend_tokenizer_eos(tok) || pos == n_ctx) break;
        fwrite(text, 1, (size_t)attend_stream_next(stream, next, text, sizeof text), stdout);
        fflush(stdout);
        ids[pos] = next;
        n = 1;
    }
    for (int len; (len = attend_stream_flush(stream, text, sizeof text)) > 0;)
        fwrite(text, 1, (size_t)len, stdout);
    putchar('\n');
    attend_stream_free(stream);
    free(logits);
    free(ids);
    attend_context_free(ctx);
    attend_model_free(model);
    return 0;
}
