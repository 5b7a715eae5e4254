/* test_retain.c -- retained copies: correctly rounded conversions, exact copies that hand the
 * engine the original's doubles whatever the source format, the copy's size known before it is
 * written, no partial copy ever under the final name, the eviction choice, and the config keys. */
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "pw_checkpoint.h"
#include "pw_config.h"
#include "pw_paths.h"
#include "pw_retain.h"
#include "pw_retain_plan.h"
#include "pw_stwrite.h"
#include "pw_test.h"
#include "pw_testfile.h"

/* Conversions ---------------------------------------------------------------------------- */

START_TEST(every_half_and_bfloat16_survives_the_round_trip)
{
    for (uint32_t h = 0; h < 65536; h++) {
        double f16 = pw_f16_to_double((uint16_t)h), bf = pw_bf16_to_double((uint16_t)h);
        if (isnan(f16))
            ck_assert(isnan(pw_f16_to_double(pw_double_to_f16(f16))));
        else
            ck_assert_uint_eq(pw_double_to_f16(f16), h);
        if (isnan(bf))
            ck_assert(isnan(pw_bf16_to_double(pw_double_to_bf16(bf))));
        else
            ck_assert_uint_eq(pw_double_to_bf16(bf), h);
    }
}
END_TEST

START_TEST(rounding_is_to_nearest_even_without_double_rounding)
{
    /* bfloat16 has 8 significant bits: 1 + 2^-8 is half-way between 1 and 1 + 2^-7. */
    ck_assert_uint_eq(pw_double_to_bf16(1 + ldexp(1, -8)), 0x3f80);     /* even: down */
    ck_assert_uint_eq(pw_double_to_bf16(1 + 3 * ldexp(1, -8)), 0x3f82); /* even: up */
    ck_assert_uint_eq(pw_double_to_bf16(-(1 + ldexp(1, -8) + ldexp(1, -40))), 0xbf81); /* above */
    /* Through float, 1 + 2^-8 + 2^-40 would first become the tie and then round down. */
    ck_assert_uint_eq(pw_double_to_bf16(1 + ldexp(1, -8) + ldexp(1, -40)), 0x3f81);
    ck_assert_uint_eq(pw_double_to_f16(1 + ldexp(1, -11) + ldexp(1, -40)), 0x3c01);
    ck_assert_uint_eq(pw_double_to_f16(1 + ldexp(1, -11)), 0x3c00);
    /* Range ends of binary16: 65520 is the tie above 65504, subnormals in units of 2^-24. */
    ck_assert_uint_eq(pw_double_to_f16(65519.0), 0x7bff);
    ck_assert_uint_eq(pw_double_to_f16(65520.0), 0x7c00);
    ck_assert_uint_eq(pw_double_to_f16(-1e300), 0xfc00);
    ck_assert_uint_eq(pw_double_to_f16(ldexp(1, -25)), 0x0000);     /* tie: to even 0 */
    ck_assert_uint_eq(pw_double_to_f16(3 * ldexp(1, -25)), 0x0002); /* tie: to even 2 */
    ck_assert_uint_eq(pw_double_to_f16(ldexp(1, -25) * 1.5), 0x0001);
    ck_assert_uint_eq(pw_double_to_bf16(1e39), 0x7f80);
    ck_assert_uint_eq(pw_double_to_bf16(INFINITY), 0x7f80);
    ck_assert(isnan(pw_bf16_to_double(pw_double_to_bf16(NAN))));
}
END_TEST

