/* pw_matrix.c -- every layer of A against every layer of B, each layer
 * factored once (see pw_matrix.h). */
#include "pw_matrix.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pw_array.h"
#include "pw_grid.h"
#include "pw_json.h"
#include "pw_metric.h"
#include "pw_side.h"

void pw_matrix_free(pw_matrix *m)
{
    if (!m)
        return;
    for (size_t i = 0; m->cell && i < m->na * m->nb; i++)
        pw_result_free(&m->cell[i]);
    free(m->cell);
    free(m->a);
    free(m->b);
    memset(m, 0, sizeof *m);
}

/* The first layer whose n differs from a[0]'s, as an error naming both. */
static int check_n(const pw_tensor *const *a, size_t na, const pw_tensor *const *b, size_t nb,
                   pw_err *err)
{
    uint64_t n = a[0]->rows;
    for (int side = 0; side < 2; side++) {
        const pw_tensor *const *t = side ? b : a;
        size_t k = side ? nb : na;
        for (size_t i = 0; i < k; i++)
            if (t[i]->rows != n)
                return pw_err_set(err,
                                  "layer '%s' of A has n = %llu datapoints but layer '%s' of %s "
                                  "has n = %llu: every layer must hold the same probe inputs, "
                                  "in the same order",
                                  a[0]->name, (unsigned long long)n, t[i]->name, side ? "B" : "A",
                                  (unsigned long long)t[i]->rows);
    }
    return 0;
}

int pw_matrix_compute(pw_matrix *m, const pw_tensor *const *a, size_t na, const pw_tensor *const *b,
                      size_t nb, unsigned metrics, pw_err *err)
{
    memset(m, 0, sizeof *m);
    if (na == 0 || nb == 0)
        return pw_err_set(err, "%s has no layer to compare", na == 0 ? "A" : "B");
    if (check_n(a, na, b, nb, err) != 0)
        return -1;
    m->na = na;
    m->nb = nb;
    m->metrics = metrics;
    m->n = a[0]->rows;
    m->a = pw_array_alloc(na, sizeof(const pw_tensor *));
    m->b = pw_array_alloc(nb, sizeof(const pw_tensor *));
    m->cell = pw_array_alloc(na * nb, sizeof *m->cell);
    pw_side **sa = calloc(na, sizeof(pw_side *)), **sb = calloc(nb, sizeof(pw_side *));
    int rc = -1;
    if (!m->a || !m->b || !m->cell || !sa || !sb) {
        pw_err_set(err, "out of memory for a %zu x %zu layer matrix", na, nb);
        goto out;
    }
    memcpy(m->a, a, na * sizeof(const pw_tensor *));
    memcpy(m->b, b, nb * sizeof(const pw_tensor *));
    for (size_t i = 0; i < na * nb; i++)
        pw_result_init(&m->cell[i]);
    /* Row by row: side[a_i] is built by (i, 0) and kept for the row; side[b_j]
     * by (0, j) and kept for the column.  A side is not stored when its rows
     * held a NaN or Inf, so such a layer is reread by each of its pairs (each
     * reports nonfinite). */
    for (size_t i = 0; i < na; i++)
        for (size_t j = 0; j < nb; j++) {
            pw_result *r = &m->cell[i * nb + j];
            pw_rows x = pw_rows_from_tensor(a[i]), y = pw_rows_from_tensor(b[j]);
            pw_err e;
            pw_err_clear(&e);
            if (pw_engine_compare(&x, &y, metrics, &sa[i], &sb[j], r, &e) != 0) {
                pw_result_init(r);
                r->metrics = metrics;
                r->n = x.nrows;
                r->p = x.ncols;
                r->q = y.ncols;
                r->status = PW_READ_ERROR;
                snprintf(r->message, sizeof r->message, "%s", e.msg);
            }
        }
    rc = 0;
out:
    for (size_t i = 0; sa && i < na; i++)
        pw_side_free(sa[i]);
    for (size_t j = 0; sb && j < nb; j++)
        pw_side_free(sb[j]);
    free(sa);
    free(sb);
    return rc;
}

/* Whether a cell's counts were computed (not refused before the pass). */
static int computed(const pw_result *r)
{
    return r->status != PW_READ_ERROR && r->status != PW_N_MISMATCH &&
           r->status != PW_OVER_BUDGET && r->status != PW_NONFINITE;
}

static json_t *names(const pw_tensor *const *t, size_t n)
{
    json_t *v = json_array();
    for (size_t i = 0; v && i < n; i++)
        json_array_append_new(v, pw_json_str(t[i]->name));
    return v;
}

