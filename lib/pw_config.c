/* pw_config.c -- defaults, INI parsing through libinih, per-run overrides (see pw_config.h).
 *
 * libinih calls handler() once per key; handler returns 0 for an unknown key
 * or a bad value, and ini_parse reports the line of the first such error, so
 * every message can say file:line. */
#include "pw_config.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <ini.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pw_engine.h"
#include "pw_limits.h"
#include "pw_metric.h"
#include "pw_metrics_http.h"
#include "pw_paths.h"
#include "pw_plan.h"
#include "pw_retain.h"

_Static_assert(PW_CFG_MAX_LINE + 3 <= INI_MAX_LINE, "a line must fit libinih's line buffer");

/* What handler() needs to report an error. */
typedef struct cfg_parse {
    pw_config *cfg;        /* being filled */
    char first_error[512]; /* what was wrong on the first bad line, "" when none */
} cfg_parse;

void pw_config_defaults(pw_config *c)
{
    memset(c, 0, sizeof *c);
    c->rescan_s = PW_CFG_DEFAULT_RESCAN_S;
    c->cache_bytes = (uint64_t)PW_CFG_DEFAULT_CACHE_MB << 20;
    c->memory_bytes = (uint64_t)PW_CFG_DEFAULT_MEMORY_MB << 20;
    c->socket_idle_s = PW_CFG_DEFAULT_SOCK_IDLE_S;
    c->retain_budget_bytes = (uint64_t)PW_CFG_DEFAULT_RETAIN_MB << 20;
    c->hook_timeout_s = PW_CFG_DEFAULT_HOOK_TIMEOUT;
    c->blas_threads = PW_CFG_DEFAULT_BLAS_THREADS;
    c->log_level = 2;
    c->defaults.settle_s = PW_CFG_DEFAULT_SETTLE_S;
    c->defaults.incomplete_s = PW_CFG_DEFAULT_INCOMPLETE_S;
    c->defaults.metrics = PW_M_ALL;
    c->defaults.reduce.kind = PW_REDUCE_AUTO;
    c->defaults.stab.theta = PW_STAB_DEFAULT_THETA;
    c->defaults.stab.k = PW_STAB_DEFAULT_K;
    c->defaults.stab.hysteresis = PW_STAB_DEFAULT_HYSTERESIS;
    c->defaults.stab.rule = PW_STAB_RULE_THRESHOLD;
    c->defaults.stab.z = PW_STAB_DEFAULT_Z;
    c->defaults.chance = 1;
}

void pw_config_free(pw_config *c)
{
    free(c->overrides);
    c->overrides = NULL;
    c->noverrides = 0;
}

int pw_config_log_level(const char *name)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

static int parse_double(const char *v, double lo, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v || *end != '\0' || !isfinite(d) || d < lo)
        return -1;
    *out = d;
    return 0;
}

/* A duration, at most PW_CFG_MAX_SECONDS so that the daemon's conversions
 * to milliseconds cannot overflow. */
static int parse_seconds(const char *v, double lo, double *out)
{
    double d;
    if (parse_double(v, lo, &d) || d > PW_CFG_MAX_SECONDS)
        return -1;
    *out = d;
    return 0;
}

static int parse_int(const char *v, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end != '\0' || n < lo || n > hi)
        return -1;
    *out = n;
    return 0;
}

static int copy_str(char *dst, size_t len, const char *v)
{
    return snprintf(dst, len, "%s", v) < (int)len ? 0 : -1;
}

/* Split a hook command on blanks into argv (no shell, no quoting). */
static int split_hook(pw_config *c, const char *v)
{
    c->nhook = 0;
    const char *p = v;
    for (;;) {
        p += strspn(p, " \t");
        if (!*p)
            return 0;
        size_t n = strcspn(p, " \t");
        if (c->nhook == PW_CFG_MAX_LIST || n >= PW_CFG_MAX_PATH)
            return -1;
        memcpy(c->hook[c->nhook], p, n);
        c->hook[c->nhook][n] = '\0';
        c->nhook++;
        p += n;
    }
}

