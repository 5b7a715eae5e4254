/* cmd_curve.c -- `pwcca curve RUN`: the distance time series of a run's layers.
 *
 * CSV and JSON carry exactly the columns of the scores table plus run and
 * depth, in a fixed order; they are the stable format scripts read. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pw_chance.h"
#include "pw_limits.h"
#include "pw_metric.h"
#include "pw_noise.h"

static const char help[] =
    "Usage: pwcca curve RUN [--layer L]... [--ref previous|final] [--format table|csv|json]\n"
    "       pwcca curve RUN_A --vs RUN_B [--layer L]... [--metrics LIST] [--nhwc]\n"
    "                   [--format table|csv|json]\n"
    "The score of every layer of RUN at every checkpoint, bottom layer first, then\n"
    "by step.  distance = 1 - pwcca; a metric that does not apply is empty in CSV,\n"
    "null in JSON and '-' in the table (see the status and message).\n"
    "\n"
    "  --layer L    only layer L (repeatable); an unknown name lists the known ones\n"
    "  --ref R      previous: each checkpoint against the one before it;\n"
    "               final: against the final checkpoint.  Default: final when the\n"
    "               run is final, previous while it runs\n"
    "  --format F   table (default), csv or json.  Both csv (with a header line)\n"
    "               and json (an array of objects) have the columns\n"
    "               run,layer,depth,step,ref,ref_step,n,p_kept,q_kept,pwcca,\n"
    "               distance,mean_cca,svcca,cka,cka_debiased,procrustes,status,\n"
    "               message,reduce,k_x,k_y\n"
    "               with reals at 17 significant digits; reduce is the reduction\n"
    "               applied (none, dims:K, var:F), k_x and k_y the directions each\n"
    "               side kept (empty / null when exact); then\n"
    "               pwcca_se,distance_se,mean_cca_se,svcca_se,cka_se,\n"
    "               procrustes_se,noise_blocks: standard errors (run setting\n"
    "               noise; empty / null where none was computed; cka_debiased\n"
    "               has none) and the jackknife blocks they came from.  The\n"
    "               table shows a metric with an SE as value±SE; last\n"
    "               chance_distance: the layer's chance level (run setting\n"
    "               chance: a pair's distance with the reference's probe inputs\n"
    "               shuffled; empty / null before it is computed), which the\n"
    "               table gives on a line per layer under the rows\n"
    "  --vs RUN_B   instead of RUN's stored scores, RUN_A against RUN_B: at every\n"
    "               step both have a checkpoint file, each layer of A (X) against\n"
    "               B's layer of the same name (Y), computed now from the files the\n"
    "               daemon recorded, as `pwcca compare A_file B_file` would.  Rows\n"
    "               have a vs column (B) after run, ref is \"vs\" and ref_step B's\n"
    "               step; different probe_fingerprints at any step are refused\n"
    "               (probe_mismatch)\n"
    "  --metrics L  with --vs: the metrics computed (default: all, as the daemon)\n"
    "  --nhwc       with --vs: 4-D activations are [N, H, W, C]\n"
    "  -h, --help   show this help\n";

/* JSON streamed one row object per line, so memory stays flat on long runs.
 * vs: B's name in a --vs curve (a "vs" field and column), else NULL. */
static int print_json(const pw_curve_row *rows, size_t n, const char *vs)
{
    fputc('[', stdout);
    for (size_t i = 0; i < n; i++) {
        json_t *o = pw_json_curve_row(&rows[i]);
        if (o && vs)
            json_object_set_new(o, "vs", pw_json_str(vs));
        char *s = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
        json_decref(o);
        if (!s)
            return pwcca_fail("out of memory writing JSON");
        printf("%s\n%s", i ? "," : "", s);
        free(s);
    }
    fputs(n ? "\n]\n" : "]\n", stdout);
    return PWCCA_OK;
}

static void csv_real(double v)
{
    if (v == v)
        printf(",%.17g", v);
    else
        fputs(",", stdout);
}

static void csv_count(int64_t v)
{
    if (v >= 0)
        printf(",%" PRId64, v);
    else
        fputs(",", stdout);
}

