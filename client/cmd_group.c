/* cmd_group.c -- `pwcca group NAME [--layer L] [--format table|csv|json]`: the
 * cross-run scores the daemon stored for a run group (group_scores,
 * docs/DAEMON.md "Run groups"), one row per run pair, layer and step pair.
 *
 * Read from the database only; `pwcca cluster NAME` clusters the same rows. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char help[] =
    "Usage: pwcca group NAME [--layer L] [--format table|csv|json]\n"
    "The cross-run scores pwccad stored for the run group NAME (a [group NAME]\n"
    "section of its config): every layer of run A against the same-named layer\n"
    "of run B, at every step both have and at their finals, A being the run\n"
    "first seen (the engine's X).  Each row is what `pwcca compare A_FILE B_FILE`\n"
    "gives for the two checkpoints.\n"
    "\n"
    "  --layer L     only that layer\n"
    "  --format F    table (default), csv (every metric, full precision) or json\n"
    "\n"
    "Exit status: 0 ok, 1 when the group has no stored scores, 2 on usage errors.\n";

static json_t *real_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *count_or_null(int64_t v)
{
    return v >= 0 ? json_integer(v) : json_null();
}

static json_t *row_json(const pw_cross_row *r)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:b, s:o, s:o, s:o}", "run_a", r->run_a,
                          "run_b", r->run_b, "layer_a", r->layer_a, "layer_b", r->layer_b, "step_a",
                          (json_int_t)r->step_a, "step_b", (json_int_t)r->step_b, "final", r->final,
                          "n", count_or_null(r->n), "p_kept", count_or_null(r->p_kept), "q_kept",
                          count_or_null(r->q_kept));
    if (!o)
        return NULL;
#define GROUP_JSON(sym, id, bitno, sel, tpos, label, doc)                                          \
    json_object_set_new(o, #id, real_or_null(r->id));
    PW_METRIC_LIST(GROUP_JSON)
#undef GROUP_JSON
    json_object_set_new(o, "status", json_string(r->status));
    json_object_set_new(o, "message", r->message ? json_string(r->message) : json_null());
    return o;
}

static void row_csv(const pw_cross_row *r)
{
    pwcca_csv_field(stdout, r->run_a);
    putchar(',');
    pwcca_csv_field(stdout, r->run_b);
    putchar(',');
    pwcca_csv_field(stdout, r->layer_a);
    putchar(',');
    pwcca_csv_field(stdout, r->layer_b);
    printf(",%lld,%lld,%d,", (long long)r->step_a, (long long)r->step_b, r->final);
    int64_t counts[3] = {r->n, r->p_kept, r->q_kept};
    for (int i = 0; i < 3; i++)
        if (counts[i] >= 0)
            printf("%lld,", (long long)counts[i]);
        else
            putchar(',');
#define GROUP_CSV(sym, id, bitno, sel, tpos, label, doc)                                           \
    if (isfinite(r->id))                                                                           \
        printf("%.17g,", r->id);                                                                   \
    else                                                                                           \
        putchar(',');
    PW_METRIC_LIST(GROUP_CSV)
#undef GROUP_CSV
    pwcca_csv_field(stdout, r->status);
    putchar(',');
    pwcca_csv_field(stdout, r->message ? r->message : "");
    putchar('\n');
}

static int print_table(const pw_cross_row *rows, size_t n, const char *layer)
{
    static const char *const head[] = {"RUN_A", "RUN_B", "LAYER",      "STEP_A", "STEP_B",
                                       "PWCCA", "CKA",   "PROCRUSTES", "STATUS"};
    pwcca_table t;
    if (pwcca_table_init(&t, 9, head, 0x78) != 0)
        return pwcca_fail("out of memory");
    for (size_t i = 0; i < n; i++) {
        const pw_cross_row *r = &rows[i];
        if (layer && strcmp(r->layer_a, layer) != 0)
            continue;
        char sa[32], sb[32], pw[32], cka[32], pr[32];
        snprintf(sa, sizeof sa, "%lld", (long long)r->step_a);
        snprintf(sb, sizeof sb, "%lld%s", (long long)r->step_b, r->final ? " (final)" : "");
        const char *cells[9] = {r->run_a,
                                r->run_b,
                                r->layer_a,
                                sa,
                                sb,
                                pwcca_fmt_real(pw, sizeof pw, r->pwcca),
                                pwcca_fmt_real(cka, sizeof cka, r->cka),
                                pwcca_fmt_real(pr, sizeof pr, r->procrustes),
                                r->status};
        if (pwcca_table_row(&t, cells) != 0) {
            pwcca_table_free(&t);
            return pwcca_fail("out of memory");
        }
    }
    pwcca_table_print(&t, stdout);
    return PWCCA_OK;
}

int pwcca_cmd_group(const pwcca_opts *o, int argc, char **argv)
{
    static const char *const formats[] = {"table", "csv", "json", NULL};
    const char *layer = NULL;
    int format = 0, pos;
    const pwcca_arg args[] = {{"layer", 0, PWCCA_ARG_TEXT, NULL, &layer},
                              {"format", 0, PWCCA_ARG_CHOICE, formats, &format},
                              {NULL, 0, 0, NULL, NULL}};
    int done = pwcca_parse_args(argc, argv, help, args, 1, 1, "NAME", &pos);
    if (done >= 0)
        return done;
    const char *group = argv[pos];
    pw_query *q = NULL;
    if (pwcca_open(o, &q) != PWCCA_OK)
        return PWCCA_ERROR;
    pw_cross_row *rows = NULL;
    size_t n = 0;
    pw_err err = {""};
    int rc = PWCCA_OK;
    if (pw_query_cross(q, group, &rows, &n, &err) != 0) {
        rc = pwcca_fail("%s", err.msg);
    } else if (n == 0) {
        rc = pwcca_fail("'%.200s' is not a run group with stored cross-run scores (a [group "
                        "NAME] of the daemon's config, once two of its runs share a step)",
                        group);
    } else if (format == 1) {
        printf("run_a,run_b,layer_a,layer_b,step_a,step_b,final,n,p_kept,q_kept,");
#define GROUP_CSV_HEAD(sym, id, bitno, sel, tpos, label, doc) printf("%s,", #id);
        PW_METRIC_LIST(GROUP_CSV_HEAD)
#undef GROUP_CSV_HEAD
        printf("status,message\n");
        for (size_t i = 0; i < n; i++)
            if (!layer || strcmp(rows[i].layer_a, layer) == 0)
                row_csv(&rows[i]);
    } else if (format == 2) {
        json_t *a = json_array();
        for (size_t i = 0; a && i < n; i++)
            if ((!layer || strcmp(rows[i].layer_a, layer) == 0) &&
                json_array_append_new(a, row_json(&rows[i])) != 0) {
                json_decref(a);
                a = NULL;
            }
        rc = a ? pwcca_print_json(a) : pwcca_fail("out of memory");
    } else {
        rc = print_table(rows, n, layer);
    }
    pw_query_cross_free(rows, n);
    pw_query_close(q);
    return rc;
}
