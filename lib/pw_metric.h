/* pw_metric.h -- the one list of similarity metrics a score carries.
 *
 * Not to be confused with pw_metrics.h, the daemon's Prometheus counters: a
 * "metric" here is a number pwccad computes for a pair of layers (PWCCA,
 * CKA, ...).  Everything that names, parses, stores, reads or prints these
 * numbers is driven by PW_METRIC_LIST, so the places cannot disagree:
 *
 *   pw_result and pw_curve_row fields   PW_METRIC_FIELD
 *   metrics lists ("pwcca, cka", "all") pw_metric_set_parse (config and compare)
 *   scores INSERT and the curve query   PW_METRIC_SQL_COLS / PW_METRIC_SQL_QMARKS
 *   compare and curve output columns    the name (JSON, CSV, compare table) and
 *                                       label (curve table)
 *
 * One entry per reported value: X(sym, id, bitno, sel, tpos, label, doc) where
 *   sym    suffix of PW_M_<sym> (the selection bit) and PW_METRIC_<sym> (its index)
 *   id     the result field, the scores column, and the name in lists, JSON and
 *          CSV -- one identifier so they cannot drift apart
 *   bitno  the selection bit that computes it (a derived value shares its
 *          source's bit: distance = 1 - pwcca)
 *   sel    1 when a metrics list may name it, 0 for a derived value
 *   tpos   its column among the metrics of `pwcca curve`'s table (0 first)
 *   label  that table's heading
 *   doc    one line for readers
 *
 * The order is that of the scores table, CSV and JSON: a public contract, so
 * append only.  Adding a metric: an entry here, its formula (lib/pw_cca.c,
 * lib/pw_engine.c), a migration adding its column (schema/NNN_*.sql), a test
 * (docs/ARCHITECTURE.md, "How to add a metric"). */
#ifndef PW_METRIC_H
#define PW_METRIC_H

#include "pw_error.h"

#define PW_METRIC_LIST(X)                                                                          \
    X(PWCCA, pwcca, 0, 1, 1, "PWCCA", "projection-weighted CCA similarity")                        \
    X(DISTANCE, distance, 0, 0, 0, "DISTANCE", "1 - pwcca")                                        \
    X(MEAN_CCA, mean_cca, 1, 1, 4, "MEAN_CCA", "mean of the canonical correlations")               \
    X(SVCCA, svcca, 2, 1, 2, "SVCCA", "SVCCA at 99 % variance")                                    \
    X(CKA, cka, 3, 1, 3, "CKA", "linear CKA")                                                      \
    X(CKA_DEBIASED, cka_debiased, 4, 1, 5, "CKA_DEB", "linear CKA, unbiased HSIC estimator")       \
    X(PROCRUSTES, procrustes, 5, 1, 6, "PROCRUSTES", "angular orthogonal Procrustes distance")

/* PW_METRIC_<sym>: the entry's index in the list. */
enum {
#define PW_METRIC_INDEX(sym, id, bitno, sel, tpos, label, doc) PW_METRIC_##sym,
    PW_METRIC_LIST(PW_METRIC_INDEX)
#undef PW_METRIC_INDEX
        PW_METRIC_COUNT
};

/* Metric selection bits: PW_M_<sym> computes that entry; PW_M_ALL is every one. */
enum {
#define PW_METRIC_BIT(sym, id, bitno, sel, tpos, label, doc) PW_M_##sym = 1u << (bitno),
    PW_METRIC_LIST(PW_METRIC_BIT)
#undef PW_METRIC_BIT
#define PW_METRIC_BIT_OR(sym, id, bitno, sel, tpos, label, doc) | (1u << (bitno))
        PW_M_ALL = 0u PW_METRIC_LIST(PW_METRIC_BIT_OR)
#undef PW_METRIC_BIT_OR
};

/* A struct member per metric, for structs carrying every metric as a double
 * (NAN when not requested, not applicable or NULL). */
#define PW_METRIC_FIELD(sym, id, bitno, sel, tpos, label, doc) double id;

/* "pwcca, distance, ..." with a prefix before each column (e.g. "s."), as one
 * string literal, and the matching "?," placeholders. */
#define PW_METRIC_SQL_COL_(sym, id, bitno, sel, tpos, label, doc)   PW_METRIC_SQL_PREFIX #id ","
#define PW_METRIC_SQL_QMARK_(sym, id, bitno, sel, tpos, label, doc) "?,"
#define PW_METRIC_SQL_COLS                                          PW_METRIC_LIST(PW_METRIC_SQL_COL_)
#define PW_METRIC_SQL_QMARKS                                        PW_METRIC_LIST(PW_METRIC_SQL_QMARK_)

/* The name of entry i ("pwcca", ...) and its curve table heading. */
const char *pw_metric_name(unsigned i);
const char *pw_metric_label(unsigned i);
/* Position of entry i among the metric columns of `pwcca curve`'s table. */
unsigned pw_metric_table_pos(unsigned i);
/* The PW_M_* bit that computes entry i (a derived entry shares its source's:
 * distance has PW_M_PWCCA), so a loop over the entries can ask whether a
 * selection holds entry i. */
unsigned pw_metric_bit(unsigned i);

/* Parse a metrics list: names from PW_METRIC_LIST that sel allows, or "all",
 * separated by commas, blanks around each name ignored ("pwcca, cka").
 * Used by the config's metrics key and `pwcca compare --metrics` alike.
 * Returns 0 with *bits set, or -1 with err naming the unknown or empty item
 * and the known names (*bits untouched). */
int pw_metric_set_parse(const char *list, unsigned *bits, pw_err *err);

#endif
