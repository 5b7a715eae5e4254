/* cmd_finalize.c -- `pwcca finalize RUN [--step S]`: tell the daemon a run is
 * over, so every checkpoint gets scored against the final one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "progress.h"
#include "sock.h"

static const char help[] =
    "Usage: pwcca finalize RUN [--step S] [--wait]\n"
    "Declare RUN (its name or directory) finished.  The daemon takes its newest\n"
    "checkpoint, or the one at step S, as the final checkpoint and queues the\n"
    "backfill: every checkpoint scored against it, which 'pwcca convergence' and\n"
    "'pwcca plot' use.  Needs the running daemon (its socket).\n"
    "\n"
    "  --step S     the final checkpoint's step (default: the newest)\n"
    "  --wait       follow the daemon's work on RUN until nothing is queued: a\n"
    "               progress bar on a terminal (jobs done/total, rate, ETA), a\n"
    "               plain line every 5 s otherwise; exits 1 if jobs of RUN\n"
    "               failed meanwhile (unreadable checkpoints, failed commits)\n"
    "  -h, --help   show this help\n";

int pwcca_cmd_finalize(const pwcca_opts *o, int argc, char **argv)
{
    int64_t step = -1;
    int pos, wait = 0;
    const pwcca_arg args[] = {{"step", 0, PWCCA_ARG_STEP, NULL, &step},
                              {"wait", 0, PWCCA_ARG_FLAG, NULL, &wait},
                              {NULL, 0, 0, NULL, NULL}};
    int done = pwcca_parse_args(argc, argv, help, args, 1, 1, "RUN", &pos);
    if (done >= 0)
        return done;

    const char *run = argv[pos];
    char *abs = NULL;
    json_t *resp = NULL;
    int rc = pwcca_run_call(o, "finalize", run, "step", step, &resp, &abs);
    if (rc == PWCCA_OK) {
        const char *name = json_string_value(json_object_get(resp, "run"));
        json_t *fs = json_object_get(resp, "final_step");
        printf("run %s is final at step %lld; scores against it are queued\n", name ? name : run,
               json_is_integer(fs) ? (long long)json_integer_value(fs) : (long long)step);
        fflush(stdout);
        if (wait)
            rc = pwcca_follow_run(o, name ? name : run, abs);
    }
    free(abs);
    json_decref(resp);
    return rc;
}
