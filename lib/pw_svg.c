/* pw_svg.c -- heatmap and line plot as SVG (see pw_svg.h).
 *
 * Layout is computed in pixels from the number of layers and the longest
 * label; text widths are estimated (0.6 em per character), which is close
 * enough for sans-serif fonts to keep labels from colliding. */
#include "pw_svg.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define FONT        "DejaVu Sans, Helvetica, Arial, sans-serif"
#define CHAR_W      7.0   /* estimated width of one 12 px character */
#define LABEL_CHARS 32    /* longest layer label before it is cut */
#define LEGEND_MAX  16    /* more layers than this get a depth colour bar, not a legend */
#define PLOT_W      720.0 /* width of the data area */
#define TITLE_H     64.0  /* space above the data area */
#define MIN_PLOT_H  180.0 /* the data area is at least this tall */
#define MAX_ROW_H   36.0  /* tallest heatmap row */
#define MIN_ROW_H   4.0   /* shortest heatmap row */
#define LABEL_MIN_H 12.0  /* vertical room one row label needs */
#define INK         "#222222"
#define MUTED       "#666666"
#define GRID        "#e3e3e3"
#define NODATA      "#d4d4d4"

/* ---- text ----------------------------------------------------------------- */

static void put_cp(FILE *f, uint32_t c)
{
    if (c == '&')
        fputs("&amp;", f);
    else if (c == '<')
        fputs("&lt;", f);
    else if (c == '>')
        fputs("&gt;", f);
    else if (c == '"')
        fputs("&quot;", f);
    else if (c == '\'')
        fputs("&#39;", f);
    else if (c < 0x20 || (c >= 0x7F && c < 0xA0) || c == 0xFFFE || c == 0xFFFF)
        fputs("&#xFFFD;", f); /* not allowed in XML 1.0, or invisible controls */
    else if (c < 0x80)
        fputc((int)c, f);
    else
        fprintf(f, "&#x%" PRIX32 ";", c);
}

void pw_svg_escape(FILE *f, const char *s, size_t max_chars)
{
    size_t total = max_chars ? pw_plot_utf8_len(s) : 0, n = 0;
    uint32_t c;
    while (*s) {
        if (max_chars && total > max_chars && n + 1 == max_chars) {
            fputs("&#x2026;", f);
            return;
        }
        s += pw_plot_utf8_next(s, &c);
        put_cp(f, c);
        n++;
    }
}

/* A layer name in at most max code points: cut in the middle, where names
 * like model.layers.38.mlp.down_proj are least distinctive. */
static void put_label(FILE *f, const char *s, size_t max)
{
    size_t total = pw_plot_utf8_len(s);
    if (total <= max) {
        pw_svg_escape(f, s, 0);
        return;
    }
    size_t tail = (max - 1) / 2, head = max - 1 - tail, n = 0;
    uint32_t c;
    for (; *s; n++) {
        s += pw_plot_utf8_next(s, &c);
        if (n < head || n >= total - tail)
            put_cp(f, c);
        else if (n == head)
            fputs("&#x2026;", f);
    }
}

static size_t shown_chars(const char *s, size_t max)
{
    size_t n = pw_plot_utf8_len(s);
    return n > max ? max : n;
}

/* A number for an axis label: integers without decimals, others shortest. */
static void put_num(FILE *f, double v)
{
    if (fabs(v - round(v)) < 1e-9 * (fabs(v) + 1) && fabs(v) < 1e15)
        fprintf(f, "%.0f", round(v));
    else
        fprintf(f, "%g", v);
}

static void put_hex(FILE *f, const unsigned char rgb[3])
{
    fprintf(f, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
}

void pw_svg_begin(FILE *f, double w, double h, const char *title, const char *subtitle,
                  const char *untitled)
{
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
            "viewBox=\"0 0 %.0f %.0f\" font-family=\"%s\" font-size=\"12\" fill=\"%s\">\n",
            w, h, w, h, FONT, INK);
    fputs("<title>", f);
    pw_svg_escape(f, title ? title : untitled, 0);
    fputs("</title>\n", f);
    fprintf(f, "<rect width=\"%.0f\" height=\"%.0f\" fill=\"#ffffff\"/>\n", w, h);
    if (title) {
        fputs("<text class=\"title\" x=\"16\" y=\"26\" font-size=\"16\" font-weight=\"bold\">", f);
        pw_svg_escape(f, title, 0);
        fputs("</text>\n", f);
    }
    if (subtitle) {
        fprintf(f, "<text class=\"subtitle\" x=\"16\" y=\"46\" fill=\"%s\">", MUTED);
        pw_svg_escape(f, subtitle, 0);
        fputs("</text>\n", f);
    }
}

