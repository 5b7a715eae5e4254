/* pw_safetensors.c -- safetensors validation and zero-copy tensor views.
 *
 * The header is untrusted JSON of up to PW_ST_MAX_HEADER bytes.  jansson
 * parses it (duplicate keys refused, integers exact to 63 bits); then every
 * entry is checked, the entries are sorted by data offsets, and the offsets
 * must tile the data area exactly: from 0, no holes, no overlaps, each span
 * the size its dtype and shape demand, the last one ending at the end of the
 * file.  Only after all of that do tensor views into the buffer exist. */
#include "pw_safetensors.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pw_limits.h"
#include "pw_name.h"

/* Every dtype the safetensors format knows; only four can be compared, but
 * the others still need their size so the layout of a file can be checked. */
typedef struct st_dtype {
    const char *name; /* as spelled in the header */
    unsigned bits;    /* bits per element */
    int pw;           /* the pw_dtype, or -1 when it cannot be compared */
} st_dtype;

static const st_dtype st_dtypes[] = {
    {"F16", 16, PW_DT_F16}, {"BF16", 16, PW_DT_BF16}, {"F32", 32, PW_DT_F32},
    {"F64", 64, PW_DT_F64}, {"BOOL", 8, -1},          {"U8", 8, -1},
    {"I8", 8, -1},          {"F8_E5M2", 8, -1},       {"F8_E4M3", 8, -1},
    {"F8_E8M0", 8, -1},     {"I16", 16, -1},          {"U16", 16, -1},
    {"I32", 32, -1},        {"U32", 32, -1},          {"I64", 64, -1},
    {"U64", 64, -1},        {"C64", 64, -1},          {"F4", 4, -1},
    {"F6_E2M3", 6, -1},     {"F6_E3M2", 6, -1},
};

/* One tensor entry of the header, checked but not yet trusted as a view. */
typedef struct st_entry {
    const char *name;            /* JSON key; owned by the parsed tree */
    const st_dtype *dt;          /* its dtype */
    int ndim;                    /* number of axes */
    uint64_t shape[PW_MAX_NDIM]; /* extents */
    uint64_t begin, end;         /* data_offsets, relative to the data area */
} st_entry;

/* A parsed and validated header. */
typedef struct st_header {
    json_t *root; /* the whole JSON object */
    json_t *meta; /* __metadata__ object or NULL; borrowed from root */
    size_t n;     /* number of tensor entries */
    st_entry *e;  /* entries sorted by (begin, end, name) */
} st_header;

static void header_free(st_header *h)
{
    json_decref(h->root);
    free(h->e);
    memset(h, 0, sizeof *h);
}

/* A shown-safe copy of a name for messages. */
#define SHOW(buf, s) pw_name_printable((buf), sizeof(buf), (s), strlen(s))

