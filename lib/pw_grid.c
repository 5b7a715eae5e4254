/* pw_grid.c -- a labelled matrix as an SVG heatmap, with an optional
 * dendrogram (see pw_grid.h).
 *
 * Layout in pixels from the matrix size and the longest label, as pw_svg.c
 * does it (text widths estimated at 7 px a character): row labels on the
 * left, column labels turned a quarter below the grid, the colour bar on
 * the right, the dendrogram (when given) above the columns. */
#include "pw_grid.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pw_array.h"
#include "pw_plot.h"
#include "pw_svg.h"

#define CHAR_W      7.0   /* estimated width of one 12 px character */
#define LABEL_CHARS 28    /* longest label before it is cut */
#define GRID_PX     560.0 /* the grid's larger side, before clamping the cell size */
#define MAX_CELL    48.0  /* largest cell */
#define MIN_CELL    6.0   /* smallest cell */
#define TEXT_CELL   30.0  /* cells at least this large print their value */
#define TITLE_H     64.0  /* space above everything else */
#define TREE_H      110.0 /* the dendrogram's height */
#define INK         "#222222"
#define MUTED       "#666666"
#define NODATA      "#d4d4d4"

static size_t label_chars(const char *s)
{
    size_t n = pw_plot_utf8_len(s);
    return n > LABEL_CHARS ? LABEL_CHARS : n;
}

