/* test_refcase.c -- the test-only .npy loader (refcase.h) and its checks.
 *
 * The loader lives here, in a test_ file, because the unit runner links
 * exactly the tests/unit/test_*.c files; the engine suite uses it through
 * refcase.h. */
#include "refcase.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pw_test.h"

static int refuse(char *why, size_t whylen, const char *path, const char *what)
{
    snprintf(why, whylen, "%s: %s", path, what);
    return -1;
}

int refcase_load(const char *path, refcase_matrix *m, char *why, size_t whylen)
{
    memset(m, 0, sizeof *m);
    FILE *f = fopen(path, "rb");
    if (!f)
        return refuse(why, whylen, path, "cannot open");
    unsigned char pre[10];
    char hdr[4096];
    int rc = -1;
    if (fread(pre, 1, sizeof pre, f) != sizeof pre || memcmp(pre, "\x93NUMPY\x01\x00", 8) != 0) {
        refuse(why, whylen, path, "not a version 1.0 .npy file");
        goto out;
    }
    size_t hlen = pre[8] | (size_t)pre[9] << 8;
    if (hlen >= sizeof hdr || fread(hdr, 1, hlen, f) != hlen) {
        refuse(why, whylen, path, "header too long or truncated");
        goto out;
    }
    hdr[hlen] = '\0';
    unsigned long long r, c;
    const char *shape = strstr(hdr, "'shape': (");
    if (!strstr(hdr, "'descr': '<f8'") || !strstr(hdr, "'fortran_order': False") || !shape ||
        sscanf(shape, "'shape': (%llu, %llu)", &r, &c) != 2) {
        refuse(why, whylen, path, "not a C-order little-endian float64 matrix");
        goto out;
    }
    if (r > (1u << 24) || c > (1u << 16)) {
        refuse(why, whylen, path, "matrix too large for a test case");
        goto out;
    }
    m->rows = r;
    m->cols = c;
    m->data = malloc((r * c + 1) * sizeof(double));
    if (!m->data || fread(m->data, sizeof(double), r * c, f) != r * c) {
        refuse(why, whylen, path, "data truncated");
        refcase_free(m);
        goto out;
    }
    rc = 0;
out:
    fclose(f);
    return rc;
}

void refcase_free(refcase_matrix *m)
{
    free(m->data);
    m->data = NULL;
}

static char *write_file(const char *name, const void *bytes, size_t len)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", pw_test_tmpdir(), name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(bytes, 1, len, f), len);
    fclose(f);
    return path;
}

START_TEST(loads_a_reference_matrix)
{
    char path[512], why[256];
    snprintf(path, sizeof path, "%s/a_rotation.X.npy", pw_test_reference_dir());
    refcase_matrix m;
    ck_assert_msg(refcase_load(path, &m, why, sizeof why) == 0, "%s", why);
    ck_assert_uint_eq(m.rows, 1000);
    ck_assert_uint_eq(m.cols, 64);
    for (uint64_t i = 0; i < m.rows * m.cols; i++)
        ck_assert(isfinite(m.data[i]));
    refcase_free(&m);
}
END_TEST

START_TEST(refuses_other_formats)
{
    /* A valid 1 x 2 '<f8' file, then the same with '<f4', Fortran order, and cut short. */
    char hdr[] = "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2), }    \n";
    unsigned char buf[256];
    size_t hl = strlen(hdr);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)hl;
    buf[9] = 0;
    memcpy(buf + 10, hdr, hl);
    double v[2] = {1.5, -2};
    memcpy(buf + 10 + hl, v, sizeof v);
    size_t len = 10 + hl + sizeof v;
    refcase_matrix m;
    char why[256];
    ck_assert_msg(refcase_load(write_file("ok.npy", buf, len), &m, why, sizeof why) == 0, "%s",
                  why);
    ck_assert(m.rows == 1 && m.cols == 2 && m.data[0] == 1.5 && m.data[1] == -2);
    refcase_free(&m);

    ck_assert_int_eq(refcase_load(write_file("short.npy", buf, len - 1), &m, why, sizeof why), -1);
    ck_assert_ptr_nonnull(strstr(why, "truncated"));
    memcpy(buf + 10 + 12, "f4", 2);
    ck_assert_int_eq(refcase_load(write_file("f4.npy", buf, len), &m, why, sizeof why), -1);
    ck_assert_ptr_nonnull(strstr(why, "float64"));
    memcpy(buf + 10 + 12, "f8", 2);
    memcpy(strstr((char *)buf + 10, "False"), "True ", 5);
    ck_assert_int_eq(refcase_load(write_file("fortran.npy", buf, len), &m, why, sizeof why), -1);
    ck_assert_ptr_nonnull(strstr(why, "C-order"));
}
END_TEST

Suite *refcase_suite(void)
{
    Suite *s = suite_create("refcase");
    TCase *tc = tcase_create("npy");
    tcase_add_test(tc, loads_a_reference_matrix);
    tcase_add_test(tc, refuses_other_formats);
    suite_add_tcase(s, tc);
    return s;
}
