/* utf8.h — UTF-8 as SentencePiece's DecodeUTF8 judges it: which bytes start a character, how many
 * it takes, and whether it is valid (no overlong forms, no surrogates, nothing past U+10FFFF).
 * For the tokenizer's load checks (tokenizer_sp.cpp) and its streaming decoder (token_stream.c). */
#ifndef ATTEND_UTF8_H
#define ATTEND_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* A continuation byte 10xxxxxx */
static inline int utf8_is_trail(uint8_t c) { return (c & 0xC0) == 0x80; }

/* Bytes a character starting with `lead` needs: 1..4, or 0 when no character starts so. */
static inline int utf8_needed(uint8_t lead)
{
    if (lead < 0x80) return 1;
    if ((lead & 0xE0) == 0xC0) return 2;
    if ((lead & 0xF0) == 0xE0) return 3;
    if ((lead & 0xF8) == 0xF0) return 4;
    return 0;
}

/* Length of the valid character at p (n bytes available), or 0 when invalid. */
static inline int utf8_valid_len(const uint8_t *p, size_t n)
{
    int need = utf8_needed(p[0]);
    if (need == 0 || (size_t)need > n) return 0;
    if (need == 1) return 1;
    uint32_t cp = p[0] & (0x7F >> need);
    for (int i = 1; i < need; i++) {
        if (!utf8_is_trail(p[i])) return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[need] || (cp >= 0xD800 && cp < 0xE000) || cp > 0x10FFFF) return 0;
    return need;
}

/* s[0..n) is valid UTF-8 throughout. */
static inline int utf8_valid(const char *s, size_t n)
{
    const uint8_t *p = (const uint8_t *)s;
    for (size_t i = 0; i < n;) {
        int k = utf8_valid_len(p + i, n - i);
        if (k == 0) return 0;
        i += (size_t)k;
    }
    return 1;
}

#endif
