/* attn_html.c — the attention maps as one self-contained HTML page: the data and the script are
 * inline, nothing is fetched. A reader picks a layer and a head (or clicks a thumbnail), hovers a
 * cell to read the query token, the key token and the weight, and toggles the causal mask to see
 * the cells it removes. */
#include <stdio.h>

#include "attn_map.h"

/* A JSON string, safe inside <script>: quotes, backslashes and controls escaped, '<' as \u003c. */
static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20 || c == '<' || c == '>' || c == '&')
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

/* The page's look and behaviour; the data object DATA is written just before it. */
static const char *const PAGE_SCRIPT =
    "const D = DATA, n = D.tokens.length, rep = D.heads / D.kv_heads;\n"
    "const $ = id => document.getElementById(id);\n"
    "let layer = 0, head = 0;\n"
    "// weight of query i, key j (j <= i) in layer l, head h: rows of the lower triangle, row i has i+1 keys\n"
    "const at = (l, h, i, j) => D.w[l * D.heads + h][i * (i + 1) / 2 + j];\n"
    "function colour(w) { // sqrt(weight) from dark purple to yellow, as the PNG\n"
    "  const A = [[68,1,84],[59,82,139],[33,145,140],[94,201,98],[253,231,37]];\n"
    "  const v = Math.sqrt(Math.max(0, Math.min(1, w))) * 4, k = Math.min(3, Math.floor(v)), f = v - k;\n"
    "  return 'rgb(' + A[k].map((a, c) => Math.round(a + f * (A[k + 1][c] - a))).join(',') + ')';\n"
    "}\n"
    "function hatch(ctx) { // the masked cells' pattern: grey with a diagonal line\n"
    "  const p = document.createElement('canvas'); p.width = p.height = 6;\n"
    "  const c = p.getContext('2d'); c.fillStyle = '#d7d7d7'; c.fillRect(0, 0, 6, 6);\n"
    "  c.strokeStyle = '#8a8a8a'; c.beginPath(); c.moveTo(0, 6); c.lineTo(6, 0); c.stroke();\n"
    "  return ctx.createPattern(p, 'repeat');\n"
    "}\n"
    "function draw(canvas, l, h, cell, mask) {\n"
    "  const ctx = canvas.getContext('2d'), pat = hatch(ctx);\n"
    "  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {\n"
    "    ctx.fillStyle = j <= i ? colour(at(l, h, i, j)) : mask ? pat : '#e8403a';\n"
    "    ctx.fillRect(j * cell, i * cell, cell, cell);\n"
    "  }\n"
    "}\n"
    "const CELL = Math.max(4, Math.min(28, Math.floor(560 / n)));\n"
    "function render() {\n"
    "  const mask = $('mask').checked, big = $('map');\n"
    "  big.width = big.height = n * CELL; draw(big, layer, head, CELL, mask);\n"
    "  $('layer').value = layer; $('head').value = head;\n"
    "  $('what').textContent = 'layer ' + layer + ', query head ' + head + ' (shares kv head ' +\n"
    "    Math.floor(head / rep) + ' with ' + (rep - 1) + ' other query head' + (rep == 2 ? '' : 's') + ')';\n"
    "  $('masknote').textContent = mask ? 'Hatched: the ' + n * (n - 1) / 2 + ' of ' + n * n +\n"
    "    ' cells the causal mask removes (a key after its query).' : 'Red: the cells the causal mask removes. ' +\n"
    "    'Without it, each token would attend to tokens that come after it.';\n"
    "  const rows = $('rows'), cols = $('cols'); rows.innerHTML = cols.innerHTML = '';\n"
    "  rows.style.height = cols.style.width = n * CELL + 'px';\n"
    "  const every = Math.ceil(12 / CELL);  // label every row when cells are tall enough for text\n"
    "  D.tokens.forEach((t, i) => {\n"
    "    const r = document.createElement('div'); r.textContent = i % every ? '' : i + ' ' + t; r.style.height = CELL + 'px';\n"
    "    r.style.lineHeight = CELL + 'px'; rows.appendChild(r);\n"
    "    const c = document.createElement('div'); c.textContent = i % every ? '' : t + ' ' + i; c.style.width = CELL + 'px';\n"
    "    cols.appendChild(c);\n"
    "  });\n"
    "  document.querySelectorAll('.thumb').forEach(t => t.classList.toggle('on', t.dataset.l == layer && t.dataset.h == head));\n"
    "}\n"
    "function setup() {\n"
    "  $('title').textContent = 'Attention maps: ' + D.title;\n"
    "  $('shape').textContent = D.layers + ' layers, ' + D.heads + ' query heads, ' + D.kv_heads + ' key/value heads (' +\n"
    "    (rep == 1 ? 'multi-head' : D.kv_heads == 1 ? 'multi-query' : 'grouped-query') + '), ' + n + (n == 1 ? ' token' : ' tokens');\n"
    "  for (let l = 0; l < D.layers; l++) $('layer').add(new Option('layer ' + l, l));\n"
    "  for (let h = 0; h < D.heads; h++) $('head').add(new Option('head ' + h + ' (kv ' + Math.floor(h / rep) + ')', h));\n"
    "  const grid = $('thumbs'), tc = Math.max(1, Math.floor(48 / n));\n"
    "  for (let l = 0; l < D.layers; l++) {\n"
    "    const row = document.createElement('div'); row.className = 'trow';\n"
    "    const lab = document.createElement('span'); lab.textContent = 'L' + l; row.appendChild(lab);\n"
    "    for (let g = 0; g < D.kv_heads; g++) {\n"
    "      const band = document.createElement('span'); band.className = 'band'; band.title = 'kv head ' + g;\n"
    "      for (let r = 0; r < rep; r++) {\n"
    "        const h = g * rep + r, c = document.createElement('canvas');\n"
    "        c.width = c.height = n * tc; c.className = 'thumb'; c.dataset.l = l; c.dataset.h = h;\n"
    "        c.style.width = c.style.height = '40px';  // the same size whatever the prompt length\n"
    "        c.title = 'layer ' + l + ', head ' + h; draw(c, l, h, tc, true);\n"
    "        c.onclick = () => { layer = l; head = h; render(); }; band.appendChild(c);\n"
    "      }\n"
    "      row.appendChild(band);\n"
    "    }\n"
    "    grid.appendChild(row);\n"
    "  }\n"
    "  $('layer').onchange = e => { layer = +e.target.value; render(); };\n"
    "  $('head').onchange = e => { head = +e.target.value; render(); };\n"
    "  $('mask').onchange = render;\n"
    "  const big = $('map'), tip = $('tip');\n"
    "  big.onmousemove = e => {\n"
    "    const b = big.getBoundingClientRect();\n"
    "    show(Math.floor((e.clientY - b.top) / CELL), Math.floor((e.clientX - b.left) / CELL), e.pageX, e.pageY);\n"
    "  };\n"
    "  big.onmouseleave = () => tip.style.display = 'none';\n"
    "  // #LAYER,HEAD[,QUERY,KEY[,nomask]] in the address opens a head (and shows one cell's tooltip)\n"
    "  const a = location.hash.slice(1).split(',');\n"
    "  if (a.length >= 2) { layer = Math.min(D.layers - 1, +a[0] || 0); head = Math.min(D.heads - 1, +a[1] || 0); }\n"
    "  if (a[4] == 'nomask') $('mask').checked = false;\n"
    "  render();\n"
    "  if (a.length >= 4) { const b = big.getBoundingClientRect();\n"
    "    show(+a[2], +a[3], b.left + window.scrollX + (+a[3] + 0.5) * CELL, b.top + window.scrollY + (+a[2] + 0.5) * CELL); }\n"
    "}\n"
    "function show(i, j, x, y) { // the tooltip of query i, key j at page position x, y\n"
    "    const tip = $('tip');\n"
    "    if (!(i >= 0 && j >= 0 && i < n && j < n)) { tip.style.display = 'none'; return; }\n"
    "    tip.innerHTML = '';\n"
    "    const line = s => { const d = document.createElement('div'); d.textContent = s; tip.appendChild(d); };\n"
    "    line('query ' + i + ': \\u201c' + D.tokens[i] + '\\u201d'); line('key ' + j + ': \\u201c' + D.tokens[j] + '\\u201d');\n"
    "    line(j <= i ? 'weight ' + at(layer, head, i, j).toFixed(4) : 'masked: key ' + j + ' comes after query ' + i);\n"
    "    tip.style.display = 'block'; tip.style.left = x + 14 + 'px'; tip.style.top = y + 14 + 'px';\n"
    "}\n"
    "setup();\n";

