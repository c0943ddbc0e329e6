/* test_tokenizer.c — the SentencePiece shim (src/tokenizer_sp.cpp).
 *
 * Without ../shared: a small vocabulary built here (unk, BOS, EOS, the 256 byte pieces and a few
 * merges) pins encoding with byte fallback, the streaming decoder, and the refusal of malformed
 * vocabularies and tokenizer.bin files.
 * With ../shared: python3-sentencepiece (scripts/tokenizer_expect.py, run at test time into /tmp)
 * gives the reference ids and text for tests/tokenizer_cases.txt plus TinyStories text; the
 * tokenizer.model, the llama2.c tokenizer.bin, the model's pieces passed through
 * tokenizer_from_vocab and the GGUF vocabulary must all agree with it. */
#include "test.h"
#include "tokenizer.h"
#include "formats/gguf.h"

#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ==== Helpers ==== */

static char err[256];

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rng(void) { return (uint32_t)(test_xorshift(&rng_state) >> 32); }

/* Encode into a fresh array (caller frees); asserts success. */
static int *encode(const attend_tokenizer *t, const char *text, size_t len, int add_bos, int *n)
{
    *n = attend_tokenize(t, text, len, add_bos, NULL, 0, err, sizeof err);
    CHECKF(*n >= 0, "encode failed: %s", err);
    int *ids = malloc(sizeof(int) * (size_t)(*n + 1));
    CHECK(attend_tokenize(t, text, len, add_bos, ids, *n, err, sizeof err) == *n);
    return ids;
}

/* Decode into a fresh NUL-terminated string (caller frees); asserts success. */
static char *decode(const attend_tokenizer *t, const int *ids, int n, long *len)
{
    *len = attend_detokenize(t, ids, n, NULL, 0);
    CHECKF(*len >= 0, "decode of %d ids failed", n);
    char *out = malloc((size_t)*len + 1);
    CHECK(attend_detokenize(t, ids, n, out, (size_t)*len + 1) == *len);
    return out;
}

static int is_utf8_boundary_clean(const char *s, size_t n)
{
    /* The text ends on a whole character: no lead byte without all of its continuation bytes. */
    size_t i = n;
    int trail = 0;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80 && trail < 4) { i--; trail++; }
    if (i == 0) return trail == 0;
    unsigned char lead = (unsigned char)s[i - 1];
    int need = lead < 0x80 ? 1 : (lead & 0xE0) == 0xC0 ? 2 : (lead & 0xF0) == 0xE0 ? 3 : (lead & 0xF8) == 0xF0 ? 4 : 1;
    return trail == 0 ? need == 1 : trail == need - 1;
}

/* Stream `ids` one at a time; the concatenation (with the flush) must equal attend_detokenize. */
static void check_stream_matches_decode(const attend_tokenizer *t, const int *ids, int n)
{
    long want_len;
    char *want = decode(t, ids, n, &want_len);
    attend_stream *s = attend_stream_new(t);
    CHECK(s != NULL);
    char *got = malloc((size_t)want_len + 64);
    size_t got_len = 0;
    char piece[64];
    for (int i = 0; i <= n; i++) {
        int len = i < n ? attend_stream_next(s, ids[i], piece, sizeof piece)
                        : attend_stream_flush(s, piece, sizeof piece);
        CHECK(len >= 0);
        CHECKF(got_len + (size_t)len <= (size_t)want_len, "stream wrote more than decode (%ld bytes) at id %d",
               want_len, i);
        if (i < n && len > 0) {
            /* Whatever is returned may be printed: it never ends inside a character that
             * decode renders whole. (Decode's own output is valid UTF-8.) */
            CHECKF(is_utf8_boundary_clean(piece, (size_t)len), "stream output at id %d ends mid-character", i);
        }
        memcpy(got + got_len, piece, (size_t)len);
        got_len += (size_t)len;
        if (i == n && len > 0)
            i--;   /* flush until it returns 0 */
    }
    CHECKF(got_len == (size_t)want_len && memcmp(got, want, got_len) == 0,
           "stream gave \"%.*s\" (%zu bytes), decode \"%s\" (%ld bytes), %d ids starting %d",
           (int)got_len, got, got_len, want, want_len, n, n ? ids[0] : -1);
    attend_stream_free(s);
    free(got);
    free(want);
}

/* ==== A synthetic vocabulary ==== */

/* Ids: 0 <unk>, 1 <s>, 2 </s>, 3..258 the bytes <0x00>..<0xFF>, then merges. BPE merges the
 * adjacent pair whose concatenation is a piece with the highest score. */
#define BYTE_ID(b) (3 + (b))
static const char *const synth_merges[] = {
    "\xE2\x96\x81", "h", "e", "l", "o", "w", "r", "d",
    "\xE2\x96\x81h", "ll", "\xE2\x96\x81he", "llo", "\xE2\x96\x81hello",
    "\xE2\x96\x81w", "or", "\xE2\x96\x81wor", "ld", "\xE2\x96\x81world",
};
#define N_MERGES (int)(sizeof synth_merges / sizeof synth_merges[0])
#define N_SYNTH (3 + 256 + N_MERGES)
enum { ID_SPACE = 259, ID_SPACE_H = 267, ID_LLO = 270, ID_HELLO = 271, ID_WORLD = 276 };

static char synth_text[N_SYNTH][8];
static const char *synth_pieces[N_SYNTH];
static size_t synth_lens[N_SYNTH];
static float synth_scores[N_SYNTH];
static int synth_types[N_SYNTH];

static void synth_vocab(void)
{
    for (int i = 0; i < N_SYNTH; i++) {
        const char *p;
        if (i == 0) p = "<unk>";
        else if (i == 1) p = "<s>";
        else if (i == 2) p = "</s>";
        else if (i < 259) { snprintf(synth_text[i], sizeof synth_text[i], "<0x%02X>", i - 3); p = synth_text[i]; }
        else p = synth_merges[i - 259];
        synth_pieces[i] = p;
        synth_lens[i] = strlen(p);
        synth_types[i] = i == 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1;
        /* single characters first, then merges in order of preference (llama scores by rank) */
        synth_scores[i] = i < 259 ? 0.0f : -(float)(i - 259);
    }
}

