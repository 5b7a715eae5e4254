/* progress.c -- a meter for work the user waits on, and following a run's work in
 * the daemon (progress.h).
 *
 * Done/total comes from the daemon's `status` (protocol.md, "Where the daemon
 * stands"): a run's committed jobs (`jobs_done`) counted from when following
 * started, and its `queue` -- so work that arrives meanwhile (a new checkpoint)
 * grows the total instead of making the count go back. */
#include "progress.h"

#include <math.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sock.h"

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* "35 s", "4 min 05 s", "2 h 03 min", "?" when unknown. */
static void eta_text(char *buf, size_t len, double s)
{
    if (!isfinite(s) || s < 0)
        snprintf(buf, len, "?");
    else if (s < 60)
        snprintf(buf, len, "%.0f s", s);
    else if (s < 3600)
        snprintf(buf, len, "%d min %02d s", (int)(s / 60), (int)s % 60);
    else if (s < 1e8)
        snprintf(buf, len, "%d h %02d min", (int)(s / 3600), (int)(s / 60) % 60);
    else
        snprintf(buf, len, "%.3g s", s);
}

void pwcca_meter_format(char *buf, size_t len, int bar_width, const char *what, uint64_t done,
                        uint64_t total, double rate, double eta_s)
{
    size_t o = 0;
    if (bar_width > 0 && len > (size_t)bar_width + 3) {
        int fill =
            total ? (int)((double)bar_width * (double)(done < total ? done : total) / (double)total)
                  : bar_width;
        buf[o++] = '[';
        for (int i = 0; i < bar_width; i++)
            buf[o++] = i < fill ? '#' : '.';
        buf[o++] = ']';
        buf[o++] = ' ';
        buf[o] = '\0';
    }
    char eta[32], r[32];
    eta_text(eta, sizeof eta, eta_s);
    if (isfinite(rate) && rate > 0)
        snprintf(r, sizeof r, "%.2g/s", rate);
    else
        snprintf(r, sizeof r, "-/s");
    snprintf(buf + o, len - o, "%s %llu/%llu, %s, ETA %s", what, (unsigned long long)done,
             (unsigned long long)total, r, eta);
}

void pwcca_meter_start(pwcca_meter *m, FILE *out, const char *what)
{
    memset(m, 0, sizeof *m);
    m->out = out;
    m->tty = isatty(fileno(out));
    snprintf(m->what, sizeof m->what, "%s", what);
    m->started = m->last_line = mono();
}

/* The rate so far and, unless the caller knows better, the ETA from it. */
static void rate_eta(const pwcca_meter *m, uint64_t done, uint64_t total, double *rate,
                     double *eta_s)
{
    double t = mono() - m->started;
    *rate = t > 0 ? (double)done / t : NAN;
    if (!(*eta_s >= 0))
        *eta_s = *rate > 0 ? (double)(total > done ? total - done : 0) / *rate : NAN;
}

void pwcca_meter_update(pwcca_meter *m, uint64_t done, uint64_t total, double eta_s)
{
    char line[256];
    double rate;
    rate_eta(m, done, total, &rate, &eta_s);
    if (m->tty) {
        pwcca_meter_format(line, sizeof line, 30, m->what, done, total, rate, eta_s);
        fprintf(m->out, "\r%s\033[K", line);
        m->drawn = 1;
    } else {
        double now = mono();
        if (now - m->last_line < PWCCA_METER_LINE_S)
            return;
        pwcca_meter_format(line, sizeof line, 0, m->what, done, total, rate, eta_s);
        fprintf(m->out, "%s\n", line);
        m->last_line = now;
        m->last_done = done;
    }
    fflush(m->out);
}

void pwcca_meter_end(pwcca_meter *m, uint64_t done, uint64_t total)
{
    char line[256];
    double rate, eta = 0;
    rate_eta(m, done, total, &rate, &eta);
    pwcca_meter_format(line, sizeof line, m->tty ? 30 : 0, m->what, done, total, rate, 0);
    fprintf(m->out, "%s%s%s\n", m->tty ? "\r" : "", line, m->tty ? "\033[K" : "");
    fflush(m->out);
}

/* The run's entry in a status answer: by path when given, else by name. */
static json_t *find_run(json_t *status, const char *name, const char *path)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(status, "runs"), i, r)
    {
        const char *k = json_string_value(json_object_get(r, path ? "path" : "name"));
        if (k && strcmp(k, path ? path : name) == 0)
            return r;
    }
    return NULL;
}

static uint64_t count_of(json_t *r, const char *key)
{
    json_t *v = json_object_get(r, key);
    return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

int pwcca_follow_run(const pwcca_opts *o, const char *name, const char *path)
{
    pwcca_meter m = {0};
    char what[128];
    snprintf(what, sizeof what, "%.100s: jobs", name);
    uint64_t done0 = 0, failed0 = 0;
    int first = 1, rc = PWCCA_OK;
    for (;;) {
        json_t *resp = NULL;
        if (pwcca_daemon_call(o, json_pack("{s:s}", "cmd", "status"), &resp) != PWCCA_OK) {
            if (!first && m.drawn)
                fputc('\n', m.out);
            return pwcca_fail("lost the daemon while waiting for run %s", name);
        }
        json_t *r = find_run(resp, name, path);
        if (!r || !json_is_integer(json_object_get(r, "queue"))) {
            json_decref(resp);
            return pwcca_fail(r ? "this pwccad does not report its progress; wait with "
                                  "'pwcca status' instead"
                                : "the daemon no longer watches run %s",
                              name);
        }
        uint64_t done = count_of(r, "jobs_done"), failed = count_of(r, "jobs_failed");
        uint64_t queue = count_of(r, "queue");
        if (first) {
            done0 = done;
            failed0 = failed;
            pwcca_meter_start(&m, stdout, what);
            first = 0;
        }
        json_t *eta = json_object_get(r, "eta_s");
        uint64_t d = done - done0;
        if (queue == 0) {
            pwcca_meter_end(&m, d, d);
            if (failed > failed0) {
                const char *last = json_string_value(json_object_get(resp, "last_error"));
                rc = pwcca_fail("%llu job%s of run %s failed meanwhile%s%s",
                                (unsigned long long)(failed - failed0),
                                failed - failed0 == 1 ? "" : "s", name,
                                last ? "; last error: " : "", last ? last : "");
            }
            json_decref(resp);
            return rc;
        }
        pwcca_meter_update(&m, d, d + queue, json_is_number(eta) ? json_number_value(eta) : NAN);
        json_decref(resp);
        struct timespec tick = {0, (long)(PWCCA_FOLLOW_POLL_S * 1e9)};
        nanosleep(&tick, NULL);
    }
}
