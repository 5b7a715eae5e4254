/* test_safetensors.c -- the safetensors reader: exact values for every float
 * dtype, layer order (offsets and the "layers" override), metadata, and
 * refusal of every kind of broken or lying header. */
#include <string.h>

#include "pw_checkpoint.h"
#include "pw_safetensors.h"
#include "pw_testfile.h"

/* An image: 8-byte length, the JSON header, then data. */
static tf_buf st_image(const char *json, const void *data, size_t n)
{
    tf_buf b = {0};
    tf_le(&b, strlen(json), 8);
    tf_str(&b, json);
    tf_put(&b, data, n);
    return b;
}

/* pw_st_parse on an image built from json and data; returns its result. */
static int st_try(const char *json, const void *data, size_t n, pw_err *e)
{
    tf_buf b = st_image(json, data, n);
    pw_st st;
    pw_err_clear(e);
    int rc = pw_st_parse(&st, b.p, b.n, 0, e);
    if (rc == 0)
        pw_st_free(&st);
    tf_free(&b);
    return rc;
}

#define ST_FAILS(json, data, n, needle)                                                            \
    do {                                                                                           \
        pw_err e_;                                                                                 \
        PW_ASSERT_FAILS_WITH(st_try((json), (data), (n), &e_), &e_, (needle));                     \
    } while (0)

/* Four tensors, one per float dtype, listed out of offset order. */
static tf_buf four_dtypes(const char *metadata)
{
    unsigned char data[64];
    for (int k = 0; k < 6; k++) {
        float f = (float)tf_ramp((uint64_t)k);
        memcpy(data + 4 * k, &f, 4);
    }
    for (int k = 0; k < 3; k++) {
        double d = tf_ramp((uint64_t)k);
        memcpy(data + 24 + 8 * k, &d, 8);
    }
    for (int k = 0; k < 4; k++) {
        uint16_t h = tf_half(tf_ramp((uint64_t)k));
        memcpy(data + 48 + 2 * k, &h, 2);
    }
    for (int k = 0; k < 4; k++) {
        uint16_t h = tf_bf16((float)tf_ramp((uint64_t)k));
        memcpy(data + 56 + 2 * k, &h, 2);
    }
    char json[1024];
    snprintf(json, sizeof json,
             "{\"d\":{\"dtype\":\"BF16\",\"shape\":[1,2,1,2],\"data_offsets\":[56,64]},"
             "\"b\":{\"dtype\":\"F64\",\"shape\":[3],\"data_offsets\":[24,48]},"
             "%s"
             "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
             "\"c\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[48,56]}}",
             metadata);
    return st_image(json, data, sizeof data);
}

/* Every element of a 1-D or 2-D tensor equals tf_ramp of its C-order index. */
static void assert_ramp(const pw_tensor *t)
{
    double out[64];
    pw_err e;
    ck_assert_uint_le(t->rows * t->cols, 64);
    PW_ASSERT_OK(pw_tensor_read_rows(t, 0, (size_t)t->rows, out, &e), &e);
    for (uint64_t k = 0; k < t->rows * t->cols; k++)
        ck_assert_msg(out[k] == tf_ramp(k), "layer %s element %llu = %g, expected %g", t->name,
                      (unsigned long long)k, out[k], tf_ramp(k));
}

