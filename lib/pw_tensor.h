/* pw_tensor.h -- a borrowed view of one layer's activations, as a matrix.
 *
 * The readers (safetensors, npy, npz) produce pw_tensor views into memory
 * they own (usually a read-only mmap); the engine consumes them as an
 * rows × cols matrix of doubles, a chunk of rows at a time, so nothing the
 * size of the layer is ever copied.
 *
 * Shape conventions (documented in docs/FORMATS.md):
 *   [N, D]        rows = N,       cols = D
 *   [N, T, D]     rows = N*T,     cols = D      (each token a datapoint)
 *   [N, C, H, W]  rows = N*H*W,   cols = C      (PyTorch NCHW; each position a datapoint)
 *   [N, H, W, C]  rows = N*H*W,   cols = C      (only with the NHWC option)
 *   [N]           rows = N,       cols = 1
 * Other ranks are refused.  Conversion to double is exact for every dtype. */
#ifndef PW_TENSOR_H
#define PW_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "pw_error.h"
#include "pw_limits.h"

typedef enum pw_dtype {
    PW_DT_F16,  /* IEEE binary16 */
    PW_DT_BF16, /* bfloat16 (upper half of a binary32) */
    PW_DT_F32,  /* IEEE binary32 */
    PW_DT_F64   /* IEEE binary64 */
} pw_dtype;

typedef struct pw_tensor {
    char name[PW_MAX_NAME];      /* layer name as stored in the file */
    pw_dtype dtype;              /* element type */
    int big_endian;              /* 1 when elements are stored big-endian (npy '>') */
    int fortran_order;           /* 1 when the last axis varies slowest (npy fortran_order) */
    int nhwc;                    /* 1 when a 4-D tensor is [N, H, W, C] */
    int ndim;                    /* number of axes, 1..PW_MAX_NDIM */
    uint64_t shape[PW_MAX_NDIM]; /* extent of each axis, as stored */
    const unsigned char *data;   /* first byte of the elements; owned by the checkpoint */
    uint64_t nbytes;             /* bytes of element data = numel * itemsize */
    uint64_t rows;               /* datapoints under the shape convention */
    uint64_t cols;               /* neurons under the shape convention */
} pw_tensor;

/* Bytes per element of a dtype. */
size_t pw_dtype_size(pw_dtype dt);
/* "F16", "BF16", "F32", "F64". */
const char *pw_dtype_name(pw_dtype dt);

/* Fill rows/cols from ndim/shape/nhwc and check nbytes == numel * itemsize with
 * overflow-checked arithmetic.  Readers call this once per tensor. */
int pw_tensor_finish(pw_tensor *t, pw_err *err);

/* Convert rows [row0, row0+nrows) to doubles, row-major, nrows x cols, into out.
 * Exact for every dtype, whatever the byte order or memory order. */
int pw_tensor_read_rows(const pw_tensor *t, uint64_t row0, size_t nrows, double *out, pw_err *err);

/* Exact scalar conversions (exposed for tests). */
double pw_f16_to_double(uint16_t h);
double pw_bf16_to_double(uint16_t b);

#endif
