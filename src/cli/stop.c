/* stop.c — stop strings over streamed text (see stop.h). */
#include "cli/stop.h"
#include "cli/util.h"

#include <stdlib.h>
#include <string.h>

int stop_add(stop_filter *f, const char *s)
{
    if (!*s)
        return 0;
    if (f->n == STOP_MAX_STRINGS)
        return -1;
    f->strings[f->n++] = s;
    if (strlen(s) > f->longest)
        f->longest = strlen(s);
    return 0;
}

int stop_put(stop_filter *f, const char *s, size_t n)
{
    if (f->hit)
        return 1;
    if (grow_buffer(&f->text, &f->cap, f->len + n + 1) != 0)
        return -1;
    const size_t before = f->len;
    memcpy(f->text + f->len, s, n);
    f->len += n;
    f->text[f->len] = '\0';
    /* A stop string completed by these bytes starts at most its length less one before them. */
    size_t from = before >= f->longest ? before - f->longest + 1 : 0;
    long first = -1;
    for (int i = 0; i < f->n; i++) {
        const char *at = memmem(f->text + from, f->len - from, f->strings[i], strlen(f->strings[i]));
        if (at && (first < 0 || at - f->text < first)) {
            first = at - f->text;
            f->hit = f->strings[i];
        }
    }
    if (first < 0)
        return 0;
    f->len = (size_t)first;
    f->text[f->len] = '\0';
    return 1;
}

size_t stop_take(stop_filter *f, const char **out, int all)
{
    if (!f->text) {
        *out = "";
        return 0;
    }
    size_t end = f->len;
    if (!all && !f->hit && f->longest > 0)
        end = f->len >= f->longest ? f->len - f->longest + 1 : 0;
    if (end < f->released)
        end = f->released;
    *out = f->text + f->released;
    size_t n = end - f->released;
    f->released = end;
    return n;
}

void stop_reset(stop_filter *f)
{
    f->len = f->released = 0;
    f->hit = NULL;
    if (f->text)
        f->text[0] = '\0';
}

void stop_free(stop_filter *f)
{
    free(f->text);
    f->text = NULL;
    f->len = f->cap = f->released = 0;
}
