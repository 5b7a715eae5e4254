/* runwork.c -- what `pwcca finalize` and `pwcca rescore` share: both ask the
 * daemon for work on one run, optionally from a step (--step, --from), print
 * what it queued, and with --wait follow that work until it is done.  Only
 * the command word, the step option's name and the line printed differ, so
 * the arguments, the call and the follow-up live here once. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "progress.h"

int pwcca_run_work(const pwcca_opts *o, int argc, char **argv, const char *help, const char *cmd,
                   const char *step_opt, pwcca_run_report_fn report)
{
    int64_t step = -1;
    int pos, wait = 0;
    const pwcca_arg args[] = {{step_opt, 0, PWCCA_ARG_STEP, NULL, &step},
                              {"wait", 0, PWCCA_ARG_FLAG, NULL, &wait},
                              {NULL, 0, 0, NULL, NULL}};
    int done = pwcca_parse_args(argc, argv, help, args, 1, 1, "RUN", &pos);
    if (done >= 0)
        return done;

    const char *run = argv[pos];
    char *abs = NULL;
    json_t *resp = NULL;
    /* The protocol's member for the step has the option's name. */
    int rc = pwcca_run_call(o, cmd, run, step_opt, step, &resp, &abs);
    if (rc == PWCCA_OK) {
        const char *name = json_string_value(json_object_get(resp, "run"));
        report(resp, name ? name : run, step);
        fflush(stdout);
        if (wait)
            rc = pwcca_follow_run(o, name ? name : run, abs);
    }
    free(abs);
    json_decref(resp);
    return rc;
}
