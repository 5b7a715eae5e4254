/* pw_npy.c -- strict .npy header parsing and zero-copy views (see pw_npy.h).
 *
 * numpy writes the header as repr() of a dict, e.g.
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
 * padded with spaces and a newline.  This is the small subset of Python
 * literal syntax accepted here: a dict of exactly those three keys, quoted
 * keys and descr without escapes, True/False, and a tuple of decimal ints
 * (a trailing 'L' tolerated in version 1 and 2 files, as numpy does for
 * headers written by Python 2).  Anything else is refused with the byte
 * offset where parsing stopped. */
#include "pw_npy.h"

#include <string.h>

#include "pw_limits.h"
#include "pw_name.h"

static const unsigned char npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

int pw_npy_preamble_len(const unsigned char *buf, size_t avail, uint64_t *len, pw_err *err)
{
    if (avail == 0)
        return pw_err_set(err, "empty file (truncated?)");
    size_t m = avail < sizeof npy_magic ? avail : sizeof npy_magic;
    if (memcmp(buf, npy_magic, m) != 0)
        return pw_err_set(err, "not an .npy file: the magic \\x93NUMPY is missing");
    if (avail < 8)
        return pw_err_set(err, "truncated after %zu bytes, inside the magic and version", avail);
    unsigned major = buf[6], minor = buf[7];
    if ((major < 1 || major > 3) || minor != 0)
        return pw_err_set(err, "unsupported .npy version %u.%u (1.0, 2.0 and 3.0 are known)", major,
                          minor);
    size_t lenbytes = major == 1 ? 2 : 4;
    if (avail < 8 + lenbytes)
        return pw_err_set(err, "truncated after %zu bytes, inside the header length", avail);
    uint32_t hlen = buf[8] | (uint32_t)buf[9] << 8;
    if (lenbytes == 4)
        hlen |= (uint32_t)buf[10] << 16 | (uint32_t)buf[11] << 24;
    if (hlen > PW_NPY_MAX_HEADER)
        return pw_err_set(err, "header length %u exceeds the limit of %u bytes", (unsigned)hlen,
                          (unsigned)PW_NPY_MAX_HEADER);
    *len = 8 + lenbytes + hlen;
    return 0;
}

/* Parser state over the header text. */
typedef struct cursor {
    const unsigned char *buf; /* start of the .npy, for offsets in messages */
    const unsigned char *p;   /* next unread byte */
    const unsigned char *end; /* one past the header */
    int allow_long;           /* accept Python 2 'L' after integers */
} cursor;

static unsigned long long at(const cursor *c)
{
    return (unsigned long long)(c->p - c->buf);
}

static void skip_ws(cursor *c)
{
    while (c->p < c->end &&
           (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r' || *c->p == '\f'))
        c->p++;
}

static int expect(cursor *c, char ch, const char *what, pw_err *err)
{
    skip_ws(c);
    if (c->p >= c->end || *c->p != (unsigned char)ch)
        return pw_err_set(err, "header byte %llu: expected %s", at(c), what);
    c->p++;
    return 0;
}

/* A quoted string without escapes; s and n point into the header. */
static int parse_string(cursor *c, const unsigned char **s, size_t *n, pw_err *err)
{
    skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return pw_err_set(err, "header byte %llu: expected a quoted string", at(c));
    unsigned char q = *c->p++;
    const unsigned char *start = c->p;
    while (c->p < c->end && *c->p != q) {
        if (*c->p == '\\' || *c->p == '\n' || *c->p == '\0')
            return pw_err_set(err, "header byte %llu: escape, newline or NUL inside a string",
                              at(c));
        c->p++;
    }
    if (c->p >= c->end)
        return pw_err_set(err, "header byte %llu: unterminated string", at(c));
    *s = start;
    *n = (size_t)(c->p - start);
    c->p++;
    return 0;
}

static int word_is(const unsigned char *s, size_t n, const char *w)
{
    return strlen(w) == n && memcmp(s, w, n) == 0;
}

static int parse_bool(cursor *c, int *out, pw_err *err)
{
    skip_ws(c);
    size_t left = (size_t)(c->end - c->p);
    if (left >= 4 && memcmp(c->p, "True", 4) == 0) {
        *out = 1;
        c->p += 4;
    } else if (left >= 5 && memcmp(c->p, "False", 5) == 0) {
        *out = 0;
        c->p += 5;
    } else {
        return pw_err_set(err, "header byte %llu: fortran_order must be True or False", at(c));
    }
    if (c->p < c->end && (*c->p == '_' || ((*c->p | 0x20) >= 'a' && (*c->p | 0x20) <= 'z')))
        return pw_err_set(err, "header byte %llu: fortran_order must be True or False", at(c));
    return 0;
}

static int is_digit(unsigned char ch)
{
    return ch >= '0' && ch <= '9';
}

static int parse_dim(cursor *c, uint64_t *out, pw_err *err)
{
    skip_ws(c);
    if (c->p < c->end && *c->p == '-')
        return pw_err_set(err, "header byte %llu: negative dimension in shape", at(c));
    if (c->p >= c->end || !is_digit(*c->p))
        return pw_err_set(err, "header byte %llu: expected a dimension (decimal integer)", at(c));
    if (*c->p == '0' && c->p + 1 < c->end && is_digit(c->p[1]))
        return pw_err_set(err, "header byte %llu: dimension with a leading zero", at(c));
    uint64_t v = 0;
    while (c->p < c->end && is_digit(*c->p)) {
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *c->p - '0', &v))
            return pw_err_set(err, "header byte %llu: dimension overflows 64 bits", at(c));
        c->p++;
    }
    if (c->allow_long && c->p < c->end && *c->p == 'L')
        c->p++;
    *out = v;
    return 0;
}

