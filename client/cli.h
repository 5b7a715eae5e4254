/* cli.h -- what the client's subcommands share: global options, the command
 * table's function type, opening the database, argument parsing, tables, JSON
 * and CSV output, progress on a tty.
 *
 * Each subcommand lives in its own client/cmd_NAME.c and is listed once in
 * main.c's table; the work itself is in lib/.
 *
 * Conventions every subcommand follows: `--help` prints its usage on stdout
 * and exits 0; a bad argument prints one line naming it plus a hint and
 * exits 2; any other failure prints "pwcca: <sentence>" on stderr and exits 1.
 * Strings from the database are printed verbatim only in JSON and CSV (which
 * escape them); tables replace control characters so a name cannot drive the
 * terminal. */
#ifndef PWCCA_CLI_H
#define PWCCA_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "pw_json.h"
#include "pw_store.h"

typedef struct pwcca_opts {
    const char *db;     /* --db FILE or NULL (resolved with pw_paths_db) */
    const char *socket; /* --socket PATH or NULL (resolved with pw_paths_socket) */
} pwcca_opts;

/* A subcommand: argv[0] is its name.  Returns the process exit status:
 * 0 ok, 1 error, 2 usage error. */
typedef int (*pwcca_cmd_fn)(const pwcca_opts *o, int argc, char **argv);

/* The subcommands, one per client/cmd_NAME.c. */
int pwcca_cmd_compare(const pwcca_opts *o, int argc, char **argv);
int pwcca_cmd_runs(const pwcca_opts *o, int argc, char **argv);
int pwcca_cmd_layers(const pwcca_opts *o, int argc, char **argv);
int pwcca_cmd_curve(const pwcca_opts *o, int argc, char **argv);
int pwcca_cmd_convergence(const pwcca_opts *o, int argc, char **argv);
int pwcca_cmd_plot(const pwcca_opts *o, int argc, char **argv);
int pwcca_cmd_alerts(const pwcca_opts *o, int argc, char **argv);
int pwcca_cmd_status(const pwcca_opts *o, int argc, char **argv);
int pwcca_cmd_finalize(const pwcca_opts *o, int argc, char **argv);
int pwcca_cmd_rescan(const pwcca_opts *o, int argc, char **argv);
int pwcca_cmd_forget(const pwcca_opts *o, int argc, char **argv);
int pwcca_cmd_rescore(const pwcca_opts *o, int argc, char **argv);
int pwcca_cmd_layers_matrix(const pwcca_opts *o, int argc, char **argv);
int pwcca_cmd_cluster(const pwcca_opts *o, int argc, char **argv);
int pwcca_cmd_group(const pwcca_opts *o, int argc, char **argv);

/* Exit statuses. */
#define PWCCA_OK    0
#define PWCCA_ERROR 1
#define PWCCA_USAGE 2

/* "pwcca: <message>" on stderr; returns PWCCA_ERROR. */
int pwcca_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "pwcca CMD: <message>" and a --help hint on stderr; returns PWCCA_USAGE. */
int pwcca_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* What a subcommand accepts besides --help: a table of these, ended by an
 * entry whose name is NULL, parsed by pwcca_parse_args. */
#define PWCCA_MAX_OPTIONS 16 /* options one subcommand may declare, --help aside */

typedef enum pwcca_arg_kind {
    PWCCA_ARG_FLAG,     /* no value; *(int *)out = 1 */
    PWCCA_ARG_CHOICE,   /* one of choices; *(int *)out = its index */
    PWCCA_ARG_STEP,     /* an integer >= 0; *(int64_t *)out */
    PWCCA_ARG_DISTANCE, /* a finite real >= 0; *(double *)out */
    PWCCA_ARG_TEXT,     /* any string; *(const char **)out */
    PWCCA_ARG_TEXTS,    /* repeatable string; appended to *(pwcca_texts *)out */
    PWCCA_ARG_METRICS,  /* a metric list for pw_metric_set_parse; *(unsigned *)out */
    PWCCA_ARG_MIB       /* a size in MiB, 0 .. PWCCA_MAX_MIB; *(uint64_t *)out in bytes */
} pwcca_arg_kind;

#define PWCCA_MAX_MIB (1ull << 30) /* largest PWCCA_ARG_MIB (a PiB; a typo past it) */

typedef struct pwcca_arg {
    const char *name;           /* long option without "--"; NULL ends the table */
    char short_name;            /* a one-letter alias ('o' for -o), or 0 */
    pwcca_arg_kind kind;        /* how the value is checked and stored */
    const char *const *choices; /* PWCCA_ARG_CHOICE: NULL-terminated words */
    void *out;                  /* where the value goes (see the kinds) */
} pwcca_arg;

typedef struct pwcca_texts {
    const char **v; /* the values, pointing into argv; free(v) when done */
    size_t n;       /* how many */
} pwcca_texts;

/* Parse argv[1..] (argv[0] is the subcommand) against args, then check that
 * between min_pos and max_pos positional arguments named pos_name ("RUN")
 * remain; *first_pos is the index of the first.  Returns -1 to go on, or the
 * status to exit with: PWCCA_OK after printing help, PWCCA_USAGE after a
 * one-line complaint naming the option or argument. */
int pwcca_parse_args(int argc, char **argv, const char *help, const pwcca_arg *args, int min_pos,
                     int max_pos, const char *pos_name, int *first_pos);

