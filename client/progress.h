/* progress.h -- showing, and following, the daemon's work where people wait.
 *
 * pwcca_meter draws how far a piece of work has come: on a terminal one line
 * redrawn in place, a bar with done/total, the rate and an ETA; on anything
 * else (a log, a CI job) a plain line every PWCCA_METER_LINE_S seconds and
 * one at the end, so the output stays readable.
 *
 * pwcca_follow_run polls the daemon's `status` for one run until its queue is
 * empty, feeding a meter: `pwcca finalize RUN --wait` uses it, and so can any
 * command that asks the daemon for work on a run and waits for it. */
#ifndef PWCCA_PROGRESS_H
#define PWCCA_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

#include "cli.h"

#define PWCCA_METER_LINE_S  5.0 /* seconds between plain lines when not on a terminal */
#define PWCCA_FOLLOW_POLL_S 0.5 /* seconds between two status requests */

typedef struct pwcca_meter {
    FILE *out;          /* where it is drawn */
    int tty;            /* out is a terminal: redraw one line */
    char what[128];     /* what is counted, e.g. "run a: jobs" */
    double started;     /* monotonic seconds at pwcca_meter_start */
    double last_line;   /* when the last plain line was written (not a terminal) */
    uint64_t last_done; /* done at the last plain line */
    int drawn;          /* a terminal line is on the screen */
} pwcca_meter;

/* Start a meter on out (what: a short label). */
void pwcca_meter_start(pwcca_meter *m, FILE *out, const char *what);
/* done of total so far; eta_s < 0 (or NAN): estimated from the rate. */
void pwcca_meter_update(pwcca_meter *m, uint64_t done, uint64_t total, double eta_s);
/* The final state, on a line of its own. */
void pwcca_meter_end(pwcca_meter *m, uint64_t done, uint64_t total);
/* "[#####.....] 12/40 jobs, 0.8/s, ETA 35 s" into buf (bar_width 0: no bar). */
void pwcca_meter_format(char *buf, size_t len, int bar_width, const char *what, uint64_t done,
                        uint64_t total, double rate, double eta_s);

/* Follow the run (its name, or path when path is not NULL) in the daemon's status
 * until it has nothing queued or running, with a meter on stdout.  PWCCA_OK, or
 * PWCCA_ERROR when the daemon went away or reported failures for the run meanwhile
 * (said on stderr). */
int pwcca_follow_run(const pwcca_opts *o, const char *name, const char *path);

/* `pwcca CMD RUN [--STEP_OPT S] [--wait]` (finalize, rescore; runwork.c):
 * parse the arguments against help, send the daemon {"cmd": cmd, "run": RUN,
 * STEP_OPT: S} (S left out when not given), have report print what the
 * answer resp says (name: the run's name, or RUN as typed; step: S, or -1),
 * and with --wait follow the run as pwcca_follow_run.  Returns the exit
 * status. */
typedef void (*pwcca_run_report_fn)(json_t *resp, const char *name, int64_t step);
int pwcca_run_work(const pwcca_opts *o, int argc, char **argv, const char *help, const char *cmd,
                   const char *step_opt, pwcca_run_report_fn report);

#endif
