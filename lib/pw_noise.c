/* pw_noise.c -- jackknife standard errors: the noise mode, the blocks of
 * inputs, the per-block pass and its merges, and the leave-one-block-out
 * comparisons (pw_noise.h).
 *
 * Merging.  Each block's Gram is centred about its own mean (pw_gram_pass
 * does that), so no step below ever subtracts a large mean: with
 * d_k = mu_k - mu,
 *     S = sum_k S_k + sum_k n_k d_k d_k^T,            mu = sum_k n_k mu_k / n,
 * and, for the probe without block k (n' = n - n_k rows),
 *     S_(k) = S - S_k - (n_k n / n') d_k d_k^T,       mu_(k) = mu - (n_k / n') d_k
 * (Chan's pairwise formula solved for the other part).  The subtraction costs
 * O((p+q)^2) per block instead of summing B - 1 Grams; it loses digits only
 * in a column whose variance lies almost all in block k, so when a column
 * kept without block k has S_(k)jj below PW_NOISE_GUARD of S_jj that block's
 * sums are summed afresh from the others.  A column constant without block k
 * is decided exactly, from the other blocks' raw extremes. */
#include "pw_noise.h"

#include <assert.h>
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pw_array.h"
#include "pw_limits.h"

/* ---- the mode ---------------------------------------------------------------- */

#define FORMS "off, jackknife:B (2 <= B <= 1000) or jackknife:B every N (N >= 1)"

/* A whole number in [lo, hi] that is all of s; 0, or -1. */
static int whole(const char *s, unsigned long lo, unsigned long hi, unsigned *out)
{
    char *end;
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0' || errno != 0 || v < lo || v > hi)
        return -1;
    *out = (unsigned)v;
    return 0;
}

int pw_noise_parse(const char *text, pw_noise_mode *out, pw_err *err)
{
    char t[PW_NOISE_TEXT_MAX];
    char w[3][PW_NOISE_TEXT_MAX];
    size_t nw = 0, len = strlen(text);
    if (len >= sizeof t)
        return pw_err_set(err, "noise mode '%.40s...' is too long: use " FORMS, text);
    memcpy(t, text, len + 1);
    for (char *save = NULL, *tok = strtok_r(t, " \t", &save); tok;
         tok = strtok_r(NULL, " \t", &save)) {
        if (nw == 3)
            return pw_err_set(err, "noise mode '%s' has words too many: use " FORMS, text);
        snprintf(w[nw++], sizeof w[0], "%s", tok);
    }
    pw_noise_mode m = {.blocks = 0, .every = 1};
    if (nw == 1 && strcmp(w[0], "off") == 0) {
        *out = m;
        return 0;
    }
    if (nw == 0 || strncmp(w[0], "jackknife:", 10) != 0)
        return pw_err_set(err, "unknown noise mode '%s': use " FORMS, text);
    if (whole(w[0] + 10, 2, PW_NOISE_MAX_BLOCKS, &m.blocks) != 0)
        return pw_err_set(err,
                          "noise mode '%s': B must be a whole number of blocks from 2 to %d; "
                          "use " FORMS,
                          text, PW_NOISE_MAX_BLOCKS);
    m.every = PW_NOISE_DEFAULT_EVERY;
    if (nw == 2 || (nw == 3 && strcmp(w[1], "every") != 0))
        return pw_err_set(err,
                          "noise mode '%s': after jackknife:B only 'every N' may follow; "
                          "use " FORMS,
                          text);
    if (nw == 3 && whole(w[2], 1, PW_NOISE_MAX_EVERY, &m.every) != 0)
        return pw_err_set(err,
                          "noise mode '%s': N of 'every N' must be a whole number from 1 to %d; "
                          "use " FORMS,
                          text, PW_NOISE_MAX_EVERY);
    *out = m;
    return 0;
}

void pw_noise_format(const pw_noise_mode *m, char *buf, size_t len)
{
    if (m->blocks == 0)
        snprintf(buf, len, "off");
    else if (m->every == PW_NOISE_DEFAULT_EVERY)
        snprintf(buf, len, "jackknife:%u", m->blocks);
    else
        snprintf(buf, len, "jackknife:%u every %u", m->blocks, m->every);
}