/* "fc (insufficient_datapoints), head (no score yet)": the layers of ls that are
 * not measured (no real distance to the previous checkpoint), each with the
 * status of its newest previous-reference score, into buf ("" when none, "..."
 * at the end when cut).  Returns how many there are. */
size_t pwcca_unmeasured_text(const pw_layer_info *ls, size_t n, char *buf, size_t len);

/* Open the database --db / PWCCAD_DB / default names; prints the error. */
int pwcca_open(const pwcca_opts *o, pw_query **q);
/* Open the database and find RUN in it; prints the error.  On success the
 * caller closes *q and clears *run. */
int pwcca_open_run(const pwcca_opts *o, const char *name, pw_query **q, pw_run_info *run);
/* Send req (stolen) to the daemon at --socket / PWCCAD_SOCKET / default and
 * wait for its answer; prints the error.  The caller frees *resp. */
int pwcca_daemon_call(const pwcca_opts *o, json_t *req, json_t **resp);
/* A command about one run: {"cmd": cmd, "run": run, key: value} (key left out
 * when NULL or value < 0).  The daemon runs elsewhere, so a run named by a
 * directory is sent as its absolute path, which *abs receives (NULL for a
 * name; the caller frees it, and passes it to pwcca_follow_run).  As
 * pwcca_daemon_call otherwise. */
int pwcca_run_call(const pwcca_opts *o, const char *cmd, const char *run, const char *key,
                   int64_t value, json_t **resp, char **abs);
/* Parse "previous"/"final" or "table"/"csv"/"json" style choices: index into
 * choices (NULL-terminated), or -1. */
int pwcca_choice(const char *arg, const char *const *choices);
/* Parse a non-negative integer step or a finite double; 0 ok, -1 bad. */
int pwcca_parse_step(const char *arg, int64_t *out);
int pwcca_parse_double(const char *arg, double *out);

/* Print v with 17 significant digits, indented, and a newline; steals v. */
int pwcca_print_json(json_t *v);
/* One line of compact JSON; steals v. */
int pwcca_print_json_line(json_t *v);

/* Format a value for a table: "-" for NAN, else up to 6 significant digits. */
const char *pwcca_fmt_real(char *buf, size_t len, double v);
const char *pwcca_fmt_step(char *buf, size_t len, int64_t v);
/* Unix seconds as ISO 8601 UTC ("2026-11-29T05:12:15Z"). */
const char *pwcca_fmt_time(char *buf, size_t len, double t);
/* Write one CSV field per RFC 4180 (quoted when it holds , " CR or LF). */
void pwcca_csv_field(FILE *f, const char *s);

/* A simple aligned table: columns sized to their widest cell. */
typedef struct pwcca_table {
    size_t ncols;   /* columns */
    size_t nrows;   /* rows, header included */
    size_t cap;     /* cells allocated */
    char **cells;   /* nrows * ncols copies */
    unsigned right; /* bit i set: column i right-aligned (numbers) */
} pwcca_table;
/* Start a table with a header row (ncols names) and right-aligned columns mask. */
int pwcca_table_init(pwcca_table *t, size_t ncols, const char *const *header, unsigned right);
/* Add one row of ncols strings (NULL prints "-"); returns -1 when out of memory. */
int pwcca_table_row(pwcca_table *t, const char *const *cells);
/* Print to f and free. */
void pwcca_table_print(pwcca_table *t, FILE *f);
void pwcca_table_free(pwcca_table *t);

/* Every layer of ca against every layer of cb (lib/pw_matrix.h), labelled
 * la and lb: printed as one grid per metric, as JSON (json), and drawn as
 * an SVG heatmap into svg ("-": stdout, instead of the table) when not
 * NULL.  cmd names the command in messages.  Returns the exit status
 * (matrix.c, shared by compare --all-pairs and layers-matrix). */
typedef struct pw_ckpt pw_ckpt;
int pwcca_matrix_print(const char *cmd, const pw_ckpt *ca, const pw_ckpt *cb, const char *la,
                       const char *lb, unsigned metrics, int json, const char *svg);

/* `CMD RUN_A --vs RUN_B` (curve and plot, vs.c).  pwcca_vs_usage checks the
 * options --vs rules out (--ref: both runs are at the same step): -1 to go
 * on, or PWCCA_USAGE (printed).  pwcca_vs_rows opens the database, finds
 * both runs and computes A's layers against B's (lib/pw_vs.h) with metrics
 * (PW_M_* bits, 0: all) and nhwc (4-D activations are [N, H, W, C]); a probe
 * warning goes to stderr.  Returns the exit status, the error printed; on
 * PWCCA_OK the caller frees *rows with pw_query_curve_free and then clears
 * *a (the rows' run points into it) and *b.  No rows is not an error here:
 * each command says so in its own way. */
int pwcca_vs_usage(const char *cmd, const char *vs, int ref);
int pwcca_vs_rows(const pwcca_opts *o, const char *name_a, const char *name_b,
                  const char *const *layers, size_t nlayers, unsigned metrics, int nhwc,
                  pw_run_info *a, pw_run_info *b, pw_curve_row **rows, size_t *n);

/* Progress on stderr when it is a terminal; a pw_query_progress_fn. */
void pwcca_progress(void *what, size_t rows);
/* Erase the progress line, if one was drawn. */
void pwcca_progress_done(void);

#endif
