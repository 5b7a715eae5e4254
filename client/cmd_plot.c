/* cmd_plot.c -- `pwcca plot RUN`: the bottom-up convergence picture, as SVG
 * (heatmap or one line per layer) or as a heatmap in the terminal. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli.h"
#include "pw_convergence.h"
#include "pw_limits.h"
#include "pw_metric.h"
#include "pw_plot.h"
#include "pw_svg.h"
#include "pw_termplot.h"

static const char help[] =
    "Usage: pwcca plot RUN [-o FILE.svg] [--ref final|previous] [--kind heatmap|lines]\n"
    "                      [--tau T] [--theta T] [--z Z] [--ymax V]\n"
    "       pwcca plot RUN_A --vs RUN_B [-o FILE.svg] [--kind lines|heatmap] [--nhwc]\n"
    "Draw how RUN's layers settle: the distance of every layer (bottom layer at the\n"
    "bottom) at every checkpoint.  Against the final checkpoint, a diamond marks\n"
    "where each layer settled (its distance stays <= T from there on), so the\n"
    "layers that settled first stand out; against the previous checkpoint it marks\n"
    "the daemon's stabilization step.\n"
    "\n"
    "  -o FILE      write a self-contained SVG to FILE ('-': standard output);\n"
    "               without -o, draw a heatmap in the terminal (coloured blocks on\n"
    "               a terminal, an ASCII ramp otherwise; NO_COLOR disables colour)\n"
    "  --ref R      final or previous; default final when the run is final\n"
    "  --kind K     heatmap (default) or lines (SVG only)\n"
    "  --tau T      settle threshold for the marks (default 0.05)\n"
    "  --theta T    draw the run's stable_threshold T (implies --ref previous), to\n"
    "               read its layer_stable alerts against the bands\n"
    "  --z Z        standard errors each side of a value in the SE band (--kind\n"
    "               lines; default 1; the run's stable_z to read stable_rule = noise)\n"
    "  --ymax V     top of the value axis (default: the largest value), to zoom\n"
    "               in on small distances; larger values are cut off\n"
    "  --vs RUN_B   the PWCCA distance of RUN_A's layers to RUN_B's same-named\n"
    "               layers at every step both have a checkpoint file (as `pwcca\n"
    "               curve RUN_A --vs RUN_B` computes it); with -o, --kind defaults\n"
    "               to lines\n"
    "  --nhwc       with --vs: 4-D activations are [N, H, W, C]\n"
    "  -h, --help   show this help\n";

static int terminal_width(void)
{
    struct winsize ws;
    if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    const char *c = getenv("COLUMNS");
    long w = c ? strtol(c, NULL, 10) : 0;
    return w > 0 && w < 10000 ? (int)w : 100;
}

/* Colour only on a terminal that is not dumb and when NO_COLOR is unset;
 * 24-bit when the terminal says it can (COLORTERM), else 256 colours. */
static int colour_mode(void)
{
    const char *term = getenv("TERM"), *no = getenv("NO_COLOR"), *ct = getenv("COLORTERM");
    if (!isatty(STDOUT_FILENO) || (no && *no) || (term && strcmp(term, "dumb") == 0))
        return PW_TERMPLOT_PLAIN;
    if (ct && (strcmp(ct, "truecolor") == 0 || strcmp(ct, "24bit") == 0))
        return PW_TERMPLOT_TRUECOLOR;
    return PW_TERMPLOT_256;
}

static int draw(const pw_plot *p, const char *out, int lines)
{
    pw_err err = {""};
    if (!out)
        return pw_termplot_heatmap(stdout, p, colour_mode(), terminal_width(), &err) == 0
                   ? PWCCA_OK
                   : pwcca_fail("%s", err.msg);
    int to_stdout = strcmp(out, "-") == 0;
    FILE *f = to_stdout ? stdout : fopen(out, "w");
    if (!f)
        return pwcca_fail("cannot create %s: %s", out, strerror(errno));
    int rc = lines ? pw_svg_lines(f, p, &err) : pw_svg_heatmap(f, p, &err);
    if (!to_stdout && fclose(f) != 0 && rc == 0)
        rc = pw_err_set(&err, "cannot write %s: %s", out, strerror(errno));
    if (rc != 0) {
        if (!to_stdout)
            remove(out);
        return pwcca_fail("%s: %s", out, err.msg);
    }
    return PWCCA_OK;
}

/* `pwcca plot RUN_A --vs RUN_B`: the distances computed from the two runs' files. */
static int plot_vs(const pwcca_opts *o, const char *name_a, const char *name_b, int nhwc,
                   const char *out, int lines)
{
    pw_run_info a, b;
    pw_curve_row *rows;
    size_t n;
    if (pwcca_vs_rows(o, name_a, name_b, NULL, 0, PW_M_PWCCA, nhwc, &a, &b, &rows, &n) != PWCCA_OK)
        return PWCCA_ERROR;
    pw_err err = {""};
    int rc = n ? 0
               : pw_err_set(&err, "runs %s and %s share no layer at the steps they share", a.name,
                            b.name);
    pw_plot p;
    memset(&p, 0, sizeof p);
    if (rc == 0)
        rc = pw_plot_from_curve(rows, n, &p, &err);
    pw_query_curve_free(rows, n);
    if (rc == 0) {
        pw_plot_texts texts = {"", "", ""};
        pw_plot_vs_setup(&p, &texts, a.name, b.name);
        rc =
            pw_plot_label_reduced(&p, &err) == 0 ? draw(&p, out, lines) : pwcca_fail("%s", err.msg);
    } else
        rc = pwcca_fail("%s", err.msg);
    pw_plot_free(&p);
    pw_query_run_clear(&a);
    pw_query_run_clear(&b);
    return rc;
}

