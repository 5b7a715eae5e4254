/* slow_lapack.c -- an LD_PRELOAD shim that makes one LAPACK call take long.
 *
 * test_keepup.sh stops pwccad while a compute thread is inside LAPACK, which
 * no signal or flag can interrupt.  A real layer large enough for that costs
 * both cores of the test machine for many seconds; this shim gives the same
 * situation for free: the first call to LAPACKE_dsyevd or LAPACKE_dgesdd
 * creates the file $PW_SLOW_LAPACK_MARK (so the test knows the thread is
 * inside) and then sleeps $PW_SLOW_LAPACK_S seconds before doing the real
 * work.  Later calls, and calls once the mark exists, are not delayed.
 * Built by the test with cc; not installed. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <lapacke.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

typedef lapack_int (*dsyevd_fn)(int, char, char, lapack_int, double *, lapack_int, double *);
typedef lapack_int (*dgesdd_fn)(int, char, lapack_int, lapack_int, double *, lapack_int, double *,
                                double *, lapack_int, double *, lapack_int);

/* The first caller that can create the mark sleeps, as a long LAPACK call would. */
static void maybe_stall(void)
{
    const char *mark = getenv("PW_SLOW_LAPACK_MARK");
    const char *secs = getenv("PW_SLOW_LAPACK_S");
    if (!mark || !secs)
        return;
    int fd = open(mark, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0)
        return;
    close(fd);
    struct timespec left = {atol(secs), 0};
    while (nanosleep(&left, &left) != 0 && errno == EINTR)
        ;
}

lapack_int LAPACKE_dsyevd(int layout, char jobz, char uplo, lapack_int n, double *a, lapack_int lda,
                          double *w)
{
    dsyevd_fn real;
    *(void **)&real = dlsym(RTLD_NEXT, "LAPACKE_dsyevd");
    maybe_stall();
    return real(layout, jobz, uplo, n, a, lda, w);
}

lapack_int LAPACKE_dgesdd(int layout, char jobz, lapack_int m, lapack_int n, double *a,
                          lapack_int lda, double *s, double *u, lapack_int ldu, double *vt,
                          lapack_int ldvt)
{
    dgesdd_fn real;
    *(void **)&real = dlsym(RTLD_NEXT, "LAPACKE_dgesdd");
    maybe_stall();
    return real(layout, jobz, m, n, a, lda, s, u, ldu, vt, ldvt);
}