int pw_noise_due(const pw_noise_mode *m, uint64_t index)
{
    return m->blocks > 0 && index % (m->every ? m->every : 1) == 0;
}

/* ---- blocks ------------------------------------------------------------------ */

int pw_blocks_init(pw_blocks *b, uint64_t nrows, uint64_t inputs, unsigned count, pw_err *err)
{
    if (count < 2)
        return pw_err_set(err, "a jackknife needs at least 2 blocks, not %u", count);
    if (inputs == 0 || nrows % inputs != 0)
        return pw_err_set(err, "%llu rows are not a whole number of rows for each of %llu inputs",
                          (unsigned long long)nrows, (unsigned long long)inputs);
    if (count > inputs)
        return pw_err_set(err,
                          "%u blocks need at least %u probe inputs, but the layer has %llu "
                          "(every input's rows stay in one block)",
                          count, count, (unsigned long long)inputs);
    *b = (pw_blocks){
        .nrows = nrows, .inputs = inputs, .rows_per_input = nrows / inputs, .count = count};
    return 0;
}

uint64_t pw_blocks_first_input(const pw_blocks *b, unsigned k)
{
    assert(k <= b->count);
    /* floor(k N / B) without overflow: N < 2^64, k <= B <= PW_NOISE_MAX_BLOCKS. */
    return b->inputs / b->count * k + b->inputs % b->count * k / b->count;
}

uint64_t pw_blocks_first_row(const pw_blocks *b, unsigned k)
{
    return pw_blocks_first_input(b, k) * b->rows_per_input;
}

unsigned pw_blocks_of_row(const pw_blocks *b, uint64_t row)
{
    assert(row < b->nrows);
    uint64_t i = row / b->rows_per_input;
    /* The k with floor(k N / B) <= i < floor((k+1) N / B): k = floor(((i+1) B - 1) / N),
     * then nudged (the division above is exact, this only guards its use). */
    unsigned k = (unsigned)(((unsigned __int128)(i + 1) * b->count - 1) / b->inputs);
    while (k > 0 && pw_blocks_first_input(b, k) > i)
        k--;
    while (k + 1 < b->count && pw_blocks_first_input(b, k + 1) <= i)
        k++;
    return k;
}

uint64_t pw_noise_inputs(const pw_tensor *t)
{
    return t->ndim >= 1 ? t->shape[0] : t->rows;
}

double pw_jackknife_se(const double *theta, unsigned count)
{
    assert(count >= 2);
    double mean = 0;
    for (unsigned k = 0; k < count; k++)
        mean += theta[k];
    mean /= count;
    double ss = 0;
    for (unsigned k = 0; k < count; k++)
        ss += (theta[k] - mean) * (theta[k] - mean);
    return sqrt((double)(count - 1) / count * ss); /* NAN propagates */
}

/* ---- sums -------------------------------------------------------------------- */

int pw_noise_take(const pw_gram_given *gv, pw_gram_side *x, pw_gram_side *y, double *g, size_t ld,
                  pw_gram_bad *bad)
{
    memset(bad, 0, sizeof *bad);
    memcpy(g, gv->g, ld * ld * sizeof(double));
    pw_gram_side *sd[2] = {x, y};
    for (int i = 0; i < 2; i++) {
        size_t nc = sd[i]->rows->ncols;
        memcpy(sd[i]->mean, gv->mean[i], nc * sizeof(double));
        if (sd[i]->fresh) {
            memcpy(sd[i]->min, gv->min[i], nc * sizeof(double));
            memcpy(sd[i]->max, gv->max[i], nc * sizeof(double));
        }
    }
    return 0;
}

uint64_t pw_noise_sums_bytes(uint64_t p, uint64_t q, unsigned count)
{
    uint64_t ld = pw_sat_add(p, q), sq = pw_sat_mul(ld, ld);
    /* count block Grams, the merged one and a leave-one-out scratch, their
     * statistics, and the counts. */
    uint64_t d = pw_sat_add(pw_sat_mul(sq, (uint64_t)count + 2),
                            pw_sat_mul(pw_sat_mul(ld, 3), (uint64_t)count + 3));
    return pw_sat_add(pw_sat_mul(d, sizeof(double)), pw_sat_mul(count, sizeof(uint64_t)));
}

