/* test_afile.c -- a crash-safe write shows either the old file or the whole
 * new one under the target's name, and leaves no temporary behind. */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pw_afile.h"
#include "pw_test.h"

/* The file's bytes as a string (small files only). */
static void read_back(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* Dotfiles in dir: temporaries left behind. */
static int dotfiles(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert(d != NULL);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] == '.' && strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

START_TEST(commit_replaces_the_target_abort_keeps_it)
{
    char dir[512], path[600], got[64];
    snprintf(dir, sizeof dir, "%s/afile", pw_test_tmpdir());
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/out.bin", dir);
    pw_err e;
    pw_afile f;

    PW_ASSERT_OK(pw_afile_open(&f, path, &e), &e);
    PW_ASSERT_OK(pw_afile_write(&f, "first", 5, &e), &e);
    ck_assert_msg(access(path, F_OK) != 0, "the target appears before the commit");
    PW_ASSERT_OK(pw_afile_commit(&f, &e), &e);
    read_back(path, got, sizeof got);
    ck_assert_str_eq(got, "first");

    PW_ASSERT_OK(pw_afile_open(&f, path, &e), &e);
    PW_ASSERT_OK(pw_afile_write(&f, "second, half", 6, &e), &e);
    ck_assert_int_eq(dotfiles(dir), 1);
    pw_afile_abort(&f);
    read_back(path, got, sizeof got);
    ck_assert_str_eq(got, "first");
    ck_assert_int_eq(dotfiles(dir), 0);
    pw_afile_abort(&f); /* twice is harmless */
}
END_TEST

START_TEST(unusable_paths_are_named)
{
    pw_err e;
    pw_afile f;
    PW_ASSERT_FAILS_WITH(pw_afile_open(&f, "/nonexistent-dir/x.bin", &e), &e,
                         "/nonexistent-dir/x.bin: cannot create");
    PW_ASSERT_FAILS_WITH(pw_afile_open(&f, "somedir/", &e), &e, "not a usable file path");
    pw_afile_abort(&f);
}
END_TEST

Suite *afile_suite(void)
{
    Suite *s = suite_create("afile");
    TCase *tc = tcase_create("afile");
    tcase_add_test(tc, commit_replaces_the_target_abort_keeps_it);
    tcase_add_test(tc, unusable_paths_are_named);
    suite_add_tcase(s, tc);
    return s;
}
