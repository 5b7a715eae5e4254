/* test_checkpoint.c -- pw_checkpoint: format detection, directories of .npy
 * in natural order, the NHWC option, lookup, messages that start with the
 * path, and the header-only completeness test the daemon relies on. */
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pw_checkpoint.h"
#include "pw_name.h"
#include "pw_testfile.h"

/* A 2-D float32 .npy of tf_ramp with the given shape, written to path. */
static void write_npy(const char *path, int rows, int cols)
{
    float v[64];
    ck_assert_int_le(rows * cols, 64);
    for (int k = 0; k < rows * cols; k++)
        v[k] = (float)tf_ramp((uint64_t)k);
    char dict[128];
    snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }",
             rows, cols);
    tf_buf b = tf_npy(1, dict, v, (size_t)(rows * cols) * 4);
    tf_write(path, b.p, b.n);
    tf_free(&b);
}

static void copy_file(const char *from, const char *to)
{
    size_t n;
    unsigned char *p = tf_read(from, &n);
    tf_write(to, p, n);
    free(p);
}

START_TEST(natural_name_order)
{
    ck_assert_int_lt(pw_name_natcmp("layer2", "layer10"), 0);
    ck_assert_int_gt(pw_name_natcmp("layer10", "layer9"), 0);
    ck_assert_int_lt(pw_name_natcmp("block1.conv2", "block1.conv10"), 0);
    ck_assert_int_lt(pw_name_natcmp("a", "b"), 0);
    ck_assert_int_lt(pw_name_natcmp("fc", "fc1"), 0);
    ck_assert_int_eq(pw_name_natcmp("x7", "x7"), 0);
    /* equal numbers, different padding: still a total order */
    ck_assert_int_ne(pw_name_natcmp("a01", "a1"), 0);
    ck_assert_int_eq(pw_name_natcmp("a01", "a1"), -pw_name_natcmp("a1", "a01"));
    /* digit runs longer than any integer type */
    ck_assert_int_lt(pw_name_natcmp("n99999999999999999999999", "n100000000000000000000000"), 0);
}
END_TEST

START_TEST(directory_of_npy_in_natural_order)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/step-100", pw_test_tmpdir());
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    char p[700];
    const char *layers[] = {"layer10", "layer2", "layer1"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s.npy", dir, layers[i]);
        write_npy(p, 4, i + 1);
    }
    snprintf(p, sizeof p, "%s/.partial.npy", dir); /* dotfiles are ignored ... */
    tf_write(p, "junk", 4);
    snprintf(p, sizeof p, "%s/notes.txt", dir); /* ... and so is anything not .npy */
    tf_write(p, "hello", 5);

    pw_err e;
    ck_assert_int_eq(pw_ckpt_is_complete(dir, &e), 1);
    pw_ckpt *c;
    PW_ASSERT_OK(pw_ckpt_open(&c, dir, NULL, &e), &e);
    ck_assert_int_eq(pw_ckpt_format(c), PW_FMT_NPY_DIR);
    ck_assert_str_eq(pw_ckpt_path(c), dir);
    ck_assert_uint_eq(pw_ckpt_nlayers(c), 3);
    ck_assert_str_eq(pw_ckpt_layer(c, 0)->name, "layer1");
    ck_assert_str_eq(pw_ckpt_layer(c, 1)->name, "layer2");
    ck_assert_str_eq(pw_ckpt_layer(c, 2)->name, "layer10");
    ck_assert_ptr_null(pw_ckpt_layer(c, 3));
    const pw_tensor *t = pw_ckpt_find(c, "layer10");
    ck_assert_ptr_eq(t, pw_ckpt_layer(c, 2));
    ck_assert_uint_eq(t->cols, 1);
    ck_assert_ptr_null(pw_ckpt_find(c, "layer3"));
    ck_assert_ptr_null(pw_ckpt_meta(c, "layers"));
    double out[8];
    t = pw_ckpt_layer(c, 1);
    PW_ASSERT_OK(pw_tensor_read_rows(t, 0, 4, out, &e), &e);
    for (int k = 0; k < 8; k++)
        ck_assert(out[k] == tf_ramp((uint64_t)k));
    pw_ckpt_close(c);

    /* one truncated member makes the whole directory incomplete and unreadable */
    snprintf(p, sizeof p, "%s/layer2.npy", dir);
    size_t n;
    unsigned char *buf = tf_read(p, &n);
    tf_write(p, buf, n - 3);
    free(buf);
    ck_assert_int_eq(pw_ckpt_is_complete(dir, &e), 0);
    ck_assert_msg(strncmp(e.msg, p, strlen(p)) == 0, "'%s' does not start with %s", e.msg, p);
    ck_assert_int_eq(pw_ckpt_open(&c, dir, NULL, &e), -1);
    ck_assert_ptr_null(c);
    ck_assert_msg(strncmp(e.msg, p, strlen(p)) == 0, "'%s' does not start with %s", e.msg, p);
    ck_assert_ptr_nonnull(strstr(e.msg, "truncated"));

    /* an empty directory is not (yet) a checkpoint */
    snprintf(dir, sizeof dir, "%s/step-200", pw_test_tmpdir());
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    ck_assert_int_eq(pw_ckpt_is_complete(dir, &e), 0);
    PW_ASSERT_FAILS_WITH(pw_ckpt_open(&c, dir, NULL, &e), &e, "holds no .npy files");
}
END_TEST

