/* main.c -- pwccad's entry point: parse the command line, then run the daemon.
 *
 * Exit status: 0 after a clean stop, 1 on a fatal error, 2 on a usage error. */
#include <stdio.h>
#include <string.h>

static const char usage[] =
    "Usage: pwccad [OPTION]...\n"
    "Watch training runs' checkpoint directories and compute per-layer PWCCA as\n"
    "checkpoints arrive; store the time series in SQLite and raise alerts.\n"
    "\n"
    "  --watch ROOT      every subdirectory of ROOT is a run (repeatable)\n"
    "  --run DIR         DIR itself is a run (repeatable)\n"
    "  --db FILE         database (default: $PWCCAD_DB, $STATE_DIRECTORY/pwccad.db,\n"
    "                    ~/.local/state/pwccad/pwccad.db)\n"
    "  --socket PATH     control socket (default: $PWCCAD_SOCKET,\n"
    "                    $RUNTIME_DIRECTORY/pwccad.sock, $XDG_RUNTIME_DIR/pwccad.sock)\n"
    "  --config FILE     INI configuration (see docs/CONFIG.md)\n"
    "  --foreground      stay in the foreground (always true under systemd)\n"
    "  -h, --help        show this help and exit\n"
    "  -V, --version     show the version and exit\n";

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0) {
            printf("pwccad %s\n", PW_VERSION);
            return 0;
        }
    }
    fprintf(stderr, "pwccad: the daemon is not built yet in this version\n"
                    "Try 'pwccad --help' for more information.\n");
    return 1;
}