static int print_csv(const pw_curve_row *rows, size_t n, const char *vs)
{
    if (vs)
        fputs("run,vs,", stdout);
    else
        fputs("run,", stdout);
#define PW_METRIC_CSV_HEAD(sym, id, bitno, sel, tpos, label, doc) #id ","
#define NOISE_CSV_HEAD(sym, id, since)                            "," #id "_se"
    const char *head = "layer,depth,step,ref,ref_step,n,p_kept,q_kept," PW_METRIC_LIST(
        PW_METRIC_CSV_HEAD) "status,message,reduce,k_x,k_y" PW_NOISE_SE_COLUMNS(NOISE_CSV_HEAD);
    printf("%s,noise_blocks,chance_distance\n", head);
#undef NOISE_CSV_HEAD
#undef PW_METRIC_CSV_HEAD
    for (size_t i = 0; i < n; i++) {
        const pw_curve_row *r = &rows[i];
        pwcca_csv_field(stdout, r->run);
        fputc(',', stdout);
        if (vs) {
            pwcca_csv_field(stdout, vs);
            fputc(',', stdout);
        }
        pwcca_csv_field(stdout, r->layer);
        csv_count(r->depth);
        printf(",%" PRId64 ",%s,%" PRId64, r->step, r->ref, r->ref_step);
        csv_count(r->n);
        csv_count(r->p_kept);
        csv_count(r->q_kept);
#define PW_METRIC_CSV(sym, id, bitno, sel, tpos, label, doc) csv_real(r->id);
        PW_METRIC_LIST(PW_METRIC_CSV)
#undef PW_METRIC_CSV
        fputc(',', stdout);
        pwcca_csv_field(stdout, r->status);
        fputc(',', stdout);
        pwcca_csv_field(stdout, r->message);
        fputc(',', stdout);
        pwcca_csv_field(stdout, r->reduce);
        csv_count(r->k_x);
        csv_count(r->k_y);
#define NOISE_CSV(sym, id, since) csv_real(r->se[PW_METRIC_##sym]);
        PW_NOISE_SE_COLUMNS(NOISE_CSV)
#undef NOISE_CSV
        csv_count(r->noise_blocks);
        if (r->has_chance)
            csv_real(r->chance_distance);
        else
            fputc(',', stdout);
        fputc('\n', stdout);
    }
    return PWCCA_OK;
}

/* LAYER DEPTH STEP REF_STEP, the metrics (their labels, in table order), N REDUCE STATUS. */
enum { LEAD = 4, NCOLS = LEAD + PW_METRIC_COUNT + 3 };

static int print_table(const pw_curve_row *rows, size_t n, const char *vs)
{
    const char *head[NCOLS] = {"LAYER", "DEPTH", "STEP", vs ? "B_STEP" : "REF_STEP"};
    for (unsigned m = 0; m < PW_METRIC_COUNT; m++)
        head[LEAD + pw_metric_table_pos(m)] = pw_metric_label(m);
    head[NCOLS - 3] = "N";
    head[NCOLS - 2] = "REDUCE";
    head[NCOLS - 1] = "STATUS";
    pwcca_table t;
    /* Every column but LAYER, REDUCE and STATUS right-aligned. */
    if (pwcca_table_init(&t, NCOLS, head, ((1u << (NCOLS - 2)) - 1) & ~1u) != 0)
        return pwcca_fail("out of memory");
    for (size_t i = 0; i < n; i++) {
        const pw_curve_row *r = &rows[i];
        char dp[16], st[24], rs[24], nn[24], mv[PW_METRIC_COUNT][32], rd[PW_REDUCE_TEXT_MAX + 48];
        const double v[PW_METRIC_COUNT] = {
#define PW_METRIC_VALUE(sym, id, bitno, sel, tpos, label, doc) r->id,
            PW_METRIC_LIST(PW_METRIC_VALUE)
#undef PW_METRIC_VALUE
        };
        snprintf(dp, sizeof dp, "%d", r->depth);
        snprintf(st, sizeof st, "%" PRId64, r->step);
        snprintf(rs, sizeof rs, "%" PRId64, r->ref_step);
        snprintf(nn, sizeof nn, "%" PRId64, r->n);
        const char *row[NCOLS] = {r->layer, r->depth < 0 ? "-" : dp, st, rs};
        for (unsigned m = 0; m < PW_METRIC_COUNT; m++) {
            row[LEAD + pw_metric_table_pos(m)] = pwcca_fmt_real(mv[m], sizeof mv[m], v[m]);
            if (!isnan(v[m]) && !isnan(r->se[m])) /* 0.0107±0.00057 */
                snprintf(mv[m], sizeof mv[m], "%.6g±%.2g", v[m], r->se[m]);
        }
        row[NCOLS - 3] = r->n < 0 ? "-" : nn;
        /* "dims:6 (6/5)": the directions X and Y kept. */
        if (r->k_x >= 0 || r->k_y >= 0)
            snprintf(rd, sizeof rd, "%s (%" PRId64 "/%" PRId64 ")", r->reduce, r->k_x, r->k_y);
        else
            snprintf(rd, sizeof rd, "%s", r->reduce);
        row[NCOLS - 2] = rd;
        row[NCOLS - 1] = r->status;
        if (pwcca_table_row(&t, row) != 0) {
            pwcca_table_free(&t);
            return pwcca_fail("out of memory");
        }
    }
    pwcca_table_print(&t, stdout);
    /* The chance levels, one line per layer that has one, under the table. */
    const char *last = NULL;
    for (size_t i = 0; i < n; i++) {
        const pw_curve_row *r = &rows[i];
        if (!r->has_chance || (last && strcmp(last, r->layer) == 0))
            continue;
        last = r->layer;
        char cv[32];
        printf("chance %s: distance %s (the reference's probe inputs shuffled, seed %u)\n",
               r->layer, pwcca_fmt_real(cv, sizeof cv, r->chance_distance),
               (unsigned)PW_CHANCE_SEED);
    }
    return PWCCA_OK;
}