static attend_tokenizer *synth_tokenizer(void)
{
    synth_vocab();
    attend_tokenizer *t = tokenizer_from_vocab(N_SYNTH, synth_pieces, synth_lens, synth_scores, synth_types,
                                        1, 2, 0, "vocab", err, sizeof err);
    CHECKF(t != NULL, "synthetic vocab refused: %s", err);
    return t;
}

static void check_ids(const attend_tokenizer *t, const char *text, int add_bos, const int *want, int n_want)
{
    int n;
    int *ids = encode(t, text, strlen(text), add_bos, &n);
    int same = n == n_want;
    for (int i = 0; same && i < n; i++) same = ids[i] == want[i];
    CHECKF(same, "\"%s\": got %d ids (first %d), want %d (first %d)", text, n, n ? ids[0] : -1, n_want, want[0]);
    free(ids);
}

/* ==== Tests that need nothing but the library ==== */

static void test_tokenizer_synthetic_vocab_merges_and_falls_back_to_bytes(void)
{
    attend_tokenizer *t = synth_tokenizer();
    CHECK(attend_tokenizer_vocab_size(t) == N_SYNTH);
    CHECK(attend_tokenizer_bos(t) == 1 && attend_tokenizer_eos(t) == 2);
    check_ids(t, "hello", 0, (int[]){ID_HELLO}, 1);
    check_ids(t, "hello world", 1, (int[]){1, ID_HELLO, ID_WORLD}, 3);
    /* 'é' is no piece: its two UTF-8 bytes come out as byte pieces between the merges */
    check_ids(t, "h\xC3\xA9llo", 0, (int[]){ID_SPACE_H, BYTE_ID(0xC3), BYTE_ID(0xA9), ID_LLO}, 4);
    check_ids(t, "", 0, (int[]){0}, 0);
    check_ids(t, "", 1, (int[]){1}, 1);
    const char *texts[] = {"h\xC3\xA9llo", "hello  world ", "\xF0\x9F\x98\x80 x\ty\n", " lead"};
    for (int i = 0; i < 4; i++) {
        int n;
        long len;
        int *ids = encode(t, texts[i], strlen(texts[i]), 1, &n);
        char *back = decode(t, ids, n, &len);
        CHECKF(strcmp(back, texts[i]) == 0, "\"%s\" decoded as \"%s\"", texts[i], back);
        free(back);
        free(ids);
    }
    tokenizer_free(t);
}

/* Without <0xNN> pieces there is no byte fallback: an unknown character is <unk>. */
static void test_tokenizer_vocab_without_bytes_encodes_unknown_as_unk(void)
{
    const char *pieces[] = {"<unk>", "<s>", "</s>", "\xE2\x96\x81", "a", "b", "\xE2\x96\x81" "a"};
    size_t lens[7];
    for (int i = 0; i < 7; i++) lens[i] = strlen(pieces[i]);
    const float scores[] = {0, 0, 0, -1, -2, -3, -4};
    const int types[] = {2, 3, 3, 1, 1, 1, 1};
    attend_tokenizer *t = tokenizer_from_vocab(7, pieces, lens, scores, types, 1, 2, 0, "vocab", err, sizeof err);
    CHECKF(t != NULL, "%s", err);
    check_ids(t, "ab\xC3\xA9", 0, (int[]){6, 5, 0}, 3);
    long len;
    char *text = decode(t, (int[]){6, 5, 0}, 3, &len);
    CHECKF(strcmp(text, "ab \xE2\x81\x87 ") == 0, "decoded \"%s\"", text);
    free(text);
    check_stream_matches_decode(t, (int[]){0, 6, 5, 0}, 4);
    tokenizer_free(t);
}

/* attend_tokenize_special: user-defined and control pieces written in the text become their ids,
 * the longest at each position; each stretch of text between gets its own dummy prefix. */
static void test_tokenizer_special_pieces_longest_first_with_dummy_prefix_after_each(void)
{
    const char *pieces[] = {"<unk>", "<s>", "</s>", "\xE2\x96\x81", "a", "b", "\xE2\x96\x81" "a", "<|a|>", "<|a|>b",
                            "x", "\xE2\x96\x81x"};
    enum { N = 11 };
    size_t lens[N];
    float scores[N];
    for (int i = 0; i < N; i++) {
        lens[i] = strlen(pieces[i]);
        scores[i] = -(float)i;
    }
    const int types[N] = {2, 3, 3, 1, 1, 1, 1, 4, 4, 1, 1};
    attend_tokenizer *t = tokenizer_from_vocab(N, pieces, lens, scores, types, 1, 2, 0, "vocab", err, sizeof err);
    CHECKF(t != NULL, "%s", err);
    if (!t)
        return;
    int ids[16];
    const char *text = "x<|a|>b<|a|>x</s>";
    int n = attend_tokenize_special(t, text, strlen(text), 1, ids, 16, err, sizeof err);
    const int want[] = {1, 10, 8, 7, 10, 2};
    CHECKF(n == 6 && !memcmp(ids, want, sizeof want), "%d ids: %d %d %d %d %d %d", n, ids[0], ids[1], ids[2],
           ids[3], ids[4], ids[5]);
    /* without parsing, </s> is text (no EOS id), and a text of special pieces alone has no other ids */
    n = attend_tokenize(t, text, strlen(text), 0, ids, 16, err, sizeof err);
    for (int i = 0; i < n && i < 16; i++)
        CHECKF(ids[i] != 2, "plain encoding has EOS at %d", i);
    CHECK(attend_tokenize_special(t, "<s><|a|>", 8, 0, ids, 16, err, sizeof err) == 2 && ids[0] == 1 && ids[1] == 7);
    CHECK(attend_tokenize_special(t, "<|a", 3, 0, ids, 16, err, sizeof err) >= 2);   /* no piece: text */
    tokenizer_free(t);
}