static void put_hex(FILE *f, double t)
{
    unsigned char rgb[3];
    pw_plot_color(t, rgb);
    fprintf(f, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
}

/* Position of v on the colour scale, clamped to [0, 1]. */
static double scale(const pw_grid *g, double v)
{
    double t = (v - g->vmin) / (g->vmax - g->vmin);
    return t < 0 ? 0 : t > 1 ? 1 : t;
}

static void colour_bar(FILE *f, const pw_grid *g, double x, double y, double h)
{
    fputs("<defs><linearGradient id=\"scale\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">\n", f);
    for (int i = 0; i <= 10; i++) {
        fprintf(f, "<stop offset=\"%.1f\" stop-color=\"", i / 10.0);
        put_hex(f, i / 10.0);
        fputs("\"/>\n", f);
    }
    fputs("</linearGradient></defs>\n", f);
    fprintf(f,
            "<rect class=\"colour-bar\" x=\"%.2f\" y=\"%.2f\" width=\"14\" height=\"%.2f\" "
            "fill=\"url(#scale)\" stroke=\"%s\" stroke-width=\"0.5\"/>\n",
            x, y, h, INK);
    double t[16];
    size_t n = pw_plot_ticks(g->vmin, g->vmax, 5, t, 16);
    fputs("<g class=\"colour-labels\">\n", f);
    for (size_t i = 0; i < n; i++) {
        double py = y + h - scale(g, t[i]) * h;
        fprintf(f,
                "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\"/>"
                "<text x=\"%.2f\" y=\"%.2f\">%g</text>\n",
                x + 14, py, x + 18, py, INK, x + 21, py + 4, t[i]);
    }
    fputs("</g>\n", f);
    if (g->value_label) {
        fprintf(f, "<text class=\"value-label\" x=\"%.2f\" y=\"%.2f\" fill=\"%s\">", x, y + h + 18,
                MUTED);
        pw_svg_escape(f, g->value_label, 0);
        fputs("</text>\n", f);
    }
}

/* The dendrogram above the columns: leaf k at the centre of its column,
 * each merge a bracket at its height. */
static int dendrogram(FILE *f, const pw_grid *g, double x0, double cell, double base, pw_err *err)
{
    size_t n = g->ncols, nodes = 2 * n - 1;
    double *x = pw_array_alloc(nodes, sizeof *x), *y = pw_array_alloc(nodes, sizeof *y);
    if (!x || !y) {
        free(x);
        free(y);
        return pw_err_set(err, "out of memory for a dendrogram of %zu leaves", n);
    }
    double top = 0;
    for (size_t k = 0; k + 1 < n; k++)
        top = g->tree[k][2] > top ? g->tree[k][2] : top;
    double span = TREE_H - 20;
    for (size_t pos = 0; pos < n; pos++) {
        x[g->leaf_order[pos]] = x0 + (pos + 0.5) * cell;
        y[g->leaf_order[pos]] = base;
    }
    fprintf(f, "<g class=\"dendrogram\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.2\">\n", INK);
    for (size_t k = 0; k + 1 < n; k++) {
        size_t a = (size_t)g->tree[k][0], b = (size_t)g->tree[k][1];
        double h = top > 0 ? base - g->tree[k][2] / top * span : base - span;
        x[n + k] = (x[a] + x[b]) / 2;
        y[n + k] = h;
        fprintf(f,
                "<path class=\"link\" d=\"M%.2f %.2fV%.2fH%.2fV%.2f\"><title>height "
                "%.6g</title></path>\n",
                x[a], y[a], h, x[b], y[b], g->tree[k][2]);
    }
    fputs("</g>\n", f);
    free(x);
    free(y);
    return 0;
}

int pw_grid_svg(FILE *f, const pw_grid *g, pw_err *err)
{
    size_t most = g->nrows > g->ncols ? g->nrows : g->ncols;
    double cell = GRID_PX / (double)most;
    cell = cell > MAX_CELL ? MAX_CELL : cell < MIN_CELL ? MIN_CELL : cell;
    size_t rl = 1, cl = 1;
    for (size_t i = 0; i < g->nrows; i++)
        rl = label_chars(g->row_names[i]) > rl ? label_chars(g->row_names[i]) : rl;
    for (size_t j = 0; j < g->ncols; j++)
        cl = label_chars(g->col_names[j]) > cl ? label_chars(g->col_names[j]) : cl;
    double gw = cell * (double)g->ncols, gh = cell * (double)g->nrows;
    double x0 = 16 + 24 + rl * CHAR_W + 8, y0 = TITLE_H + (g->tree ? TREE_H : 0);
    double below = 8 + cl * CHAR_W + 36, bar_h = gh > 140 ? gh : 140;
    double w = x0 + gw + 40 + 80, h = y0 + (gh > bar_h ? gh : bar_h) + below + 20;
    double tw = 16 + 9.5 * (g->title ? (double)pw_plot_utf8_len(g->title) : 0) + 16;
    w = tw > w ? tw : w;

    pw_svg_begin(f, w, h, g->title, g->subtitle, "pwcca matrix");
    if (g->tree && g->nrows >= 2 && dendrogram(f, g, x0, cell, y0 - 4, err) != 0)
        return -1;
    fputs("<g class=\"cells\">\n", f);
    for (size_t i = 0; i < g->nrows; i++) {
        double cy = g->rows_up ? y0 + gh - (double)(i + 1) * cell : y0 + (double)i * cell;
        for (size_t j = 0; j < g->ncols; j++) {
            double v = g->values[i * g->ncols + j], cx = x0 + (double)j * cell;
            fprintf(f,
                    "<rect class=\"cell\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
                    "fill=\"",
                    cx, cy, cell, cell);
            if (isnan(v))
                fputs(NODATA, f);
            else
                put_hex(f, scale(g, v));
            fputs("\"><title>", f);
            pw_svg_escape(f, g->row_names[i], 0);
            fputs(" / ", f);
            pw_svg_escape(f, g->col_names[j], 0);
            if (isnan(v))
                fputs(": none", f);
            else
                fprintf(f, ": %.6g", v);
            fputs("</title></rect>\n", f);
            if (cell >= TEXT_CELL && !isnan(v))
                fprintf(f,
                        "<text class=\"value\" x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" "
                        "font-size=\"10\" fill=\"%s\">%.2f</text>\n",
                        cx + cell / 2, cy + cell / 2 + 4, scale(g, v) > 0.6 ? INK : "#ffffff", v);
        }
    }
    fputs("</g>\n<g class=\"row-labels\" text-anchor=\"end\">\n", f);
    for (size_t i = 0; i < g->nrows; i++) {
        double cy =
            g->rows_up ? y0 + gh - (double)i * cell - cell / 2 : y0 + (double)i * cell + cell / 2;
        fprintf(f, "<text x=\"%.2f\" y=\"%.2f\">", x0 - 6, cy + 4);
        pw_svg_escape(f, g->row_names[i], LABEL_CHARS);
        fputs("</text>\n", f);
    }
    fputs("</g>\n<g class=\"col-labels\">\n", f);
    for (size_t j = 0; j < g->ncols; j++) {
        double cx = x0 + (double)j * cell + cell / 2 - 4;
        fprintf(f, "<text transform=\"translate(%.2f %.2f) rotate(90)\">", cx, y0 + gh + 8);
        pw_svg_escape(f, g->col_names[j], LABEL_CHARS);
        fputs("</text>\n", f);
    }
    fputs("</g>\n", f);
    if (g->row_title) {
        double cy = y0 + gh / 2;
        fprintf(f,
                "<text class=\"row-title\" text-anchor=\"middle\" transform=\"translate(%.2f "
                "%.2f) rotate(-90)\">",
                26.0, cy);
        pw_svg_escape(f, g->row_title, 0);
        fputs("</text>\n", f);
    }
    if (g->col_title) {
        fprintf(f, "<text class=\"col-title\" x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">",
                x0 + gw / 2, y0 + gh + below - 8);
        pw_svg_escape(f, g->col_title, 0);
        fputs("</text>\n", f);
    }
    colour_bar(f, g, x0 + gw + 24, y0, bar_h);
    fputs("</svg>\n", f);
    if (fflush(f) != 0 || ferror(f))
        return pw_err_set(err, "cannot write the SVG: write error");
    return 0;
}
