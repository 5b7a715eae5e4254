/* bench_engine.c -- how fast the similarity engine is against this machine's
 * own dgemm rate.
 *
 * Usage: bench_engine              (all cases; PW_BENCH_QUICK=1 for small ones)
 *        bench_engine --reduced    (the reduced-mode case alone)
 *        bench_engine --noise      (the standard-error case alone)
 *        bench_engine --chance     (the chance-level case alone)
 *        bench_engine --case I R   (one case, run by the parent; R = dgemm GFLOP/s)
 *
 * The parent measures square dgemm (2048^3) before each case and runs the
 * case in a fresh child process, so that each peak RSS is that case's own;
 * the child measures dgemm again when done, and the case is held against
 * the better of the two (mm_GF) -- the machine may be shared.  A case generates
 * f32 activations (X, and Y partly driven by X), wraps them as pw_tensor
 * views -- in memory, or a raw f32 file on disk mapped with mmap for the
 * largest n -- and times pw_engine_compare three ways: CKA alone (the Gram
 * pass plus O(p^2) norms: the pass time), PWCCA alone, and all four metrics.
 * What is not the pass is LAPACK and the per-pair p^3 BLAS.  Besides the
 * peak RSS (which for the mapped file counts its page cache), a sampler
 * thread records the peak anonymous memory: the engine's own heap.
 *
 * Reduced mode (#17; full runs only, or `bench_engine --reduced` alone): a
 * 16384 x 4096 pair (F32) at reduce dims:512 with PWCCA, mean CCA and SVCCA,
 * Y's reduced side cached as the daemon holds it for the previous
 * checkpoint.  It prints the pair's time beside the sum of its unavoidable
 * parts timed in the same process -- a syrk over the new checkpoint, the
 * eigensolver for the top 512 directions, one projection pass -- and the
 * exact path's time for the same pair and metrics (run once, uncached: it
 * takes about a minute), and the peak RSS of the reduced pair against the
 * issue's 8 p^2 doubles plus the data.
 *
 * Standard errors (#21; quick and full runs, or `bench_engine --noise`):
 * a pair as the daemon pays it (X fresh, Y's side cached) with all metrics,
 * timed without SEs and with jackknife:10, and the ratio of the two -- per
 * pair, and amortized at the default schedule (SEs at every
 * PW_NOISE_DEFAULT_EVERY-th checkpoint of a layer; target <= 1.5).
 *
 * Chance level (#21; `bench_engine --chance` alone): the same pairs, the
 * plain pair as the daemon pays it (X fresh, Y cached) against the chance
 * level computed after it from both cached sides (one cross pass over Y's
 * rows in shuffled input order, and the per-pair canonical work), and their
 * ratio -- paid once per layer and run.
 *
 * Environment: PW_BENCH_SUMMARY=file appends "key value" lines for bench/run.sh;
 * PW_BENCH_DUMP=dir writes the numpy comparison case as dir/X.f32, dir/Y.f32. */
#include <cblas.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pw_chance.h"
#include "pw_engine.h"
#include "pw_noise.h"
#include "pw_reduced.h"

typedef struct bench_case {
    uint64_t n;     /* datapoints */
    uint64_t p, q;  /* neurons */
    int on_disk;    /* 1: stream from an mmap'd f32 file */
    int numpy_case; /* 1: the case bench/numpy_ref.py is compared on */
} bench_case;

static const bench_case full_cases[] = {
    {5000, 256, 256, 0, 0},     {10000, 512, 512, 0, 0},   {20000, 1024, 1024, 0, 1},
    {102400, 1024, 1024, 0, 0}, {1000000, 256, 256, 1, 0},
};
static const bench_case quick_cases[] = {
    {5000, 256, 256, 0, 1},
    {20000, 512, 512, 0, 0},
    {200000, 256, 256, 1, 0},
};

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int quick(void)
{
    const char *q = getenv("PW_BENCH_QUICK");
    return q && *q && strcmp(q, "0") != 0;
}

static double dgemm_rate(void)
{
    const int n = 2048;
    size_t nn = (size_t)n * n;
    double *a = malloc(nn * sizeof(double)), *b = malloc(nn * sizeof(double));
    double *c = malloc(nn * sizeof(double)), best = 1e30;
    if (!a || !b || !c) {
        fprintf(stderr, "bench_engine: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < nn; i++) {
        a[i] = (double)(i % 17) - 8.0;
        b[i] = (double)(i % 13) * 0.25;
    }
    for (int r = 0; r < 3; r++) {
        double t = now();
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, a, n, b, n, 0.0, c, n);
        t = now() - t;
        best = t < best ? t : best;
    }
    free(a);
    free(b);
    free(c);
    return 2.0 * n * (double)n * n / best / 1e9;
}

