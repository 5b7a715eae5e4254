/* cmd_alerts.c -- `pwcca alerts [RUN] [--follow]`: the history of stability
 * alerts from the database, then, with --follow, new ones as the daemon
 * raises them.
 *
 * With --follow the subscription is made before the history is read, so no
 * alert falls between the two; one that arrives in both is printed once. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "pw_limits.h"
#include "sock.h"

static const char help[] =
    "Usage: pwcca alerts [RUN] [--follow] [--format text|json]\n"
    "Stability alerts, oldest first, for RUN or every run: layer_stable (a layer's\n"
    "distance to the previous checkpoint stayed small), layer_unstable (it moved\n"
    "again) and run_converged (every layer stable).  With --follow, keep running\n"
    "and print new alerts as the daemon raises them (needs the daemon's socket).\n"
    "\n"
    "  --follow, -f  after the history, stream new alerts until interrupted\n"
    "  --format F    text (default): one line per alert,\n"
    "                  TIME RUN KIND LAYER STEP VALUE [DETAIL]\n"
    "                json: one object per line with the keys id, time, created_at,\n"
    "                  run, kind, layer, step, value, detail (id is null for a\n"
    "                  streamed alert)\n"
    "  -h, --help    show this help\n";

/* One alert, whether from the database or the socket. */
typedef struct alert_view {
    json_int_t id;      /* alerts.id, or -1 when streamed */
    double created_at;  /* Unix seconds */
    const char *run;    /* run name */
    const char *kind;   /* alert kind */
    const char *layer;  /* layer or "" */
    int64_t step;       /* step */
    double value;       /* distance or NAN */
    const char *detail; /* NULL when none */
} alert_view;

static void print_alert(const alert_view *a, int json)
{
    char tbuf[40];
    pwcca_fmt_time(tbuf, sizeof tbuf, a->created_at);
    if (json) {
        json_t *o = json_object();
        json_object_set_new(o, "id", a->id < 0 ? json_null() : json_integer(a->id));
        json_object_set_new(o, "time", json_string(tbuf));
        json_object_set_new(o, "created_at", json_real(a->created_at));
        json_object_set_new(o, "run", pw_json_str(a->run));
        json_object_set_new(o, "kind", pw_json_str(a->kind));
        json_object_set_new(o, "layer", pw_json_str(a->layer));
        json_object_set_new(o, "step", json_integer(a->step));
        json_object_set_new(o, "value", pw_json_real(a->value));
        json_object_set_new(o, "detail", pw_json_str(a->detail));
        pwcca_print_json_line(o);
        return;
    }
    /* Fixed-width kind keeps the columns readable; names are sanitised. */
    char step[24], value[32];
    snprintf(step, sizeof step, "%" PRId64, a->step);
    pwcca_fmt_real(value, sizeof value, a->value);
    const char *cells[] = {tbuf, a->run, a->kind,  *a->layer ? a->layer : "-",
                           step, value,  a->detail};
    for (size_t i = 0; i < 7 && cells[i]; i++) {
        size_t w = 0;
        if (i > 0)
            fputs("  ", stdout);
        for (const char *c = cells[i]; *c; c++, w++)
            fputc((unsigned char)*c < 0x20 || *c == 0x7f ? '?' : *c, stdout);
        for (; i == 2 && w < 14; w++)
            fputc(' ', stdout);
    }
    fputc('\n', stdout);
    fflush(stdout);
}

/* Was this streamed alert already printed from the history? */
static int seen(const pw_alert *h, size_t n, const alert_view *a)
{
    for (size_t i = n > 4096 ? n - 4096 : 0; i < n; i++)
        if (h[i].step == a->step && strcmp(h[i].kind, a->kind) == 0 &&
            strcmp(h[i].layer, a->layer) == 0 && strcmp(h[i].run, a->run) == 0)
            return 1;
    return 0;
}

