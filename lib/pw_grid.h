/* pw_grid.h -- a labelled matrix of values drawn as an SVG heatmap.
 *
 * pw_svg.h draws layers against a step axis; this draws a matrix whose rows
 * and columns are both named things: layers of one network against layers
 * of another (pw_matrix.h), or runs against runs (pw_cluster.h, with its
 * dendrogram above the columns and beside the rows).  Colours are
 * pw_plot.h's viridis, linear from vmin (dark) to vmax (bright), explained
 * by a colour bar; a cell without a value is grey.  Each cell is a <rect
 * class="cell"> with a <title> naming its row, column and value; names are
 * escaped and cut as pw_svg.h does, so the output is always well-formed
 * XML. */
#ifndef PW_GRID_H
#define PW_GRID_H

#include <stddef.h>
#include <stdio.h>

#include "pw_error.h"

typedef struct pw_grid {
    const char *title;            /* first heading line (may be NULL) */
    const char *subtitle;         /* second heading line (may be NULL) */
    const char *value_label;      /* what the values are, under the colour bar */
    const char *row_title;        /* the rows' axis title (may be NULL) */
    const char *col_title;        /* the columns' axis title (may be NULL) */
    size_t nrows, ncols;          /* >= 1 each */
    const char *const *row_names; /* nrows labels */
    const char *const *col_names; /* ncols labels */
    const double *values;         /* nrows x ncols row-major, NAN where none */
    double vmin, vmax;            /* colour scale ends, vmin < vmax */
    int rows_up;                  /* 1: row 0 at the bottom (layers), 0: at the top */
    const double (*tree)[4];      /* optional dendrogram: nrows - 1 merges (a, b, height, size) as
                                     scipy's linkage gives them (pw_cluster.h); rows and columns
                                     are then the same things, in the tree's leaf order, and
                                     rows_up is 0 */
    const size_t *leaf_order;     /* with tree: display position -> leaf index */
} pw_grid;

/* Write g to f.  Fails only when writing fails. */
int pw_grid_svg(FILE *f, const pw_grid *g, pw_err *err);

#endif
