/* test_sampler.c — greedy, seeded sampling and each filter. */
#include "test.h"
#include "attend.h"

static attend_sampler_params plain(float temp, uint64_t seed)
{
    attend_sampler_params p = attend_sampler_default_params();
    p.temperature = temp;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = seed;
    return p;
}

static void fill(float *logits, int n)
{
    for (int i = 0; i < n; i++)
        logits[i] = sinf(i * 1.7f) * 3.0f;
}

static int argmax(const float *x, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b])
            b = i;
    return b;
}

static void test_sampler_temperature_zero_is_argmax(void)
{
    float l[100];
    fill(l, 100);
    const attend_sampler_params greedy = plain(0.0f, 1);
    attend_sampler *s = attend_sampler_new(100, &greedy);
    CHECK(attend_sample(s, l, NULL, 0) == argmax(l, 100));
    attend_sampler_free(s);
}

static void test_sampler_same_seed_same_tokens(void)
{
    attend_sampler *a = attend_sampler_new(1000, NULL);
    attend_sampler *b = attend_sampler_new(1000, NULL);
    const attend_sampler_params other_seed = plain(1.0f, 99);
    attend_sampler *c = attend_sampler_new(1000, &other_seed);
    int differs = 0;
    for (int i = 0; i < 200; i++) {
        float la[1000], lb[1000], lc[1000];
        for (int j = 0; j < 1000; j++)
            la[j] = lb[j] = lc[j] = sinf(j * 0.3f + i);
        int ta = attend_sample(a, la, NULL, 0), tb = attend_sample(b, lb, NULL, 0);
        CHECK(ta == tb);
        differs |= attend_sample(c, lc, NULL, 0) != ta;
    }
    CHECK(differs);   /* another seed and settings give another sequence */
    attend_sampler_free(a);
    attend_sampler_free(b);
    attend_sampler_free(c);
}

/* At temperature 1 with no filters, token frequencies follow softmax(logits). */
static void test_sampler_frequencies_follow_softmax(void)
{
    float base[4] = {0.0f, 1.0f, 2.0f, -1.0f};
    double z = exp(0) + exp(1) + exp(2) + exp(-1);
    int counts[4] = {0};
    const attend_sampler_params sampled = plain(1.0f, 7);
    attend_sampler *s = attend_sampler_new(4, &sampled);
    const int draws = 40000;
    for (int i = 0; i < draws; i++) {
        float l[4];
        memcpy(l, base, sizeof l);
        counts[attend_sample(s, l, NULL, 0)]++;
    }
    for (int i = 0; i < 4; i++) {
        double want = exp(base[i]) / z;
        CHECKF(fabs(counts[i] / (double)draws - want) < 0.01, "token %d: %g vs %g", i, counts[i] / (double)draws, want);
    }
    attend_sampler_free(s);
}

static void test_sampler_top_k_one_is_greedy(void)
{
    attend_sampler_params p = plain(1.5f, 3);
    p.top_k = 1;
    attend_sampler *s = attend_sampler_new(500, &p);
    for (int i = 0; i < 50; i++) {
        float l[500];
        fill(l, 500);
        l[(i * 37) % 500] = 10.0f;
        CHECK(attend_sample(s, l, NULL, 0) == (i * 37) % 500);
    }
    attend_sampler_free(s);
}

/* top_k = 3 only ever picks among the three largest logits. */
static void test_sampler_top_k_keeps_the_k_largest(void)
{
    attend_sampler_params p = plain(5.0f, 11);
    p.top_k = 3;
    attend_sampler *s = attend_sampler_new(300, &p);
    for (int i = 0; i < 500; i++) {
        float l[300];
        fill(l, 300);
        l[10] = 9; l[20] = 9.5f; l[30] = 9.7f;
        int t = attend_sample(s, l, NULL, 0);
        CHECKF(t == 10 || t == 20 || t == 30, "picked %d", t);
    }
    attend_sampler_free(s);
}