START_TEST(every_float_dtype_round_trips_exactly)
{
    tf_buf b = four_dtypes("\"__metadata__\":{\"format\":\"pt\",\"step\":\"100\"},");
    pw_st st;
    pw_err e;
    PW_ASSERT_OK(pw_st_parse(&st, b.p, b.n, 0, &e), &e);
    ck_assert_uint_eq(st.ntensors, 4);
    /* layer order is data-offset order, not header order */
    ck_assert_str_eq(st.tensors[0].name, "a");
    ck_assert_str_eq(st.tensors[1].name, "b");
    ck_assert_str_eq(st.tensors[2].name, "c");
    ck_assert_str_eq(st.tensors[3].name, "d");
    ck_assert_int_eq(st.tensors[0].dtype, PW_DT_F32);
    ck_assert_int_eq(st.tensors[1].dtype, PW_DT_F64);
    ck_assert_int_eq(st.tensors[2].dtype, PW_DT_F16);
    ck_assert_int_eq(st.tensors[3].dtype, PW_DT_BF16);
    assert_ramp(&st.tensors[0]);
    assert_ramp(&st.tensors[1]);
    assert_ramp(&st.tensors[2]);
    /* d is NCHW [1, 2, 1, 2]: rows are the W positions, columns the channels */
    const pw_tensor *d = &st.tensors[3];
    ck_assert_uint_eq(d->rows, 2);
    ck_assert_uint_eq(d->cols, 2);
    double out[4];
    PW_ASSERT_OK(pw_tensor_read_rows(d, 0, 2, out, &e), &e);
    for (int w = 0; w < 2; w++)
        for (int c = 0; c < 2; c++)
            ck_assert(out[w * 2 + c] == tf_ramp((uint64_t)(c * 2 + w)));
    /* zero-copy: the view points into the image */
    ck_assert_ptr_eq(st.tensors[0].data, b.p + 8 + (b.n - 8 - 64));
    ck_assert_str_eq(pw_st_meta(&st, "step"), "100");
    ck_assert_str_eq(pw_st_meta(&st, "format"), "pt");
    ck_assert_ptr_null(pw_st_meta(&st, "absent"));
    pw_st_free(&st);
    tf_free(&b);
}
END_TEST

START_TEST(nhwc_option_changes_the_neuron_axis)
{
    tf_buf b = four_dtypes("");
    pw_st st;
    pw_err e;
    PW_ASSERT_OK(pw_st_parse(&st, b.p, b.n, 1, &e), &e);
    const pw_tensor *d = &st.tensors[3]; /* [1, 2, 1, 2] read as N, H, W, C */
    ck_assert_int_eq(d->nhwc, 1);
    ck_assert_uint_eq(d->rows, 2);
    ck_assert_uint_eq(d->cols, 2);
    ck_assert_int_eq(st.tensors[0].nhwc, 0); /* only 4-D tensors */
    double out[4];
    PW_ASSERT_OK(pw_tensor_read_rows(d, 0, 2, out, &e), &e);
    for (int k = 0; k < 4; k++)
        ck_assert(out[k] == tf_ramp((uint64_t)k));
    pw_st_free(&st);
    tf_free(&b);
}
END_TEST

