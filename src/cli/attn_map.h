/* attn_map.h — the attention weights of a prompt, collected from the library's observer, and the
 * ways to show them: a PNG grid, a self-contained HTML page, a terminal view and a raw dump. */
#ifndef ATTEND_CLI_ATTN_MAP_H
#define ATTEND_CLI_ATTN_MAP_H

#include <stdio.h>

#include "attend.h"

/* Longest prompt drawn as a map: the HTML page carries n^2/2 numbers per head. */
enum { ATTN_MAP_MAX_TOKENS = 128 };

typedef struct {
    int n_layers, n_heads, n_kv_heads, n;   /* n: prompt tokens (queries = keys) */
    float *w;        /* [layer][head][query][key], 0 where key > query (masked) */
    char **labels;   /* the text of each token, printable, for axes and tooltips */
    const char *title;
} attn_map;

/* An empty map for a prompt of n tokens (labels from the tokenizer); NULL when out of memory. */
attn_map *attn_map_new(const attend_config *c, const attend_tokenizer *tok, const int *ids, int n, const char *title);
void attn_map_free(attn_map *m);
/* The observer to pass to attend_context_set_observer with the map as `user`. */
void attn_map_observe(void *user, int layer, int n_tokens, int pos0, int n_heads, int n_keys,
                      const float *weights);

static inline float attn_map_at(const attn_map *m, int layer, int head, int query, int key)
{
    return m->w[(((size_t)layer * m->n_heads + head) * m->n + query) * m->n + key];
}

/* Each returns 0, or -1 when the file cannot be written (errno tells why). */
/* Raw dump: "ATTN", then int32 version (1), n_layers, n_heads, n_kv_heads, n_tokens, all
 * little-endian, then float32 weights [layer][head][query][key] (n_tokens x n_tokens per head). */
int attn_map_write_dump(const attn_map *m, FILE *f);
int attn_map_write_png(const attn_map *m, FILE *f);
int attn_map_write_html(const attn_map *m, FILE *f);   /* attn_html.c */
/* One head as shaded characters, query down, key across, token labels on the rows. */
void attn_map_print_text(const attn_map *m, int layer, int head, FILE *f);

#endif
