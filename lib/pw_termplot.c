/* pw_termplot.c -- the terminal heatmap (see pw_termplot.h). */
#include "pw_termplot.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_W  24  /* columns for layer names */
#define MAX_CELL_W  4   /* characters one checkpoint may take when few */
#define NODATA_ANSI 250 /* light grey */
#define RAMP_LEVELS ((int)sizeof PW_TERMPLOT_RAMP - 2) /* levels above 0 */

int pw_termplot_ansi256(const unsigned char rgb[3])
{
    static const int level[6] = {0, 95, 135, 175, 215, 255};
    int idx[3], cube_err = 0;
    for (int c = 0; c < 3; c++) {
        int best = 0;
        for (int k = 1; k < 6; k++)
            if (abs(level[k] - rgb[c]) < abs(level[best] - rgb[c]))
                best = k;
        idx[c] = best;
        cube_err += (level[best] - rgb[c]) * (level[best] - rgb[c]);
    }
    /* The grey ramp 232..255 (8, 18, ..., 238) is closer for unsaturated colours. */
    int mean = (rgb[0] + rgb[1] + rgb[2]) / 3;
    int g = (mean - 8 + 5) / 10;
    g = g < 0 ? 0 : g > 23 ? 23 : g;
    int gv = 8 + 10 * g, grey_err = 0;
    for (int c = 0; c < 3; c++)
        grey_err += (gv - rgb[c]) * (gv - rgb[c]);
    if (grey_err < cube_err)
        return 232 + g;
    return 16 + 36 * idx[0] + 6 * idx[1] + idx[2];
}

/* ASCII for the few symbols plot labels use, for plain mode; NULL for others. */
static const char *ascii_for(uint32_t c)
{
    switch (c) {
    case 0x2212: /* minus sign */
    case 0x2013: /* en dash */
        return "-";
    case 0x2264:
        return "<=";
    case 0x2265:
        return ">=";
    case 0x2192:
        return "->";
    case 0x2026:
        return "...";
    case 0x3C4:
        return "tau";
    default:
        return NULL;
    }
}

/* Print the first n code points of s; controls (and, in plain mode, all
 * non-ASCII but a few symbols) become '?', so nothing from the database
 * reaches the terminal raw. */
static void put_text(FILE *f, const char *s, size_t n, int color)
{
    uint32_t c;
    for (size_t i = 0; i < n && *s; i++) {
        s += pw_plot_utf8_next(s, &c);
        if (!color && ascii_for(c))
            fputs(ascii_for(c), f);
        else if (c < 0x20 || (c >= 0x7F && c < 0xA0) || (!color && c >= 0x80) || c == 0xFFFD)
            fputc('?', f);
        else if (c < 0x80)
            fputc((int)c, f);
        else if (c < 0x800)
            fprintf(f, "%c%c", 0xC0 | (c >> 6), 0x80 | (c & 0x3F));
        else if (c < 0x10000)
            fprintf(f, "%c%c%c", 0xE0 | (c >> 12), 0x80 | ((c >> 6) & 0x3F), 0x80 | (c & 0x3F));
        else
            fprintf(f, "%c%c%c%c", 0xF0 | (c >> 18), 0x80 | ((c >> 12) & 0x3F),
                    0x80 | ((c >> 6) & 0x3F), 0x80 | (c & 0x3F));
    }
}

/* Print a line of text from the caller (titles hold run names). */
static void put_line(FILE *f, const char *s, int color)
{
    put_text(f, s, SIZE_MAX, color);
    fputc('\n', f);
}

/* Print a name in exactly w columns: cut with an ellipsis, padded on the left. */
static void put_name(FILE *f, const char *s, size_t w, int color)
{
    size_t len = pw_plot_utf8_len(s), shown = len > w ? w - 1 : len;
    for (size_t i = shown + (len > w); i < w; i++)
        fputc(' ', f);
    put_text(f, s, shown, color);
    if (len > w)
        fputs(color ? "\xe2\x80\xa6" : "~", f);
}

/* Mean of the known values of layer l over steps [a, b); NAN when none. */
static double bin_mean(const pw_plot *p, size_t l, size_t a, size_t b)
{
    double sum = 0;
    size_t n = 0;
    for (size_t s = a; s < b; s++) {
        double v = p->values[l * p->nsteps + s];
        if (!isnan(v)) {
            sum += v;
            n++;
        }
    }
    return n ? sum / (double)n : NAN;
}