/* Print rows in format (0 table, 1 csv, 2 json); vs as for print_json. */
static int print_rows(const pw_curve_row *rows, size_t n, int format, const char *vs)
{
    int rc = PWCCA_OK;
    if (format == 1)
        rc = print_csv(rows, n, vs);
    else if (format == 2)
        rc = print_json(rows, n, vs);
    else if (n)
        rc = print_table(rows, n, vs);
    if (rc == PWCCA_OK && (fflush(stdout) != 0 || ferror(stdout)))
        rc = pwcca_fail("cannot write to standard output");
    return rc;
}

/* `pwcca curve RUN_A --vs RUN_B`: computed from the two runs' files. */
static int curve_vs(const pwcca_opts *o, const char *name_a, const char *name_b,
                    const char **layers, size_t nlayers, unsigned metrics, int nhwc, int format)
{
    pw_run_info a, b;
    pw_curve_row *rows;
    size_t n;
    if (pwcca_vs_rows(o, name_a, name_b, layers, nlayers, metrics, nhwc, &a, &b, &rows, &n) !=
        PWCCA_OK)
        return PWCCA_ERROR;
    if (n == 0 && format == 0)
        fprintf(stderr, "pwcca: runs %s and %s share no layer at the steps they share\n", a.name,
                b.name);
    int rc = print_rows(rows, n, format, b.name);
    pw_query_curve_free(rows, n);
    pw_query_run_clear(&a);
    pw_query_run_clear(&b);
    return rc;
}

int pwcca_cmd_curve(const pwcca_opts *o, int argc, char **argv)
{
    static const char *const formats[] = {"table", "csv", "json", NULL};
    static const char *const refs[] = {"previous", "final", NULL};
    pwcca_texts layer_args = {NULL, 0};
    int format = 0, ref = -1, nhwc = 0, pos;
    const char *vs = NULL;
    unsigned metrics = 0;
    const pwcca_arg args[] = {{"layer", 0, PWCCA_ARG_TEXTS, NULL, &layer_args},
                              {"ref", 0, PWCCA_ARG_CHOICE, refs, &ref},
                              {"format", 0, PWCCA_ARG_CHOICE, formats, &format},
                              {"vs", 0, PWCCA_ARG_TEXT, NULL, &vs},
                              {"metrics", 0, PWCCA_ARG_METRICS, NULL, &metrics},
                              {"nhwc", 0, PWCCA_ARG_FLAG, NULL, &nhwc},
                              {NULL, 0, 0, NULL, NULL}};
    int done = pwcca_parse_args(argc, argv, help, args, 1, 1, "RUN", &pos);
    if (done >= 0)
        return done;
    const char **layers = layer_args.v;
    size_t nlayers = layer_args.n;
    if ((done = pwcca_vs_usage(argv[0], vs, ref)) >= 0) {
        free(layers);
        return done;
    }
    if (!vs && (metrics || nhwc)) {
        free(layers);
        return pwcca_usage(argv[0], "--metrics and --nhwc go with --vs (stored scores are as "
                                    "the daemon computed them)");
    }
    if (vs) {
        int rc = curve_vs(o, argv[pos], vs, layers, nlayers, metrics, nhwc, format);
        free(layers);
        return rc;
    }

    pw_query *q;
    pw_run_info run;
    pw_err err = {""};
    pw_curve_row *rows = NULL;
    size_t n = 0;
    if (pwcca_open_run(o, argv[pos], &q, &run) != PWCCA_OK) {
        free(layers);
        return PWCCA_ERROR;
    }
    if (ref < 0)
        ref = run.final_step == PW_QUERY_NO_STEP ? 0 : 1;
    int rc = pw_query_curve(q, &run, refs[ref], layers, nlayers, pwcca_progress, "scores", &rows,
                            &n, &err);
    if (rc == 0 && pw_query_curve_chance(q, &run, rows, n, &err) != 0) {
        pw_query_curve_free(rows, n);
        rows = NULL;
        n = 0;
        rc = -1;
    }
    pwcca_progress_done();
    pw_query_close(q);
    free(layers);
    if (rc != 0) {
        pw_query_run_clear(&run);
        return pwcca_fail("%s", err.msg);
    }
    if (n == 0 && format == 0)
        fprintf(stderr, "pwcca: run %s has no scores against the %s checkpoint yet\n", run.name,
                refs[ref]);
    rc = print_rows(rows, n, format, NULL);
    pw_query_curve_free(rows, n);
    pw_query_run_clear(&run);
    return rc;
}