/* A per-run key; returns 1 when key is one, 0 when not, -1 when the value is bad. */
static int set_run_key(pw_run_config *r, const char *key, const char *v, char *why, size_t wlen)
{
    double d;
    long n;
    if (strcmp(key, "pattern") == 0) {
        if (copy_str(r->pattern, sizeof r->pattern, v))
            return snprintf(why, wlen, "pattern is too long"), -1;
    } else if (strcmp(key, "settle_time") == 0) {
        if (parse_seconds(v, 0, &d))
            return snprintf(why, wlen, "settle_time must be seconds from 0 to %.0f, not '%s'",
                            PW_CFG_MAX_SECONDS, v),
                   -1;
        r->settle_s = d;
    } else if (strcmp(key, "incomplete_timeout") == 0) {
        if (parse_seconds(v, 0, &d))
            return snprintf(why, wlen,
                            "incomplete_timeout must be seconds from 0 to %.0f, not '%s'",
                            PW_CFG_MAX_SECONDS, v),
                   -1;
        r->incomplete_s = d;
    } else if (strcmp(key, "metrics") == 0) {
        pw_err e;
        if (pw_metric_set_parse(v, &r->metrics, &e))
            return snprintf(why, wlen, "metrics must list metric names, comma separated: %.300s",
                            e.msg),
                   -1;
    } else if (strcmp(key, "stable_threshold") == 0) {
        if (parse_double(v, 0, &d))
            return snprintf(why, wlen, "stable_threshold must be a distance >= 0, not '%s'", v), -1;
        r->stab.theta = d;
    } else if (strcmp(key, "stable_count") == 0) {
        if (parse_int(v, 1, 1000000, &n))
            return snprintf(why, wlen, "stable_count must be an integer >= 1, not '%s'", v), -1;
        r->stab.k = (int)n;
    } else if (strcmp(key, "unstable_threshold") == 0) {
        if (parse_double(v, 0, &d))
            return snprintf(why, wlen, "unstable_threshold must be a distance >= 0, not '%s'", v),
                   -1;
        r->stab.hysteresis = d;
    } else if (strcmp(key, "stable_rule") == 0) {
        if (strcmp(v, "threshold") == 0)
            r->stab.rule = PW_STAB_RULE_THRESHOLD;
        else if (strcmp(v, "noise") == 0)
            r->stab.rule = PW_STAB_RULE_NOISE;
        else
            return snprintf(why, wlen, "stable_rule must be threshold or noise, not '%s'", v), -1;
    } else if (strcmp(key, "stable_z") == 0) {
        if (parse_double(v, 0, &d) || d > PW_CFG_MAX_STABLE_Z)
            return snprintf(why, wlen, "stable_z must be a number from 0 to %g, not '%s'",
                            PW_CFG_MAX_STABLE_Z, v),
                   -1;
        r->stab.z = d;
    } else if (strcmp(key, "retain") == 0) {
        pw_retain_mode m;
        if (pw_retain_mode_parse(v, &m))
            return snprintf(why, wlen, "retain must be off, exact, f32 or bf16, not '%s'", v), -1;
        r->retain = (int)m;
    } else if (strcmp(key, "reduce") == 0) {
        pw_err e;
        if (pw_reduce_parse(v, &r->reduce, &e))
            return snprintf(why, wlen, "reduce: %.300s", e.msg), -1;
        r->reduce_set = 1;
    } else if (strcmp(key, "backlog") == 0) {
        if (strcmp(v, "fill") != 0 && strcmp(v, "skip") != 0)
            return snprintf(why, wlen, "backlog must be fill or skip, not '%s'", v), -1;
        r->backlog = strcmp(v, "skip") == 0 ? PW_BACKLOG_SKIP : PW_BACKLOG_FILL;
    } else if (strcmp(key, "noise") == 0) {
        pw_err e;
        if (pw_noise_parse(v, &r->noise, &e))
            return snprintf(why, wlen, "noise: %.300s", e.msg), -1;
        r->noise_set = 1;
    } else if (strcmp(key, "chance") == 0) {
        if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0)
            return snprintf(why, wlen, "chance must be on or off, not '%s'", v), -1;
        r->chance = strcmp(v, "on") == 0;
    } else {
        return 0;
    }
    return 1;
}