static void test_sampler_top_p_and_min_p_cut_the_tail(void)
{
    attend_sampler_params p = plain(1.0f, 5);
    p.top_p = 0.5f;   /* token 0 alone holds ~0.73 */
    attend_sampler *s = attend_sampler_new(50, &p);
    p.top_p = 1.0f;
    p.min_p = 0.9f;
    attend_sampler *m = attend_sampler_new(50, &p);
    for (int i = 0; i < 200; i++) {
        float l[50], l2[50];
        for (int j = 0; j < 50; j++)
            l[j] = l2[j] = 0.0f;
        l[0] = l2[0] = 5.0f;
        CHECK(attend_sample(s, l, NULL, 0) == 0);
        CHECK(attend_sample(m, l2, NULL, 0) == 0);
    }
    attend_sampler_free(s);
    attend_sampler_free(m);
}

/* The repetition penalty moves a recent favourite below the runner-up, whatever its sign. */
static void test_sampler_repeat_penalty_demotes_recent_tokens(void)
{
    attend_sampler_params p = plain(0.0f, 1);
    p.repeat_penalty = 2.0f;
    p.repeat_last_n = 4;
    attend_sampler *s = attend_sampler_new(3, &p);
    float l[3] = {3.0f, 2.0f, 1.0f};
    int history[2] = {0, 0};
    CHECK(attend_sample(s, l, history, 2) == 1);   /* 3/2 < 2 */
    float neg[3] = {-1.0f, -1.5f, -3.0f};
    CHECK(attend_sample(s, neg, history, 2) == 1); /* -1*2 < -1.5 */
    int old[6] = {0, 2, 2, 2, 2, 1};               /* token 0 is older than the window */
    float l3[3] = {3.0f, 2.0f, 1.0f};
    CHECK(attend_sample(s, l3, old, 6) == 0);
    attend_sampler_free(s);
}

/* Whatever the filters (even ones that would keep nothing but for rounding, like min_p = 1 or
 * top_p = 0), the token is in the vocabulary and is the argmax when only one token can survive. */
static void test_sampler_always_returns_a_token_in_the_vocabulary(void)
{
    const float temps[] = {0.01f, 0.7f, 1.0f, 50.0f};
    const float min_ps[] = {0.0f, 0.5f, 1.0f};
    const float top_ps[] = {0.0f, 0.3f, 1.0f};
    const int top_ks[] = {0, 1, 2, 299, 300, 1000};
    unsigned seed = 1;
    for (size_t a = 0; a < 4; a++)
        for (size_t b = 0; b < 3; b++)
            for (size_t c = 0; c < 3; c++)
                for (size_t d = 0; d < 6; d++) {
                    attend_sampler_params p = plain(temps[a], seed);
                    p.min_p = min_ps[b];
                    p.top_p = top_ps[c];
                    p.top_k = top_ks[d];
                    attend_sampler *s = attend_sampler_new(300, &p);
                    for (int i = 0; i < 20; i++) {
                        float l[300];
                        for (int j = 0; j < 300; j++) {
                            seed = seed * 1103515245u + 12345u;
                            l[j] = (float)(seed >> 16) / 6553.6f - 5.0f;   /* ties are possible */
                        }
                        int want = argmax(l, 300);
                        float top = l[want];
                        int t = attend_sample(s, l, NULL, 0);
                        CHECKF(t >= 0 && t < 300, "token %d (temp %g min_p %g top_p %g top_k %d)", t,
                               temps[a], min_ps[b], top_ps[c], top_ks[d]);
                        if (top_ks[d] == 1 || top_ps[c] == 0.0f)
                            CHECKF(l[t] == top, "picked %d, not a most likely token", t);
                    }
                    attend_sampler_free(s);
                }
}

int main(void)
{
    RUN(test_sampler_temperature_zero_is_argmax);
    RUN(test_sampler_same_seed_same_tokens);
    RUN(test_sampler_frequencies_follow_softmax);
    RUN(test_sampler_top_k_one_is_greedy);
    RUN(test_sampler_top_k_keeps_the_k_largest);
    RUN(test_sampler_top_p_and_min_p_cut_the_tail);
    RUN(test_sampler_repeat_penalty_demotes_recent_tokens);
    RUN(test_sampler_always_returns_a_token_in_the_vocabulary);
    TEST_EXIT();
}
