/* pw_promtext.c -- Prometheus text exposition builder (see pw_promtext.h). */
#include "pw_promtext.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pw_array.h"

static const char *const type_names[] = {"gauge", "counter", "histogram"};

void pw_promtext_init(pw_promtext *t)
{
    memset(t, 0, sizeof *t);
    t->max = PW_PROM_MAX_BYTES;
}

void pw_promtext_reset(pw_promtext *t)
{
    t->len = 0;
    if (t->buf)
        t->buf[0] = '\0';
    t->family[0] = '\0';
    t->seen_len = 0;
}

void pw_promtext_free(pw_promtext *t)
{
    free(t->buf);
    free(t->seen);
    pw_promtext_init(t);
}

/* Room for n more bytes plus the terminating NUL, within t->max. */
static int reserve(pw_promtext *t, size_t n, pw_err *err)
{
    if (n > t->max || t->len > t->max - n)
        return pw_err_set(err, "metrics exposition would exceed %zu bytes", t->max);
    size_t need = t->len + n + 1;
    if (need <= t->cap)
        return 0;
    char *nb = pw_grow(t->buf, &t->cap, need, 1, 4096);
    if (!nb)
        return pw_err_set(err, "out of memory for a metrics exposition of %zu bytes", need);
    t->buf = nb;
    return 0;
}

static int put(pw_promtext *t, const char *s, size_t n, pw_err *err)
{
    if (reserve(t, n, err) != 0)
        return -1;
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = '\0';
    return 0;
}

static int put_str(pw_promtext *t, const char *s, pw_err *err)
{
    return put(t, s, strlen(s), err);
}

/* Cut the text back to mark after a failed write, so no half line is left; returns -1. */
static int truncate_to(pw_promtext *t, size_t mark)
{
    assert(mark <= t->len);
    t->len = mark;
    if (t->buf)
        t->buf[mark] = '\0';
    return -1;
}

/* Length of the well-formed UTF-8 sequence at s (1-4), or 0 when the bytes
 * there are not one (overlong forms, surrogates and code points past
 * U+10FFFF included). */
static size_t utf8_len(const unsigned char *s)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    unsigned char lo = 0x80, hi = 0xBF;
    size_t n;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return n;
}

/* s escaped for a HELP line (quote == 0) or a label value (quote == 1). */
static int put_escaped(pw_promtext *t, const char *s, int quote, pw_err *err)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t n = utf8_len(p);
        int rc;
        if (n == 0) {
            rc = put(t, "\xEF\xBF\xBD", 3, err); /* U+FFFD for a byte that is not UTF-8 */
            n = 1;
        } else if (*p == '\\') {
            rc = put(t, "\\\\", 2, err);
        } else if (*p == '\n') {
            rc = put(t, "\\n", 2, err);
        } else if (*p == '"' && quote) {
            rc = put(t, "\\\"", 2, err);
        } else {
            rc = put(t, (const char *)p, n, err);
        }
        if (rc != 0)
            return -1;
        p += n;
    }
    return 0;
}

static int is_alpha_(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

/* Metric names may hold colons; label names may not. */
static int check_name(const char *name, int metric, pw_err *err)
{
    const char *what = metric ? "metric name" : "label name";
    size_t n = strlen(name);
    if (n == 0)
        return pw_err_set(err, "%s is empty", what);
    if (n >= PW_PROM_MAX_NAME)
        return pw_err_set(err, "%s '%.40s...' is longer than %d bytes", what, name,
                          PW_PROM_MAX_NAME - 1);
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)name[i];
        int good = is_alpha_(c) || (metric && c == ':') || (i > 0 && is_digit(c));
        if (!good)
            return pw_err_set(err, "%s '%s' is not valid: byte %zu (0x%02x) is not allowed there",
                              what, name, i, (unsigned)c);
    }
    if (!metric && name[0] == '_' && name[1] == '_')
        return pw_err_set(err,
                          "label name '%s' is reserved: names starting with '__' are "
                          "Prometheus' own",
                          name);
    return 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int family_seen(const pw_promtext *t, const char *name)
{
    for (size_t off = 0; off < t->seen_len; off += strlen(t->seen + off) + 1)
        if (strcmp(t->seen + off, name) == 0)
            return 1;
    return 0;
}

static int remember_family(pw_promtext *t, const char *name, pw_err *err)
{
    size_t n = strlen(name) + 1;
    char *ns = pw_grow(t->seen, &t->seen_cap, t->seen_len + n, 1, 256);
    if (!ns)
        return pw_err_set(err, "out of memory for metric family names");
    t->seen = ns;
    memcpy(t->seen + t->seen_len, name, n);
    t->seen_len += n;
    return 0;
}

int pw_promtext_family(pw_promtext *t, const char *name, pw_prom_type type, const char *help,
                       pw_err *err)
{
    assert(type == PW_PROM_GAUGE || type == PW_PROM_COUNTER || type == PW_PROM_HISTOGRAM);
    if (check_name(name, 1, err) != 0)
        return -1;
    int total = ends_with(name, "_total");
    if (type == PW_PROM_COUNTER && !total)
        return pw_err_set(err, "counter '%s' must end in _total", name);
    if (type != PW_PROM_COUNTER && total)
        return pw_err_set(err, "%s '%s' must not end in _total (only counters do)",
                          type_names[type], name);
    if (family_seen(t, name))
        return pw_err_set(err, "metric family '%s' was already written", name);
    size_t mark = t->len;
    if (put_str(t, "# HELP ", err) || put_str(t, name, err) || put(t, " ", 1, err) ||
        put_escaped(t, help, 0, err) || put_str(t, "\n# TYPE ", err) || put_str(t, name, err) ||
        put(t, " ", 1, err) || put_str(t, type_names[type], err) || put(t, "\n", 1, err) ||
        remember_family(t, name, err))
        return truncate_to(t, mark);
    snprintf(t->family, sizeof t->family, "%s", name);
    t->type = type;
    return 0;
}

