/* pw_rows.c -- the two built-in row sources the engine streams from.
 *
 * A tensor view converts a chunk of rows to doubles on demand (the file stays
 * in its mmap, in its own dtype); an in-memory matrix of doubles is handed to
 * the engine in place through pw_rows.mem, so nothing is copied at all. */
#include <stdint.h>

#include "pw_engine.h"

static int tensor_read(void *ctx, uint64_t row0, size_t nrows, double *out, pw_err *err)
{
    return pw_tensor_read_rows(ctx, row0, nrows, out, err);
}

pw_rows pw_rows_from_tensor(const pw_tensor *t)
{
    /* The callback only reads through ctx; the union drops the const that
     * the generic void *ctx cannot carry. */
    union {
        const pw_tensor *c; /* as given */
        void *v;            /* as stored in ctx */
    } u = {.c = t};
    pw_rows r = {.nrows = t->rows, .ncols = t->cols, .read = tensor_read, .ctx = u.v};
    return r;
}

pw_rows pw_rows_from_matrix(const double *a, uint64_t n, uint64_t p)
{
    pw_rows r = {.nrows = n, .ncols = p, .mem = a};
    return r;
}