static char ramp_char(const pw_plot *p, double v)
{
    if (isnan(v))
        return '?';
    int k = (int)ceil(pw_plot_scale(p, v) * RAMP_LEVELS - 1e-12);
    k = k < 0 ? 0 : k > RAMP_LEVELS ? RAMP_LEVELS : k;
    return PW_TERMPLOT_RAMP[k];
}

/* viridis at t = 0, 0.1, ..., 1 in the 256-colour palette, picked by eye to keep
 * the lightness rising (the nearest cube colours turn its blue part grey). */
static const int viridis256[11] = {53, 54, 55, 25, 31, 30, 36, 71, 113, 148, 220};

/* The foreground escape for value v into buf; returns a number that differs
 * whenever the escape does, so runs of one colour are written once. */
static int cell_color(const pw_plot *p, double v, int mode, char *buf, size_t len)
{
    unsigned char rgb[3];
    if (isnan(v)) {
        snprintf(buf, len, "\x1b[38;5;%dm", NODATA_ANSI);
        return -1;
    }
    double t = pw_plot_scale(p, v);
    if (mode == PW_TERMPLOT_TRUECOLOR) {
        pw_plot_color(t, rgb);
        snprintf(buf, len, "\x1b[38;2;%d;%d;%dm", rgb[0], rgb[1], rgb[2]);
        return (rgb[0] << 16) | (rgb[1] << 8) | rgb[2];
    }
    int c = viridis256[(int)lround(t * 10)];
    snprintf(buf, len, "\x1b[38;5;%dm", c);
    return c;
}

static int num_width(int64_t v)
{
    char b[32];
    return snprintf(b, sizeof b, "%" PRId64, v);
}

