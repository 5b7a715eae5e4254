/* pw_args.c -- the option parser of pwccad and pwcca (see pw_args.h). */
#include "pw_args.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void pw_args_init(pw_args *a, int argc, char **argv, int first, const pw_arg_spec *specs)
{
    assert(first >= 0 && first <= argc);
    memset(a, 0, sizeof *a);
    a->argc = argc;
    a->argv = argv;
    a->specs = specs;
    a->next = a->first_pos = first;
}

static pw_args_rc complain(pw_args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static pw_args_rc complain(pw_args *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->msg, sizeof a->msg, fmt, ap);
    va_end(ap);
    a->next = a->argc; /* nothing after an error */
    return PW_ARGS_ERROR;
}

/* The long option named by name[0..len): exact, else the one it is a prefix of. */
static const pw_arg_spec *find_long(const pw_arg_spec *specs, const char *name, size_t len)
{
    const pw_arg_spec *prefix = NULL;
    size_t nprefix = 0;
    for (const pw_arg_spec *s = specs; s->name; s++) {
        if (strncmp(s->name, name, len) != 0)
            continue;
        if (s->name[len] == '\0')
            return s;
        prefix = s;
        nprefix++;
    }
    return nprefix == 1 ? prefix : NULL;
}

static const pw_arg_spec *find_short(const pw_arg_spec *specs, char c)
{
    for (const pw_arg_spec *s = specs; s->name; s++)
        if (s->short_name && s->short_name == c)
            return s;
    return NULL;
}

/* The option's arguments argv[next..end) go before the operands seen so far,
 * which stay in their order right before argv[end]. */
static void take(pw_args *a, int end)
{
    int n = end - a->next;
    char *moved[2];
    assert(n >= 1 && n <= 2);
    memcpy(moved, &a->argv[a->next], (size_t)n * sizeof *moved);
    memmove(&a->argv[a->first_pos + n], &a->argv[a->first_pos],
            (size_t)(a->next - a->first_pos) * sizeof *a->argv);
    memcpy(&a->argv[a->first_pos], moved, (size_t)n * sizeof *moved);
    a->first_pos += n;
    a->next = end;
}

pw_args_rc pw_args_next(pw_args *a)
{
    while (a->next < a->argc) {
        const char *arg = a->argv[a->next];
        int is_long = arg[0] == '-' && arg[1] == '-';
        if (a->dashdash || arg[0] != '-' || arg[1] == '\0') { /* an operand ("-" is one) */
            if (a->stop_at_operand)
                break;
            a->next++;
            continue;
        }
        if (is_long && arg[2] == '\0') { /* "--": the rest are operands */
            take(a, a->next + 1);
            a->dashdash = 1;
            continue;
        }
        const pw_arg_spec *s;
        const char *value = NULL, *eq = NULL;
        if (is_long) {
            eq = strchr(arg + 2, '=');
            s = find_long(a->specs, arg + 2, eq ? (size_t)(eq - arg - 2) : strlen(arg + 2));
            if (!s)
                return complain(a, "unknown option '%s'", arg);
            if (eq && !s->has_value)
                return complain(a, "--%s takes no value", s->name);
            if (eq)
                value = eq + 1;
        } else {
            s = find_short(a->specs, arg[1]);
            if (!s)
                return complain(a, "unknown option '-%c'", arg[1]);
            if (arg[2] && !s->has_value)
                return complain(a, "unknown option '%s'", arg);
            if (arg[2])
                value = arg + 2;
        }
        a->opt = (size_t)(s - a->specs);
        int end = a->next + 1;
        if (s->has_value && !value && end < a->argc)
            value = a->argv[end++];
        /* "--layer --format csv" would take "--format" as the layer: an option
         * that lacks its value is told so, not looked up as a name. */
        if (s->has_value && (!value || !value[0])) {
            if (is_long)
                return complain(a, "--%s needs a value", s->name);
            return complain(a, "-%c (--%s) needs a value", s->short_name, s->name);
        }
        if (s->has_value && strncmp(value, "--", 2) == 0 && value[2])
            return complain(a, "--%s needs a value, not the option '%s'", s->name, value);
        a->value = value;
        take(a, end);
        return PW_ARGS_OPTION;
    }
    return PW_ARGS_END;
}
