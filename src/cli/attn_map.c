/* attn_map.c — collect a prompt's attention weights and draw them: a PNG grid of heatmaps, a
 * terminal view of one head, a raw dump for tests. (The HTML page is attn_html.c.)
 *
 * The grid: one row per layer, one column per query head, query position down and key position
 * across in each heatmap. Heads that share a key/value head (GQA, MQA) stand together on a tinted
 * band labelled with their kv head. Colour is sqrt(weight) on a dark-purple-to-yellow scale, so
 * weights of a few percent still show; masked (future) cells are a grey hatch, never a colour of
 * the scale, so "the mask removed it" and "the model gave it zero" look different. */
#include "attn_map.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "png.h"

/* ==== collecting ============================================================================= */

/* A token's text as a label: whole UTF-8 characters at most 40 bytes long, a newline as "\n",
 * other control bytes (and any byte that is not part of a whole character) as <0xNN>. */
static char *printable(const char *text, size_t n)
{
    char *label = malloc(64);
    if (!label)
        return NULL;
    size_t out = 0;
    for (size_t k = 0; k < n && out < 40;) {
        unsigned char c = (unsigned char)text[k];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        int ok = len > 0 && k + len <= n;
        for (size_t m = 1; ok && m < len; m++)
            ok = ((unsigned char)text[k + m] >> 6) == 2;
        if (ok && c >= 0x20 && c != 0x7f) {
            memcpy(label + out, text + k, len);
            out += len;
            k += len;
        } else {
            out += (size_t)snprintf(label + out, 64 - out, c == '\n' ? "\\n" : "<0x%02X>", c);
            k++;
        }
    }
    label[out] = 0;
    return label;
}

attn_map *attn_map_new(const attend_config *c, const attend_tokenizer *tok, const int *ids, int n, const char *title)
{
    attn_map *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    *m = (attn_map){c->n_layers, c->n_heads, c->n_kv_heads, n, NULL, NULL, title};
    m->w = calloc((size_t)c->n_layers * c->n_heads * n * n, sizeof(float));
    m->labels = calloc((size_t)n, sizeof(char *));
    /* Each token's label is the text it adds when the prompt is decoded in order, by the streaming
     * decoder generation uses: it holds the bytes of a character split over byte tokens until the
     * last one, so a token that adds no text is BOS ("<s>") or holds part of a character. */
    attend_stream *stream = attend_stream_new(tok);
    int ok = m->w && m->labels && stream;
    for (int i = 0; ok && i < n; i++) {
        char text[256];
        int len = attend_stream_next(stream, ids[i], text, sizeof text);
        const char *none = ids[i] == attend_tokenizer_bos(tok) ? "<s>" : "(part)";
        ok = len >= 0 && (m->labels[i] = len ? printable(text, (size_t)len) : printable(none, strlen(none))) != NULL;
    }
    attend_stream_free(stream);
    if (!ok) {
        attn_map_free(m);
        return NULL;
    }
    return m;
}

void attn_map_free(attn_map *m)
{
    if (!m)
        return;
    for (int i = 0; m->labels && i < m->n; i++)
        free(m->labels[i]);
    free(m->labels);
    free(m->w);
    free(m);
}

void attn_map_observe(void *user, int layer, int n_tokens, int pos0, int n_heads, int n_keys, const float *weights)
{
    attn_map *m = user;
    for (int t = 0; t < n_tokens && pos0 + t < m->n; t++)
        for (int h = 0; h < n_heads; h++)
            for (int j = 0; j < n_keys && j < m->n; j++)
                m->w[(((size_t)layer * m->n_heads + h) * m->n + pos0 + t) * m->n + j] =
                    weights[((size_t)t * n_heads + h) * n_keys + j];
}

/* ==== the raw dump ============================================================================ */

int attn_map_write_dump(const attn_map *m, FILE *f)
{
    const int32_t header[5] = {1, m->n_layers, m->n_heads, m->n_kv_heads, m->n};   /* little-endian hosts */
    const size_t count = (size_t)m->n_layers * m->n_heads * m->n * m->n;
    int ok = fwrite("ATTN", 1, 4, f) == 4 && fwrite(header, sizeof header, 1, f) == 1 &&
             fwrite(m->w, sizeof(float), count, f) == count;
    return ok && fflush(f) == 0 ? 0 : -1;
}

/* ==== the terminal view ======================================================================= */

