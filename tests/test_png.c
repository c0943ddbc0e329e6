/* test_png.c — the PNG writer of src/cli/png.c: checksums against known values, and a written
 * image decoded by Python's zlib (an independent inflate) back to the same pixels. */
#include "test.h"
#include "cli/png.c"

static void test_png_crc32_and_adler32_known_values(void)
{
    const unsigned char *s = (const unsigned char *)"123456789";
    CHECK(png_crc32(0, s, 9) == 0xCBF43926u);              /* the CRC-32 check value */
    CHECK(png_crc32(png_crc32(0, s, 4), s + 4, 5) == 0xCBF43926u);
    CHECK(png_adler32(1, (const unsigned char *)"Wikipedia", 9) == 0x11E60398u);
    CHECK(png_crc32(0, (const unsigned char *)"IEND", 4) == 0xAE426082u);   /* every PNG ends with it */
}

/* Write an image whose pixels encode their coordinates, and let Python decode it. Sizes cross the
 * 65,535-byte stored-block limit and include a 1 x 1 image. */
static void test_png_decodes_with_python_zlib(void)
{
    const int sizes[][2] = {{1, 1}, {7, 3}, {200, 150}, {300, 80}};
    for (int s = 0; s < 4; s++) {
        const int w = sizes[s][0], h = sizes[s][1];
        unsigned char *rgb = malloc((size_t)w * h * 3);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                unsigned char *p = rgb + ((size_t)y * w + x) * 3;
                p[0] = (unsigned char)x, p[1] = (unsigned char)y, p[2] = (unsigned char)(x * 7 + y * 13);
            }
        char path[] = "/tmp/attend_test_png_XXXXXX";
        int fd = mkstemp(path);
        CHECK(fd >= 0);
        FILE *f = fdopen(fd, "wb");
        CHECK(png_write_rgb(f, rgb, w, h) == 0);
        CHECK(fclose(f) == 0);
        free(rgb);
        char cmd[2048];
        snprintf(cmd, sizeof cmd,
                 "/usr/bin/python3 -c '\n"
                 "import struct, sys, zlib\n"
                 "b = open(sys.argv[1], \"rb\").read()\n"
                 "assert b[:8] == b\"\\x89PNG\\r\\n\\x1a\\n\"\n"
                 "at, idat, types = 8, b\"\", []\n"
                 "while at < len(b):\n"
                 "    n, t = struct.unpack(\">I4s\", b[at:at + 8]); d = b[at + 8:at + 8 + n]\n"
                 "    assert struct.unpack(\">I\", b[at + 8 + n:at + 12 + n])[0] == zlib.crc32(t + d), t\n"
                 "    types.append(t); idat += d if t == b\"IDAT\" else b\"\"; at += 12 + n\n"
                 "    if t == b\"IHDR\": w, h, depth, colour = struct.unpack(\">IIBB\", d[:10])\n"
                 "assert types[0] == b\"IHDR\" and types[-1] == b\"IEND\" and (w, h, depth, colour) == (%d, %d, 8, 2)\n"
                 "raw = zlib.decompress(idat)\n"
                 "assert len(raw) == h * (3 * w + 1)\n"
                 "for y in range(h):\n"
                 "    r = raw[y * (3 * w + 1):(y + 1) * (3 * w + 1)]\n"
                 "    assert r[0] == 0\n"
                 "    for x in range(w):\n"
                 "        assert tuple(r[1 + 3 * x:4 + 3 * x]) == (x %% 256, y %% 256, (x * 7 + y * 13) %% 256), (x, y)\n"
                 "' %s", w, h, path);
        int rc = system(cmd);
        remove(path);
        CHECKF(rc == 0, "python could not decode the %d x %d PNG", w, h);
    }
}

int main(void)
{
    RUN(test_png_crc32_and_adler32_known_values);
    RUN(test_png_decodes_with_python_zlib);
    TEST_EXIT();
}