static void header(FILE *f, double w, double h, const pw_plot *p)
{
    pw_svg_begin(f, w, h, p->title, p->subtitle, "pwcca plot");
}

static int finish(FILE *f, pw_err *err)
{
    fputs("</svg>\n", f);
    if (fflush(f) != 0 || ferror(f))
        return pw_err_set(err, "cannot write the SVG: %s", "write error");
    return 0;
}

/* ---- the step axis, shared by both pictures --------------------------------- */

typedef struct axis {
    double lo, hi;  /* data values at the two ends */
    double px0, px; /* pixel of lo, and length in pixels */
} axis;

static double at(const axis *a, double v)
{
    return a->px0 + (v - a->lo) / (a->hi - a->lo) * a->px;
}

/* Ticks and labels under a horizontal axis at pixel row y. */
static void x_ticks(FILE *f, const axis *a, double y, const char *title)
{
    double t[32];
    size_t n = pw_plot_ticks(a->lo, a->hi, 8, t, 32);
    fprintf(f, "<g class=\"x-axis\" stroke=\"%s\">\n", INK);
    fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", a->px0, y,
            a->px0 + a->px, y);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", at(a, t[i]), y,
                at(a, t[i]), y + 5);
    fputs("</g>\n<g class=\"x-labels\" text-anchor=\"middle\">\n", f);
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "<text x=\"%.2f\" y=\"%.2f\">", at(a, t[i]), y + 19);
        put_num(f, t[i]);
        fputs("</text>\n", f);
    }
    fprintf(f, "</g>\n<text class=\"x-title\" x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">",
            a->px0 + a->px / 2, y + 40);
    pw_svg_escape(f, title, 0);
    fputs("</text>\n", f);
}

static void diamond(FILE *f, double x, double y, double r)
{
    fprintf(f,
            "<path class=\"mark\" d=\"M%.2f %.2fL%.2f %.2fL%.2f %.2fL%.2f %.2fZ\" fill=\"#ffffff\" "
            "stroke=\"%s\" stroke-width=\"1.5\"/>\n",
            x, y - r, x + r, y, x, y + r, x - r, y, INK);
}

/* Layer l's settle range (pw_plot.range_lo/hi) as a bar at height y: from its
 * earliest to its latest settle step, end ticks at both; a range that runs
 * past the newest checkpoint goes to the plot's right edge, open (an arrow). */
static void range_bar(FILE *f, const pw_plot *p, size_t l, const axis *ax, double y)
{
    if (!p->range_lo || p->range_lo[l] == PW_PLOT_NO_MARK)
        return;
    int open = p->range_hi[l] == PW_PLOT_NO_MARK;
    double x0 = at(ax, (double)p->range_lo[l]);
    double x1 = open ? ax->px0 + ax->px : at(ax, (double)p->range_hi[l]);
    fprintf(f, "<path class=\"settle-range\" d=\"M%.2f %.2fL%.2f %.2fM%.2f %.2fL%.2f %.2f", x0, y,
            x1, y, x0, y - 4, x0, y + 4);
    if (open)
        fprintf(f, "M%.2f %.2fL%.2f %.2fL%.2f %.2f", x1 - 5, y - 4, x1, y, x1 - 5, y + 4);
    else
        fprintf(f, "M%.2f %.2fL%.2f %.2f", x1, y - 4, x1, y + 4);
    fprintf(f, "\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\"/>\n", INK);
}

/* ---- heatmap ------------------------------------------------------------------ */

/* Column boundaries: halfway between neighbouring steps, half a gap beyond the ends. */
static double edge(const pw_plot *p, size_t i)
{
    const int64_t *s = p->steps;
    size_t n = p->nsteps;
    if (n == 1)
        return (double)s[0] + (i == 0 ? -0.5 : 0.5);
    if (i == 0)
        return (double)s[0] - ((double)s[1] - (double)s[0]) / 2;
    if (i == n)
        return (double)s[n - 1] + ((double)s[n - 1] - (double)s[n - 2]) / 2;
    return ((double)s[i - 1] + (double)s[i]) / 2;
}

static size_t column_of(const pw_plot *p, int64_t step)
{
    for (size_t i = 0; i < p->nsteps; i++)
        if (p->steps[i] == step)
            return i;
    return SIZE_MAX;
}