START_TEST(modes_name_their_dtypes)
{
    pw_retain_mode m;
    ck_assert_int_eq(pw_retain_mode_parse("bf16", &m), 0);
    ck_assert_int_eq(m, PW_RETAIN_BF16);
    ck_assert_int_eq(pw_retain_mode_parse("EXACT", &m), -1);
    ck_assert_str_eq(pw_retain_mode_name(PW_RETAIN_F32), "f32");
    for (int dt = PW_DT_F16; dt <= PW_DT_F64; dt++)
        ck_assert_int_eq(pw_retain_dtype(PW_RETAIN_EXACT, (pw_dtype)dt), dt);
    ck_assert_int_eq(pw_retain_dtype(PW_RETAIN_F32, PW_DT_F64), PW_DT_F32);
    ck_assert_int_eq(pw_retain_dtype(PW_RETAIN_F32, PW_DT_BF16), PW_DT_BF16);
    ck_assert_int_eq(pw_retain_dtype(PW_RETAIN_BF16, PW_DT_F64), PW_DT_BF16);
    ck_assert_int_eq(pw_retain_dtype(PW_RETAIN_BF16, PW_DT_F32), PW_DT_BF16);
    ck_assert_int_eq(pw_retain_dtype(PW_RETAIN_BF16, PW_DT_F16), PW_DT_F16);
}
END_TEST

/* Copies ------------------------------------------------------------------------------------ */

/* Every layer of b holds, row for row, round(a's doubles) (round = identity for exact). */
static void assert_copy_of(const pw_ckpt *a, const pw_ckpt *b, pw_retain_mode m)
{
    ck_assert_uint_eq(pw_ckpt_nlayers(a), pw_ckpt_nlayers(b));
    for (size_t i = 0; i < pw_ckpt_nlayers(a); i++) {
        const pw_tensor *x = pw_ckpt_layer(a, i), *y = pw_ckpt_layer(b, i);
        ck_assert_str_eq(x->name, y->name);
        ck_assert_uint_eq(x->rows, y->rows);
        ck_assert_uint_eq(x->cols, y->cols);
        ck_assert_int_eq(y->dtype, pw_retain_dtype(m, x->dtype));
        size_t n = (size_t)(x->rows * x->cols);
        double *u = malloc(n * sizeof *u), *v = malloc(n * sizeof *v);
        pw_err e;
        PW_ASSERT_OK(pw_tensor_read_rows(x, 0, (size_t)x->rows, u, &e), &e);
        PW_ASSERT_OK(pw_tensor_read_rows(y, 0, (size_t)y->rows, v, &e), &e);
        for (size_t k = 0; k < n; k++) {
            double want = u[k];
            if (y->dtype == PW_DT_BF16 && x->dtype != PW_DT_BF16)
                want = pw_bf16_to_double(pw_double_to_bf16(u[k]));
            else if (y->dtype == PW_DT_F32 && x->dtype == PW_DT_F64)
                want = (float)u[k];
            ck_assert_msg(memcmp(&want, &v[k], sizeof want) == 0,
                          "layer %s value %zu: %.17g, expected %.17g", x->name, k, v[k], want);
        }
        free(u);
        free(v);
    }
}

/* Copy src under mode m to tmp/name, check its size and contents. */
static void check_copy(const char *src, pw_retain_mode m, const char *name)
{
    pw_ckpt *a = NULL, *b = NULL;
    pw_err e;
    PW_ASSERT_OK(pw_ckpt_open(&a, src, NULL, &e), &e);
    const char *dst = tf_path(name);
    pw_stwrite_meta meta[] = {{"pwccad_source", "1:/runs/a/x:7:8:9"}};
    uint64_t bytes;
    PW_ASSERT_OK(pw_retain_size(a, m, meta, 1, &bytes, &e), &e);
    PW_ASSERT_OK(pw_retain_write(dst, a, m, meta, 1, NULL, NULL, &e), &e);
    struct stat st;
    ck_assert_int_eq(stat(dst, &st), 0);
    ck_assert_uint_eq((uint64_t)st.st_size, bytes);
    PW_ASSERT_OK(pw_ckpt_open(&b, dst, NULL, &e), &e);
    ck_assert_str_eq(pw_ckpt_meta(b, "pwccad_retain"), pw_retain_mode_name(m));
    ck_assert_str_eq(pw_ckpt_meta(b, "pwccad_source"), "1:/runs/a/x:7:8:9");
    assert_copy_of(a, b, m);
    pw_ckpt_close(a);
    pw_ckpt_close(b);
}

