/* test_stop.c — the --stop filter (src/cli/stop.c): what may still begin a stop string is held
 * back, a string split across pieces is found, the earliest of several wins, and the text before
 * it is all that comes out. */
#include "test.h"

#include "cli/stop.c"   /* a command-line module: compiled into the test directly */

/* Put the pieces one by one, collecting what comes out; returns whether a stop string hit. */
static int feed(stop_filter *f, const char *const *pieces, int n, char *out, size_t cap)
{
    size_t len = 0;
    int hit = 0;
    for (int i = 0; i < n && !hit; i++) {
        hit = stop_put(f, pieces[i], strlen(pieces[i]));
        CHECK(hit >= 0);
        const char *p;
        size_t k = stop_take(f, &p, hit);
        CHECK(len + k < cap);
        memcpy(out + len, p, k);
        len += k;
    }
    const char *p;
    size_t k = stop_take(f, &p, 1);
    CHECK(len + k < cap);
    memcpy(out + len, p, k);
    out[len + k] = '\0';
    return hit;
}

static void test_stop_string_split_across_pieces_is_cut_and_never_printed(void)
{
    stop_filter f = {0};
    CHECK(stop_add(&f, "User:") == 0 && stop_add(&f, "") == 0 && f.n == 1);
    char out[128];
    const char *pieces[] = {"Hello", " there.", "\nUs", "er", ": next", " never"};
    CHECK(feed(&f, pieces, 6, out, sizeof out) == 1);
    CHECKF(!strcmp(out, "Hello there.\n"), "got [%s]", out);
    CHECK(!strcmp(f.hit, "User:") && !strcmp(f.text, "Hello there.\n"));
    stop_free(&f);
}

static void test_stop_holds_back_only_a_possible_beginning(void)
{
    stop_filter f = {0};
    stop_add(&f, "</end>");
    const char *p;
    CHECK(stop_put(&f, "abc</e", 6) == 0);
    size_t k = stop_take(&f, &p, 0);
    CHECKF(k == 1 && p[0] == 'a', "released %zu bytes", k);   /* 5 bytes may begin "</end>" */
    CHECK(stop_put(&f, "x", 1) == 0);
    CHECK(stop_take(&f, &p, 1) == 6);   /* the end of generation releases the rest */
    stop_free(&f);
}

static void test_stop_earliest_of_several_strings_wins(void)
{
    stop_filter f = {0};
    stop_add(&f, "long stop");
    stop_add(&f, "op");
    char out[64];
    const char *pieces[] = {"a long stop"};
    CHECK(feed(&f, pieces, 1, out, sizeof out) == 1);
    CHECKF(!strcmp(out, "a "), "got [%s], hit %s", out, f.hit);
    stop_reset(&f);
    const char *plain[] = {"no", " match", " here"};
    CHECK(feed(&f, plain, 3, out, sizeof out) == 0 && !strcmp(out, "no match here") && !f.hit);
    stop_free(&f);
}

static void test_stop_without_strings_passes_everything_at_once(void)
{
    stop_filter f = {0};
    const char *p;
    CHECK(stop_take(&f, &p, 0) == 0);
    CHECK(stop_put(&f, "abc", 3) == 0 && stop_take(&f, &p, 0) == 3 && !memcmp(p, "abc", 3));
    for (int i = 0; i < STOP_MAX_STRINGS; i++)
        CHECK(stop_add(&f, "s") == 0);
    CHECK(stop_add(&f, "s") == -1);
    stop_free(&f);
}

int main(void)
{
    RUN(test_stop_string_split_across_pieces_is_cut_and_never_printed);
    RUN(test_stop_holds_back_only_a_possible_beginning);
    RUN(test_stop_earliest_of_several_strings_wins);
    RUN(test_stop_without_strings_passes_everything_at_once);
    TEST_EXIT();
}