/* A block's rows of one side: a view of rows [row0, row0 + nrows). */
typedef struct sub_view {
    const pw_rows *parent; /* the whole layer's rows */
    uint64_t row0;         /* the block's first row in them */
    pw_tensor t;           /* a contiguous tensor's block, for the direct path */
} sub_view;

static int sub_read(void *ctx, uint64_t row0, size_t nrows, double *out, pw_err *err)
{
    const sub_view *v = ctx;
    return v->parent->read(v->parent->ctx, v->row0 + row0, nrows, out, err);
}

static pw_rows sub_rows(const pw_rows *r, uint64_t row0, uint64_t nrows, uint64_t ninputs,
                        sub_view *v)
{
    pw_rows s = *r;
    s.nrows = nrows;
    s.given = NULL;
    if (r->mem) {
        s.mem = r->mem + row0 * r->ncols;
        return s;
    }
    pw_dtype dt;
    const unsigned char *d = pw_rows_direct(r, &dt);
    if (d) {
        /* Rows the pass reads straight from a tensor: a tensor of the block's
         * inputs keeps that fast path. */
        v->t = *(const pw_tensor *)r->ctx;
        size_t rowbytes = r->ncols * pw_dtype_size(dt);
        v->t.data = d + row0 * rowbytes;
        v->t.rows = nrows;
        v->t.nbytes = nrows * rowbytes;
        v->t.shape[0] = ninputs;
        s = pw_rows_from_tensor(&v->t);
        s.chunk_rows = r->chunk_rows;
        s.cancelled = r->cancelled;
        s.cancel_ctx = r->cancel_ctx;
        return s;
    }
    v->parent = r;
    v->row0 = row0;
    s.read = sub_read;
    s.ctx = v;
    return s;
}

void pw_noise_sums_free(pw_noise_sums *s)
{
    free(s->n);
    free(s->g);
    free(s->stats);
    free(s->full_g);
    free(s->full);
    free(s->d);
    memset(s, 0, sizeof *s);
}

/* Sum in the blocks selected (all but `skip`; skip >= count: all) into
 * g / stats: Chan's merge about the selection's mean.  Returns the rows. */
static uint64_t merge(const pw_noise_sums *s, unsigned skip, double *g, double *stats)
{
    size_t ld = s->ld, sq = ld * ld;
    unsigned count = s->blocks.count;
    uint64_t n = 0;
    double *mean = stats, *mn = stats + ld, *mx = stats + 2 * ld;
    memset(g, 0, sq * sizeof(double));
    memset(mean, 0, ld * sizeof(double));
    for (size_t j = 0; j < ld; j++) {
        mn[j] = INFINITY;
        mx[j] = -INFINITY;
    }
    for (unsigned k = 0; k < count; k++) {
        if (k == skip)
            continue;
        const double *st = s->stats + (size_t)k * 3 * ld;
        n += s->n[k];
        cblas_daxpy((int)ld, (double)s->n[k], st, 1, mean, 1);
        cblas_daxpy((int)sq, 1.0, s->g + k * sq, 1, g, 1);
        for (size_t j = 0; j < ld; j++) {
            mn[j] = st[ld + j] < mn[j] ? st[ld + j] : mn[j];
            mx[j] = st[2 * ld + j] > mx[j] ? st[2 * ld + j] : mx[j];
        }
    }
    cblas_dscal((int)ld, 1.0 / (double)n, mean, 1);
    double *d = s->d;
    for (unsigned k = 0; k < count; k++) {
        if (k == skip)
            continue;
        const double *st = s->stats + (size_t)k * 3 * ld;
        for (size_t j = 0; j < ld; j++)
            d[j] = st[j] - mean[j];
        cblas_dsyr(CblasColMajor, CblasUpper, (int)ld, (double)s->n[k], d, 1, g, (int)ld);
    }
    return n;
}