START_TEST(layers_metadata_sets_the_order)
{
    tf_buf b = four_dtypes("\"__metadata__\":{\"layers\":\"c, a\"},");
    pw_st st;
    pw_err e;
    PW_ASSERT_OK(pw_st_parse(&st, b.p, b.n, 0, &e), &e);
    /* named ones first, in the given order; the rest follow in offset order */
    ck_assert_str_eq(st.tensors[0].name, "c");
    ck_assert_str_eq(st.tensors[1].name, "a");
    ck_assert_str_eq(st.tensors[2].name, "b");
    ck_assert_str_eq(st.tensors[3].name, "d");
    assert_ramp(&st.tensors[1]);
    pw_st_free(&st);
    tf_free(&b);

    const char *bad[][2] = {
        {"\"__metadata__\":{\"layers\":\"c,zz\"},", "names 'zz', which is not a tensor"},
        {"\"__metadata__\":{\"layers\":\"c,a,c\"},", "names 'c' twice"},
        {"\"__metadata__\":{\"layers\":\"c,,a\"},", "item 2 is empty"},
        {"\"__metadata__\":{\"layers\":\"\"},", "item 1 is empty"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        b = four_dtypes(bad[i][0]);
        PW_ASSERT_FAILS_WITH(pw_st_parse(&st, b.p, b.n, 0, &e), &e, bad[i][1]);
        tf_free(&b);
    }
}
END_TEST

START_TEST(header_padded_with_spaces_is_accepted)
{
    float v[2] = {1.5f, -2.0f};
    pw_err e;
    PW_ASSERT_OK(st_try("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}        ",
                        v, sizeof v, &e),
                 &e);
    /* a zero-element tensor shares its offset with the next one */
    PW_ASSERT_OK(st_try("{\"e\":{\"dtype\":\"F32\",\"shape\":[0,4],\"data_offsets\":[0,0]},"
                        "\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
                        v, sizeof v, &e),
                 &e);
}
END_TEST

START_TEST(lying_offsets_are_refused)
{
    unsigned char d[64] = {0};
    ST_FAILS("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[4,20]}}",
             d, 20, "layer 'b': data_offsets [4, 20] overlap the previous tensor 'a' (ends at 8)");
    ST_FAILS("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}",
             d, 20, "layer 'b': data_offsets [12, 20] leave a hole of 4 bytes");
    ST_FAILS("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", d, 12,
             "first tensor must start at 0");
    ST_FAILS("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", d, 8,
             "end before they begin");
    ST_FAILS("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", d, 8,
             "hold 8 bytes but F32 shape [3] needs 12");
    ST_FAILS("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", d, 8,
             "(truncated)");
    ST_FAILS("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", d, 9,
             "(trailing bytes)");
    /* offsets at the edge of what JSON integers hold, and beyond */
    ST_FAILS("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],"
             "\"data_offsets\":[9223372036854775806,9223372036854775807]}}",
             d, 1, "first tensor must start at 0");
    ST_FAILS("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],"
             "\"data_offsets\":[0,18446744073709551615]}}",
             d, 8, "not valid JSON");
    ST_FAILS("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,-8]}}", d, 8,
             "non-negative integers");
    ST_FAILS("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8.0]}}", d, 8,
             "non-negative integers");
    ST_FAILS("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", d, 8,
             "[BEGIN, END]");
}
END_TEST

START_TEST(size_overflows_are_refused)
{
    unsigned char d[8] = {0};
    ST_FAILS("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,2],"
             "\"data_offsets\":[0,8]}}",
             d, 8, "more than 2^64 bytes");
    ST_FAILS("{\"a\":{\"dtype\":\"F64\",\"shape\":[2305843009213693952],"
             "\"data_offsets\":[0,8]}}",
             d, 8, "more than 2^64 bytes");
    ST_FAILS("{\"a\":{\"dtype\":\"F32\",\"shape\":[9223372036854775807,0,3],"
             "\"data_offsets\":[0,8]}}",
             d, 8, "needs 0");
    ST_FAILS("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", d, 8,
             "shape[0] is not a non-negative integer");
    ST_FAILS("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]}}", d,
             8, "9 axes");
}
END_TEST

START_TEST(bad_headers_are_refused)
{
    unsigned char d[8] = {0};
    ST_FAILS("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
             "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
             d, 8, "duplicate object key");
    ST_FAILS("[1, 2]", d, 0, "not a JSON object");
    ST_FAILS("{\"a\": ", d, 0, "not valid JSON at file offset");
    ST_FAILS("{\"a\":[1]}", d, 0, "layer 'a': entry is not a JSON object");
    ST_FAILS("{\"a\":{\"dtype\":\"Q7\",\"shape\":[2],\"data_offsets\":[0,8]}}", d, 8,
             "layer 'a': unknown dtype 'Q7'");
    ST_FAILS("{\"labels\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]}}", d, 8,
             "layer 'labels': unsupported dtype I32: only float layers");
    ST_FAILS("{\"m\":{\"dtype\":\"F8_E4M3\",\"shape\":[8],\"data_offsets\":[0,8]}}", d, 8,
             "unsupported dtype F8_E4M3");
    ST_FAILS("{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", d, 8, "\"dtype\"");
    ST_FAILS("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", d, 8, "\"shape\"");
    ST_FAILS("{\"__metadata__\":{\"step\":100},"
             "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
             d, 8, "__metadata__ 'step' is not a string");
    ST_FAILS("{\"__metadata__\":[],\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
             d, 8, "\"__metadata__\" is not a JSON object");
    ST_FAILS("{\"__metadata__\":{}}", d, 0, "no tensors");
    ST_FAILS("{\"a\\u0007b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", d, 8,
             "control character");
    ST_FAILS("{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", d, 8,
             "not valid JSON");
    ST_FAILS("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,1,1,1,2],\"data_offsets\":[0,16]}}", d, 8,
             "(truncated)");
    unsigned char d16[16] = {0};
    ST_FAILS("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,1,1,1,2],\"data_offsets\":[0,16]}}", d16, 16,
             "layer 'a': 5-D tensor");
    ST_FAILS("{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", d, 4,
             "layer 'a': 0 axes");

    /* header lengths that do not fit */
    pw_st st;
    pw_err e;
    unsigned char raw[16] = {0};
    raw[0] = 0x01, raw[3] = 0x10; /* 0x10000001 > 100 MB */
    PW_ASSERT_FAILS_WITH(pw_st_parse(&st, raw, sizeof raw, 0, &e), &e, "exceeds the limit");
    memset(raw, 0xff, 8); /* UINT64_MAX */
    PW_ASSERT_FAILS_WITH(pw_st_parse(&st, raw, sizeof raw, 0, &e), &e, "exceeds the limit");
    memset(raw, 0, 8);
    raw[0] = 9; /* 9 > 16 - 8 */
    PW_ASSERT_FAILS_WITH(pw_st_parse(&st, raw, sizeof raw, 0, &e), &e, "runs past the end");
    PW_ASSERT_FAILS_WITH(pw_st_parse(&st, raw, 5, 0, &e), &e, "too short");
}
END_TEST

START_TEST(every_truncation_fails_cleanly)
{
    tf_buf b = four_dtypes("\"__metadata__\":{\"k\":\"v\"},");
    const char *path = tf_path("trunc.safetensors");
    for (size_t len = 0; len < b.n; len++) {
        pw_st st;
        pw_err e;
        pw_err_clear(&e);
        ck_assert_int_ne(pw_st_parse(&st, b.p, len, 0, &e), 0);
        ck_assert_msg(e.msg[0] != '\0', "no message at length %zu", len);
        tf_write(path, b.p, len);
        pw_ckpt *c;
        ck_assert_int_ne(pw_ckpt_open(&c, path, NULL, &e), 0);
        ck_assert_ptr_null(c);
        ck_assert_msg(strncmp(e.msg, path, strlen(path)) == 0, "'%s' lacks the path", e.msg);
        ck_assert_msg(pw_ckpt_is_complete(path, &e) == 0, "length %zu called complete", len);
        ck_assert_msg(strstr(e.msg, path) == e.msg, "'%s' lacks the path", e.msg);
    }
    tf_write(path, b.p, b.n);
    pw_err e;
    ck_assert_int_eq(pw_ckpt_is_complete(path, &e), 1);
    tf_free(&b);
}
END_TEST

START_TEST(completeness_reads_headers_only)
{
    /* an integer tensor makes a file unreadable, not incomplete */
    unsigned char d[8] = {0};
    tf_buf b = st_image("{\"n\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]}}", d, 8);
    const char *path = tf_path("ints.safetensors");
    tf_write(path, b.p, b.n);
    pw_err e;
    ck_assert_int_eq(pw_ckpt_is_complete(path, &e), 1);
    pw_ckpt *c;
    PW_ASSERT_FAILS_WITH(pw_ckpt_open(&c, path, NULL, &e), &e, "unsupported dtype I32");
    ck_assert(strncmp(e.msg, path, strlen(path)) == 0);
    /* trailing bytes: a file still being appended to or a corrupt one, never complete */
    tf_put(&b, "x", 1);
    tf_write(path, b.p, b.n);
    ck_assert_int_eq(pw_ckpt_is_complete(path, &e), 0);
    ck_assert_ptr_nonnull(strstr(e.msg, "trailing bytes"));
    tf_free(&b);
}
END_TEST

START_TEST(errors_name_file_then_layer)
{
    unsigned char d[20] = {0};
    tf_buf b = st_image("{\"fc0\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                        "\"fc1\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[4,20]}}",
                        d, sizeof d);
    const char *path = tf_path("ckpt.safetensors");
    tf_write(path, b.p, b.n);
    pw_ckpt *c;
    pw_err e;
    char want[700];
    snprintf(want, sizeof want,
             "%s: layer 'fc1': data_offsets [4, 20] overlap the previous tensor 'fc0' (ends at 8)",
             path);
    ck_assert_int_eq(pw_ckpt_open(&c, path, NULL, &e), -1);
    ck_assert_str_eq(e.msg, want);
    tf_free(&b);
}
END_TEST

Suite *safetensors_suite(void)
{
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, every_float_dtype_round_trips_exactly);
    tcase_add_test(tc, nhwc_option_changes_the_neuron_axis);
    tcase_add_test(tc, layers_metadata_sets_the_order);
    tcase_add_test(tc, header_padded_with_spaces_is_accepted);
    tcase_add_test(tc, lying_offsets_are_refused);
    tcase_add_test(tc, size_overflows_are_refused);
    tcase_add_test(tc, bad_headers_are_refused);
    tcase_add_test(tc, every_truncation_fails_cleanly);
    tcase_add_test(tc, completeness_reads_headers_only);
    tcase_add_test(tc, errors_name_file_then_layer);
    suite_add_tcase(s, tc);
    return s;
}
