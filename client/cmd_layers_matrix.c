/* cmd_layers_matrix.c -- `pwcca layers-matrix RUN_A[:STEP] RUN_B[:STEP]`:
 * every layer of one run's checkpoint against every layer of another's.
 *
 * The database says which file each run had at that step; the client reads
 * the two files itself (the daemon stores no cross-run scores), so this is
 * `pwcca compare --all-pairs` on the files the daemon watched. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pw_checkpoint.h"
#include "pw_metric.h"

static const char help[] =
    "Usage: pwcca layers-matrix RUN_A[:STEP] RUN_B[:STEP] [--metrics LIST] [--json]\n"
    "                           [-o FILE.svg] [--nhwc]\n"
    "Every layer of RUN_A's checkpoint at STEP against every layer of RUN_B's\n"
    "(default: each run's final checkpoint, else its newest), read from the files\n"
    "the daemon recorded.  Cell (a, b) compares A's layer a as X with B's layer b\n"
    "as Y (PWCCA is not symmetric).  The runs may have different layers; their\n"
    "checkpoints must hold the same probe inputs (the same n).  Exact scores only.\n"
    "\n"
    "  --metrics LIST   metrics besides PWCCA and CKA (pwcca, mean_cca, svcca, cka)\n"
    "  --json           the matrix as one JSON object (docs/CLIENT.md)\n"
    "  -o, --output F   draw the PWCCA grid as an SVG heatmap into F ('-': stdout)\n"
    "  --nhwc           4-D activations are [N, H, W, C] instead of PyTorch's NCHW\n"
    "\n"
    "Exit status: 0 ok, 1 when a run, step or file is missing or unreadable or the\n"
    "n differ, 2 on usage errors.\n";

/* "run:123" -> run and 123; "run" -> run and PW_QUERY_NO_STEP.  The step is
 * what follows the last ':' when it is all digits, so a name may hold ':'. */
static char *split_step(const char *arg, int64_t *step)
{
    char *run = strdup(arg);
    *step = PW_QUERY_NO_STEP;
    if (!run)
        return NULL;
    char *colon = strrchr(run, ':');
    if (colon && colon[1] && strspn(colon + 1, "0123456789") == strlen(colon + 1) &&
        pwcca_parse_step(colon + 1, step) == 0)
        *colon = '\0';
    return run;
}

/* Open the checkpoint of `arg` (RUN[:STEP]); *label gets "RUN:STEP". */
static int open_side(pw_query *q, const char *arg, const pw_ckpt_opts *copts, pw_ckpt **c,
                     char *label, size_t len)
{
    int64_t step;
    char *name = split_step(arg, &step);
    if (!name)
        return pwcca_fail("out of memory");
    pw_run_info run;
    pw_ckpt_info ck;
    pw_err err = {""};
    int rc = pw_query_find_run(q, name, &run, &err);
    free(name);
    if (rc != 0)
        return pwcca_fail("%s", err.msg);
    rc = pw_query_checkpoint(q, &run, step, &ck, &err);
    if (rc != 0) {
        pw_query_run_clear(&run);
        return pwcca_fail("%s", err.msg);
    }
    snprintf(label, len, "%s:%lld", run.name, (long long)ck.step);
    if (!ck.present)
        rc = pw_err_set(&err, "checkpoint step %lld of run %s (%s) was deleted", (long long)ck.step,
                        run.name, ck.path);
    else if (pw_ckpt_open(c, ck.path, copts, &err) != 0)
        rc = -1;
    pw_query_checkpoint_clear(&ck);
    pw_query_run_clear(&run);
    return rc == 0 ? PWCCA_OK : pwcca_fail("%s", err.msg);
}

int pwcca_cmd_layers_matrix(const pwcca_opts *o, int argc, char **argv)
{
    unsigned metrics = 0;
    int json = 0, nhwc = 0, pos;
    const char *svg = NULL;
    const pwcca_arg args[] = {{"metrics", 0, PWCCA_ARG_METRICS, NULL, &metrics},
                              {"json", 0, PWCCA_ARG_FLAG, NULL, &json},
                              {"output", 'o', PWCCA_ARG_TEXT, NULL, &svg},
                              {"nhwc", 0, PWCCA_ARG_FLAG, NULL, &nhwc},
                              {NULL, 0, 0, NULL, NULL}};
    int done = pwcca_parse_args(argc, argv, help, args, 2, 2, "RUN", &pos);
    if (done >= 0)
        return done;
    pw_query *q;
    if (pwcca_open(o, &q) != PWCCA_OK)
        return PWCCA_ERROR;
    pw_ckpt_opts copts = {nhwc, 0};
    pw_ckpt *ca = NULL, *cb = NULL;
    char la[PW_PATH_MAX], lb[PW_PATH_MAX];
    int rc = open_side(q, argv[pos], &copts, &ca, la, sizeof la);
    if (rc == PWCCA_OK)
        rc = open_side(q, argv[pos + 1], &copts, &cb, lb, sizeof lb);
    pw_query_close(q);
    if (rc == PWCCA_OK)
        rc = pwcca_matrix_print("layers-matrix", ca, cb, la, lb, metrics | PW_M_PWCCA | PW_M_CKA,
                                json, svg);
    pw_ckpt_close(ca);
    pw_ckpt_close(cb);
    return rc;
}