/* Colour bar ticks: round values, kept at least 14 px apart, the top always shown. */
static void colour_bar(FILE *f, const pw_plot *p, double x, double y, double h)
{
    static const double mant[] = {1, 2, 5};
    double ticks[64];
    size_t n = 0;
    ticks[n++] = 0;
    for (int e = -6; e <= 6; e++)
        for (size_t m = 0; m < 3; m++) {
            double v = mant[m] * pow(10, e);
            if (v < p->vmax * (1 - 1e-9) && n < 63)
                ticks[n++] = v;
        }
    ticks[n++] = p->vmax;

    fputs("<defs><linearGradient id=\"scale\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">\n", f);
    for (int i = 0; i <= 10; i++) {
        unsigned char rgb[3];
        pw_plot_color(i / 10.0, rgb);
        fprintf(f, "<stop offset=\"%.1f\" stop-color=\"", i / 10.0);
        put_hex(f, rgb);
        fputs("\"/>\n", f);
    }
    fputs("</linearGradient></defs>\n", f);
    fprintf(f,
            "<rect class=\"colour-bar\" x=\"%.2f\" y=\"%.2f\" width=\"14\" height=\"%.2f\" "
            "fill=\"url(#scale)\" stroke=\"%s\" stroke-width=\"0.5\"/>\n",
            x, y, h, INK);
    /* From the top down, a tick too close to the one above is skipped, except 0,
     * which replaces its neighbour instead. */
    double last = 0;
    size_t kept[64], nk = 0;
    for (size_t i = n; i-- > 0;) {
        double py = y + h - pw_plot_scale(p, ticks[i]) * h;
        if (nk > 0 && py - last < 14) {
            if (i != 0)
                continue;
            nk--;
        }
        kept[nk++] = i;
        last = py;
    }
    fprintf(f, "<g class=\"colour-ticks\" stroke=\"%s\">\n", INK);
    for (size_t k = 0; k < nk; k++) {
        double py = y + h - pw_plot_scale(p, ticks[kept[k]]) * h;
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", x + 14, py, x + 18,
                py);
    }
    fputs("</g>\n<g class=\"colour-labels\">\n", f);
    for (size_t k = 0; k < nk; k++) {
        double py = y + h - pw_plot_scale(p, ticks[kept[k]]) * h;
        fprintf(f, "<text x=\"%.2f\" y=\"%.2f\">", x + 21, py + 4);
        put_num(f, ticks[kept[k]]);
        fputs("</text>\n", f);
    }
    fputs("</g>\n", f);
    if (isfinite(p->threshold) && p->threshold > 0 && p->threshold < p->vmax) {
        double py = y + h - pw_plot_scale(p, p->threshold) * h;
        fprintf(f,
                "<g class=\"threshold\"><line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
                "stroke=\"#ffffff\" stroke-width=\"2\"/><text x=\"%.2f\" y=\"%.2f\" "
                "text-anchor=\"end\" font-style=\"italic\">&#x3C4;</text></g>\n",
                x, py, x + 14, py, x - 4, py + 4);
    }
    fprintf(f,
            "<text class=\"colour-title\" transform=\"translate(%.2f %.2f) rotate(-90)\" "
            "text-anchor=\"middle\">",
            x + 66, y + h / 2);
    pw_svg_escape(f, p->value_label ? p->value_label : "value", 0);
    fputs("</text>\n", f);
}

