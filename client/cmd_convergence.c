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
    "Usage: pwcca convergence RUN [--tau T] [--z Z] [--format table|json]\n"
    "For each layer of RUN, the step from which its distance to the final\n"
    "checkpoint stays <= T at every later checkpoint (settled_step), beside the\n"
    "daemon's stabilization step (stable_since, from its alerts).  Then whether\n"
    "the layers settled bottom-up: Spearman's rank correlation rho between depth\n"
    "and settled step (ties share ranks; layers that have not settled rank last),\n"
    "called bottom-up for rho >= 0.5, top-down for rho <= -0.5, mixed between,\n"
    "and the order itself.  Needs scores against a final checkpoint: a run still\n"
    "running has none until it is finalized (pwcca finalize).\n"
    "\n"
    "Only real distances count (status ok, distance not null): POINTS counts\n"
    "them.  A layer with none is unmeasured; a settle step right after a step\n"
    "without a distance is only a bound (<=S: settled there or earlier); a layer\n"
    "whose newest distance is missing is unknown.  These are left out of rho and\n"
    "named with their status; LAST_NOT_OK is each layer's newest score that is\n"
    "not ok.\n"
    "\n"
    "With standard errors (noise = jackknife:B), each settle step gets a range,\n"
    "SETTLE_RANGE E..L: E is the first step from which d - Z*SE <= T at every\n"
    "later checkpoint, L the same for d + Z*SE (a checkpoint without an SE uses\n"
    "the layer's last one before it, none before its first); 'E..not yet' when\n"
    "d + Z*SE is still above T at the newest checkpoint.  Two layers whose\n"
    "ranges overlap settled in an order within the noise and are listed; the\n"
    "verdict counts only the pairs the noise tells apart: kappa = (C - D) /\n"
    "(C + D) with C pairs where the lower layer settled first and D the\n"
    "others, bottom-up for kappa >= 0.5, top-down for <= -0.5, undetermined\n"
    "when no pair is told apart.  Without any SE (noise = off) the point settle\n"
    "steps decide through rho, and the output says so.\n"
    "\n"
    "  --tau T      distance threshold (default 0.05, i.e. PWCCA >= 0.95)\n"
    "  --z Z        standard errors each side of a distance (default 2)\n"
    "  --format F   table (default) or json: an object with run, final_step, tau,\n"
    "               layers [{name, depth, settled_step, stable_since,\n"
    "               settled_exact, points, last_distance, measured, ranked,\n"
    "               gap_step, gap_status, last_not_ok_step, last_not_ok_status}],\n"
    "               order [names], settled_layers, ranked_layers,\n"
    "               unmeasured_layers [names], left_out [names], spearman_rho,\n"
    "               verdict, monotone, and for the noise: layers'\n"
    "               settled_earliest, settled_latest, has_se; noise, z,\n"
    "               verdict_basis, pairs, distinguishable_pairs,\n"
    "               concordant_pairs, discordant_pairs, kappa, within_noise\n"
    "               [[lower, upper] names]\n"
    "  -h, --help   show this help\n";

/* Everything the analysis and the output need, owned together. */
typedef struct analysis {
    pw_run_info run;          /* the run */
    pw_layer_info *layers;    /* its layers, bottom first */
    size_t nlayers;           /* entries in layers */
    pw_curve_row *rows;       /* its scores against the final checkpoint */
    size_t nrows;             /* entries in rows */
    pw_conv_point *pts;       /* rows as points, grouped per layer */
    double *se;               /* the SE of each point's distance, NAN when none, parallel to pts */
    pw_conv_layer *in;        /* one per layer, pointing into pts */
    const pw_curve_row **src; /* the row of each point, parallel to pts */
    const pw_curve_row **bad; /* per layer: its newest row that is not ok, or NULL */
    pw_conv_summary sum;      /* the result */
} analysis;

static void analysis_free(analysis *a)
{
    pw_conv_summary_free(&a->sum);
    free(a->in);
    free(a->pts);
    free(a->se);
    free(a->src);
    free(a->bad);
    pw_query_curve_free(a->rows, a->nrows);
    pw_query_layers_free(a->layers, a->nlayers);
    pw_query_run_clear(&a->run);
}

