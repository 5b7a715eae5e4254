/* pw_error.h -- the error message every libpwcca call can fill in.
 *
 * A caller owns a pw_err on its stack and passes it down; the first failure
 * writes a sentence saying what went wrong and where (file, layer, row,
 * byte offset), and higher levels may prefix their own context.  Functions
 * return 0 on success and -1 on failure unless their header says otherwise. */
#ifndef PW_ERROR_H
#define PW_ERROR_H

#include "pw_limits.h"

typedef struct pw_err {
    char msg[PW_ERR_MAX]; /* NUL-terminated message, "" when no error */
} pw_err;

/* Clear the message. */
void pw_err_clear(pw_err *e);
/* Write a printf-style message; always returns -1 so `return pw_err_set(...)` reads well.
 * e may be NULL. */
int pw_err_set(pw_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prepend "context: " to an existing message; returns -1. */
int pw_err_prefix(pw_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
