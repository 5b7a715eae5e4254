/* cmd_cluster.c -- `pwcca cluster RUN... [--layer L] [--step S | --final]`:
 * the PWCCA distance matrix between runs at one layer, and its
 * average-linkage clustering (lib/pw_cluster.h does the work).
 *
 * As layers-matrix, the database names each run's checkpoint file and the
 * client reads the files itself.  `pwcca cluster GROUP` (one name: a run
 * group of the daemon's config) reads nothing but the database: the matrix
 * comes from the cross-run scores the daemon stored (group_scores). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pw_checkpoint.h"
#include "pw_cluster.h"
#include "pw_probe.h"

static const char help[] =
    "Usage: pwcca cluster RUN RUN... [--layer L] [--step S | --final] [--json]\n"
    "                     [--distance pwcca|procrustes] [-o FILE.svg] [--nhwc]\n"
    "       pwcca cluster GROUP [--layer L] [--step S | --final] [--json]\n"
    "                     [--distance pwcca|procrustes] [-o FILE.svg]\n"
    "The PWCCA distance between every two runs at one layer (the mean of both\n"
    "directions, since PWCCA is not symmetric), and their average-linkage\n"
    "hierarchical clustering: which runs converged to similar representations.\n"
    "Each run's checkpoint is read from the file the database names.\n"
    "\n"
    "  --layer L        the layer (default: the top layer of the first run's\n"
    "                   checkpoint); every run must have it\n"
    "  --step S         each run's checkpoint at step S\n"
    "  --final          each run's final checkpoint (an error for a run still\n"
    "                   running); default: the final one, else the newest\n"
    "  --distance D     pwcca (default: 1 - PWCCA) or procrustes (the angular\n"
    "                   Procrustes distance: symmetric, a true metric, and\n"
    "                   defined for layers wider than the probe)\n"
    "  --json           matrix, scipy-style linkage, merges and leaf order\n"
    "  -o, --output F   the matrix in dendrogram order with the dendrogram, as SVG\n"
    "                   ('-': stdout, instead of the table)\n"
    "  --nhwc           4-D activations are [N, H, W, C] instead of PyTorch's NCHW\n"
    "\n"
    "With one name, a run group of the daemon's config ([group NAME]): the matrix\n"
    "is made of the cross-run scores the daemon stored for the group, no file is\n"
    "read.  A stored score has one direction (the run first seen as X), so the\n"
    "PWCCA distance is that direction's; default step: the finals, else the\n"
    "newest step every pair has.\n"
    "\n"
    "Runs on different probes (probe_fingerprint) are refused (probe_mismatch).\n"
    "Exit status: 0 ok, 1 when a run, step, layer or file is missing, the n\n"
    "differ, the probes differ or a pair has no such distance, 2 on usage errors.\n";

#define MAX_RUNS 256 /* runs one clustering takes: k^2 comparisons */

/* One run's side of the clustering. */
typedef struct member {
    pw_ckpt *ckpt;               /* its checkpoint, open */
    char label[PW_PATH_MAX];     /* "RUN:STEP" */
    char probe[PW_PROBE_FP_MAX]; /* its probe_fingerprint, "" for none */
    const pw_tensor *layer;      /* the layer clustered on */
} member;

static int fail(const char *msg)
{
    fprintf(stderr, "pwcca cluster: %s\n", msg);
    return PWCCA_ERROR;
}

/* Open run `name`'s checkpoint at step (PW_QUERY_NO_STEP: final, else newest;
 * final: the final one or an error). */