static void test_tokenizer_encode_reports_the_room_it_needs(void)
{
    attend_tokenizer *t = synth_tokenizer();
    int ids[2] = {-7, -7};
    CHECK(attend_tokenize(t, "hello world", 11, 1, ids, 1, err, sizeof err) == 3);
    CHECK(ids[0] == 1 && ids[1] == -7);
    tokenizer_free(t);
}

static void test_tokenizer_decode_rejects_out_of_range_id(void)
{
    attend_tokenizer *t = synth_tokenizer();
    char out[16];
    CHECK(attend_detokenize(t, (int[]){ID_HELLO, N_SYNTH}, 2, out, sizeof out) == -1);
    CHECK(attend_detokenize(t, (int[]){-1}, 1, out, sizeof out) == -1);
    CHECK(attend_detokenize(t, (int[]){ID_HELLO}, 1, out, sizeof out) == 5 && strcmp(out, "hello") == 0);
    /* a short buffer still gets the full length back and a NUL-terminated prefix */
    CHECK(attend_detokenize(t, (int[]){ID_HELLO}, 1, out, 3) == 5 && strcmp(out, "he") == 0);
    attend_stream *s = attend_stream_new(t);
    CHECK(attend_stream_next(s, N_SYNTH, out, sizeof out) == -1);
    CHECK(attend_stream_next(s, -3, out, sizeof out) == -1);
    attend_stream_free(s);
    tokenizer_free(t);
}

static void test_tokenizer_stream_reassembles_emoji_from_byte_pieces(void)
{
    attend_tokenizer *t = synth_tokenizer();
    attend_stream *s = attend_stream_new(t);
    const unsigned char emoji[4] = {0xF0, 0x9F, 0x98, 0x80};   /* U+1F600 */
    char out[64];
    int len = attend_stream_next(s, ID_HELLO, out, sizeof out);
    CHECK(len == 5 && memcmp(out, "hello", 5) == 0);            /* dummy prefix dropped */
    for (int i = 0; i < 3; i++) {
        len = attend_stream_next(s, BYTE_ID(emoji[i]), out, sizeof out);
        CHECKF(len == 0, "byte %d of 4 released %d bytes early", i + 1, len);
    }
    len = attend_stream_next(s, BYTE_ID(emoji[3]), out, sizeof out);
    CHECK(len == 4 && memcmp(out, emoji, 4) == 0);
    len = attend_stream_next(s, ID_WORLD, out, sizeof out);
    CHECK(len == 6 && memcmp(out, " world", 6) == 0);
    CHECK(attend_stream_flush(s, out, sizeof out) == 0);
    attend_stream_free(s);
    tokenizer_free(t);
}

static void test_tokenizer_token_to_piece_fills_the_callers_buffer(void)
{
    attend_tokenizer *t = synth_tokenizer();
    char buf[16] = "xxxxxxxxxxxxxxx";
    CHECK(attend_token_to_piece(t, ID_WORLD, buf, sizeof buf) == 6 && memcmp(buf, " world", 6) == 0);
    CHECK(attend_token_to_piece(t, BYTE_ID(0xE2), buf, sizeof buf) == 1 && (unsigned char)buf[0] == 0xE2);
    CHECK(attend_token_to_piece(t, 1, buf, sizeof buf) == 0);                /* control: no text */
    memcpy(buf, "zzzzzz", 6);
    CHECK(attend_token_to_piece(t, ID_WORLD, buf, 3) == 6 && memcmp(buf, "zzz", 3) == 0);   /* too small */
    CHECK(attend_token_to_piece(t, N_SYNTH, buf, sizeof buf) == -1);
    CHECK(attend_token_to_piece(t, -1, buf, sizeof buf) == -1);
    tokenizer_free(t);
}

/* A 4-byte buffer delays text but never splits a character or loses a byte; a flushed stream
 * starts a new sequence (its first '▁' is the dummy prefix again). */
static void test_tokenizer_stream_small_buffer_keeps_characters_whole(void)
{
    attend_tokenizer *t = synth_tokenizer();
    attend_stream *s = attend_stream_new(t);
    const int ids[] = {ID_HELLO, BYTE_ID(0xF0), BYTE_ID(0x9F), BYTE_ID(0x98), BYTE_ID(0x80), ID_WORLD,
                       BYTE_ID(0xC3), BYTE_ID(0xA9), ID_WORLD};
    const char want[] = "hello\xF0\x9F\x98\x80 world\xC3\xA9 world";
    char got[64], buf[4];
    size_t n = 0;
    for (int i = 0; i <= 9; i++) {
        int len = i < 9 ? attend_stream_next(s, ids[i], buf, 2 + (size_t)(i % 3))
                        : attend_stream_flush(s, buf, sizeof buf);
        CHECK(len >= 0 && len <= 4);
        CHECKF(is_utf8_boundary_clean(buf, (size_t)len), "piece %d split a character", i);
        memcpy(got + n, buf, (size_t)len);
        n += (size_t)len;
        if (i == 9 && len > 0)
            i--;
    }
    CHECKF(n == strlen(want) && memcmp(got, want, n) == 0, "got \"%.*s\"", (int)n, got);
    int len = attend_stream_next(s, ID_WORLD, got, sizeof got);
    CHECK(len == 5 && memcmp(got, "world", 5) == 0);
    attend_stream_free(s);
    tokenizer_free(t);
}