/* Where retained copies go and how much disk they may take (global keys). */
static int set_retain_key(pw_config *c, const char *key, const char *v, char *why, size_t wlen)
{
    double d;
    if (strcmp(key, "retain_dir") == 0) {
        if (copy_str(c->retain_dir, sizeof c->retain_dir, v))
            return snprintf(why, wlen, "retain_dir path is too long"), -1;
    } else if (strcmp(key, "retain_budget_mb") == 0) {
        /* Fractions are allowed: small runs (and tests) hold copies of a few KiB. */
        if (parse_double(v, 0, &d) || d > (double)(1ull << 40))
            return snprintf(why, wlen, "retain_budget_mb must be a size in MiB >= 0, not '%s'", v),
                   -1;
        c->retain_budget_bytes = (uint64_t)(d * 1048576.0);
    } else {
        return 0;
    }
    return 1;
}

/* One `watch` value: "NAME=DIR" names the root, else the whole value is DIR and the
 * name is DIR's basename.  The prefix is a name only when it passes
 * pw_root_name_check and what follows '=' is an absolute path, so a directory
 * whose path holds '=' ("/data/lr=0.1", "runs=old/x") is still watched whole.
 * Runs are identified by (root name, directory under it) in a shared store,
 * so two roots of one configuration may not share a name. */
static int set_watch(pw_config *c, const char *v, char *why, size_t wlen)
{
    char name[PW_ROOT_NAME_MAX];
    const char *eq = strchr(v, '='), *dir = v;
    pw_err e;
    if (eq && eq[1] == '/' && (size_t)(eq - v) < sizeof name) {
        memcpy(name, v, (size_t)(eq - v));
        name[eq - v] = '\0';
        if (pw_root_name_check(name, &e) == 0)
            dir = eq + 1;
    }
    if (dir == v) {
        /* The basename, trailing slashes aside; "/" names itself. */
        size_t n = strlen(v);
        while (n > 1 && v[n - 1] == '/')
            n--;
        size_t b = n;
        while (b > 0 && v[b - 1] != '/')
            b--;
        if (b == n)
            b = 0;
        if (n - b >= sizeof name)
            return snprintf(why, wlen, "watch: the directory's name is too long to name its root"),
                   -1;
        memcpy(name, v + b, n - b);
        name[n - b] = '\0';
    }
    for (size_t i = 0; i < c->nwatch; i++)
        if (strcmp(c->watch_name[i], name) == 0)
            return snprintf(why, wlen,
                            "watch: two roots named '%.64s' (%.120s and %.120s); name them "
                            "apart: watch = NAME=DIR",
                            name, c->watch[i], dir),
                   -1;
    if (copy_str(c->watch[c->nwatch], PW_CFG_MAX_PATH, dir))
        return snprintf(why, wlen, "watch path is too long"), -1;
    memcpy(c->watch_name[c->nwatch], name, sizeof name);
    c->nwatch++;
    return 1;
}

