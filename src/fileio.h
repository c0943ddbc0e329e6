/* fileio.h — opening a file a user named: a model, a tokenizer, a prompt, a text to score.
 * Shared by the C library, the C++ tokenizer shim and the CLI, so the policy lives in one place. */
#ifndef ATTEND_FILEIO_H
#define ATTEND_FILEIO_H

#include <fcntl.h>
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

#endif
