/* pw_tensor.c -- shape conventions and exact conversion of activations to double.
 *
 * Readers hand over a pw_tensor describing bytes they own; this file decides
 * which axes are datapoints and which are neurons, and turns any chunk of rows
 * into row-major doubles.  Every supported dtype converts to double exactly
 * (binary16, bfloat16 and binary32 are subsets of binary64), so the engine
 * sees the very numbers the training script wrote. */
#include "pw_tensor.h"

#include <assert.h>
#include <math.h>
#include <string.h>

size_t pw_dtype_size(pw_dtype dt)
{
    switch (dt) {
    case PW_DT_F16:
    case PW_DT_BF16:
        return 2;
    case PW_DT_F32:
        return 4;
    case PW_DT_F64:
        return 8;
    }
    return 0;
}

const char *pw_dtype_name(pw_dtype dt)
{
    switch (dt) {
    case PW_DT_F16:
        return "F16";
    case PW_DT_BF16:
        return "BF16";
    case PW_DT_F32:
        return "F32";
    case PW_DT_F64:
        return "F64";
    }
    return "?";
}

double pw_f16_to_double(uint16_t h)
{
    int sign = h >> 15, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    double v;
    if (exp == 0)
        v = ldexp((double)mant, -24); /* zero and subnormals */
    else if (exp == 31)
        v = mant ? NAN : INFINITY;
    else
        v = ldexp((double)(mant | 0x400), exp - 25);
    return sign ? -v : v;
}

double pw_bf16_to_double(uint16_t b)
{
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return (double)f;
}

/* Which axes index datapoints (row_axes, slowest first) and which one neurons. */
typedef struct axis_map {
    int nrow_axes;   /* number of datapoint axes */
    int row_axes[3]; /* their indices, slowest varying first */
    int col_axis;    /* the neuron axis, -1 for a 1-D tensor */
} axis_map;

static int map_axes(const pw_tensor *t, axis_map *m, pw_err *err)
{
    switch (t->ndim) {
    case 1:
        *m = (axis_map){1, {0, 0, 0}, -1};
        return 0;
    case 2:
        *m = (axis_map){1, {0, 0, 0}, 1};
        return 0;
    case 3:
        *m = (axis_map){2, {0, 1, 0}, 2};
        return 0;
    case 4:
        if (t->nhwc)
            *m = (axis_map){3, {0, 1, 2}, 3};
        else
            *m = (axis_map){3, {0, 2, 3}, 1};
        return 0;
    default:
        pw_err_set(
            err,
            "layer '%s': %d-D tensor; expected [N,D], [N,T,D] or [N,C,H,W] (see docs/FORMATS.md)",
            t->name, t->ndim);
        return -1;
    }
}

int pw_tensor_finish(pw_tensor *t, pw_err *err)
{
    if (t->ndim < 1 || t->ndim > PW_MAX_NDIM)
        return pw_err_set(err, "layer '%s': %d axes is not supported", t->name, t->ndim);
    axis_map m;
    if (map_axes(t, &m, err) != 0)
        return -1;
    uint64_t numel = 1;
    for (int i = 0; i < t->ndim; i++) {
        if (t->shape[i] != 0 && numel > UINT64_MAX / t->shape[i])
            return pw_err_set(err, "layer '%s': shape overflows 64 bits", t->name);
        numel *= t->shape[i];
    }
    size_t isz = pw_dtype_size(t->dtype);
    if (isz == 0)
        return pw_err_set(err, "layer '%s': unknown dtype", t->name);
    if (numel > UINT64_MAX / isz)
        return pw_err_set(err, "layer '%s': byte size overflows 64 bits", t->name);
    if (numel * isz != t->nbytes)
        return pw_err_set(err, "layer '%s': %llu bytes of data but shape needs %llu", t->name,
                          (unsigned long long)t->nbytes, (unsigned long long)numel * isz);
    uint64_t rows = 1;
    for (int i = 0; i < m.nrow_axes; i++)
        rows *= t->shape[m.row_axes[i]]; /* cannot overflow: divides numel */
    t->rows = rows;
    t->cols = m.col_axis < 0 ? 1 : t->shape[m.col_axis];
    return 0;
}