/* ---- data ----------------------------------------------------------------- */

typedef struct gen {
    uint64_t s; /* xorshift64 state */
} gen;

static float uniform(gen *g)
{
    g->s ^= g->s << 13;
    g->s ^= g->s >> 7;
    g->s ^= g->s << 17;
    return (float)((double)(g->s >> 11) * 0x1p-53 * 2.0 - 1.0);
}

/* Rows [row0, row0 + m) of X and Y: X uniform noise, Y half a copy of X's
 * columns plus noise, so that the correlations are neither 0 nor 1. */
static void fill(gen *g, const bench_case *c, size_t m, float *x, float *y)
{
    for (size_t i = 0; i < m; i++) {
        float *xr = x + i * c->p, *yr = y + i * c->q;
        for (uint64_t j = 0; j < c->p; j++)
            xr[j] = uniform(g);
        for (uint64_t j = 0; j < c->q; j++)
            yr[j] = 0.6f * xr[j % c->p] + 0.8f * uniform(g);
    }
}

static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Where a case's activations live. */
typedef struct layer_pair {
    float *x, *y;                /* the f32 data (heap or mmap) */
    size_t xbytes, ybytes;       /* their sizes */
    int mapped;                  /* 1 when x, y are file mappings */
    char xpath[256], ypath[256]; /* the files, when mapped */
} layer_pair;

static void *map_file(const char *path, size_t bytes)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return NULL;
    void *m = mmap(NULL, bytes, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    return m == MAP_FAILED ? NULL : m;
}

static int make_data(const bench_case *c, layer_pair *lp)
{
    gen g = {0x9e3779b97f4a7c15ull};
    memset(lp, 0, sizeof *lp);
    lp->xbytes = c->n * c->p * sizeof(float);
    lp->ybytes = c->n * c->q * sizeof(float);
    if (!c->on_disk) {
        lp->x = malloc(lp->xbytes);
        lp->y = malloc(lp->ybytes);
        if (!lp->x || !lp->y)
            return -1;
        fill(&g, c, c->n, lp->x, lp->y);
        return 0;
    }
    /* Written a block at a time, so the generator never holds the layer. */
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(lp->xpath, sizeof lp->xpath, "%s/pw_bench_%d.X.f32", dir, (int)getpid());
    snprintf(lp->ypath, sizeof lp->ypath, "%s/pw_bench_%d.Y.f32", dir, (int)getpid());
    int fx = open(lp->xpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int fy = open(lp->ypath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    size_t block = 8192;
    float *bx = malloc(block * c->p * sizeof(float)), *by = malloc(block * c->q * sizeof(float));
    int rc = fx >= 0 && fy >= 0 && bx && by ? 0 : -1;
    for (uint64_t r = 0; rc == 0 && r < c->n; r += block) {
        size_t m = c->n - r < block ? (size_t)(c->n - r) : block;
        fill(&g, c, m, bx, by);
        if (write_all(fx, bx, m * c->p * sizeof(float)) != 0 ||
            write_all(fy, by, m * c->q * sizeof(float)) != 0)
            rc = -1;
    }
    free(bx);
    free(by);
    if (fx >= 0)
        close(fx);
    if (fy >= 0)
        close(fy);
    if (rc != 0)
        return -1;
    lp->x = map_file(lp->xpath, lp->xbytes);
    lp->y = map_file(lp->ypath, lp->ybytes);
    lp->mapped = 1;
    return lp->x && lp->y ? 0 : -1;
}

static void free_data(layer_pair *lp)
{
    if (lp->mapped) {
        if (lp->x)
            munmap(lp->x, lp->xbytes);
        if (lp->y)
            munmap(lp->y, lp->ybytes);
        unlink(lp->xpath);
        unlink(lp->ypath);
    } else {
        free(lp->x);
        free(lp->y);
    }
}

static void tensor_of(pw_tensor *t, const char *name, const float *data, uint64_t n, uint64_t p)
{
    pw_err e;
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->dtype = PW_DT_F32;
    t->ndim = 2;
    t->shape[0] = n;
    t->shape[1] = p;
    t->data = (const unsigned char *)data;
    t->nbytes = n * p * sizeof(float);
    if (pw_tensor_finish(t, &e) != 0) {
        fprintf(stderr, "bench_engine: %s\n", e.msg);
        exit(1);
    }
}

/* Peak anonymous memory (heap, stacks) of this process: a thread samples
 * /proc/self/statm (resident minus file-backed pages) every millisecond.
 * For the mapped case this is the engine's own memory, without the page
 * cache of the file it streams. */
typedef struct anon_peak {
    atomic_int stop; /* set to end the sampler */
    long peak_pages; /* largest sample */
    pthread_t thread;
} anon_peak;

static long anon_pages(void)
{
    char line[256];
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    char *ok = fgets(line, sizeof line, f);
    fclose(f);
    if (!ok)
        return 0;
    /* size resident shared ...: in pages */
    char *end;
    strtol(line, &end, 10);
    long resident = strtol(end, &end, 10);
    long shared = strtol(end, &end, 10);
    return resident - shared;
}

static void *anon_sampler(void *arg)
{
    anon_peak *a = arg;
    struct timespec ms = {0, 1000000};
    while (!atomic_load(&a->stop)) {
        long v = anon_pages();
        a->peak_pages = v > a->peak_pages ? v : a->peak_pages;
        nanosleep(&ms, NULL);
    }
    return NULL;
}

/* ---- one case ----------------------------------------------------------------- */

static void summary(const char *key, const bench_case *c, double v)
{
    const char *path = getenv("PW_BENCH_SUMMARY");
    FILE *f = path && *path ? fopen(path, "a") : NULL;
    if (!f)
        return;
    fprintf(f, "%s %llux%llux%llu %.12g\n", key, (unsigned long long)c->n, (unsigned long long)c->p,
            (unsigned long long)c->q, v);
    fclose(f);
}

static void dump_for_numpy(const bench_case *c, const layer_pair *lp)
{
    const char *dir = getenv("PW_BENCH_DUMP");
    if (!dir || !*dir || !c->numpy_case)
        return;
    char path[512];
    const float *arr[2] = {lp->x, lp->y};
    size_t bytes[2] = {lp->xbytes, lp->ybytes};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%c.f32", dir, i ? 'Y' : 'X');
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || write_all(fd, arr[i], bytes[i]) != 0)
            fprintf(stderr, "bench_engine: cannot write %s\n", path);
        if (fd >= 0)
            close(fd);
    }
}