/* A row that carries a real distance: status ok and a distance stored. */
static int is_real(const pw_curve_row *r)
{
    return strcmp(r->status, "ok") == 0 && !isnan(r->distance);
}

/* One series per layer: rows come grouped by layer in depth order, steps
 * ascending; in[i] points into pts, src[k] is the row of pts[k] and bad[i]
 * the layer's newest row that is not a real distance.  A row without a
 * real distance becomes NAN, whatever its status.  The final checkpoint
 * scored against itself (distance 0 by definition) says nothing about
 * settling: left out. */
static void group(const pw_curve_row *rows, size_t nrows, const pw_layer_info *layers,
                  size_t nlayers, pw_conv_point *pts, double *se, const pw_curve_row **src,
                  pw_conv_layer *in, const pw_curve_row **bad)
{
    size_t r = 0, w = 0;
    for (size_t i = 0; i < nlayers; i++) {
        in[i].name = layers[i].name;
        in[i].depth = layers[i].depth;
        in[i].npts = 0;
        bad[i] = NULL;
        while (r < nrows && rows[r].depth >= 0 && rows[r].depth < in[i].depth)
            r++;
        in[i].pts = pts + w;
        in[i].se = se + w;
        for (; r < nrows && strcmp(rows[r].layer, in[i].name) == 0; r++) {
            if (rows[r].step >= rows[r].ref_step)
                continue;
            pts[w].step = rows[r].step;
            pts[w].distance = is_real(&rows[r]) ? rows[r].distance : NAN;
            se[w] = is_real(&rows[r]) ? rows[r].se[PW_METRIC_DISTANCE] : NAN;
            if (!is_real(&rows[r]))
                bad[i] = &rows[r];
            src[w++] = &rows[r];
            in[i].npts++;
        }
    }
}

/* The status of layer i's point at step, for naming a gap ("-" if none). */
static const char *status_at(const analysis *a, size_t i, int64_t step)
{
    size_t base = (size_t)(a->in[i].pts - a->pts);
    for (size_t k = 0; k < a->in[i].npts; k++)
        if (a->pts[base + k].step == step)
            return strcmp(a->src[base + k]->status, "ok") == 0 ? "no distance stored"
                                                               : a->src[base + k]->status;
    return "-";
}

static int analyse(const pwcca_opts *o, const char *name, double tau, double z, analysis *a)
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
    a->se = malloc(a->nrows * sizeof *a->se);
    a->src = malloc(a->nrows * sizeof *a->src); // NOLINT(bugprone-sizeof-expression): pointers
    a->in = calloc(a->nlayers ? a->nlayers : 1, sizeof *a->in);
    a->bad =
        calloc(a->nlayers ? a->nlayers : 1, sizeof *a->bad); // NOLINT(bugprone-sizeof-expression)
    if (!a->pts || !a->se || !a->src || !a->in || !a->bad)
        return pwcca_fail("out of memory");
    group(a->rows, a->nrows, a->layers, a->nlayers, a->pts, a->se, a->src, a->in, a->bad);
    pw_conv_summary sum;
    if (pw_conv_analyze_noise(a->in, a->nlayers, tau, z, &sum, &err) != 0)
        return pwcca_fail("%s", err.msg);
    a->sum = sum;
    return PWCCA_OK;
}

