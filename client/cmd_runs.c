/* cmd_runs.c -- `pwcca runs`: every run the daemon knows, with its progress. */
#include <stdio.h>

#include "cli.h"

static const char help[] =
    "Usage: pwcca runs [--format table|json]\n"
    "List the runs in the database: checkpoints processed, layers, newest step,\n"
    "state (running, or final once the final checkpoint is known), layers stable\n"
    "now, and the step at which every layer was stable (converged).\n"
    "\n"
    "  --format F   table (default) or json (an array of objects with the keys\n"
    "               name, path, state, checkpoints, layers, stable_layers,\n"
    "               last_step, final_step, final_source, converged_step)\n"
    "  -h, --help   show this help\n";

static json_t *run_json(const pw_run_info *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", pwcca_json_str(r->name));
    json_object_set_new(o, "path", pwcca_json_str(r->path));
    json_object_set_new(o, "state",
                        json_string(r->final_step == PW_QUERY_NO_STEP ? "running" : "final"));
    json_object_set_new(o, "checkpoints", json_integer(r->checkpoints));
    json_object_set_new(o, "layers", json_integer(r->layers));
    json_object_set_new(o, "stable_layers", json_integer(r->stable_layers));
    json_object_set_new(o, "last_step", pwcca_json_step(r->last_step));
    json_object_set_new(o, "final_step", pwcca_json_step(r->final_step));
    json_object_set_new(o, "final_source", pwcca_json_str(r->final_source));
    json_object_set_new(o, "converged_step", pwcca_json_step(r->converged_step));
    return o;
}

int pwcca_cmd_runs(const pwcca_opts *o, int argc, char **argv)
{
    static const char *const formats[] = {"table", "json", NULL};
    int format = 0, pos;
    const pwcca_arg args[] = {{"format", 0, PWCCA_ARG_CHOICE, formats, &format},
                              {NULL, 0, 0, NULL, NULL}};
    int done = pwcca_parse_args(argc, argv, help, args, 0, 0, "RUN", &pos);
    if (done >= 0)
        return done;

    pw_query *q;
    pw_err err = {""};
    pw_run_info *runs = NULL;
    size_t n = 0;
    if (pwcca_open(o, &q) != PWCCA_OK)
        return PWCCA_ERROR;
    if (pw_query_runs(q, &runs, &n, &err) != 0) {
        pw_query_close(q);
        return pwcca_fail("%s", err.msg);
    }
    pw_query_close(q);

    int rc = PWCCA_OK;
    if (format == 1) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, run_json(&runs[i]));
        rc = pwcca_print_json(a);
    } else if (n == 0) {
        printf("no runs yet\n");
    } else {
        static const char *const head[] = {"NAME",       "STATE",     "CHECKPOINTS",
                                           "LAYERS",     "STABLE",    "LAST_STEP",
                                           "FINAL_STEP", "CONVERGED", "PATH"};
        pwcca_table t;
        if (pwcca_table_init(&t, 9, head, 0xFCu) != 0)
            rc = pwcca_fail("out of memory");
        for (size_t i = 0; i < n && rc == PWCCA_OK; i++) {
            const pw_run_info *r = &runs[i];
            char ck[24], ly[24], st[24], ls[24], fs[24], cv[24];
            snprintf(ck, sizeof ck, "%lld", (long long)r->checkpoints);
            snprintf(ly, sizeof ly, "%lld", (long long)r->layers);
            snprintf(st, sizeof st, "%lld", (long long)r->stable_layers);
            const char *row[] = {r->name,
                                 r->final_step == PW_QUERY_NO_STEP ? "running" : "final",
                                 ck,
                                 ly,
                                 st,
                                 pwcca_fmt_step(ls, sizeof ls, r->last_step),
                                 pwcca_fmt_step(fs, sizeof fs, r->final_step),
                                 pwcca_fmt_step(cv, sizeof cv, r->converged_step),
                                 r->path};
            if (pwcca_table_row(&t, row) != 0)
                rc = pwcca_fail("out of memory");
        }
        pwcca_table_print(&t, stdout);
    }
    pw_query_runs_free(runs, n);
    return rc;
}
