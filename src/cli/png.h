/* png.h — write an RGB image as a PNG file, with no image library. */
#ifndef ATTEND_CLI_PNG_H
#define ATTEND_CLI_PNG_H

#include <stdint.h>
#include <stdio.h>

/* CRC-32 (ISO-HDLC, the one PNG and zip use) of n bytes, continuing from crc (start with 0). */
uint32_t png_crc32(uint32_t crc, const unsigned char *p, size_t n);
/* Adler-32 (zlib's checksum) of n bytes, continuing from adler (start with 1). */
uint32_t png_adler32(uint32_t adler, const unsigned char *p, size_t n);

/* Write `rgb` (height rows of width pixels, 3 bytes each, top row first) to f as an 8-bit RGB PNG.
 * Returns 0, or -1 when a write fails (errno tells why). */
int png_write_rgb(FILE *f, const unsigned char *rgb, int width, int height);

#endif