static int print_json(const analysis *a)
{
    const pw_conv_summary *s = &a->sum;
    json_t *o = json_object(), *ls = json_array(), *order = json_array();
    json_t *unmeasured = json_array(), *left_out = json_array();
    json_object_set_new(o, "run", pw_json_str(a->run.name));
    json_object_set_new(o, "path", pw_json_str(a->run.path));
    json_object_set_new(o, "final_step", pw_json_step(a->run.final_step));
    json_object_set_new(o, "tau", json_real(s->tau));
    for (size_t i = 0; i < a->nlayers; i++) {
        const pw_conv_layer_result *r = &s->layers[i];
        json_t *l = json_object();
        json_object_set_new(l, "name", pw_json_str(a->layers[i].name));
        json_object_set_new(l, "depth", json_integer(a->layers[i].depth));
        json_object_set_new(l, "settled_step",
                            r->settled ? json_integer(r->settle_step) : json_null());
        json_object_set_new(l, "stable_since", pw_json_step(a->layers[i].stable_step));
        json_object_set_new(l, "settled_exact",
                            r->settled ? json_boolean(!r->bounded) : json_null());
        json_object_set_new(l, "points", json_integer((json_int_t)r->npoints));
        json_object_set_new(l, "last_distance", pw_json_real(r->last_distance));
        json_object_set_new(l, "measured", json_boolean(r->has_data));
        json_object_set_new(l, "ranked", json_boolean(r->ranked));
        int gap = r->bounded || r->unknown_now;
        json_object_set_new(l, "gap_step", gap ? json_integer(r->gap_step) : json_null());
        json_object_set_new(l, "gap_status",
                            gap ? pw_json_str(status_at(a, i, r->gap_step)) : json_null());
        json_object_set_new(l, "last_not_ok_step",
                            a->bad[i] ? json_integer(a->bad[i]->step) : json_null());
        json_object_set_new(l, "last_not_ok_status",
                            a->bad[i] ? pw_json_str(a->bad[i]->status) : json_null());
        json_object_set_new(l, "has_se", json_boolean(r->has_se));
        json_object_set_new(l, "settled_earliest",
                            s->noise && r->settled_lo ? json_integer(r->settle_lo) : json_null());
        json_object_set_new(l, "settled_latest",
                            s->noise && r->settled_hi ? json_integer(r->settle_hi) : json_null());
        json_array_append_new(ls, l);
        if (!r->has_data)
            json_array_append_new(unmeasured, pw_json_str(a->layers[i].name));
        else if (!r->ranked)
            json_array_append_new(left_out, pw_json_str(a->layers[i].name));
    }
    for (size_t k = 0; k < s->norder; k++)
        json_array_append_new(order, pw_json_str(a->layers[s->order[k]].name));
    json_object_set_new(o, "layers", ls);
    json_object_set_new(o, "order", order);
    json_object_set_new(o, "settled_layers", json_integer((json_int_t)s->nsettled));
    json_object_set_new(o, "ranked_layers", json_integer((json_int_t)s->norder));
    json_object_set_new(o, "unmeasured_layers", unmeasured);
    json_object_set_new(o, "left_out", left_out);
    json_object_set_new(o, "spearman_rho", pw_json_real(s->rho));
    json_object_set_new(o, "verdict", json_string(pw_conv_verdict_name(s->verdict)));
    json_object_set_new(o, "monotone", json_boolean(s->monotone));
    json_object_set_new(o, "noise", json_boolean(s->noise));
    json_object_set_new(o, "z", json_real(s->z));
    json_object_set_new(
        o, "verdict_basis",
        json_string(s->noise ? "distinguishable pairs" : "point settle steps (no SE)"));
    json_t *within = json_array();
    for (size_t k = 0; k < s->nwithin; k++)
        json_array_append_new(within,
                              json_pack("[o o]", pw_json_str(a->layers[s->within[k].a].name),
                                        pw_json_str(a->layers[s->within[k].b].name)));
    json_object_set_new(o, "pairs", s->noise ? json_integer((json_int_t)s->npairs) : json_null());
    json_object_set_new(o, "distinguishable_pairs",
                        s->noise ? json_integer((json_int_t)s->ndistinct) : json_null());
    json_object_set_new(o, "concordant_pairs",
                        s->noise ? json_integer((json_int_t)s->nconcordant) : json_null());
    json_object_set_new(o, "discordant_pairs",
                        s->noise ? json_integer((json_int_t)(s->ndistinct - s->nconcordant))
                                 : json_null());
    json_object_set_new(o, "kappa", pw_json_real(s->kappa));
    json_object_set_new(o, "within_noise", within);
    return pwcca_print_json(o);
}

/* "b (settled at 300 or earlier: no distance at 200, n_mismatch)" for a layer
 * left out of rho, into buf. */