static void test_tokenizer_stream_replaces_broken_bytes_like_decode(void)
{
    attend_tokenizer *t = synth_tokenizer();
    attend_stream *s = attend_stream_new(t);
    char out[64];
    /* E2 82 then 'A': the character never completes, so each held byte becomes U+FFFD */
    CHECK(attend_stream_next(s, BYTE_ID(0xE2), out, sizeof out) == 0);
    CHECK(attend_stream_next(s, BYTE_ID(0x82), out, sizeof out) == 0);
    int len = attend_stream_next(s, BYTE_ID('A'), out, sizeof out);
    CHECK(len == 7 && memcmp(out, "\xEF\xBF\xBD\xEF\xBF\xBD" "A", 7) == 0);
    /* a lead byte followed by a non-continuation byte is decided at once, not held */
    CHECK(attend_stream_next(s, BYTE_ID(0xF0), out, sizeof out) == 0);
    len = attend_stream_next(s, BYTE_ID('B'), out, sizeof out);
    CHECK(len == 4 && memcmp(out, "\xEF\xBF\xBD" "B", 4) == 0);
    /* a held lead byte at the end comes out at the flush */
    CHECK(attend_stream_next(s, BYTE_ID(0xC3), out, sizeof out) == 0);
    len = attend_stream_flush(s, out, sizeof out);
    CHECK(len == 3 && memcmp(out, "\xEF\xBF\xBD", 3) == 0);
    attend_stream_free(s);
    tokenizer_free(t);
}

/* SentencePiece drops only the first piece's '▁' (the dummy prefix), even when that piece
 * is a bare '▁' that leaves no text; control pieces before it do not count. */
static void test_tokenizer_stream_drops_only_the_first_dummy_prefix(void)
{
    attend_tokenizer *t = synth_tokenizer();
    struct { int ids[4]; int n; const char *want; } cases[] = {
        {{ID_SPACE, ID_SPACE, ID_HELLO}, 3, "  hello"},
        {{1, ID_HELLO, ID_WORLD}, 3, "hello world"},
        {{1, 2, 0, ID_HELLO}, 4, " \xE2\x81\x87  hello"},     /* unk shows " ⁇ " */
        {{BYTE_ID(' '), ID_HELLO}, 2, "  hello"},
        {{ID_SPACE, 1, ID_HELLO}, 3, " hello"},
    };
    for (int c = 0; c < 5; c++) {
        long len;
        char *got = decode(t, cases[c].ids, cases[c].n, &len);
        CHECKF(strcmp(got, cases[c].want) == 0, "case %d: decode gave \"%s\", want \"%s\"", c, got, cases[c].want);
        free(got);
        check_stream_matches_decode(t, cases[c].ids, cases[c].n);
    }
    tokenizer_free(t);
}

/* Random id sequences over the synthetic vocabulary: mostly byte runs, valid and broken. */
static void test_tokenizer_stream_matches_decode_on_random_ids(void)
{
    attend_tokenizer *t = synth_tokenizer();
    int ids[64];
    for (int seq = 0; seq < 3000; seq++) {
        int n = 0, want = (int)(rng() % 40);
        while (n < want) {
            uint32_t r = rng() % 10;
            if (r < 2) ids[n++] = (int)(rng() % 3);                       /* unk, BOS, EOS */
            else if (r < 4) ids[n++] = 259 + (int)(rng() % N_MERGES);      /* a merge */
            else if (r < 7) ids[n++] = BYTE_ID(rng() % 256);               /* any byte */
            else {                                                         /* a character's bytes, maybe cut short */
                /* valid: é, ▁, 😀, U+FFFD itself; invalid: a surrogate, past U+10FFFF, and
                 * overlong forms of each length */
                static const unsigned char chars[][4] = {{0xC3, 0xA9}, {0xE2, 0x96, 0x81}, {0xF0, 0x9F, 0x98, 0x80},
                                                         {0xEF, 0xBF, 0xBD}, {0xED, 0xA0, 0x80}, {0xF4, 0x90, 0x80, 0x80},
                                                         {0xC1, 0xBF}, {0xE0, 0x9F, 0xBF}, {0xF0, 0x8F, 0xBF, 0xBF}};
                static const int char_len[] = {2, 3, 4, 3, 3, 4, 2, 3, 4};
                int c = (int)(rng() % 9), k = char_len[c] - (rng() % 3 == 0 ? (int)(rng() % (unsigned)char_len[c]) : 0);
                for (int i = 0; i < k && n < 64; i++) ids[n++] = BYTE_ID(chars[c][i]);
            }
        }
        check_stream_matches_decode(t, ids, n);
    }
    tokenizer_free(t);
}

