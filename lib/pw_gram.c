/* pw_gram.c -- the streaming pass: chunked, shifted, BLAS-3 Gram products
 * merged with Chan et al.'s pairwise update (see pw_gram.h).
 *
 * Why one sweep per chunk is exact.  A lane that has merged n_a rows with
 * mean mu_a and centred Gram S_a takes the next m rows x_i, writes
 * z_i = x_i - mu_a and their column sums s = sum z_i.  The chunk's own mean
 * is mu_b = mu_a + s/m and its centred Gram S_b = Z^T Z - s s^T / m, so
 * Chan's S = S_a + S_b + (n_a m / n) (mu_b - mu_a)(mu_b - mu_a)^T becomes
 *     S = S_a + Z^T Z - s s^T / n,    mu = mu_a + s / n,    n = n_a + m.
 * Since mu_a is the mean of earlier rows of the same neuron, z is of the
 * order of the neuron's spread and Z^T Z loses nothing to cancellation (a
 * neuron whose mean drifts between chunks is the exception, and then the
 * drift is itself part of S, so the error stays relative to S).  A lane's
 * first chunk has no mu_a yet; it is shifted by the mean of its first
 * SHIFT_ROWS rows, which the same formula absorbs with n_a = 0.
 *
 * One sweep thus reads each raw value once (F32 or F64 straight from the
 * mapped file, or the doubles pw_rows.read gave), converts it to double,
 * stores it shifted into the chunk, adds it to its column's sum and, on a
 * fresh side, to its column's raw minimum and maximum: one vectorized loop
 * per source type (sweep_kernel), with no intermediate row of doubles.
 *
 * Lanes.  Lane t owns chunks t, t + L, ...; each keeps its own count, mean,
 * extremes and Gram, and the lanes are merged in lane order at the end with
 * Chan's formula, so a result depends on L but not on timing.  All that a
 * lane can do alone it does on its own thread: zeroing its Gram at the
 * start, applying its queued rank-1 terms at the end; lanes 1.. run on
 * helper threads kept from pass to pass (the crew).  Rows given
 * directly (pw_rows_direct) are read by each lane itself; rows that come
 * through pw_rows.read are read under a lock in chunk order, each lane
 * waiting its turn, which keeps that callback's contract (in order, one call
 * at a time) while the other lanes compute. */
#include "pw_gram.h"

#include <assert.h>
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pw_array.h"
#include "pw_keep.h"

/* The sweep's kernels are built twice on x86-64, for AVX2 and the baseline,
 * and the loader picks one: four doubles per instruction instead of two. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SIMD_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define SIMD_CLONES
#endif

#define SHIFT_ROWS 64 /* rows whose mean shifts a lane's first chunk */
#define LANE_MIN_VALUES                                                                            \
    (1u << 18)             /* n (p+q) below which a second lane costs more than it saves           \
                            */
#define RANK1_BATCH    32  /* Chan terms queued before one syrk applies them */
#define MIN_CHUNK_ROWS 512 /* below this, BLAS-3 calls lose efficiency */

/* One side as the pass reads it. */
typedef struct side_src {
    pw_gram_side *out;           /* the caller's side */
    char name;                   /* 'X' or 'Y', for messages */
    size_t p;                    /* columns */
    size_t off;                  /* its first column in the stacked chunk and Gram */
    int fresh;                   /* copy of out->fresh */
    const unsigned char *direct; /* rows in memory (pw_rows_direct), or NULL: use read */
    pw_dtype dt;                 /* their type when direct */
} side_src;

/* The whole pass: what the lanes share. */
typedef struct pass {
    side_src side[2];   /* X, Y */
    uint64_t n;         /* rows */
    size_t ld;          /* p + q */
    size_t m;           /* rows per chunk */
    uint64_t nchunks;   /* chunks of the pass */
    unsigned nlanes;    /* lanes working */
    int reads;          /* 1 when a side comes through pw_rows.read */
    pthread_mutex_t mu; /* guards what follows */
    pthread_cond_t cv;  /* signalled when next_read or last change */
    uint64_t next_read; /* the chunk whose rows are read next */
    uint64_t last;      /* no chunk after this one is started (a bad chunk, or a failure) */
    int deb;            /* 1: keep the debiased-CKA sums too */
} pass;

/* One lane's state. */
typedef struct lane {
    pass *ps;        /* shared state */
    unsigned idx;    /* lane number */
    double *g;       /* ld x ld Gram (lane 0: the caller's) */
    double *z;       /* m x ld shifted chunk; row r is datapoint r, X then Y */
    double *buf[2];  /* m x p rows per side read through pw_rows.read (unused when direct) */
    double *row;     /* one row converted to double (widest side) */
    double *mean;    /* ld: running mean, or the first chunk's shift */
    double *s;       /* ld: column sums of the shifted chunk */
    double *mn, *mx; /* ld: raw extremes */
    double *rk;      /* ld x RANK1_BATCH: queued Chan terms s / sqrt(n) */
    size_t nrk;      /* how many are queued */
    uint64_t count;  /* rows merged */
    void *block;     /* the one allocation the arrays above live in */
    size_t bytes;    /* its size */
    pw_gram_bad bad; /* the first bad value this lane met */
    int failed;      /* 1 when reading failed */
    unsigned helper; /* the crew slot running it (lanes 1..) */
    pw_err err;      /* why */
    /* Debiased sums (pass.deb), about ctr until lane_run ends, then about mean. */
    double *dblock;  /* the one allocation of what follows, or NULL */
    double *ctr;     /* ld: the fixed centre (the first chunk's shift) */
    double *pa, *pb; /* ld: sum a_i (x_i - centre), sum b_i (x_i - centre), stacked X then Y */
    double *dl;      /* ld: scratch, the current shift relative to ctr */
    double *sd, *se; /* ld: scratch, G [d_x; 0] and G [0; d_y] */
    double a1[2];    /* sum a_i, sum b_i */
    double a2[2];    /* sum a_i^2, sum b_i^2 */
    double ab;       /* sum a_i b_i */
} lane;