static int set_global_key(pw_config *c, const char *key, const char *v, char *why, size_t wlen)
{
    double d;
    long n;
    int r = set_run_key(&c->defaults, key, v, why, wlen);
    if (!r)
        r = set_retain_key(c, key, v, why, wlen);
    if (r)
        return r;
    if (strcmp(key, "db") == 0 || strcmp(key, "socket") == 0) {
        char *dst = key[0] == 'd' ? c->db : c->socket;
        if (copy_str(dst, PW_CFG_MAX_PATH, v))
            return snprintf(why, wlen, "%s path is too long", key), -1;
    } else if (strcmp(key, "db_url") == 0) {
        /* A PostgreSQL database (docs/DAEMON.md, "PostgreSQL"): what db holds,
         * but checked to be a URI, so a typo is not taken for a file name. */
        if (!pw_paths_is_pg(v))
            return snprintf(why, wlen, "db_url must be a postgresql:// or postgres:// URI"), -1;
        if (copy_str(c->db, PW_CFG_MAX_PATH, v))
            return snprintf(why, wlen, "db_url is too long"), -1;
    } else if (strcmp(key, "metrics_listen") == 0) {
        /* Checked here, so a typo is a configuration error (exit 2), not a failed start. */
        struct sockaddr_storage sa;
        pw_err e;
        if (v[0] && pw_metrics_http_parse_addr(v, &sa, &e))
            return snprintf(why, wlen, "metrics_listen: %.300s", e.msg), -1;
        if (copy_str(c->metrics_listen, sizeof c->metrics_listen, v))
            return snprintf(why, wlen, "metrics_listen is too long"), -1;
    } else if (strcmp(key, "http_listen") == 0) {
        /* The dashboard's address, checked like metrics_listen's. */
        struct sockaddr_storage sa;
        pw_err e;
        if (v[0] && pw_metrics_http_parse_addr(v, &sa, &e))
            return snprintf(why, wlen, "http_listen: %.300s", e.msg), -1;
        if (copy_str(c->http_listen, sizeof c->http_listen, v))
            return snprintf(why, wlen, "http_listen is too long"), -1;
    } else if (strcmp(key, "http_token_file") == 0) {
        if (copy_str(c->http_token_file, sizeof c->http_token_file, v))
            return snprintf(why, wlen, "http_token_file path is too long"), -1;
    } else if (strcmp(key, "watch") == 0) {
        if (c->nwatch == PW_CFG_MAX_LIST)
            return snprintf(why, wlen, "more than %d %s entries", PW_CFG_MAX_LIST, key), -1;
        return set_watch(c, v, why, wlen);
    } else if (strcmp(key, "run") == 0) {
        if (c->nruns == PW_CFG_MAX_LIST)
            return snprintf(why, wlen, "more than %d %s entries", PW_CFG_MAX_LIST, key), -1;
        if (copy_str(c->runs[c->nruns], PW_CFG_MAX_PATH, v))
            return snprintf(why, wlen, "%s path is too long", key), -1;
        c->nruns++;
    } else if (strcmp(key, "rescan_interval") == 0) {
        if (parse_seconds(v, 0.05, &d))
            return snprintf(why, wlen,
                            "rescan_interval must be seconds from 0.05 to %.0f, not '%s'",
                            PW_CFG_MAX_SECONDS, v),
                   -1;
        c->rescan_s = d;
    } else if (strcmp(key, "lease") == 0) {
        if (parse_seconds(v, PW_CFG_MIN_LEASE_S, &d) || d > PW_CFG_MAX_LEASE_S)
            return snprintf(why, wlen, "lease must be seconds from %.0f to %.0f, not '%s'",
                            PW_CFG_MIN_LEASE_S, PW_CFG_MAX_LEASE_S, v),
                   -1;
        c->lease_s = d;
    } else if (strcmp(key, "workers") == 0 || strcmp(key, "blas_threads") == 0) {
        if (parse_int(v, 0, 256, &n))
            return snprintf(why, wlen, "%s must be an integer 0..256 (0 = auto), not '%s'", key, v),
                   -1;
        *(key[0] == 'w' ? &c->workers : &c->blas_threads) = (int)n;
    } else if (strcmp(key, "socket_idle_timeout") == 0) {
        if (parse_seconds(v, 0.1, &d))
            return snprintf(why, wlen,
                            "socket_idle_timeout must be seconds from 0.1 to %.0f, not '%s'",
                            PW_CFG_MAX_SECONDS, v),
                   -1;
        c->socket_idle_s = d;
    } else if (strcmp(key, "cache_mb") == 0) {
        if (parse_int(v, 0, 1L << 30, &n))
            return snprintf(why, wlen, "cache_mb must be a size in MiB >= 0, not '%s'", v), -1;
        c->cache_bytes = (uint64_t)n << 20;
    } else if (strcmp(key, "memory_mb") == 0) {
        if (parse_int(v, 0, 1L << 30, &n))
            return snprintf(why, wlen,
                            "memory_mb must be a size in MiB >= 0 (0 = no limit), not '%s'", v),
                   -1;
        c->memory_bytes = (uint64_t)n << 20;
    } else if (strcmp(key, "hook") == 0) {
        if (split_hook(c, v))
            return snprintf(why, wlen, "hook has too many or too long words"), -1;
    } else if (strcmp(key, "hook_timeout") == 0) {
        if (parse_seconds(v, 0.1, &d))
            return snprintf(why, wlen, "hook_timeout must be seconds from 0.1 to %.0f, not '%s'",
                            PW_CFG_MAX_SECONDS, v),
                   -1;
        c->hook_timeout_s = d;
    } else if (strcmp(key, "log_level") == 0) {
        int lvl = pw_config_log_level(v);
        if (lvl < 0)
            return snprintf(why, wlen, "log_level must be error, warning, info or debug"), -1;
        c->log_level = lvl;
    } else if (strcmp(key, "follow_symlinks") == 0) {
        if (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0)
            return snprintf(why, wlen, "follow_symlinks must be yes or no, not '%.64s'", v), -1;
        c->follow_symlinks = v[0] == 'y';
    } else {
        return 0;
    }
    return 1;
}

