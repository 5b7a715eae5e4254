/* cmd_rescan.c -- `pwcca rescan`: ask the daemon to look at its directories again. */
#include <getopt.h>
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
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == 'h') {
            fputs(help, stdout);
            return PWCCA_OK;
        }
        return pwcca_bad_option(argv[0], argv);
    }
    if (optind < argc)
        return pwcca_usage(argv[0], "unexpected argument '%s'", argv[optind]);

    char path[256];
    pw_err err = {""};
    json_t *req = json_pack("{s:s}", "cmd", "rescan"), *resp = NULL;
    int rc = pwcca_sock_path(o->socket, path, sizeof path, &err) == 0 &&
                     pwcca_sock_call(path, req, &resp, &err) == 0
                 ? PWCCA_OK
                 : pwcca_fail("%s", err.msg);
    json_decref(req);
    json_decref(resp);
    if (rc == PWCCA_OK)
        printf("rescan queued\n");
    return rc;
}