/* ---- chunk plan ------------------------------------------------------------- */

static size_t max_chunk_rows(const pw_rows *x, const pw_rows *y)
{
    size_t ld = (size_t)(x->ncols + y->ncols), m = PW_CHUNK_ROWS;
    /* A stacked chunk of about PW_CHUNK_BYTES stays in cache between the sweep
     * that writes it and the BLAS call that reads it. */
    if (ld > 0 && PW_CHUNK_BYTES / sizeof(double) / ld < m)
        m = PW_CHUNK_BYTES / sizeof(double) / ld; /* as / (ld * 8), which could overflow */
    if (m < MIN_CHUNK_ROWS)
        m = MIN_CHUNK_ROWS;
    if (x->chunk_rows && x->chunk_rows < m)
        m = x->chunk_rows;
    if (y->chunk_rows && y->chunk_rows < m)
        m = y->chunk_rows;
    return m;
}

unsigned pw_gram_lanes(const pw_rows *x, const pw_rows *y, unsigned threads)
{
    uint64_t n = x->nrows, ld = x->ncols + y->ncols;
    if (threads <= 1 || n * ld < LANE_MIN_VALUES)
        return 1;
    uint64_t chunks = (n + max_chunk_rows(x, y) - 1) / max_chunk_rows(x, y);
    return chunks < threads ? (unsigned)chunks : threads;
}

uint64_t pw_gram_pass_bytes(const pw_rows *x, const pw_rows *y, unsigned lanes)
{
    /* As lane_init carves its block, per lane: a Gram for lanes 1.. (lane 0
     * uses the caller's), the stacked chunk, one converted row, mean, sums,
     * extremes, the queued rank-1 terms, and the rows of each side that
     * comes through pw_rows.read. */
    uint64_t p = x->ncols, q = y->ncols, ld = pw_sat_add(p, q), wide = p > q ? p : q;
    uint64_t m = max_chunk_rows(x, y);
    pw_dtype dt;
    uint64_t per = pw_sat_add(pw_sat_mul(m, ld), pw_sat_add(wide, pw_sat_mul(ld, 4 + RANK1_BATCH)));
    if (!pw_rows_direct(x, &dt))
        per = pw_sat_add(per, pw_sat_mul(m, p));
    if (!pw_rows_direct(y, &dt))
        per = pw_sat_add(per, pw_sat_mul(m, q));
    lanes = lanes ? lanes : 1;
    uint64_t doubles =
        pw_sat_add(pw_sat_mul(per, lanes), pw_sat_mul(pw_sat_mul(ld, ld), lanes - 1));
    return pw_sat_add(pw_sat_mul(doubles, sizeof(double)), (uint64_t)lanes * sizeof(lane));
}

/* Equal chunks, a multiple of the lanes in number, so that lanes finish together. */
static void plan(pass *ps, const pw_rows *x, const pw_rows *y, unsigned lanes)
{
    uint64_t n = ps->n, mmax = max_chunk_rows(x, y);
    uint64_t chunks = (n + mmax - 1) / mmax;
    chunks = (chunks + lanes - 1) / lanes * lanes;
    ps->m = chunks ? (size_t)((n + chunks - 1) / chunks) : 1;
    ps->nchunks = (n + ps->m - 1) / ps->m;
}

/* ---- one sweep ----------------------------------------------------------------- */

/* Row r of a chunk as doubles: in place when it already is, else converted into tmp. */
SIMD_CLONES static const double *row_at(const unsigned char *src, pw_dtype dt, size_t p, size_t r,
                                        double *tmp)
{
    if (dt == PW_DT_F64) {
        const unsigned char *b = src + r * p * sizeof(double);
        if ((uintptr_t)b % alignof(double) == 0)
            return (const double *)(const void *)b;
        memcpy(tmp, b, p * sizeof(double));
        return tmp;
    }
    assert(dt == PW_DT_F32);
    const unsigned char *b = src + r * p * sizeof(float);
    size_t j = 0;
    for (; j + 4 <= p; j += 4) { /* four at a time: vectorized (cvtps2pd) */
        float f[4];
        memcpy(f, b + j * sizeof(float), sizeof f);
        tmp[j] = (double)f[0];
        tmp[j + 1] = (double)f[1];
        tmp[j + 2] = (double)f[2];
        tmp[j + 3] = (double)f[3];
    }
    for (; j < p; j++) {
        float f;
        memcpy(&f, b + j * sizeof(float), sizeof f);
        tmp[j] = (double)f;
    }
    return tmp;
}

/* Four source values as doubles; F32 converts exactly (cvtps2pd). */
static inline __attribute__((always_inline)) void load4(const unsigned char *b, int f32,
                                                        double v[4])
{
    if (f32) {
        float f[4];
        memcpy(f, b, sizeof f);
        v[0] = (double)f[0];
        v[1] = (double)f[1];
        v[2] = (double)f[2];
        v[3] = (double)f[3];
    } else {
        memcpy(v, b, 4 * sizeof(double));
    }
}

/* The sweep of one side over rows of one source type, a single loop: each
 * raw value is converted, shifted by mu into the chunk z (row stride ld),
 * added to the column sum s and, when `ext`, folded into the raw extremes.
 * NaN compares false and so never enters min/max, but it poisons the sum,
 * which is what side_bad looks at.  Four columns per step because gcc -O2
 * vectorizes that form (SLP), not the plain loop; f32 and ext are constants
 * at every call, so each combination is its own straight loop. */
