/* test_threads.c — the threading contract of attend.h: one model shared by two contexts that run
 * at the same time on two threads gives each exactly the logits it gives alone. `make tsan` runs
 * this under ThreadSanitizer, which reports any unsynchronised access to shared state. */
#include <pthread.h>

#include "test.h"
#include "attend.h"

enum { N_PROMPT = 24, N_DECODE = 8 };

typedef struct {
    const attend_model *model;
    int first_token;          /* the two sequences differ */
    int n_threads;            /* each context's own pool */
    float *logits;            /* (N_DECODE + 1) x vocab: after the prompt, then after each decode step */
    char err[256];
    int rc;
} sequence;

/* Prefill a prompt, then decode greedily; every row of logits is recorded. */
static void *run_sequence(void *arg)
{
    sequence *s = arg;
    const int vocab = attend_model_config(s->model)->vocab_size;
    attend_context_params p = attend_context_default_params();
    p.n_ctx = 64;
    p.n_threads = s->n_threads;
    attend_context *ctx = attend_context_new(s->model, &p, s->err, sizeof s->err);
    s->rc = -1;
    if (!ctx)
        return NULL;
    int tokens[N_PROMPT];
    for (int i = 0; i < N_PROMPT; i++)
        tokens[i] = (s->first_token + 37 * i) % vocab;
    if (attend_forward(ctx, tokens, N_PROMPT, 0, s->logits, 0, s->err, sizeof s->err) != 0)
        goto done;
    for (int step = 0; step < N_DECODE; step++) {
        const float *row = s->logits + (size_t)step * vocab;
        int next = 0;
        for (int v = 1; v < vocab; v++)
            if (row[v] > row[next]) next = v;
        if (attend_forward(ctx, &next, 1, N_PROMPT + step, s->logits + (size_t)(step + 1) * vocab, 0, s->err,
                           sizeof s->err) != 0)
            goto done;
    }
    s->rc = 0;
done:
    attend_context_free(ctx);
    return NULL;
}

static void test_threads_two_contexts_on_one_model_match_sequential_runs(void)
{
    const char *path = getenv("ATTEND_DEFAULT_MODEL");
    char err[256];
    attend_model *m = attend_model_load(path ? path : "models/stories-attend.gguf", NULL, err, sizeof err);
    CHECKF(m != NULL, "%s", err);
    const size_t floats = (size_t)(N_DECODE + 1) * attend_model_config(m)->vocab_size;
    sequence alone[2], together[2];
    for (int k = 0; k < 2; k++) {
        alone[k] = (sequence){.model = m, .first_token = 1 + 100 * k, .n_threads = 2,
                              .logits = calloc(floats, sizeof(float))};
        together[k] = alone[k];
        together[k].logits = calloc(floats, sizeof(float));
        run_sequence(&alone[k]);
        CHECKF(alone[k].rc == 0, "sequential run %d: %s", k, alone[k].err);
    }
    pthread_t threads[2];
    for (int k = 0; k < 2; k++)
        CHECK(pthread_create(&threads[k], NULL, run_sequence, &together[k]) == 0);
    for (int k = 0; k < 2; k++)
        pthread_join(threads[k], NULL);
    for (int k = 0; k < 2; k++) {
        CHECKF(together[k].rc == 0, "concurrent run %d: %s", k, together[k].err);
        CHECKF(memcmp(alone[k].logits, together[k].logits, floats * sizeof(float)) == 0,
               "sequence %d: concurrent logits differ from the sequential run", k);
    }
    CHECK(memcmp(alone[0].logits, alone[1].logits, sizeof(float) * 16) != 0);   /* they did differ */
    for (int k = 0; k < 2; k++) {
        free(alone[k].logits);
        free(together[k].logits);
    }
    attend_model_free(m);
}

int main(void)
{
    RUN(test_threads_two_contexts_on_one_model_match_sequential_runs);
    TEST_EXIT();
}