static void left_out_text(const analysis *a, size_t i, char *buf, size_t len)
{
    const pw_conv_layer_result *r = &a->sum.layers[i];
    if (!r->has_data)
        snprintf(buf, len, "%s (never measured: %s)", a->layers[i].name,
                 a->bad[i] ? a->bad[i]->status : "no score");
    else if (r->bounded)
        snprintf(buf, len, "%s (settled at %" PRId64 " or earlier: no distance at %" PRId64 ", %s)",
                 a->layers[i].name, r->settle_step, r->gap_step, status_at(a, i, r->gap_step));
    else
        snprintf(buf, len, "%s (unknown: no distance at its newest step %" PRId64 ", %s)",
                 a->layers[i].name, r->gap_step, status_at(a, i, r->gap_step));
}

/* "E..L" (earliest..latest settle step), "E..not yet", "not yet" or "-" for layer r. */
static void range_text(const pw_conv_layer_result *r, char *buf, size_t len)
{
    if (!r->has_data)
        snprintf(buf, len, "-");
    else if (!r->settled_lo)
        snprintf(buf, len, "not yet");
    else if (!r->settled_hi)
        snprintf(buf, len, "%" PRId64 "..not yet", r->settle_lo);
    else
        snprintf(buf, len, "%" PRId64 "..%" PRId64, r->settle_lo, r->settle_hi);
}

/* The pairs whose order is within the noise, the first PW_CONV_WITHIN_SHOWN of them. */
static void print_within(const analysis *a)
{
    const pw_conv_summary *s = &a->sum;
    if (s->nwithin == 0) {
        printf("within the noise: no pair (every pair of ranked layers is told apart)\n");
        return;
    }
    printf("within the noise (%zu of %zu pairs, settle ranges overlap):", s->nwithin, s->npairs);
    for (size_t k = 0; k < s->nwithin && k < PW_CONV_WITHIN_SHOWN; k++)
        printf("%s %s ~ %s", k ? "," : "", a->layers[s->within[k].a].name,
               a->layers[s->within[k].b].name);
    if (s->nwithin > PW_CONV_WITHIN_SHOWN)
        printf(", and %zu more (--format json lists all)", s->nwithin - PW_CONV_WITHIN_SHOWN);
    printf("\n");
}

