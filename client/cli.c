/* cli.c -- shared helpers of the query subcommands (see cli.h). */
#include "cli.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pw_args.h"
#include "pw_array.h"
#include "pw_limits.h"
#include "pw_metric.h"
#include "pw_paths.h"
#include "pw_plot.h"
#include "sock.h"

int pwcca_fail(const char *fmt, ...)
{
    char msg[2 * PW_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "pwcca: %s\n", msg);
    return PWCCA_ERROR;
}

int pwcca_usage(const char *cmd, const char *fmt, ...)
{
    char msg[2 * PW_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "pwcca %s: %s\nTry 'pwcca %s --help'.\n", cmd, msg, cmd);
    return PWCCA_USAGE;
}

size_t pwcca_unmeasured_text(const pw_layer_info *ls, size_t n, char *buf, size_t len)
{
    size_t count = 0, used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (ls[i].measured)
            continue;
        count++;
        if (used + 4 >= len)
            continue;
        int w = snprintf(buf + used, len - used, "%s%s (%s)", used ? ", " : "", ls[i].name,
                         ls[i].prev_status ? ls[i].prev_status : "no score yet");
        if (w < 0 || (size_t)w >= len - used) {
            snprintf(buf + (len - 4), 4, "...");
            used = len;
        } else {
            used += (size_t)w;
        }
    }
    return count;
}

int pwcca_open(const pwcca_opts *o, pw_query **q)
{
    char path[PW_PATH_MAX];
    pw_err err = {""};
    if (pw_paths_db(o->db, path, sizeof path, &err) != 0 || pw_query_open(path, q, &err) != 0)
        return pwcca_fail("%s", err.msg);
    return PWCCA_OK;
}

int pwcca_open_run(const pwcca_opts *o, const char *name, pw_query **q, pw_run_info *run)
{
    pw_err err = {""};
    if (pwcca_open(o, q) != PWCCA_OK)
        return PWCCA_ERROR;
    if (pw_query_find_run(*q, name, run, &err) != 0) {
        pw_query_close(*q);
        *q = NULL;
        return pwcca_fail("%s", err.msg);
    }
    return PWCCA_OK;
}

int pwcca_daemon_call(const pwcca_opts *o, json_t *req, json_t **resp)
{
    char path[256];
    pw_err err = {""};
    *resp = NULL;
    int rc = req && pwcca_sock_path(o->socket, path, sizeof path, &err) == 0 &&
                     pwcca_sock_call(path, req, resp, &err) == 0
                 ? PWCCA_OK
                 : pwcca_fail("%s", req ? err.msg : "out of memory");
    json_decref(req);
    return rc;
}

int pwcca_run_call(const pwcca_opts *o, const char *cmd, const char *run, const char *key,
                   int64_t value, json_t **resp, char **abs)
{
    *abs = strchr(run, '/') ? realpath(run, NULL) : NULL;
    json_t *req = json_pack("{s:s,s:s}", "cmd", cmd, "run", *abs ? *abs : run);
    if (req && key && value >= 0)
        json_object_set_new(req, key, json_integer(value));
    return pwcca_daemon_call(o, req, resp);
}

int pwcca_choice(const char *arg, const char *const *choices)
{
    for (int i = 0; choices[i]; i++)
        if (strcmp(arg, choices[i]) == 0)
            return i;
    return -1;
}

int pwcca_parse_step(const char *arg, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(arg, &end, 10);
    if (errno || end == arg || *end || v < 0)
        return -1;
    *out = v;
    return 0;
}