json_t *pw_matrix_json(const pw_matrix *m, const char *a_label, const char *b_label)
{
    json_t *top = json_object();
    if (!top)
        return NULL;
    json_object_set_new(top, "a", pw_json_str(a_label));
    json_object_set_new(top, "b", pw_json_str(b_label));
    json_object_set_new(top, "n", json_integer((json_int_t)m->n));
    json_object_set_new(top, "layers_a", names(m->a, m->na));
    json_object_set_new(top, "layers_b", names(m->b, m->nb));
    /* One grid per metric computed, rows A's layers: matrix[i][j]. */
    json_t *grids = json_object();
    for (unsigned k = 0; k < PW_METRIC_COUNT; k++) {
        if (!(m->metrics & pw_metric_bit(k)))
            continue;
        json_t *rows = json_array();
        for (size_t i = 0; i < m->na; i++) {
            json_t *row = json_array();
            for (size_t j = 0; j < m->nb; j++)
                json_array_append_new(row, pw_json_real(pw_matrix_value(m, i, j, k)));
            json_array_append_new(rows, row);
        }
        json_object_set_new(grids, pw_metric_name(k), rows);
    }
    json_object_set_new(top, "matrix", grids);
    json_t *cells = json_array();
    for (size_t i = 0; i < m->na; i++)
        for (size_t j = 0; j < m->nb; j++) {
            const pw_result *r = &m->cell[i * m->nb + j];
            json_t *o = json_object();
            json_object_set_new(o, "layer_a", pw_json_str(m->a[i]->name));
            json_object_set_new(o, "layer_b", pw_json_str(m->b[j]->name));
            json_object_set_new(o, "p", json_integer((json_int_t)r->p));
            json_object_set_new(o, "q", json_integer((json_int_t)r->q));
            json_object_set_new(o, "p_kept",
                                computed(r) ? json_integer((json_int_t)r->p_kept) : json_null());
            json_object_set_new(o, "q_kept",
                                computed(r) ? json_integer((json_int_t)r->q_kept) : json_null());
#define PW_METRIC_JSON(sym, id, bitno, sel, tpos, label, doc)                                      \
    json_object_set_new(o, #id, pw_json_real(r->id));
            PW_METRIC_LIST(PW_METRIC_JSON)
#undef PW_METRIC_JSON
            json_object_set_new(o, "status", json_string(pw_status_name(r->status)));
            json_object_set_new(o, "message",
                                r->message[0] ? pw_json_str(r->message) : json_null());
            json_array_append_new(cells, o);
        }
    json_object_set_new(top, "cells", cells);
    return top;
}

double pw_matrix_value(const pw_matrix *m, size_t i, size_t j, unsigned metric)
{
    const pw_result *r = &m->cell[i * m->nb + j];
#define PW_METRIC_VALUE(sym, id, bitno, sel, tpos, label, doc)                                     \
    if (metric == PW_METRIC_##sym)                                                                 \
        return r->id;
    PW_METRIC_LIST(PW_METRIC_VALUE)
#undef PW_METRIC_VALUE
    return NAN;
}

int pw_matrix_svg(FILE *f, const pw_matrix *m, unsigned metric, const char *a_label,
                  const char *b_label, pw_err *err)
{
    const char **rn = pw_array_alloc(m->na, sizeof(const char *)),
               **cn = pw_array_alloc(m->nb, sizeof(const char *));
    double *v = pw_array_alloc(m->na * m->nb, sizeof *v);
    char title[PW_ERR_MAX], sub[PW_ERR_MAX], rt[PW_ERR_MAX], ct[PW_ERR_MAX];
    int rc = -1;
    if (!rn || !cn || !v) {
        pw_err_set(err, "out of memory for a %zu x %zu heatmap", m->na, m->nb);
        goto out;
    }
    for (size_t i = 0; i < m->na; i++)
        rn[i] = m->a[i]->name;
    for (size_t j = 0; j < m->nb; j++)
        cn[j] = m->b[j]->name;
    for (size_t i = 0; i < m->na; i++)
        for (size_t j = 0; j < m->nb; j++)
            v[i * m->nb + j] = pw_matrix_value(m, i, j, metric);
    snprintf(title, sizeof title, "%s: %s", pw_metric_label(metric),
             "every layer of A against every layer of B");
    snprintf(sub, sizeof sub, "n = %llu datapoints; cell (A layer, B layer) has A as X, B as Y",
             (unsigned long long)m->n);
    snprintf(rt, sizeof rt, "A: %s", a_label);
    snprintf(ct, sizeof ct, "B: %s", b_label);
    pw_grid g = {.title = title,
                 .subtitle = sub,
                 .value_label = pw_metric_name(metric),
                 .row_title = rt,
                 .col_title = ct,
                 .nrows = m->na,
                 .ncols = m->nb,
                 .row_names = rn,
                 .col_names = cn,
                 .values = v,
                 .vmin = 0,
                 .vmax = 1,
                 .rows_up = 1};
    rc = pw_grid_svg(f, &g, err);
out:
    free(rn);
    free(cn);
    free(v);
    return rc;
}