static int print_table(const analysis *a)
{
    const pw_conv_summary *s = &a->sum;
    char fs[24];
    printf("run %s, final checkpoint at step %s; tau = %g\n", a->run.name,
           pwcca_fmt_step(fs, sizeof fs, a->run.final_step), s->tau);
    printf("settled_at: first step from which the distance to the final checkpoint stays <= "
           "tau\n");
    printf("measured: %zu of %zu layers have a distance to the final checkpoint (status ok); "
           "points count those distances\n\n",
           a->nlayers - s->nunmeasured, a->nlayers);
    if (s->noise)
        printf("settle_range: earliest..latest step it could have settled at given +-%g "
               "standard errors of each distance (jackknife; a checkpoint without one uses the "
               "layer's last)\n",
               s->z);
    else
        printf("no standard errors (noise = off): settle steps are points, as without noise\n");
    printf("\n");
    static const char *const head[] = {"DEPTH",        "LAYER",  "SETTLED_AT", "SETTLE_RANGE",
                                       "STABLE_SINCE", "POINTS", "LAST_NOT_OK"};
    static const char *const head_point[] = {"DEPTH",        "LAYER",  "SETTLED_AT",
                                             "STABLE_SINCE", "POINTS", "LAST_NOT_OK"};
    pwcca_table t;
    if (s->noise ? pwcca_table_init(&t, 7, head, 0x3Du)
                 : pwcca_table_init(&t, 6, head_point, 0x1Du))
        return pwcca_fail("out of memory");
    for (size_t i = a->nlayers; i-- > 0;) { /* top layer first, as drawn */
        const pw_conv_layer_result *r = &s->layers[i];
        char d[16], st[32], ss[24], np[24], bad[64] = "-", rg[64] = "-";
        snprintf(d, sizeof d, "%d", a->layers[i].depth);
        snprintf(np, sizeof np, "%zu", r->npoints);
        if (!r->has_data)
            snprintf(st, sizeof st, "unmeasured");
        else if (r->settled)
            snprintf(st, sizeof st, "%s%" PRId64, r->bounded ? "<=" : "", r->settle_step);
        else
            snprintf(st, sizeof st, "%s", r->unknown_now ? "unknown" : "not yet");
        if (a->bad[i])
            snprintf(bad, sizeof bad, "%s at %" PRId64, a->bad[i]->status, a->bad[i]->step);
        range_text(r, rg, sizeof rg);
        const char *row[] = {d,  a->layers[i].name,
                             st, pwcca_fmt_step(ss, sizeof ss, a->layers[i].stable_step),
                             np, bad};
        const char *nrow[] = {d, a->layers[i].name, st, rg, row[3], np, bad};
        if (pwcca_table_row(&t, s->noise ? nrow : row) != 0) {
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
        printf(" no layer has a settle step that can be ranked");
    printf("\n");
    size_t nout = s->nunmeasured + s->nleft_out;
    if (nout) {
        printf("left out of rho (%zu):", nout);
        for (size_t i = 0, k = 0; i < a->nlayers; i++) {
            char text[512];
            if (s->layers[i].ranked)
                continue;
            left_out_text(a, i, text, sizeof text);
            printf("%s %s", k++ ? "," : "", text);
        }
        printf("\n");
    }
    char out[64] = "";
    if (nout)
        snprintf(out, sizeof out, "; %zu layer%s left out, above", nout, nout == 1 ? "" : "s");
    if (s->noise) {
        print_within(a);
        size_t disc = s->ndistinct - s->nconcordant;
        if (s->ndistinct == 0)
            printf("bottom-up: undetermined (%zu of %zu pairs of ranked layers told apart by the "
                   "noise: no order can be called%s)\n",
                   s->ndistinct, s->npairs, out);
        else
            printf("bottom-up: %s (%zu of %zu pairs of ranked layers told apart by the noise: %zu "
                   "in bottom-up order, %zu against, kappa = %.3f; %zu within the noise%s)\n",
                   pw_conv_verdict_name(s->verdict), s->ndistinct, s->npairs, s->nconcordant, disc,
                   s->kappa, s->nwithin, out);
        if (!isnan(s->rho))
            printf("point settle steps alone: Spearman rho(depth, settled step) = %.3f over %zu "
                   "layers\n",
                   s->rho, s->norder);
        return PWCCA_OK;
    }
    if (isnan(s->rho))
        printf("bottom-up: undetermined (%zu ranked layer%s, %s%s)\n", s->norder,
               s->norder == 1 ? "" : "s",
               s->norder < 2 ? "at least two are needed" : "all settled at the same step", out);
    else
        printf("bottom-up: %s (Spearman rho(depth, settled step) = %.3f over %zu layers; %s%s)\n",
               pw_conv_verdict_name(s->verdict), s->rho, s->norder,
               s->monotone ? "no layer settled before a layer below it"
                           : "some layer settled before a layer below it",
               out);
    return PWCCA_OK;
}

int pwcca_cmd_convergence(const pwcca_opts *o, int argc, char **argv)
{
    static const char *const formats[] = {"table", "json", NULL};
    double tau = PW_CONV_DEFAULT_TAU, z = PW_CONV_DEFAULT_Z;
    int format = 0, pos;
    const pwcca_arg args[] = {{"tau", 0, PWCCA_ARG_DISTANCE, NULL, &tau},
                              {"z", 0, PWCCA_ARG_DISTANCE, NULL, &z},
                              {"format", 0, PWCCA_ARG_CHOICE, formats, &format},
                              {NULL, 0, 0, NULL, NULL}};
    int done = pwcca_parse_args(argc, argv, help, args, 1, 1, "RUN", &pos);
    if (done >= 0)
        return done;

    analysis a;
    int rc = analyse(o, argv[pos], tau, z, &a);
    if (rc == PWCCA_OK)
        rc = format == 1 ? print_json(&a) : print_table(&a);
    analysis_free(&a);
    return rc;
}
