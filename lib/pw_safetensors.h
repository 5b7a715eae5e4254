/* pw_safetensors.h -- the safetensors format: validation and zero-copy views.
 *
 * A safetensors file is an 8-byte little-endian header length N, N bytes of
 * JSON describing every tensor (dtype, shape, data_offsets [BEGIN, END]
 * relative to the data area) plus an optional "__metadata__" object of
 * strings, then the data area.  The header is checked the way the reference
 * implementation checks it (data_offsets contiguous from 0, sizes matching
 * shapes, 8 + N + last END == file size) with overflow-safe arithmetic, and
 * the tensors are handed out as views into the caller's buffer.
 *
 * Messages never carry the file name; pw_checkpoint prefixes it. */
#ifndef PW_SAFETENSORS_H
#define PW_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "pw_error.h"
#include "pw_tensor.h"

typedef struct pw_st_kv {
    char *key;   /* __metadata__ key */
    char *value; /* its string value */
} pw_st_kv;

typedef struct pw_st {
    size_t ntensors;    /* number of tensors */
    pw_tensor *tensors; /* in layer order: data offsets, or __metadata__ "layers" first */
    size_t nmeta;       /* number of __metadata__ entries */
    pw_st_kv *meta;     /* __metadata__ entries in file order */
} pw_st;

/* Decode the 8-byte header length at the start of a file of file_size bytes
 * and check it against PW_ST_MAX_HEADER and the file size. */
int pw_st_header_len(const unsigned char first8[8], uint64_t file_size, uint64_t *n, pw_err *err);

/* Check a header of n bytes for a data area of data_len bytes: JSON syntax,
 * every entry, offsets contiguous and covering the data area exactly.  Reads
 * no tensor data; tensor dtypes outside F16/BF16/F32/F64 are accepted here
 * since they do not make a file incomplete.  Used by pw_ckpt_is_complete. */
int pw_st_check_header(const char *json, size_t n, uint64_t data_len, pw_err *err);

/* Parse a whole safetensors image buf[0..len) into st.  The tensors point
 * into buf, which must outlive st.  nhwc marks 4-D tensors [N, H, W, C]. */
int pw_st_parse(pw_st *st, const unsigned char *buf, uint64_t len, int nhwc, pw_err *err);

/* Value of a __metadata__ key, or NULL. */
const char *pw_st_meta(const pw_st *st, const char *key);

/* Free what pw_st_parse allocated; safe on a zeroed pw_st. */
void pw_st_free(pw_st *st);

#endif
