/* sampler.c — from a row of logits to the next token.
 *
 * The pipeline, each stage optional: repetition penalty on recent tokens; then greedy argmax when
 * the temperature is 0; otherwise softmax(logits / temperature), keep the top-k most likely, drop
 * tokens less likely than min_p times the most likely, keep the smallest set whose probability
 * reaches top_p (nucleus), and draw from what is left. Same seed, same logits: same token. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attend.h"

typedef struct {
    int id;
    float p;
} candidate;

struct attend_sampler {
    attend_sampler_params params;
    int vocab_size;
    uint64_t rng;
    candidate *cand;   /* vocab_size, allocated once */
};

attend_sampler_params attend_sampler_default_params(void)
{
    return (attend_sampler_params){.temperature = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f,
                                   .repeat_penalty = 1.0f, .repeat_last_n = 64, .seed = 0};
}

attend_sampler *attend_sampler_new(int vocab_size, const attend_sampler_params *params)
{
    const attend_sampler_params p = params ? *params : attend_sampler_default_params();
    attend_sampler *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->cand = malloc(sizeof *s->cand * (size_t)vocab_size);
    if (!s->cand) {
        free(s);
        return NULL;
    }
    s->params = p;
    s->vocab_size = vocab_size;
    /* splitmix64 would accept a zero seed; xorshift would not: mix the seed first. */
    uint64_t z = p.seed + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    s->rng = (z ^ (z >> 31)) | 1;
    return s;
}

void attend_sampler_free(attend_sampler *s)
{
    if (s) {
        free(s->cand);
        free(s);
    }
}

/* xorshift64*: a uniform float in [0, 1). */
static float random_unit(attend_sampler *s)
{
    s->rng ^= s->rng >> 12;
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    return (float)((s->rng * 0x2545f4914f6cdd1dull) >> 40) / 16777216.0f;
}

static int argmax(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

static int by_probability_desc(const void *a, const void *b)
{
    float pa = ((const candidate *)a)->p, pb = ((const candidate *)b)->p;
    return (pa < pb) - (pa > pb);
}

/* Partition so that the k most likely candidates come first (quickselect, O(n) on average). */
static void select_top_k(candidate *c, int n, int k)
{
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        float pivot = c[(lo + hi) / 2].p;
        int i = lo, j = hi;
        while (i <= j) {
            while (c[i].p > pivot) i++;
            while (c[j].p < pivot) j--;
            if (i <= j) {
                candidate t = c[i];
                c[i++] = c[j];
                c[j--] = t;
            }
        }
        if (k - 1 <= j) hi = j;
        else if (k - 1 >= i) lo = i;
        else break;
    }
}

int attend_sample(attend_sampler *s, float *logits, const int *history, int n_history)
{
    const attend_sampler_params *p = &s->params;
    const int n = s->vocab_size;

    /* Repetition penalty (CTRL, Keskar et al. 2019): make recent tokens less likely. A positive
     * logit is divided and a negative one multiplied, so both move down. Each token once. */
    if (p->repeat_penalty != 1.0f && p->repeat_last_n > 0) {
        int from = n_history > p->repeat_last_n ? n_history - p->repeat_last_n : 0;
        for (int i = from; i < n_history; i++) {
            int id = history[i], seen = 0;
            if (id < 0 || id >= n)
                continue;
            for (int j = from; j < i && !seen; j++)
                seen = history[j] == id;
            if (!seen)
                logits[id] = logits[id] > 0 ? logits[id] / p->repeat_penalty : logits[id] * p->repeat_penalty;
        }
    }
    if (p->temperature <= 0.0f)
        return argmax(logits, n);

    /* Probabilities at this temperature. */
    float max = logits[argmax(logits, n)];
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        float e = expf((logits[i] - max) / p->temperature);
        s->cand[i] = (candidate){i, e};
        sum += e;
    }
    int best = 0;
    for (int i = 0; i < n; i++) {
        s->cand[i].p = (float)(s->cand[i].p / sum);
        if (s->cand[i].p > s->cand[best].p)
            best = i;
    }
    /* The most likely token comes first and no filter below removes it (each keeps p >= some
     * threshold no larger than p_max), so at least one candidate always remains. */
    candidate top = s->cand[best];
    s->cand[best] = s->cand[0];
    s->cand[0] = top;
    const float p_max = top.p;

    /* Filters: each one shrinks the candidate list [0, m). */
    int m = n;
    if (p->top_k > 0 && p->top_k < m) {
        if (p->top_k > 1)
            select_top_k(s->cand + 1, m - 1, p->top_k - 1);   /* the top token is already first */
        m = p->top_k;
    }
    if (p->min_p > 0.0f) {
        int kept = 1;
        for (int i = 1; i < m; i++)
            if (s->cand[i].p >= p->min_p * p_max)
                s->cand[kept++] = s->cand[i];
        m = kept;
    }
    if (p->top_p < 1.0f) {
        /* Tokens below (1 - top_p) / (m - 1) cannot be in the nucleus (llama2.c's observation):
         * drop them before sorting, which is what makes this cheap for a 32000-token vocabulary. */
        if (m > 1) {
            float cutoff = (1.0f - p->top_p) / (float)(m - 1);
            int kept = 1;
            for (int i = 1; i < m; i++)
                if (s->cand[i].p >= cutoff)
                    s->cand[kept++] = s->cand[i];
            m = kept;
        }
        qsort(s->cand, (size_t)m, sizeof *s->cand, by_probability_desc);
        float cum = 0.0f;
        for (int i = 0; i < m; i++) {
            cum += s->cand[i].p;
            if (cum >= p->top_p) {
                m = i + 1;
                break;
            }
        }
    }

    /* Draw from what is left, renormalised. */
    float total = 0.0f;
    for (int i = 0; i < m; i++)
        total += s->cand[i].p;
    float r = random_unit(s) * total, cum = 0.0f;
    for (int i = 0; i < m; i++) {
        cum += s->cand[i].p;
        if (r < cum)
            return s->cand[i].id;
    }
    return s->cand[m - 1].id;
}