void attn_map_print_text(const attn_map *m, int layer, int head, FILE *f)
{
    static const char *shade[5] = {" ", "\u2591", "\u2592", "\u2593", "\u2588"};   /*  ░▒▓█ */
    const int n_rep = m->n_heads / m->n_kv_heads;
    fprintf(f, "layer %d, query head %d (kv head %d): query down, key across; "
            "' \u2591\u2592\u2593\u2588' = weight 0 .. 1 (sqrt scale), '\u00b7' = masked (future key)\n",
            layer, head, head / n_rep);
    int width = 1;   /* the widest label, in characters (UTF-8 lead bytes), at most 12 */
    for (int i = 0; i < m->n; i++) {
        int chars = 0;
        for (const char *p = m->labels[i]; *p; p++)
            chars += ((unsigned char)*p >> 6) != 2;
        width = chars > width ? (chars < 12 ? chars : 12) : width;
    }
    for (int digit = 100; digit >= 1; digit /= 10) {   /* key positions, one digit per line */
        if (m->n <= digit && digit > 1)
            continue;
        fprintf(f, "%*s", width + 6, "");
        for (int j = 0; j < m->n; j++)
            fputc(j >= digit || digit == 1 ? '0' + j / digit % 10 : ' ', f);
        fputc('\n', f);
    }
    for (int i = 0; i < m->n; i++) {
        /* The label, padded or cut to `width` characters. */
        int chars = 0;
        const char *p = m->labels[i];
        fprintf(f, "%4d ", i);
        for (; *p; p++) {
            int lead = ((unsigned char)*p >> 6) != 2;
            if (lead && chars == width)
                break;
            chars += lead;
            fputc(*p, f);
        }
        fprintf(f, "%*s ", width - chars, "");
        for (int j = 0; j < m->n; j++) {
            const float w = attn_map_at(m, layer, head, i, j);
            int level = (int)(sqrtf(w) * 4.0f + 0.5f);
            fputs(j > i ? "\u00b7" : shade[level < 0 ? 0 : level > 4 ? 4 : level], f);
        }
        fputc('\n', f);
    }
}

/* ==== the PNG grid ============================================================================ */

/* A 3 x 5 pixel font for the labels and the legend: each glyph is five rows of three characters. */
static const char *glyph(char c)
{
    static const struct { char c; const char *rows; } font[] = {
        {'0', "####.##.##.####"}, {'1', ".#.##..#..#.###"}, {'2', "###..#####..###"},
        {'3', "###..#.##..####"}, {'4', "#.##.####..#..#"}, {'5', "####..###..####"},
        {'6', "####..####.####"}, {'7', "###..#..#.#..#."}, {'8', "####.#####.####"},
        {'9', "####.####..####"}, {'A', ".#.#.#####.##.#"}, {'C', ".###..#..#...##"},
        {'D', "##.#.##.##.###."}, {'E', "####..##.#..###"}, {'F', "####..##.#..#.."},
        {'G', ".###..#.##.#.##"}, {'H', "#.##.#####.##.#"}, {'I', "###.#..#..#.###"},
        {'K', "#.##.###.#.##.#"}, {'L', "#..#..#..#..###"}, {'M', "#.########.##.#"},
        {'N', "##.#.##.##.##.#"}, {'O', ".#.#.##.##.#.#."}, {'P', "##.#.###.#..#.."},
        {'Q', ".#.#.##.####.##"}, {'R', "##.#.###.#.##.#"}, {'S', ".###...#...###."},
        {'T', "###.#..#..#..#."}, {'U', "#.##.##.##.####"}, {'V', "#.##.##.##.#.#."},
        {'W', "#.##.########.#"}, {'Y', "#.##.#.#..#..#."}, {'-', "......###......"},
        {'.', ".............#."}, {':', "....#.....#...."}, {'(', ".#.#..#..#...#."},
        {')', ".#...#..#..#.#."}, {'>', "#...#...#.#.#.."}, {'/', "..#..#.#.#..#.."},
        {'B', "##.#.###.#.###."}, {',', "..........#.#.."},
    };
    for (size_t i = 0; i < sizeof font / sizeof *font; i++)
        if (font[i].c == c)
            return font[i].rows;
    return "...............";   /* space and anything else */
}

typedef struct {
    unsigned char *rgb;
    int width, height;
} canvas;

static void fill(canvas *cv, int x, int y, int w, int h, const unsigned char colour[3])
{
    for (int yy = y; yy < y + h && yy < cv->height; yy++)
        for (int xx = x; xx < x + w && xx < cv->width; xx++)
            memcpy(cv->rgb + ((size_t)yy * cv->width + xx) * 3, colour, 3);
}

enum { FONT = 2 };   /* screen pixels per font pixel; a glyph advances 4 * FONT */

static void text(canvas *cv, int x, int y, const char *s, const unsigned char colour[3])
{
    for (; *s; s++, x += 4 * FONT) {
        const char *rows = glyph(*s);
        for (int r = 0; r < 5; r++)
            for (int c = 0; c < 3; c++)
                if (rows[r * 3 + c] == '#')
                    fill(cv, x + c * FONT, y + r * FONT, FONT, FONT, colour);
    }
}

