/* pw_vs.c -- one run against another over training (see pw_vs.h). */
#include "pw_vs.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pw_array.h"
#include "pw_engine.h"
#include "pw_probe.h"
#include "pw_reduce.h"

/* A growing array of rows. */
typedef struct vs_rows {
    pw_curve_row *v; /* the rows */
    size_t n, cap;   /* used and allocated */
} vs_rows;

/* A step both runs have a present checkpoint at. */
typedef struct vs_step {
    const pw_ckpt_info *a, *b; /* A's and B's checkpoint there */
} vs_step;

static int in_list(const char *name, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(name, list[i]) == 0)
            return 1;
    return 0;
}

static const pw_layer_info *find_layer(const pw_layer_info *ls, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(ls[i].name, name) == 0)
            return &ls[i];
    return NULL;
}

/* Every asked layer is in both runs' layers tables; the error lists the
 * names they share. */
static int check_layers(const pw_run_info *a, const pw_layer_info *la, size_t na,
                        const pw_run_info *b, const pw_layer_info *lb, size_t nb,
                        const char *const *asked, size_t nasked, pw_err *err)
{
    for (size_t k = 0; k < nasked; k++) {
        if (find_layer(la, na, asked[k]) && find_layer(lb, nb, asked[k]))
            continue;
        char known[1024] = "";
        size_t used = 0;
        for (size_t i = 0; i < na && used < sizeof known; i++)
            if (find_layer(lb, nb, la[i].name)) {
                int w = snprintf(known + used, sizeof known - used, "%s%s", used ? ", " : "",
                                 la[i].name);
                if (w < 0)
                    break;
                used += (size_t)w;
            }
        return pw_err_set(err, "no layer '%s' in both %s and %s; layers they share: %s", asked[k],
                          a->name, b->name, known[0] ? known : "none");
    }
    return 0;
}

/* A's layer ta (X) against B's tb (Y) as `pwcca compare` scores it: exact
 * where the probe has more rows than both layers' neurons, else auto's
 * reduction. */
static int compare_pair(const pw_tensor *ta, const pw_tensor *tb, unsigned metrics,
                        pw_curve_row *row)
{
    pw_result r;
    pw_result_init(&r);
    r.metrics = metrics;
    pw_rows x = pw_rows_from_tensor(ta), y = pw_rows_from_tensor(tb);
    pw_reduce use = {PW_REDUCE_AUTO, 0, 0};
    if (x.nrows > x.ncols + y.ncols)
        use.kind = PW_REDUCE_NONE;
    pw_err e;
    pw_err_clear(&e);
    if (pw_engine_compare_reduced(&x, &y, metrics, &use, NULL, NULL, &r, &e) != 0) {
        pw_result_free(&r);
        pw_result_init(&r);
        r.metrics = metrics;
        r.n = x.nrows;
        r.status = PW_READ_ERROR;
        snprintf(r.message, sizeof r.message, "%s", e.msg);
    }
    int computed = r.status != PW_READ_ERROR && r.status != PW_N_MISMATCH &&
                   r.status != PW_OVER_BUDGET && r.status != PW_NONFINITE;
    row->n = (int64_t)r.n;
    row->p_kept = computed ? (int64_t)r.p_kept : -1;
    row->q_kept = computed ? (int64_t)r.q_kept : -1;
#define PW_METRIC_COPY(sym, id, bitno, sel, tpos, label, doc) row->id = r.id;
    PW_METRIC_LIST(PW_METRIC_COPY)
#undef PW_METRIC_COPY
    pw_reduce_format(&r.reduce, row->reduce, sizeof row->reduce);
    int reduced = r.reduce.kind != PW_REDUCE_NONE;
    row->k_x = reduced ? (int64_t)r.k_x : -1;
    row->k_y = reduced ? (int64_t)r.k_y : -1;
    for (unsigned m = 0; m < PW_METRIC_COUNT; m++)
        row->se[m] = NAN;
    row->noise_blocks = -1;
    row->status = strdup(pw_status_name(r.status));
    row->message = r.message[0] ? strdup(r.message) : NULL;
    int oom = !row->status || (r.message[0] && !row->message);
    pw_result_free(&r);
    return oom ? -1 : 0;
}

/* Probe identity of one step's pair: refuse different fingerprints, keep
 * the first warning when only one file has one. */
static int check_probe(const pw_run_info *a, const pw_run_info *b, int64_t step, const char *fa,
                       const char *fb, char *warn, size_t wlen, pw_err *err)
{
    char la[PW_ERR_MAX], lb[PW_ERR_MAX], msg[PW_ERR_MAX + 2 * PW_PATH_MAX];
    snprintf(la, sizeof la, "%s:%lld", a->name, (long long)step);
    snprintf(lb, sizeof lb, "%s:%lld", b->name, (long long)step);
    pw_probe_verdict v = pw_probe_check(fa, la, fb, lb, msg, sizeof msg);
    if (v == PW_PROBE_DIFFERENT)
        return pw_err_set(err, "at step %lld: %s", (long long)step, msg);
    if (v == PW_PROBE_UNKNOWN && (fa[0] || fb[0]) && warn && wlen && !warn[0])
        snprintf(warn, wlen, "%s", msg);
    return 0;
}