static inline __attribute__((always_inline)) void
sweep_rows(const unsigned char *restrict src, int f32, int ext, size_t p, size_t mr, size_t ld,
           const double *restrict mu, double *restrict z, double *restrict s, double *restrict mn,
           double *restrict mx)
{
    size_t isz = f32 ? sizeof(float) : sizeof(double);
    for (size_t r = 0; r < mr; r++) {
        const unsigned char *b = src + r * p * isz;
        double *restrict dst = z + r * ld;
        size_t j = 0;
        for (; j + 4 <= p; j += 4) {
            double v[4];
            load4(b + j * isz, f32, v);
            for (int k = 0; k < 4; k++) {
                double c = v[k] - mu[j + k];
                dst[j + k] = c;
                s[j + k] += c;
                if (ext) {
                    mn[j + k] = v[k] < mn[j + k] ? v[k] : mn[j + k];
                    mx[j + k] = v[k] > mx[j + k] ? v[k] : mx[j + k];
                }
            }
        }
        for (; j < p; j++) {
            double v;
            if (f32) {
                float f;
                memcpy(&f, b + j * isz, sizeof f);
                v = (double)f;
            } else {
                memcpy(&v, b + j * isz, sizeof v);
            }
            double c = v - mu[j];
            dst[j] = c;
            s[j] += c;
            if (ext) {
                mn[j] = v < mn[j] ? v : mn[j];
                mx[j] = v > mx[j] ? v : mx[j];
            }
        }
    }
}

/* sweep_rows specialised for each source type and freshness. */
SIMD_CLONES static void sweep_kernel(const unsigned char *src, pw_dtype dt, int ext, size_t p,
                                     size_t mr, size_t ld, const double *mu, double *z, double *s,
                                     double *mn, double *mx)
{
    if (dt == PW_DT_F32) {
        if (ext)
            sweep_rows(src, 1, 1, p, mr, ld, mu, z, s, mn, mx);
        else
            sweep_rows(src, 1, 0, p, mr, ld, mu, z, s, mn, mx);
    } else {
        assert(dt == PW_DT_F64);
        if (ext)
            sweep_rows(src, 0, 1, p, mr, ld, mu, z, s, mn, mx);
        else
            sweep_rows(src, 0, 0, p, mr, ld, mu, z, s, mn, mx);
    }
}

/* mu += v / c, four columns per step so that gcc vectorizes it: as a
 * scalar loop its divisions showed in profiles (~0.2 % of a pass), all
 * before a lane's first BLAS call. */
SIMD_CLONES static void add_divided(const double *restrict v, size_t p, double c,
                                    double *restrict mu)
{
    size_t j = 0;
    for (; j + 4 <= p; j += 4) {
        mu[j] += v[j] / c;
        mu[j + 1] += v[j + 1] / c;
        mu[j + 2] += v[j + 2] / c;
        mu[j + 3] += v[j + 3] / c;
    }
    for (; j < p; j++)
        mu[j] += v[j] / c;
}

/* The shift of a lane's first chunk: the mean of its first rows, each
 * divided before adding so that no finite sum overflows. */
static void first_shift(lane *l, const side_src *sd, const unsigned char *src, size_t mr)
{
    size_t cnt = mr < SHIFT_ROWS ? mr : SHIFT_ROWS;
    double *mu = l->mean + sd->off;
    memset(mu, 0, sd->p * sizeof(double));
    for (size_t r = 0; r < cnt; r++) {
        const double *v = row_at(src, sd->dt, sd->p, r, l->row);
        add_divided(v, sd->p, (double)cnt, mu);
    }
}

static void sweep(lane *l, const side_src *sd, const unsigned char *src, size_t mr)
{
    size_t p = sd->p, ld = l->ps->ld;
    double *mu = l->mean + sd->off, *s = l->s + sd->off;
    memset(s, 0, p * sizeof(double));
    /* A cached side's extremes are known: only a fresh one tracks them. */
    sweep_kernel(src, sd->dt, sd->fresh, p, mr, ld, mu, l->z + sd->off, s, l->mn + sd->off,
                 l->mx + sd->off);
}

/* After a fresh side's sweep: is every column sum finite?  If not, find the
 * first non-finite value in row order; a chunk of finite values whose shifted
 * sum still overflowed is reported as overflow of that column. */
static int side_bad(lane *l, const side_src *sd, const unsigned char *src, uint64_t row0, size_t mr,
                    pw_gram_bad *bad)
{
    size_t p = sd->p, badcol = p;
    const double *s = l->s + sd->off;
    for (size_t j = 0; j < p && badcol == p; j++)
        if (!isfinite(s[j]))
            badcol = j;
    if (badcol == p)
        return 0;
    bad->side = sd->name;
    for (size_t r = 0; r < mr; r++) {
        const double *v = row_at(src, sd->dt, p, r, l->row);
        for (size_t j = 0; j < p; j++)
            if (!isfinite(v[j])) {
                bad->kind = PW_GRAM_NONFINITE;
                bad->row = row0 + r;
                bad->col = j;
                bad->value = v[j];
                return 1;
            }
    }
    bad->kind = PW_GRAM_OVERFLOW;
    bad->row = row0;
    bad->col = badcol;
    return 1;
}

/* G -= R R^T for the queued columns R of the Chan terms. */
static void flush_rank1(lane *l)
{
    size_t ld = l->ps->ld;
    if (l->nrk > 0 && ld > 0)
        cblas_dsyrk(CblasColMajor, CblasUpper, CblasNoTrans, (int)ld, (int)l->nrk, -1.0, l->rk,
                    (int)ld, 1.0, l->g, (int)ld);
    l->nrk = 0;
}

