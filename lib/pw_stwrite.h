/* pw_stwrite.h -- writing safetensors files the way pwccad wants to find them.
 *
 * The daemon accepts a checkpoint only once it is complete, and the simplest
 * writer that never shows it a half-written file writes to a dotfile in the
 * same directory and rename()s it into place.  pw_stwrite_file does exactly
 * that, so the example trainer, the benchmarks and the tests all produce
 * files the way a careful training script would.
 *
 * Layout (docs/FORMATS.md): an 8-byte little-endian header length, a JSON
 * header padded with spaces to a multiple of 8 bytes, then the tensors' data
 * back to back in the order given, little-endian, C order.  The header lists
 * "__metadata__" first (string values only, as the format requires), then the
 * tensors in the order given, so readers that order layers by data offset
 * and readers that honour __metadata__ "layers" agree when the caller also
 * passes "layers". */
#ifndef PW_STWRITE_H
#define PW_STWRITE_H

#include <stddef.h>
#include <stdint.h>

#include "pw_error.h"
#include "pw_tensor.h"

typedef struct pw_stwrite_tensor {
    const char *name;      /* tensor (layer) name, unique in the file, not "__metadata__" */
    pw_dtype dtype;        /* element type of data */
    int ndim;              /* number of axes, 1..PW_MAX_NDIM */
    const uint64_t *shape; /* extent of each axis */
    const void *data;      /* numel elements in host byte order, C order */
} pw_stwrite_tensor;

typedef struct pw_stwrite_meta {
    const char *key;   /* __metadata__ key */
    const char *value; /* its string value */
} pw_stwrite_meta;

/* Build the file's first part: the 8-byte length followed by the padded JSON
 * header.  *out is malloc'ed (free it); *len is its size, a multiple of 8.
 * Useful on its own to tests that write a file slowly or cut it short. */
int pw_stwrite_header(const pw_stwrite_tensor *t, size_t nt, const pw_stwrite_meta *meta,
                      size_t nmeta, char **out, size_t *len, pw_err *err);

/* Write a complete safetensors file at path: to ".BASENAME.tmp.PID" in the
 * same directory, fsync, then rename() over path, so path never names a
 * partial file.  On failure the temporary is removed and err names the path
 * and the reason (e.g. a full disk). */
int pw_stwrite_file(const char *path, const pw_stwrite_tensor *t, size_t nt,
                    const pw_stwrite_meta *meta, size_t nmeta, pw_err *err);

#endif