#define MAX_REPS    200 /* runs of each kind per case at most */
#define REP_SECONDS 2.0 /* small cases repeat for this long */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double timed(const pw_rows *x, const pw_rows *y, unsigned metrics, pw_result *r)
{
    pw_err e;
    double t = now();
    if (pw_engine_compare(x, y, metrics, NULL, NULL, r, &e) != 0) {
        fprintf(stderr, "bench_engine: %s\n", e.msg);
        exit(1);
    }
    t = now() - t;
    if (r->status != PW_OK) {
        fprintf(stderr, "bench_engine: status %s: %s\n", pw_status_name(r->status), r->message);
        exit(1);
    }
    return t;
}

static int run_case(const bench_case *c, double gemm)
{
    layer_pair lp;
    if (make_data(c, &lp) != 0) {
        fprintf(stderr, "bench_engine: cannot prepare %llu x %llu data\n", (unsigned long long)c->n,
                (unsigned long long)c->p);
        free_data(&lp);
        return 1;
    }
    dump_for_numpy(c, &lp);
    pw_tensor tx, ty;
    tensor_of(&tx, "x", lp.x, c->n, c->p);
    tensor_of(&ty, "y", lp.y, c->n, c->q);
    pw_rows rx = pw_rows_from_tensor(&tx), ry = pw_rows_from_tensor(&ty);
    /* Every timing is the best of several runs (the machine is shared); the
     * three kinds of run are interleaved so that a busy spell hits all.  Small
     * cases, whose single runs last milliseconds and suffer most from a
     * neighbour's burst, run until REP_SECONDS have passed; the median pass is
     * printed beside the best so that a lucky run cannot hide a slow typical one. */
    double work = (double)c->n * (double)(c->p + c->q) * (double)(c->p + c->q);
    int min_reps = work < 2e10 ? 5 : quick() ? 2 : 3;
    double t_pass = 1e30, t_pw = 1e30, t_all = 1e30, passes[MAX_REPS] = {0}, started = now();
    /* Issue #20's metrics, each timed with CKA so that its ratio to the
     * CKA-only pass is its own cost, and all six against the four. */
    double t_deb = 1e30, t_proc = 1e30, t_six = 1e30;
    const unsigned four = PW_M_ALL & ~(unsigned)(PW_M_CKA_DEBIASED | PW_M_PROCRUSTES);
    int reps = 0;
    pw_result r;
    double pwcca = NAN;
    while (reps < MAX_REPS && (reps < min_reps || now() - started < REP_SECONDS)) {
        double t = timed(&rx, &ry, PW_M_CKA, &r);
        pw_result_free(&r);
        passes[reps++] = t;
        t_pass = t < t_pass ? t : t_pass;
        t = timed(&rx, &ry, PW_M_PWCCA, &r);
        pwcca = r.pwcca;
        pw_result_free(&r);
        t_pw = t < t_pw ? t : t_pw;
        t = timed(&rx, &ry, four, &r);
        pw_result_free(&r);
        t_all = t < t_all ? t : t_all;
        t = timed(&rx, &ry, PW_M_CKA | PW_M_CKA_DEBIASED, &r);
        pw_result_free(&r);
        t_deb = t < t_deb ? t : t_deb;
        t = timed(&rx, &ry, PW_M_CKA | PW_M_PROCRUSTES, &r);
        pw_result_free(&r);
        t_proc = t < t_proc ? t : t_proc;
        t = timed(&rx, &ry, PW_M_ALL, &r);
        pw_result_free(&r);
        t_six = t < t_six ? t : t_six;
    }
    qsort(passes, (size_t)reps, sizeof passes[0], cmp_double);
    double t_med = passes[reps / 2];
    /* Memory is measured in a run of its own: the sampler wakes every
     * millisecond, and on two cores that costs a timed pass a few per cent. */
    anon_peak ap = {0};
    if (pthread_create(&ap.thread, NULL, anon_sampler, &ap) != 0) {
        fprintf(stderr, "bench_engine: cannot start the memory sampler\n");
        exit(1);
    }
    timed(&rx, &ry, four, &r);
    pw_result_free(&r);
    atomic_store(&ap.stop, 1);
    pthread_join(ap.thread, NULL);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double rss = (double)ru.ru_maxrss / 1024.0;
    double anon = (double)ap.peak_pages * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
    /* The machine is shared: the dgemm rate this case is held against is the
     * better of the parent's measurement just before the case and one just
     * after it (after the memory figures, which it would disturb). */
    double after = dgemm_rate();
    gemm = after > gemm ? after : gemm;
    double rate = work / t_pass / 1e9;
    const char *src = c->on_disk ? "file" : "mem";
    double tt[2] = {t_pw, t_all};
    const char *names[2] = {"pwcca", "all4"};
    for (int i = 0; i < 2; i++)
        printf("%8llu %5llu %5llu %-4s %-5s %10.1f %9.1f %8.1f %6.0f%% %6.0f%% %7.2f %7.2f %7.1f "
               "%8.1f %8.1f %5d\n",
               (unsigned long long)c->n, (unsigned long long)c->p, (unsigned long long)c->q, src,
               names[i], tt[i] * 1e3, t_pass * 1e3, rate, 100.0 * t_pass / tt[i],
               100.0 * (tt[i] - t_pass) / tt[i], rate / gemm, work / t_med / 1e9 / gemm, gemm, rss,
               anon, reps);
    printf("%8s cka_debiased %.1f ms = %.3f x the pass; procrustes %.1f ms = %.3f x the pass; "
           "all six %.1f ms = %.3f x all four\n",
           "", t_deb * 1e3, t_deb / t_pass, t_proc * 1e3, t_proc / t_pass, t_six * 1e3,
           t_six / t_all);
    fflush(stdout);
    summary("engine_cka_debiased_ratio", c, t_deb / t_pass);
    summary("engine_procrustes_ratio", c, t_proc / t_pass);
    summary("engine_all6_over_all4", c, t_six / t_all);
    summary("engine_pass_ms", c, t_pass * 1e3);
    summary("engine_pwcca_ms", c, t_pw * 1e3);
    summary("engine_all_ms", c, t_all * 1e3);
    summary("engine_pass_gflops", c, rate);
    summary("engine_pass_median_ms", c, t_med * 1e3);
    summary("engine_dgemm_gflops", c, gemm);
    summary("engine_peak_rss_mb", c, rss);
    summary("engine_peak_anon_mb", c, anon);
    if (c->numpy_case)
        summary("engine_pwcca_value", c, pwcca);
    free_data(&lp);
    return 0;
}

