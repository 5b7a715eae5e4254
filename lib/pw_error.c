/* pw_error.c -- filling and prefixing pw_err messages (see pw_error.h). */
#include "pw_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void pw_err_clear(pw_err *e)
{
    if (e)
        e->msg[0] = '\0';
}

int pw_err_set(pw_err *e, const char *fmt, ...)
{
    if (!e)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

int pw_err_prefix(pw_err *e, const char *fmt, ...)
{
    if (!e)
        return -1;
    char head[PW_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    /* head + ": " + old message, truncated to fit. */
    size_t hl = strlen(head), ol = strlen(e->msg), cap = sizeof e->msg - 1;
    if (hl + 2 > cap)
        hl = cap - 2;
    if (hl + 2 + ol > cap)
        ol = cap - hl - 2;
    memmove(e->msg + hl + 2, e->msg, ol);
    memcpy(e->msg, head, hl);
    memcpy(e->msg + hl, ": ", 2);
    e->msg[hl + 2 + ol] = '\0';
    return -1;
}
