/* pw_rows.c -- the two built-in row sources the engine streams from.
 *
 * A tensor view converts a chunk of rows to doubles on demand (the file stays
 * in its mmap, in its own dtype); an in-memory matrix of doubles is handed to
 * the engine in place through pw_rows.mem, so nothing is copied at all.  When
 * a tensor's rows are contiguous F32 or F64 in native byte order, the pass
 * skips the read callback and converts while it centres (pw_rows_direct). */
#include <stdint.h>

#include "pw_engine.h"
#include "pw_gram.h"

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

/* Row-major and back to back under the shape conventions of pw_tensor.h:
 * [N], and C-order [N, D], [N, T, D] and [N, H, W, C]; not NCHW, whose
 * neurons are strided. */
static int tensor_contiguous(const pw_tensor *t)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (t->big_endian || (t->dtype != PW_DT_F32 && t->dtype != PW_DT_F64))
        return 0;
    if (t->ndim == 1)
        return 1;
    return !t->fortran_order && (t->ndim != 4 || t->nhwc);
#else
    (void)t;
    return 0; /* the files are little-endian; let pw_tensor_read_rows swap */
#endif
}

const unsigned char *pw_rows_direct(const pw_rows *r, pw_dtype *dtype)
{
    if (r->mem) {
        *dtype = PW_DT_F64;
        return (const unsigned char *)r->mem;
    }
    /* Only our own tensor reader: a caller that wrapped read (to stop early,
     * count, drop pages) keeps getting its calls. */
    if (r->read != tensor_read)
        return NULL;
    const pw_tensor *t = r->ctx;
    if (!tensor_contiguous(t))
        return NULL;
    *dtype = t->dtype;
    return t->data;
}
