/* cmd_forget.c -- `pwcca forget RUN`: remove a run and all its history on purpose.
 *
 * Deleting checkpoint files or a whole run directory never deletes history:
 * pwccad marks the checkpoints absent (checkpoints.present = 0) and keeps every
 * score.  This is the one way to drop a run, and it is explicit.
 *
 * It works on the database directly, and only while no pwccad answers on the
 * socket: a running daemon holds the run's checkpoints, layers and alert state
 * in memory and would write rows for a run that no longer exists (or score the
 * directory again).  So: stop pwccad, forget, start it.  An ambiguous name (two
 * roots with a run of that name) is refused like everywhere else: name it by
 * path. */
#include <stdio.h>
#include <sys/stat.h>

#include "cli.h"
#include "pw_limits.h"
#include "pw_paths.h"
#include "pw_store.h"
#include "sock.h"

static const char help[] =
    "Usage: pwcca forget RUN\n"
    "Remove RUN (its name or directory) from the database: its checkpoints,\n"
    "layers, scores and alerts.  Deleting files never does this; pwccad keeps\n"
    "the history of deleted checkpoints and runs.  Works on the database\n"
    "directly, so pwccad must be stopped (it is refused while a daemon answers\n"
    "on the socket).  A name two runs share is refused: name the run by path.\n"
    "\n"
    "  -h, --help   show this help\n";

/* 1 when a daemon answers on the socket this client would use. */
static int daemon_running(const pwcca_opts *o, char *path, size_t len)
{
    pw_err err = {""};
    pwcca_sock s;
    if (pwcca_sock_path(o->socket, path, len, &err) != 0)
        return 0;
    if (pwcca_sock_connect(&s, path, &err) != 0)
        return 0;
    pwcca_sock_close(&s);
    return 1;
}

int pwcca_cmd_forget(const pwcca_opts *o, int argc, char **argv)
{
    int pos;
    const pwcca_arg args[] = {{NULL, 0, 0, NULL, NULL}};
    int done = pwcca_parse_args(argc, argv, help, args, 1, 1, "RUN", &pos);
    if (done >= 0)
        return done;

    char sock[256];
    if (daemon_running(o, sock, sizeof sock))
        return pwcca_fail("pwccad is running (socket %s) and holds the run in memory: stop it, "
                          "run 'pwcca forget' again, then start it",
                          sock);
    pw_query *q;
    pw_run_info run;
    if (pwcca_open_run(o, argv[pos], &q, &run) != PWCCA_OK)
        return PWCCA_ERROR;
    pw_query_close(q);

    char dbpath[PW_PATH_MAX];
    pw_err err = {""};
    pw_db *db = NULL;
    pw_db_forgotten f;
    int rc = PWCCA_OK;
    if (pw_paths_db(o->db, dbpath, sizeof dbpath, &err) != 0 ||
        pw_db_open(&db, dbpath, PW_DB_BUSY_MS, 2, &err) != 0 ||
        pw_db_run_forget(db, run.id, &f, &err) != 0) {
        rc = pwcca_fail("%s", err.msg);
    } else {
        printf("forgot run %s (%s, id %lld): %lld checkpoint%s, %lld score%s, %lld alert%s\n",
               run.name, run.path, (long long)run.id, (long long)f.checkpoints,
               f.checkpoints == 1 ? "" : "s", (long long)f.scores, f.scores == 1 ? "" : "s",
               (long long)f.alerts, f.alerts == 1 ? "" : "s");
        struct stat st;
        if (stat(run.path, &st) == 0)
            printf("its directory still exists: pwccad scores it again as a new run if it is "
                   "watched\n");
    }
    pw_db_close(db);
    pw_query_run_clear(&run);
    return rc;
}
