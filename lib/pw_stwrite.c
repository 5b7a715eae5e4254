/* pw_stwrite.c -- safetensors writer with rename-into-place (see pw_stwrite.h).
 *
 * The header is built with jansson so names are escaped correctly; jansson
 * keeps insertion order, which is the order the caller gave.  Element data
 * goes straight from the caller's buffers to the file, byte-swapped through a
 * small buffer only on big-endian hosts. */
#include "pw_stwrite.h"

#include "pw_afile.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bytes of element data of one tensor, overflow-checked. */
static int tensor_nbytes(const pw_stwrite_tensor *t, uint64_t *out, pw_err *err)
{
    *out = 0;
    uint64_t n = pw_dtype_size(t->dtype);
    for (int i = 0; i < t->ndim; i++) {
        if (t->shape[i] != 0 && n > UINT64_MAX / t->shape[i])
            return pw_err_set(err, "tensor '%s': shape overflows 64 bits at axis %d", t->name, i);
        n *= t->shape[i];
    }
    *out = n;
    return 0;
}

static int check_tensors(const pw_stwrite_tensor *t, size_t nt, pw_err *err)
{
    if (nt == 0)
        return pw_err_set(err, "no tensors to write");
    if (nt > PW_MAX_LAYERS)
        return pw_err_set(err, "%zu tensors, more than the limit of %d", nt, PW_MAX_LAYERS);
    for (size_t i = 0; i < nt; i++) {
        const char *name = t[i].name;
        if (!name || !*name || strlen(name) >= PW_MAX_NAME)
            return pw_err_set(err, "tensor %zu: name is empty or longer than %d bytes", i,
                              PW_MAX_NAME - 1);
        if (strcmp(name, "__metadata__") == 0)
            return pw_err_set(err, "tensor %zu: '__metadata__' is reserved", i);
        if (t[i].ndim < 1 || t[i].ndim > PW_MAX_NDIM)
            return pw_err_set(err, "tensor '%s': %d axes, expected 1 to %d", name, t[i].ndim,
                              PW_MAX_NDIM);
        if ((unsigned)t[i].dtype > (unsigned)PW_DT_F64)
            return pw_err_set(err, "tensor '%s': unknown dtype %d", name, (int)t[i].dtype);
        for (int d = 0; d < t[i].ndim; d++)
            if (t[i].shape[d] > (uint64_t)INT64_MAX)
                return pw_err_set(err, "tensor '%s': axis %d extent does not fit a JSON integer",
                                  name, d);
        for (size_t j = 0; j < i; j++)
            if (strcmp(t[j].name, name) == 0)
                return pw_err_set(err, "tensor name '%s' appears twice", name);
    }
    return 0;
}