START_TEST(single_npy_is_one_layer_with_one_name)
{
    pw_ckpt *c;
    pw_err e;
    PW_ASSERT_OK(pw_ckpt_open(&c, TF_DATA("f4_2d.npy"), NULL, &e), &e);
    ck_assert_int_eq(pw_ckpt_format(c), PW_FMT_NPY);
    ck_assert_uint_eq(pw_ckpt_nlayers(c), 1);
    /* not "f4_2d": step-000100.npy and step-000200.npy must share their layer */
    ck_assert_str_eq(pw_ckpt_layer(c, 0)->name, PW_NPY_LAYER);
    pw_ckpt_close(c);

    /* the shared reference data: 1000 datapoints of 64 neurons */
    char ref[600];
    snprintf(ref, sizeof ref, "%s/a_rotation.X.npy", pw_test_reference_dir());
    PW_ASSERT_OK(pw_ckpt_open(&c, ref, NULL, &e), &e);
    const pw_tensor *t = pw_ckpt_find(c, "activations");
    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq(t->rows, 1000);
    ck_assert_uint_eq(t->cols, 64);
    double row[64];
    PW_ASSERT_OK(pw_tensor_read_rows(t, 0, 1, row, &e), &e);
    ck_assert(row[0] == -1.2262403233070491);
    PW_ASSERT_OK(pw_tensor_read_rows(t, 999, 1, row, &e), &e);
    ck_assert(row[63] == -1.0590533260400627);
    pw_ckpt_close(c);
}
END_TEST

START_TEST(format_from_magic_when_extension_says_nothing)
{
    pw_ckpt *c;
    pw_err e;
    const char *npy = tf_path("noext-npy"), *npz = tf_path("noext-npz"), *st = tf_path("noext-st");
    copy_file(TF_DATA("f8_1d.npy"), npy);
    copy_file(TF_DATA("deflated.npz"), npz);
    float v[2] = {1, 2};
    const char *json = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    tf_buf b = {0};
    tf_le(&b, strlen(json), 8);
    tf_str(&b, json);
    tf_put(&b, v, sizeof v);
    tf_write(st, b.p, b.n);
    tf_free(&b);

    PW_ASSERT_OK(pw_ckpt_open(&c, npy, NULL, &e), &e);
    ck_assert_int_eq(pw_ckpt_format(c), PW_FMT_NPY);
    ck_assert_str_eq(pw_ckpt_layer(c, 0)->name, PW_NPY_LAYER);
    pw_ckpt_close(c);
    PW_ASSERT_OK(pw_ckpt_open(&c, npz, NULL, &e), &e);
    ck_assert_int_eq(pw_ckpt_format(c), PW_FMT_NPZ);
    ck_assert_uint_eq(pw_ckpt_nlayers(c), 3);
    pw_ckpt_close(c);
    PW_ASSERT_OK(pw_ckpt_open(&c, st, NULL, &e), &e);
    ck_assert_int_eq(pw_ckpt_format(c), PW_FMT_SAFETENSORS);
    pw_ckpt_close(c);
    ck_assert_int_eq(pw_ckpt_is_complete(npy, &e), 1);
    ck_assert_int_eq(pw_ckpt_is_complete(npz, &e), 1);
    ck_assert_int_eq(pw_ckpt_is_complete(st, &e), 1);

    /* the extension wins over the content */
    const char *liar = tf_path("liar.npz");
    copy_file(TF_DATA("f8_1d.npy"), liar);
    PW_ASSERT_FAILS_WITH(pw_ckpt_open(&c, liar, NULL, &e), &e,
                         "no zip end of central directory record");

    const char *junk = tf_path("junk.bin");
    tf_write(junk, "hello, world", 12);
    PW_ASSERT_FAILS_WITH(pw_ckpt_open(&c, junk, NULL, &e), &e, "unknown format");
    ck_assert(strncmp(e.msg, junk, strlen(junk)) == 0);
    ck_assert_int_eq(pw_ckpt_is_complete(junk, &e), 0);
}
END_TEST