/* Z^T Z into the lane's Gram, then -s s^T / n: the Chan merge of the chunk
 * (see the top of this file).  A side with no columns has empty blocks; a
 * cached side's diagonal block receives only the rank-1 term and is never
 * read. */
static void accumulate(lane *l, size_t mr)
{
    const pass *ps = l->ps;
    size_t p = ps->side[0].p, q = ps->side[1].p, ld = ps->ld;
    int xf = ps->side[0].fresh, yf = ps->side[1].fresh;
    double total = (double)l->count + (double)mr;
    if (ld > 0) {
        if (xf && yf) {
            /* One syrk over the stacked chunk is faster than syrk + syrk + gemm. */
            cblas_dsyrk(CblasColMajor, CblasUpper, CblasNoTrans, (int)ld, (int)mr, 1.0, l->z,
                        (int)ld, 1.0, l->g, (int)ld);
        } else {
            if (xf && p > 0)
                cblas_dsyrk(CblasColMajor, CblasUpper, CblasNoTrans, (int)p, (int)mr, 1.0, l->z,
                            (int)ld, 1.0, l->g, (int)ld);
            if (yf && q > 0)
                cblas_dsyrk(CblasColMajor, CblasUpper, CblasNoTrans, (int)q, (int)mr, 1.0, l->z + p,
                            (int)ld, 1.0, l->g + p + p * ld, (int)ld);
            if (p > 0 && q > 0)
                cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, (int)p, (int)q, (int)mr, 1.0,
                            l->z, (int)ld, l->z + p, (int)ld, 1.0, l->g + p * ld, (int)ld);
        }
        /* -s s^T / n is queued as the column s / sqrt(n) and applied a
         * batch at a time: one syrk instead of RANK1_BATCH passes over G. */
        double *col = l->rk + l->nrk * ld, sc = 1.0 / sqrt(total);
        for (size_t j = 0; j < ld; j++)
            col[j] = l->s[j] * sc;
        if (++l->nrk == RANK1_BATCH)
            flush_rank1(l);
    }
    for (size_t j = 0; j < ld; j++)
        l->mean[j] += l->s[j] / total;
    l->count += mr;
}

/* ---- debiased sums -------------------------------------------------------------
 *
 * Debiased CKA needs, besides the Grams, sums over the rows of the centred
 * row norms a_i = ||x_i - mu_x||^2, b_i = ||y_i - mu_y||^2: sum a, sum a^2,
 * sum a b.  Like the Grams they cannot be taken about a far-away point
 * (a_i about 0 of data at 1e4 is ~1e8 p, and a^2 loses everything), nor
 * about the final mean, unknown while streaming.  So a lane keeps them about
 * a fixed centre c, its first chunk's shift (near the data: within the
 * spread of its first rows), computing a_i from the shifted chunk as
 * ||z_i + (mu_a - c)||^2, together with the vectors P_a = sum a_i (x_i - c)
 * and P_b = sum b_i (x_i - c) over the stacked columns.  Moving the centre
 * by d (z' = z - d, a' = a - 2 d.z + |d|^2) then needs only these, the
 * column sums s and the Gram about the old centre (deb_shift): at its end a
 * lane moves from c to its own mean, and two lanes merge by moving both to
 * the merged mean and adding, with d of the order of the spread every time.
 * The Gram products are two symv per lane, O(ld^2) against the pass's
 * O(n ld^2). */

/* sum_j a_j b_j over [lo, hi). */
static double dot_range(const double *a, const double *b, size_t lo, size_t hi)
{
    double t = 0;
    for (size_t j = lo; j < hi; j++)
        t += a[j] * b[j];
    return t;
}

/* sum_j (z_j + d_j)^2 over [lo, hi), four partial sums so that gcc
 * vectorizes it (one chain of dependent adds ran at a quarter of the speed). */
SIMD_CLONES static double shifted_sumsq(const double *restrict z, const double *restrict d,
                                        size_t lo, size_t hi)
{
    double t[4] = {0, 0, 0, 0};
    size_t j = lo;
    for (; j + 4 <= hi; j += 4)
        for (int k = 0; k < 4; k++) {
            double v = z[j + k] + d[j + k];
            t[k] += v * v;
        }
    for (; j < hi; j++) {
        double v = z[j] + d[j];
        t[0] += v * v;
    }
    return (t[0] + t[1]) + (t[2] + t[3]);
}

/* pa += a z, pb += b z over n entries: with the row's norms, while the row
 * is in cache (two dgemv over the chunk read it from memory twice more). */
SIMD_CLONES static void axpy2(const double *restrict z, double a, double b, size_t n,
                              double *restrict pa, double *restrict pb)
{
    for (size_t j = 0; j < n; j++) {
        pa[j] += a * z[j];
        pb[j] += b * z[j];
    }
}

/* The chunk's contribution (before accumulate moves the lane's mean). */
static void deb_chunk(lane *l, size_t mr)
{
    const pass *ps = l->ps;
    size_t p = ps->side[0].p, ld = ps->ld;
    if (l->count == 0)
        memcpy(l->ctr, l->mean, ld * sizeof(double));
    for (size_t j = 0; j < ld; j++)
        l->dl[j] = l->mean[j] - l->ctr[j];
    double sa = 0, sb = 0;
    for (size_t r = 0; r < mr; r++) {
        const double *zr = l->z + r * ld;
        double a = shifted_sumsq(zr, l->dl, 0, p), b = shifted_sumsq(zr, l->dl, p, ld);
        axpy2(zr, a, b, ld, l->pa, l->pb);
        sa += a;
        sb += b;
        l->a2[0] += a * a;
        l->a2[1] += b * b;
        l->ab += a * b;
    }
    l->a1[0] += sa;
    l->a1[1] += sb;
    /* P += Z^T a + dl sum a (the rows about c are z_i + dl): Z^T a by axpy2. */
    for (size_t j = 0; j < ld; j++) {
        l->pa[j] += l->dl[j] * sa;
        l->pb[j] += l->dl[j] * sb;
    }
}