static void test_tokenizer_from_vocab_rejects_bad_vocabularies(void)
{
    synth_vocab();
    const char *pieces[N_SYNTH];
    int types[N_SYNTH];
    memcpy(pieces, synth_pieces, sizeof pieces);
    memcpy(types, synth_types, sizeof types);
    size_t lens[N_SYNTH];
    memcpy(lens, synth_lens, sizeof lens);
    attend_tokenizer *t;

    pieces[ID_WORLD] = "ll";                                 /* a repeated piece */
    lens[ID_WORLD] = 2;
    err[0] = 0;
    t = tokenizer_from_vocab(N_SYNTH, pieces, lens, synth_scores, types, 1, 2, 0, "vocab", err, sizeof err);
    CHECKF(t == NULL && strstr(err, "repeats"), "duplicate accepted or bad message: %s", err);

    pieces[ID_WORLD] = "\xC3(";                              /* invalid UTF-8 */
    err[0] = 0;
    t = tokenizer_from_vocab(N_SYNTH, pieces, lens, synth_scores, types, 1, 2, 0, "vocab", err, sizeof err);
    CHECKF(t == NULL && strstr(err, "UTF-8"), "invalid UTF-8 accepted or bad message: %s", err);
    pieces[ID_WORLD] = synth_pieces[ID_WORLD];
    lens[ID_WORLD] = synth_lens[ID_WORLD];

    types[ID_WORLD] = 6;                                     /* a byte piece that is not <0xNN> */
    err[0] = 0;
    t = tokenizer_from_vocab(N_SYNTH, pieces, lens, synth_scores, types, 1, 2, 0, "vocab", err, sizeof err);
    CHECKF(t == NULL && strstr(err, "<0xNN>"), "bad byte piece accepted or bad message: %s", err);
    types[ID_WORLD] = 9;                                     /* no such type */
    t = tokenizer_from_vocab(N_SYNTH, pieces, lens, synth_scores, types, 1, 2, 0, "vocab", err, sizeof err);
    CHECK(t == NULL);
    types[ID_WORLD] = 1;

    err[0] = 0;                                              /* special ids out of range / wrong type */
    t = tokenizer_from_vocab(N_SYNTH, pieces, lens, synth_scores, types, N_SYNTH, 2, 0, "vocab", err, sizeof err);
    CHECKF(t == NULL && strstr(err, "bos"), "bos out of range accepted: %s", err);
    t = tokenizer_from_vocab(N_SYNTH, pieces, lens, synth_scores, types, 1, 2, 5, "vocab", err, sizeof err);
    CHECK(t == NULL);
    t = tokenizer_from_vocab(0, pieces, lens, synth_scores, types, -1, -1, -1, "vocab", err, sizeof err);
    CHECK(t == NULL);

    float scores[N_SYNTH];                                   /* a NaN score would unorder the merges */
    memcpy(scores, synth_scores, sizeof scores);
    scores[ID_LLO] = NAN;
    err[0] = 0;
    t = tokenizer_from_vocab(N_SYNTH, pieces, lens, scores, types, 1, 2, 0, "vocab", err, sizeof err);
    CHECKF(t == NULL && strstr(err, "NaN"), "NaN score accepted: %s", err);

    lens[ID_HELLO] = 0;                                      /* an empty piece */
    t = tokenizer_from_vocab(N_SYNTH, pieces, lens, synth_scores, types, 1, 2, 0, "vocab", err, sizeof err);
    CHECK(t == NULL);
    lens[ID_HELLO] = synth_lens[ID_HELLO];

    t = tokenizer_from_vocab(N_SYNTH, pieces, lens, synth_scores, types, 1, 2, 0, "vocab", err, sizeof err);
    CHECKF(t != NULL, "the repaired vocabulary should load: %s", err);
    tokenizer_free(t);
}

/* ==== llama2.c tokenizer.bin files built here ==== */

static void put_bytes(FILE *f, const void *p, size_t n) { CHECK(fwrite(p, 1, n, f) == n); }
static void put_i32(FILE *f, int32_t v) { put_bytes(f, &v, 4); }

/* The synthetic vocabulary as llama2.c's exporter writes it: '▁' as ' ', BOS/EOS wrapped in
 * newlines. `bad_token`/`bad_len` (when bad_token >= 0) overrides one token's length field;
 * `n_tokens` may differ from the vocabulary size; `cut` truncates the file by that many bytes. */
static void write_llama2c(const char *path, int n_tokens, int bad_token, int32_t bad_len, long cut)
{
    synth_vocab();
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    put_i32(f, 16);
    for (int i = 0; i < n_tokens; i++) {
        char text[32];
        const char *p = synth_pieces[i % N_SYNTH];
        if (i == 1) p = "\n<s>\n";
        else if (i == 2) p = "\n</s>\n";
        size_t n = 0;
        for (; *p; p++) {
            if (strncmp(p, "\xE2\x96\x81", 3) == 0) { text[n++] = ' '; p += 2; }
            else text[n++] = *p;
        }
        if (i >= N_SYNTH) text[n++] = '#';                     /* keep extra tokens distinct */
        put_bytes(f, &synth_scores[i % N_SYNTH], 4);
        put_i32(f, i == bad_token ? bad_len : (int32_t)n);
        put_bytes(f, text, n);
    }
    long size = ftell(f);
    fclose(f);
    if (cut) CHECK(truncate(path, size - cut) == 0);
}

/* Scratch tokenizer.bin; main removes it even when a test stopped early. */
static char bin_path[64];

static void test_tokenizer_llama2c_loads_synthetic_file_like_vocab(void)
{
    const char *path = bin_path;
    write_llama2c(path, N_SYNTH, -1, 0, 0);
    attend_tokenizer *t = tokenizer_load_llama2c(path, N_SYNTH, err, sizeof err);
    unlink(path);
    CHECKF(t != NULL, "%s", err);
    CHECK(attend_tokenizer_bos(t) == 1 && attend_tokenizer_eos(t) == 2);
    check_ids(t, "hello world", 1, (int[]){1, ID_HELLO, ID_WORLD}, 3);
    check_ids(t, "h\xC3\xA9llo", 0, (int[]){ID_SPACE_H, BYTE_ID(0xC3), BYTE_ID(0xA9), ID_LLO}, 4);
    long len;
    char *text = decode(t, (int[]){1, ID_HELLO, ID_WORLD, 2}, 4, &len);
    CHECK(strcmp(text, "hello world") == 0);
    free(text);
    tokenizer_free(t);
}

static void expect_llama2c_error(const char *path, int vocab_size, const char *needle)
{
    err[0] = 0;
    attend_tokenizer *t = tokenizer_load_llama2c(path, vocab_size, err, sizeof err);
    CHECKF(t == NULL, "%s loaded (vocab_size %d) but should not", path, vocab_size);
    CHECKF(strstr(err, needle) != NULL, "error \"%s\" lacks \"%s\"", err, needle);
}