int pw_noise_sums_pass(pw_noise_sums *s, const pw_rows *x, const pw_rows *y, const pw_blocks *b,
                       pw_gram_bad *bad, pw_err *err)
{
    memset(s, 0, sizeof *s);
    memset(bad, 0, sizeof *bad);
    s->blocks = *b;
    s->p = x->ncols;
    s->q = y->ncols;
    s->ld = s->p + s->q;
    size_t ld = s->ld, count = b->count;
    if (ld > 0 && (ld > SIZE_MAX / sizeof(double) / ld / (count + 1)))
        return pw_err_set(err, "%zu block Grams of %zu neurons do not fit in memory", count, ld);
    size_t sq = ld * ld;
    s->n = calloc(count ? count : 1, sizeof(uint64_t));
    s->g = pw_array_alloc(count * sq, sizeof(double));
    s->stats = pw_array_alloc(count * 3 * ld, sizeof(double));
    s->full_g = pw_array_alloc(sq, sizeof(double));
    s->full = pw_array_alloc(3 * ld, sizeof(double));
    s->d = pw_array_alloc(ld, sizeof(double));
    if (!s->n || !s->g || !s->stats || !s->full_g || !s->full || !s->d)
        return pw_err_set(err, "out of memory for %zu block Grams of %zu + %zu neurons", count,
                          s->p, s->q);
    for (unsigned k = 0; k < count; k++) {
        uint64_t r0 = pw_blocks_first_row(b, k), r1 = pw_blocks_first_row(b, k + 1);
        uint64_t i0 = pw_blocks_first_input(b, k), i1 = pw_blocks_first_input(b, k + 1);
        sub_view vx, vy;
        pw_rows bx = sub_rows(x, r0, r1 - r0, i1 - i0, &vx);
        pw_rows by = sub_rows(y, r0, r1 - r0, i1 - i0, &vy);
        double *st = s->stats + (size_t)k * 3 * ld;
        pw_gram_side gx = {.rows = &bx, .fresh = 1, .mean = st, .min = st + ld, .max = st + 2 * ld};
        pw_gram_side gy = {.rows = &by,
                           .fresh = 1,
                           .mean = st + s->p,
                           .min = st + ld + s->p,
                           .max = st + 2 * ld + s->p};
        s->n[k] = r1 - r0;
        unsigned lanes = pw_engine_lanes_begin(&bx, &by);
        int rc = pw_gram_pass(&gx, &gy, lanes, s->g + k * sq, bad, err);
        pw_engine_lanes_end(lanes);
        if (rc != 0)
            return -1;
        if (bad->kind != PW_GRAM_GOOD) {
            bad->row += r0;
            return 0;
        }
    }
    merge(s, count, s->full_g, s->full);
    return 0;
}

uint64_t pw_noise_sums_without(const pw_noise_sums *s, unsigned k, double *g, double *stats)
{
    size_t ld = s->ld, sq = ld * ld;
    unsigned count = s->blocks.count;
    assert(k < count);
    uint64_t n = s->blocks.nrows, nk = s->n[k], rest = n - nk;
    const double *st = s->stats + (size_t)k * 3 * ld;
    double *mean = stats, *mn = stats + ld, *mx = stats + 2 * ld;
    /* The extremes of the others, exactly. */
    for (size_t j = 0; j < ld; j++) {
        mn[j] = INFINITY;
        mx[j] = -INFINITY;
    }
    for (unsigned c = 0; c < count; c++) {
        if (c == k)
            continue;
        const double *sc = s->stats + (size_t)c * 3 * ld;
        for (size_t j = 0; j < ld; j++) {
            mn[j] = sc[ld + j] < mn[j] ? sc[ld + j] : mn[j];
            mx[j] = sc[2 * ld + j] > mx[j] ? sc[2 * ld + j] : mx[j];
        }
    }
    /* d = mu_k - mu, kept in mean until it becomes mu_(k). */
    for (size_t j = 0; j < ld; j++)
        mean[j] = st[j] - s->full[j];
    memcpy(g, s->full_g, sq * sizeof(double));
    cblas_daxpy((int)sq, -1.0, s->g + k * sq, 1, g, 1);
    cblas_dsyr(CblasColMajor, CblasUpper, (int)ld, -(double)nk * (double)n / (double)rest, mean, 1,
               g, (int)ld);
    for (size_t j = 0; j < ld; j++)
        mean[j] = s->full[j] - (double)nk / (double)rest * mean[j];
    /* Guard: a column kept without block k whose variance mostly lay in it. */
    for (size_t j = 0; j < ld; j++) {
        if (mx[j] > mn[j] && !(g[j * ld + j] > PW_NOISE_GUARD * s->full_g[j * ld + j])) {
            merge(s, k, g, stats);
            break;
        }
    }
    return rest;
}

