/* pw_npz.c -- .npz archives as layers (see pw_npz.h).
 *
 * pw_zip does the container; this file adds what makes a zip an .npz for
 * pwccad: member names that are plain layer names, and every member a valid
 * float .npy. */
#include "pw_npz.h"

#include <stdlib.h>
#include <string.h>

#include "pw_limits.h"
#include "pw_name.h"
#include "pw_npy.h"

/* The layer name of member m into out (PW_MAX_NAME bytes), or an error. */
static int layer_name(const pw_zip_member *m, char *out, pw_err *err)
{
    char label[160];
    pw_zip_member_label(m, label, sizeof label);
    const char *s = m->name;
    size_t n = m->name_len;
    if (memchr(s, '\0', n) || memchr(s, '/', n) || memchr(s, '\\', n) || memmem(s, n, "..", 2))
        return pw_err_set(err,
                          "%s: name contains '/', '\\', '..' or NUL; member names must be plain "
                          "layer names, never paths",
                          label);
    if (n < 4 || memcmp(s + n - 4, ".npy", 4) != 0)
        return pw_err_set(err, "%s: not an .npy member (the name must end in .npy)", label);
    if (pw_name_check(s, n - 4, err) != 0)
        return pw_err_prefix(err, "%s", label);
    memcpy(out, s, n - 4);
    out[n - 4] = '\0';
    return 0;
}

/* A layer name to sort. */
typedef struct name_ref {
    const char *name; /* borrowed from the tensor */
} name_ref;

static int name_ref_cmp(const void *a, const void *b)
{
    return strcmp(((const name_ref *)a)->name, ((const name_ref *)b)->name);
}

static int check_unique(const pw_npz *z, pw_err *err)
{
    if (z->n < 2)
        return 0;
    name_ref *s = malloc(z->n * sizeof *s);
    if (!s)
        return pw_err_set(err, "out of memory for %zu names", z->n);
    for (size_t i = 0; i < z->n; i++)
        s[i].name = z->tensors[i].name;
    qsort(s, z->n, sizeof *s, name_ref_cmp);
    int rc = 0;
    for (size_t i = 0; i + 1 < z->n && rc == 0; i++)
        if (strcmp(s[i].name, s[i + 1].name) == 0) {
            char shown[80];
            pw_name_printable(shown, sizeof shown, s[i].name, strlen(s[i].name));
            rc = pw_err_set(err, "two members are named '%s.npy'", shown);
        }
    free(s);
    return rc;
}

int pw_npz_parse(pw_npz *z, const unsigned char *buf, uint64_t len, int nhwc, uint64_t inflate_cap,
                 pw_err *err)
{
    memset(z, 0, sizeof *z);
    if (inflate_cap == 0)
        inflate_cap = PW_NPZ_DEFAULT_INFLATE_CAP;
    if (pw_zip_open(&z->zip, buf, len, PW_NPZ_MAX_MEMBERS, err) != 0)
        return -1;
    if (z->zip.n == 0) {
        pw_npz_free(z);
        return pw_err_set(err, "the archive holds no arrays");
    }
    z->tensors = calloc(z->zip.n, sizeof *z->tensors);
    z->owned = calloc(z->zip.n, sizeof *z->owned);
    if (!z->tensors || !z->owned) {
        pw_npz_free(z);
        return pw_err_set(err, "out of memory for %zu members", z->zip.n);
    }
    /* Names first: a path-like name is refused before any byte is inflated. */
    for (size_t i = 0; i < z->zip.n; i++) {
        if (layer_name(&z->zip.m[i], z->tensors[i].name, err) != 0) {
            pw_npz_free(z);
            return -1;
        }
        z->n = i + 1;
    }
    if (check_unique(z, err) != 0) {
        pw_npz_free(z);
        return -1;
    }
    for (size_t i = 0; i < z->n; i++) {
        const pw_zip_member *m = &z->zip.m[i];
        const unsigned char *data;
        char name[PW_MAX_NAME];
        memcpy(name, z->tensors[i].name, sizeof name);
        if (pw_zip_extract(&z->zip, i, inflate_cap, &data, &z->owned[i], err) != 0) {
            pw_npz_free(z);
            return -1;
        }
        if (pw_npy_parse(data, m->usize, name, nhwc, &z->tensors[i], err) != 0) {
            char label[160];
            pw_zip_member_label(m, label, sizeof label);
            pw_err_prefix(err, "%s", label);
            pw_npz_free(z);
            return -1;
        }
    }
    return 0;
}

void pw_npz_free(pw_npz *z)
{
    if (z->owned)
        for (size_t i = 0; i < z->zip.n; i++)
            free(z->owned[i]);
    free(z->owned);
    free(z->tensors);
    pw_zip_free(&z->zip);
    memset(z, 0, sizeof *z);
}
