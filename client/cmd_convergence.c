/* cmd_convergence.c -- `pwcca convergence RUN`: when each layer settled, and
 * whether the network settled from the bottom up (see lib/pw_convergence.h). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pw_convergence.h"
#include "pw_limits.h"

static const char help[] =
    "Usage: pwcca convergence RUN [--tau T] [--format table|json]\n"
    "For each layer of RUN, the step from which its distance to the final\n"
    "checkpoint stays <= T at every later checkpoint (settled_step), beside the\n"
    "daemon's stabilization step (stable_since, from its alerts).  Then whether\n"
    "the layers settled bottom-up: Spearman's rank correlation rho between depth\n"
    "and settled step (ties share ranks; layers that have not settled rank last),\n"
    "called bottom-up for rho >= 0.5, top-down for rho <= -0.5, mixed between,\n"
    "and the order itself.  Needs scores against a final checkpoint: a run still\n"
    "running has none until it is finalized (pwcca finalize).\n"
    "\n"
    "  --tau T      distance threshold (default 0.05, i.e. PWCCA >= 0.95)\n"
    "  --format F   table (default) or json: an object with run, final_step, tau,\n"
    "               layers [{name, depth, settled_step, stable_since, points,\n"
    "               last_distance}], order [names], settled_layers,\n"
    "               ranked_layers, spearman_rho, verdict, monotone\n"
    "  -h, --help   show this help\n";

/* Everything the analysis and the output need, owned together. */
typedef struct analysis {
    pw_run_info run;       /* the run */
    pw_layer_info *layers; /* its layers, bottom first */
    size_t nlayers;        /* entries in layers */
    pw_curve_row *rows;    /* its scores against the final checkpoint */
    size_t nrows;          /* entries in rows */
    pw_conv_point *pts;    /* rows as points, grouped per layer */
    pw_conv_layer *in;     /* one per layer, pointing into pts */
    pw_conv_summary sum;   /* the result */
} analysis;

static void analysis_free(analysis *a)
{
    pw_conv_summary_free(&a->sum);
    free(a->in);
    free(a->pts);
    pw_query_curve_free(a->rows, a->nrows);
    pw_query_layers_free(a->layers, a->nlayers);
    pw_query_run_clear(&a->run);
}

/* One series per layer: rows come grouped by layer in depth order, steps
 * ascending; in[i] points into pts.  The final checkpoint scored against
 * itself (distance 0 by definition) says nothing about settling: left out. */
static void group(const pw_curve_row *rows, size_t nrows, const pw_layer_info *layers,
                  size_t nlayers, pw_conv_point *pts, pw_conv_layer *in)
{
    size_t r = 0, w = 0;
    for (size_t i = 0; i < nlayers; i++) {
        in[i].name = layers[i].name;
        in[i].depth = layers[i].depth;
        in[i].npts = 0;
        while (r < nrows && rows[r].depth >= 0 && rows[r].depth < in[i].depth)
            r++;
        in[i].pts = pts + w;
        for (; r < nrows && strcmp(rows[r].layer, in[i].name) == 0; r++) {
            if (rows[r].step >= rows[r].ref_step)
                continue;
            pts[w].step = rows[r].step;
            pts[w++].distance = rows[r].distance;
            in[i].npts++;
        }
    }
}

static int analyse(const pwcca_opts *o, const char *name, double tau, analysis *a)
{
    pw_query *q;
    pw_err err = {""};
    memset(a, 0, sizeof *a);
    if (pwcca_open_run(o, name, &q, &a->run) != PWCCA_OK)
        return PWCCA_ERROR;
    int rc = pw_query_layers(q, &a->run, &a->layers, &a->nlayers, &err);
    if (rc == 0)
        rc = pw_query_curve(q, &a->run, "final", NULL, 0, pwcca_progress, "scores", &a->rows,
                            &a->nrows, &err);
    pwcca_progress_done();
    pw_query_close(q);
    if (rc != 0)
        return pwcca_fail("%s", err.msg);
    if (a->nrows == 0)
        return pwcca_fail("run %s has no distances to a final checkpoint yet (%s): convergence "
                          "is measured against the final checkpoint; 'pwcca finalize %s' "
                          "declares it",
                          a->run.name,
                          a->run.final_step == PW_QUERY_NO_STEP ? "it is still running"
                                                                : "the backfill has not run",
                          a->run.name);

    a->pts = malloc(a->nrows * sizeof *a->pts);
    a->in = calloc(a->nlayers ? a->nlayers : 1, sizeof *a->in);
    if (!a->pts || !a->in)
        return pwcca_fail("out of memory");
    group(a->rows, a->nrows, a->layers, a->nlayers, a->pts, a->in);
    pw_conv_summary sum;
    if (pw_conv_analyze(a->in, a->nlayers, tau, &sum, &err) != 0)
        return pwcca_fail("%s", err.msg);
    a->sum = sum;
    return PWCCA_OK;
}