/* A safetensors checkpoint with one layer of each dtype, one of them 4-D (NCHW). */
static const char *mixed_checkpoint(void)
{
    static double f64[15];
    static uint16_t bf[24], f16[12];
    static float f32[24];
    for (int i = 0; i < 24; i++) {
        double v = sin(i * 1.7) * 3.1 + 1e-3 * i;
        if (i < 15)
            f64[i] = v;
        bf[i] = pw_double_to_bf16(v);
        if (i < 12)
            f16[i] = pw_double_to_f16(v);
        f32[i] = (float)v;
    }
    static const uint64_t s64[] = {5, 3}, sbf[] = {2, 3, 2, 2}, s16[] = {6, 2},
                          s32[] = {2, 3, 2, 2};
    pw_stwrite_tensor t[] = {{"a", PW_DT_F64, 2, s64, f64},
                             {"b", PW_DT_BF16, 4, sbf, bf},
                             {"c", PW_DT_F16, 2, s16, f16},
                             {"d", PW_DT_F32, 4, s32, f32}};
    const char *path = tf_path("mixed.safetensors");
    pw_err e;
    PW_ASSERT_OK(pw_stwrite_file(path, t, 4, NULL, 0, &e), &e);
    return path;
}

START_TEST(exact_copies_give_the_engine_the_same_doubles)
{
    check_copy(mixed_checkpoint(), PW_RETAIN_EXACT, "mixed.exact.safetensors");
    check_copy(TF_DATA("f8_fortran.npy"), PW_RETAIN_EXACT, "fortran.safetensors");
    check_copy(TF_DATA("f2_be_3d.npy"), PW_RETAIN_EXACT, "be.safetensors");
    check_copy(TF_DATA("f4_4d.npy"), PW_RETAIN_EXACT, "nchw.safetensors");
    check_copy(TF_DATA("deflated.npz"), PW_RETAIN_EXACT, "npz.safetensors");
}
END_TEST

START_TEST(rounded_copies_hold_the_rounded_values)
{
    check_copy(mixed_checkpoint(), PW_RETAIN_F32, "mixed.f32.safetensors");
    check_copy(mixed_checkpoint(), PW_RETAIN_BF16, "mixed.bf16.safetensors");
    check_copy(TF_DATA("f8_fortran.npy"), PW_RETAIN_BF16, "fortran.bf16.safetensors");
}
END_TEST

static int dotfiles(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        n += de->d_name[0] == '.' && strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    closedir(d);
    return n;
}

static int always(void *ctx)
{
    (void)ctx;
    return 1;
}

START_TEST(a_failed_copy_leaves_nothing_half_written)
{
    pw_ckpt *a = NULL;
    pw_err e;
    PW_ASSERT_OK(pw_ckpt_open(&a, TF_DATA("f4_2d.npy"), NULL, &e), &e);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/failing", pw_test_tmpdir());
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    char dst[600];
    snprintf(dst, sizeof dst, "%s/5.safetensors", dir);
    tf_write(dst, "earlier", 7);
    PW_ASSERT_FAILS_WITH(pw_retain_write(dst, a, PW_RETAIN_EXACT, NULL, 0, always, NULL, &e), &e,
                         "abandoned");
    ck_assert_int_eq(dotfiles(dir), 0);
    size_t n;
    unsigned char *kept = tf_read(dst, &n);
    ck_assert(n == 7 && memcmp(kept, "earlier", 7) == 0);
    free(kept);
    PW_ASSERT_FAILS_WITH(pw_retain_write(tf_path("missing/dir/1.safetensors"), a, PW_RETAIN_EXACT,
                                         NULL, 0, NULL, NULL, &e),
                         &e, "missing/dir/1.safetensors");
    PW_ASSERT_FAILS_WITH(pw_retain_write(dst, a, PW_RETAIN_OFF, NULL, 0, NULL, NULL, &e), &e,
                         "retention is off");
    pw_ckpt_close(a);
}
END_TEST