int pw_svg_heatmap(FILE *f, const pw_plot *p, pw_err *err)
{
    assert(p->nlayers > 0 && p->nsteps > 0);
    size_t maxc = 1;
    for (size_t l = 0; l < p->nlayers; l++)
        if (shown_chars(p->layers[l], LABEL_CHARS) > maxc)
            maxc = shown_chars(p->layers[l], LABEL_CHARS);
    double label_w = (double)maxc * CHAR_W;
    double left = 34 + label_w + 10;
    double row_h = 420.0 / (double)p->nlayers;
    row_h = row_h > MAX_ROW_H ? MAX_ROW_H : row_h < MIN_ROW_H ? MIN_ROW_H : row_h;
    double plot_h = row_h * (double)p->nlayers;
    if (plot_h < MIN_PLOT_H) {
        plot_h = MIN_PLOT_H;
        row_h = plot_h / (double)p->nlayers;
    }
    double top = TITLE_H, bottom = top + plot_h;
    double width = left + PLOT_W + 110, height = bottom + 86 + (p->range_lo ? 16 : 0);
    axis ax = {edge(p, 0), edge(p, p->nsteps), left, PLOT_W};

    header(f, width, height, p);

    /* Cells: a little wider than their column so no hairline shows between them. */
    fputs("<g class=\"cells\" shape-rendering=\"crispEdges\">\n", f);
    for (size_t l = 0; l < p->nlayers; l++) {
        double y = bottom - (double)(l + 1) * row_h;
        for (size_t s = 0; s < p->nsteps; s++) {
            double x0 = at(&ax, edge(p, s)), x1 = at(&ax, edge(p, s + 1));
            double v = p->values[l * p->nsteps + s];
            double w = x1 - x0 + (s + 1 < p->nsteps ? 0.5 : 0);
            fprintf(f,
                    "<rect class=\"cell%s\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
                    "fill=\"",
                    isnan(v) ? " nodata" : "", x0, y, w, row_h + (l + 1 < p->nlayers ? 0.5 : 0));
            if (isnan(v)) {
                fputs(NODATA, f);
            } else {
                unsigned char rgb[3];
                pw_plot_color(pw_plot_scale(p, v), rgb);
                put_hex(f, rgb);
            }
            fputs("\"/>\n", f);
        }
    }
    fputs("</g>\n", f);
    /* Thin white gaps keep the layers apart when rows are tall enough to show them. */
    if (row_h >= 16) {
        fputs("<g class=\"row-gaps\" stroke=\"#ffffff\" stroke-width=\"1.5\">\n", f);
        for (size_t l = 1; l < p->nlayers; l++)
            fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", left,
                    bottom - (double)l * row_h, left + PLOT_W, bottom - (double)l * row_h);
        fputs("</g>\n", f);
    }
    /* A layer without any value says so in its row. */
    for (size_t l = 0; row_h >= 12 && l < p->nlayers; l++) {
        size_t s = 0;
        while (s < p->nsteps && isnan(p->values[l * p->nsteps + s]))
            s++;
        if (s == p->nsteps)
            fprintf(f,
                    "<text class=\"empty-row\" x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" "
                    "fill=\"%s\">no value at any checkpoint</text>\n",
                    left + PLOT_W / 2, bottom - ((double)l + 0.5) * row_h + 4, MUTED);
    }
    fprintf(f,
            "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"none\" "
            "stroke=\"%s\" stroke-width=\"0.8\"/>\n",
            left, top, PLOT_W, plot_h, INK);

    /* Marks and the front joining them, bottom to top. */
    size_t nmarks = 0;
    if (p->mark_label && p->marks) {
        double r = row_h * 0.32 > 6 ? 6 : row_h * 0.32 < 2.5 ? 2.5 : row_h * 0.32;
        fputs("<polyline class=\"front\" fill=\"none\" stroke=\"#ffffff\" stroke-width=\"1.6\" "
              "stroke-opacity=\"0.9\" points=\"",
              f);
        for (size_t l = 0; l < p->nlayers; l++) {
            size_t s = p->marks[l] == PW_PLOT_NO_MARK ? SIZE_MAX : column_of(p, p->marks[l]);
            if (s != SIZE_MAX)
                fprintf(f, "%.2f,%.2f ", at(&ax, (double)p->steps[s]),
                        bottom - ((double)l + 0.5) * row_h);
        }
        fputs("\"/>\n", f);
        for (size_t l = 0; l < p->nlayers; l++)
            range_bar(f, p, l, &ax, bottom - ((double)l + 0.5) * row_h);
        for (size_t l = 0; l < p->nlayers; l++) {
            size_t s = p->marks[l] == PW_PLOT_NO_MARK ? SIZE_MAX : column_of(p, p->marks[l]);
            if (s == SIZE_MAX)
                continue;
            diamond(f, at(&ax, (double)p->steps[s]), bottom - ((double)l + 0.5) * row_h, r);
            nmarks++;
        }
    }

    /* Layer labels, thinned when rows are too short for every one. */
    size_t every = (size_t)ceil(LABEL_MIN_H / row_h);
    fprintf(f, "<g class=\"y-labels\" text-anchor=\"end\" stroke=\"none\">\n");
    for (size_t l = 0; l < p->nlayers; l += every) {
        double y = bottom - ((double)l + 0.5) * row_h;
        fprintf(f,
                "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\"/>"
                "<text x=\"%.2f\" y=\"%.2f\">",
                left - 5, y, left, y, INK, left - 8, y + 4);
        put_label(f, p->layers[l], LABEL_CHARS);
        fputs("</text>\n", f);
    }
    fputs("</g>\n", f);
    fprintf(f,
            "<text class=\"y-title\" transform=\"translate(18 %.2f) rotate(-90)\" "
            "text-anchor=\"middle\">layer (bottom &#x2192; top)</text>\n",
            top + plot_h / 2);

    x_ticks(f, &ax, bottom, "training step");
    colour_bar(f, p, left + PLOT_W + 22, top, plot_h);

    /* Key for the marks and empty cells. */
    double ky = bottom + 66, kx = left;
    if (nmarks > 0) {
        diamond(f, kx + 6, ky - 4, 5);
        fprintf(f, "<text class=\"key\" x=\"%.2f\" y=\"%.2f\">", kx + 16, ky);
        pw_svg_escape(f, p->mark_label, 0);
        fputs("</text>\n", f);
        kx += 16 + (double)pw_plot_utf8_len(p->mark_label) * CHAR_W + 24;
    }
    fprintf(f,
            "<rect x=\"%.2f\" y=\"%.2f\" width=\"12\" height=\"12\" fill=\"%s\"/>"
            "<text class=\"key\" x=\"%.2f\" y=\"%.2f\">no value (not scored, or not "
            "applicable)</text>\n",
            kx, ky - 10, NODATA, kx + 18, ky);
    if (p->range_lo && p->mark_label) {
        fprintf(f, "<text class=\"key range-key\" x=\"%.2f\" y=\"%.2f\">", left, ky + 16);
        fprintf(f,
                "bar: settle range, the steps it could have settled at given &#xB1;%g standard "
                "errors (jackknife)</text>\n",
                p->range_z);
    }
    return finish(f, err);
}

