/* test_stwrite.c -- the safetensors writer produces files other tools can read,
 * in the order given, and never leaves a partial file under the final name. */
#include <dirent.h>
#include <jansson.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pw_checkpoint.h"
#include "pw_stwrite.h"
#include "pw_test.h"

/* Whole file into a malloc'ed buffer. */
static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n);
    ck_assert(b != NULL);
    ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* Names in dir starting with '.', i.e. temporaries left behind. */
static int count_dotfiles(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] == '.' && strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

START_TEST(file_layout_matches_the_format)
{
    char path[512];
    snprintf(path, sizeof path, "%s/layout.safetensors", pw_test_tmpdir());
    const float a[6] = {1, 2, 3, 4, 5, 6};
    const double b[2] = {-1.5, 0.25};
    const uint16_t c[3] = {0x3f80, 0xc000, 0x0000}; /* bf16 1, -2, 0 */
    const uint64_t sa[] = {3, 2}, sb[] = {2, 1}, sc[] = {3, 1, 1};
    pw_stwrite_tensor t[] = {
        {"conv \"1\"", PW_DT_F32, 2, sa, a}, /* a name that needs escaping */
        {"head", PW_DT_F64, 2, sb, b},
        {"bf", PW_DT_BF16, 3, sc, c},
    };
    pw_stwrite_meta meta[] = {{"step", "42"}, {"layers", "conv \"1\",head,bf"}};
    pw_err e;
    pw_err_clear(&e);
    PW_ASSERT_OK(pw_stwrite_file(path, t, 3, meta, 2, &e), &e);

    size_t len;
    unsigned char *buf = slurp(path, &len);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = (hl << 8) | buf[i];
    ck_assert_uint_eq(hl % 8, 0);
    ck_assert_uint_eq(len, 8 + hl + sizeof a + sizeof b + sizeof c);
    json_error_t je;
    json_t *h = json_loadb((const char *)buf + 8, hl, 0, &je);
    ck_assert_msg(h != NULL, "header is not JSON: %s", je.text);
    /* __metadata__ first, then the tensors in the order given */
    const char *order[] = {"__metadata__", "conv \"1\"", "head", "bf"};
    int i = 0;
    const char *key;
    json_t *val;
    json_object_foreach(h, key, val)
    {
        ck_assert_int_lt(i, 4);
        ck_assert_str_eq(key, order[i]);
        i++;
    }
    ck_assert_int_eq(i, 4);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(h, "__metadata__"), "step")),
                     "42");
    json_t *bf = json_object_get(h, "bf");
    ck_assert_str_eq(json_string_value(json_object_get(bf, "dtype")), "BF16");
    ck_assert_int_eq(json_array_size(json_object_get(bf, "shape")), 3);
    json_t *offs = json_object_get(bf, "data_offsets");
    ck_assert_int_eq(json_integer_value(json_array_get(offs, 0)), sizeof a + sizeof b);
    ck_assert_int_eq(json_integer_value(json_array_get(offs, 1)), sizeof a + sizeof b + sizeof c);
    /* data back to back, little-endian */
    const unsigned char *data = buf + 8 + hl;
    float a2[6];
    memcpy(a2, data, sizeof a2);
    ck_assert(memcmp(a2, a, sizeof a) == 0);
    double b2[2];
    memcpy(b2, data + sizeof a, sizeof b2);
    ck_assert(b2[0] == -1.5 && b2[1] == 0.25);
    ck_assert(data[sizeof a + sizeof b] == 0x80 && data[sizeof a + sizeof b + 1] == 0x3f);
    json_decref(h);
    free(buf);
    ck_assert_int_eq(count_dotfiles(pw_test_tmpdir()), 0);
}
END_TEST

START_TEST(rewriting_replaces_the_file_in_one_step)
{
    char path[512];
    snprintf(path, sizeof path, "%s/replace.safetensors", pw_test_tmpdir());
    float big[4096] = {0}, small[2] = {7, 8};
    const uint64_t sbig[] = {4096}, ssmall[] = {2};
    pw_stwrite_tensor t = {"x", PW_DT_F32, 1, sbig, big};
    pw_err e;
    PW_ASSERT_OK(pw_stwrite_file(path, &t, 1, NULL, 0, &e), &e);
    struct stat st1, st2;
    ck_assert_int_eq(stat(path, &st1), 0);
    t.shape = ssmall;
    t.data = small;
    PW_ASSERT_OK(pw_stwrite_file(path, &t, 1, NULL, 0, &e), &e);
    ck_assert_int_eq(stat(path, &st2), 0);
    /* a new inode (renamed over), never the old one truncated in place */
    ck_assert(st1.st_ino != st2.st_ino);
    ck_assert_int_lt(st2.st_size, st1.st_size);
    ck_assert_int_eq(count_dotfiles(pw_test_tmpdir()), 0);
}
END_TEST