/* Eviction ---------------------------------------------------------------------------------- */

/* Run the plan, check whether the newcomer is kept; returns the victims' steps as "s1,s2". */
static const char *plan(const pw_retain_copy *c, size_t n, pw_retain_copy in, uint64_t budget,
                        int want_keep)
{
    static char out[256];
    size_t v[32];
    int keep = -1;
    size_t nv = pw_retain_plan(c, n, &in, budget, v, &keep);
    ck_assert(nv != (size_t)-1 && nv <= n);
    ck_assert_int_eq(keep, want_keep);
    out[0] = '\0';
    for (size_t i = 0; i < nv; i++)
        snprintf(out + strlen(out), sizeof out - strlen(out), "%s%lld", i ? "," : "",
                 (long long)c[v[i]].step);
    return out;
}

START_TEST(nothing_is_evicted_while_the_budget_holds)
{
    pw_retain_copy c[] = {{1, 100, 10, 0}, {1, 200, 10, 0}};
    ck_assert_str_eq(plan(c, 2, (pw_retain_copy){1, 300, 10, 0}, 30, 1), "");
}
END_TEST

START_TEST(thinning_keeps_the_retained_steps_spread)
{
    /* Copies of steps 1..8 arrive one by one with room for four (as in test_retain.sh):
     * the oldest and the newest stay and the rest are thinned evenly. */
    pw_retain_copy c[16];
    size_t n = 0;
    for (int64_t step = 1; step <= 8; step++) {
        int keep;
        size_t v[16];
        pw_retain_copy in = {1, step, 1, 0};
        size_t nv = pw_retain_plan(c, n, &in, 4, v, &keep);
        ck_assert_int_eq(keep, 1);
        pw_retain_copy next[16];
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            int evicted = 0;
            for (size_t k = 0; k < nv; k++)
                evicted |= v[k] == i;
            if (!evicted)
                next[m++] = c[i];
        }
        next[m++] = in;
        memcpy(c, next, m * sizeof *c);
        n = m;
    }
    char got[64] = "";
    for (size_t i = 0; i < n; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? "," : "",
                 (long long)c[i].step);
    ck_assert_str_eq(got, "1,3,5,8");
}
END_TEST

START_TEST(the_newest_and_pinned_copies_stay)
{
    /* Interior 2 is thinned first; then 3 is pinned (the final) and 4 is the newest. */
    pw_retain_copy c[] = {{1, 1, 1, 0}, {1, 2, 1, 0}, {1, 3, 1, 1}};
    ck_assert_str_eq(plan(c, 3, (pw_retain_copy){1, 4, 1, 0}, 3, 1), "2");
    ck_assert_str_eq(plan(c, 3, (pw_retain_copy){1, 4, 1, 0}, 2, 1), "2,1");
    /* A single copy gives way to a newer one, but a copy larger than the budget is not kept. */
    pw_retain_copy one[] = {{1, 10, 5, 0}};
    ck_assert_str_eq(plan(one, 1, (pw_retain_copy){1, 20, 5, 0}, 5, 1), "10");
    ck_assert_str_eq(plan(one, 1, (pw_retain_copy){1, 20, 6, 0}, 5, 0), "");
}
END_TEST

START_TEST(a_late_copy_in_a_dense_stretch_is_not_kept)
{
    /* Step 2 arrives late between 1 and 3: it is the one thinning would remove, so
     * nothing else is evicted for it. */
    pw_retain_copy c[] = {{1, 1, 1, 0}, {1, 3, 1, 0}, {1, 5, 1, 0}};
    ck_assert_str_eq(plan(c, 3, (pw_retain_copy){1, 2, 1, 0}, 3, 0), "");
}
END_TEST