static double load(const unsigned char *p, pw_dtype dt, int swap)
{
    unsigned char b[8];
    size_t n = pw_dtype_size(dt);
    for (size_t i = 0; i < n; i++)
        b[i] = swap ? p[n - 1 - i] : p[i];
    switch (dt) {
    case PW_DT_F16: {
        uint16_t h;
        memcpy(&h, b, 2);
        return pw_f16_to_double(h);
    }
    case PW_DT_BF16: {
        uint16_t h;
        memcpy(&h, b, 2);
        return pw_bf16_to_double(h);
    }
    case PW_DT_F32: {
        float f;
        memcpy(&f, b, 4);
        return (double)f;
    }
    case PW_DT_F64: {
        double d;
        memcpy(&d, b, 8);
        return d;
    }
    }
    return NAN;
}

/* Contiguous little-endian rows of F32/F64: the common case, no per-element dispatch. */
static void convert_contiguous(const unsigned char *src, pw_dtype dt, size_t count, double *out)
{
    if (dt == PW_DT_F64) {
        memcpy(out, src, count * sizeof(double));
    } else if (dt == PW_DT_F32) {
        for (size_t i = 0; i < count; i++) {
            float f;
            memcpy(&f, src + 4 * i, 4);
            out[i] = (double)f;
        }
    } else {
        for (size_t i = 0; i < count; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            out[i] = dt == PW_DT_F16 ? pw_f16_to_double(h) : pw_bf16_to_double(h);
        }
    }
}

int pw_tensor_read_rows(const pw_tensor *t, uint64_t row0, size_t nrows, double *out, pw_err *err)
{
    if (row0 > t->rows || nrows > t->rows - row0)
        return pw_err_set(err, "layer '%s': rows %llu..%llu out of range (%llu rows)", t->name,
                          (unsigned long long)row0, (unsigned long long)row0 + nrows,
                          (unsigned long long)t->rows);
    axis_map m;
    if (map_axes(t, &m, err) != 0)
        return -1;
    size_t isz = pw_dtype_size(t->dtype);
    int swap = t->big_endian && isz > 1;
    uint64_t cols = t->cols;

    /* Element strides of each axis in memory order. */
    uint64_t stride[PW_MAX_NDIM];
    if (t->fortran_order) {
        uint64_t s = 1;
        for (int i = 0; i < t->ndim; i++) {
            stride[i] = s;
            s *= t->shape[i];
        }
    } else {
        uint64_t s = 1;
        for (int i = t->ndim - 1; i >= 0; i--) {
            stride[i] = s;
            s *= t->shape[i];
        }
    }
    uint64_t col_stride = m.col_axis < 0 ? 1 : stride[m.col_axis];

    /* Rows laid out back to back (neurons innermost, datapoint axes nested in
     * order): one straight conversion. */
    int row_major = !swap && (col_stride == 1 || cols == 1);
    uint64_t expect = cols;
    for (int i = m.nrow_axes - 1; i >= 0 && row_major; i--) {
        uint64_t ext = t->shape[m.row_axes[i]];
        row_major = ext == 1 || stride[m.row_axes[i]] == expect;
        expect *= ext;
    }
    if (row_major) {
        convert_contiguous(t->data + row0 * cols * isz, t->dtype, nrows * cols, out);
        return 0;
    }

    /* General case: decompose each row index over the datapoint axes. */
    for (size_t r = 0; r < nrows; r++) {
        uint64_t rem = row0 + r, off = 0;
        for (int i = m.nrow_axes - 1; i >= 0; i--) {
            uint64_t ext = t->shape[m.row_axes[i]];
            off += (rem % ext) * stride[m.row_axes[i]];
            rem /= ext;
        }
        assert(rem == 0);
        double *dst = out + r * cols;
        for (uint64_t j = 0; j < cols; j++)
            dst[j] = load(t->data + (off + j * col_stride) * isz, t->dtype, swap);
    }
    return 0;
}
