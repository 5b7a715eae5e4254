/* slow_lapack.c -- an LD_PRELOAD shim that holds LAPACK calls at a gate.
 *
 * test_keepup.sh stops pwccad while a compute thread is inside LAPACK, which
 * no signal or flag can interrupt, and holds a job there while checkpoints
 * arrive, to see what the daemon does next.  A real layer large enough for
 * that costs both cores of the test machine for many seconds; this shim gives
 * the same situation for free: while the file $PW_SLOW_LAPACK_HOLD exists,
 * every call to LAPACKE_dsyevd or LAPACKE_dgesdd waits (at most
 * $PW_SLOW_LAPACK_S seconds) before doing the real work, and the first one to
 * wait creates $PW_SLOW_LAPACK_MARK, so the test knows a thread is inside.
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

/* Wait while the hold file exists, as a long LAPACK call would. */
static void maybe_stall(void)
{
    const char *hold = getenv("PW_SLOW_LAPACK_HOLD");
    const char *mark = getenv("PW_SLOW_LAPACK_MARK");
    const char *secs = getenv("PW_SLOW_LAPACK_S");
    if (!hold || !mark || !secs || access(hold, F_OK) != 0)
        return;
    int fd = open(mark, O_WRONLY | O_CREAT, 0644);
    if (fd >= 0)
        close(fd);
    for (long i = 0; i < 100 * atol(secs) && access(hold, F_OK) == 0; i++) {
        struct timespec tick = {0, 10000000L};
        while (nanosleep(&tick, &tick) != 0 && errno == EINTR)
            ;
    }
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
