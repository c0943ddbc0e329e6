/* fileio.h — opening a file a user named: a model, a tokenizer, a prompt, a text to score.
 * Shared by the C library, the C++ tokenizer shim and the CLI, so the policy lives in one place. */
#ifndef ATTEND_FILEIO_H
#define ATTEND_FILEIO_H

#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { FILE_CANNOT_OPEN = -1, FILE_NOT_REGULAR = -2 };

/* A read-only descriptor for `path` with its stat in *st, or FILE_CANNOT_OPEN (errno says why) or
 * FILE_NOT_REGULAR (a directory, FIFO, device...). O_NONBLOCK: opening a FIFO must not wait for a
 * writer — the type check then refuses it; for a regular file the flag changes nothing. */
static inline int open_regular_file(const char *path, struct stat *st)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK);
    if (fd < 0)
        return FILE_CANNOT_OPEN;
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        return FILE_NOT_REGULAR;
    }
    return fd;
}

/* The whole of a regular file of at most max_bytes, in a malloc'd buffer (free it), its length in
 * *size; NULL with a one-line reason in err, "WHAT: PATH: ...". For the small files read whole (a
 * tokenizer); models are mapped instead. */
static inline char *read_whole_file(const char *path, const char *what, size_t max_bytes, size_t *size, char *err,
                                    size_t errlen)
{
    struct stat st;
    char why[128] = "";
    char *data = NULL;
    int fd = open_regular_file(path, &st);
    if (fd == FILE_CANNOT_OPEN) {
        snprintf(why, sizeof why, "cannot open: %s", strerror(errno));
    } else if (fd == FILE_NOT_REGULAR) {
        snprintf(why, sizeof why, "not a regular file");
    } else if ((uint64_t)st.st_size > max_bytes) {
        snprintf(why, sizeof why, "%lld bytes, over the %zu a %s file may have", (long long)st.st_size, max_bytes,
                 what);
    } else if (!(data = (char *)malloc((size_t)st.st_size + 1))) {
        snprintf(why, sizeof why, "out of memory for %lld bytes", (long long)st.st_size);
    } else {
        size_t got = 0;
        ssize_t n = 1;
        while (got < (size_t)st.st_size && (n = read(fd, data + got, (size_t)st.st_size - got)) > 0)
            got += (size_t)n;
        if (n < 0) {
            snprintf(why, sizeof why, "read error: %s", strerror(errno));
            free(data);
            data = NULL;
        } else {
            data[got] = 0;
            *size = got;
        }
    }
    if (fd >= 0)
        close(fd);
    if (!data)
        set_error(err, errlen, "%s: %s: %s", what, path, why);
    return data;
}

#endif