/* The suffix is matched in any case, by the reader, the completeness test and
 * pw_ckpt_suffix_len (what the watcher asks), from the one list of formats. */
START_TEST(suffixes_match_in_any_case)
{
    pw_ckpt *c;
    pw_err e;
    const char *npy = tf_path("up.NPY"), *npz = tf_path("up.Npz");
    copy_file(TF_DATA("f8_1d.npy"), npy);
    copy_file(TF_DATA("deflated.npz"), npz);
    for (int i = 0; i < 2; i++) {
        const char *path = i == 0 ? npy : npz;
        PW_ASSERT_OK(pw_ckpt_open(&c, path, NULL, &e), &e);
        ck_assert_int_eq(pw_ckpt_format(c), i == 0 ? PW_FMT_NPY : PW_FMT_NPZ);
        pw_ckpt_close(c);
        ck_assert_int_eq(pw_ckpt_is_complete(path, &e), 1);
    }

    ck_assert_uint_eq(pw_ckpt_suffix_len("step-1.SAFETENSORS"), strlen(".safetensors"));
    ck_assert_uint_eq(pw_ckpt_suffix_len("step-1.npz"), 4);
    ck_assert_uint_eq(pw_ckpt_suffix_len("step-1.NPY"), 4);
    ck_assert_uint_eq(pw_ckpt_suffix_len("step-1.npz.bak"), 0);
    ck_assert_uint_eq(pw_ckpt_suffix_len("step-1"), 0);

    /* the refusal names every suffix of the list */
    const char *junk = tf_path("junk.dat");
    tf_write(junk, "hello, world", 12);
    PW_ASSERT_FAILS_WITH(pw_ckpt_open(&c, junk, NULL, &e), &e, ".safetensors, .npy, .npz");
}
END_TEST

START_TEST(nhwc_option_reaches_every_format)
{
    pw_ckpt_opts o = {1, 0};
    pw_ckpt *c;
    pw_err e;
    /* conv1 is [2, 3, 2, 2]: NCHW gives 8 rows of 3, NHWC 12 rows of 2 */
    PW_ASSERT_OK(pw_ckpt_open(&c, TF_DATA("stored.npz"), NULL, &e), &e);
    ck_assert_uint_eq(pw_ckpt_find(c, "conv1")->rows, 8);
    ck_assert_uint_eq(pw_ckpt_find(c, "conv1")->cols, 3);
    pw_ckpt_close(c);
    PW_ASSERT_OK(pw_ckpt_open(&c, TF_DATA("stored.npz"), &o, &e), &e);
    const pw_tensor *t = pw_ckpt_find(c, "conv1");
    ck_assert_int_eq(t->nhwc, 1);
    ck_assert_uint_eq(t->rows, 12);
    ck_assert_uint_eq(t->cols, 2);
    ck_assert_int_eq(pw_ckpt_find(c, "fc1")->nhwc, 0);
    double out[24];
    PW_ASSERT_OK(pw_tensor_read_rows(t, 0, 12, out, &e), &e);
    for (int k = 0; k < 24; k++)
        ck_assert(out[k] == tf_ramp((uint64_t)k));
    pw_ckpt_close(c);
    PW_ASSERT_OK(pw_ckpt_open(&c, TF_DATA("f4_4d.npy"), &o, &e), &e);
    ck_assert_uint_eq(pw_ckpt_layer(c, 0)->cols, 2);
    pw_ckpt_close(c);
}
END_TEST

