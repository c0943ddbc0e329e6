/* stop.h — stop strings (--stop, --reverse-prompt) over generated text as it streams out.
 *
 * Text goes in piece by piece; what comes out is everything that can no longer be the beginning
 * of a stop string. The bytes that still might be (at most the longest stop string less one) wait
 * until the next piece decides them, so a stop string is never half printed. When one completes,
 * the text before it is the whole output and generation should end. */
#ifndef ATTEND_CLI_STOP_H
#define ATTEND_CLI_STOP_H

#include <stddef.h>

enum { STOP_MAX_STRINGS = 32 };

typedef struct {
    const char *strings[STOP_MAX_STRINGS];   /* not owned; empty strings are ignored */
    int n;
    size_t longest;
    char *text;      /* everything put so far (the stop string cut off once found) */
    size_t len, cap, released;   /* released: the prefix of text already handed out */
    const char *hit;             /* the stop string found, or NULL */
} stop_filter;

/* Add a stop string (ignored when empty); -1 when STOP_MAX_STRINGS are already there. */
int stop_add(stop_filter *f, const char *s);
/* Append n bytes of generated text. Returns 1 when a stop string has now completed (f->hit says
 * which; the text is cut before it), 0 otherwise, -1 when memory runs out. */
int stop_put(stop_filter *f, const char *s, size_t n);
/* The bytes decided since the last call: *out points at them, the count is returned. With
 * `all`, everything that remains (the end of generation). */
size_t stop_take(stop_filter *f, const char **out, int all);
/* Forget the text (a new answer); the stop strings stay. */
void stop_reset(stop_filter *f);
void stop_free(stop_filter *f);

#endif