int pw_stwrite_header(const pw_stwrite_tensor *t, size_t nt, const pw_stwrite_meta *meta,
                      size_t nmeta, char **out, size_t *len, pw_err *err)
{
    *out = NULL;
    *len = 0;
    if (check_tensors(t, nt, err) < 0)
        return -1;
    json_t *root = json_object();
    if (!root)
        return pw_err_set(err, "out of memory building the safetensors header");
    int rc = -1;
    if (nmeta > 0) {
        json_t *m = json_object();
        if (!m || json_object_set_new(root, "__metadata__", m) < 0)
            goto oom;
        for (size_t i = 0; i < nmeta; i++)
            if (json_object_set_new(m, meta[i].key, json_string(meta[i].value)) < 0) {
                pw_err_set(err, "metadata key '%s': not valid UTF-8 or out of memory", meta[i].key);
                goto done;
            }
    }
    uint64_t off = 0;
    for (size_t i = 0; i < nt; i++) {
        uint64_t nb = 0;
        if (tensor_nbytes(&t[i], &nb, err) < 0)
            goto done;
        if (off > (uint64_t)INT64_MAX - nb) {
            pw_err_set(err, "tensor '%s': total data size overflows", t[i].name);
            goto done;
        }
        json_t *shape = json_array(), *offs = json_array(), *obj = json_object();
        if (!shape || !offs || !obj) {
            json_decref(shape);
            json_decref(offs);
            json_decref(obj);
            goto oom;
        }
        for (int d = 0; d < t[i].ndim; d++) {
            uint64_t extent = t[i].shape[d];
            json_array_append_new(shape, json_integer((json_int_t)extent));
        }
        json_array_append_new(offs, json_integer((json_int_t)off));
        uint64_t end = off + nb;
        json_array_append_new(offs, json_integer((json_int_t)end));
        json_object_set_new(obj, "dtype", json_string(pw_dtype_name(t[i].dtype)));
        json_object_set_new(obj, "shape", shape);
        json_object_set_new(obj, "data_offsets", offs);
        if (json_object_set_new(root, t[i].name, obj) < 0) {
            pw_err_set(err, "tensor '%s': name is not valid UTF-8", t[i].name);
            goto done;
        }
        off += nb;
    }
    /* json_dumpb writes no terminating NUL: the header is bytes, not a C string. */
    size_t jl = json_dumpb(root, NULL, 0, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (jl == 0)
        goto oom;
    size_t padded = (jl + 7) & ~(size_t)7;
    char *buf = malloc(8 + padded);
    if (!buf)
        goto oom;
    if (json_dumpb(root, buf + 8, jl, JSON_COMPACT | JSON_ENSURE_ASCII) != jl) {
        free(buf);
        goto oom;
    }
    /* The length prefix is little-endian whatever the host. */
    for (int b = 0; b < 8; b++)
        buf[b] = (char)(((uint64_t)padded >> (8 * b)) & 0xff);
    memset(buf + 8 + jl, ' ', padded - jl);
    *out = buf;
    *len = 8 + padded;
    rc = 0;
    goto done;
oom:
    pw_err_set(err, "out of memory building the safetensors header");
done:
    json_decref(root);
    return rc;
}

/* Element data in little-endian order. */
static int write_data(pw_afile *f, const pw_stwrite_tensor *t, uint64_t nbytes, pw_err *err)
{
#if defined(__BYTE_ORDER__) && defined(__ORDER_BIG_ENDIAN__) &&                                    \
    __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    size_t isz = pw_dtype_size(t->dtype);
    const unsigned char *src = t->data;
    unsigned char buf[1 << 16];
    while (nbytes > 0) {
        size_t chunk = nbytes < sizeof buf ? (size_t)nbytes : sizeof buf;
        for (size_t e = 0; e < chunk; e += isz)
            for (size_t b = 0; b < isz; b++)
                buf[e + b] = src[e + isz - 1 - b];
        if (pw_afile_write(f, buf, chunk, err) < 0)
            return -1;
        src += chunk;
        nbytes -= chunk;
    }
    return 0;
#else
    return pw_afile_write(f, t->data, (size_t)nbytes, err);
#endif
}

int pw_stwrite_file(const char *path, const pw_stwrite_tensor *t, size_t nt,
                    const pw_stwrite_meta *meta, size_t nmeta, pw_err *err)
{
    char *hdr;
    size_t hlen;
    if (pw_stwrite_header(t, nt, meta, nmeta, &hdr, &hlen, err) < 0)
        return pw_err_prefix(err, "%s", path);

    pw_afile f;
    if (pw_afile_open(&f, path, err) < 0) {
        free(hdr);
        return -1;
    }
    int rc = pw_afile_write(&f, hdr, hlen, err);
    free(hdr);
    for (size_t i = 0; rc == 0 && i < nt; i++) {
        uint64_t nb = 0;
        if (tensor_nbytes(&t[i], &nb, err) < 0) {
            pw_err_prefix(err, "%s", path);
            rc = -1;
            break;
        }
        assert(nb == 0 || t[i].data != NULL);
        rc = write_data(&f, &t[i], nb, err);
    }
    if (rc == 0)
        return pw_afile_commit(&f, err);
    pw_afile_abort(&f);
    return -1;
}