static int open_member(pw_query *q, const char *name, int64_t step, int final, int nhwc, member *m)
{
    pw_run_info run;
    pw_ckpt_info ck;
    pw_err err = {""};
    if (pw_query_find_run(q, name, &run, &err) != 0)
        return fail(err.msg);
    if (final && run.final_step == PW_QUERY_NO_STEP) {
        pw_err_set(&err, "run %s is not final: cluster at a --step, or finalize it", run.name);
        pw_query_run_clear(&run);
        return fail(err.msg);
    }
    if (pw_query_checkpoint(q, &run, step, &ck, &err) != 0) {
        pw_query_run_clear(&run);
        return fail(err.msg);
    }
    snprintf(m->label, sizeof m->label, "%s:%lld", run.name, (long long)ck.step);
    pw_ckpt_opts copts = {nhwc, 0};
    int rc = 0;
    if (!ck.present)
        rc = pw_err_set(&err, "checkpoint step %lld of run %s (%s) was deleted", (long long)ck.step,
                        run.name, ck.path);
    else
        rc = pw_ckpt_open(&m->ckpt, ck.path, &copts, &err);
    pw_query_checkpoint_clear(&ck);
    pw_query_run_clear(&run);
    if (rc != 0)
        return fail(err.msg);
    pw_probe_fingerprint(m->ckpt, m->probe, sizeof m->probe);
    return PWCCA_OK;
}

/* Refuse runs of two probes; warn about those without a fingerprint. */
static int check_probes(const member *ms, size_t k)
{
    const member *ref = NULL;
    char msg[PW_ERR_MAX + 2 * PW_PATH_MAX];
    for (size_t i = 0; i < k; i++)
        if (ms[i].probe[0] && !ref)
            ref = &ms[i];
    for (size_t i = 0; i < k; i++) {
        if (!ms[i].probe[0])
            fprintf(stderr,
                    "pwcca cluster: warning: %s has no probe_fingerprint: only its n says it "
                    "holds the same probe inputs as the others\n",
                    ms[i].label);
        else if (pw_probe_check(ref->probe, ref->label, ms[i].probe, ms[i].label, msg,
                                sizeof msg) == PW_PROBE_DIFFERENT)
            return fail(msg);
    }
    return PWCCA_OK;
}

static int stored_one_way; /* 1: the matrix is a group's stored scores (cluster_group) */

static void print_table(const char *layer, pw_cluster_measure measure, const char *const *labels,
                        size_t k, const double *d, const double (*z)[4])
{
    int w = 6;
    for (size_t i = 0; i < k; i++)
        w = (int)strlen(labels[i]) > w ? (int)strlen(labels[i]) : w;
    /* A group's stored PWCCA is one direction's (see the help). */
    const char *what = measure == PW_CLUSTER_PWCCA && stored_one_way
                           ? "PWCCA distance (as stored: the run first seen as X)"
                           : pw_cluster_measure_text(measure);
    printf("%s at layer %s\n%-*s", what, layer, w, "");
    for (size_t j = 0; j < k; j++)
        printf("  %*s", w, labels[j]);
    putchar('\n');
    for (size_t i = 0; i < k; i++) {
        printf("%-*s", w, labels[i]);
        for (size_t j = 0; j < k; j++)
            printf("  %*.6f", w, d[i * k + j]);
        putchar('\n');
    }
    printf("\nAverage-linkage merges (closest first; scipy's linkage order)\n");
    for (size_t m = 0; m + 1 < k; m++) {
        printf("%3zu  %.6f  ", m + 1, z[m][2]);
        for (int side = 0; side < 2; side++) {
            size_t c = (size_t)z[m][side];
            if (c < k)
                printf("%s%s", side ? " + " : "", labels[c]);
            else
                printf("%s(merge %zu)", side ? " + " : "", c - k + 1);
        }
        printf("  -> %zu runs\n", (size_t)z[m][3]);
    }
}

static int draw(const char *out, const char *title, pw_cluster_measure m, const char *const *labels,
                size_t k, const double *d, const double (*z)[4])
{
    pw_err err = {""};
    int to_stdout = strcmp(out, "-") == 0;
    FILE *f = to_stdout ? stdout : fopen(out, "w");
    if (!f)
        return pwcca_fail("cannot create %s: %s", out, strerror(errno));
    int rc = pw_cluster_svg(f, title, m, labels, k, d, z, &err);
    if (!to_stdout && fclose(f) != 0 && rc == 0)
        rc = pw_err_set(&err, "cannot write %s: %s", out, strerror(errno));
    if (rc != 0) {
        if (!to_stdout)
            remove(out);
        return pwcca_fail("%s: %s", out, err.msg);
    }
    return PWCCA_OK;
}