static pw_run_config *override_for(pw_config *c, const char *name)
{
    for (size_t i = 0; i < c->noverrides; i++)
        if (strcmp(c->overrides[i].name, name) == 0)
            return &c->overrides[i];
    size_t n = c->noverrides;
    if (n == PW_CFG_MAX_RUNS)
        return NULL;
    /* The array only grows here, doubling when n is 0 or a power of two, so
     * 256 sections cost 9 reallocs of ~4 KiB entries rather than 256. */
    if ((n & (n - 1)) == 0) {
        pw_run_config *grown = realloc(c->overrides, (n ? 2 * n : 1) * sizeof *grown);
        if (!grown)
            return NULL;
        c->overrides = grown;
    }
    pw_run_config *r = &c->overrides[c->noverrides++];
    /* Unset fields are marked so pw_config_for_run takes the global value. */
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    r->settle_s = r->incomplete_s = -1;
    r->stab.theta = r->stab.hysteresis = -1;
    r->stab.k = -1;
    r->stab.rule = -1;
    r->stab.z = -1;
    r->retain = -1;
    r->backlog = -1;
    r->chance = -1;
    r->pattern[0] = '\1';
    return r;
}

int pw_group_name_check(const char *name, pw_err *err)
{
    size_t n = strlen(name);
    if (n == 0 || n >= PW_GROUP_NAME_MAX)
        return pw_err_set(err, "group name must be 1 to %d bytes", PW_GROUP_NAME_MAX - 1);
    /* A name that is also safe unquoted in a shell, a URL, a file name and a
     * log line; it is stored as group_scores.group_name. */
    if (name[0] == '.' || name[0] == '-' ||
        strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != n)
        return pw_err_set(err,
                          "group name '%.*s' may hold only letters, digits, '.', '_' and '-', "
                          "and not start with '.' or '-'",
                          PW_GROUP_NAME_MAX, name);
    return 0;
}

int pw_root_name_check(const char *name, pw_err *err)
{
    size_t n = strlen(name);
    if (n == 0 || n >= PW_ROOT_NAME_MAX)
        return pw_err_set(err, "root name must be 1 to %d bytes", PW_ROOT_NAME_MAX - 1);
    /* As a group name: safe unquoted in a shell, a URL and a log line. */
    if (name[0] == '.' || name[0] == '-' ||
        strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != n)
        return pw_err_set(err,
                          "root name '%.*s' may hold only letters, digits, '.', '_' and '-', "
                          "and not start with '.' or '-'",
                          PW_ROOT_NAME_MAX, name);
    return 0;
}