START_TEST(bad_requests_fail_and_leave_nothing)
{
    char path[512];
    snprintf(path, sizeof path, "%s/bad.safetensors", pw_test_tmpdir());
    float v[2] = {1, 2};
    const uint64_t s[] = {2}, huge[] = {UINT64_MAX / 2, 4};
    pw_err e;
    pw_stwrite_tensor dup[] = {{"a", PW_DT_F32, 1, s, v}, {"a", PW_DT_F32, 1, s, v}};
    PW_ASSERT_FAILS_WITH(pw_stwrite_file(path, dup, 2, NULL, 0, &e), &e, "'a' appears twice");
    pw_stwrite_tensor reserved = {"__metadata__", PW_DT_F32, 1, s, v};
    PW_ASSERT_FAILS_WITH(pw_stwrite_file(path, &reserved, 1, NULL, 0, &e), &e, "reserved");
    pw_stwrite_tensor over = {"o", PW_DT_F32, 2, huge, v};
    PW_ASSERT_FAILS_WITH(pw_stwrite_file(path, &over, 1, NULL, 0, &e), &e, "overflows");
    pw_stwrite_tensor ok = {"a", PW_DT_F32, 1, s, v};
    PW_ASSERT_FAILS_WITH(pw_stwrite_file("/nonexistent-dir/x.safetensors", &ok, 1, NULL, 0, &e), &e,
                         "/nonexistent-dir/x.safetensors");
    struct stat st;
    ck_assert_int_ne(stat(path, &st), 0);
    ck_assert_int_eq(count_dotfiles(pw_test_tmpdir()), 0);
}
END_TEST

START_TEST(the_checkpoint_reader_reads_back_what_was_written)
{
    char path[512], cut[512];
    snprintf(path, sizeof path, "%s/roundtrip.safetensors", pw_test_tmpdir());
    snprintf(cut, sizeof cut, "%s/cut.safetensors", pw_test_tmpdir());
    float conv[2 * 3 * 2 * 1]; /* [N=2, C=3, H=2, W=1] */
    for (int i = 0; i < 12; i++)
        conv[i] = (float)i / 4;
    const uint16_t bf[4] = {0x3f80, 0xbf80, 0x4000, 0x3e80}; /* 1, -1, 2, 0.25 */
    const double dd[2] = {3.5, -0.125};
    const uint64_t sconv[] = {2, 3, 2, 1}, sbf[] = {2, 2}, sdd[] = {2, 1};
    pw_stwrite_tensor t[] = {{"conv", PW_DT_F32, 4, sconv, conv},
                             {"bf", PW_DT_BF16, 2, sbf, bf},
                             {"head", PW_DT_F64, 2, sdd, dd}};
    pw_stwrite_meta meta[] = {{"step", "7"}, {"layers", "conv,bf,head"}};
    pw_err e;
    PW_ASSERT_OK(pw_stwrite_file(path, t, 3, meta, 2, &e), &e);
    ck_assert_int_eq(pw_ckpt_is_complete(path, &e), 1);

    pw_ckpt *c = NULL;
    PW_ASSERT_OK(pw_ckpt_open(&c, path, NULL, &e), &e);
    ck_assert_int_eq(pw_ckpt_format(c), PW_FMT_SAFETENSORS);
    ck_assert_uint_eq(pw_ckpt_nlayers(c), 3);
    ck_assert_str_eq(pw_ckpt_meta(c, "step"), "7");
    const pw_tensor *l0 = pw_ckpt_layer(c, 0), *l1 = pw_ckpt_layer(c, 1), *l2 = pw_ckpt_layer(c, 2);
    ck_assert_str_eq(l0->name, "conv");
    ck_assert_str_eq(l1->name, "bf");
    ck_assert_str_eq(l2->name, "head");
    /* NCHW: every position of every image is a datapoint of C channels */
    ck_assert_uint_eq(l0->rows, 4);
    ck_assert_uint_eq(l0->cols, 3);
    ck_assert_int_eq(l1->dtype, PW_DT_BF16);
    double out[12];
    PW_ASSERT_OK(pw_tensor_read_rows(l1, 0, 2, out, &e), &e);
    ck_assert(out[0] == 1 && out[1] == -1 && out[2] == 2 && out[3] == 0.25);
    PW_ASSERT_OK(pw_tensor_read_rows(l2, 0, 2, out, &e), &e);
    ck_assert(out[0] == 3.5 && out[1] == -0.125);
    /* row (n=1, h=0): channels c of image 1 at h=0 are conv[6 + 2c] */
    PW_ASSERT_OK(pw_tensor_read_rows(l0, 2, 1, out, &e), &e);
    ck_assert(out[0] == 1.5 && out[1] == 2.0 && out[2] == 2.5);
    pw_ckpt_close(c);

    /* the same bytes cut short are not complete: why writers must rename */
    size_t len;
    unsigned char *buf = slurp(path, &len);
    FILE *f = fopen(cut, "wb");
    ck_assert(f != NULL);
    ck_assert_uint_eq(fwrite(buf, 1, len - 4, f), len - 4);
    fclose(f);
    free(buf);
    ck_assert_int_eq(pw_ckpt_is_complete(cut, &e), 0);
    unlink(cut);
}
END_TEST

Suite *stwrite_suite(void)
{
    Suite *s = suite_create("stwrite");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, file_layout_matches_the_format);
    tcase_add_test(tc, rewriting_replaces_the_file_in_one_step);
    tcase_add_test(tc, bad_requests_fail_and_leave_nothing);
    tcase_add_test(tc, the_checkpoint_reader_reads_back_what_was_written);
    suite_add_tcase(s, tc);
    return s;
}
