/* cmd_cluster.c -- `pwcca cluster RUN... [--layer L] [--step S | --final]`:
 * the PWCCA distance matrix between runs at one layer, and its
 * average-linkage clustering (lib/pw_cluster.h does the work).
 *
 * As layers-matrix, the database names each run's checkpoint file and the
 * client reads the files itself. */
#include <errno.h>
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

static void print_table(const char *layer, pw_cluster_measure measure, const char *const *labels,
                        size_t k, const double *d, const double (*z)[4])
{
    int w = 6;
    for (size_t i = 0; i < k; i++)
        w = (int)strlen(labels[i]) > w ? (int)strlen(labels[i]) : w;
    printf("%s at layer %s\n%-*s", pw_cluster_measure_text(measure), layer, w, "");
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
    int done = pwcca_parse_args(argc, argv, help, args, 2, MAX_RUNS, "RUN", &pos);
    if (done >= 0)
        return done;
    if (final && step != PW_QUERY_NO_STEP)
        return pwcca_usage(argv[0], "--step and --final are exclusive");
    pw_err perr;
    if (pw_cluster_measure_parse(distance, &measure, &perr) != 0)
        return pwcca_usage(argv[0], "%s", perr.msg);
    size_t k = (size_t)(argc - pos);
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
    rc = PWCCA_OK;
    if (svg) {
        char title[PW_ERR_MAX];
        snprintf(title, sizeof title, "%zu runs clustered at layer %s", k, layer);
        rc = draw(svg, title, measure, labels, k, d, (const double(*)[4])z);
    }
    if (rc == PWCCA_OK && json) {
        json_t *v = pw_cluster_json(layer, measure, labels, k, d, (const double(*)[4])z);
        rc = v ? pwcca_print_json(v) : pwcca_fail("out of memory");
    } else if (rc == PWCCA_OK && (!svg || strcmp(svg, "-") != 0)) {
        print_table(layer, measure, labels, k, d, (const double(*)[4])z);
    }
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
