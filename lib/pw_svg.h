/* pw_svg.h -- self-contained SVG pictures of a pw_plot.
 *
 * Two pictures of how layers settle during training:
 *
 *   heatmap  rows are layers, the bottom layer at the bottom; columns are
 *            checkpoints placed on a linear step axis; colour is the value
 *            (pw_plot's colour scale, explained by a colour bar).  A layer's
 *            marked step (e.g. where it settled) is a diamond on its row, and
 *            the diamonds are joined bottom to top, so the settling front reads
 *            at a glance.
 *   lines    one curve per layer against step, coloured dark (bottom) to
 *            light (top), with a legend and the threshold as a dashed line.
 *
 * The output needs no external file, font or script.  Every string from the
 * database is XML-escaped and invalid UTF-8 or control characters are
 * replaced, so the result is always well-formed XML.  Elements carry classes
 * tests and style sheets can count on: each heatmap cell is a <rect
 * class="cell ...">, each lines-plot layer a <g class="series">, each marker
 * class "mark". */
#ifndef PW_SVG_H
#define PW_SVG_H

#include <stddef.h>
#include <stdio.h>

#include "pw_error.h"
#include "pw_plot.h"

/* Write the heatmap of p to f.  Fails only when writing fails. */
int pw_svg_heatmap(FILE *f, const pw_plot *p, pw_err *err);
/* Write the line plot of p to f. */
int pw_svg_lines(FILE *f, const pw_plot *p, pw_err *err);
/* Write s as XML character data, at most max_chars code points (0: all),
 * ending in an ellipsis when cut. */
void pw_svg_escape(FILE *f, const char *s, size_t max_chars);
/* The opening every pwcca picture shares: the XML declaration, the <svg>
 * element of w x h pixels with the common font and ink, a <title> (title,
 * or untitled when NULL), the white background, and the title and subtitle
 * texts when given.  The caller closes the </svg>. */
void pw_svg_begin(FILE *f, double w, double h, const char *title, const char *subtitle,
                  const char *untitled);

#endif
