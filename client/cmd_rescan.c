/* cmd_rescan.c -- `pwcca rescan`: ask the daemon to look at its directories again. */
#include <stdio.h>

#include "cli.h"
#include "sock.h"

static const char help[] =
    "Usage: pwcca rescan\n"
    "Ask the running daemon to rescan every watched directory now (new runs, new\n"
    "or deleted checkpoints), for file systems where change notification misses\n"
    "events.  Returns once the rescan is queued.  Needs the daemon's socket.\n"
    "\n"
    "  -h, --help   show this help\n";

int pwcca_cmd_rescan(const pwcca_opts *o, int argc, char **argv)
{
    int pos;
    const pwcca_arg args[] = {{NULL, 0, 0, NULL, NULL}};
    int done = pwcca_parse_args(argc, argv, help, args, 0, 0, "RUN", &pos);
    if (done >= 0)
        return done;

    json_t *req = json_pack("{s:s}", "cmd", "rescan"), *resp = NULL;
    int rc = pwcca_daemon_call(o, req, &resp);
    json_decref(resp);
    if (rc == PWCCA_OK)
        printf("rescan queued\n");
    return rc;
}
