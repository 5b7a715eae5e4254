/* cmd_rescore.c -- `pwcca rescore RUN [--from STEP]`: have the daemon recompute
 * a run's stored scores with its current settings (metrics, reduce, memory_mb). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "progress.h"
#include "sock.h"

static const char help[] =
    "Usage: pwcca rescore RUN [--from STEP] [--wait]\n"
    "Ask the running daemon to recompute the stored scores of RUN (its name or\n"
    "directory) -- against the previous checkpoint and against the final one --\n"
    "with the run's current settings: metrics, reduce (auto decides each layer\n"
    "again from the first recomputed pair), memory_mb (over_budget rows get\n"
    "another chance).  Each row is replaced only when its new computation\n"
    "succeeds: a checkpoint deleted without a retained copy, or unreadable now,\n"
    "keeps its stored row.  Returns once the pairs are queued, saying how many.\n"
    "Needs the daemon's socket.\n"
    "\n"
    "  --from STEP  only checkpoints at STEP and later (default: all)\n"
    "  --wait       follow the daemon's work on RUN until nothing is queued: a\n"
    "               progress bar on a terminal, a line every 5 s otherwise; exit\n"
    "               1 if jobs of the run fail meanwhile or the daemon goes away\n"
    "  -h, --help   show this help\n";

int pwcca_cmd_rescore(const pwcca_opts *o, int argc, char **argv)
{
    int64_t from = -1;
    int pos, wait = 0;
    const pwcca_arg args[] = {{"from", 0, PWCCA_ARG_STEP, NULL, &from},
                              {"wait", 0, PWCCA_ARG_FLAG, NULL, &wait},
                              {NULL, 0, 0, NULL, NULL}};
    int done = pwcca_parse_args(argc, argv, help, args, 1, 1, "RUN", &pos);
    if (done >= 0)
        return done;

    const char *run = argv[pos];
    char *abs = NULL;
    json_t *resp = NULL;
    int rc = pwcca_run_call(o, "rescore", run, "from", from, &resp, &abs);
    if (rc == PWCCA_OK) {
        const char *name = json_string_value(json_object_get(resp, "run"));
        json_t *q = json_object_get(resp, "queued"), *f = json_object_get(resp, "from");
        long long n = json_is_integer(q) ? (long long)json_integer_value(q) : 0;
        printf("run %s: %lld pair%s queued for rescoring", name ? name : run, n, n == 1 ? "" : "s");
        if (json_is_integer(f) && json_integer_value(f) > 0)
            printf(" (from step %lld)", (long long)json_integer_value(f));
        printf("\n");
        fflush(stdout);
        if (wait)
            rc = pwcca_follow_run(o, name ? name : run, abs);
    }
    free(abs);
    json_decref(resp);
    return rc;
}
