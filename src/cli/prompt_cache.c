/* prompt_cache.c — see prompt_cache.h. The file format and every check on it are the library's
 * (attend_kv_load); this file only decides what to reuse. */
#include "cli/prompt_cache.h"
#include "cli/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int prompt_cache_restore(attend_context *ctx, const char *path, const int *prompt, int n_prompt,
                         double *load_seconds, char *err, size_t errlen)
{
    struct stat st;
    *load_seconds = -1;
    if (stat(path, &st) != 0 && errno == ENOENT)
        return 0;   /* the first run: the file is written after the prompt */
    const int n_ctx = attend_context_size(ctx);
    int *saved = malloc(sizeof(int) * (size_t)n_ctx);
    if (!saved) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    double t0 = now_seconds();
    int n_saved = attend_kv_load(ctx, path, saved, n_ctx, err, errlen);
    *load_seconds = now_seconds() - t0;
    if (n_saved < 0) {
        char why[512];
        snprintf(why, sizeof why, "%s", err);
        snprintf(err, errlen, "--prompt-cache: %s", why);
        free(saved);
        return -1;
    }
    /* The longest common prefix; the last prompt token is run again for its logits. */
    int n_common = 0;
    while (n_common < n_saved && n_common < n_prompt - 1 && saved[n_common] == prompt[n_common])
        n_common++;
    free(saved);
    attend_kv_truncate(ctx, n_common);
    return n_common;
}

int prompt_cache_save(attend_context *ctx, const char *path, const int *prompt, int n_prompt, char *err,
                      size_t errlen)
{
    if (attend_kv_save(ctx, path, prompt, n_prompt, err, errlen) == 0)
        return 0;
    char why[512];
    snprintf(why, sizeof why, "%s", err);
    snprintf(err, errlen, "--prompt-cache: %s", why);
    return -1;
}
