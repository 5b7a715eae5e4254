/* pw_cluster.c -- the runs' distance matrix and its average linkage (see
 * pw_cluster.h).
 *
 * The clustering is the textbook O(k^3) loop: k is a handful of runs, and
 * the distances cost far more than the merging. */
#include "pw_cluster.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pw_array.h"
#include "pw_grid.h"
#include "pw_json.h"
#include "pw_plot.h"
#include "pw_side.h"

int pw_cluster_measure_parse(const char *s, pw_cluster_measure *m, pw_err *err)
{
    if (strcmp(s, "pwcca") == 0)
        *m = PW_CLUSTER_PWCCA;
    else if (strcmp(s, "procrustes") == 0)
        *m = PW_CLUSTER_PROCRUSTES;
    else
        return pw_err_set(err, "unknown distance '%.100s' (known: pwcca, procrustes)", s);
    return 0;
}

const char *pw_cluster_measure_name(pw_cluster_measure m)
{
    return m == PW_CLUSTER_PROCRUSTES ? "procrustes" : "pwcca";
}

const char *pw_cluster_measure_text(pw_cluster_measure m)
{
    return m == PW_CLUSTER_PROCRUSTES ? "Procrustes distance (radians)"
                                      : "PWCCA distance (mean of both directions)";
}

int pw_cluster_distances(const pw_tensor *const *t, const char *const *labels, size_t k,
                         pw_cluster_measure m, double *d, pw_err *err)
{
    for (size_t i = 1; i < k; i++)
        if (t[i]->rows != t[0]->rows)
            return pw_err_set(err,
                              "%s has n = %llu datapoints but %s has n = %llu: the runs must "
                              "hold the same probe inputs",
                              labels[0], (unsigned long long)t[0]->rows, labels[i],
                              (unsigned long long)t[i]->rows);
    pw_side **side = calloc(k ? k : 1, sizeof(pw_side *));
    if (!side)
        return pw_err_set(err, "out of memory for %zu runs", k);
    int rc = 0;
    int procrustes = m == PW_CLUSTER_PROCRUSTES;
    unsigned metric = procrustes ? PW_M_PROCRUSTES : PW_M_PWCCA;
    for (size_t i = 0; i < k; i++)
        d[i * k + i] = 0;
    /* Row i against every later j (both ways for PWCCA, which is not
     * symmetric): side[i] and side[j] are built by their first pair and
     * serve as X or Y from then on. */
    for (size_t i = 0; i < k && rc == 0; i++)
        for (size_t j = i + 1; j < k && rc == 0; j++)
            for (int dir = 0; dir < 2 - procrustes && rc == 0; dir++) {
                size_t xi = dir ? j : i, yi = dir ? i : j;
                pw_rows x = pw_rows_from_tensor(t[xi]), y = pw_rows_from_tensor(t[yi]);
                pw_result r;
                pw_err e;
                pw_err_clear(&e);
                if (pw_engine_compare(&x, &y, metric, &side[xi], &side[yi], &r, &e) != 0) {
                    rc = pw_err_set(err, "%s against %s: %s", labels[xi], labels[yi], e.msg);
                    break;
                }
                double v = procrustes ? r.procrustes : r.distance;
                if ((!procrustes && r.status != PW_OK) || isnan(v))
                    rc = pw_err_set(err, "%s against %s: %s: %s (no %s to cluster on)", labels[xi],
                                    labels[yi], pw_status_name(r.status), r.message,
                                    procrustes ? "Procrustes distance" : "PWCCA distance");
                else if (procrustes)
                    d[i * k + j] = d[j * k + i] = v;
                else if (dir == 0)
                    d[i * k + j] = v;
                else
                    d[i * k + j] = d[j * k + i] = (d[i * k + j] + v) / 2;
                pw_result_free(&r);
            }
    for (size_t i = 0; i < k; i++)
        pw_side_free(side[i]);
    free(side);
    return rc;
}

int pw_cluster_average(const double *d, size_t k, double (*z)[4], pw_err *err)
{
    for (size_t i = 0; i < k; i++)
        for (size_t j = 0; j < k; j++)
            if (i != j && !(d[i * k + j] >= 0))
                return pw_err_set(err, "distance (%zu, %zu) is %g: not a distance", i, j,
                                  d[i * k + j]);
    /* w: the working matrix between active clusters; id: each slot's cluster
     * number (leaf or k + merge); size: its leaves; slot i is dead when
     * size[i] == 0. */
    double *w = pw_array_alloc(k * k, sizeof(double));
    size_t *id = pw_array_alloc(k, sizeof(size_t)), *size = pw_array_alloc(k, sizeof(size_t));
    if (!w || !id || !size) {
        free(w);
        free(id);
        free(size);
        return pw_err_set(err, "out of memory clustering %zu runs", k);
    }
    memcpy(w, d, k * k * sizeof(double));
    for (size_t i = 0; i < k; i++) {
        id[i] = i;
        size[i] = 1;
    }
    for (size_t m = 0; m + 1 < k; m++) {
        size_t a = 0, b = 0;
        double best = INFINITY;
        /* The closest pair; on a tie the first in (i, j) order. */
        for (size_t i = 0; i < k; i++)
            for (size_t j = i + 1; size[i] && j < k; j++)
                if (size[j] && w[i * k + j] < best) {
                    best = w[i * k + j];
                    a = i;
                    b = j;
                }
        size_t lo = id[a] < id[b] ? id[a] : id[b], hi = id[a] < id[b] ? id[b] : id[a];
        size_t na = size[a], nb = size[b];
        z[m][0] = (double)lo;
        z[m][1] = (double)hi;
        z[m][2] = best;
        z[m][3] = (double)(na + nb);
        /* The union takes slot a; its distance to each other cluster is the
         * mean over leaf pairs, i.e. the size-weighted mean of its parts'. */
        for (size_t c = 0; c < k; c++)
            if (size[c] && c != a && c != b) {
                double v = (na * w[a * k + c] + nb * w[b * k + c]) / (double)(na + nb);
                w[a * k + c] = w[c * k + a] = v;
            }
        size[a] = na + nb;
        size[b] = 0;
        id[a] = k + m;
    }
    free(w);
    free(id);
    free(size);
    return 0;
}