int pw_group_has_run(const pw_group_config *g, const char *run_name)
{
    for (size_t i = 0; i < g->nglobs; i++)
        if (fnmatch(g->globs[i], run_name, 0) == 0)
            return 1;
    return 0;
}

const pw_group_config *pw_config_group(const pw_config *c, const char *name)
{
    for (size_t i = 0; i < c->ngroups; i++)
        if (strcmp(c->groups[i].name, name) == 0)
            return &c->groups[i];
    return NULL;
}

/* A key of a [group NAME] section: only runs = GLOB..., blank-separated, and
 * several runs lines add up.  1, or -1 with why filled (a group has no other
 * key, so an unknown one is an error here). */
static int set_group_key(pw_config *c, const char *name, const char *key, const char *v, char *why,
                         size_t wlen)
{
    pw_err e;
    if (pw_group_name_check(name, &e))
        return snprintf(why, wlen, "%.300s", e.msg), -1;
    if (strcmp(key, "runs") != 0)
        return snprintf(why, wlen, "key '%s' cannot be set in a [group] (only runs)", key), -1;
    pw_group_config *g = NULL;
    for (size_t i = 0; i < c->ngroups && !g; i++)
        if (strcmp(c->groups[i].name, name) == 0)
            g = &c->groups[i];
    if (!g) {
        if (c->ngroups == PW_MAX_GROUPS)
            return snprintf(why, wlen, "too many [group] sections (at most %d)", PW_MAX_GROUPS), -1;
        g = &c->groups[c->ngroups++];
        memset(g, 0, sizeof *g);
        snprintf(g->name, sizeof g->name, "%s", name);
    }
    size_t before = g->nglobs;
    for (const char *p = v;;) {
        p += strspn(p, " \t");
        size_t n = strcspn(p, " \t");
        if (n == 0)
            break;
        if (n >= PW_GROUP_GLOB_MAX)
            return snprintf(why, wlen, "[group %s]: a glob is longer than %d bytes", name,
                            PW_GROUP_GLOB_MAX - 1),
                   -1;
        if (g->nglobs == PW_GROUP_MAX_GLOBS)
            return snprintf(why, wlen, "[group %s]: more than %d globs", name, PW_GROUP_MAX_GLOBS),
                   -1;
        memcpy(g->globs[g->nglobs], p, n);
        g->globs[g->nglobs++][n] = '\0';
        p += n;
    }
    if (g->nglobs == before)
        return snprintf(why, wlen, "[group %s]: runs needs at least one glob ('*': every run)",
                        name),
               -1;
    return 1;
}

static int handler(void *user, const char *section, const char *key, const char *value)
{
    cfg_parse *p = user;
    char why[400] = "";
    int r;
    if (section[0] == '\0' || strcmp(section, "pwccad") == 0) {
        r = set_global_key(p->cfg, key, value, why, sizeof why);
        if (r == 0)
            snprintf(why, sizeof why, "unknown key '%s'", key);
    } else if (strncmp(section, "run ", 4) == 0 && section[4]) {
        pw_run_config *o = override_for(p->cfg, section + 4);
        if (!o) {
            snprintf(why, sizeof why, "too many [run] sections");
            r = -1;
        } else {
            r = set_run_key(o, key, value, why, sizeof why);
            if (r == 0)
                snprintf(why, sizeof why, "key '%s' cannot be set per run", key);
        }
    } else if (strncmp(section, "group ", 6) == 0) {
        r = set_group_key(p->cfg, section + 6, key, value, why, sizeof why);
    } else {
        snprintf(why, sizeof why, "unknown section [%s]", section);
        r = -1;
    }
    if (r == 1)
        return 1;
    if (!p->first_error[0])
        snprintf(p->first_error, sizeof p->first_error, "%s", why);
    return 0;
}