/* Move lane l's sums (about some centre, over cnt rows whose shifted column
 * sums are s, NULL for zero) by d: about centre + d afterwards.  g is the
 * lane's Gram about its own mean, which is the centre when s is NULL, else
 * centre + s / cnt.  Only the blocks of fresh sides' Grams are read for
 * their own a2; the cross block for the rest. */
static void deb_shift(lane *l, double cnt, const double *d, const double *s, const double *g)
{
    const pass *ps = l->ps;
    size_t p = ps->side[0].p, ld = ps->ld;
    double *sd = l->sd, *se = l->se, *v = l->dl;
    if (ld == 0)
        return; /* no columns: every sum is 0 */
    /* sd = S0 [d_x; 0], se = S0 [0; d_y], S0 = G + s s^T / cnt the Gram about the centre. */
    memset(v, 0, ld * sizeof(double));
    memcpy(v, d, p * sizeof(double));
    cblas_dsymv(CblasColMajor, CblasUpper, (int)ld, 1.0, g, (int)ld, v, 1, 0.0, sd, 1);
    memset(v, 0, ld * sizeof(double));
    memcpy(v + p, d + p, (ld - p) * sizeof(double));
    cblas_dsymv(CblasColMajor, CblasUpper, (int)ld, 1.0, g, (int)ld, v, 1, 0.0, se, 1);
    double dsx = s ? dot_range(d, s, 0, p) : 0, dsy = s ? dot_range(d, s, p, ld) : 0;
    if (s)
        for (size_t j = 0; j < ld; j++) {
            sd[j] += s[j] * dsx / cnt;
            se[j] += s[j] * dsy / cnt;
        }
    double D = dot_range(d, d, 0, p), E = dot_range(d, d, p, ld);
    double a1x = l->a1[0], a1y = l->a1[1];
    l->a2[0] += 4 * dot_range(d, sd, 0, p) + cnt * D * D - 4 * dot_range(d, l->pa, 0, p) +
                2 * D * a1x - 4 * D * dsx;
    l->a2[1] += 4 * dot_range(d, se, p, ld) + cnt * E * E - 4 * dot_range(d, l->pb, p, ld) +
                2 * E * a1y - 4 * E * dsy;
    l->ab += -2 * dot_range(d, l->pa, p, ld) + E * a1x - 2 * dot_range(d, l->pb, 0, p) +
             4 * dot_range(d, se, 0, p) - 2 * E * dsx + D * a1y - 2 * D * dsy + cnt * D * E;
    l->a1[0] += -2 * dsx + cnt * D;
    l->a1[1] += -2 * dsy + cnt * E;
    for (size_t j = 0; j < ld; j++) {
        double sj = s ? s[j] : 0;
        l->pa[j] += -a1x * d[j] - 2 * sd[j] + 2 * dsx * d[j] + D * sj - cnt * D * d[j];
        l->pb[j] += -a1y * d[j] - 2 * se[j] + 2 * dsy * d[j] + E * sj - cnt * E * d[j];
    }
}

/* At a lane's end (its Gram complete): from the centre c to the lane's mean. */
static void deb_finish(lane *l)
{
    size_t ld = l->ps->ld;
    if (!l->ps->deb || l->count == 0)
        return;
    /* Scratch: the chunk sums are done with, and flush_rank1 emptied rk. */
    double n = (double)l->count, *d = l->s, *s = l->rk;
    for (size_t j = 0; j < ld; j++) {
        d[j] = l->mean[j] - l->ctr[j];
        s[j] = n * d[j];
    }
    deb_shift(l, n, d, s, l->g);
}

/* Lane b into lane a (both about their own means, before the Grams merge):
 * each moved to the merged mean, then added. */
static void deb_merge(lane *a, lane *b, const double *delta, double na, double nb)
{
    size_t ld = a->ps->ld;
    double n = na + nb, *d = b->rk; /* b's queue is empty and b is done */
    for (size_t j = 0; j < ld; j++)
        d[j] = delta[j] * (nb / n);
    deb_shift(a, na, d, NULL, a->g);
    for (size_t j = 0; j < ld; j++)
        d[j] = -delta[j] * (na / n);
    deb_shift(b, nb, d, NULL, b->g);
    for (int i = 0; i < 2; i++) {
        a->a1[i] += b->a1[i];
        a->a2[i] += b->a2[i];
    }
    a->ab += b->ab;
    for (size_t j = 0; j < ld; j++) {
        a->pa[j] += b->pa[j];
        a->pb[j] += b->pb[j];
    }
}

/* ---- lanes ------------------------------------------------------------------- */

/* Wait for chunk k's turn and read the sides that come through pw_rows.read.
 * Returns 0 to go on, 1 when the lane should stop (a failure, or a bad value
 * in an earlier chunk). */
