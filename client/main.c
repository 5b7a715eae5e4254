/* main.c -- pwcca, the client: global options, then one subcommand from the table.
 *
 * The subcommands are thin: they parse arguments, call lib/, and print.
 * Exit status: 0 ok, 1 error, 2 usage error. */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "pw_args.h"

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
    {"curve", pwcca_cmd_curve, "RUN [--layer L]... [--ref R|--vs RUN_B] [--format F]",
     "distance time series: table, csv, json"},
    {"convergence", pwcca_cmd_convergence, "RUN [--tau T] [--format F]",
     "when layers settled; bottom-up or not"},
    {"plot", pwcca_cmd_plot, "RUN [-o FILE.svg] [--ref R|--vs RUN_B] [--kind K]",
     "settling picture: SVG or terminal"},
    {"alerts", pwcca_cmd_alerts, "[RUN] [--follow] [--format F]",
     "stability alerts, live with --follow"},
    {"status", pwcca_cmd_status, "[--format F]", "the running daemon's status"},
    {"finalize", pwcca_cmd_finalize, "RUN [--step S]", "declare a run final, backfill scores"},
    {"rescan", pwcca_cmd_rescan, "", "make the daemon rescan its directories"},
    {"forget", pwcca_cmd_forget, "RUN", "remove a run and its history (daemon stopped)"},
    {"rescore", pwcca_cmd_rescore, "RUN [--from STEP]",
     "recompute stored scores with current settings"},
    {"layers-matrix", pwcca_cmd_layers_matrix, "RUN_A[:STEP] RUN_B[:STEP] [--json]",
     "every layer of one run against every layer of another"},
    {"cluster", pwcca_cmd_cluster, "RUN RUN... [--layer L] [--step S|--final]",
     "runs' distance matrix and average-linkage clustering"},
    {"group", pwcca_cmd_group, "NAME [--layer L] [--format F]",
     "a run group's stored cross-run scores"},
    {NULL, NULL, NULL, NULL},
};

static void usage(FILE *f)
{
    fprintf(f, "Usage: pwcca [--db FILE] [--socket PATH] COMMAND [ARG]...\n"
               "Query pwccad's convergence data and compare checkpoints offline.\n\n"
               "Commands:\n");
    /* Name and synopsis share one column, so the summaries line up; one too
     * long for it puts its summary on the next line, keeping lines short. */
    enum { LEAD = 12 + 1 + 42 };
    for (const command *c = commands; c->name; c++) {
        char lead[128];
        int w = snprintf(lead, sizeof lead, "%-12s %s", c->name, c->args);
        assert(w > 0 && (size_t)w < sizeof lead); /* the table is ours: no synopsis is cut */
        if (w > LEAD)
            fprintf(f, "  %s\n  %-*s %s\n", lead, LEAD, "", c->summary);
        else
            fprintf(f, "  %-*s %s\n", LEAD, lead, c->summary);
    }
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
    /* The options before COMMAND (lib/pw_args.h); its own follow it. */
    enum { OPT_HELP, OPT_VERSION, OPT_DB, OPT_SOCKET };
    static const pw_arg_spec options[] = {
        {"help", 'h', 0, OPT_HELP, NULL},
        {"version", 'V', 0, OPT_VERSION, NULL},
        {"db", 0, 1, OPT_DB, NULL},
        {"socket", 0, 1, OPT_SOCKET, NULL},
        {NULL, 0, 0, 0, NULL},
    };
    pw_args p;
    pw_args_rc got;
    pw_args_init(&p, argc, argv, 1, options);
    p.stop_at_operand = 1;
    while ((got = pw_args_next(&p)) == PW_ARGS_OPTION) {
        switch (options[p.opt].id) {
        case OPT_HELP:
            usage(stdout);
            return 0;
        case OPT_VERSION:
            printf("pwcca %s\n", PW_VERSION);
            return 0;
        case OPT_DB:
            o.db = p.value;
            break;
        case OPT_SOCKET:
            o.socket = p.value;
            break;
        }
    }
    if (got == PW_ARGS_ERROR) {
        fprintf(stderr, "pwcca: %s\nTry 'pwcca --help'.\n", p.msg);
        return 2;
    }
    int i = p.first_pos;
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