void pw_promtext_format_value(double v, char *buf, size_t len)
{
    assert(len >= 32);
    if (isnan(v)) {
        snprintf(buf, len, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, len, "%s", v > 0 ? "+Inf" : "-Inf");
        return;
    }
    /* The shortest of 15..17 significant digits that reads back exactly
     * (the daemon keeps the C locale, so the decimal point is '.'). */
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

/* {name="value",...} with an optional trailing le="le"; nothing when empty. */
static int put_labels(pw_promtext *t, const pw_prom_label *labels, size_t n, const char *le,
                      pw_err *err)
{
    for (size_t i = 0; i < n; i++) {
        if (!labels[i].name || !labels[i].value)
            return pw_err_set(err, "metric '%s': label %zu has no name or no value", t->family, i);
        if (check_name(labels[i].name, 0, err) != 0)
            return pw_err_prefix(err, "metric '%s'", t->family);
        if (t->type == PW_PROM_HISTOGRAM && strcmp(labels[i].name, "le") == 0)
            return pw_err_set(err, "histogram '%s': the label 'le' is the buckets' own", t->family);
        for (size_t j = 0; j < i; j++)
            if (strcmp(labels[j].name, labels[i].name) == 0)
                return pw_err_set(err, "metric '%s': label '%s' given twice", t->family,
                                  labels[i].name);
    }
    if (n == 0 && !le)
        return 0;
    if (put(t, "{", 1, err) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if ((i > 0 && put(t, ",", 1, err)) || put_str(t, labels[i].name, err) ||
            put(t, "=\"", 2, err) || put_escaped(t, labels[i].value, 1, err) ||
            put(t, "\"", 1, err))
            return -1;
    }
    if (le && ((n > 0 && put(t, ",", 1, err)) || put(t, "le=\"", 4, err) || put_str(t, le, err) ||
               put(t, "\"", 1, err)))
        return -1;
    return put(t, "}", 1, err);
}

/* family+suffix{labels[,le]} value_text\n */
static int put_line(pw_promtext *t, const char *suffix, const pw_prom_label *labels, size_t n,
                    const char *le, const char *value, pw_err *err)
{
    if (put_str(t, t->family, err) || put_str(t, suffix, err) ||
        put_labels(t, labels, n, le, err) || put(t, " ", 1, err) || put_str(t, value, err) ||
        put(t, "\n", 1, err))
        return -1;
    return 0;
}

int pw_promtext_sample(pw_promtext *t, const pw_prom_label *labels, size_t nlabels, double value,
                       pw_err *err)
{
    if (!t->family[0])
        return pw_err_set(err, "a sample before any metric family");
    if (t->type == PW_PROM_HISTOGRAM)
        return pw_err_set(err, "histogram '%s' takes pw_promtext_histogram, not a plain sample",
                          t->family);
    if (t->type == PW_PROM_COUNTER && !(value >= 0))
        return pw_err_set(err, "counter '%s' cannot be %g", t->family, value);
    char num[32];
    pw_promtext_format_value(value, num, sizeof num);
    size_t mark = t->len;
    if (put_line(t, "", labels, nlabels, NULL, num, err) != 0)
        return truncate_to(t, mark);
    return 0;
}

int pw_promtext_histogram(pw_promtext *t, const pw_prom_label *labels, size_t nlabels,
                          const double *bounds, const uint64_t *counts, size_t nbounds,
                          uint64_t count, double sum, pw_err *err)
{
    if (!t->family[0] || t->type != PW_PROM_HISTOGRAM)
        return pw_err_set(err, "a histogram series outside a histogram family ('%s')", t->family);
    uint64_t cum = 0;
    for (size_t i = 0; i < nbounds; i++) {
        if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
            return pw_err_set(err,
                              "histogram '%s': bucket bound %zu (%g) is not finite and "
                              "above the previous one",
                              t->family, i, bounds[i]);
        if (counts[i] > count - cum)
            return pw_err_set(err, "histogram '%s': the buckets hold more than count=%" PRIu64,
                              t->family, count);
        cum += counts[i];
    }
    size_t mark = t->len;
    char le[32], num[32];
    cum = 0;
    for (size_t i = 0; i < nbounds; i++) {
        cum += counts[i];
        pw_promtext_format_value(bounds[i], le, sizeof le);
        snprintf(num, sizeof num, "%" PRIu64, cum);
        if (put_line(t, "_bucket", labels, nlabels, le, num, err) != 0)
            goto undo;
    }
    snprintf(num, sizeof num, "%" PRIu64, count);
    if (put_line(t, "_bucket", labels, nlabels, "+Inf", num, err) != 0)
        goto undo;
    pw_promtext_format_value(sum, num, sizeof num);
    if (put_line(t, "_sum", labels, nlabels, NULL, num, err) != 0)
        goto undo;
    snprintf(num, sizeof num, "%" PRIu64, count);
    if (put_line(t, "_count", labels, nlabels, NULL, num, err) != 0)
        goto undo;
    return 0;
undo:
    return truncate_to(t, mark);
}