static void test_tokenizer_llama2c_rejects_malformed_files(void)
{
    const char *path = bin_path;
    write_llama2c(path, N_SYNTH, -1, 0, 3);
    expect_llama2c_error(path, N_SYNTH, "length");          /* last token cut short */
    write_llama2c(path, N_SYNTH, -1, 0, 10);           /* inside the last header */
    expect_llama2c_error(path, N_SYNTH, "truncated");
    write_llama2c(path, N_SYNTH, 40, -5, 0);
    expect_llama2c_error(path, N_SYNTH, "length -5");
    write_llama2c(path, N_SYNTH, 40, 0x7FFFFFFF, 0);
    expect_llama2c_error(path, N_SYNTH, "length 2147483647");
    write_llama2c(path, N_SYNTH + 1, -1, 0, 0);              /* more tokens than the vocab */
    expect_llama2c_error(path, N_SYNTH, "more than vocab_size");
    write_llama2c(path, N_SYNTH, -1, 0, 0);
    expect_llama2c_error(path, N_SYNTH + 1, "truncated");    /* fewer */
    expect_llama2c_error(path, 0, "vocab_size");
    FILE *f = fopen(path, "wb");                             /* max_token_length negative */
    put_i32(f, -1);
    fclose(f);
    expect_llama2c_error(path, N_SYNTH, "max_token_length");
    f = fopen(path, "wb");                                   /* shorter than its header */
    fclose(f);
    expect_llama2c_error(path, N_SYNTH, "too short");
    f = fopen(path, "wb");                                   /* 2 GiB (sparse): refused unread */
    CHECK(f && ftruncate(fileno(f), (off_t)1 << 31) == 0);
    fclose(f);
    expect_llama2c_error(path, N_SYNTH, "2147483648 bytes, over the 1073741824 a tokenizer file may have");
    err[0] = 0;
    CHECK(tokenizer_load_model(path, err, sizeof err) == NULL && strstr(err, "over the 1073741824"));
    unlink(path);
    expect_llama2c_error("/nonexistent/tokenizer.bin", N_SYNTH, "cannot open");
    expect_llama2c_error("/tmp", N_SYNTH, "tokenizer: /tmp");
    err[0] = 0;
    CHECK(tokenizer_load_model("/nonexistent/tokenizer.model", err, sizeof err) == NULL && strstr(err, "cannot open"));
}

/* ==== Against python3-sentencepiece (needs ../shared) ==== */

typedef struct {
    char *text; size_t len;        /* the case's bytes */
    int *ids; int n_ids;           /* python's encode (no BOS) */
    char *decoded; size_t dlen;    /* python's decode of those ids */
} ref_case;

static ref_case *ref_cases;
static int n_ref_cases;
static char ref_prefix[128];
static int ref_state;              /* 0 not tried, 1 ready, -1 python's sentencepiece missing */

static char *unhex(const char *h, size_t n, size_t *len)
{
    char *out = malloc(n / 2 + 1);
    for (size_t i = 0; i + 1 < n; i += 2) {
        unsigned v;
        CHECK(sscanf(h + i, "%2x", &v) == 1);
        out[i / 2] = (char)v;
    }
    out[n / 2] = 0;
    *len = n / 2;
    return out;
}

static const char *shared_or_skip(void)
{
    const char *shared = test_shared_dir();
    if (!shared) SKIP("../shared is absent (set ATTEND_SHARED): SentencePiece reference tests not run");
    return shared;
}

/* Run scripts/tokenizer_expect.py once and read OUT.cases. */
static void load_reference(void)
{
    const char *shared = shared_or_skip();
    if (ref_state < 0) SKIP("python3-sentencepiece is missing (make deps-test)");
    if (ref_state > 0) return;
    snprintf(ref_prefix, sizeof ref_prefix, "/tmp/attend_test_tokenizer_%d", (int)getpid());
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 scripts/tokenizer_expect.py "
             "%s/models/llama2-tokenizer/tokenizer.model tests/tokenizer_cases.txt %s "
             "%s/corpus/tinystories-valid.txt 20", shared, ref_prefix, shared);
    int rc = system(cmd);
    if (WIFEXITED(rc) && WEXITSTATUS(rc) == 77) { ref_state = -1; SKIP("python3-sentencepiece is missing (make deps-test)"); }
    CHECKF(rc == 0, "%.300s failed (status %d)", cmd, rc);
    char path[160];
    snprintf(path, sizeof path, "%s.cases", ref_prefix);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    static char line[1 << 16];
    while (fgets(line, sizeof line, f)) {
        char *tab1 = strchr(line, '\t'), *tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL;
        CHECKF(tab2 != NULL, "bad line in %s", path);
        ref_cases = realloc(ref_cases, sizeof *ref_cases * (size_t)(n_ref_cases + 1));
        ref_case *c = &ref_cases[n_ref_cases++];
        c->text = unhex(line, (size_t)(tab1 - line), &c->len);
        c->ids = malloc(sizeof(int) * (size_t)(tab2 - tab1));
        c->n_ids = 0;
        for (char *p = tab1 + 1; p < tab2;) {
            char *end;
            long v = strtol(p, &end, 10);
            if (end == p) break;
            c->ids[c->n_ids++] = (int)v;
            p = end;
        }
        c->decoded = unhex(tab2 + 1, strcspn(tab2 + 1, "\n"), &c->dlen);
    }
    fclose(f);
    CHECKF(n_ref_cases >= 50, "only %d reference cases", n_ref_cases);
    ref_state = 1;
}

/* Every case: ids equal python's, with BOS when asked; decode and the stream give python's text. */
static void check_against_reference(const attend_tokenizer *t, const char *name)
{
    for (int k = 0; k < n_ref_cases; k++) {
        const ref_case *c = &ref_cases[k];
        int n;
        int *ids = encode(t, c->text, c->len, 0, &n);
        int first_diff = -1;
        for (int i = 0; first_diff < 0 && i < (n < c->n_ids ? n : c->n_ids); i++)
            if (ids[i] != c->ids[i]) first_diff = i;
        CHECKF(n == c->n_ids && first_diff < 0, "%s, case %d \"%.40s\": %d ids, python %d; first difference at %d",
               name, k, c->text, n, c->n_ids, first_diff);
        free(ids);
        ids = encode(t, c->text, c->len, 1, &n);
        CHECK(n == c->n_ids + 1 && ids[0] == attend_tokenizer_bos(t));
        long len;
        char *text = decode(t, ids, n, &len);
        CHECKF((size_t)len == c->dlen && memcmp(text, c->decoded, c->dlen) == 0,
               "%s, case %d: decode gave \"%.40s\", python \"%.40s\"", name, k, text, c->decoded);
        free(text);
        check_stream_matches_decode(t, ids, n);
        free(ids);
    }
}