/* ---- lines ----------------------------------------------------------------------- */

/* Legend: top layer first, as the layers stack in the network. */
static void lines_legend(FILE *f, const pw_plot *p, double x, double top)
{
    fprintf(f,
            "<g class=\"legend\">\n<text x=\"%.2f\" y=\"%.2f\" font-weight=\"bold\">layer (top "
            "first)</text>\n",
            x, top + 4);
    for (size_t k = 0; k < p->nlayers; k++) {
        size_t l = p->nlayers - 1 - k;
        unsigned char rgb[3];
        double y = top + 22 + 17.0 * (double)k;
        pw_plot_layer_color(l, p->nlayers, rgb);
        fprintf(
            f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke-width=\"3\" stroke=\"",
            x, y - 4, x + 22, y - 4);
        put_hex(f, rgb);
        fprintf(f, "\"/><text x=\"%.2f\" y=\"%.2f\">", x + 30, y);
        put_label(f, p->layers[l], LABEL_CHARS);
        size_t s = 0;
        while (s < p->nsteps && isnan(p->values[l * p->nsteps + s]))
            s++;
        if (s == p->nsteps)
            fprintf(f, "<tspan fill=\"%s\"> (no value)</tspan>", MUTED);
        fputs("</text>\n", f);
    }
    if (p->chance) {
        double y = top + 22 + 17.0 * (double)p->nlayers;
        fprintf(
            f,
            "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke-width=\"3\" "
            "stroke=\"%s\" stroke-dasharray=\"2 3\"/><text x=\"%.2f\" y=\"%.2f\">chance</text>\n",
            x, y - 4, x + 22, y - 4, MUTED, x + 30, y);
    }
    fputs("</g>\n", f);
}

/* Too many layers for a legend: a bar of the line colours by depth, the
 * bottom and top layers named at its ends and row numbers between. */
