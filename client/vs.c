/* vs.c -- what `pwcca curve A --vs B` and `pwcca plot A --vs B` share:
 * finding both runs and computing A's layers against B's same-named layers
 * from the files the daemon recorded (lib/pw_vs.c does the work).  The
 * commands differ only in what they do with the rows (print them or draw
 * them), so everything up to the rows lives here, once. */
#include <stdio.h>

#include "cli.h"
#include "pw_limits.h"
#include "pw_metric.h"
#include "pw_vs.h"

int pwcca_vs_usage(const char *cmd, const char *vs, int ref)
{
    if (vs && ref >= 0)
        return pwcca_usage(cmd, "--vs compares two runs at the same step: drop --ref");
    return -1;
}

int pwcca_vs_rows(const pwcca_opts *o, const char *name_a, const char *name_b,
                  const char *const *layers, size_t nlayers, unsigned metrics, int nhwc,
                  pw_run_info *a, pw_run_info *b, pw_curve_row **rows, size_t *n)
{
    pw_query *q;
    pw_err err = {""};
    *rows = NULL;
    *n = 0;
    if (pwcca_open_run(o, name_a, &q, a) != PWCCA_OK)
        return PWCCA_ERROR;
    if (pw_query_find_run(q, name_b, b, &err) != 0) {
        pw_query_close(q);
        pw_query_run_clear(a);
        return pwcca_fail("%s", err.msg);
    }
    pw_ckpt_opts copts = {nhwc, 0};
    char warn[PW_ERR_MAX + 2 * PW_PATH_MAX];
    int rc = pw_vs_curve(q, a, b, layers, nlayers, metrics ? metrics : PW_M_ALL, &copts, warn,
                         sizeof warn, rows, n, &err);
    pw_query_close(q);
    if (rc != 0) {
        pw_query_curve_free(*rows, *n);
        *rows = NULL;
        *n = 0;
        pw_query_run_clear(a);
        pw_query_run_clear(b);
        return pwcca_fail("%s", err.msg);
    }
    if (warn[0])
        fprintf(stderr, "pwcca: warning: %s\n", warn);
    return PWCCA_OK;
}
