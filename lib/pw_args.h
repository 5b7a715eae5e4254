/* pw_args.h -- the one command-line option parser of pwccad and pwcca.
 *
 * A program declares its options as a table of pw_arg_spec (long name, an
 * optional one-letter alias, whether it takes a value, and what the option
 * means to the program) and calls
 * pw_args_next until PW_ARGS_END.  Accepted spellings: --name, --name=VALUE,
 * --name VALUE, an unambiguous prefix of a long name (as getopt_long allows),
 * -c, -c VALUE, -cVALUE; "--" ends the options.  Arguments that are not
 * options (operands) may come anywhere, as with GNU getopt: the parser moves
 * them after the options, so once it ends they are argv[first_pos..argc),
 * in their order.
 *
 * It prints nothing and exits nothing: on a bad option it returns
 * PW_ARGS_ERROR with the complaint in msg, worded the same for every
 * program ("unknown option '--bogus'", "--layer needs a value",
 * "-o (--output) needs a value", "--layer needs a value, not the option
 * '--format'"), and the program prefixes its own name and picks its exit
 * status.  What a value means (a step, a choice, a config key) is the
 * program's business. */
#ifndef PW_ARGS_H
#define PW_ARGS_H

#include <stddef.h>

/* One option a program accepts. */
typedef struct pw_arg_spec {
    const char *name; /* long form without "--"; NULL ends the table */
    char short_name;  /* one-letter alias ('o' for -o), or 0 */
    int has_value;    /* 1 when it takes a value */
    int id;           /* the program's: what the option does (pwccad: a pwd_opt_kind) */
    const char *data; /* the program's: what it acts on (pwccad: the configuration key) */
} pw_arg_spec;

/* What pw_args_next found. */
typedef enum pw_args_rc {
    PW_ARGS_OPTION, /* specs[opt], with value (NULL when it takes none) */
    PW_ARGS_END,    /* no option left; operands are argv[first_pos..argc) */
    PW_ARGS_ERROR   /* a bad option: msg says which and why */
} pw_args_rc;

#define PW_ARGS_MSG_MAX 256 /* bytes of a complaint, NUL included */

typedef struct pw_args {
    int argc;                  /* arguments */
    char **argv;               /* permuted in place: operands move after the options */
    const pw_arg_spec *specs;  /* the table */
    int stop_at_operand;       /* 1: the first operand ends the options (pwcca COMMAND ...) */
    int next;                  /* the next argument to look at */
    int first_pos;             /* the operands seen so far are argv[first_pos..next) */
    int dashdash;              /* "--" was seen: the rest are operands */
    size_t opt;                /* PW_ARGS_OPTION: index in specs */
    const char *value;         /* PW_ARGS_OPTION: its value, NULL when it takes none */
    char msg[PW_ARGS_MSG_MAX]; /* PW_ARGS_ERROR: the complaint, without a program name */
} pw_args;

/* Parse argv[first..argc) against specs. */
void pw_args_init(pw_args *a, int argc, char **argv, int first, const pw_arg_spec *specs);
/* The next option, the end, or an error (after which parsing stops). */
pw_args_rc pw_args_next(pw_args *a);

#endif