/* Leaves under cluster c (a leaf or k + merge), left to right, from *pos on. */
static void leaves_of(const double (*z)[4], size_t k, size_t c, size_t *order, size_t *pos)
{
    if (c < k) {
        order[(*pos)++] = c;
        return;
    }
    leaves_of(z, k, (size_t)z[c - k][0], order, pos);
    leaves_of(z, k, (size_t)z[c - k][1], order, pos);
}

void pw_cluster_leaves(const double (*z)[4], size_t k, size_t *order)
{
    size_t pos = 0;
    if (k == 1)
        order[0] = 0;
    else if (k > 1)
        leaves_of(z, k, 2 * k - 2, order, &pos);
}

/* The runs under cluster c, appended to a. */
static void members(json_t *a, const double (*z)[4], size_t k, size_t c, const char *const *labels)
{
    if (c < k) {
        json_array_append_new(a, pw_json_str(labels[c]));
        return;
    }
    members(a, z, k, (size_t)z[c - k][0], labels);
    members(a, z, k, (size_t)z[c - k][1], labels);
}

json_t *pw_cluster_json(const char *layer, pw_cluster_measure measure, const char *const *labels,
                        size_t k, const double *d, const double (*z)[4])
{
    json_t *top = json_object(), *runs = json_array(), *mat = json_array(), *link = json_array(),
           *merges = json_array(), *leaves = json_array();
    size_t *order = pw_array_alloc(k ? k : 1, sizeof(size_t));
    if (!top || !runs || !mat || !link || !merges || !leaves || !order) {
        json_decref(top);
        json_decref(runs);
        json_decref(mat);
        json_decref(link);
        json_decref(merges);
        json_decref(leaves);
        free(order);
        return NULL;
    }
    json_object_set_new(top, "layer", pw_json_str(layer));
    json_object_set_new(top, "distance", json_string(pw_cluster_measure_name(measure)));
    for (size_t i = 0; i < k; i++) {
        json_array_append_new(runs, pw_json_str(labels[i]));
        json_t *row = json_array();
        for (size_t j = 0; j < k; j++)
            json_array_append_new(row, pw_json_real(d[i * k + j]));
        json_array_append_new(mat, row);
    }
    for (size_t m = 0; m + 1 < k; m++) {
        json_t *r = json_array();
        for (int c = 0; c < 4; c++)
            json_array_append_new(r,
                                  c == 2 ? json_real(z[m][c]) : json_integer((json_int_t)z[m][c]));
        json_array_append_new(link, r);
        json_t *o = json_object(), *who = json_array();
        json_object_set_new(o, "a", json_integer((json_int_t)z[m][0]));
        json_object_set_new(o, "b", json_integer((json_int_t)z[m][1]));
        json_object_set_new(o, "height", json_real(z[m][2]));
        json_object_set_new(o, "size", json_integer((json_int_t)z[m][3]));
        members(who, z, k, k + m, labels);
        json_object_set_new(o, "runs", who);
        json_array_append_new(merges, o);
    }
    for (size_t i = 0; i < k; i++)
        order[i] = i;
    pw_cluster_leaves(z, k, order);
    for (size_t i = 0; i < k; i++)
        json_array_append_new(leaves, json_integer((json_int_t)order[i]));
    free(order);
    json_object_set_new(top, "runs", runs);
    json_object_set_new(top, "matrix", mat);
    json_object_set_new(top, "linkage", link);
    json_object_set_new(top, "merges", merges);
    json_object_set_new(top, "leaves", leaves);
    return top;
}

int pw_cluster_svg(FILE *f, const char *title, pw_cluster_measure m, const char *const *labels,
                   size_t k, const double *d, const double (*z)[4], pw_err *err)
{
    size_t *order = pw_array_alloc(k, sizeof(size_t));
    const char **names = pw_array_alloc(k, sizeof(const char *));
    double *v = pw_array_alloc(k * k, sizeof(double));
    int rc = -1;
    if (!order || !names || !v) {
        pw_err_set(err, "out of memory drawing %zu runs", k);
        goto out;
    }
    /* Rows and columns in the dendrogram's leaf order, so clusters are blocks. */
    for (size_t i = 0; i < k; i++)
        order[i] = i;
    pw_cluster_leaves(z, k, order);
    double top = 0;
    for (size_t i = 0; i < k; i++) {
        names[i] = labels[order[i]];
        for (size_t j = 0; j < k; j++) {
            v[i * k + j] = d[order[i] * k + order[j]];
            top = v[i * k + j] > top ? v[i * k + j] : top;
        }
    }
    char subtitle[128];
    snprintf(subtitle, sizeof subtitle, "%s, average linkage; darker = closer",
             pw_cluster_measure_text(m));
    pw_grid g = {.title = title,
                 .subtitle = subtitle,
                 .value_label = "distance",
                 .nrows = k,
                 .ncols = k,
                 .row_names = names,
                 .col_names = names,
                 .values = v,
                 .vmin = 0,
                 .vmax = top > 0 ? pw_plot_nice_max(top) : 1,
                 .tree = z,
                 .leaf_order = order};
    rc = pw_grid_svg(f, &g, err);
out:
    free(order);
    free(names);
    free(v);
    return rc;
}