int pwcca_parse_double(const char *arg, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    if (errno || end == arg || *end || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

/* "a, b or c" for a complaint about a choice. */
static void choices_text(char *buf, size_t len, const char *const *choices)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; choices[i] && used < len; i++) {
        const char *sep = i == 0 ? "" : choices[i + 1] ? ", " : " or ";
        int w = snprintf(buf + used, len - used, "%s%s", sep, choices[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

/* Check and store one option's value; PWCCA_USAGE (printed) when it is bad. */
static int store_arg(const char *cmd, const pwcca_arg *a, const char *value)
{
    char words[256];
    int i;
    switch (a->kind) {
    case PWCCA_ARG_FLAG:
        *(int *)a->out = 1;
        return -1;
    case PWCCA_ARG_CHOICE:
        if ((i = pwcca_choice(value, a->choices)) >= 0) {
            *(int *)a->out = i;
            return -1;
        }
        choices_text(words, sizeof words, a->choices);
        return pwcca_usage(cmd, "--%s must be %s, not '%s'", a->name, words, value);
    case PWCCA_ARG_STEP:
        if (pwcca_parse_step(value, (int64_t *)a->out) == 0)
            return -1;
        return pwcca_usage(cmd, "--%s must be a step number >= 0, not '%s'", a->name, value);
    case PWCCA_ARG_DISTANCE: {
        double v;
        if (pwcca_parse_double(value, &v) == 0 && v >= 0) {
            *(double *)a->out = v;
            return -1;
        }
        return pwcca_usage(cmd, "--%s must be a distance >= 0, not '%s'", a->name, value);
    }
    case PWCCA_ARG_TEXT:
        *(const char **)a->out = value;
        return -1;
    case PWCCA_ARG_TEXTS: {
        pwcca_texts *t = a->out;
        t->v[t->n++] = value;
        return -1;
    }
    case PWCCA_ARG_METRICS: {
        pw_err err = {""};
        if (pw_metric_set_parse(value, (unsigned *)a->out, &err) == 0)
            return -1;
        return pwcca_usage(cmd, "%s", err.msg);
    }
    case PWCCA_ARG_MIB: {
        char *end;
        errno = 0;
        unsigned long long mb = strtoull(value, &end, 10);
        /* strtoull takes "-3" as a huge number: refuse a sign outright. */
        if (errno || end == value || *end || value[0] == '-' || mb > PWCCA_MAX_MIB)
            return pwcca_usage(cmd, "--%s must be a size in MiB, not '%s'", a->name, value);
        *(uint64_t *)a->out = (uint64_t)mb << 20;
        return -1;
    }
    }
    assert(!"unknown option kind");
    return PWCCA_USAGE;
}

int pwcca_parse_args(int argc, char **argv, const char *help, const pwcca_arg *args, int min_pos,
                     int max_pos, const char *pos_name, int *first_pos)
{
    pw_arg_spec specs[PWCCA_MAX_OPTIONS + 2];
    size_t nargs = 0;
    for (; args[nargs].name; nargs++) {
        const pwcca_arg *a = &args[nargs];
        assert(nargs < PWCCA_MAX_OPTIONS);
        specs[nargs] = (pw_arg_spec){a->name, a->short_name, a->kind != PWCCA_ARG_FLAG, 0, NULL};
        if (a->kind == PWCCA_ARG_TEXTS) {
            /* At most argc values: the array cannot overflow. */
            pwcca_texts *t = a->out;
            t->n = 0;
            if (!(t->v = calloc((size_t)argc, sizeof *t->v)))
                return pwcca_fail("out of memory");
        }
    }
    specs[nargs] = (pw_arg_spec){"help", 'h', 0, 0, NULL};
    specs[nargs + 1] = (pw_arg_spec){NULL, 0, 0, 0, NULL};

    pw_args p;
    pw_args_rc got;
    int rc = -1;
    pw_args_init(&p, argc, argv, 1, specs);
    while (rc < 0 && (got = pw_args_next(&p)) != PW_ARGS_END) {
        if (got == PW_ARGS_ERROR)
            rc = pwcca_usage(argv[0], "%s", p.msg);
        else if (p.opt == nargs) {
            fputs(help, stdout);
            rc = PWCCA_OK;
        } else {
            rc = store_arg(argv[0], &args[p.opt], p.value ? p.value : "");
        }
    }
    int npos = argc - p.first_pos;
    if (rc < 0 && npos > max_pos)
        rc = max_pos == 0 ? pwcca_usage(argv[0], "unexpected argument '%s'", argv[p.first_pos])
             : max_pos == 1
                 ? pwcca_usage(argv[0], "expects %s %s", min_pos ? "one" : "at most one", pos_name)
                 : pwcca_usage(argv[0], "expects at most %d %ss", max_pos, pos_name);
    else if (rc < 0 && npos < min_pos)
        rc = min_pos > 1 ? pwcca_usage(argv[0], "expects %d %ss", min_pos, pos_name)
                         : pwcca_usage(argv[0], "which %s?", pos_name);
    if (rc >= 0)
        for (size_t i = 0; i < nargs; i++)
            if (args[i].kind == PWCCA_ARG_TEXTS) {
                pwcca_texts *t = args[i].out;
                free(t->v);
                t->v = NULL;
                t->n = 0;
            }
    *first_pos = p.first_pos;
    return rc;
}

static int print_json(json_t *v, size_t flags)
{
    if (!v)
        return pwcca_fail("out of memory building JSON");
    int rc = json_dumpf(v, stdout, flags | JSON_REAL_PRECISION(17));
    json_decref(v);
    if (rc != 0 || fputc('\n', stdout) == EOF || fflush(stdout) != 0)
        return pwcca_fail("cannot write to standard output: %s", strerror(errno));
    return PWCCA_OK;
}

int pwcca_print_json(json_t *v)
{
    return print_json(v, JSON_INDENT(2));
}

int pwcca_print_json_line(json_t *v)
{
    return print_json(v, JSON_COMPACT);
}

const char *pwcca_fmt_real(char *buf, size_t len, double v)
{
    if (isnan(v))
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%.6g", v);
    return buf;
}

const char *pwcca_fmt_step(char *buf, size_t len, int64_t v)
{
    if (v == PW_QUERY_NO_STEP)
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%" PRId64, v);
    return buf;
}

const char *pwcca_fmt_time(char *buf, size_t len, double t)
{
    time_t s = (time_t)t;
    struct tm tm;
    if (!isfinite(t) || !gmtime_r(&s, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, len, "-");
    return buf;
}

void pwcca_csv_field(FILE *f, const char *s)
{
    if (!s)
        return;
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* ---- tables --------------------------------------------------------------- */

int pwcca_table_init(pwcca_table *t, size_t ncols, const char *const *header, unsigned right)
{
    assert(ncols > 0); /* every table has a header */
    memset(t, 0, sizeof *t);
    t->ncols = ncols;
    t->right = right;
    return pwcca_table_row(t, header);
}

int pwcca_table_row(pwcca_table *t, const char *const *cells)
{
    char **c = pw_grow(t->cells, &t->cap, (t->nrows + 1) * t->ncols, sizeof *c, 64 * t->ncols);
    if (!c)
        return -1;
    t->cells = c;
    for (size_t i = 0; i < t->ncols; i++) {
        const char *s = cells[i] ? cells[i] : "-";
        char *d = strdup(s);
        if (!d) {
            while (i-- > 0)
                free(t->cells[t->nrows * t->ncols + i]);
            return -1;
        }
        /* Control characters would reach the terminal: show them as '?'. */
        for (char *p = d; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = '?';
        t->cells[t->nrows * t->ncols + i] = d;
    }
    t->nrows++;
    return 0;
}

/* Display columns of a UTF-8 string (code points; continuation bytes skipped). */
static size_t width_of(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

void pwcca_table_print(pwcca_table *t, FILE *f)
{
    size_t *w = calloc(t->ncols ? t->ncols : 1, sizeof *w);
    if (!w) {
        pwcca_table_free(t);
        return;
    }
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            size_t n = width_of(t->cells[r * t->ncols + c]);
            w[c] = n > w[c] ? n : w[c];
        }
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            size_t pad = w[c] - width_of(s);
            int last = c + 1 == t->ncols;
            if (t->right & (1u << c))
                fprintf(f, "%*s%s", (int)pad, "", s);
            else
                fprintf(f, "%s%*s", s, last ? 0 : (int)pad, "");
            fputs(last ? "\n" : "  ", f);
        }
    }
    free(w);
    pwcca_table_free(t);
}

void pwcca_table_free(pwcca_table *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof *t);
}

/* ---- progress ------------------------------------------------------------- */

static int progress_shown; /* a progress line is on stderr */

void pwcca_progress(void *what, size_t rows)
{
    if (rows < 4096 || !isatty(STDERR_FILENO))
        return;
    fprintf(stderr, "\rpwcca: reading %s... %zu rows", what ? (const char *)what : "rows", rows);
    fflush(stderr);
    progress_shown = 1;
}

void pwcca_progress_done(void)
{
    if (progress_shown)
        fputs("\r\x1b[K", stderr);
    progress_shown = 0;
}