/* ---- comparison -------------------------------------------------------------- */

void pw_noise_result_init(pw_noise_result *nr)
{
    nr->blocks = 0;
    nr->message[0] = '\0';
    for (unsigned m = 0; m < PW_METRIC_COUNT; m++)
        nr->se[m] = NAN;
}

uint64_t pw_noise_estimate(const pw_rows *x, const pw_rows *y, unsigned blocks)
{
    return blocks ? pw_noise_sums_bytes(x->ncols, y->ncols, blocks) : 0;
}

/* The metrics of a result, indexed as PW_METRIC_LIST. */
static void metric_values(const pw_result *r, double *v)
{
#define PW_NOISE_GET(sym, id, bitno, sel, tpos, label, doc) v[PW_METRIC_##sym] = r->id;
    PW_METRIC_LIST(PW_NOISE_GET)
#undef PW_NOISE_GET
}

/* "12.0 MiB" for messages. */
static void mib(uint64_t b, char *buf, size_t len)
{
    snprintf(buf, len, "%.1f MiB", (double)b / (double)(1u << 20));
}

int pw_noise_compare(const pw_rows *x, const pw_rows *y, uint64_t inputs, unsigned metrics,
                     const pw_noise_mode *mode, uint64_t budget_bytes, const char *knob,
                     pw_side **x_cache, pw_side **y_cache, pw_result *out, pw_noise_result *noise,
                     pw_err *err)
{
    pw_noise_result_init(noise);
    char text[PW_NOISE_TEXT_MAX];
    pw_noise_format(mode, text, sizeof text);
    pw_blocks b = {0}; /* zeroed: the analyzer cannot follow pw_blocks_init */
    pw_err berr;
    if (mode->blocks == 0 || x->nrows != y->nrows || x->given)
        return pw_engine_compare(x, y, metrics, x_cache, y_cache, out, err);
    if (pw_blocks_init(&b, x->nrows, inputs, mode->blocks, &berr) != 0) {
        snprintf(noise->message, sizeof noise->message, "no standard errors (%s): %.700s", text,
                 berr.msg);
        return pw_engine_compare(x, y, metrics, x_cache, y_cache, out, err);
    }
    if (budget_bytes) {
        uint64_t engine = pw_engine_estimate(x, y, metrics, 0);
        uint64_t extra = pw_noise_estimate(x, y, mode->blocks);
        if (pw_sat_add(engine, extra) > budget_bytes) {
            char need[32], have[32];
            mib(extra, need, sizeof need);
            mib(budget_bytes, have, sizeof have);
            snprintf(noise->message, sizeof noise->message,
                     "no standard errors (%s): its %u block Grams need an estimated %s more, "
                     "beyond the memory budget of %s (%s); fewer blocks or a larger budget "
                     "would give them",
                     text, mode->blocks, need, have, knob ? knob : "memory budget");
            return pw_engine_compare(x, y, metrics, x_cache, y_cache, out, err);
        }
    }

    pw_noise_sums s;
    pw_gram_bad bad;
    int rc = pw_noise_sums_pass(&s, x, y, &b, &bad, err);
    if (rc != 0 || bad.kind != PW_GRAM_GOOD) {
        pw_noise_sums_free(&s);
        if (rc != 0) {
            pw_result_init(out);
            return -1;
        }
        /* The engine's own pass reports the value and where it is. */
        snprintf(noise->message, sizeof noise->message,
                 "no standard errors (%s): the rows hold a non-finite value", text);
        return pw_engine_compare(x, y, metrics, x_cache, y_cache, out, err);
    }
    size_t ld = s.ld, p = s.p;
    pw_gram_given full = {.g = s.full_g,
                          .mean = {s.full, s.full + p},
                          .min = {s.full + ld, s.full + ld + p},
                          .max = {s.full + 2 * ld, s.full + 2 * ld + p}};
    pw_rows gx = *x;
    gx.given = &full;
    /* Debiased CKA needs sums the block pass does not keep: the full value
     * comes from a pass of its own over the rows (the sides' Grams and
     * factorizations are reused), and it gets no standard error. */
    unsigned given_metrics = metrics & ~(unsigned)PW_M_CKA_DEBIASED;
    rc = pw_engine_compare(&gx, y, given_metrics, x_cache, y_cache, out, err);
    if (rc == 0 && (metrics & PW_M_CKA_DEBIASED) && out->status == PW_OK) {
        pw_result r;
        rc = pw_engine_compare(x, y, PW_M_CKA_DEBIASED, x_cache, y_cache, &r, err);
        if (rc == 0)
            out->cka_debiased = r.cka_debiased;
        pw_result_free(&r);
    }
    if (rc != 0) {
        pw_noise_sums_free(&s);
        return rc;
    }

    unsigned count = b.count;
    double *theta = pw_array_alloc((size_t)count * PW_METRIC_COUNT, sizeof(double));
    double *lg = pw_array_alloc(ld * ld, sizeof(double));
    double *lst = pw_array_alloc(3 * ld, sizeof(double));
    double main_v[PW_METRIC_COUNT];
    metric_values(out, main_v);
    int failed = !theta || !lg || !lst;
    if (failed)
        snprintf(noise->message, sizeof noise->message,
                 "no standard errors (%s): out of memory for the leave-one-out Grams", text);
    for (unsigned k = 0; k < count && !failed; k++) {
        uint64_t rest = pw_noise_sums_without(&s, k, lg, lst);
        pw_gram_given gv = {.g = lg,
                            .mean = {lst, lst + p},
                            .min = {lst + ld, lst + ld + p},
                            .max = {lst + 2 * ld, lst + 2 * ld + p}};
        pw_rows lx = {.nrows = rest, .ncols = x->ncols, .given = &gv};
        pw_rows ly = {.nrows = rest, .ncols = y->ncols};
        pw_result r;
        pw_err lerr;
        pw_err_clear(&lerr);
        if (pw_engine_compare(&lx, &ly, given_metrics, NULL, NULL, &r, &lerr) != 0) {
            snprintf(noise->message, sizeof noise->message,
                     "no standard errors (%s): without block %u: %.700s", text, k + 1, lerr.msg);
            failed = 1;
            break;
        }
        double v[PW_METRIC_COUNT];
        metric_values(&r, v);
        for (unsigned m = 0; m < PW_METRIC_COUNT; m++) {
            theta[m * count + k] = v[m];
            if (isnan(v[m]) && !isnan(main_v[m]) && m != PW_METRIC_CKA_DEBIASED &&
                !noise->message[0])
                snprintf(noise->message, sizeof noise->message,
                         "%s has no standard error (%s): without block %u of %u (%llu of "
                         "%llu rows left) it is not determined: %.600s",
                         pw_metric_name(m), text, k + 1, count, (unsigned long long)rest,
                         (unsigned long long)x->nrows,
                         r.message[0] ? r.message : pw_status_name(r.status));
        }
        pw_result_free(&r);
    }
    if (!failed) {
        noise->blocks = count;
        for (unsigned m = 0; m < PW_METRIC_COUNT; m++)
            noise->se[m] = isnan(main_v[m]) || m == PW_METRIC_CKA_DEBIASED
                               ? NAN
                               : pw_jackknife_se(theta + m * count, count);
    }
    free(theta);
    free(lg);
    free(lst);
    pw_noise_sums_free(&s);
    return 0;
}