/* ---- reduced mode --------------------------------------------------------------- */

static void reduced_or_die(const pw_rows *x, const pw_rows *y, unsigned m, const pw_reduce *red,
                           pw_side **sx, pw_side **sy, pw_result *r)
{
    pw_err e;
    if (pw_engine_compare_reduced(x, y, m, red, sx, sy, r, &e) != 0) {
        fprintf(stderr, "bench_engine: %s\n", e.msg);
        exit(1);
    }
    if (r->status != PW_OK) {
        fprintf(stderr, "bench_engine: status %s: %s\n", pw_status_name(r->status), r->message);
        exit(1);
    }
}

static int run_reduced(void)
{
    const bench_case c = {16384, 4096, 4096, 0, 0};
    const size_t kk = 512, n = c.n, p = c.p;
    const unsigned m = PW_M_PWCCA | PW_M_MEAN_CCA | PW_M_SVCCA;
    const pw_reduce red = {.kind = PW_REDUCE_DIMS, .dims = kk};
    layer_pair lp;
    if (make_data(&c, &lp) != 0) {
        fprintf(stderr, "bench_engine: cannot prepare the reduced case's data\n");
        free_data(&lp);
        return 1;
    }
    pw_tensor tx, ty;
    tensor_of(&tx, "x", lp.x, c.n, c.p);
    tensor_of(&ty, "y", lp.y, c.n, c.q);
    pw_rows rx = pw_rows_from_tensor(&tx), ry = pw_rows_from_tensor(&ty);
    /* Y's side as the previous pair left it (both sides fresh: untimed). */
    pw_side *sy = NULL, *sx = NULL;
    pw_result r;
    double t = now();
    reduced_or_die(&rx, &ry, m, &red, &sx, &sy, &r);
    double t_fresh = now() - t;
    pw_result_free(&r);
    pw_side_free(sx);
    sx = NULL;
    /* The pair as the daemon pays it: X fresh, Y cached. */
    anon_peak ap = {0};
    if (pthread_create(&ap.thread, NULL, anon_sampler, &ap) != 0) {
        fprintf(stderr, "bench_engine: cannot start the memory sampler\n");
        exit(1);
    }
    t = now();
    reduced_or_die(&rx, &ry, m, &red, &sx, &sy, &r);
    double t_pair = now() - t;
    atomic_store(&ap.stop, 1);
    pthread_join(ap.thread, NULL);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double rss = (double)ru.ru_maxrss / 1024.0;
    double anon = (double)ap.peak_pages * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
    double pw = r.pwcca, sv = r.svcca;
    pw_result_free(&r);
    pw_side_free(sx);
    pw_side_free(sy);
    /* Its unavoidable parts: the syrk of X's rows (converted a chunk at a
     * time, as the pass does), the eigensolver, one projection. */
    const size_t chunk = 4096;
    double *g = calloc(p * p, sizeof(double)), *buf = malloc(chunk * p * sizeof(double));
    double *mean = calloc(p, sizeof(double)), *phi = malloc(n * kk * sizeof(double));
    uint32_t *kept = malloc(p * sizeof(uint32_t));
    if (!g || !buf || !mean || !phi || !kept) {
        fprintf(stderr, "bench_engine: out of memory for the reduced case's parts\n");
        exit(1);
    }
    t = now();
    for (size_t r0 = 0; r0 < n; r0 += chunk) {
        for (size_t i = 0; i < chunk * p; i++)
            buf[i] = (double)lp.x[r0 * p + i];
        cblas_dsyrk(CblasColMajor, CblasUpper, CblasNoTrans, (int)p, (int)chunk, 1.0, buf, (int)p,
                    1.0, g, (int)p);
    }
    double t_syrk = now() - t;
    for (size_t j = 0; j < p; j++)
        kept[j] = (uint32_t)j;
    size_t got;
    double *lam, *v;
    pw_err e;
    t = now();
    if (pw_reduced_eig(g, p, &red, 'X', &got, &lam, &v, &e) != 0 || got != kk) {
        fprintf(stderr, "bench_engine: eigensolver: %s\n", e.msg);
        exit(1);
    }
    double t_eig = now() - t;
    t = now();
    if (pw_reduced_project(&rx, 'X', kept, p, mean, v, kk, phi, &e) != 0) {
        fprintf(stderr, "bench_engine: projection: %s\n", e.msg);
        exit(1);
    }
    double t_proj = now() - t;
    free(g);
    free(buf);
    free(mean);
    free(phi);
    free(kept);
    free(lam);
    free(v);
    double parts = t_syrk + t_eig + t_proj;
    /* The exact path, once. */
    pw_err ee;
    t = now();
    if (pw_engine_compare(&rx, &ry, m, NULL, NULL, &r, &ee) != 0) {
        fprintf(stderr, "bench_engine: %s\n", ee.msg);
        exit(1);
    }
    double t_exact = now() - t;
    pw_result_free(&r);
    double data_mb = (double)(lp.xbytes + lp.ybytes) / (1024.0 * 1024.0);
    double limit_mb = 8.0 * (double)p * (double)p * sizeof(double) / (1024.0 * 1024.0);
    printf("\nreduced mode: n = %zu, p = q = %zu (F32), reduce dims:%zu, pwcca + mean_cca + svcca, "
           "Y's side cached\n",
           n, p, kk);
    printf("  pair (X fresh, Y cached)      %9.1f ms   (both fresh: %.1f ms)\n", t_pair * 1e3,
           t_fresh * 1e3);
    printf("  parts: syrk %.1f + eigensolver %.1f + projection %.1f = %.1f ms; pair / parts = "
           "%.2f (target <= 1.5)\n",
           t_syrk * 1e3, t_eig * 1e3, t_proj * 1e3, parts * 1e3, t_pair / parts);
    printf("  exact path, same pair, uncached %9.1f ms; exact / reduced = %.1fx (target >= 5)\n",
           t_exact * 1e3, t_exact / t_pair);
    printf("  peak RSS %.0f MiB (data %.0f MiB + 8 p^2 doubles %.0f MiB = %.0f MiB allowed); "
           "peak anon %.0f MiB\n",
           rss, data_mb, limit_mb, data_mb + limit_mb, anon);
    printf("  pwcca %.6f, svcca %.6f\n", pw, sv);
    summary("reduced_pair_ms", &c, t_pair * 1e3);
    summary("reduced_parts_ms", &c, parts * 1e3);
    summary("reduced_exact_ms", &c, t_exact * 1e3);
    summary("reduced_peak_rss_mb", &c, rss);
    free_data(&lp);
    return 0;
}

