/* pw_metric.c -- names, headings and the one metrics-list parser (see pw_metric.h).
 *
 * The config file's `metrics` key and `pwcca compare --metrics` both parse
 * here, so a list one accepts the other accepts too. */
#include "pw_metric.h"

#include <assert.h>
#include <string.h>

static const struct {
    const char *name;  /* as written in lists, columns and reports */
    const char *label; /* curve table heading */
    unsigned bit;      /* PW_M_* computing it */
    int sel;           /* 1 when a list may name it */
    unsigned tpos;     /* curve table position */
} metrics[] = {
#define PW_METRIC_ROW(sym, id, bitno, sel, tpos, label, doc) {#id, label, 1u << (bitno), sel, tpos},
    PW_METRIC_LIST(PW_METRIC_ROW)
#undef PW_METRIC_ROW
};

/* Every name a list may hold, for error messages: "pwcca, mean_cca, ..., all". */
#define PW_METRIC_IF_1(s) s
#define PW_METRIC_IF_0(s)
#define PW_METRIC_IF(sel, s)                                   PW_METRIC_IF_##sel(s)
#define PW_METRIC_KNOWN(sym, id, bitno, sel, tpos, label, doc) PW_METRIC_IF(sel, #id ", ")
static const char known[] = PW_METRIC_LIST(PW_METRIC_KNOWN) "all";
#undef PW_METRIC_KNOWN

const char *pw_metric_name(unsigned i)
{
    assert(i < PW_METRIC_COUNT);
    return metrics[i].name;
}

const char *pw_metric_label(unsigned i)
{
    assert(i < PW_METRIC_COUNT);
    return metrics[i].label;
}

unsigned pw_metric_table_pos(unsigned i)
{
    assert(i < PW_METRIC_COUNT && metrics[i].tpos < PW_METRIC_COUNT);
    return metrics[i].tpos;
}

unsigned pw_metric_bit(unsigned i)
{
    assert(i < PW_METRIC_COUNT);
    return metrics[i].bit;
}

/* The bits of one name, or 0 when it is not one a list may hold. */
static unsigned name_bits(const char *p, size_t len)
{
    if (len == 3 && strncmp(p, "all", 3) == 0)
        return PW_M_ALL;
    for (size_t i = 0; i < PW_METRIC_COUNT; i++)
        if (metrics[i].sel && strlen(metrics[i].name) == len &&
            strncmp(metrics[i].name, p, len) == 0)
            return metrics[i].bit;
    return 0;
}

int pw_metric_set_parse(const char *list, unsigned *bits, pw_err *err)
{
    unsigned out = 0;
    const char *p = list;
    for (;;) {
        size_t n = strcspn(p, ","), b = 0, e = n;
        while (b < e && (p[b] == ' ' || p[b] == '\t'))
            b++;
        while (e > b && (p[e - 1] == ' ' || p[e - 1] == '\t'))
            e--;
        unsigned bit = name_bits(p + b, e - b);
        if (!bit)
            return pw_err_set(err, "unknown metric '%.*s' in '%s' (known: %s)",
                              (int)(e - b > 64 ? 64 : e - b), p + b, list, known);
        out |= bit;
        if (!p[n])
            break;
        p += n + 1;
    }
    *bits = out;
    return 0;
}
