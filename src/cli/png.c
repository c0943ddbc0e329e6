/* png.c — the smallest honest PNG writer: stored (uncompressed) deflate blocks in a zlib stream.
 *
 * A PNG is an 8-byte signature and chunks, each <length, type, data, CRC-32 of type and data>:
 *   IHDR  width, height, bit depth 8, colour type 2 (RGB), compression 0, filter 0, interlace 0
 *   IDAT  a zlib stream of the image rows, each row prefixed by its filter type (0: none)
 *   IEND  empty
 * A zlib stream is a 2-byte header, deflate data, and the Adler-32 of the uncompressed bytes
 * (RFC 1950). Deflate (RFC 1951) lets a block be "stored": a header byte (BFINAL bit, BTYPE 00),
 * then LEN and its complement NLEN (16-bit little-endian), then LEN raw bytes. Files are larger
 * than compressed ones, but every byte of the format is visible here. */
#include "png.h"

#include <string.h>

uint32_t png_crc32(uint32_t crc, const unsigned char *p, size_t n)
{
    /* Bit by bit over the reflected polynomial 0xEDB88320: no table, so no state to set up. */
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

uint32_t png_adler32(uint32_t adler, const unsigned char *p, size_t n)
{
    uint32_t a = adler & 0xffff, b = adler >> 16;
    for (size_t i = 0; i < n; i++) {
        a = (a + p[i]) % 65521;
        b = (b + a) % 65521;
    }
    return b << 16 | a;
}

static void be32(unsigned char *out, uint32_t v)
{
    out[0] = (unsigned char)(v >> 24);
    out[1] = (unsigned char)(v >> 16);
    out[2] = (unsigned char)(v >> 8);
    out[3] = (unsigned char)v;
}

/* The pieces of one chunk are written as they come, the CRC kept running over type and data. */
typedef struct {
    FILE *f;
    uint32_t crc;
    int failed;
} chunk_writer;

static void put(chunk_writer *w, const void *p, size_t n)
{
    w->crc = png_crc32(w->crc, p, n);
    if (fwrite(p, 1, n, w->f) != n)
        w->failed = 1;
}

static void chunk_begin(chunk_writer *w, const char *type, uint32_t length)
{
    unsigned char len[4];
    be32(len, length);
    if (fwrite(len, 1, 4, w->f) != 4)
        w->failed = 1;
    w->crc = 0;
    put(w, type, 4);
}

static void chunk_end(chunk_writer *w)
{
    unsigned char crc[4];
    be32(crc, w->crc);
    if (fwrite(crc, 1, 4, w->f) != 4)
        w->failed = 1;
}

enum { STORED_MAX = 65535 };   /* LEN is 16 bits */

int png_write_rgb(FILE *f, const unsigned char *rgb, int width, int height)
{
    static const unsigned char signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    chunk_writer w = {f, 0, fwrite(signature, 1, 8, f) != 8};

    unsigned char ihdr[13] = {0};
    be32(ihdr, (uint32_t)width);
    be32(ihdr + 4, (uint32_t)height);
    ihdr[8] = 8;   /* bits per sample */
    ihdr[9] = 2;   /* colour type: RGB */
    chunk_begin(&w, "IHDR", 13);
    put(&w, ihdr, 13);
    chunk_end(&w);

    /* The uncompressed stream: each row is a filter byte (0) and then its pixels. */
    const size_t row = (size_t)width * 3 + 1, raw = row * (size_t)height;
    const size_t blocks = raw / STORED_MAX + 1;   /* the last may be short (or empty) */
    chunk_begin(&w, "IDAT", (uint32_t)(2 + raw + 5 * blocks + 4));
    const unsigned char zlib_header[2] = {0x78, 0x01};   /* deflate, 32K window; 0x7801 % 31 == 0 */
    put(&w, zlib_header, 2);
    uint32_t adler = 1;
    size_t at = 0;   /* position in the uncompressed stream */
    for (size_t b = 0; b < blocks; b++) {
        const size_t len = raw - at < STORED_MAX ? raw - at : STORED_MAX;
        const unsigned char header[5] = {b + 1 == blocks, (unsigned char)len, (unsigned char)(len >> 8),
                                         (unsigned char)~len, (unsigned char)(~len >> 8)};
        put(&w, header, 5);
        /* Copy the block's bytes out of the rows, adding the filter byte at each row start. */
        for (size_t end = at + len; at < end;) {
            const size_t y = at / row, x = at % row;
            const unsigned char zero = 0;
            const unsigned char *src = x == 0 ? &zero : rgb + y * (row - 1) + (x - 1);
            const size_t n = x == 0 ? 1 : (row - x < end - at ? row - x : end - at);
            put(&w, src, n);
            adler = png_adler32(adler, src, n);
            at += n;
        }
    }
    unsigned char trailer[4];
    be32(trailer, adler);
    put(&w, trailer, 4);
    chunk_end(&w);

    chunk_begin(&w, "IEND", 0);
    chunk_end(&w);
    return w.failed || fflush(f) != 0 ? -1 : 0;
}