static void depth_bar(FILE *f, const pw_plot *p, double x, double top, double h)
{
    size_t n = p->nlayers;
    fputs("<defs><linearGradient id=\"depth\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">\n", f);
    for (int i = 0; i <= 10; i++) {
        unsigned char rgb[3];
        pw_plot_layer_color((size_t)lround(i / 10.0 * (double)(n - 1)), n, rgb);
        fprintf(f, "<stop offset=\"%.1f\" stop-color=\"", i / 10.0);
        put_hex(f, rgb);
        fputs("\"/>\n", f);
    }
    fputs("</linearGradient></defs>\n<g class=\"depth-bar\">\n", f);
    fprintf(f,
            "<text x=\"%.2f\" y=\"%.2f\" font-weight=\"bold\">layer (%zu, by depth)</text>\n"
            "<rect x=\"%.2f\" y=\"%.2f\" width=\"14\" height=\"%.2f\" fill=\"url(#depth)\" "
            "stroke=\"%s\" stroke-width=\"0.5\"/>\n",
            x, top + 4, n, x, top + 14, h - 14, INK);
    double t[16];
    size_t nt = pw_plot_ticks(0, (double)(n - 1), 6, t, 16);
    for (size_t i = 0; i < nt; i++) {
        double y = top + h - t[i] / (double)(n - 1) * (h - 14);
        fprintf(f,
                "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\"/>"
                "<text x=\"%.2f\" y=\"%.2f\">",
                x + 14, y, x + 18, y, INK, x + 21, y + 4);
        size_t l = (size_t)t[i];
        if (l == 0 || l == n - 1) {
            fputs(l == 0 ? "bottom: " : "top: ", f);
            put_label(f, p->layers[l], LABEL_CHARS);
        } else {
            fprintf(f, "row %zu", l);
        }
        fputs("</text>\n", f);
    }
    if (t[nt - 1] < (double)(n - 1)) { /* the top layer always named */
        fprintf(f, "<text x=\"%.2f\" y=\"%.2f\">top: ", x + 21, top + 18);
        put_label(f, p->layers[n - 1], LABEL_CHARS);
        fputs("</text>\n", f);
    }
    fputs("</g>\n", f);
}

/* The value at a y position of the lines plot, clamped to the axis. */
static double value_y(double v, double bottom, double plot_h, double vmax)
{
    v = v < 0 ? 0 : v > vmax ? vmax : v;
    /* Clamped to the plot: a band edge beyond it is cut off, not drawn outside. */
    return bottom - (v < 0 ? 0 : v > vmax ? vmax : v) / vmax * plot_h;
}

/* Each layer's chance level (the reference's probe inputs shuffled) as a
 * dotted line in its colour over a thin translucent band across the plot:
 * where a distance that means "unrelated" lies at this n and p. */
static void chance_band(FILE *f, const pw_plot *p, double left, double bottom, double plot_h,
                        double vmax)
{
    fputs("<g class=\"chance-band\">\n", f);
    for (size_t l = 0; l < p->nlayers; l++) {
        if (!isfinite(p->chance[l]))
            continue;
        unsigned char rgb[3];
        pw_plot_layer_color(l, p->nlayers, rgb);
        double y = value_y(p->chance[l], bottom, plot_h, vmax);
        fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"5\" fill=\"", left, y - 2.5,
                PLOT_W);
        put_hex(f, rgb);
        fprintf(f,
                "\" fill-opacity=\"0.18\"/><line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
                "stroke-dasharray=\"2 3\" stroke-width=\"1.2\" stroke=\"",
                left, y, left + PLOT_W, y);
        put_hex(f, rgb);
        fputs("\"><title>chance ", f);
        pw_svg_escape(f, p->layers[l], 0);
        fputs(": ", f);
        put_num(f, p->chance[l]);
        fputs("</title></line>\n", f);
    }
    fputs("</g>\n", f);
}

/* Layer l's standard errors behind its line: a translucent band of value
 * +- SE over each run of consecutive steps that have one, and an error bar
 * where a step has one alone (noise's `every N` leaves them apart). */
static void se_band(FILE *f, const pw_plot *p, size_t l, const axis *ax, double bottom,
                    double plot_h, double vmax, const unsigned char rgb[3])
{
    const double *v = p->values + l * p->nsteps, *e = p->se + l * p->nsteps;
    double z = p->band_z > 0 ? p->band_z : 1;
    fputs("<g class=\"se-band\" stroke=\"none\" fill=\"", f);
    put_hex(f, rgb);
    fputs("\" fill-opacity=\"0.22\">\n", f);
    for (size_t s = 0; s < p->nsteps;) {
        if (isnan(v[s]) || isnan(e[s])) {
            s++;
            continue;
        }
        size_t end = s + 1;
        while (end < p->nsteps && !isnan(v[end]) && !isnan(e[end]))
            end++;
        if (end - s == 1) {
            double x = at(ax, (double)p->steps[s]);
            double y0 = value_y(v[s] - z * e[s], bottom, plot_h, vmax);
            double y1 = value_y(v[s] + z * e[s], bottom, plot_h, vmax);
            fprintf(f,
                    "<path d=\"M%.2f %.2fL%.2f %.2fM%.2f %.2fL%.2f %.2fM%.2f %.2fL%.2f %.2f\" "
                    "stroke=\"",
                    x, y0, x, y1, x - 3, y0, x + 3, y0, x - 3, y1, x + 3, y1);
            put_hex(f, rgb);
            fputs("\" stroke-width=\"1.2\" stroke-opacity=\"0.8\"/>\n", f);
        } else {
            fputs("<path d=\"", f);
            for (size_t k = s; k < end; k++)
                fprintf(f, "%s%.2f %.2f", k == s ? "M" : "L", at(ax, (double)p->steps[k]),
                        value_y(v[k] + z * e[k], bottom, plot_h, vmax));
            for (size_t k = end; k-- > s;)
                fprintf(f, "L%.2f %.2f", at(ax, (double)p->steps[k]),
                        value_y(v[k] - z * e[k], bottom, plot_h, vmax));
            fputs("Z\"/>\n", f);
        }
        s = end;
    }
    fputs("</g>\n", f);
}

