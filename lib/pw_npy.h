/* pw_npy.h -- the NumPy .npy format: a strict header parser and zero-copy views.
 *
 * An .npy file is the magic "\x93NUMPY", a version (1.0, 2.0 or 3.0), a
 * 2- or 4-byte little-endian header length, a header that is a Python dict
 * literal {'descr': ..., 'fortran_order': ..., 'shape': (...)}, and the raw
 * elements.  The header is parsed here by hand and strictly (numpy would run
 * it through a Python literal evaluator); only float arrays of 2, 4 or 8
 * bytes, either byte order, C or Fortran order, are accepted, and the element
 * bytes must fill the rest of the file exactly.
 *
 * Used for single .npy files, directories of them and npz members; messages
 * never carry the file or member name (the caller prefixes it), and byte
 * offsets are counted from the start of the .npy. */
#ifndef PW_NPY_H
#define PW_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "pw_error.h"
#include "pw_tensor.h"

/* Bytes an .npy needs before its header length is known. */
#define PW_NPY_PREFIX 12

typedef struct pw_npy_info {
    pw_dtype dtype;              /* element type */
    int big_endian;              /* 1 for descr '>f?' */
    int fortran_order;           /* 1 when fortran_order is True */
    int ndim;                    /* number of axes, 0..PW_MAX_NDIM */
    uint64_t shape[PW_MAX_NDIM]; /* extents */
    uint64_t data_offset;        /* bytes of magic, version, length and header */
    uint64_t nbytes;             /* bytes of elements = numel * itemsize */
} pw_npy_info;

/* From the first min(avail, PW_NPY_PREFIX) bytes, the size of the whole
 * preamble (magic through header) into *len.  Checks magic, version and
 * PW_NPY_MAX_HEADER. */
int pw_npy_preamble_len(const unsigned char *buf, size_t avail, uint64_t *len, pw_err *err);

/* Parse the header of an .npy of total bytes whose first avail bytes are in
 * buf (avail must cover the preamble, else a truncation error), and check
 * that the elements fill the remaining total - data_offset bytes exactly. */
int pw_npy_parse_header(const unsigned char *buf, size_t avail, uint64_t total, pw_npy_info *info,
                        pw_err *err);

/* Parse a whole .npy in buf[0..len) into a view named name (checked with
 * pw_name_check), pointing into buf; nhwc marks a 4-D array [N, H, W, C]. */
int pw_npy_parse(const unsigned char *buf, uint64_t len, const char *name, int nhwc, pw_tensor *t,
                 pw_err *err);

#endif