static int subscribe(const pwcca_opts *o, pwcca_sock *s, pw_err *err)
{
    char path[256];
    json_t *req = json_pack("{s:s}", "cmd", "subscribe"), *ack = NULL;
    s->fd = -1;
    int rc = pwcca_sock_path(o->socket, path, sizeof path, err);
    if (rc == 0)
        rc = pwcca_sock_connect(s, path, err);
    if (rc == 0)
        rc = pwcca_sock_send(s, req, err);
    if (rc == 0)
        rc = pwcca_sock_recv(s, PW_SOCK_TIMEOUT_MS, &ack, err);
    if (rc == 0 && !json_is_true(json_object_get(ack, "ok"))) {
        const char *e = json_string_value(json_object_get(ack, "error"));
        rc = pw_err_set(err, "the daemon refused to subscribe: %s", e ? e : "(no reason)");
    }
    json_decref(req);
    json_decref(ack);
    return rc;
}

static int follow(pwcca_sock *s, const pw_run_info *run, const pw_alert *hist, size_t nhist,
                  int json)
{
    pw_err err = {""};
    for (;;) {
        json_t *ev = NULL;
        if (pwcca_sock_recv(s, -1, &ev, &err) != 0)
            return pwcca_fail("%s", err.msg);
        const char *type = json_string_value(json_object_get(ev, "event"));
        alert_view a = {-1,
                        0,
                        json_string_value(json_object_get(ev, "run")),
                        json_string_value(json_object_get(ev, "kind")),
                        json_string_value(json_object_get(ev, "layer")),
                        json_integer_value(json_object_get(ev, "step")),
                        NAN,
                        json_string_value(json_object_get(ev, "detail"))};
        json_t *v = json_object_get(ev, "value");
        if (json_is_number(v))
            a.value = json_number_value(v);
        a.created_at = (double)time(NULL);
        if (!a.layer)
            a.layer = "";
        int wanted = type && strcmp(type, "alert") == 0 && a.run && a.kind &&
                     (!run || strcmp(a.run, run->name) == 0 || strcmp(a.run, run->path) == 0);
        if (wanted && !seen(hist, nhist, &a))
            print_alert(&a, json);
        json_decref(ev);
    }
}

int pwcca_cmd_alerts(const pwcca_opts *o, int argc, char **argv)
{
    static const char *const formats[] = {"text", "json", NULL};
    int follow_on = 0, format = 0, pos;
    const pwcca_arg args[] = {{"follow", 'f', PWCCA_ARG_FLAG, NULL, &follow_on},
                              {"format", 0, PWCCA_ARG_CHOICE, formats, &format},
                              {NULL, 0, 0, NULL, NULL}};
    int done = pwcca_parse_args(argc, argv, help, args, 0, 1, "RUN", &pos);
    if (done >= 0)
        return done;

    pwcca_sock s = {-1, NULL, 0, 0, ""};
    pw_err serr = {""}, err = {""};
    int subscribed = follow_on && subscribe(o, &s, &serr) == 0;

    pw_query *q;
    pw_run_info run;
    int have_run = pos < argc;
    memset(&run, 0, sizeof run);
    int rc = have_run ? pwcca_open_run(o, argv[pos], &q, &run) : pwcca_open(o, &q);
    if (rc != PWCCA_OK) {
        pwcca_sock_close(&s);
        return rc;
    }
    pw_alert *hist = NULL;
    size_t n = 0;
    if (pw_query_alerts(q, have_run ? &run : NULL, 0, &hist, &n, &err) != 0)
        rc = pwcca_fail("%s", err.msg);
    pw_query_close(q);
    for (size_t i = 0; rc == PWCCA_OK && i < n; i++) {
        alert_view a = {hist[i].id,    hist[i].created_at, hist[i].run,   hist[i].kind,
                        hist[i].layer, hist[i].step,       hist[i].value, hist[i].detail};
        print_alert(&a, format == 1);
    }
    if (rc == PWCCA_OK && n == 0 && format == 0 && !follow_on)
        fprintf(stderr, "pwcca: no alerts yet\n");
    if (rc == PWCCA_OK && follow_on && !subscribed)
        rc = pwcca_fail("cannot follow: %s", serr.msg);
    if (rc == PWCCA_OK && follow_on)
        rc = follow(&s, have_run ? &run : NULL, hist, n, format == 1);
    pw_query_alerts_free(hist, n);
    pw_query_run_clear(&run);
    pwcca_sock_close(&s);
    return rc;
}