/* ---- standard errors ------------------------------------------------------------ */

/* Best of three of a pair X fresh, Y cached (sy built beforehand). */
static double noise_pair(const pw_rows *x, const pw_rows *y, uint64_t inputs, unsigned blocks,
                         pw_side **sy, double *se)
{
    double best = 1e300;
    for (int rep = 0; rep < 3; rep++) {
        pw_side *sx = NULL;
        pw_result r;
        pw_noise_result nr;
        pw_err e;
        pw_err_clear(&e);
        pw_noise_mode mode = {.blocks = blocks, .every = 1};
        double t = now();
        if (pw_noise_compare(x, y, inputs, PW_M_ALL, &mode, 0, NULL, &sx, sy, &r, &nr, &e) != 0 ||
            r.status != PW_OK || (blocks && nr.blocks != blocks)) {
            fprintf(stderr, "bench_engine: noise case: %s %s %s\n", e.msg, r.message, nr.message);
            exit(1);
        }
        t = now() - t;
        best = t < best ? t : best;
        *se = nr.se[PW_METRIC_PWCCA];
        pw_result_free(&r);
        pw_side_free(sx);
    }
    return best;
}

static int run_noise(void)
{
    static const bench_case full[] = {{20000, 512, 512, 0, 0}, {20000, 1024, 1024, 0, 0}};
    static const bench_case small[] = {{5000, 256, 256, 0, 0}, {20000, 512, 512, 0, 0}};
    const bench_case *cs = quick() ? small : full;
    const unsigned blocks = 10;
    printf("\nstandard errors: jackknife:%u, all metrics, X fresh and Y cached (as the daemon "
           "pays a pair)\n",
           blocks);
    printf("ratio = per pair; ratio_sched = amortized at the default schedule, every %u "
           "(target <= 1.5)\n",
           (unsigned)PW_NOISE_DEFAULT_EVERY);
    printf("%8s %5s %5s %10s %10s %8s %12s %10s\n", "n", "p", "q", "plain_ms", "noise_ms", "ratio",
           "ratio_sched", "pwcca_se");
    for (size_t i = 0; i < 2; i++) {
        const bench_case *c = &cs[i];
        layer_pair lp;
        if (make_data(c, &lp) != 0) {
            fprintf(stderr, "bench_engine: cannot prepare the noise case's data\n");
            free_data(&lp);
            return 1;
        }
        pw_tensor tx, ty;
        tensor_of(&tx, "x", lp.x, c->n, c->p);
        tensor_of(&ty, "y", lp.y, c->n, c->q);
        pw_rows rx = pw_rows_from_tensor(&tx), ry = pw_rows_from_tensor(&ty);
        pw_side *sy = NULL, *sx = NULL;
        pw_result r;
        pw_err e;
        if (pw_engine_compare(&rx, &ry, PW_M_ALL, &sx, &sy, &r, &e) != 0) {
            fprintf(stderr, "bench_engine: %s\n", e.msg);
            exit(1);
        }
        pw_result_free(&r);
        pw_side_free(sx);
        double se = NAN;
        double plain = noise_pair(&rx, &ry, c->n, 0, &sy, &se);
        double noisy = noise_pair(&rx, &ry, c->n, blocks, &sy, &se);
        double ratio = noisy / plain;
        unsigned every = PW_NOISE_DEFAULT_EVERY;
        double amort = ((every - 1) * plain + noisy) / (every * plain);
        printf("%8llu %5llu %5llu %10.1f %10.1f %8.2f %12.2f %10.2e\n", (unsigned long long)c->n,
               (unsigned long long)c->p, (unsigned long long)c->q, plain * 1e3, noisy * 1e3, ratio,
               amort, se);
        fflush(stdout);
        summary("noise_plain_ms", c, plain * 1e3);
        summary("noise_jackknife10_ms", c, noisy * 1e3);
        summary("noise_ratio", c, ratio);
        summary("noise_ratio_default_schedule", c, amort);
        pw_side_free(sy);
        free_data(&lp);
    }
    return 0;
}

