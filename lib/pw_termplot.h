/* pw_termplot.h -- a pw_plot as a heatmap of characters, for a terminal or a pipe.
 *
 * One line per layer, the top layer first so the bottom layer is printed at
 * the bottom; the layer name on the left, one character per checkpoint (or
 * per group of checkpoints, averaged, when there are more than fit), the
 * marked step on the right, step labels along the bottom and a key.
 *
 *   colour  full blocks coloured with pw_plot's scale, in 24-bit colour or
 *           the 256-colour palette (for terminals); missing values as grey
 *           shade.
 *   plain   an ASCII ramp " .:-=+*#%@" from 0 to vmax (space only for 0),
 *           '?' where there is no value; pure ASCII, for pipes and files.
 *
 * Names are printed through pw_plot_utf8_next with control characters
 * replaced, so a layer name can never send escape sequences; in plain mode
 * every non-ASCII character of a name becomes '?'. */
#ifndef PW_TERMPLOT_H
#define PW_TERMPLOT_H

#include <stdio.h>

#include "pw_error.h"
#include "pw_plot.h"

#define PW_TERMPLOT_RAMP " .:-=+*#%@" /* plain mode, low to high */

/* Output modes. */
#define PW_TERMPLOT_PLAIN     0 /* ASCII ramp, no escape sequences */
#define PW_TERMPLOT_256       1 /* ANSI 256-colour palette */
#define PW_TERMPLOT_TRUECOLOR 2 /* ANSI 24-bit colour */

/* Draw p to f in mode (PW_TERMPLOT_*) in at most width columns (at least 40 are used). */
int pw_termplot_heatmap(FILE *f, const pw_plot *p, int mode, int width, pw_err *err);
/* The 256-colour palette index nearest to rgb (6x6x6 cube or grey ramp). */
int pw_termplot_ansi256(const unsigned char rgb[3]);

#endif
