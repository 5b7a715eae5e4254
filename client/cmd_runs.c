/* cmd_runs.c -- `pwcca runs`: every run the daemon knows, with its progress. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char help[] =
    "Usage: pwcca runs [--format table|json]\n"
    "List the runs in the database: checkpoints processed, layers, layers\n"
    "measured (with a real distance to the previous checkpoint: status ok),\n"
    "newest step, state (running, or final once the final checkpoint is known),\n"
    "layers stable now, and the step at which every measured layer was stable\n"
    "(converged).  A run with layers never measured (too few datapoints, say)\n"
    "gets a note under the table naming them and their newest status; its\n"
    "CONVERGED step is marked '*': it says nothing about those layers.\n"
    "\n"
    "  --format F   table (default) or json (an array of objects with the keys\n"
    "               name, path, state, checkpoints, layers, measured_layers,\n"
    "               stable_layers, last_step, final_step, final_source,\n"
    "               converged_step, unmeasured [{layer, status}])\n"
    "  -h, --help   show this help\n";

/* The run's layers when some were never measured (else none); -1 on error. */
static int unmeasured_of(pw_query *q, const pw_run_info *r, pw_layer_info **ls, size_t *n)
{
    pw_err err = {""};
    *ls = NULL;
    *n = 0;
    if (r->measured_layers >= r->layers)
        return 0;
    if (pw_query_layers(q, r, ls, n, &err) != 0)
        return pwcca_fail("%s", err.msg), -1;
    return 0;
}

static json_t *run_json(const pw_run_info *r, const pw_layer_info *ls, size_t nls)
{
    json_t *o = json_object(), *un = json_array();
    json_object_set_new(o, "name", pw_json_str(r->name));
    json_object_set_new(o, "path", pw_json_str(r->path));
    json_object_set_new(o, "state",
                        json_string(r->final_step == PW_QUERY_NO_STEP ? "running" : "final"));
    json_object_set_new(o, "checkpoints", json_integer(r->checkpoints));
    json_object_set_new(o, "layers", json_integer(r->layers));
    json_object_set_new(o, "measured_layers", json_integer(r->measured_layers));
    json_object_set_new(o, "stable_layers", json_integer(r->stable_layers));
    json_object_set_new(o, "last_step", pw_json_step(r->last_step));
    json_object_set_new(o, "final_step", pw_json_step(r->final_step));
    json_object_set_new(o, "final_source", pw_json_str(r->final_source));
    json_object_set_new(o, "converged_step", pw_json_step(r->converged_step));
    for (size_t i = 0; i < nls; i++)
        if (!ls[i].measured)
            json_array_append_new(un, json_pack("{s:o, s:o}", "layer", pw_json_str(ls[i].name),
                                                "status", pw_json_str(ls[i].prev_status)));
    json_object_set_new(o, "unmeasured", un);
    json_object_set_new(o, "probe_fingerprint", pw_json_str(r->probe)); /* appended: a contract */
    return o;
}

/* Under the table: each run with layers never measured, named with their status. */
static int print_notes(pw_query *q, const pw_run_info *runs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const pw_run_info *r = &runs[i];
        pw_layer_info *ls;
        size_t nls;
        char names[2048];
        if (unmeasured_of(q, r, &ls, &nls) != 0)
            return PWCCA_ERROR;
        size_t k = pwcca_unmeasured_text(ls, nls, names, sizeof names);
        pw_query_layers_free(ls, nls);
        if (k == 0)
            continue;
        printf("%s%s: %zu of %lld layers never measured (no distance to the previous "
               "checkpoint): %s",
               r->converged_step != PW_QUERY_NO_STEP ? "* " : "", r->name, k, (long long)r->layers,
               names);
        if (r->converged_step != PW_QUERY_NO_STEP)
            printf("; CONVERGED %lld covers only the %lld measured layer%s",
                   (long long)r->converged_step, (long long)r->measured_layers,
                   r->measured_layers == 1 ? "" : "s");
        printf("\n");
    }
    return PWCCA_OK;
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

    int rc = PWCCA_OK;
    if (format == 1) {
        json_t *a = json_array();
        for (size_t i = 0; i < n && rc == PWCCA_OK; i++) {
            pw_layer_info *ls;
            size_t nls;
            if (unmeasured_of(q, &runs[i], &ls, &nls) != 0) {
                rc = PWCCA_ERROR;
                break;
            }
            json_array_append_new(a, run_json(&runs[i], ls, nls));
            pw_query_layers_free(ls, nls);
        }
        if (rc == PWCCA_OK)
            rc = pwcca_print_json(a);
        else
            json_decref(a);
    } else if (n == 0) {
        printf("no runs yet\n");
    } else {
        static const char *const head[] = {"NAME",      "STATE",  "CHECKPOINTS", "LAYERS",
                                           "MEASURED",  "STABLE", "LAST_STEP",   "FINAL_STEP",
                                           "CONVERGED", "PATH"};
        pwcca_table t;
        if (pwcca_table_init(&t, 10, head, 0x1FCu) != 0)
            rc = pwcca_fail("out of memory");
        for (size_t i = 0; i < n && rc == PWCCA_OK; i++) {
            const pw_run_info *r = &runs[i];
            char ck[24], ly[24], me[24], st[24], ls[24], fs[24], cv[32];
            snprintf(ck, sizeof ck, "%lld", (long long)r->checkpoints);
            snprintf(ly, sizeof ly, "%lld", (long long)r->layers);
            snprintf(me, sizeof me, "%lld", (long long)r->measured_layers);
            snprintf(st, sizeof st, "%lld", (long long)r->stable_layers);
            pwcca_fmt_step(cv, sizeof cv - 1, r->converged_step);
            /* A converged step that leaves layers out points at the note below. */
            if (r->converged_step != PW_QUERY_NO_STEP && r->measured_layers < r->layers)
                strcat(cv, "*");
            const char *row[] = {r->name,
                                 r->final_step == PW_QUERY_NO_STEP ? "running" : "final",
                                 ck,
                                 ly,
                                 me,
                                 st,
                                 pwcca_fmt_step(ls, sizeof ls, r->last_step),
                                 pwcca_fmt_step(fs, sizeof fs, r->final_step),
                                 cv,
                                 r->path};
            if (pwcca_table_row(&t, row) != 0)
                rc = pwcca_fail("out of memory");
        }
        pwcca_table_print(&t, stdout);
        if (rc == PWCCA_OK)
            rc = print_notes(q, runs, n);
    }
    pw_query_close(q);
    pw_query_runs_free(runs, n);
    return rc;
}