static int acquire(lane *l, uint64_t k, uint64_t row0, size_t mr)
{
    pass *ps = l->ps;
    pthread_mutex_lock(&ps->mu);
    while (k <= ps->last && ps->reads && ps->next_read != k)
        pthread_cond_wait(&ps->cv, &ps->mu);
    int stop = k > ps->last;
    for (int i = 0; i < 2 && !stop; i++) {
        const pw_rows *r = ps->side[i].out->rows;
        if (ps->side[i].p > 0 && r->cancelled && r->cancelled(r->cancel_ctx)) {
            pw_err_set(&l->err, "the Gram pass was cancelled at %c row %llu", ps->side[i].name,
                       (unsigned long long)row0);
            l->failed = 1;
            ps->last = 0;
            stop = 1;
        }
    }
    for (int i = 0; i < 2 && !stop && ps->reads; i++) {
        const side_src *sd = &ps->side[i];
        const pw_rows *r = sd->out->rows;
        if (sd->direct || sd->p == 0)
            continue;
        if (r->read(r->ctx, row0, mr, l->buf[i], &l->err) != 0) {
            pw_err_prefix(&l->err, "reading %c rows %llu..%llu", sd->name, (unsigned long long)row0,
                          (unsigned long long)row0 + mr);
            l->failed = 1;
            ps->last = 0;
            stop = 1;
        }
    }
    if (ps->reads && !stop)
        ps->next_read = k + 1;
    if (ps->reads || stop)
        pthread_cond_broadcast(&ps->cv);
    pthread_mutex_unlock(&ps->mu);
    return stop;
}

/* No chunk after k is started any more. */
static void stop_after(pass *ps, uint64_t k)
{
    pthread_mutex_lock(&ps->mu);
    if (k < ps->last)
        ps->last = k;
    pthread_cond_broadcast(&ps->cv);
    pthread_mutex_unlock(&ps->mu);
}

/* A lane's starting state, set by the lane itself so that the lanes zero
 * their Grams at the same time.  Lane 0's is the caller's, zeroed whole as
 * pw_gram.h promises; another lane's lower triangle is never written
 * (syrk and gemm fill upper blocks) nor read (merge_upper), so only its
 * upper triangle needs zeros. */
static void lane_start(lane *l)
{
    size_t ld = l->ps->ld;
    if (l->idx == 0)
        memset(l->g, 0, ld * ld * sizeof(double));
    else
        for (size_t j = 0; j < ld; j++)
            memset(l->g + j * ld, 0, (j + 1) * sizeof(double));
    for (size_t j = 0; j < ld; j++) {
        l->mean[j] = 0;
        l->mn[j] = INFINITY;
        l->mx[j] = -INFINITY;
    }
}

static void lane_run(lane *l)
{
    pass *ps = l->ps;
    lane_start(l);
    for (uint64_t k = l->idx; k < ps->nchunks; k += ps->nlanes) {
        uint64_t row0 = k * ps->m;
        size_t mr = ps->n - row0 < ps->m ? (size_t)(ps->n - row0) : ps->m;
        if (acquire(l, k, row0, mr) != 0)
            return;
        const unsigned char *src[2];
        for (int i = 0; i < 2; i++) {
            const side_src *sd = &ps->side[i];
            size_t isz = pw_dtype_size(sd->dt);
            src[i] = NULL;
            if (sd->p == 0)
                continue;
            src[i] =
                sd->direct ? sd->direct + row0 * sd->p * isz : (const unsigned char *)l->buf[i];
            if (l->count == 0)
                first_shift(l, sd, src[i], mr);
            sweep(l, sd, src[i], mr);
        }
        pw_gram_bad bx = {0}, by = {0};
        int badx = ps->side[0].fresh && side_bad(l, &ps->side[0], src[0], row0, mr, &bx);
        int bady = ps->side[1].fresh && side_bad(l, &ps->side[1], src[1], row0, mr, &by);
        if (badx || bady) {
            /* Report the earlier row; on the same row, X. */
            l->bad = badx && (!bady || bx.row <= by.row) ? bx : by;
            stop_after(ps, k);
            return;
        }
        if (ps->deb)
            deb_chunk(l, mr);
        accumulate(l, mr);
    }
    /* On this lane's own thread, not serially after the join. */
    flush_rank1(l);
    deb_finish(l);
}

/* ---- helper threads kept between passes --------------------------------------
 *
 * Lanes 1.. run on helper threads that wait for the next pass instead of
 * exiting: creating a thread cost ~45 us here before lane 0 could start,
 * and waking the caller from pthread_join another ~70 us (medians at
 * 5000 x 512), both on the pass's critical path.  A
 * pass claims idle helpers and starts one only when none is idle, so the
 * crew grows to the most lanes ever running at once, at most CREW_MAX.  A
 * lane is handed over only once the pass is planned, so a helper never
 * waits for the plan. */

#define CREW_MAX     64     /* helper threads at most */
#define CREW_SPIN_NS 500000 /* how long crew_wait spins before it sleeps */

/* One helper thread's mailbox. */
typedef struct helper {
    pthread_cond_t cv; /* signalled when job is set or done */
    lane *job;         /* the lane to run, NULL when there is none */
    atomic_int done;   /* 1 once job has run (read without the lock) */
    int busy;          /* claimed by a pass until crew_wait */
} helper;

static struct {
    pthread_mutex_t mu; /* guards the rest */
    helper h[CREW_MAX]; /* mailboxes, the first n with a thread */
    unsigned n;         /* helpers started */
} crew = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void *helper_main(void *arg)
{
    helper *h = arg;
    pthread_mutex_lock(&crew.mu);
    for (;;) {
        while (!h->job || atomic_load(&h->done))
            pthread_cond_wait(&h->cv, &crew.mu);
        lane *l = h->job;
        pthread_mutex_unlock(&crew.mu);
        lane_run(l);
        pthread_mutex_lock(&crew.mu);
        atomic_store(&h->done, 1);
        pthread_cond_broadcast(&h->cv);
    }
    return NULL;
}

/* Reserve a helper for lane l, starting one if none is idle.  Returns -1
 * when no thread could be had. */
