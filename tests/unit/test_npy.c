/* test_npy.c -- the .npy reader: versions 1-3, both byte orders, C and
 * Fortran order, 1-D to 4-D, real numpy output, and strict refusal of every
 * header numpy would not write or pwccad cannot compare. */
#include <string.h>

#include "pw_checkpoint.h"
#include "pw_npy.h"
#include "pw_testfile.h"

/* Element bytes of tf_ramp over shape, in C or Fortran memory order. */
static tf_buf ramp_elems(int isz, int be, int fortran, int ndim, const uint64_t *shape)
{
    uint64_t numel = 1;
    for (int i = 0; i < ndim; i++)
        numel *= shape[i];
    tf_buf b = {0};
    for (uint64_t pos = 0; pos < numel; pos++) {
        /* memory position -> logical index -> C-order index k */
        uint64_t idx[8], rem = pos, k = 0;
        if (fortran)
            for (int i = 0; i < ndim; i++) {
                idx[i] = rem % shape[i];
                rem /= shape[i];
            }
        else
            for (int i = ndim - 1; i >= 0; i--) {
                idx[i] = rem % shape[i];
                rem /= shape[i];
            }
        for (int i = 0; i < ndim; i++)
            k = k * shape[i] + idx[i];
        double v = tf_ramp(k);
        unsigned char x[8];
        if (isz == 2) {
            uint16_t h = tf_half(v);
            memcpy(x, &h, 2);
        } else if (isz == 4) {
            float f = (float)v;
            memcpy(x, &f, 4);
        } else {
            memcpy(x, &v, 8);
        }
        if (be)
            for (int i = 0; i < isz / 2; i++) {
                unsigned char t = x[i];
                x[i] = x[isz - 1 - i];
                x[isz - 1 - i] = t;
            }
        tf_put(&b, x, (size_t)isz);
    }
    return b;
}

/* The tensor holds tf_ramp in C order, read through the shape convention. */
static void assert_ramp(const pw_tensor *t)
{
    double out[256];
    pw_err e;
    ck_assert_uint_le(t->rows * t->cols, 256);
    PW_ASSERT_OK(pw_tensor_read_rows(t, 0, (size_t)t->rows, out, &e), &e);
    for (uint64_t r = 0; r < t->rows; r++)
        for (uint64_t c = 0; c < t->cols; c++) {
            uint64_t k;
            if (t->ndim == 4 && !t->nhwc) { /* row = (n, h, w), column = channel */
                uint64_t C = t->shape[1], H = t->shape[2], W = t->shape[3];
                uint64_t n = r / (H * W), h = r / W % H, w = r % W;
                k = ((n * C + c) * H + h) * W + w;
            } else {
                k = r * t->cols + c;
            }
            ck_assert_msg(out[r * t->cols + c] == tf_ramp(k), "%s [%llu,%llu] = %g, expected %g",
                          t->name, (unsigned long long)r, (unsigned long long)c,
                          out[r * t->cols + c], tf_ramp(k));
        }
}

START_TEST(crafted_versions_orders_and_byte_orders)
{
    static const char *descr[] = {"<f2", "<f4", "<f8", ">f2", ">f4", ">f8"};
    static const int isz[] = {2, 4, 8, 2, 4, 8};
    static const struct {
        int ndim;          /* axes */
        uint64_t shape[4]; /* extents */
        const char *text;  /* as numpy writes it */
    } shapes[] = {{1, {5}, "(5,)"},
                  {2, {3, 4}, "(3, 4)"},
                  {3, {2, 3, 2}, "(2, 3, 2)"},
                  {4, {2, 3, 2, 2}, "(2, 3, 2, 2)"}};
    for (int v = 1; v <= 3; v++)
        for (int d = 0; d < 6; d++)
            for (int f = 0; f <= 1; f++)
                for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
                    tf_buf el =
                        ramp_elems(isz[d], descr[d][0] == '>', f, shapes[s].ndim, shapes[s].shape);
                    char dict[128];
                    snprintf(dict, sizeof dict,
                             "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }", descr[d],
                             f ? "True" : "False", shapes[s].text);
                    tf_buf b = tf_npy(v, dict, el.p, el.n);
                    pw_tensor t;
                    pw_err e;
                    PW_ASSERT_OK(pw_npy_parse(b.p, b.n, "x", 0, &t, &e), &e);
                    ck_assert_int_eq(t.ndim, shapes[s].ndim);
                    ck_assert_int_eq(t.big_endian, descr[d][0] == '>');
                    ck_assert_int_eq(t.fortran_order, f);
                    ck_assert_ptr_eq(t.data, b.p + b.n - el.n); /* zero-copy */
                    assert_ramp(&t);
                    tf_free(&el);
                    tf_free(&b);
                }
}
END_TEST