static const char *const PAGE_STYLE =
    "body{font:14px system-ui,sans-serif;margin:16px;color:#222}h1{font-size:18px;margin:0 0 4px}"
    "#controls{margin:10px 0}#controls>*{margin-right:10px}"
    "#view{display:grid;grid-template-columns:auto auto;align-items:start;gap:2px}"
    "#rows{font:11px monospace;text-align:right;overflow:hidden;width:120px}#rows div{white-space:pre;padding-right:4px}"
    "#cols{display:flex;font:11px monospace;height:110px;overflow:hidden}"
    "#cols div{writing-mode:vertical-rl;transform:rotate(180deg);white-space:pre;text-align:left}"
    "#map{image-rendering:pixelated;cursor:crosshair}"
    "#tip{position:absolute;display:none;background:#fff;border:1px solid #888;padding:4px 6px;"
    "font:12px monospace;pointer-events:none;box-shadow:2px 2px 4px #0003}"
    ".trow{display:flex;align-items:center;margin:2px 0}.trow>span:first-child{width:28px;font:11px monospace}"
    ".band{background:#dee6f4;padding:3px;margin-right:8px;display:flex;gap:2px}"
    ".thumb{cursor:pointer;outline:2px solid transparent}.thumb.on{outline-color:#e8403a}"
    "#main{display:flex;gap:28px;align-items:flex-start}.note{color:#555;max-width:560px}";