/* A tuple of dims: (), (N,), (N, M), (N, M,) ... */
static int parse_shape(cursor *c, pw_npy_info *info, pw_err *err)
{
    if (expect(c, '(', "'(' starting the shape tuple", err) != 0)
        return -1;
    info->ndim = 0;
    skip_ws(c);
    if (c->p < c->end && *c->p == ')') {
        c->p++;
        return 0;
    }
    for (;;) {
        if (info->ndim == PW_MAX_NDIM)
            return pw_err_set(err, "header byte %llu: shape has more than %d axes", at(c),
                              PW_MAX_NDIM);
        if (parse_dim(c, &info->shape[info->ndim], err) != 0)
            return -1;
        info->ndim++;
        skip_ws(c);
        if (c->p < c->end && *c->p == ')') {
            if (info->ndim == 1)
                return pw_err_set(err,
                                  "header byte %llu: shape (N) is not a tuple; a 1-D shape is "
                                  "written (N,)",
                                  at(c));
            c->p++;
            return 0;
        }
        if (expect(c, ',', "',' or ')' in the shape tuple", err) != 0)
            return -1;
        skip_ws(c);
        if (c->p < c->end && *c->p == ')') {
            c->p++;
            return 0;
        }
    }
}

/* Map a descr string to a dtype, or say clearly why it is refused. */
static int classify_descr(const unsigned char *d, size_t n, pw_npy_info *info, pw_err *err)
{
    static const struct {
        const char *descr; /* as numpy writes it */
        pw_dtype dt;       /* element type */
        int be;            /* big-endian */
    } ok[] = {{"<f2", PW_DT_F16, 0}, {"<f4", PW_DT_F32, 0}, {"<f8", PW_DT_F64, 0},
              {">f2", PW_DT_F16, 1}, {">f4", PW_DT_F32, 1}, {">f8", PW_DT_F64, 1}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (word_is(d, n, ok[i].descr)) {
            info->dtype = ok[i].dt;
            info->big_endian = ok[i].be;
            return 0;
        }
    char shown[40];
    pw_name_printable(shown, sizeof shown, (const char *)d, n);
    size_t k = (n > 0 && strchr("<>|=", d[0])) ? 1 : 0;
    unsigned char kind = k < n ? d[k] : 0;
    const char *why;
    switch (kind) {
    case 'O':
        return pw_err_set(err, "dtype '%s': object arrays need pickle, refused", shown);
    case 'i':
    case 'u':
        why = "integer dtype; only float arrays can be compared";
        break;
    case 'b':
    case '?':
        why = "boolean dtype; only float arrays can be compared";
        break;
    case 'c':
        why = "complex dtype; only real float arrays can be compared";
        break;
    case 'f':
    case 'e':
    case 'd':
        if (k == 1 && d[0] == '|')
            why = "'|' means no byte order, which a multi-byte float needs";
        else if (k == 1 && d[0] == '=')
            why = "'=' (native byte order) does not say which order the file has";
        else
            why = "only 2-, 4- and 8-byte floats ('<f2', '<f4', '<f8' or '>' forms) are "
                  "supported";
        break;
    case 'S':
    case 'U':
    case 'a':
        why = "string dtype; only float arrays can be compared";
        break;
    case 'V':
        why = "raw void dtype (bfloat16 arrays come through safetensors, not .npy)";
        break;
    case 'M':
    case 'm':
        why = "datetime dtype; only float arrays can be compared";
        break;
    default:
        why = "not a dtype this reader knows; only float arrays can be compared";
        break;
    }
    return pw_err_set(err, "unsupported dtype '%s': %s", shown, why);
}

static int parse_descr(cursor *c, pw_npy_info *info, pw_err *err)
{
    skip_ws(c);
    if (c->p < c->end && (*c->p == '[' || *c->p == '('))
        return pw_err_set(err,
                          "header byte %llu: structured or sub-array dtype refused (object "
                          "arrays need pickle, refused; only plain float arrays can be "
                          "compared)",
                          at(c));
    const unsigned char *s = NULL;
    size_t n = 0;
    if (parse_string(c, &s, &n, err) != 0)
        return -1;
    return classify_descr(s, n, info, err);
}

int pw_npy_parse_header(const unsigned char *buf, size_t avail, uint64_t total, pw_npy_info *info,
                        pw_err *err)
{
    memset(info, 0, sizeof *info);
    if (avail > total)
        avail = (size_t)total;
    uint64_t pre = 0;
    if (pw_npy_preamble_len(buf, avail, &pre, err) != 0)
        return -1;
    if (pre > avail)
        return pw_err_set(err,
                          "the header ends at byte %llu but the file has only %zu bytes "
                          "(truncated?)",
                          (unsigned long long)pre, avail);
    cursor c = {buf, buf + (buf[6] == 1 ? 10 : 12), buf + pre, buf[6] <= 2};
    if (expect(&c, '{', "'{' starting the header dict", err) != 0)
        return -1;
    int have_descr = 0, have_fortran = 0, have_shape = 0;
    for (;;) {
        skip_ws(&c);
        if (c.p < c.end && *c.p == '}') {
            c.p++;
            break;
        }
        const unsigned char *key = NULL;
        size_t klen = 0;
        unsigned long long key_at = at(&c);
        if (parse_string(&c, &key, &klen, err) != 0)
            return -1;
        if (expect(&c, ':', "':' after a key", err) != 0)
            return -1;
        int *seen;
        int rc;
        if (word_is(key, klen, "descr")) {
            seen = &have_descr;
            rc = parse_descr(&c, info, err);
        } else if (word_is(key, klen, "fortran_order")) {
            seen = &have_fortran;
            rc = parse_bool(&c, &info->fortran_order, err);
        } else if (word_is(key, klen, "shape")) {
            seen = &have_shape;
            rc = parse_shape(&c, info, err);
        } else {
            char shown[40];
            pw_name_printable(shown, sizeof shown, (const char *)key, klen);
            return pw_err_set(err,
                              "header byte %llu: unexpected key '%s' (only 'descr', "
                              "'fortran_order' and 'shape')",
                              key_at, shown);
        }
        if (rc != 0)
            return -1;
        if (*seen)
            return pw_err_set(err, "header byte %llu: key repeated", key_at);
        *seen = 1;
        skip_ws(&c);
        if (c.p < c.end && *c.p == ',') {
            c.p++;
            continue;
        }
        if (expect(&c, '}', "',' or '}' after a value", err) != 0)
            return -1;
        break;
    }
    skip_ws(&c);
    if (c.p != c.end)
        return pw_err_set(err, "header byte %llu: unexpected text after the header dict", at(&c));
    if (!have_descr || !have_fortran || !have_shape)
        return pw_err_set(err, "header lacks '%s'",
                          !have_descr     ? "descr"
                          : !have_fortran ? "fortran_order"
                                          : "shape");

    uint64_t nbytes = pw_dtype_size(info->dtype);
    for (int i = 0; i < info->ndim; i++)
        if (__builtin_mul_overflow(nbytes, info->shape[i], &nbytes))
            return pw_err_set(err, "shape needs more than 2^64 bytes");
    info->data_offset = pre;
    info->nbytes = nbytes;
    if (total - pre != nbytes)
        return pw_err_set(err, "%llu bytes of data follow the header but the shape needs %llu (%s)",
                          (unsigned long long)(total - pre), (unsigned long long)nbytes,
                          total - pre < nbytes ? "truncated" : "trailing bytes");
    return 0;
}

int pw_npy_parse(const unsigned char *buf, uint64_t len, const char *name, int nhwc, pw_tensor *t,
                 pw_err *err)
{
    memset(t, 0, sizeof *t);
    size_t nlen = strlen(name);
    if (pw_name_check(name, nlen, err) != 0)
        return -1;
    pw_npy_info info;
    if (pw_npy_parse_header(buf, (size_t)len, len, &info, err) != 0)
        return -1;
    memcpy(t->name, name, nlen + 1);
    t->dtype = info.dtype;
    t->big_endian = info.big_endian;
    t->fortran_order = info.fortran_order;
    t->ndim = info.ndim;
    memcpy(t->shape, info.shape, sizeof t->shape);
    t->nhwc = nhwc && info.ndim == 4;
    t->data = buf + info.data_offset;
    t->nbytes = info.nbytes;
    return pw_tensor_finish(t, err);
}