/* sqrt(weight) through five anchors from dark purple (0) to yellow (1), as in viridis. */
static void weight_colour(float w, unsigned char out[3])
{
    static const unsigned char anchor[5][3] = {{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98},
                                               {253, 231, 37}};
    float v = sqrtf(w < 0 ? 0 : w > 1 ? 1 : w) * 4.0f;
    int k = v >= 4.0f ? 3 : (int)v;
    float f = v - (float)k;
    for (int c = 0; c < 3; c++)
        out[c] = (unsigned char)(anchor[k][c] + f * (anchor[k + 1][c] - anchor[k][c]) + 0.5f);
}

/* Masked cells: light grey with a darker diagonal hatch, so that they never read as a weight. */
static void masked_colour(int x, int y, unsigned char out[3])
{
    const unsigned char v = (x + y) % 4 == 0 ? 150 : 215;
    out[0] = out[1] = out[2] = v;
}

static const unsigned char WHITE[3] = {255, 255, 255}, INK[3] = {40, 40, 40}, BAND[3] = {222, 230, 244};

int attn_map_write_png(const attn_map *m, FILE *f)
{
    const int n = m->n, n_rep = m->n_heads / m->n_kv_heads;
    /* A heatmap is about 120 pixels a side whatever the prompt length (cells of 1 to 24 pixels). */
    const int cell = n >= 120 ? 1 : 120 / n > 24 ? 24 : 120 / n, heat = n * cell;
    const int pad = 5, gap_head = 3, gap_group = 12, gap_layer = 8;
    const int band_w = n_rep * heat + (n_rep - 1) * gap_head + 2 * pad;
    const int left = 10 + 3 * 4 * FONT + 6, top = 12 + 5 * FONT;   /* room for "L10" and "KV3" */
    const int head_label = top + pad, grid_y = head_label + 5 * FONT + 6;
    const int band_h = grid_y - top + m->n_layers * (heat + gap_layer) - gap_layer + pad;
    const int grid_w = left + m->n_kv_heads * (band_w + gap_group) - gap_group + 10;
    const int legend_y = top + band_h + 14;
    canvas cv = {NULL, grid_w > 440 ? grid_w : 440, legend_y + 4 * (5 * FONT + 8) + 4};
    cv.rgb = malloc((size_t)cv.width * cv.height * 3);
    if (!cv.rgb)
        return -1;
    fill(&cv, 0, 0, cv.width, cv.height, WHITE);

    char label[32];
    for (int g = 0; g < m->n_kv_heads; g++) {
        const int band_x = left + g * (band_w + gap_group);
        fill(&cv, band_x, top, band_w, band_h, BAND);
        snprintf(label, sizeof label, "KV%d", g);
        text(&cv, band_x, top - 5 * FONT - 4, label, INK);
        for (int r = 0; r < n_rep; r++) {
            const int h = g * n_rep + r, x0 = band_x + pad + r * (heat + gap_head);
            snprintf(label, sizeof label, "H%d", h);
            text(&cv, x0, head_label, label, INK);
            for (int l = 0; l < m->n_layers; l++) {
                const int y0 = grid_y + l * (heat + gap_layer);
                for (int y = 0; y < heat; y++)
                    for (int x = 0; x < heat; x++) {
                        const int i = y / cell, j = x / cell;
                        unsigned char *px = cv.rgb + ((size_t)(y0 + y) * cv.width + x0 + x) * 3;
                        if (j > i)
                            masked_colour(x0 + x, y0 + y, px);
                        else
                            weight_colour(attn_map_at(m, l, h, i, j), px);
                    }
            }
        }
    }
    for (int l = 0; l < m->n_layers; l++) {
        snprintf(label, sizeof label, "L%d", l);
        text(&cv, 8, grid_y + l * (heat + gap_layer) + heat / 2 - 5, label, INK);
    }

    /* The legend: the colour scale, the mask, and how to read a heatmap. */
    const int line = 5 * FONT + 8;
    int y = legend_y;
    text(&cv, 8, y, "WEIGHT 0", INK);
    for (int x = 0; x < 200; x++) {
        unsigned char c[3];
        weight_colour((float)(x * x) / (199.0f * 199.0f), c);   /* sqrt scale: pixel x shows (x/199)^2 */
        fill(&cv, 8 + 9 * 4 * FONT + x, y, 1, 5 * FONT, c);
    }
    text(&cv, 8 + 9 * 4 * FONT + 206, y, "1  (SQRT SCALE)", INK);
    y += line;
    for (int yy = 0; yy < 5 * FONT; yy++)
        for (int x = 0; x < 28; x++)
            masked_colour(8 + x, y + yy, cv.rgb + ((size_t)(y + yy) * cv.width + 8 + x) * 3);
    text(&cv, 44, y, "MASKED: KEY AFTER QUERY (CAUSAL)", INK);
    y += line;
    text(&cv, 8, y, "QUERY POSITION DOWN, KEY POSITION ACROSS", INK);
    y += line;
    text(&cv, 8, y, "ROWS: LAYERS. COLUMNS: QUERY HEADS, BANDED BY KV HEAD", INK);

    int status = png_write_rgb(f, cv.rgb, cv.width, cv.height);
    free(cv.rgb);
    return status;
}