int pwcca_cmd_plot(const pwcca_opts *o, int argc, char **argv)
{
    static const char *const refs[] = {"previous", "final", NULL};
    static const char *const kinds[] = {"heatmap", "lines", NULL};
    const char *out = NULL;
    const char *vs = NULL;
    int ref = -1, kind = -1, nhwc = 0, pos;
    double tau = PW_CONV_DEFAULT_TAU, theta = -1, band_z = 1, ymax = 0;
    const pwcca_arg args[] = {
        {"output", 'o', PWCCA_ARG_TEXT, NULL, &out},    {"ref", 0, PWCCA_ARG_CHOICE, refs, &ref},
        {"kind", 0, PWCCA_ARG_CHOICE, kinds, &kind},    {"tau", 0, PWCCA_ARG_DISTANCE, NULL, &tau},
        {"theta", 0, PWCCA_ARG_DISTANCE, NULL, &theta}, {"z", 0, PWCCA_ARG_DISTANCE, NULL, &band_z},
        {"ymax", 0, PWCCA_ARG_DISTANCE, NULL, &ymax},   {"vs", 0, PWCCA_ARG_TEXT, NULL, &vs},
        {"nhwc", 0, PWCCA_ARG_FLAG, NULL, &nhwc},       {NULL, 0, 0, NULL, NULL}};
    int done = pwcca_parse_args(argc, argv, help, args, 1, 1, "RUN", &pos);
    if (done >= 0)
        return done;
    if (kind < 0)
        kind = vs && out ? 1 : 0;
    if (kind == 1 && !out)
        return pwcca_usage(argv[0], "--kind lines draws an SVG: add -o FILE.svg");

    if ((done = pwcca_vs_usage(argv[0], vs, ref)) >= 0)
        return done;
    if (!vs && nhwc)
        return pwcca_usage(argv[0], "--nhwc goes with --vs");
    if (vs && (theta >= 0 || ymax > 0))
        return pwcca_usage(argv[0], "--theta and --ymax go with a run's own plot, not --vs");
    if (vs)
        return plot_vs(o, argv[pos], vs, nhwc, out, kind == 1);
    if (theta >= 0 && ref == 1)
        return pwcca_usage(argv[0], "--theta is the threshold against the previous checkpoint: "
                                    "use it with --ref previous");
    if (theta >= 0)
        ref = 0;

    pw_query *q;
    pw_run_info run;
    pw_err err = {""};
    pw_curve_row *rows = NULL;
    pw_layer_info *ls = NULL;
    size_t n = 0, nls = 0;
    if (pwcca_open_run(o, argv[pos], &q, &run) != PWCCA_OK)
        return PWCCA_ERROR;
    if (ref < 0)
        ref = run.final_step == PW_QUERY_NO_STEP ? 0 : 1;
    int rc = pw_query_layers(q, &run, &ls, &nls, &err);
    if (rc == 0)
        rc = pw_query_curve(q, &run, refs[ref], NULL, 0, pwcca_progress, "scores", &rows, &n, &err);
    /* Each layer's chance level, drawn by the lines plot as a band. */
    if (rc == 0)
        rc = pw_query_curve_chance(q, &run, rows, n, &err);
    pwcca_progress_done();
    pw_query_close(q);
    if (rc == 0 && n == 0)
        rc = pw_err_set(&err, "run %s has no scores against the %s checkpoint yet%s", run.name,
                        refs[ref],
                        ref == 1 ? ": plot --ref previous, or finalize the run first" : "");

    pw_plot p;
    memset(&p, 0, sizeof p);
    if (rc == 0)
        rc = pw_plot_from_curve(rows, n, &p, &err);
    pw_query_curve_free(rows, n);
    if (rc != 0) {
        pw_query_layers_free(ls, nls);
        pw_query_run_clear(&run);
        return pwcca_fail("%s", err.msg);
    }

    pw_plot_texts texts;
    char note[96];
    snprintf(note, sizeof note, "%s", out && kind == 0 ? "; darker = closer" : "");
    if (ymax > 0)
        snprintf(note + strlen(note), sizeof note - strlen(note),
                 "; values above %g drawn at the top", ymax);
    pw_plot_distance_setup(&p, &texts, run.name, ref == 1, run.final_step, ls, nls, tau, note);
    p.band_z = band_z;
    if (ymax > 0)
        p.vmax = ymax;
    if (theta >= 0 && ref == 0) {
        p.threshold = theta;
        p.threshold_theta = 1;
    }

    rc =
        pw_plot_label_reduced(&p, &err) == 0 ? draw(&p, out, kind == 1) : pwcca_fail("%s", err.msg);
    pw_plot_free(&p);
    pw_query_layers_free(ls, nls);
    pw_query_run_clear(&run);
    return rc;
}
