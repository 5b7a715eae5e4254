/* matrix.c -- what `pwcca compare --all-pairs` and `pwcca layers-matrix`
 * share: every layer of one checkpoint against every layer of another
 * (lib/pw_matrix.h does the work), printed as one grid per metric, as JSON,
 * or drawn as an SVG heatmap. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pw_checkpoint.h"
#include "pw_limits.h"
#include "pw_matrix.h"
#include "pw_metric.h"
#include "pw_probe.h"

/* "pwcca CMD: message" on stderr: exit status 1. */
static int fail(const char *cmd, const char *msg)
{
    fprintf(stderr, "pwcca %s: %s\n", cmd, msg);
    return PWCCA_ERROR;
}

/* The grid of one metric: A's layers down, B's across. */
static void print_grid(const pw_matrix *m, unsigned metric)
{
    int w = 7;
    for (size_t i = 0; i < m->na; i++)
        w = (int)strlen(m->a[i]->name) > w ? (int)strlen(m->a[i]->name) : w;
    printf("%s (rows: layers of A as X; columns: layers of B as Y)\n", pw_metric_label(metric));
    printf("%-*s", w, "A \\ B");
    for (size_t j = 0; j < m->nb; j++) {
        int cw = (int)strlen(m->b[j]->name) > 8 ? (int)strlen(m->b[j]->name) : 8;
        printf("  %*s", cw, m->b[j]->name);
    }
    putchar('\n');
    for (size_t i = 0; i < m->na; i++) {
        printf("%-*s", w, m->a[i]->name);
        for (size_t j = 0; j < m->nb; j++) {
            int cw = (int)strlen(m->b[j]->name) > 8 ? (int)strlen(m->b[j]->name) : 8;
            double v = pw_matrix_value(m, i, j, metric);
            if (isnan(v))
                printf("  %*s", cw, "-");
            else
                printf("  %*.6f", cw, v);
        }
        putchar('\n');
    }
}

static void print_table(const pw_matrix *m)
{
    int first = 1;
    for (unsigned k = 0; k < PW_METRIC_COUNT; k++) {
        if (k == PW_METRIC_DISTANCE) /* 1 - pwcca: its grid says nothing new */
            continue;
        if (!(m->metrics & pw_metric_bit(k)))
            continue;
        if (!first)
            putchar('\n');
        first = 0;
        print_grid(m, k);
    }
    for (size_t c = 0; c < m->na * m->nb; c++)
        if (m->cell[c].status != PW_OK)
            printf("%s / %s: %s: %s\n", m->a[c / m->nb]->name, m->b[c % m->nb]->name,
                   pw_status_name(m->cell[c].status), m->cell[c].message);
}

static int draw(const pw_matrix *m, const char *out, const char *la, const char *lb)
{
    pw_err err = {""};
    int to_stdout = strcmp(out, "-") == 0;
    FILE *f = to_stdout ? stdout : fopen(out, "w");
    if (!f)
        return pwcca_fail("cannot create %s: %s", out, strerror(errno));
    unsigned metric = (m->metrics & PW_M_PWCCA) ? PW_METRIC_PWCCA : PW_METRIC_CKA;
    int rc = pw_matrix_svg(f, m, metric, la, lb, &err);
    if (!to_stdout && fclose(f) != 0 && rc == 0)
        rc = pw_err_set(&err, "cannot write %s: %s", out, strerror(errno));
    if (rc != 0) {
        if (!to_stdout)
            remove(out);
        return pwcca_fail("%s: %s", out, err.msg);
    }
    return PWCCA_OK;
}

int pwcca_matrix_print(const char *cmd, const pw_ckpt *ca, const pw_ckpt *cb, const char *la,
                       const char *lb, unsigned metrics, int json, const char *svg)
{
    /* Two runs' rows are comparable only on the same probe inputs. */
    char fa[PW_PROBE_FP_MAX], fb[PW_PROBE_FP_MAX], msg[PW_ERR_MAX + 2 * PW_PATH_MAX];
    pw_probe_fingerprint(ca, fa, sizeof fa);
    pw_probe_fingerprint(cb, fb, sizeof fb);
    pw_probe_verdict pv = pw_probe_check(fa, la, fb, lb, msg, sizeof msg);
    if (pv == PW_PROBE_DIFFERENT)
        return fail(cmd, msg);
    if (pv == PW_PROBE_UNKNOWN)
        fprintf(stderr, "pwcca %s: warning: %s\n", cmd, msg);
    size_t na = pw_ckpt_nlayers(ca), nb = pw_ckpt_nlayers(cb);
    if (na == 0 || nb == 0) {
        snprintf(msg, sizeof msg, "%s has no layers", na == 0 ? la : lb);
        return fail(cmd, msg);
    }
    const pw_tensor **a = calloc(na, sizeof(const pw_tensor *)),
                    **b = calloc(nb, sizeof(const pw_tensor *));
    if (!a || !b) {
        free(a);
        free(b);
        return fail(cmd, "out of memory");
    }
    for (size_t i = 0; i < na; i++)
        a[i] = pw_ckpt_layer(ca, i);
    for (size_t j = 0; j < nb; j++)
        b[j] = pw_ckpt_layer(cb, j);
    pw_matrix m;
    pw_err err = {""};
    pw_engine_set_blas_threads(0);
    int rc = pw_matrix_compute(&m, a, na, b, nb, metrics, &err);
    free(a);
    free(b);
    if (rc != 0) {
        pw_matrix_free(&m);
        return fail(cmd, err.msg);
    }
    rc = PWCCA_OK;
    if (svg)
        rc = draw(&m, svg, la, lb);
    if (rc == PWCCA_OK && json) {
        json_t *v = pw_matrix_json(&m, la, lb);
        if (v) {
            json_object_set_new(v, "probe_a", fa[0] ? json_string(fa) : json_null());
            json_object_set_new(v, "probe_b", fb[0] ? json_string(fb) : json_null());
        }
        rc = v ? pwcca_print_json(v) : fail(cmd, "out of memory");
    } else if (rc == PWCCA_OK && (!svg || strcmp(svg, "-") != 0)) {
        print_table(&m);
    }
    pw_matrix_free(&m);
    return rc;
}
