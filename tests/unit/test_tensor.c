/* test_tensor.c -- shape conventions and exact dtype conversion of pw_tensor views. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "pw_tensor.h"
#include "pw_test.h"

static pw_tensor make(pw_dtype dt, int ndim, const uint64_t *shape, const void *data, size_t nbytes)
{
    pw_tensor t;
    memset(&t, 0, sizeof t);
    strcpy(t.name, "layer");
    t.dtype = dt;
    t.ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t.shape[i] = shape[i];
    t.data = data;
    t.nbytes = nbytes;
    return t;
}

START_TEST(f16_and_bf16_convert_exactly)
{
    PW_ASSERT_NEAR(pw_f16_to_double(0x3c00), 1.0, 0);
    PW_ASSERT_NEAR(pw_f16_to_double(0xc000), -2.0, 0);
    PW_ASSERT_NEAR(pw_f16_to_double(0x0001), ldexp(1, -24), 0); /* smallest subnormal */
    PW_ASSERT_NEAR(pw_f16_to_double(0x7bff), 65504.0, 0);       /* largest finite */
    PW_ASSERT_NEAR(pw_f16_to_double(0x3555), 0.333251953125, 0);
    ck_assert(isinf(pw_f16_to_double(0x7c00)));
    ck_assert(isnan(pw_f16_to_double(0x7e00)));
    PW_ASSERT_NEAR(pw_bf16_to_double(0x3f80), 1.0, 0);
    PW_ASSERT_NEAR(pw_bf16_to_double(0x3eab), 0.333984375, 0);
    ck_assert(isnan(pw_bf16_to_double(0x7fc0)));
    /* every finite half round-trips through float exactly */
    for (uint32_t h = 0; h < 0x10000; h++) {
        double d = pw_f16_to_double((uint16_t)h);
        if (isfinite(d))
            ck_assert(d == (double)(float)d);
    }
}
END_TEST

START_TEST(matrix_rows_in_c_and_fortran_order)
{
    /* 3 x 2 matrix [[1,2],[3,4],[5,6]] */
    const double c[] = {1, 2, 3, 4, 5, 6}, f[] = {1, 3, 5, 2, 4, 6};
    const uint64_t shape[] = {3, 2};
    pw_err e;
    double out[6];
    pw_tensor t = make(PW_DT_F64, 2, shape, c, sizeof c);
    PW_ASSERT_OK(pw_tensor_finish(&t, &e), &e);
    ck_assert_uint_eq(t.rows, 3);
    ck_assert_uint_eq(t.cols, 2);
    PW_ASSERT_OK(pw_tensor_read_rows(&t, 1, 2, out, &e), &e);
    ck_assert(out[0] == 3 && out[1] == 4 && out[2] == 5 && out[3] == 6);
    t = make(PW_DT_F64, 2, shape, f, sizeof f);
    t.fortran_order = 1;
    PW_ASSERT_OK(pw_tensor_finish(&t, &e), &e);
    PW_ASSERT_OK(pw_tensor_read_rows(&t, 0, 3, out, &e), &e);
    for (int i = 0; i < 6; i++)
        ck_assert(out[i] == c[i]);
    PW_ASSERT_FAILS_WITH(pw_tensor_read_rows(&t, 2, 2, out, &e), &e, "out of range");
}
END_TEST

START_TEST(nchw_positions_are_datapoints)
{
    /* N=2, C=3, H=1, W=2: value = 100n + 10c + w */
    float v[12];
    for (int n = 0; n < 2; n++)
        for (int ch = 0; ch < 3; ch++)
            for (int w = 0; w < 2; w++)
                v[n * 6 + ch * 2 + w] = (float)(100 * n + 10 * ch + w);
    const uint64_t shape[] = {2, 3, 1, 2};
    pw_err e;
    pw_tensor t = make(PW_DT_F32, 4, shape, v, sizeof v);
    PW_ASSERT_OK(pw_tensor_finish(&t, &e), &e);
    ck_assert_uint_eq(t.rows, 4);
    ck_assert_uint_eq(t.cols, 3);
    double out[12];
    PW_ASSERT_OK(pw_tensor_read_rows(&t, 0, 4, out, &e), &e);
    for (int r = 0; r < 4; r++)
        for (int ch = 0; ch < 3; ch++)
            ck_assert(out[r * 3 + ch] == 100 * (r / 2) + 10 * ch + (r % 2));
    /* the same numbers as NHWC [2,1,2,3] */
    float h[12];
    for (int r = 0; r < 4; r++)
        for (int ch = 0; ch < 3; ch++)
            h[r * 3 + ch] = (float)out[r * 3 + ch];
    const uint64_t shape2[] = {2, 1, 2, 3};
    pw_tensor u = make(PW_DT_F32, 4, shape2, h, sizeof h);
    u.nhwc = 1;
    PW_ASSERT_OK(pw_tensor_finish(&u, &e), &e);
    double out2[12];
    PW_ASSERT_OK(pw_tensor_read_rows(&u, 0, 4, out2, &e), &e);
    ck_assert(memcmp(out, out2, sizeof out) == 0);
}
END_TEST

START_TEST(sequence_tokens_are_datapoints_and_big_endian_swaps)
{
    /* [N=2, T=2, D=1] big-endian float64 values 1..4 */
    unsigned char be[32];
    for (int i = 0; i < 4; i++) {
        double d = i + 1;
        unsigned char b[8];
        memcpy(b, &d, 8);
        for (int k = 0; k < 8; k++)
            be[i * 8 + k] = b[7 - k];
    }
    const uint64_t shape[] = {2, 2, 1};
    pw_err e;
    pw_tensor t = make(PW_DT_F64, 3, shape, be, sizeof be);
    t.big_endian = 1;
    PW_ASSERT_OK(pw_tensor_finish(&t, &e), &e);
    ck_assert_uint_eq(t.rows, 4);
    double out[4];
    PW_ASSERT_OK(pw_tensor_read_rows(&t, 0, 4, out, &e), &e);
    for (int i = 0; i < 4; i++)
        ck_assert(out[i] == i + 1);
}
END_TEST

START_TEST(bad_shapes_are_refused_with_the_layer_name)
{
    const uint64_t five[] = {1, 1, 1, 1, 1};
    double d = 0;
    pw_err e;
    pw_tensor t = make(PW_DT_F64, 5, five, &d, 8);
    PW_ASSERT_FAILS_WITH(pw_tensor_finish(&t, &e), &e, "5-D");
    const uint64_t big[] = {UINT64_MAX / 2, 4};
    t = make(PW_DT_F64, 2, big, &d, 8);
    PW_ASSERT_FAILS_WITH(pw_tensor_finish(&t, &e), &e, "overflows");
    const uint64_t two[] = {2, 2};
    t = make(PW_DT_F64, 2, two, &d, 8);
    PW_ASSERT_FAILS_WITH(pw_tensor_finish(&t, &e), &e, "layer 'layer'");
}
END_TEST

Suite *tensor_suite(void)
{
    Suite *s = suite_create("tensor");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, f16_and_bf16_convert_exactly);
    tcase_add_test(tc, matrix_rows_in_c_and_fortran_order);
    tcase_add_test(tc, nchw_positions_are_datapoints);
    tcase_add_test(tc, sequence_tokens_are_datapoints_and_big_endian_swaps);
    tcase_add_test(tc, bad_shapes_are_refused_with_the_layer_name);
    suite_add_tcase(s, tc);
    return s;
}
