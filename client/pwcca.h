/* pwcca.h -- what the client's subcommands share: global options and the command table.
 *
 * Each subcommand lives in its own client/cmd_NAME.c and is listed once in
 * main.c's table; the work itself is in lib/. */
#ifndef PWCCA_H
#define PWCCA_H

typedef struct pwcca_opts {
    const char *db;     /* --db FILE or NULL (resolved with pw_paths_db) */
    const char *socket; /* --socket PATH or NULL (resolved with pw_paths_socket) */
} pwcca_opts;

/* A subcommand: argv[0] is its name.  Returns the process exit status:
 * 0 ok, 1 error, 2 usage error. */
typedef int (*pwcca_cmd_fn)(const pwcca_opts *o, int argc, char **argv);

int pwcca_cmd_compare(const pwcca_opts *o, int argc, char **argv);

#endif
