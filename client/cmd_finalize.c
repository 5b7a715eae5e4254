/* cmd_finalize.c -- `pwcca finalize RUN [--step S]`: tell the daemon a run is
 * over, so every checkpoint gets scored against the final one. */
#include <stdio.h>

#include "cli.h"
#include "progress.h"

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

static void report(json_t *resp, const char *name, int64_t step)
{
    json_t *fs = json_object_get(resp, "final_step");
    printf("run %s is final at step %lld; scores against it are queued\n", name,
           json_is_integer(fs) ? (long long)json_integer_value(fs) : (long long)step);
}

int pwcca_cmd_finalize(const pwcca_opts *o, int argc, char **argv)
{
    return pwcca_run_work(o, argc, argv, help, "finalize", "step", report);
}