/* What both forms print: the table, the JSON or the SVG of matrix d over k runs. */
static int output(const char *layer, pw_cluster_measure measure, const char *const *labels,
                  size_t k, const double *d, const double (*z)[4], const char *svg, int json)
{
    int rc = PWCCA_OK;
    if (svg) {
        char title[PW_ERR_MAX];
        snprintf(title, sizeof title, "%zu runs clustered at layer %.900s", k, layer);
        rc = draw(svg, title, measure, labels, k, d, z);
    }
    if (rc == PWCCA_OK && json) {
        json_t *v = pw_cluster_json(layer, measure, labels, k, d, z);
        rc = v ? pwcca_print_json(v) : pwcca_fail("out of memory");
    } else if (rc == PWCCA_OK && (!svg || strcmp(svg, "-") != 0)) {
        print_table(layer, measure, labels, k, d, z);
    }
    return rc;
}

/* The group's runs, by runs.id, from its rows; -1 when out of memory. */
static int group_runs(const pw_cross_row *rows, size_t n, int64_t **ids, size_t *k)
{
    *k = 0;
    *ids = malloc(2 * n * sizeof **ids);
    if (!*ids)
        return -1;
    for (size_t i = 0; i < n; i++)
        for (int side = 0; side < 2; side++) {
            int64_t id = side ? rows[i].id_b : rows[i].id_a;
            size_t at = 0;
            while (at < *k && (*ids)[at] < id)
                at++;
            if (at < *k && (*ids)[at] == id)
                continue;
            memmove(*ids + at + 1, *ids + at, (*k - at) * sizeof **ids);
            (*ids)[at] = id;
            (*k)++;
        }
    return 0;
}

static size_t index_of(const int64_t *ids, size_t k, int64_t id)
{
    for (size_t i = 0; i < k; i++)
        if (ids[i] == id)
            return i;
    return k;
}

/* 1 when row r is at the chosen layer and step (final, or step_a = step_b = step). */
static int row_at(const pw_cross_row *r, const char *layer, int final, int64_t step)
{
    return strcmp(r->layer_a, layer) == 0 &&
           (final ? r->final : r->step_a == step && r->step_b == step);
}

/* How many run pairs have a row at (layer, final or step). */
static size_t pairs_at(const pw_cross_row *rows, size_t n, const char *layer, int final,
                       int64_t step)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += row_at(&rows[i], layer, final, step);
    return c;
}