/* ---- chance level ---------------------------------------------------------------- */

static int run_chance(void)
{
    static const bench_case full[] = {{20000, 512, 512, 0, 0}, {20000, 1024, 1024, 0, 0}};
    static const bench_case small[] = {{5000, 256, 256, 0, 0}, {20000, 512, 512, 0, 0}};
    const bench_case *cs = quick() ? small : full;
    printf("\nchance level: all metrics; plain = a pair as the daemon pays it (X fresh, Y "
           "cached),\nchance = the chance level from both cached sides after it (once per layer "
           "and run)\n");
    printf("%8s %5s %5s %10s %10s %8s %10s %10s\n", "n", "p", "q", "plain_ms", "chance_ms", "ratio",
           "distance", "chance_d");
    for (size_t i = 0; i < 2; i++) {
        const bench_case *c = &cs[i];
        layer_pair lp;
        if (make_data(c, &lp) != 0) {
            fprintf(stderr, "bench_engine: cannot prepare the chance case's data\n");
            free_data(&lp);
            return 1;
        }
        pw_tensor tx, ty;
        tensor_of(&tx, "x", lp.x, c->n, c->p);
        tensor_of(&ty, "y", lp.y, c->n, c->q);
        pw_rows rx = pw_rows_from_tensor(&tx), ry = pw_rows_from_tensor(&ty);
        pw_side *sy = NULL, *sx0 = NULL;
        pw_result r;
        pw_err e;
        if (pw_engine_compare(&rx, &ry, PW_M_ALL, &sx0, &sy, &r, &e) != 0) {
            fprintf(stderr, "bench_engine: %s\n", e.msg);
            exit(1);
        }
        pw_result_free(&r);
        pw_side_free(sx0);
        double plain = 1e300, chance = 1e300, d = NAN, cd = NAN;
        for (int rep = 0; rep < 3; rep++) {
            pw_side *sx = NULL;
            pw_result pr, cr;
            double t = now();
            if (pw_engine_compare(&rx, &ry, PW_M_ALL, &sx, &sy, &pr, &e) != 0 ||
                pr.status != PW_OK) {
                fprintf(stderr, "bench_engine: chance case: %s %s\n", e.msg, pr.message);
                exit(1);
            }
            double t1 = now();
            if (pw_chance_compare(&rx, &ry, c->n, PW_CHANCE_SEED, PW_M_ALL, NULL, &sx, &sy, &cr,
                                  &e) != 0 ||
                cr.status != PW_OK) {
                fprintf(stderr, "bench_engine: chance case: %s %s\n", e.msg, cr.message);
                exit(1);
            }
            double t2 = now();
            plain = t1 - t < plain ? t1 - t : plain;
            chance = t2 - t1 < chance ? t2 - t1 : chance;
            d = pr.distance;
            cd = cr.distance;
            pw_result_free(&pr);
            pw_result_free(&cr);
            pw_side_free(sx);
        }
        printf("%8llu %5llu %5llu %10.1f %10.1f %8.2f %10.4f %10.4f\n", (unsigned long long)c->n,
               (unsigned long long)c->p, (unsigned long long)c->q, plain * 1e3, chance * 1e3,
               chance / plain, d, cd);
        fflush(stdout);
        summary("chance_plain_ms", c, plain * 1e3);
        summary("chance_ms", c, chance * 1e3);
        summary("chance_ratio", c, chance / plain);
        pw_side_free(sy);
        free_data(&lp);
    }
    return 0;
}

