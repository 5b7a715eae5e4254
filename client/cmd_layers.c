/* cmd_layers.c -- `pwcca layers RUN`: a run's layers from the bottom up. */
#include <stdio.h>

#include "cli.h"

static const char help[] =
    "Usage: pwcca layers RUN [--format table|json]\n"
    "The layers of RUN (its name or directory) in depth order, bottom first:\n"
    "dtype, stored shape, datapoints n and neurons, the status and distance of\n"
    "its newest score (against the previous checkpoint when both exist), and the\n"
    "step since which it is stable (empty while it is not).\n"
    "\n"
    "  --format F   table (default) or json (an array of objects with the keys\n"
    "               name, depth, dtype, shape, n, neurons, status, status_step,\n"
    "               distance, stable_step)\n"
    "  -h, --help   show this help\n";

static json_t *layer_json(const pw_layer_info *l)
{
    json_t *o = json_object(), *shape = json_loads(l->shape, JSON_DECODE_ANY, NULL);
    json_object_set_new(o, "name", pw_json_str(l->name));
    json_object_set_new(o, "depth", json_integer(l->depth));
    json_object_set_new(o, "dtype", pw_json_str(l->dtype));
    json_object_set_new(o, "shape", shape ? shape : pw_json_str(l->shape));
    json_object_set_new(o, "n", json_integer(l->rows));
    json_object_set_new(o, "neurons", json_integer(l->cols));
    json_object_set_new(o, "status", pw_json_str(l->last_status));
    json_object_set_new(o, "status_step", pw_json_step(l->last_step));
    json_object_set_new(o, "distance", pw_json_real(l->last_distance));
    json_object_set_new(o, "stable_step", pw_json_step(l->stable_step));
    return o;
}

int pwcca_cmd_layers(const pwcca_opts *o, int argc, char **argv)
{
    static const char *const formats[] = {"table", "json", NULL};
    int format = 0, pos;
    const pwcca_arg args[] = {{"format", 0, PWCCA_ARG_CHOICE, formats, &format},
                              {NULL, 0, 0, NULL, NULL}};
    int done = pwcca_parse_args(argc, argv, help, args, 1, 1, "RUN", &pos);
    if (done >= 0)
        return done;

    pw_query *q;
    pw_run_info run;
    pw_err err = {""};
    pw_layer_info *ls = NULL;
    size_t n = 0;
    if (pwcca_open_run(o, argv[pos], &q, &run) != PWCCA_OK)
        return PWCCA_ERROR;
    int rc = pw_query_layers(q, &run, &ls, &n, &err) == 0 ? PWCCA_OK : pwcca_fail("%s", err.msg);
    pw_query_close(q);

    if (rc == PWCCA_OK && format == 1) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, layer_json(&ls[i]));
        rc = pwcca_print_json(a);
    } else if (rc == PWCCA_OK && n == 0) {
        printf("run %s has no layers yet\n", run.name);
    } else if (rc == PWCCA_OK) {
        static const char *const head[] = {"DEPTH",   "LAYER",       "DTYPE",  "SHAPE",
                                           "N",       "NEURONS",     "STATUS", "DISTANCE",
                                           "AT_STEP", "STABLE_SINCE"};
        pwcca_table t;
        if (pwcca_table_init(&t, 10, head, 0x3B1u) != 0)
            rc = pwcca_fail("out of memory");
        for (size_t i = 0; i < n && rc == PWCCA_OK; i++) {
            const pw_layer_info *l = &ls[i];
            char d[16], rows[24], cols[24], dist[32], at[24], st[24];
            snprintf(d, sizeof d, "%d", l->depth);
            snprintf(rows, sizeof rows, "%lld", (long long)l->rows);
            snprintf(cols, sizeof cols, "%lld", (long long)l->cols);
            const char *row[] = {d,
                                 l->name,
                                 l->dtype,
                                 l->shape,
                                 rows,
                                 cols,
                                 l->last_status ? l->last_status : "-",
                                 pwcca_fmt_real(dist, sizeof dist, l->last_distance),
                                 pwcca_fmt_step(at, sizeof at, l->last_step),
                                 pwcca_fmt_step(st, sizeof st, l->stable_step)};
            if (pwcca_table_row(&t, row) != 0)
                rc = pwcca_fail("out of memory");
        }
        pwcca_table_print(&t, stdout);
    }
    pw_query_layers_free(ls, n);
    pw_query_run_clear(&run);
    return rc;
}