/* `pwcca cluster GROUP`: the matrix from the stored cross-run scores. */
static int cluster_group(const pwcca_opts *o, const char *group, const char *layer, int64_t step,
                         int final, pw_cluster_measure measure, const char *svg, int json)
{
    pw_query *q = NULL;
    pw_cross_row *rows = NULL;
    size_t n = 0, k = 0;
    int64_t *ids = NULL;
    char **labels = NULL;
    double *d = NULL;
    double(*z)[4] = NULL;
    pw_err err = {""};
    int rc = PWCCA_ERROR;
    char msg[PW_ERR_MAX];
    if (pwcca_open(o, &q) != PWCCA_OK)
        return PWCCA_ERROR;
    if (pw_query_cross(q, group, &rows, &n, &err) != 0) {
        rc = fail(err.msg);
        goto out;
    }
    if (n == 0) {
        snprintf(msg, sizeof msg,
                 "'%.200s' is not a run group with stored cross-run scores (a [group NAME] of "
                 "the daemon's config; or name two runs or more to cluster them from their "
                 "files)",
                 group);
        rc = fail(msg);
        goto out;
    }
    if (group_runs(rows, n, &ids, &k) != 0) {
        rc = pwcca_fail("out of memory");
        goto out;
    }
    size_t npairs = k * (k - 1) / 2;
    /* Default layer: the top one of the first run (the highest depth stored). */
    if (!layer) {
        int best = -2;
        for (size_t i = 0; i < n; i++)
            if (rows[i].id_a == ids[0] && rows[i].depth > best) {
                best = rows[i].depth;
                layer = rows[i].layer_a;
            }
    }
    if (!layer) {
        rc = fail("the group's rows name no layer");
        goto out;
    }
    /* Default step: the finals when every pair has them, else the newest step
     * every pair has. */
    if (!final && step == PW_QUERY_NO_STEP) {
        if (pairs_at(rows, n, layer, 1, 0) == npairs) {
            final = 1;
        } else {
            for (size_t i = 0; i < n; i++)
                if (rows[i].step_a == rows[i].step_b && rows[i].step_a > step &&
                    pairs_at(rows, n, layer, 0, rows[i].step_a) == npairs)
                    step = rows[i].step_a;
            if (step == PW_QUERY_NO_STEP) {
                snprintf(msg, sizeof msg,
                         "group %.200s: no step at which every pair of its %zu runs has a stored "
                         "score of layer %.200s yet (pwcca group %.200s lists what is stored)",
                         group, k, layer, group);
                rc = fail(msg);
                goto out;
            }
        }
    }
    labels = calloc(k, sizeof *labels);
    d = calloc(k * k, sizeof *d);
    z = calloc(k, sizeof *z);
    if (!labels || !d || !z) {
        rc = pwcca_fail("out of memory");
        goto out;
    }
    /* Off the diagonal, NAN until its pair's row is found. */
    for (size_t i = 0; i < k * k; i++)
        d[i] = i % (k + 1) == 0 ? 0 : NAN;
    for (size_t i = 0; i < n; i++) {
        const pw_cross_row *r = &rows[i];
        if (!row_at(r, layer, final, step))
            continue;
        size_t a = index_of(ids, k, r->id_a), b = index_of(ids, k, r->id_b);
        for (int side = 0; side < 2; side++) {
            size_t at = side ? b : a;
            if (!labels[at] && asprintf(&labels[at], "%s:%lld", side ? r->run_b : r->run_a,
                                        (long long)(side ? r->step_b : r->step_a)) < 0) {
                labels[at] = NULL;
                rc = pwcca_fail("out of memory");
                goto out;
            }
        }
        double v = measure == PW_CLUSTER_PROCRUSTES ? r->procrustes : r->distance;
        if (strcmp(r->status, "ok") != 0 || isnan(v)) {
            snprintf(msg, sizeof msg,
                     "%.200s against %.200s at layer %.200s: %s: %.400s (no %s to cluster on)",
                     r->run_a, r->run_b, layer, r->status, r->message ? r->message : "",
                     measure == PW_CLUSTER_PROCRUSTES ? "Procrustes distance" : "PWCCA distance");
            rc = fail(msg);
            goto out;
        }
        d[a * k + b] = d[b * k + a] = v;
    }
    for (size_t i = 0; i < k; i++)
        for (size_t j = 0; j < k; j++)
            if (!labels[i] || (j != i && isnan(d[i * k + j]))) {
                char at[64] = "the finals";
                if (!final)
                    snprintf(at, sizeof at, "step %lld", (long long)step);
                snprintf(msg, sizeof msg,
                         "group %.200s: no stored score of layer %.200s between two of its runs "
                         "at %s (the daemon may not have scored it yet)",
                         group, layer, at);
                rc = fail(msg);
                goto out;
            }
    if (pw_cluster_average(d, k, z, &err) != 0) {
        rc = fail(err.msg);
        goto out;
    }
    stored_one_way = 1;
    rc =
        output(layer, measure, (const char *const *)labels, k, d, (const double(*)[4])z, svg, json);
out:
    for (size_t i = 0; labels && i < k; i++)
        free(labels[i]);
    free(labels);
    free(ids);
    free(d);
    free(z);
    pw_query_cross_free(rows, n);
    pw_query_close(q);
    return rc;
}

