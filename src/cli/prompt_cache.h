/* prompt_cache.h — --prompt-cache FILE: reuse the longest common prefix of a saved prompt's KV
 * cache, then save this prompt's. Uses only the public API (attend_kv_load / truncate / save). */
#ifndef ATTEND_CLI_PROMPT_CACHE_H
#define ATTEND_CLI_PROMPT_CACHE_H

#include <stddef.h>
#include "attend.h"

/* When `path` exists, load it into ctx and keep the positions its tokens share with the prompt
 * (at most n_prompt - 1: the last prompt token is always run, for its logits). Returns how many
 * prompt tokens are already in the cache (0 when there is no file), or -1 + err for a file that
 * cannot be trusted (another model, layout, truncated, corrupt, ...). *load_seconds: the time it
 * took, or -1 when there was no file. */
int prompt_cache_restore(attend_context *ctx, const char *path, const int *prompt, int n_prompt,
                         double *load_seconds, char *err, size_t errlen);

/* Save ctx's cache, which holds exactly the prompt, with the prompt's tokens. 0 or -1 + err. */
int prompt_cache_save(attend_context *ctx, const char *path, const int *prompt, int n_prompt, char *err,
                      size_t errlen);

#endif
