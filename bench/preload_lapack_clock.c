/* preload_lapack_clock.c -- how long pwccad spends inside LAPACK, measured
 * from outside.
 *
 * bench_daemon.sh reports the LAPACK share of the daemon's time per
 * checkpoint.  Rather than teach the product to time itself for a benchmark,
 * this shim is LD_PRELOADed into the real pwccad: it wraps the LAPACKE
 * routines the engine calls, adds up the wall time spent in them (all
 * threads), and at exit writes "SECONDS CALLS" to $PW_LAPACK_CLOCK_OUT.
 * Built as build/bench/preload_lapack_clock.so; not installed. */
#include <dlfcn.h>
#include <lapacke.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef lapack_int (*dsyevd_fn)(int, char, char, lapack_int, double *, lapack_int, double *);
typedef lapack_int (*dgesdd_fn)(int, char, lapack_int, lapack_int, double *, lapack_int, double *,
                                double *, lapack_int, double *, lapack_int);

static dsyevd_fn real_dsyevd;  /* the library's LAPACKE_dsyevd */
static dgesdd_fn real_dgesdd;  /* the library's LAPACKE_dgesdd */
static atomic_llong inside_ns; /* wall time inside the wrapped routines */
static atomic_llong ncalls;    /* calls to them */

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

__attribute__((constructor)) static void resolve(void)
{
    /* POSIX guarantees a void * from dlsym converts to a function pointer. */
    *(void **)&real_dsyevd = dlsym(RTLD_NEXT, "LAPACKE_dsyevd");
    *(void **)&real_dgesdd = dlsym(RTLD_NEXT, "LAPACKE_dgesdd");
    if (!real_dsyevd || !real_dgesdd) {
        fprintf(stderr, "preload_lapack_clock: LAPACKE not found: %s\n", dlerror());
        abort();
    }
}

static void account(long long t0)
{
    atomic_fetch_add(&inside_ns, now_ns() - t0);
    atomic_fetch_add(&ncalls, 1);
}

lapack_int LAPACKE_dsyevd(int layout, char jobz, char uplo, lapack_int n, double *a, lapack_int lda,
                          double *w)
{
    long long t0 = now_ns();
    lapack_int rc = real_dsyevd(layout, jobz, uplo, n, a, lda, w);
    account(t0);
    return rc;
}

lapack_int LAPACKE_dgesdd(int layout, char jobz, lapack_int m, lapack_int n, double *a,
                          lapack_int lda, double *s, double *u, lapack_int ldu, double *vt,
                          lapack_int ldvt)
{
    long long t0 = now_ns();
    lapack_int rc = real_dgesdd(layout, jobz, m, n, a, lda, s, u, ldu, vt, ldvt);
    account(t0);
    return rc;
}

__attribute__((destructor)) static void report(void)
{
    const char *path = getenv("PW_LAPACK_CLOCK_OUT");
    FILE *f = path ? fopen(path, "w") : NULL;
    if (!f)
        return;
    fprintf(f, "%.6f %lld\n", (double)atomic_load(&inside_ns) * 1e-9, atomic_load(&ncalls));
    fclose(f);
}