static int crew_claim(lane *l)
{
    int rc = -1;
    pthread_mutex_lock(&crew.mu);
    unsigned i = 0;
    while (i < crew.n && crew.h[i].busy)
        i++;
    if (i == crew.n && i < CREW_MAX) {
        pthread_attr_t attr;
        pthread_t t;
        pthread_cond_init(&crew.h[i].cv, NULL);
        if (pthread_attr_init(&attr) == 0) {
            pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
            if (pthread_create(&t, &attr, helper_main, &crew.h[i]) == 0)
                crew.n++;
            pthread_attr_destroy(&attr);
        }
        if (i == crew.n)
            pthread_cond_destroy(&crew.h[i].cv);
    }
    if (i < crew.n) {
        crew.h[i].busy = 1;
        l->helper = i;
        rc = 0;
    }
    pthread_mutex_unlock(&crew.mu);
    return rc;
}

/* Hand lane l to the helper crew_claim reserved. */
static void crew_post(lane *l)
{
    helper *h = &crew.h[l->helper];
    pthread_mutex_lock(&crew.mu);
    h->job = l;
    atomic_store(&h->done, 0);
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&crew.mu);
}

/* Wait until lane l, handed over by crew_post, has run, and free its
 * helper.  It spins a while first: a caller that sleeps here took ~70 us
 * (median; far more on a busy host) to be woken once the lane was done,
 * and the other lane usually finishes within CREW_SPIN_NS. */
static void crew_wait(lane *l)
{
    helper *h = &crew.h[l->helper];
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned spins = 1; !atomic_load(&h->done); spins++) {
        if (spins % 256 != 0)
            continue;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) > CREW_SPIN_NS)
            break;
    }
    pthread_mutex_lock(&crew.mu);
    while (!atomic_load(&h->done))
        pthread_cond_wait(&h->cv, &crew.mu);
    h->job = NULL;
    h->busy = 0;
    pthread_mutex_unlock(&crew.mu);
}

double *pw_gram_alloc(size_t ld)
{
    return ld > SIZE_MAX / sizeof(double) / (ld ? ld : 1) ? NULL
                                                          : pw_keep_alloc(ld * ld, sizeof(double));
}

void pw_gram_free(double *g, size_t ld)
{
    pw_keep_free(g, ld * ld, sizeof(double));
}

static int lane_init(lane *l, pass *ps, unsigned idx, double *g, size_t mmax, pw_err *err)
{
    size_t ld = ps->ld, wide = ps->side[0].p > ps->side[1].p ? ps->side[0].p : ps->side[1].p;
    memset(l, 0, sizeof *l);
    l->ps = ps;
    l->idx = idx;
    /* Sizes in doubles, in the order they are carved out of the block. */
    size_t len[10] = {g ? 0 : ld * ld, mmax * ld, wide, ld, ld, ld, ld, 0, 0, ld * RANK1_BATCH};
    for (int i = 0; i < 2; i++)
        len[7 + i] = ps->side[i].direct ? 0 : mmax * ps->side[i].p;
    size_t total = 0;
    for (int i = 0; i < 10; i++) {
        if (len[i] > SIZE_MAX / sizeof(double) - total - 1)
            return pw_err_set(err, "lane %u of the Gram pass would not fit in memory", idx);
        total += len[i];
    }
    l->bytes = (total ? total : 1) * sizeof(double);
    l->block = pw_keep_alloc(l->bytes, 1);
    if (!l->block)
        return pw_err_set(err,
                          "out of memory for lane %u of the Gram pass (%zu rows x %zu columns)",
                          idx, mmax, ld);
    double *at = l->block, **dst[10] = {&l->g,  &l->z,  &l->row,    &l->mean,   &l->s,
                                        &l->mn, &l->mx, &l->buf[0], &l->buf[1], &l->rk};
    for (int i = 0; i < 10; i++) {
        *dst[i] = at;
        at += len[i];
    }
    if (g)
        l->g = g;
    if (ps->deb) {
        /* ctr, pa, pb, dl, sd, se: calloc zeroes the sums. */
        l->dblock = calloc(6 * ld + 1, sizeof(double));
        if (!l->dblock)
            return pw_err_set(err, "out of memory for lane %u's debiased sums", idx);
        double **dd[6] = {&l->ctr, &l->pa, &l->pb, &l->dl, &l->sd, &l->se};
        for (int i = 0; i < 6; i++)
            *dd[i] = l->dblock + (size_t)i * ld;
    }
    return 0;
}

static void lane_release(lane *l)
{
    pw_keep_free(l->block, l->bytes, 1);
    free(l->dblock);
}

/* a += b + w d d^T on the upper triangle only, the part the lanes write
 * (syrk and gemm into the upper blocks): one pass over half the memory
 * instead of an axpy over all of it and then a syr. */
SIMD_CLONES static void merge_upper(double *restrict a, const double *restrict b, size_t ld,
                                    const double *restrict d, double w)
{
    for (size_t j = 0; j < ld; j++) {
        double *restrict aj = a + j * ld;
        const double *restrict bj = b + j * ld;
        double t = w * d[j];
        size_t i = 0;
        for (; i + 4 <= j + 1; i += 4) { /* four at a time: vectorized */
            aj[i] += bj[i] + d[i] * t;
            aj[i + 1] += bj[i + 1] + d[i + 1] * t;
            aj[i + 2] += bj[i + 2] + d[i + 2] * t;
            aj[i + 3] += bj[i + 3] + d[i + 3] * t;
        }
        for (; i <= j; i++)
            aj[i] += bj[i] + d[i] * t;
    }
}

/* Lane b into lane a, by Chan's formula with d = mean_b - mean_a. */
static void lane_merge(lane *a, lane *b)
{
    size_t ld = a->ps->ld;
    if (b->count == 0)
        return;
    double na = (double)a->count, nb = (double)b->count, n = na + nb;
    double *d = b->s; /* b is done with it */
    for (size_t j = 0; j < ld; j++) {
        d[j] = b->mean[j] - a->mean[j];
        a->mean[j] += d[j] * (nb / n);
        a->mn[j] = b->mn[j] < a->mn[j] ? b->mn[j] : a->mn[j];
        a->mx[j] = b->mx[j] > a->mx[j] ? b->mx[j] : a->mx[j];
    }
    if (a->ps->deb)
        deb_merge(a, b, d, na, nb);
    merge_upper(a->g, b->g, ld, d, na * nb / n);
    a->count += b->count;
}

