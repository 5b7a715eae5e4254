/* cmd_rescore.c -- `pwcca rescore RUN [--from STEP]`: have the daemon recompute
 * a run's stored scores with its current settings (metrics, reduce, memory_mb). */
#include <stdio.h>

#include "cli.h"
#include "progress.h"

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

static void report(json_t *resp, const char *name, int64_t from)
{
    (void)from; /* the daemon says which step it started from */
    json_t *q = json_object_get(resp, "queued"), *f = json_object_get(resp, "from");
    long long n = json_is_integer(q) ? (long long)json_integer_value(q) : 0;
    printf("run %s: %lld pair%s queued for rescoring", name, n, n == 1 ? "" : "s");
    if (json_is_integer(f) && json_integer_value(f) > 0)
        printf(" (from step %lld)", (long long)json_integer_value(f));
    printf("\n");
}

int pwcca_cmd_rescore(const pwcca_opts *o, int argc, char **argv)
{
    return pwcca_run_work(o, argc, argv, help, "rescore", "from", report);
}
