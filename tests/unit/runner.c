/* runner.c -- runs every unit suite listed in the generated suites.h with Check.
 *
 * Usage: unit_tests [SUITE...]   (no argument: all suites)
 * Exit status 0 only when every test passed. */
#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pw_test.h"

typedef struct suite_entry {
    const char *name;     /* suite name, the test file's stem */
    Suite *(*make)(void); /* its constructor */
} suite_entry;

static const suite_entry suites[] = {
#define PW_SUITE(name) {#name, name##_suite},
#include "suites.h"
#undef PW_SUITE
};

static char tmpdir[64];    /* made once per process by pw_test_tmpdir */
static pid_t tmpdir_owner; /* only the process that made it removes it (Check forks) */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void remove_tmpdir(void)
{
    if (tmpdir[0] && getpid() == tmpdir_owner)
        nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *pw_test_tmpdir(void)
{
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/pwcca-unit.XXXXXX");
        if (!mkdtemp(tmpdir)) {
            perror("mkdtemp");
            exit(EXIT_FAILURE);
        }
        tmpdir_owner = getpid();
    }
    return tmpdir;
}

const char *pw_test_reference_dir(void)
{
    const char *d = getenv("PW_REFERENCE");
    return (d && *d) ? d : "../shared/reference";
}

int main(int argc, char **argv)
{
    SRunner *sr = NULL;
    size_t n = sizeof suites / sizeof suites[0];
    for (size_t i = 0; i < n; i++) {
        int wanted = argc < 2;
        for (int a = 1; a < argc; a++)
            wanted |= strcmp(argv[a], suites[i].name) == 0;
        if (!wanted)
            continue;
        if (!sr)
            sr = srunner_create(suites[i].make());
        else
            srunner_add_suite(sr, suites[i].make());
    }
    if (!sr) {
        fprintf(stderr, "no such suite\n");
        return 2;
    }
    pw_test_tmpdir();
    atexit(remove_tmpdir);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
