/* main.c -- pwccad's entry point: parse the command line, then run the daemon.
 *
 * Exit status: 0 after a clean stop, 1 on a fatal error, 2 on a usage error,
 * 78 (PWD_EXIT_DB_TOO_NEW) when the database was written by a newer pwccad. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "pw_args.h"
#include "pw_paths.h"

static const char usage[] =
    "Usage: pwccad [OPTION]...\n"
    "Watch training runs' checkpoint directories and compute per-layer PWCCA as\n"
    "checkpoints arrive; store the time series in SQLite and raise alerts.\n"
    "\n"
    "  --watch [NAME=]ROOT\n"
    "                    every subdirectory of ROOT is a run (repeatable); NAME names\n"
    "                    the root in a shared store (default: ROOT's basename)\n"
    "  --run DIR         DIR itself is a run (repeatable)\n"
    "  --db FILE         database (default: $PWCCAD_DB, $STATE_DIRECTORY/pwccad.db,\n"
    "                    ~/.local/state/pwccad/pwccad.db)\n"
    "  --socket PATH     control socket (default: $PWCCAD_SOCKET,\n"
    "                    $RUNTIME_DIRECTORY/pwccad.sock, $XDG_RUNTIME_DIR/pwccad.sock)\n"
    "  --config FILE     INI configuration (see docs/CONFIG.md)\n"
    "  --metrics ADDR:PORT\n"
    "                    serve Prometheus metrics at http://ADDR:PORT/metrics (off by\n"
    "                    default; a bare PORT means 127.0.0.1; keep it on loopback\n"
    "                    unless you mean to expose it: no TLS, no authentication)\n"
    "  --http ADDR:PORT  serve the dashboard at http://ADDR:PORT/ (and /metrics there\n"
    "                    too); a bare PORT means 127.0.0.1 (docs/DASHBOARD.md)\n"
    "  --lease SECONDS   on a database several daemons share (PostgreSQL): how long a\n"
    "                    silent daemon's claimed work stays its own (default 30)\n"
    "  --foreground      stay in the foreground (always true under systemd)\n"
    "  -h, --help        show this help and exit\n"
    "  -V, --version     show the version and exit\n";

static int usage_error(const char *what, const char *arg)
{
    fprintf(stderr, "pwccad: %s%s\nTry 'pwccad --help' for more information.\n", what, arg);
    return 2;
}

/* What an option does. */
typedef enum pwd_opt_kind {
    PWD_OPT_HELP,       /* print the usage, exit 0 */
    PWD_OPT_VERSION,    /* print the version, exit 0 */
    PWD_OPT_FOREGROUND, /* do not detach */
    PWD_OPT_CONFIG,     /* the INI file to load */
    PWD_OPT_KEY         /* sets a configuration key over the file's */
} pwd_opt_kind;

/* The command line, one row per option (lib/pw_args.h); "metrics" is the
 * per-run list of metrics computed, so --metrics sets metrics_listen. */
static const pw_arg_spec options[] = {
    {"help", 'h', 0, PWD_OPT_HELP, NULL},
    {"version", 'V', 0, PWD_OPT_VERSION, NULL},
    {"foreground", 0, 0, PWD_OPT_FOREGROUND, NULL},
    {"watch", 0, 1, PWD_OPT_KEY, "watch"},
    {"run", 0, 1, PWD_OPT_KEY, "run"},
    {"db", 0, 1, PWD_OPT_KEY, "db"},
    {"socket", 0, 1, PWD_OPT_KEY, "socket"},
    {"config", 0, 1, PWD_OPT_CONFIG, NULL},
    {"metrics", 0, 1, PWD_OPT_KEY, "metrics_listen"},
    {"http", 0, 1, PWD_OPT_KEY, "http_listen"},
    {"lease", 0, 1, PWD_OPT_KEY, "lease"},
    {NULL, 0, 0, 0, NULL},
};

int main(int argc, char **argv)
{
    static pwd_daemon d;
    int foreground = 0;
    pw_err err;
    pw_config_defaults(&d.cfg);
    pw_config_defaults(&d.flags);
    pw_args p;
    pw_args_rc got;
    pw_args_init(&p, argc, argv, 1, options);
    while ((got = pw_args_next(&p)) == PW_ARGS_OPTION) {
        const pw_arg_spec *o = &options[p.opt];
        const char *v = p.value;
        if (o->id == PWD_OPT_HELP) {
            fputs(usage, stdout);
            return 0;
        }
        if (o->id == PWD_OPT_VERSION) {
            printf("pwccad %s\n", PW_VERSION);
            return 0;
        }
        if (o->id == PWD_OPT_FOREGROUND) {
            foreground = 1;
        } else if (o->id == PWD_OPT_CONFIG) {
            if (snprintf(d.config_path, sizeof d.config_path, "%s", v) >= (int)sizeof d.config_path)
                return usage_error("--config path too long: ", v);
        } else if (pw_config_set(&d.flags, o->data, v, &err)) {
            return usage_error("", err.msg);
        }
    }
    if (got == PW_ARGS_ERROR)
        return usage_error("", p.msg);
    if (p.first_pos < argc)
        return usage_error("unexpected argument: ", argv[p.first_pos]);
    if (d.config_path[0] && pw_config_load(&d.cfg, d.config_path, &err)) {
        fprintf(stderr, "pwccad: %s\n", err.msg);
        return 2;
    }
    pwd_apply_flags(&d.cfg, &d.flags);
    if (!d.cfg.nwatch && !d.cfg.nruns)
        return usage_error("nothing to watch: give --watch ROOT or --run DIR", "");
    if (pw_paths_db(d.cfg.db[0] ? d.cfg.db : NULL, d.db_path, sizeof d.db_path, &err) ||
        pw_paths_socket(d.cfg.socket[0] ? d.cfg.socket : NULL, d.sock_path, sizeof d.sock_path,
                        &err)) {
        fprintf(stderr, "pwccad: %s\n", err.msg);
        return 1;
    }
    /* Under systemd (or when asked) stay put; otherwise detach like a classic daemon,
     * keeping stderr so the log still goes somewhere visible. */
    /* A daemon that execs itself to reopen its database is already detached. */
    if (!foreground && !getenv("NOTIFY_SOCKET") && !getenv("INVOCATION_ID") &&
        !getenv(PWD_REOPEN_ENV) && daemon(1, 1) != 0) {
        perror("pwccad: daemon");
        return 1;
    }
    d.argv = argv;
    int rc = pwd_daemon_run(&d);
    pw_config_free(&d.cfg);
    pw_config_free(&d.flags);
    return rc;
}