int pw_termplot_heatmap(FILE *f, const pw_plot *p, int color, int width, pw_err *err)
{
    assert(p->nlayers > 0 && p->nsteps > 0);
    if (width < 40)
        width = 40;
    size_t name_w = 1;
    for (size_t l = 0; l < p->nlayers; l++) {
        size_t n = pw_plot_utf8_len(p->layers[l]);
        name_w = n > name_w ? n : name_w;
    }
    name_w = name_w > NAME_MAX_W ? NAME_MAX_W : name_w;
    int marks = p->mark_label && p->marks, mark_w = 0;
    for (size_t l = 0; marks && l < p->nlayers; l++)
        if (p->marks[l] != PW_PLOT_NO_MARK && num_width(p->marks[l]) > mark_w)
            mark_w = num_width(p->marks[l]);
    if (marks && mark_w < 1)
        mark_w = 1;
    int room = width - (int)name_w - 3 - (marks ? mark_w + 2 : 0);
    size_t grid_w = room < 10 ? 10 : (size_t)room;

    /* Columns: cell_w characters per checkpoint when they fit, else bins. */
    size_t cell_w = 1, ncols;
    if (p->nsteps <= grid_w) {
        cell_w = grid_w / p->nsteps > MAX_CELL_W ? MAX_CELL_W : grid_w / p->nsteps;
        ncols = p->nsteps * cell_w;
    } else {
        ncols = grid_w;
    }
    const char *bar = color ? "\xe2\x94\x82" : "|";

    if (p->title)
        put_line(f, p->title, color);
    if (p->subtitle)
        put_line(f, p->subtitle, color);
    fputc('\n', f);
    for (size_t k = 0; k < p->nlayers; k++) {
        size_t l = p->nlayers - 1 - k; /* top layer first */
        put_name(f, p->layers[l], name_w, color);
        fprintf(f, " %s", bar);
        int cur = 0;
        for (size_t c = 0; c < ncols; c++) {
            double v;
            if (cell_w > 0 && p->nsteps <= grid_w) {
                v = p->values[l * p->nsteps + c / cell_w];
            } else {
                size_t a = c * p->nsteps / ncols, b = (c + 1) * p->nsteps / ncols;
                v = bin_mean(p, l, a, b > a ? b : a + 1);
            }
            if (!color) {
                fputc(ramp_char(p, v), f);
                continue;
            }
            char esc[32];
            int col = cell_color(p, v, color, esc, sizeof esc);
            if (col != cur || c == 0)
                fputs(esc, f);
            cur = col;
            fputs(isnan(v) ? "\xe2\x96\x91" : "\xe2\x96\x88", f);
        }
        if (color)
            fputs("\x1b[0m", f);
        fputs(bar, f);
        if (marks) {
            if (p->marks[l] != PW_PLOT_NO_MARK)
                fprintf(f, "  %*" PRId64, mark_w, p->marks[l]);
            else
                fprintf(f, "  %*s", mark_w, "-");
        }
        fputc('\n', f);
    }

    /* Step labels at a few checkpoints, left-aligned on their tick, the last one
     * right-aligned on the last column; a label that would collide is dropped. */
    char *axis = malloc(ncols + 1), *line = malloc(ncols + 1);
    if (!axis || !line) {
        free(axis);
        free(line);
        return pw_err_set(err, "out of memory drawing a plot");
    }
    memset(axis, '-', ncols);
    memset(line, ' ', ncols);
    axis[ncols] = line[ncols] = '\0';
    size_t nlab = ncols / 12 < 1 ? 1 : ncols / 12, used = 0;
    if (nlab > p->nsteps - 1)
        nlab = p->nsteps - 1;
    for (size_t k = 0; k <= nlab; k++) {
        size_t s = nlab ? (k * (p->nsteps - 1) + nlab / 2) / nlab : 0;
        size_t c = p->nsteps <= grid_w ? s * cell_w : s * ncols / p->nsteps;
        if (k == nlab && p->nsteps <= grid_w)
            c += cell_w - 1; /* the last label ends under the last cell */
        char lab[32];
        size_t n = (size_t)snprintf(lab, sizeof lab, "%" PRId64, p->steps[s]);
        size_t at = k == nlab && c + 1 >= n ? c + 1 - n : c;
        if ((k > 0 && at < used + 2) || at + n > ncols)
            continue;
        memcpy(line + at, lab, n);
        if (c > 0 && c + 1 < ncols)
            axis[c] = '+'; /* a tick, except where the corners already are */
        used = at + n;
    }
    fprintf(f, "%*s %s", (int)name_w, "", color ? "\xe2\x94\x94" : "+");
    for (size_t c = 0; c < ncols; c++)
        fputs(!color ? (char[2]){axis[c], 0} : axis[c] == '+' ? "\xe2\x94\xac" : "\xe2\x94\x80", f);
    fprintf(f, "%s\n", color ? "\xe2\x94\x98" : "+");
    fprintf(f, "%*s  %s\n", (int)name_w, "", line);
    fprintf(f, "%*s  training step%s\n", (int)name_w, "",
            p->nsteps > grid_w ? " (several checkpoints per column, averaged)" : "");
    free(axis);
    free(line);

    /* Key, wrapped to the width. */
    fputs("\nkey:", f);
    int col = 4;
    for (int k = color ? 0 : -1; k <= (color ? 5 : RAMP_LEVELS + 1); k++) {
        char item[64], swatch[48];
        int vis; /* visible width of the item */
        if (color && k == 5) {
            snprintf(swatch, sizeof swatch, "\x1b[38;5;%dm\xe2\x96\x91\x1b[0m", NODATA_ANSI);
            vis = snprintf(item, sizeof item, "%s no value", swatch) - (int)strlen(swatch) + 1;
        } else if (color) {
            double v = pw_plot_unscale(p, k / 4.0);
            char esc[32];
            cell_color(p, v, color, esc, sizeof esc);
            snprintf(swatch, sizeof swatch, "%s\xe2\x96\x88\xe2\x96\x88\x1b[0m", esc);
            vis = snprintf(item, sizeof item, "%s %.3g", swatch, v) - (int)strlen(swatch) + 2;
        } else if (k < 0) {
            vis = snprintf(item, sizeof item, "' '=0");
        } else if (k > RAMP_LEVELS || k == 0) {
            if (k == 0)
                continue;
            vis = snprintf(item, sizeof item, "'?'=no value");
        } else {
            vis = snprintf(item, sizeof item, "'%c'<=%.2g", PW_TERMPLOT_RAMP[k],
                           pw_plot_unscale(p, (double)k / RAMP_LEVELS));
        }
        if (col + 1 + vis > width) {
            fputs("\n    ", f);
            col = 4;
        }
        fprintf(f, " %s", item);
        col += 1 + vis;
    }
    fputs("\n     ", f);
    put_text(f, p->value_label ? p->value_label : "value", SIZE_MAX, color);
    if (marks) {
        fputs("\n     right column: ", f);
        put_text(f, p->mark_label, SIZE_MAX, color);
    }
    fputc('\n', f);
    if (fflush(f) != 0 || ferror(f))
        return pw_err_set(err, "cannot write the plot");
    return 0;
}
