/* error.h — how the library reports a failure: a one-line reason written into the caller's
 * buffer (which may be NULL), and -1 returned. */
#ifndef ATTEND_ERROR_H
#define ATTEND_ERROR_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

static inline int set_error(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static inline int set_error(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

#endif