static int print_json(const analysis *a)
{
    const pw_conv_summary *s = &a->sum;
    json_t *o = json_object(), *ls = json_array(), *order = json_array();
    json_object_set_new(o, "run", pwcca_json_str(a->run.name));
    json_object_set_new(o, "path", pwcca_json_str(a->run.path));
    json_object_set_new(o, "final_step", pwcca_json_step(a->run.final_step));
    json_object_set_new(o, "tau", json_real(s->tau));
    for (size_t i = 0; i < a->nlayers; i++) {
        const pw_conv_layer_result *r = &s->layers[i];
        json_t *l = json_object();
        json_object_set_new(l, "name", pwcca_json_str(a->layers[i].name));
        json_object_set_new(l, "depth", json_integer(a->layers[i].depth));
        json_object_set_new(l, "settled_step",
                            r->settled ? json_integer(r->settle_step) : json_null());
        json_object_set_new(l, "stable_since", pwcca_json_step(a->layers[i].stable_step));
        json_object_set_new(l, "points", json_integer((json_int_t)a->in[i].npts));
        json_object_set_new(l, "last_distance", pwcca_json_real(r->last_distance));
        json_array_append_new(ls, l);
    }
    for (size_t k = 0; k < s->norder; k++)
        json_array_append_new(order, pwcca_json_str(a->layers[s->order[k]].name));
    json_object_set_new(o, "layers", ls);
    json_object_set_new(o, "order", order);
    json_object_set_new(o, "settled_layers", json_integer((json_int_t)s->nsettled));
    json_object_set_new(o, "ranked_layers", json_integer((json_int_t)s->norder));
    json_object_set_new(o, "spearman_rho", pwcca_json_real(s->rho));
    json_object_set_new(o, "verdict", json_string(pw_conv_verdict_name(s->verdict)));
    json_object_set_new(o, "monotone", json_boolean(s->monotone));
    return pwcca_print_json(o);
}

static int print_table(const analysis *a)
{
    const pw_conv_summary *s = &a->sum;
    char fs[24];
    printf("run %s, final checkpoint at step %s; tau = %g\n", a->run.name,
           pwcca_fmt_step(fs, sizeof fs, a->run.final_step), s->tau);
    printf("settled_at: first step from which the distance to the final checkpoint stays <= "
           "tau\n\n");
    static const char *const head[] = {"DEPTH", "LAYER", "SETTLED_AT", "STABLE_SINCE", "POINTS"};
    pwcca_table t;
    if (pwcca_table_init(&t, 5, head, 0x1Du) != 0)
        return pwcca_fail("out of memory");
    for (size_t i = a->nlayers; i-- > 0;) { /* top layer first, as drawn */
        const pw_conv_layer_result *r = &s->layers[i];
        char d[16], st[24], ss[24], np[24];
        snprintf(d, sizeof d, "%d", a->layers[i].depth);
        snprintf(np, sizeof np, "%zu", a->in[i].npts);
        if (r->settled)
            snprintf(st, sizeof st, "%" PRId64, r->settle_step);
        else
            snprintf(st, sizeof st, "%s", r->has_data ? "not yet" : "no distance");
        const char *row[] = {d, a->layers[i].name, st,
                             pwcca_fmt_step(ss, sizeof ss, a->layers[i].stable_step), np};
        if (pwcca_table_row(&t, row) != 0) {
            pwcca_table_free(&t);
            return pwcca_fail("out of memory");
        }
    }
    pwcca_table_print(&t, stdout);

    printf("\norder settled:");
    for (size_t k = 0; k < s->norder; k++) {
        const pw_conv_layer_result *r = &s->layers[s->order[k]];
        printf("%s %s", k ? " <" : "", a->layers[s->order[k]].name);
        if (r->settled)
            printf(" (%" PRId64 ")", r->settle_step);
        else
            printf(" (not yet)");
    }
    if (s->norder == 0)
        printf(" no layer has a distance");
    printf("\n");
    if (isnan(s->rho))
        printf("bottom-up: undetermined (%zu ranked layer%s, %s)\n", s->norder,
               s->norder == 1 ? "" : "s",
               s->norder < 2 ? "at least two are needed" : "all settled at the same step");
    else
        printf("bottom-up: %s (Spearman rho(depth, settled step) = %.3f over %zu layers; %s)\n",
               pw_conv_verdict_name(s->verdict), s->rho, s->norder,
               s->monotone ? "no layer settled before a layer below it"
                           : "some layer settled before a layer below it");
    return PWCCA_OK;
}

int pwcca_cmd_convergence(const pwcca_opts *o, int argc, char **argv)
{
    static const char *const formats[] = {"table", "json", NULL};
    double tau = PW_CONV_DEFAULT_TAU;
    int format = 0, pos;
    const pwcca_arg args[] = {{"tau", 0, PWCCA_ARG_DISTANCE, NULL, &tau},
                              {"format", 0, PWCCA_ARG_CHOICE, formats, &format},
                              {NULL, 0, 0, NULL, NULL}};
    int done = pwcca_parse_args(argc, argv, help, args, 1, 1, "RUN", &pos);
    if (done >= 0)
        return done;

    analysis a;
    int rc = analyse(o, argv[pos], tau, &a);
    if (rc == PWCCA_OK)
        rc = format == 1 ? print_json(&a) : print_table(&a);
    analysis_free(&a);
    return rc;
}