int main(int argc, char **argv)
{
    pw_engine_set_blas_threads(0);
    const bench_case *cases = quick() ? quick_cases : full_cases;
    size_t ncases = quick() ? sizeof quick_cases / sizeof quick_cases[0]
                            : sizeof full_cases / sizeof full_cases[0];
    if (argc == 4 && strcmp(argv[1], "--case") == 0) {
        size_t i = strtoul(argv[2], NULL, 10);
        if (i >= ncases)
            return 2;
        return run_case(&cases[i], strtod(argv[3], NULL));
    }
    if (argc == 2 && strcmp(argv[1], "--reduced") == 0)
        return run_reduced();
    if (argc == 2 && strcmp(argv[1], "--noise") == 0)
        return run_noise();
    if (argc == 2 && strcmp(argv[1], "--chance") == 0)
        return run_chance();
    double gemm = dgemm_rate();
    printf("engine benchmark: %d BLAS threads, dgemm 2048^3 = %.1f GFLOP/s%s\n",
           pw_engine_blas_threads(), gemm, quick() ? " (quick mode)" : "");
    printf("pass = CKA-only run (one streaming Gram pass); rest = LAPACK + per-pair p^3 BLAS\n");
    printf("all4 = pwcca, mean_cca, svcca, cka; cka_debiased and procrustes are timed with CKA, "
           "as ratios to the pass\n");
    printf("times are the best of `runs` runs; med/mm = the median pass against dgemm\n");
    printf("rest = LAPACK share; rss_MB = peak RSS (with the data and the file's page cache); "
           "anon_MB = peak heap + stacks\n");
    printf("%8s %5s %5s %-4s %-5s %10s %9s %8s %7s %7s %7s %7s %7s %8s %8s %5s\n", "n", "p", "q",
           "src", "metric", "wall_ms", "pass_ms", "pass_GF", "pass%", "rest%", "pass/mm", "med/mm",
           "mm_GF", "rss_MB", "anon_MB", "runs");
    fflush(stdout);
    int failed = 0;
    for (size_t i = 0; i < ncases; i++) {
        char idx[32], rate[64];
        double before = i ? dgemm_rate() : gemm;
        snprintf(idx, sizeof idx, "%zu", i);
        snprintf(rate, sizeof rate, "%.6g", before);
        pid_t pid = fork();
        if (pid == 0) {
            execl("/proc/self/exe", argv[0], "--case", idx, rate, (char *)NULL);
            _exit(127);
        }
        int st = 0;
        if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            failed = 1;
    }
    if (!quick()) {
        /* Its own process too, so that its peak RSS is its own. */
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            execl("/proc/self/exe", argv[0], "--reduced", (char *)NULL);
            _exit(127);
        }
        int st = 0;
        if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            failed = 1;
    }
    {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            execl("/proc/self/exe", argv[0], "--noise", (char *)NULL);
            _exit(127);
        }
        int st = 0;
        if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            failed = 1;
    }
    const char *path = getenv("PW_BENCH_SUMMARY");
    FILE *f = path && *path ? fopen(path, "a") : NULL;
    if (f) {
        fprintf(f, "dgemm_gflops all %.6g\n", gemm);
        fclose(f);
    }
    return failed;
}
