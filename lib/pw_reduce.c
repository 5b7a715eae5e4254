/* pw_reduce.c -- the reduced mode's settings: parsing, printing and auto's
 * rule (pw_reduce.h).  The mathematics lives with the engine. */
#include "pw_reduce.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pw_limits.h"

#define FORMS "none, dims:K (K >= 1), var:F (0 < F <= 1) or auto"

/* Copy text without surrounding blanks into buf; 0, or -1 when too long. */
static int trimmed(const char *text, char *buf, size_t len)
{
    while (*text == ' ' || *text == '\t')
        text++;
    size_t n = strlen(text);
    while (n > 0 && (text[n - 1] == ' ' || text[n - 1] == '\t'))
        n--;
    if (n >= len)
        return -1;
    memcpy(buf, text, n);
    buf[n] = '\0';
    return 0;
}

int pw_reduce_parse(const char *text, pw_reduce *out, pw_err *err)
{
    char t[PW_REDUCE_TEXT_MAX] = {0}; /* zeroed: the analyzer cannot follow trimmed() */
    if (trimmed(text, t, sizeof t) != 0)
        return pw_err_set(err, "reduce mode '%.40s...' is too long: use " FORMS, text);
    pw_reduce r = {.kind = PW_REDUCE_NONE};
    if (strcmp(t, "none") == 0) {
        r.kind = PW_REDUCE_NONE;
    } else if (strcmp(t, "auto") == 0) {
        r.kind = PW_REDUCE_AUTO;
    } else if (strncmp(t, "dims:", 5) == 0) {
        const char *s = t + 5;
        char *end;
        errno = 0;
        unsigned long long k = strtoull(s, &end, 10);
        if (*s < '0' || *s > '9' || *end != '\0' || errno != 0 || k < 1 || k > PW_MAX_NEURONS)
            return pw_err_set(err,
                              "reduce mode '%s': K must be a whole number from 1 to %d; use " FORMS,
                              t, PW_MAX_NEURONS);
        r.kind = PW_REDUCE_DIMS;
        r.dims = k;
    } else if (strncmp(t, "var:", 4) == 0) {
        const char *s = t + 4;
        char *end;
        errno = 0;
        double f = strtod(s, &end);
        if (end == s || *end != '\0' || errno != 0 || !(f > 0.0 && f <= 1.0))
            return pw_err_set(err,
                              "reduce mode '%s': F must be a share of variance above 0 and at "
                              "most 1; use " FORMS,
                              t);
        r.kind = PW_REDUCE_VAR;
        r.var = f;
    } else {
        return pw_err_set(err, "unknown reduce mode '%s': use " FORMS, t);
    }
    *out = r;
    return 0;
}

void pw_reduce_format(const pw_reduce *r, char *buf, size_t len)
{
    switch (r->kind) {
    case PW_REDUCE_NONE:
        snprintf(buf, len, "none");
        break;
    case PW_REDUCE_AUTO:
        snprintf(buf, len, "auto");
        break;
    case PW_REDUCE_DIMS:
        snprintf(buf, len, "dims:%llu", (unsigned long long)r->dims);
        break;
    case PW_REDUCE_VAR:
        /* %.17g round-trips; shorter forms first so 0.99 stays "0.99". */
        for (int prec = 6; prec <= 17; prec++) {
            snprintf(buf, len, "var:%.*g", prec, r->var);
            if (strtod(buf + 4, NULL) == r->var)
                break;
        }
        break;
    }
}

int pw_reduce_equal(const pw_reduce *a, const pw_reduce *b)
{
    if (a->kind != b->kind)
        return 0;
    if (a->kind == PW_REDUCE_DIMS)
        return a->dims == b->dims;
    if (a->kind == PW_REDUCE_VAR)
        return a->var == b->var;
    return 1;
}

uint64_t pw_reduce_auto_dims(uint64_t n, uint64_t p_kept)
{
    uint64_t k = n / PW_REDUCE_AUTO_RATIO;
    if (k > p_kept)
        k = p_kept;
    return k ? k : 1;
}
