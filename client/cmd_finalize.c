/* cmd_finalize.c -- `pwcca finalize RUN [--step S]`: tell the daemon a run is
 * over, so every checkpoint gets scored against the final one. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "sock.h"

static const char help[] =
    "Usage: pwcca finalize RUN [--step S]\n"
    "Declare RUN (its name or directory) finished.  The daemon takes its newest\n"
    "checkpoint, or the one at step S, as the final checkpoint and queues the\n"
    "backfill: every checkpoint scored against it, which 'pwcca convergence' and\n"
    "'pwcca plot' use.  Needs the running daemon (its socket).\n"
    "\n"
    "  --step S     the final checkpoint's step (default: the newest)\n"
    "  -h, --help   show this help\n";

int pwcca_cmd_finalize(const pwcca_opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"step", required_argument, NULL, 's'}, {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
    int64_t step = -1;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == 'h') {
            fputs(help, stdout);
            return PWCCA_OK;
        }
        if (c == 's' && pwcca_parse_step(optarg, &step) != 0)
            return pwcca_usage(argv[0], "--step must be a step number >= 0, not '%s'", optarg);
        if (c == '?')
            return pwcca_bad_option(argv[0], argv);
    }
    if (optind + 1 != argc)
        return pwcca_usage(argv[0], optind < argc ? "expects one RUN" : "which RUN?");

    /* The daemon runs elsewhere: a relative directory is made absolute here. */
    const char *run = argv[optind];
    char *abs = strchr(run, '/') ? realpath(run, NULL) : NULL;
    char path[256];
    pw_err err = {""};
    json_t *req = json_pack("{s:s,s:s}", "cmd", "finalize", "run", abs ? abs : run), *resp = NULL;
    free(abs);
    if (step >= 0)
        json_object_set_new(req, "step", json_integer(step));
    int rc = pwcca_sock_path(o->socket, path, sizeof path, &err) == 0 &&
                     pwcca_sock_call(path, req, &resp, &err) == 0
                 ? PWCCA_OK
                 : pwcca_fail("%s", err.msg);
    json_decref(req);
    if (rc == PWCCA_OK) {
        const char *name = json_string_value(json_object_get(resp, "run"));
        json_t *fs = json_object_get(resp, "final_step");
        printf("run %s is final at step %lld; scores against it are queued\n", name ? name : run,
               json_is_integer(fs) ? (long long)json_integer_value(fs) : (long long)step);
    }
    json_decref(resp);
    return rc;
}