static attend_tokenizer *load_llama_model(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/models/llama2-tokenizer/tokenizer.model", shared_or_skip());
    attend_tokenizer *t = tokenizer_load_model(path, err, sizeof err);
    CHECKF(t != NULL, "%s", err);
    return t;
}

static void test_tokenizer_model_matches_python_sentencepiece(void)
{
    load_reference();
    attend_tokenizer *t = load_llama_model();
    CHECK(attend_tokenizer_vocab_size(t) == 32000 && attend_tokenizer_bos(t) == 1 && attend_tokenizer_eos(t) == 2);
    check_against_reference(t, "tokenizer.model");
    tokenizer_free(t);
}

static void test_tokenizer_llama2c_bin_matches_python_sentencepiece(void)
{
    load_reference();
    char path[512];
    snprintf(path, sizeof path, "%s/models/llama2-tokenizer/tokenizer.bin", shared_or_skip());
    attend_tokenizer *t = tokenizer_load_llama2c(path, 32000, err, sizeof err);
    CHECKF(t != NULL, "%s", err);
    CHECK(attend_tokenizer_vocab_size(t) == 32000 && attend_tokenizer_bos(t) == 1 && attend_tokenizer_eos(t) == 2);
    check_against_reference(t, "tokenizer.bin");
    tokenizer_free(t);
    expect_llama2c_error(path, 32001, "truncated");
    expect_llama2c_error(path, 31999, "more than vocab_size");
}

/* The model's own pieces, scores and types (dumped by the script) through tokenizer_from_vocab. */
static void test_tokenizer_from_model_pieces_matches_python_sentencepiece(void)
{
    load_reference();
    char path[160];
    snprintf(path, sizeof path, "%s.vocab", ref_prefix);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    enum { N = 32000 };
    static char *pieces[N];
    static size_t lens[N];
    static float scores[N];
    static int types[N];
    char line[512];
    int n = 0;
    while (n < N && fgets(line, sizeof line, f)) {
        char hex[256], score[64];
        CHECK(sscanf(line, "%255s %63s %d", hex, score, &types[n]) == 3);
        pieces[n] = unhex(hex, strlen(hex), &lens[n]);
        scores[n] = strtof(score, NULL);
        n++;
    }
    fclose(f);
    CHECK(n == N);
    attend_tokenizer *t = tokenizer_from_vocab(N, (const char *const *)pieces, lens, scores, types, 1, 2, 0, "vocab",
                                               err, sizeof err);
    for (int i = 0; i < N; i++) free(pieces[i]);
    CHECKF(t != NULL, "%s", err);
    check_against_reference(t, "model pieces");
    tokenizer_free(t);
}

