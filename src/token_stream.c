/* token_stream.c — SentencePieceProcessor::Decode, one id at a time (attend_stream_* of attend.h),
 * from the table of surfaces the tokenizer built at load (tokenizer.h):
 *   - a run of byte pieces becomes text one UTF-8 character at a time; a byte that cannot start
 *     or continue a valid character becomes U+FFFD (one per byte), and a run that ends (at a
 *     non-byte piece or the flush) inside a character turns its bytes into U+FFFD the same way;
 *   - control pieces are invisible, the unknown piece shows its unk surface;
 *   - the leading '▁' of the first piece is the dummy prefix: dropped if no text has been
 *     produced yet and no earlier piece had its '▁' dropped (is_bos_ws / bos_ws_seen in Decode).
 * At most 3 bytes are ever held (a character's incomplete prefix). Decided text waits in
 * `pending` until the caller's buffer takes it, cut only between characters, so a small buffer
 * delays text but never splits or loses it. The flush ends the sequence (held bytes are decided
 * as at its end) and leaves the stream ready for a new one. */
#include "tokenizer.h"
#include "utf8.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const char REPLACEMENT_CHAR[] = "\xEF\xBF\xBD";   /* U+FFFD, what Decode emits for a bad byte */

struct attend_stream {
    const token_surfaces *t;
    uint8_t held[4];           /* byte-piece bytes of an unfinished character */
    int n_held;
    bool produced;             /* some text has been decided */
    bool may_strip;            /* Decode's is_bos_ws: the dummy prefix may still be dropped */
    bool just_stripped;        /* Decode's bos_ws_seen: the last piece's '▁' was dropped */
    char *pending;             /* decided text the caller has not taken yet: whole characters */
    size_t n_pending, pending_cap;
};

/* Append decided text; -1 when the pending buffer cannot grow. */
static int emit(attend_stream *s, const char *p, size_t n)
{
    if (s->n_pending + n > s->pending_cap) {
        size_t cap = 2 * s->pending_cap > s->n_pending + n ? 2 * s->pending_cap : s->n_pending + n;
        char *grown = realloc(s->pending, cap);
        if (!grown) return -1;
        s->pending = grown;
        s->pending_cap = cap;
    }
    memcpy(s->pending + s->n_pending, p, n);
    s->n_pending += n;
    if (n) s->produced = true;
    return 0;
}

static void drop_held(attend_stream *s, int k)
{
    memmove(s->held, s->held + k, (size_t)(s->n_held - k));
    s->n_held -= k;
}

/* Turn held bytes into text while the characters they start are decided. `run_ended`: no more
 * bytes will join them, so an incomplete character is invalid. -1: out of memory. */
static int resolve_held(attend_stream *s, bool run_ended)
{
    while (s->n_held > 0) {
        int need = utf8_needed(s->held[0]);
        bool bad = need == 0;
        for (int i = 1; !bad && i < need && i < s->n_held; i++) bad = !utf8_is_trail(s->held[i]);
        if (!bad && s->n_held < need) {
            if (!run_ended) return 0;            /* wait for the rest of the character */
            bad = true;
        }
        if (!bad && utf8_valid_len(s->held, (size_t)need) == need) {
            if (emit(s, (const char *)s->held, (size_t)need)) return -1;
            drop_held(s, need);
        } else {
            if (emit(s, REPLACEMENT_CHAR, 3)) return -1;
            drop_held(s, 1);
        }
    }
    return 0;
}

/* Move the longest prefix of `pending` that fits in buflen and ends between characters. Pending
 * text is valid UTF-8 (surfaces are checked at load, held bytes are emitted only when valid). */
static int take_pending(attend_stream *s, char *buf, size_t buflen)
{
    size_t n = s->n_pending;
    if (n > buflen) n = buflen;
    if (n > (size_t)INT32_MAX) n = INT32_MAX;
    while (n > 0 && n < s->n_pending && utf8_is_trail((uint8_t)s->pending[n])) n--;
    if (n) {
        memcpy(buf, s->pending, n);
        memmove(s->pending, s->pending + n, s->n_pending - n);
        s->n_pending -= n;
    }
    return (int)n;
}

ATTEND_API attend_stream *attend_stream_new(const attend_tokenizer *tok)
{
    attend_stream *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->t = tokenizer_surfaces(tok);
    s->may_strip = true;
    s->pending_cap = s->t->max_surface + 16;
    s->pending = malloc(s->pending_cap);
    if (!s->pending) {
        free(s);
        return NULL;
    }
    return s;
}

ATTEND_API int attend_stream_next(attend_stream *s, int id, char *buf, size_t buflen)
{
    const token_surfaces *t = s->t;
    if (id < 0 || id >= t->n_vocab) return -1;
    const token_piece *info = &t->pieces[id];
    if (info->kind == PIECE_BYTE) {
        s->held[s->n_held++] = info->byte;
        if (resolve_held(s, false)) return -1;
    } else {
        if (resolve_held(s, true)) return -1;
        if (s->just_stripped || s->produced) s->may_strip = false;
        const char *surface = t->surfaces + info->surface_offset;
        size_t n = info->surface_len;
        s->just_stripped = false;
        if (info->kind == PIECE_NORMAL && info->leading_space && s->may_strip && t->strip_dummy_prefix) {
            surface++;
            n--;
            s->just_stripped = !t->strip_all_leading;
        }
        if (emit(s, surface, n)) return -1;
    }
    return take_pending(s, buf, buflen);
}

ATTEND_API int attend_stream_flush(attend_stream *s, char *buf, size_t buflen)
{
    if (resolve_held(s, true)) return -1;
    s->produced = false;
    s->may_strip = true;
    s->just_stripped = false;
    return take_pending(s, buf, buflen);
}

ATTEND_API void attend_stream_free(attend_stream *s)
{
    if (!s) return;
    free(s->pending);
    free(s);
}