START_TEST(real_numpy_files_read_exactly)
{
    static const struct {
        const char *file; /* in tests/data */
        int ndim;         /* expected axes */
        int be, fortran;  /* expected layout */
    } files[] = {
        {TF_DATA("f4_2d.npy"), 2, 0, 0},    {TF_DATA("f8_fortran.npy"), 2, 0, 1},
        {TF_DATA("f2_be_3d.npy"), 3, 1, 0}, {TF_DATA("f4_4d.npy"), 4, 0, 0},
        {TF_DATA("f8_1d.npy"), 1, 0, 0},    {TF_DATA("f4_v2.npy"), 2, 0, 0},
        {TF_DATA("f4_v3.npy"), 2, 0, 0},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        size_t n;
        unsigned char *buf = tf_read(files[i].file, &n);
        pw_tensor t;
        pw_err e;
        PW_ASSERT_OK(pw_npy_parse(buf, n, "real", 0, &t, &e), &e);
        ck_assert_int_eq(t.ndim, files[i].ndim);
        ck_assert_int_eq(t.big_endian, files[i].be);
        ck_assert_int_eq(t.fortran_order, files[i].fortran);
        assert_ramp(&t);
        free(buf);
    }
    /* the versioned fixtures really are versions 2 and 3 */
    size_t n;
    unsigned char *v = tf_read(TF_DATA("f4_v2.npy"), &n);
    ck_assert_int_eq(v[6], 2);
    free(v);
    v = tf_read(TF_DATA("f4_v3.npy"), &n);
    ck_assert_int_eq(v[6], 3);
    free(v);
}
END_TEST

/* Parse an .npy made of dict and data; return the result. */
static int npy_try(int major, const char *dict, const void *data, size_t n, pw_err *e)
{
    tf_buf b = tf_npy(major, dict, data, n);
    pw_tensor t;
    pw_err_clear(e);
    int rc = pw_npy_parse(b.p, b.n, "x", 0, &t, e);
    tf_free(&b);
    return rc;
}

#define NPY_FAILS(major, dict, n, needle)                                                          \
    do {                                                                                           \
        pw_err e_;                                                                                 \
        unsigned char z_[64] = {0};                                                                \
        PW_ASSERT_FAILS_WITH(npy_try((major), (dict), z_, (n), &e_), &e_, (needle));               \
    } while (0)

START_TEST(non_float_dtypes_are_refused_clearly)
{
    NPY_FAILS(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", 8, "integer dtype");
    NPY_FAILS(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }", 2, "integer dtype");
    NPY_FAILS(1, "{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }", 2, "boolean dtype");
    NPY_FAILS(1, "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", 16,
              "object arrays need pickle, refused");
    NPY_FAILS(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", 8,
              "structured");
    NPY_FAILS(1, "{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", 16, "complex dtype");
    NPY_FAILS(1, "{'descr': '|f4', 'fortran_order': False, 'shape': (2,), }", 8,
              "unsupported dtype '|f4'");
    NPY_FAILS(1, "{'descr': '<f16', 'fortran_order': False, 'shape': (2,), }", 32,
              "unsupported dtype '<f16'");
    NPY_FAILS(1, "{'descr': '<V2', 'fortran_order': False, 'shape': (2,), }", 4,
              "unsupported dtype '<V2'");
    NPY_FAILS(1, "{'descr': '<U3', 'fortran_order': False, 'shape': (2,), }", 24, "string dtype");

    /* real numpy output */
    pw_ckpt *c;
    pw_err e;
    PW_ASSERT_FAILS_WITH(pw_ckpt_open(&c, TF_DATA("i4_refused.npy"), NULL, &e), &e,
                         "tests/data/i4_refused.npy: unsupported dtype '<i4': integer dtype");
    PW_ASSERT_FAILS_WITH(pw_ckpt_open(&c, TF_DATA("object_refused.npy"), NULL, &e), &e,
                         "object arrays need pickle, refused");
}
END_TEST

START_TEST(malformed_headers_are_refused)
{
    NPY_FAILS(1, "{'descr': '<f4', 'shape': (2,), }", 8, "lacks 'fortran_order'");
    NPY_FAILS(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", 8,
              "unexpected key 'x'");
    NPY_FAILS(1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", 8,
              "key repeated");
    NPY_FAILS(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2)}", 8, "not a tuple");
    NPY_FAILS(1, "{'descr': '<f4', 'fortran_order': False, 'shape': [2]}", 8, "'(' starting");
    NPY_FAILS(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}", 8,
              "negative dimension");
    NPY_FAILS(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (02,)}", 8, "leading zero");
    NPY_FAILS(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", 8,
              "overflows 64 bits");
    NPY_FAILS(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296,)}", 8,
              "more than 2^64 bytes");
    NPY_FAILS(1, "{'descr': '<f4', 'fortran_order': 0, 'shape': (2,)}", 8, "True or False");
    NPY_FAILS(1, "{'descr': '<f4', 'fortran_order': Falsey, 'shape': (2,)}", 8, "True or False");
    NPY_FAILS(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} x", 8,
              "unexpected text after");
    NPY_FAILS(1, "{'descr' '<f4', 'fortran_order': False, 'shape': (2,)}", 8,
              "header byte 19: expected ':' after a key");
    NPY_FAILS(1, "{'descr': '<f4}", 8, "newline or NUL inside a string");
    NPY_FAILS(1, "{'descr': '<f\\x34', 'fortran_order': False, 'shape': (2,)}", 8, "escape");
    NPY_FAILS(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,2)}", 8,
              "more than 8 axes");
    NPY_FAILS(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,2)}", 8, "5-D tensor");
    NPY_FAILS(1, "{'descr': '<f4', 'fortran_order': False, 'shape': ()}", 4, "0 axes");
    NPY_FAILS(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 7, "(truncated)");
    NPY_FAILS(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 9,
              "(trailing bytes)");
    NPY_FAILS(3, "{'descr': '<f4', 'fortran_order': False, 'shape': (2L,), }", 8,
              "expected ',' or ')'");
    /* Python 2 longs, as numpy still accepts in version 1 and 2 files */
    pw_err e;
    unsigned char z[8] = {0};
    PW_ASSERT_OK(npy_try(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2L,), }", z, 8, &e),
                 &e);
    /* double quotes and odd spacing are still a Python dict literal */
    PW_ASSERT_OK(
        npy_try(2, "{ \"shape\":(1 ,2 ),\"descr\" :\"<f4\",'fortran_order':True}", z, 8, &e), &e);
}
END_TEST