int pw_svg_lines(FILE *f, const pw_plot *p, pw_err *err)
{
    assert(p->nlayers > 0 && p->nsteps > 0);
    size_t maxc = 1;
    for (size_t l = 0; l < p->nlayers; l++)
        if (shown_chars(p->layers[l], LABEL_CHARS) > maxc)
            maxc = shown_chars(p->layers[l], LABEL_CHARS);
    double left = 78, top = TITLE_H, plot_h = 380, bottom = top + plot_h;
    int legend = p->nlayers <= LEGEND_MAX;
    double legend_x = left + PLOT_W + 24;
    double legend_h = legend ? 22 + 17.0 * (double)(p->nlayers + (p->chance != NULL)) : plot_h;
    double width = legend_x + 30 + (double)(maxc + 11) * CHAR_W + 8;
    double height = (bottom + 76 > top + legend_h + 10 ? bottom + 76 : top + legend_h + 10);
    double lo = (double)p->steps[0], hi = (double)p->steps[p->nsteps - 1];
    if (hi <= lo) {
        lo -= 0.5;
        hi += 0.5;
    }
    axis ax = {lo, hi, left, PLOT_W};
    double vmax = p->vmax > 0 ? p->vmax : 1;
    /* The value axis reaches the chance levels: the point is how far below
     * them the distances lie. */
    for (size_t l = 0; p->chance && l < p->nlayers; l++)
        if (isfinite(p->chance[l]) && p->chance[l] > vmax)
            vmax = pw_plot_nice_max(p->chance[l]);

    header(f, width, height, p);

    /* Value axis: linear from 0, light grid lines. */
    double t[32];
    size_t nt = pw_plot_ticks(0, vmax, 6, t, 32);
    fprintf(f, "<g class=\"grid\" stroke=\"%s\">\n", GRID);
    for (size_t i = 0; i < nt; i++) {
        double y = bottom - t[i] / vmax * plot_h;
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", left, y,
                left + PLOT_W, y);
    }
    fputs("</g>\n<g class=\"y-labels\" text-anchor=\"end\">\n", f);
    for (size_t i = 0; i < nt; i++) {
        double y = bottom - t[i] / vmax * plot_h;
        fprintf(f,
                "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\"/>"
                "<text x=\"%.2f\" y=\"%.2f\">",
                left - 5, y, left, y, INK, left - 8, y + 4);
        put_num(f, t[i]);
        fputs("</text>\n", f);
    }
    fprintf(f, "</g>\n<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\"/>\n",
            left, top, left, bottom, INK);
    fprintf(f,
            "<text class=\"y-title\" transform=\"translate(22 %.2f) rotate(-90)\" "
            "text-anchor=\"middle\">",
            top + plot_h / 2);
    pw_svg_escape(f, p->value_label ? p->value_label : "value", 0);
    fputs("</text>\n", f);
    x_ticks(f, &ax, bottom, "training step");

    if (isfinite(p->threshold) && p->threshold > 0 && p->threshold < vmax) {
        double y = bottom - p->threshold / vmax * plot_h;
        fprintf(f,
                "<g class=\"threshold\"><line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
                "stroke=\"%s\" stroke-dasharray=\"6 4\"/><text x=\"%.2f\" y=\"%.2f\" "
                "text-anchor=\"end\" fill=\"%s\" font-size=\"11\">%s = ",
                left, y, left + PLOT_W, y, MUTED, left + PLOT_W - 4, y - 4, MUTED,
                p->threshold_theta ? "stable_threshold &#x3B8;" : "&#x3C4;");
        put_num(f, p->threshold);
        fputs("</text></g>\n", f);
    }

    /* One series per layer; a NULL value breaks its line. */
    int dots = p->nsteps <= 60;
    if (p->chance)
        chance_band(f, p, left, bottom, plot_h, vmax);
    for (size_t l = 0; p->se && l < p->nlayers; l++) {
        unsigned char rgb[3];
        pw_plot_layer_color(l, p->nlayers, rgb);
        se_band(f, p, l, &ax, bottom, plot_h, vmax, rgb);
    }
    for (size_t l = 0; l < p->nlayers; l++) {
        unsigned char rgb[3];
        pw_plot_layer_color(l, p->nlayers, rgb);
        fputs("<g class=\"series\" fill=\"none\" stroke=\"", f);
        put_hex(f, rgb);
        fputs("\" stroke-width=\"1.8\" stroke-linejoin=\"round\"><title>", f);
        pw_svg_escape(f, p->layers[l], 0);
        fputs("</title>\n", f);
        const double *v = p->values + l * p->nsteps;
        int pen = 0, any = 0;
        for (size_t s = 0; s < p->nsteps; s++) {
            if (isnan(v[s])) {
                pen = 0;
                continue;
            }
            if (!any)
                fputs("<path d=\"", f);
            any = 1;
            fprintf(f, "%s%.2f %.2f", pen ? "L" : "M", at(&ax, (double)p->steps[s]),
                    bottom - (v[s] > vmax ? vmax : v[s]) / vmax * plot_h);
            pen = 1;
        }
        if (any)
            fputs("\"/>\n", f);
        for (size_t s = 0; dots && s < p->nsteps; s++)
            if (!isnan(v[s])) {
                fprintf(f, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"2.2\" fill=\"",
                        at(&ax, (double)p->steps[s]),
                        bottom - (v[s] > vmax ? vmax : v[s]) / vmax * plot_h);
                put_hex(f, rgb);
                fputs("\" stroke=\"none\"/>\n", f);
            }
        size_t s = p->marks && p->mark_label && p->marks[l] != PW_PLOT_NO_MARK
                       ? column_of(p, p->marks[l])
                       : SIZE_MAX;
        /* The settle range at the height of the mark, or of its earliest step. */
        size_t rs = s != SIZE_MAX ? s
                    : p->range_lo && p->mark_label && p->range_lo[l] != PW_PLOT_NO_MARK
                        ? column_of(p, p->range_lo[l])
                        : SIZE_MAX;
        if (rs != SIZE_MAX && !isnan(v[rs]))
            range_bar(f, p, l, &ax, bottom - (v[rs] > vmax ? vmax : v[rs]) / vmax * plot_h);
        if (s != SIZE_MAX && !isnan(v[s]))
            diamond(f, at(&ax, (double)p->steps[s]),
                    bottom - (v[s] > vmax ? vmax : v[s]) / vmax * plot_h, 4);
        fputs("</g>\n", f);
    }
    fprintf(f,
            "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"none\" "
            "stroke=\"%s\" stroke-width=\"0.8\"/>\n",
            left, top, PLOT_W, plot_h, INK);

    if (legend)
        lines_legend(f, p, legend_x, top);
    else
        depth_bar(f, p, legend_x, top, plot_h);
    if (p->se) {
        fprintf(f, "<text class=\"key se-key\" x=\"%.2f\" y=\"%.2f\" text-anchor=\"end\">",
                left + PLOT_W, bottom + 64);
        if (p->range_lo && p->mark_label)
            fprintf(f, "band: &#xB1;1 SE (jackknife); bar: settle range, &#xB1;%g SE</text>\n",
                    p->range_z);
        else if (p->band_z > 0 && p->band_z != 1)
            fprintf(f, "band / bar: &#xB1;%g standard errors (jackknife)</text>\n", p->band_z);
        else
            fputs("band / bar: &#xB1;1 standard error (jackknife)</text>\n", f);
    }
    if (p->mark_label && p->marks) {
        diamond(f, left + 6, bottom + 60, 4);
        fprintf(f, "<text class=\"key\" x=\"%.2f\" y=\"%.2f\">", left + 16, bottom + 64);
        pw_svg_escape(f, p->mark_label, 0);
        fputs("</text>\n", f);
    }
    return finish(f, err);
}