/* A fresh side whose squares overflowed shows it on the diagonal first
 * (|S_ij| <= sqrt(S_ii S_jj)). */
static int diag_check(const side_src *sd, const double *g, size_t ld, pw_gram_bad *bad)
{
    if (!sd->fresh)
        return 0;
    for (size_t j = 0; j < sd->p; j++) {
        double v = g[(sd->off + j) * ld + sd->off + j];
        if (!isfinite(v)) {
            bad->kind = PW_GRAM_OVERFLOW;
            bad->side = sd->name;
            bad->col = j;
            return 1;
        }
    }
    return 0;
}

int pw_gram_pass(pw_gram_side *x, pw_gram_side *y, unsigned lanes, double *g, pw_gram_bad *bad,
                 pw_err *err)
{
    return pw_gram_pass_deb(x, y, lanes, g, NULL, bad, err);
}

uint64_t pw_gram_deb_bytes(const pw_rows *x, const pw_rows *y, unsigned lanes)
{
    uint64_t ld = pw_sat_add(x->ncols, y->ncols);
    uint64_t per = pw_sat_add(pw_sat_mul(ld, 6), 1);
    return pw_sat_mul(pw_sat_mul(per, lanes ? lanes : 1), sizeof(double));
}

int pw_gram_pass_deb(pw_gram_side *x, pw_gram_side *y, unsigned lanes, double *g, pw_gram_deb *deb,
                     pw_gram_bad *bad, pw_err *err)
{
    pass ps;
    memset(&ps, 0, sizeof ps);
    ps.n = x->rows->nrows;
    size_t p = x->rows->ncols, q = y->rows->ncols;
    ps.ld = p + q;
    assert(ps.n == y->rows->nrows);
    assert(!x->fresh || (x->min && x->max));
    assert(!y->fresh || (y->min && y->max));
    memset(bad, 0, sizeof *bad);
    ps.deb = deb != NULL;
    pw_gram_side *sides[2] = {x, y};
    for (int i = 0; i < 2; i++) {
        side_src *sd = &ps.side[i];
        sd->out = sides[i];
        sd->name = i ? 'Y' : 'X';
        sd->p = i ? q : p;
        sd->off = i ? p : 0;
        sd->fresh = sides[i]->fresh;
        sd->direct = pw_rows_direct(sides[i]->rows, &sd->dt);
        if (!sd->direct) {
            sd->dt = PW_DT_F64;
            ps.reads |= sd->p > 0;
        }
    }
    if (lanes < 1)
        lanes = 1;
    size_t mmax = max_chunk_rows(x->rows, y->rows);
    ps.last = UINT64_MAX;
    pthread_mutex_init(&ps.mu, NULL);
    pthread_cond_init(&ps.cv, NULL);

    lane *l = calloc(lanes, sizeof *l);
    unsigned ready = 0, spawned = 0;
    int rc = -1;
    if (!l) {
        pw_err_set(err, "out of memory for the lanes of the Gram pass");
        goto out;
    }
    for (; ready < lanes; ready++)
        if (lane_init(&l[ready], &ps, ready, ready == 0 ? g : NULL, mmax, err) != 0) {
            ready++;
            goto out;
        }
    /* Lanes that cannot get a thread are simply not used. */
    while (spawned + 1 < lanes && crew_claim(&l[spawned + 1]) == 0)
        spawned++;
    /* No helper has the pass yet; crew_post's lock publishes the plan. */
    ps.nlanes = spawned + 1;
    plan(&ps, x->rows, y->rows, ps.nlanes);
    for (unsigned i = 1; i <= spawned; i++)
        crew_post(&l[i]);
    lane_run(&l[0]);
    for (unsigned i = 1; i <= spawned; i++)
        crew_wait(&l[i]);

    for (unsigned i = 0; i < ps.nlanes; i++)
        if (l[i].failed) {
            *err = l[i].err;
            goto out;
        }
    rc = 0;
    for (unsigned i = 0; i < ps.nlanes; i++)
        if (l[i].bad.kind != PW_GRAM_GOOD && (bad->kind == PW_GRAM_GOOD || l[i].bad.row < bad->row))
            *bad = l[i].bad;
    if (bad->kind != PW_GRAM_GOOD)
        goto out;
    for (unsigned i = 1; i < ps.nlanes; i++)
        lane_merge(&l[0], &l[i]);
    for (int i = 0; i < 2; i++) {
        const side_src *sd = &ps.side[i];
        memcpy(sd->out->mean, l[0].mean + sd->off, sd->p * sizeof(double));
        if (sd->fresh) {
            memcpy(sd->out->min, l[0].mn + sd->off, sd->p * sizeof(double));
            memcpy(sd->out->max, l[0].mx + sd->off, sd->p * sizeof(double));
        }
    }
    if (!diag_check(&ps.side[0], g, ps.ld, bad))
        diag_check(&ps.side[1], g, ps.ld, bad);
    if (deb) {
        for (int i = 0; i < 2; i++) {
            deb->a1[i] = l[0].a1[i];
            deb->a2[i] = ps.side[i].fresh ? l[0].a2[i] : NAN;
        }
        deb->ab = l[0].ab;
    }
out:
    for (unsigned i = 0; l && i < ready; i++)
        lane_release(&l[i]);
    free(l);
    pthread_mutex_destroy(&ps.mu);
    pthread_cond_destroy(&ps.cv);
    return rc;
}
