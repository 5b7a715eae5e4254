/* pw_promtext.h -- a builder for Prometheus' text exposition format (0.0.4).
 *
 * The /metrics endpoint renders its answer with this: a metric family is
 * opened with pw_promtext_family (its HELP and TYPE lines), then its samples
 * follow, each with its own labels.  The builder refuses what Prometheus
 * would reject at scrape time, so a bad name is an error here rather than a
 * target that silently stops being scraped:
 *
 *   - metric names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names
 *     [a-zA-Z_][a-zA-Z0-9_]* and do not start with "__" (reserved);
 *   - counters end in "_total" and nothing else does (promtool's rule);
 *   - a family appears once per exposition, a label once per sample, and a
 *     histogram's "le" label is the builder's own;
 *   - label values and HELP text are escaped (backslash, newline, and in
 *     label values the double quote), and bytes that are not UTF-8 become
 *     U+FFFD, because run and layer names come from file names;
 *   - numbers print in the shortest form that reads back exactly, with
 *     "NaN", "+Inf" and "-Inf" as the format spells them.
 *
 * The text grows on the heap up to PW_PROM_MAX_BYTES. */
#ifndef PW_PROMTEXT_H
#define PW_PROMTEXT_H

#include <stddef.h>
#include <stdint.h>

#include "pw_error.h"

#define PW_PROM_MAX_NAME 256 /* bytes in a metric or label name, NUL included */

typedef enum pw_prom_type {
    PW_PROM_GAUGE,    /* a value that goes up and down */
    PW_PROM_COUNTER,  /* a monotonic count; the name ends in _total */
    PW_PROM_HISTOGRAM /* buckets, _sum and _count */
} pw_prom_type;

typedef struct pw_prom_label {
    const char *name;  /* label name */
    const char *value; /* any bytes; escaped, non-UTF-8 replaced */
} pw_prom_label;

typedef struct pw_promtext {
    char *buf;                     /* the exposition so far, NUL-terminated (NULL when empty) */
    size_t len;                    /* bytes of text in buf */
    size_t cap;                    /* bytes allocated for buf */
    size_t max;                    /* bytes the text may reach */
    char family[PW_PROM_MAX_NAME]; /* the open family's name, "" before the first */
    pw_prom_type type;             /* the open family's type */
    char *seen;                    /* names of the families written, each NUL-terminated */
    size_t seen_len;               /* bytes used in seen */
    size_t seen_cap;               /* bytes allocated for seen */
} pw_promtext;

/* An empty builder that may grow to PW_PROM_MAX_BYTES. */
void pw_promtext_init(pw_promtext *t);
/* Forget the text and the families but keep the memory, for the next scrape. */
void pw_promtext_reset(pw_promtext *t);
/* Release the memory; t is then empty as after init. */
void pw_promtext_free(pw_promtext *t);

/* Open a family: writes "# HELP name help" and "# TYPE name type".  help may be
 * empty, never NULL. */
int pw_promtext_family(pw_promtext *t, const char *name, pw_prom_type type, const char *help,
                       pw_err *err);
/* One sample of the open gauge or counter family: name{labels} value.  A
 * counter's value must be >= 0 (not NaN). */
int pw_promtext_sample(pw_promtext *t, const pw_prom_label *labels, size_t nlabels, double value,
                       pw_err *err);
/* One series of the open histogram family: a cumulative name_bucket line per
 * bound plus le="+Inf", then name_sum and name_count.  counts[i] are the
 * observations in (bounds[i-1], bounds[i]] (not cumulative); count is all
 * observations, those above the last bound included, so count >= sum(counts).
 * bounds must be finite and strictly increasing. */
int pw_promtext_histogram(pw_promtext *t, const pw_prom_label *labels, size_t nlabels,
                          const double *bounds, const uint64_t *counts, size_t nbounds,
                          uint64_t count, double sum, pw_err *err);

/* Write v as the format wants it into buf (at least 32 bytes): "NaN",
 * "+Inf", "-Inf", or the shortest %g form that reads back to v exactly. */
void pw_promtext_format_value(double v, char *buf, size_t len);

#endif
