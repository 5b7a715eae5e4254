/* main.c -- pwcca, the client: dispatches subcommands; the work lives in lib/.
 *
 * Exit status: 0 ok, 1 error, 2 usage error. */
#include <stdio.h>
#include <string.h>

static const char usage[] =
    "Usage: pwcca [--db FILE] [--socket PATH] COMMAND [ARG]...\n"
    "Query pwccad's convergence data and compare checkpoints offline.\n"
    "\n"
    "Options:\n"
    "  -h, --help        show this help and exit\n"
    "  -V, --version     show the version and exit\n";

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        printf("pwcca %s\n", PW_VERSION);
        return 0;
    }
    fprintf(stderr, "pwcca: unknown command '%s'\nTry 'pwcca --help' for more information.\n",
            argv[1]);
    return 2;
}