int attn_map_write_html(const attn_map *m, FILE *f)
{
    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>attention maps</title>\n"
               "<style>%s</style></head>\n<body>\n<h1 id=\"title\"></h1><div id=\"shape\" class=\"note\"></div>\n"
               "<div id=\"controls\"><select id=\"layer\"></select><select id=\"head\"></select>"
               "<label><input type=\"checkbox\" id=\"mask\" checked> causal mask</label></div>\n"
               "<div id=\"main\"><div><div id=\"what\"></div>\n"
               "<div id=\"view\"><div></div><div id=\"cols\"></div><div id=\"rows\"></div><canvas id=\"map\"></canvas></div>\n"
               "<p id=\"masknote\" class=\"note\"></p>\n"
               "<p class=\"note\">Each row is a query token, each column a key token; a row's weights sum to 1. "
               "Colour is the square root of the weight (dark purple 0, yellow 1), so small weights show.</p></div>\n"
               "<div><div class=\"note\">All layers (rows) and query heads (columns); heads on one band share a "
               "key/value head. Click one to open it.</div><div id=\"thumbs\"></div></div></div>\n"
               "<div id=\"tip\"></div>\n<script>\nconst DATA = {\"title\": ",
            PAGE_STYLE);
    json_string(f, m->title);
    fprintf(f, ", \"layers\": %d, \"heads\": %d, \"kv_heads\": %d,\n\"tokens\": [", m->n_layers, m->n_heads,
            m->n_kv_heads);
    for (int i = 0; i < m->n; i++) {
        if (i)
            fputs(", ", f);
        json_string(f, m->labels[i]);
    }
    /* Weights as the lower triangle of each head (masked cells are implied), 5 significant digits. */
    fputs("],\n\"w\": [\n", f);
    for (int l = 0; l < m->n_layers; l++)
        for (int h = 0; h < m->n_heads; h++) {
            fputc('[', f);
            for (int i = 0; i < m->n; i++)
                for (int j = 0; j <= i; j++)
                    fprintf(f, i + j ? ",%.5g" : "%.5g", attn_map_at(m, l, h, i, j));
            fputs(l + 1 < m->n_layers || h + 1 < m->n_heads ? "],\n" : "]\n", f);
        }
    fprintf(f, "]};\n%s</script>\n</body></html>\n", PAGE_SCRIPT);
    return ferror(f) || fflush(f) != 0 ? -1 : 0;
}