START_TEST(bad_preambles_are_refused)
{
    tf_buf b =
        tf_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", "12345678", 8);
    pw_tensor t;
    pw_err e;
    b.p[6] = 4;
    PW_ASSERT_FAILS_WITH(pw_npy_parse(b.p, b.n, "x", 0, &t, &e), &e, "version 4.0");
    b.p[6] = 1, b.p[7] = 1;
    PW_ASSERT_FAILS_WITH(pw_npy_parse(b.p, b.n, "x", 0, &t, &e), &e, "version 1.1");
    b.p[7] = 0, b.p[1] = 'n';
    PW_ASSERT_FAILS_WITH(pw_npy_parse(b.p, b.n, "x", 0, &t, &e), &e, "magic");
    b.p[1] = 'N';
    b.p[8] = 0xff, b.p[9] = 0xff; /* header runs past the end */
    PW_ASSERT_FAILS_WITH(pw_npy_parse(b.p, b.n, "x", 0, &t, &e), &e, "truncated");
    tf_free(&b);
    /* version 2 header length above PW_NPY_MAX_HEADER */
    b = tf_npy(2, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", "12345678", 8);
    b.p[8] = 0, b.p[9] = 0, b.p[10] = 0x20, b.p[11] = 0; /* 2 MiB */
    PW_ASSERT_FAILS_WITH(pw_npy_parse(b.p, b.n, "x", 0, &t, &e), &e, "exceeds the limit");
    b.p[11] = 0xff;
    PW_ASSERT_FAILS_WITH(pw_npy_parse(b.p, b.n, "x", 0, &t, &e), &e, "exceeds the limit");
    tf_free(&b);
}
END_TEST

START_TEST(every_truncation_fails_cleanly)
{
    size_t n;
    unsigned char *buf = tf_read(TF_DATA("f4_2d.npy"), &n);
    const char *path = tf_path("trunc.npy");
    for (size_t len = 0; len < n; len++) {
        pw_tensor t;
        pw_err e;
        pw_err_clear(&e);
        ck_assert_int_ne(pw_npy_parse(buf, len, "x", 0, &t, &e), 0);
        ck_assert_msg(e.msg[0] != '\0', "no message at length %zu", len);
        tf_write(path, buf, len);
        pw_ckpt *c;
        ck_assert_int_ne(pw_ckpt_open(&c, path, NULL, &e), 0);
        ck_assert_msg(strncmp(e.msg, path, strlen(path)) == 0, "'%s' lacks the path", e.msg);
        ck_assert_msg(pw_ckpt_is_complete(path, &e) == 0, "length %zu called complete", len);
        ck_assert_msg(strncmp(e.msg, path, strlen(path)) == 0, "'%s' lacks the path", e.msg);
    }
    tf_write(path, buf, n);
    pw_err e;
    ck_assert_int_eq(pw_ckpt_is_complete(path, &e), 1);
    free(buf);
}
END_TEST

Suite *npy_suite(void)
{
    Suite *s = suite_create("npy");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, crafted_versions_orders_and_byte_orders);
    tcase_add_test(tc, real_numpy_files_read_exactly);
    tcase_add_test(tc, non_float_dtypes_are_refused_clearly);
    tcase_add_test(tc, malformed_headers_are_refused);
    tcase_add_test(tc, bad_preambles_are_refused);
    tcase_add_test(tc, every_truncation_fails_cleanly);
    suite_add_tcase(s, tc);
    return s;
}
