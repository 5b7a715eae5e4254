/* main.c -- pwcca, the client: global options, then one subcommand from the table.
 *
 * The subcommands are thin: they parse arguments, call lib/, and print.
 * Exit status: 0 ok, 1 error, 2 usage error. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct command {
    const char *name;    /* as typed */
    pwcca_cmd_fn run;    /* implementation */
    const char *args;    /* synopsis after the name */
    const char *summary; /* one line for --help */
} command;

static const command commands[] = {
    {"compare", pwcca_cmd_compare, "A B [--layer L]... [--metrics M] [--json]",
     "compare two checkpoint files offline"},
    {"runs", pwcca_cmd_runs, "[--format F]", "runs, their state and progress"},
    {"layers", pwcca_cmd_layers, "RUN [--format F]", "layers bottom first, status, stable step"},
    {"curve", pwcca_cmd_curve, "RUN [--layer L]... [--ref R] [--format F]",
     "distance time series: table, csv, json"},
    {"convergence", pwcca_cmd_convergence, "RUN [--tau T] [--format F]",
     "when layers settled; bottom-up or not"},
    {"plot", pwcca_cmd_plot, "RUN [-o FILE.svg] [--ref R] [--kind K]",
     "settling picture: SVG or terminal"},
    {"alerts", pwcca_cmd_alerts, "[RUN] [--follow] [--format F]",
     "stability alerts, live with --follow"},
    {"status", pwcca_cmd_status, "[--format F]", "the running daemon's status"},
    {"finalize", pwcca_cmd_finalize, "RUN [--step S]", "declare a run final, backfill scores"},
    {"rescan", pwcca_cmd_rescan, "", "make the daemon rescan its directories"},
    {"forget", pwcca_cmd_forget, "RUN", "remove a run and its history (daemon stopped)"},
    {"rescore", pwcca_cmd_rescore, "RUN [--from STEP]",
     "recompute stored scores with current settings"},
    {NULL, NULL, NULL, NULL},
};

static void usage(FILE *f)
{
    fprintf(f, "Usage: pwcca [--db FILE] [--socket PATH] COMMAND [ARG]...\n"
               "Query pwccad's convergence data and compare checkpoints offline.\n\n"
               "Commands:\n");
    for (const command *c = commands; c->name; c++)
        fprintf(f, "  %-12s %-42s %s\n", c->name, c->args, c->summary);
    fprintf(f, "\nOptions:\n"
               "  --db FILE       database (default: $PWCCAD_DB, $STATE_DIRECTORY/pwccad.db,\n"
               "                  ${XDG_STATE_HOME:-~/.local/state}/pwccad/pwccad.db)\n"
               "  --socket PATH   daemon socket (default: $PWCCAD_SOCKET,\n"
               "                  $RUNTIME_DIRECTORY/pwccad.sock, $XDG_RUNTIME_DIR/pwccad.sock)\n"
               "  -h, --help      show this help; 'pwcca COMMAND --help' for a command\n"
               "  -V, --version   show the version\n"
               "\nExit status: 0 ok, 1 error, 2 usage error.\n");
}

int main(int argc, char **argv)
{
    pwcca_opts o = {NULL, NULL};
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0) {
            printf("pwcca %s\n", PW_VERSION);
            return 0;
        }
        if (strcmp(argv[i], "--db") == 0 || strcmp(argv[i], "--socket") == 0) {
            int db = argv[i][2] == 'd';
            /* The last word, or an option, is no value: say which one lacks it. */
            if (i + 1 >= argc || argv[i + 1][0] == '-') {
                fprintf(stderr, "pwcca: %s needs a value (%s)\nTry 'pwcca --help'.\n", argv[i],
                        db ? "the database file" : "the daemon's socket path");
                return 2;
            }
            if (db)
                o.db = argv[++i];
            else
                o.socket = argv[++i];
            continue;
        }
        fprintf(stderr, "pwcca: unknown option '%s'\nTry 'pwcca --help'.\n", argv[i]);
        return 2;
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    for (const command *c = commands; c->name; c++)
        if (strcmp(c->name, argv[i]) == 0)
            return c->run(&o, argc - i, argv + i);
    fprintf(stderr, "pwcca: unknown command '%s'\nTry 'pwcca --help' for more information.\n",
            argv[i]);
    return 2;
}