/* One step: every layer of A's file with a same-named layer in B's. */
static int do_step(const pw_run_info *a, const pw_run_info *b, const vs_step *s,
                   const pw_layer_info *la, size_t nla, const char *const *layers, size_t nlayers,
                   unsigned metrics, const pw_ckpt_opts *copts, char *warn, size_t wlen,
                   vs_rows *out, pw_err *err)
{
    pw_ckpt *ca = NULL, *cb = NULL;
    int rc = -1;
    if (pw_ckpt_open(&ca, s->a->path, copts, err) != 0 ||
        pw_ckpt_open(&cb, s->b->path, copts, err) != 0)
        goto out;
    /* The files' own fingerprints: the database's were checked before any
     * file was read, but a file may have been replaced since. */
    char fa[PW_PROBE_FP_MAX], fb[PW_PROBE_FP_MAX];
    pw_probe_fingerprint(ca, fa, sizeof fa);
    pw_probe_fingerprint(cb, fb, sizeof fb);
    if (check_probe(a, b, s->a->step, fa, fb, warn, wlen, err) != 0)
        goto out;
    for (size_t i = 0; i < pw_ckpt_nlayers(ca); i++) {
        const pw_tensor *ta = pw_ckpt_layer(ca, i), *tb = pw_ckpt_find(cb, ta->name);
        if (!tb || (nlayers && !in_list(ta->name, layers, nlayers)))
            continue;
        pw_curve_row *more = pw_grow(out->v, &out->cap, out->n + 1, sizeof *out->v, 16);
        if (!more) {
            pw_err_set(err, "out of memory for %zu rows", out->n + 1);
            goto out;
        }
        out->v = more;
        pw_curve_row *row = &out->v[out->n++];
        memset(row, 0, sizeof *row);
        row->run = a->name;
        const pw_layer_info *li = find_layer(la, nla, ta->name);
        row->depth = li ? li->depth : -1;
        row->step = s->a->step;
        snprintf(row->ref, sizeof row->ref, "vs");
        row->ref_step = s->b->step;
        row->layer = strdup(ta->name);
        if (!row->layer || compare_pair(ta, tb, metrics, row) != 0) {
            pw_err_set(err, "out of memory for a row");
            goto out;
        }
    }
    rc = 0;
out:
    pw_ckpt_close(ca);
    pw_ckpt_close(cb);
    return rc;
}

/* Depth (unknown last), then name, then step: the order of `pwcca curve`. */
static int row_cmp(const void *pa, const void *pb)
{
    const pw_curve_row *x = pa, *y = pb;
    if ((x->depth < 0) != (y->depth < 0))
        return x->depth < 0 ? 1 : -1;
    if (x->depth != y->depth)
        return x->depth < y->depth ? -1 : 1;
    int c = strcmp(x->layer, y->layer);
    if (c)
        return c;
    return (x->step > y->step) - (x->step < y->step);
}

int pw_vs_curve(pw_query *q, const pw_run_info *a, const pw_run_info *b, const char *const *layers,
                size_t nlayers, unsigned metrics, const pw_ckpt_opts *copts, char *warn,
                size_t wlen, pw_curve_row **out, size_t *n, pw_err *err)
{
    pw_ckpt_info *ka = NULL, *kb = NULL;
    pw_layer_info *la = NULL, *lb = NULL;
    size_t nka = 0, nkb = 0, nla = 0, nlb = 0, ns = 0;
    vs_step *steps = NULL;
    vs_rows rows = {NULL, 0, 0};
    int rc = -1;
    *out = NULL;
    *n = 0;
    if (warn && wlen)
        warn[0] = '\0';
    if (pw_query_checkpoints(q, a, &ka, &nka, err) != 0 ||
        pw_query_checkpoints(q, b, &kb, &nkb, err) != 0 ||
        pw_query_layers(q, a, &la, &nla, err) != 0 || pw_query_layers(q, b, &lb, &nlb, err) != 0)
        goto out;
    if (check_layers(a, la, nla, b, lb, nlb, layers, nlayers, err) != 0)
        goto out;
    /* The steps both have, files present: a merge of two sorted lists. */
    steps = pw_array_alloc(nka < nkb ? nka + 1 : nkb + 1, sizeof *steps);
    if (!steps) {
        pw_err_set(err, "out of memory for %zu steps", nka);
        goto out;
    }
    for (size_t i = 0, j = 0; i < nka && j < nkb;) {
        if (ka[i].step < kb[j].step)
            i++;
        else if (ka[i].step > kb[j].step)
            j++;
        else {
            if (ka[i].present && kb[j].present)
                steps[ns++] = (vs_step){&ka[i], &kb[j]};
            i++, j++;
        }
    }
    if (ns == 0) {
        pw_err_set(err,
                   "runs %s and %s have no step at which both have a checkpoint file (%s has "
                   "%zu checkpoints, %s %zu)",
                   a->name, b->name, a->name, nka, b->name, nkb);
        goto out;
    }
    /* Refuse a probe mismatch at any step before reading a single file. */
    for (size_t s = 0; s < ns; s++)
        if (check_probe(a, b, steps[s].a->step, steps[s].a->probe ? steps[s].a->probe : "",
                        steps[s].b->probe ? steps[s].b->probe : "", NULL, 0, err) != 0)
            goto out;
    for (size_t s = 0; s < ns; s++)
        if (do_step(a, b, &steps[s], la, nla, layers, nlayers, metrics, copts, warn, wlen, &rows,
                    err) != 0)
            goto out;
    if (rows.n)
        qsort(rows.v, rows.n, sizeof *rows.v, row_cmp);
    *out = rows.v;
    *n = rows.n;
    rows.v = NULL;
    rc = 0;
out:
    pw_query_curve_free(rows.v, rows.n);
    free(steps);
    pw_query_checkpoints_free(ka, nka);
    pw_query_checkpoints_free(kb, nkb);
    pw_query_layers_free(la, nla);
    pw_query_layers_free(lb, nlb);
    return rc;
}