static int finish(pw_config *c, const char *name, int rc, const cfg_parse *p, pw_err *err)
{
    if (rc == -1)
        return pw_err_set(err, "%s: cannot open: %s", name, strerror(errno));
    if (rc == -2)
        return pw_err_set(err, "%s: out of memory", name);
    if (rc > 0)
        return pw_err_set(err, "%s:%d: %s", name, rc,
                          p->first_error[0] ? p->first_error : "syntax error");
    if (pw_stab_params_valid(&c->defaults.stab))
        return pw_err_set(err, "%s: unstable_threshold (%g) must be >= stable_threshold (%g)", name,
                          c->defaults.stab.hysteresis, c->defaults.stab.theta);
    for (size_t i = 0; i < c->noverrides; i++) {
        const pw_run_config *r = pw_config_for_run(c, c->overrides[i].name, "");
        if (pw_stab_params_valid(&r->stab))
            return pw_err_set(err,
                              "%s: [run %s]: unstable_threshold (%g) must be >= "
                              "stable_threshold (%g)",
                              name, c->overrides[i].name, r->stab.hysteresis, r->stab.theta);
    }
    return 0;
}

/* libinih takes " ;" and what follows as a comment, anywhere in a value.
 * In a hook that silently runs a shorter command than the line reads
 * ("hook = notify me ; logger x" runs "notify me"), so a hook line whose
 * value holds one is refused.  line[0..n) starts at the key. */
static int check_hook_line(const char *name, size_t lineno, const char *line, size_t n, pw_err *err)
{
    if (line[0] == ';' || line[0] == '#')
        return 0;
    size_t sep = 0;
    while (sep < n && line[sep] != '=' && line[sep] != ':')
        sep++;
    size_t klen = sep;
    while (klen > 0 && isspace((unsigned char)line[klen - 1]))
        klen--;
    if (sep == n || klen != 4 || memcmp(line, "hook", 4) != 0)
        return 0;
    for (size_t i = sep + 1; i < n; i++)
        if (line[i] == ';' && isspace((unsigned char)line[i - 1]))
            return pw_err_set(err,
                              "%s:%zu: hook: ' ;' would start a comment and cut the command "
                              "short (the hook runs without a shell: put several commands in "
                              "a script and name the script)",
                              name, lineno);
    return 0;
}

/* libinih would read the rest of an over-long line as a line of its own (so
 * a long path could smuggle in a key) and silently cuts long section names
 * (so a [run NAME] section would apply to no run).  Both, and NUL bytes, are
 * refused here with their line number before libinih sees the text.  An
 * indented '[' line is checked as a section even where libinih would take
 * it as a continued value; such a value of 50 bytes is refused too. */
static int check_lines(const char *name, const char *text, size_t len, pw_err *err)
{
    size_t lineno = 1;
    for (size_t i = 0; i < len; lineno++) {
        const char *s = text + i, *nl = memchr(s, '\n', len - i);
        size_t n = nl ? (size_t)(nl - s) : len - i;
        i += n + (nl != NULL);
        if (memchr(s, '\0', n))
            return pw_err_set(err, "%s:%zu: NUL byte in the line", name, lineno);
        if (n && s[n - 1] == '\r')
            n--;
        if (n > PW_CFG_MAX_LINE)
            return pw_err_set(err, "%s:%zu: line is %zu bytes, more than %d", name, lineno, n,
                              PW_CFG_MAX_LINE);
        size_t k = lineno == 1 && n >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
        while (k < n && isspace((unsigned char)s[k]))
            k++;
        if (k == n)
            continue;
        if (s[k] != '[') {
            if (check_hook_line(name, lineno, s + k, n - k, err))
                return -1;
            continue;
        }
        /* libinih's end of a section name: ']', or an inline ';' comment. */
        size_t e = k + 1;
        while (e < n && s[e] != ']' && !(s[e] == ';' && isspace((unsigned char)s[e - 1])))
            e++;
        if (e < n && s[e] == ']' && e - k - 1 > PW_CFG_MAX_SECTION)
            return pw_err_set(err,
                              "%s:%zu: section name is %zu bytes, more than %d (name a run "
                              "by its directory's basename)",
                              name, lineno, e - k - 1, PW_CFG_MAX_SECTION);
    }
    return 0;
}