START_TEST(the_run_holding_most_gives_way)
{
    pw_retain_copy c[] = {{2, 1, 1, 0}, {2, 2, 1, 0}, {2, 3, 1, 0}, {2, 4, 1, 0}, {7, 1, 1, 0}};
    ck_assert_str_eq(plan(c, 5, (pw_retain_copy){7, 2, 1, 0}, 5, 1), "2");
    /* A lowered budget thins the existing copies even when the newcomer is refused. */
    ck_assert_str_eq(plan(c, 5, (pw_retain_copy){2, 0, 9, 0}, 3, 0), "2,3");
}
END_TEST

/* Configuration ----------------------------------------------------------------------------- */

START_TEST(config_keys_and_the_default_directory)
{
    pw_config c;
    pw_err e;
    pw_config_defaults(&c);
    ck_assert_int_eq(c.defaults.retain, PW_RETAIN_OFF);
    ck_assert_uint_eq(c.retain_budget_bytes, (uint64_t)PW_CFG_DEFAULT_RETAIN_MB << 20);
    PW_ASSERT_OK(pw_config_load_string(&c, "t.conf",
                                       "retain = exact\nretain_budget_mb = 0.5\n"
                                       "retain_dir = /srv/copies\n[run big]\nretain = bf16\n",
                                       &e),
                 &e);
    ck_assert_int_eq(pw_config_for_run(&c, "small", "/r/small")->retain, PW_RETAIN_EXACT);
    ck_assert_int_eq(pw_config_for_run(&c, "big", "/r/big")->retain, PW_RETAIN_BF16);
    ck_assert_uint_eq(c.retain_budget_bytes, 512u * 1024);
    ck_assert_str_eq(c.retain_dir, "/srv/copies");
    PW_ASSERT_FAILS_WITH(pw_config_load_string(&c, "t.conf", "retain = yes\n", &e), &e,
                         "t.conf:1: retain must be off, exact, f32 or bf16");
    PW_ASSERT_FAILS_WITH(pw_config_load_string(&c, "t.conf", "[run x]\nretain_dir = /a\n", &e), &e,
                         "t.conf:2: key 'retain_dir' cannot be set per run");
    PW_ASSERT_FAILS_WITH(pw_config_load_string(&c, "t.conf", "retain_budget_mb = -1\n", &e), &e,
                         "retain_budget_mb must be a size in MiB");
    pw_config_free(&c);

    char buf[256];
    PW_ASSERT_OK(pw_paths_retain(NULL, "/var/lib/pwccad/pwccad.db", buf, sizeof buf, &e), &e);
    ck_assert_str_eq(buf, "/var/lib/pwccad/retained");
    PW_ASSERT_OK(pw_paths_retain("/srv/x", "/var/lib/pwccad/pwccad.db", buf, sizeof buf, &e), &e);
    ck_assert_str_eq(buf, "/srv/x");
    PW_ASSERT_OK(pw_paths_retain(NULL, "local.db", buf, sizeof buf, &e), &e);
    ck_assert_str_eq(buf, "retained");
}
END_TEST

Suite *retain_suite(void)
{
    Suite *s = suite_create("retain");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, every_half_and_bfloat16_survives_the_round_trip);
    tcase_add_test(tc, rounding_is_to_nearest_even_without_double_rounding);
    tcase_add_test(tc, modes_name_their_dtypes);
    tcase_add_test(tc, exact_copies_give_the_engine_the_same_doubles);
    tcase_add_test(tc, rounded_copies_hold_the_rounded_values);
    tcase_add_test(tc, a_failed_copy_leaves_nothing_half_written);
    tcase_add_test(tc, nothing_is_evicted_while_the_budget_holds);
    tcase_add_test(tc, thinning_keeps_the_retained_steps_spread);
    tcase_add_test(tc, the_newest_and_pinned_copies_stay);
    tcase_add_test(tc, a_late_copy_in_a_dense_stretch_is_not_kept);
    tcase_add_test(tc, the_run_holding_most_gives_way);
    tcase_add_test(tc, config_keys_and_the_default_directory);
    suite_add_tcase(s, tc);
    return s;
}