int pwcca_cmd_cluster(const pwcca_opts *o, int argc, char **argv)
{
    const char *layer = NULL, *svg = NULL, *distance = "pwcca";
    pw_cluster_measure measure = PW_CLUSTER_PWCCA;
    int64_t step = PW_QUERY_NO_STEP;
    int final = 0, json = 0, nhwc = 0, pos;
    const pwcca_arg args[] = {{"layer", 0, PWCCA_ARG_TEXT, NULL, &layer},
                              {"step", 0, PWCCA_ARG_STEP, NULL, &step},
                              {"final", 0, PWCCA_ARG_FLAG, NULL, &final},
                              {"json", 0, PWCCA_ARG_FLAG, NULL, &json},
                              {"distance", 0, PWCCA_ARG_TEXT, NULL, &distance},
                              {"output", 'o', PWCCA_ARG_TEXT, NULL, &svg},
                              {"nhwc", 0, PWCCA_ARG_FLAG, NULL, &nhwc},
                              {NULL, 0, 0, NULL, NULL}};
    int done = pwcca_parse_args(argc, argv, help, args, 1, MAX_RUNS, "RUN", &pos);
    if (done >= 0)
        return done;
    if (final && step != PW_QUERY_NO_STEP)
        return pwcca_usage(argv[0], "--step and --final are exclusive");
    pw_err perr;
    if (pw_cluster_measure_parse(distance, &measure, &perr) != 0)
        return pwcca_usage(argv[0], "%s", perr.msg);
    size_t k = (size_t)(argc - pos);
    if (k == 1) {
        if (nhwc)
            return pwcca_usage(argv[0],
                               "--nhwc reads files: a group's matrix is read from the database");
        return cluster_group(o, argv[pos], layer, step, final, measure, svg, json);
    }
    member *ms = calloc(k, sizeof *ms);
    const char **labels = calloc(k, sizeof(const char *));
    double *d = calloc(k * k, sizeof(double));
    double(*z)[4] = calloc(k, sizeof *z);
    pw_query *q = NULL;
    int rc = PWCCA_ERROR;
    if (!ms || !labels || !d || !z) {
        rc = pwcca_fail("out of memory");
        goto out;
    }
    if (pwcca_open(o, &q) != PWCCA_OK)
        goto out;
    for (size_t i = 0; i < k; i++)
        if (open_member(q, argv[pos + (int)i], step, final, nhwc, &ms[i]) != PWCCA_OK)
            goto out;
    pw_query_close(q);
    q = NULL;
    for (size_t i = 0; i < k; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(ms[i].label, ms[j].label) == 0) {
                char msg[PW_PATH_MAX + 64];
                snprintf(msg, sizeof msg, "%s is named twice", ms[i].label);
                rc = fail(msg);
                goto out;
            }
    if (check_probes(ms, k) != PWCCA_OK)
        goto out;
    size_t nl = pw_ckpt_nlayers(ms[0].ckpt);
    if (!layer && nl > 0)
        layer = pw_ckpt_layer(ms[0].ckpt, nl - 1)->name;
    for (size_t i = 0; i < k; i++) {
        ms[i].layer = layer ? pw_ckpt_find(ms[i].ckpt, layer) : NULL;
        labels[i] = ms[i].label;
        if (!ms[i].layer) {
            char msg[PW_PATH_MAX + 2 * PW_MAX_NAME];
            snprintf(msg, sizeof msg, "%s has no layer '%s'%s", ms[i].label, layer ? layer : "",
                     i == 0 ? "" : " (the layer clustered on; --layer picks another)");
            rc = fail(msg);
            goto out;
        }
    }
    const pw_tensor **t = calloc(k, sizeof(const pw_tensor *));
    if (!t) {
        rc = pwcca_fail("out of memory");
        goto out;
    }
    for (size_t i = 0; i < k; i++)
        t[i] = ms[i].layer;
    pw_err err = {""};
    pw_engine_set_blas_threads(0);
    int crc = pw_cluster_distances(t, labels, k, measure, d, &err);
    free(t);
    if (crc != 0 || pw_cluster_average(d, k, z, &err) != 0) {
        rc = fail(err.msg);
        goto out;
    }
    rc = output(layer, measure, labels, k, d, (const double(*)[4])z, svg, json);
out:
    if (q)
        pw_query_close(q);
    for (size_t i = 0; ms && i < k; i++)
        pw_ckpt_close(ms[i].ckpt);
    free(ms);
    free(labels);
    free(d);
    free(z);
    return rc;
}