/* text[len] is a NUL; any earlier NUL is an error. */
static int load_text(pw_config *c, const char *name, const char *text, size_t len, pw_err *err)
{
    if (check_lines(name, text, len, err))
        return -1;
    cfg_parse p = {c, ""};
    int rc = ini_parse_string(text, handler, &p);
    return finish(c, name, rc, &p, err);
}

int pw_config_load(pw_config *c, const char *path, pw_err *err)
{
    /* Read whole, bounded, so the file gets the same line checks as a string.
     * The buffer doubles from 4 KiB: a config file is small. */
    FILE *f = fopen(path, "rb");
    if (!f)
        return pw_err_set(err, "%s: cannot open: %s", path, strerror(errno));
    char *text = NULL;
    size_t cap = 4096, n = 0;
    int oom = 0;
    for (;;) {
        char *grown = realloc(text, cap + 1);
        if (!grown) {
            oom = 1;
            break;
        }
        text = grown;
        n += fread(text + n, 1, cap - n, f);
        if (n < cap || cap > PW_CFG_MAX_FILE)
            break;
        cap *= 2;
    }
    int read_errno = ferror(f) ? errno : 0;
    fclose(f);
    int rc = -1;
    if (oom) {
        pw_err_set(err, "%s: out of memory", path);
    } else if (read_errno) {
        pw_err_set(err, "%s: cannot read: %s", path, strerror(read_errno));
    } else if (n > PW_CFG_MAX_FILE) {
        pw_err_set(err, "%s: more than %u bytes", path, PW_CFG_MAX_FILE);
    } else {
        text[n] = '\0';
        rc = load_text(c, path, text, n, err);
    }
    free(text);
    return rc;
}

int pw_config_load_string(pw_config *c, const char *name, const char *text, pw_err *err)
{
    return load_text(c, name, text, strlen(text), err);
}

int pw_config_set(pw_config *c, const char *key, const char *value, pw_err *err)
{
    char why[400] = "";
    int r = set_global_key(c, key, value, why, sizeof why);
    if (r == 0)
        return pw_err_set(err, "unknown key '%s'", key);
    if (r < 0)
        return pw_err_set(err, "%s", why);
    return 0;
}

const pw_run_config *pw_config_for_run(const pw_config *c, const char *name, const char *path)
{
    /* Thread-unsafe by design: only the loop thread asks.  The merged view
     * lives in a static so callers need not free it. */
    static pw_run_config merged;
    const pw_run_config *o = NULL;
    for (size_t i = 0; i < c->noverrides; i++)
        if (strcmp(c->overrides[i].name, name) == 0 || strcmp(c->overrides[i].name, path) == 0)
            o = &c->overrides[i];
    if (!o)
        return &c->defaults;
    merged = c->defaults;
    snprintf(merged.name, sizeof merged.name, "%s", o->name);
    if (o->pattern[0] != '\1')
        memcpy(merged.pattern, o->pattern, sizeof merged.pattern);
    if (o->settle_s >= 0)
        merged.settle_s = o->settle_s;
    if (o->incomplete_s >= 0)
        merged.incomplete_s = o->incomplete_s;
    if (o->metrics)
        merged.metrics = o->metrics;
    if (o->stab.theta >= 0)
        merged.stab.theta = o->stab.theta;
    if (o->stab.hysteresis >= 0)
        merged.stab.hysteresis = o->stab.hysteresis;
    if (o->stab.k >= 1)
        merged.stab.k = o->stab.k;
    if (o->stab.rule >= 0)
        merged.stab.rule = o->stab.rule;
    if (o->stab.z >= 0)
        merged.stab.z = o->stab.z;
    if (o->retain >= 0)
        merged.retain = o->retain;
    if (o->reduce_set)
        merged.reduce = o->reduce;
    if (o->backlog >= 0)
        merged.backlog = o->backlog;
    if (o->noise_set)
        merged.noise = o->noise;
    if (o->chance >= 0)
        merged.chance = o->chance;
    return &merged;
}