/* A GGUF's tokenizer.ggml.* arrays through tokenizer_from_vocab (src/gguf.c reads the file). */
static attend_tokenizer *tokenizer_from_gguf(const char *path)
{
    int fd = open(path, O_RDONLY);
    CHECKF(fd >= 0, "cannot open %s", path);
    struct stat st;
    CHECK(fstat(fd, &st) == 0);
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    CHECK(map != MAP_FAILED);
    gguf_file g;
    CHECKF(gguf_parse(&g, map, (size_t)st.st_size, err, sizeof err) == 0, "%s: %s", path, err);
    const gguf_kv *tokens = gguf_find_kv(&g, "tokenizer.ggml.tokens");
    const gguf_kv *scores = gguf_find_kv(&g, "tokenizer.ggml.scores");
    const gguf_kv *types = gguf_find_kv(&g, "tokenizer.ggml.token_type");
    CHECK(tokens && tokens->type == GGUF_ARRAY && tokens->array_type == GGUF_STRING);
    CHECK(scores && scores->type == GGUF_ARRAY && scores->array_type == GGUF_FLOAT32);
    CHECK(types && types->type == GGUF_ARRAY && types->array_type == GGUF_INT32);
    int n = (int)tokens->array_len;
    CHECK(scores->array_len == (uint64_t)n && types->array_len == (uint64_t)n);
    const char **piece = malloc(sizeof *piece * (size_t)n);
    size_t *len = malloc(sizeof *len * (size_t)n);
    float *score = malloc(sizeof *score * (size_t)n);
    int *type = malloc(sizeof *type * (size_t)n);
    int ids[3];
    const char *keys[3] = {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id"};
    for (int k = 0; k < 3; k++) {
        uint32_t v;
        ids[k] = gguf_get_u32(&g, keys[k], &v) == 0 ? (int)v : -1;
    }
    for (int i = 0; i < n; i++) {
        gguf_str s = gguf_array_str(tokens, (uint64_t)i);
        piece[i] = s.ptr;
        len[i] = (size_t)s.len;
        memcpy(&score[i], scores->array_data + 4 * (size_t)i, 4);
        int32_t ty;
        memcpy(&ty, types->array_data + 4 * (size_t)i, 4);
        type[i] = ty;
        if (ids[2] < 0 && ty == 2) ids[2] = i;
    }
    attend_tokenizer *t = tokenizer_from_vocab(n, piece, len, score, type, ids[0], ids[1], ids[2], "vocab", err,
                                               sizeof err);
    free(piece); free(len); free(score); free(type);
    gguf_release(&g);
    munmap(map, (size_t)st.st_size);
    CHECKF(t != NULL, "%s: %s", path, err);
    return t;
}

static void test_tokenizer_gguf_vocab_matches_python_sentencepiece(void)
{
    load_reference();
    char path[512];
    snprintf(path, sizeof path, "%s/models/vocab/ggml-vocab-llama-spm.gguf", shared_or_skip());
    attend_tokenizer *t = tokenizer_from_gguf(path);
    CHECK(attend_tokenizer_vocab_size(t) == 32000 && attend_tokenizer_bos(t) == 1 && attend_tokenizer_eos(t) == 2);
    check_against_reference(t, "GGUF vocab");
    tokenizer_free(t);
}

static const char story[] = "Once upon a time, there was a little girl named Lily. She loved to play "
                            "outside in the park. One day, she saw a big, red ball \xE2\x80\x94 \"Wow!\" she said.\n"
                            "Caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80 done.";

static void test_tokenizer_tok512_loads_and_round_trips(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/models/stories260K/tok512.bin", shared_or_skip());
    attend_tokenizer *t = tokenizer_load_llama2c(path, 512, err, sizeof err);
    CHECKF(t != NULL, "%s", err);
    CHECK(attend_tokenizer_vocab_size(t) == 512 && attend_tokenizer_bos(t) == 1 && attend_tokenizer_eos(t) == 2);
    int n;
    int *ids = encode(t, story, strlen(story), 1, &n);
    for (int i = 0; i < n; i++) CHECK(ids[i] >= 0 && ids[i] < 512);
    CHECKF(n < (int)strlen(story) / 2, "%d ids for %zu bytes: no merges happened", n, strlen(story));
    long len;
    char *back = decode(t, ids, n, &len);
    CHECKF(strcmp(back, story) == 0, "round trip gave \"%s\"", back);
    check_stream_matches_decode(t, ids, n);
    free(back);
    free(ids);
    tokenizer_free(t);
}

/* stories260K.gguf embeds the same 512-token vocabulary as tok512.bin: same ids. */
static void test_tokenizer_stories260k_gguf_vocab_matches_tok512(void)
{
    char path[512];
    const char *shared = shared_or_skip();
    snprintf(path, sizeof path, "%s/models/stories260K/tok512.bin", shared);
    attend_tokenizer *bin = tokenizer_load_llama2c(path, 512, err, sizeof err);
    CHECKF(bin != NULL, "%s", err);
    snprintf(path, sizeof path, "%s/models/stories260K/stories260K.gguf", shared);
    attend_tokenizer *gguf = tokenizer_from_gguf(path);
    CHECK(attend_tokenizer_vocab_size(gguf) == 512);
    int n1, n2;
    int *a = encode(bin, story, strlen(story), 1, &n1), *b = encode(gguf, story, strlen(story), 1, &n2);
    CHECK(n1 == n2 && memcmp(a, b, sizeof(int) * (size_t)n1) == 0);
    free(a);
    free(b);
    tokenizer_free(bin);
    tokenizer_free(gguf);
}

/* Random ids over the Llama vocabulary, weighted to byte pieces, '▁' pieces and controls. */
static void test_tokenizer_stream_matches_decode_on_random_llama_ids(void)
{
    attend_tokenizer *t = load_llama_model();
    int ids[48];
    for (int seq = 0; seq < 3000; seq++) {
        int n = (int)(rng() % 48);
        for (int i = 0; i < n; i++) {
            uint32_t r = rng() % 8;
            ids[i] = r == 0 ? (int)(rng() % 3)                      /* unk, BOS, EOS */
                   : r < 4 ? 3 + (int)(rng() % 256)                   /* byte pieces */
                   : r == 4 ? (rng() % 2 ? 29871 : 259)              /* '▁', '▁▁' */
                   : (int)(rng() % 32000);
        }
        check_stream_matches_decode(t, ids, n);
    }
    tokenizer_free(t);
}

int main(void)
{
    snprintf(bin_path, sizeof bin_path, "/tmp/attend_test_tok_%d.bin", (int)getpid());
    RUN(test_tokenizer_synthetic_vocab_merges_and_falls_back_to_bytes);
    RUN(test_tokenizer_vocab_without_bytes_encodes_unknown_as_unk);
    RUN(test_tokenizer_special_pieces_longest_first_with_dummy_prefix_after_each);
    RUN(test_tokenizer_encode_reports_the_room_it_needs);
    RUN(test_tokenizer_decode_rejects_out_of_range_id);
    RUN(test_tokenizer_stream_reassembles_emoji_from_byte_pieces);
    RUN(test_tokenizer_token_to_piece_fills_the_callers_buffer);
    RUN(test_tokenizer_stream_small_buffer_keeps_characters_whole);
    RUN(test_tokenizer_stream_replaces_broken_bytes_like_decode);
    RUN(test_tokenizer_stream_drops_only_the_first_dummy_prefix);
    RUN(test_tokenizer_stream_matches_decode_on_random_ids);
    RUN(test_tokenizer_from_vocab_rejects_bad_vocabularies);
    RUN(test_tokenizer_llama2c_loads_synthetic_file_like_vocab);
    RUN(test_tokenizer_llama2c_rejects_malformed_files);
    RUN(test_tokenizer_model_matches_python_sentencepiece);
    RUN(test_tokenizer_llama2c_bin_matches_python_sentencepiece);
    RUN(test_tokenizer_from_model_pieces_matches_python_sentencepiece);
    RUN(test_tokenizer_gguf_vocab_matches_python_sentencepiece);
    RUN(test_tokenizer_tok512_loads_and_round_trips);
    RUN(test_tokenizer_stories260k_gguf_vocab_matches_tok512);
    RUN(test_tokenizer_stream_matches_decode_on_random_llama_ids);
    unlink(bin_path);
    if (ref_prefix[0]) {
        char path[160];
        snprintf(path, sizeof path, "%s.cases", ref_prefix);
        unlink(path);
        snprintf(path, sizeof path, "%s.vocab", ref_prefix);
        unlink(path);
    }
    TEST_EXIT();
}
