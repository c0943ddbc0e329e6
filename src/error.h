/* error.h — how the library reports a failure: a one-line reason written into the caller's
 * buffer (which may be NULL), and -1 returned. One line always: a control byte that a file's
 * contents or a path brought into the message is shown as '?'. */
#ifndef ATTEND_ERROR_H
#define ATTEND_ERROR_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

static inline int set_error_v(char *err, size_t errlen, const char *fmt, va_list ap)
{
    if (err && errlen) {
        vsnprintf(err, errlen, fmt, ap);
        for (char *p = err; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = '?';
    }
    return -1;
}

static inline int set_error(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static inline int set_error(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_error_v(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

#endif