START_TEST(safetensors_through_the_checkpoint)
{
    double v[6];
    for (int k = 0; k < 6; k++)
        v[k] = tf_ramp((uint64_t)k);
    const char *json = "{\"__metadata__\":{\"layers\":\"top,bottom\",\"step\":\"7\"},"
                       "\"bottom\":{\"dtype\":\"F64\",\"shape\":[2,2],\"data_offsets\":[0,32]},"
                       "\"top\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[32,48]}}";
    tf_buf b = {0};
    tf_le(&b, strlen(json), 8);
    tf_str(&b, json);
    tf_put(&b, v, sizeof v);
    const char *path = tf_path("run.safetensors");
    tf_write(path, b.p, b.n);
    tf_free(&b);
    pw_ckpt *c;
    pw_err e;
    PW_ASSERT_OK(pw_ckpt_open(&c, path, NULL, &e), &e);
    ck_assert_int_eq(pw_ckpt_format(c), PW_FMT_SAFETENSORS);
    ck_assert_str_eq(pw_ckpt_layer(c, 0)->name, "top");
    ck_assert_str_eq(pw_ckpt_layer(c, 1)->name, "bottom");
    ck_assert_str_eq(pw_ckpt_meta(c, "step"), "7");
    ck_assert_ptr_null(pw_ckpt_meta(c, "epoch"));
    double out[2];
    PW_ASSERT_OK(pw_tensor_read_rows(pw_ckpt_find(c, "top"), 0, 2, out, &e), &e);
    ck_assert(out[0] == tf_ramp(4) && out[1] == tf_ramp(5));
    pw_ckpt_close(c);
}
END_TEST

START_TEST(missing_paths_are_io_errors)
{
    const char *path = tf_path("does-not-exist.npz");
    pw_ckpt *c = (pw_ckpt *)1;
    pw_err e;
    PW_ASSERT_FAILS_WITH(pw_ckpt_open(&c, path, NULL, &e), &e, "No such file or directory");
    ck_assert_ptr_null(c);
    ck_assert(strncmp(e.msg, path, strlen(path)) == 0);
    ck_assert_int_eq(pw_ckpt_is_complete(path, &e), -1);
    ck_assert(strncmp(e.msg, path, strlen(path)) == 0);
    pw_ckpt_close(NULL); /* harmless */
}
END_TEST

START_TEST(special_files_are_refused_without_blocking)
{
    /* opening a FIFO for reading would wait for a writer forever */
    const char *fifo = tf_path("pipe.npy");
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    pw_ckpt *c;
    pw_err e;
    PW_ASSERT_FAILS_WITH(pw_ckpt_open(&c, fifo, NULL, &e), &e, "not a regular file");
    ck_assert_int_eq(pw_ckpt_is_complete(fifo, &e), 0);
    ck_assert_ptr_nonnull(strstr(e.msg, "not a regular file"));
    /* a directory named like a layer file inside a directory checkpoint */
    char dir[600], sub[700];
    snprintf(dir, sizeof dir, "%s/step-300", pw_test_tmpdir());
    snprintf(sub, sizeof sub, "%s/fc1.npy", dir);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    PW_ASSERT_FAILS_WITH(pw_ckpt_open(&c, dir, NULL, &e), &e, "fc1.npy: not a regular file");
    ck_assert_int_eq(pw_ckpt_is_complete(dir, &e), 0);
}
END_TEST

START_TEST(completeness_follows_a_file_being_written)
{
    /* a checkpoint written in place, chunk by chunk: complete only at the end */
    size_t n;
    unsigned char *full = tf_read(TF_DATA("deflated.npz"), &n);
    const char *path = tf_path("growing.npz");
    pw_err e;
    for (size_t len = 0; len < n; len += 97) {
        tf_write(path, full, len);
        ck_assert_int_eq(pw_ckpt_is_complete(path, &e), 0);
    }
    tf_write(path, full, n);
    ck_assert_int_eq(pw_ckpt_is_complete(path, &e), 1);
    free(full);
}
END_TEST

Suite *checkpoint_suite(void)
{
    Suite *s = suite_create("checkpoint");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, natural_name_order);
    tcase_add_test(tc, directory_of_npy_in_natural_order);
    tcase_add_test(tc, single_npy_is_one_layer_with_one_name);
    tcase_add_test(tc, format_from_magic_when_extension_says_nothing);
    tcase_add_test(tc, suffixes_match_in_any_case);
    tcase_add_test(tc, nhwc_option_reaches_every_format);
    tcase_add_test(tc, safetensors_through_the_checkpoint);
    tcase_add_test(tc, missing_paths_are_io_errors);
    tcase_add_test(tc, special_files_are_refused_without_blocking);
    tcase_add_test(tc, completeness_follows_a_file_being_written);
    suite_add_tcase(s, tc);
    return s;
}