static int get_u64(const json_t *v, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static void format_shape(char *buf, size_t cap, const uint64_t *shape, int ndim)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < ndim && used < cap; i++) {
        int w =
            snprintf(buf + used, cap - used, "%s%llu", i ? ", " : "", (unsigned long long)shape[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

static int parse_entry(const char *name, const json_t *v, st_entry *e, pw_err *err)
{
    char shown[80];
    SHOW(shown, name);
    memset(e, 0, sizeof *e);
    e->name = name;
    if (!json_is_object(v))
        return pw_err_set(err, "layer '%s': entry is not a JSON object", shown);

    const json_t *dt = json_object_get(v, "dtype");
    if (!json_is_string(dt))
        return pw_err_set(err, "layer '%s': missing or non-string \"dtype\"", shown);
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
        if (strcmp(json_string_value(dt), st_dtypes[i].name) == 0)
            e->dt = &st_dtypes[i];
    if (!e->dt) {
        char dshown[40];
        SHOW(dshown, json_string_value(dt));
        return pw_err_set(err, "layer '%s': unknown dtype '%s'", shown, dshown);
    }

    const json_t *shape = json_object_get(v, "shape");
    if (!json_is_array(shape))
        return pw_err_set(err, "layer '%s': missing or non-array \"shape\"", shown);
    size_t nd = json_array_size(shape);
    if (nd > PW_MAX_NDIM)
        return pw_err_set(err, "layer '%s': %zu axes, more than the %d supported", shown, nd,
                          PW_MAX_NDIM);
    e->ndim = (int)nd;
    uint64_t numel = 1;
    int overflow = 0;
    for (size_t i = 0; i < nd; i++) {
        if (get_u64(json_array_get(shape, i), &e->shape[i]) != 0)
            return pw_err_set(err, "layer '%s': shape[%zu] is not a non-negative integer", shown,
                              i);
        overflow |= __builtin_mul_overflow(numel, e->shape[i], &numel);
    }

    const json_t *offs = json_object_get(v, "data_offsets");
    if (!json_is_array(offs) || json_array_size(offs) != 2 ||
        get_u64(json_array_get(offs, 0), &e->begin) != 0 ||
        get_u64(json_array_get(offs, 1), &e->end) != 0)
        return pw_err_set(err,
                          "layer '%s': \"data_offsets\" must be [BEGIN, END] of non-negative "
                          "integers",
                          shown);
    if (e->end < e->begin)
        return pw_err_set(err, "layer '%s': data_offsets [%llu, %llu] end before they begin", shown,
                          (unsigned long long)e->begin, (unsigned long long)e->end);

    /* Bytes = ceil-free numel * bits / 8: sub-byte dtypes must fill whole bytes. */
    uint64_t bits;
    char sh[256];
    format_shape(sh, sizeof sh, e->shape, e->ndim);
    if (overflow || __builtin_mul_overflow(numel, (uint64_t)e->dt->bits, &bits))
        return pw_err_set(err, "layer '%s': %s shape [%s] is more than 2^64 bytes", shown,
                          e->dt->name, sh);
    if (bits % 8 != 0)
        return pw_err_set(err, "layer '%s': %s shape [%s] does not fill whole bytes", shown,
                          e->dt->name, sh);
    if (e->end - e->begin != bits / 8)
        return pw_err_set(err,
                          "layer '%s': data_offsets [%llu, %llu] hold %llu bytes but %s shape "
                          "[%s] needs %llu",
                          shown, (unsigned long long)e->begin, (unsigned long long)e->end,
                          (unsigned long long)(e->end - e->begin), e->dt->name, sh,
                          (unsigned long long)(bits / 8));
    return 0;
}

static int check_meta(json_t *meta, pw_err *err)
{
    if (!json_is_object(meta))
        return pw_err_set(err, "\"__metadata__\" is not a JSON object");
    const char *k;
    const json_t *v;
    json_object_foreach(meta, k, v)
    {
        if (!json_is_string(v)) {
            char shown[80];
            SHOW(shown, k);
            return pw_err_set(err, "__metadata__ '%s' is not a string (values must be strings)",
                              shown);
        }
    }
    return 0;
}

static int entry_cmp(const void *a, const void *b)
{
    const st_entry *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Why jansson refused a header, in words of our own: its text quotes the
 * bytes near the error ("invalid token near 'ab'"), and a file that only
 * claims to be safetensors may be anything -- messages never show its bytes. */
static const char *json_why(const json_error_t *je)
{
    switch (json_error_code(je)) {
    case json_error_premature_end_of_input:
        return "it ends early";
    case json_error_end_of_input_expected:
        return "text follows the JSON value";
    case json_error_invalid_utf8:
        return "invalid UTF-8";
    case json_error_null_character:
    case json_error_null_byte_in_key:
        return "a NUL byte";
    case json_error_duplicate_key:
        return "duplicate object key";
    case json_error_numeric_overflow:
        return "a number is out of range";
    case json_error_stack_overflow:
        return "nested too deeply";
    case json_error_out_of_memory:
        return "out of memory";
    case json_error_invalid_syntax:
    default:
        return "invalid syntax";
    }
}

/* Parse and validate n bytes of header for a data area of data_len bytes. */
static int parse_header(st_header *h, const char *json, size_t n, uint64_t data_len, pw_err *err)
{
    memset(h, 0, sizeof *h);
    json_error_t je;
    h->root = json_loadb(json, n, JSON_REJECT_DUPLICATES, &je);
    if (!h->root) {
        uint64_t where = 8 + (uint64_t)(je.position > 0 ? je.position : 0);
        return pw_err_set(err, "header is not valid JSON at file offset %llu: %s",
                          (unsigned long long)where, json_why(&je));
    }
    if (!json_is_object(h->root)) {
        header_free(h);
        return pw_err_set(err, "header is not a JSON object");
    }
    size_t total = json_object_size(h->root);
    if (total > PW_MAX_LAYERS + 1) {
        header_free(h);
        return pw_err_set(err, "header lists %zu entries, more than the %d tensors supported",
                          total, PW_MAX_LAYERS);
    }
    h->e = calloc(total ? total : 1, sizeof *h->e);
    if (!h->e) {
        header_free(h);
        return pw_err_set(err, "out of memory for %zu header entries", total);
    }
    const char *key;
    json_t *val;
    json_object_foreach(h->root, key, val)
    {
        if (strcmp(key, "__metadata__") == 0) {
            if (check_meta(val, err) != 0) {
                header_free(h);
                return -1;
            }
            h->meta = val;
            continue;
        }
        if (parse_entry(key, val, &h->e[h->n], err) != 0) {
            header_free(h);
            return -1;
        }
        h->n++;
    }
    if (h->n > PW_MAX_LAYERS) {
        size_t count = h->n;
        header_free(h);
        return pw_err_set(err, "%zu tensors, more than the %d supported", count, PW_MAX_LAYERS);
    }
    qsort(h->e, h->n, sizeof *h->e, entry_cmp);

    /* The spans must tile [0, data_len) exactly. */
    uint64_t at = 0;
    const char *prev = NULL;
    int rc = 0;
    for (size_t i = 0; i < h->n && rc == 0; i++) {
        const st_entry *e = &h->e[i];
        char shown[80], pshown[80] = "";
        SHOW(shown, e->name);
        if (prev)
            SHOW(pshown, prev);
        if (e->begin < at)
            rc = pw_err_set(err,
                            "layer '%s': data_offsets [%llu, %llu] overlap the previous tensor "
                            "'%s' (ends at %llu)",
                            shown, (unsigned long long)e->begin, (unsigned long long)e->end, pshown,
                            (unsigned long long)at);
        else if (e->begin > at && !prev)
            rc = pw_err_set(err,
                            "layer '%s': data_offsets [%llu, %llu] leave a hole: the first "
                            "tensor must start at 0",
                            shown, (unsigned long long)e->begin, (unsigned long long)e->end);
        else if (e->begin > at)
            rc = pw_err_set(err,
                            "layer '%s': data_offsets [%llu, %llu] leave a hole of %llu bytes "
                            "after the previous tensor '%s' (ends at %llu)",
                            shown, (unsigned long long)e->begin, (unsigned long long)e->end,
                            (unsigned long long)(e->begin - at), pshown, (unsigned long long)at);
        at = e->end;
        prev = e->name;
    }
    if (rc == 0 && at != data_len) {
        uint64_t want = 8 + (uint64_t)n + at; /* at <= INT64_MAX, n < 2^27: no overflow */
        uint64_t have = 8 + (uint64_t)n + data_len;
        rc = pw_err_set(err,
                        "tensor data should end at byte %llu (8 + header %zu + %llu) but the "
                        "file has %llu bytes (%s)",
                        (unsigned long long)want, n, (unsigned long long)at,
                        (unsigned long long)have, want > have ? "truncated" : "trailing bytes");
    }
    if (rc != 0)
        header_free(h);
    return rc;
}

int pw_st_header_len(const unsigned char first8[8], uint64_t file_size, uint64_t *n, pw_err *err)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | first8[i];
    /* v is the file's first 8 bytes: shown only once it is plausible (a file
     * that is not safetensors must not have its bytes quoted). */
    if (v > PW_ST_MAX_HEADER)
        return pw_err_set(err,
                          "the 8-byte header length exceeds the limit of %u bytes (not a "
                          "safetensors file?)",
                          PW_ST_MAX_HEADER);
    if (file_size < 8 || v > file_size - 8)
        return pw_err_set(err,
                          "the 8-byte header length runs past the end of the file (%llu bytes; "
                          "truncated, or not a safetensors file)",
                          (unsigned long long)file_size);
    *n = v;
    return 0;
}

int pw_st_check_header(const char *json, size_t n, uint64_t data_len, pw_err *err)
{
    st_header h;
    if (parse_header(&h, json, n, data_len, err) != 0)
        return -1;
    header_free(&h);
    return 0;
}

/* Name lookup for the "layers" override: entries sorted by name. */
typedef struct name_idx {
    const char *name; /* tensor name */
    size_t idx;       /* its index in the header's entries */
} name_idx;

/* A name from the "layers" list: not NUL-terminated. */
typedef struct name_key {
    const char *s; /* first byte */
    size_t len;    /* length */
} name_key;

static int name_idx_cmp(const void *a, const void *b)
{
    return strcmp(((const name_idx *)a)->name, ((const name_idx *)b)->name);
}

static int key_cmp(const void *k, const void *b)
{
    const name_key *key = k;
    const char *name = ((const name_idx *)b)->name;
    int c = strncmp(key->s, name, key->len);
    if (c != 0)
        return c;
    return name[key->len] == '\0' ? 0 : -1;
}

/* Fill order[0..h->n) with entry indices in layer order. */
static int layer_order(const st_header *h, size_t *order, pw_err *err)
{
    const json_t *spec = h->meta ? json_object_get(h->meta, "layers") : NULL;
    if (!spec) {
        for (size_t i = 0; i < h->n; i++)
            order[i] = i;
        return 0;
    }
    name_idx *by_name = malloc((h->n ? h->n : 1) * sizeof *by_name);
    unsigned char *used = calloc(h->n ? h->n : 1, 1);
    if (!by_name || !used) {
        free(by_name);
        free(used);
        return pw_err_set(err, "out of memory ordering %zu layers", h->n);
    }
    for (size_t i = 0; i < h->n; i++)
        by_name[i] = (name_idx){h->e[i].name, i};
    qsort(by_name, h->n, sizeof *by_name, name_idx_cmp);

    const char *p = json_string_value(spec);
    size_t k = 0, item = 0;
    int rc = 0;
    for (;;) {
        const char *end = strchr(p, ',');
        const char *stop = end ? end : p + strlen(p);
        const char *a = p, *b = stop;
        while (a < b && *a == ' ')
            a++;
        while (b > a && b[-1] == ' ')
            b--;
        name_key key = {a, (size_t)(b - a)};
        char shown[80];
        pw_name_printable(shown, sizeof shown, a, (size_t)(b - a));
        if (key.len == 0) {
            rc = pw_err_set(err, "__metadata__ \"layers\": item %zu is empty", item + 1);
            break;
        }
        const name_idx *hit = bsearch(&key, by_name, h->n, sizeof *by_name, key_cmp);
        if (!hit) {
            rc = pw_err_set(err, "__metadata__ \"layers\" names '%s', which is not a tensor here",
                            shown);
            break;
        }
        if (used[hit->idx]) {
            rc = pw_err_set(err, "__metadata__ \"layers\" names '%s' twice", shown);
            break;
        }
        used[hit->idx] = 1;
        order[k++] = hit->idx;
        item++;
        if (!end)
            break;
        p = end + 1;
    }
    if (rc == 0) /* layers not named follow in data-offset order */
        for (size_t i = 0; i < h->n; i++)
            if (!used[i])
                order[k++] = i;
    free(by_name);
    free(used);
    return rc;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static int copy_meta(pw_st *st, json_t *meta, pw_err *err)
{
    if (!meta)
        return 0;
    size_t n = json_object_size(meta);
    st->meta = calloc(n ? n : 1, sizeof *st->meta);
    if (!st->meta)
        return pw_err_set(err, "out of memory for %zu metadata entries", n);
    const char *k;
    const json_t *v;
    json_object_foreach(meta, k, v)
    {
        pw_st_kv *kv = &st->meta[st->nmeta];
        kv->key = dup_str(k);
        kv->value = dup_str(json_string_value(v));
        st->nmeta++;
        if (!kv->key || !kv->value)
            return pw_err_set(err, "out of memory for metadata");
    }
    return 0;
}

int pw_st_parse(pw_st *st, const unsigned char *buf, uint64_t len, int nhwc, pw_err *err)
{
    memset(st, 0, sizeof *st);
    if (len < 8)
        return pw_err_set(err,
                          "file is %llu bytes, too short for the 8-byte header length "
                          "(truncated?)",
                          (unsigned long long)len);
    uint64_t n;
    if (pw_st_header_len(buf, len, &n, err) != 0)
        return -1;
    st_header h;
    if (parse_header(&h, (const char *)buf + 8, (size_t)n, len - 8 - n, err) != 0)
        return -1;
    if (h.n == 0) {
        header_free(&h);
        return pw_err_set(err, "the file holds no tensors");
    }
    int bad = 0;
    for (size_t i = 0; i < h.n && !bad; i++) {
        char shown[80];
        SHOW(shown, h.e[i].name);
        if (h.e[i].dt->pw < 0)
            bad = pw_err_set(err,
                             "layer '%s': unsupported dtype %s: only float layers (F16, BF16, "
                             "F32, F64) can be compared",
                             shown, h.e[i].dt->name);
        else
            bad = pw_name_check(h.e[i].name, strlen(h.e[i].name), err);
    }
    if (bad) {
        header_free(&h);
        return -1;
    }
    size_t *order = calloc(h.n, sizeof *order);
    st->tensors = calloc(h.n, sizeof *st->tensors);
    if (!order || !st->tensors) {
        size_t count = h.n;
        free(order);
        header_free(&h);
        pw_st_free(st);
        return pw_err_set(err, "out of memory for %zu tensors", count);
    }
    int rc = layer_order(&h, order, err);
    const unsigned char *data = buf + 8 + n;
    for (size_t i = 0; rc == 0 && i < h.n; i++) {
        const st_entry *e = &h.e[order[i]];
        pw_tensor *t = &st->tensors[i];
        memcpy(t->name, e->name, strlen(e->name) + 1); /* length checked by pw_name_check */
        t->dtype = (pw_dtype)e->dt->pw;
        t->nhwc = nhwc && e->ndim == 4;
        t->ndim = e->ndim;
        memcpy(t->shape, e->shape, sizeof t->shape);
        t->data = data + e->begin;
        t->nbytes = e->end - e->begin;
        st->ntensors = i + 1;
        rc = pw_tensor_finish(t, err);
    }
    if (rc == 0)
        rc = copy_meta(st, h.meta, err);
    free(order);
    header_free(&h);
    if (rc != 0)
        pw_st_free(st);
    return rc;
}

const char *pw_st_meta(const pw_st *st, const char *key)
{
    for (size_t i = 0; i < st->nmeta; i++)
        if (strcmp(st->meta[i].key, key) == 0)
            return st->meta[i].value;
    return NULL;
}

void pw_st_free(pw_st *st)
{
    for (size_t i = 0; i < st->nmeta; i++) {
        free(st->meta[i].key);
        free(st->meta[i].value);
    }
    free(st->meta);
    free(st->tensors);
    memset(st, 0, sizeof *st);
}
