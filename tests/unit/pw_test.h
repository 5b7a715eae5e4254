/* pw_test.h -- the small assert vocabulary the unit suites share, on top of Check.
 *
 * Every tests/unit/test_NAME.c defines `Suite *NAME_suite(void)`; the
 * Makefile lists them in suites.h and runner.c runs them all. */
#ifndef PW_TEST_H
#define PW_TEST_H

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* |a - b| <= tol, printing both values when it fails. */
#define PW_ASSERT_NEAR(a, b, tol)                                                                  \
    do {                                                                                           \
        double pw_a_ = (a), pw_b_ = (b);                                                           \
        ck_assert_msg(fabs(pw_a_ - pw_b_) <= (tol), "%s = %.17g, expected %.17g (tol %g)", #a,    \
                      pw_a_, pw_b_, (double)(tol));                                                \
    } while (0)

/* A call returning 0 on success; on failure prints the pw_err message. */
#define PW_ASSERT_OK(call, errp)                                                                   \
    do {                                                                                           \
        int pw_rc_ = (call);                                                                       \
        ck_assert_msg(pw_rc_ == 0, "%s failed: %s", #call, (errp)->msg);                          \
    } while (0)

/* A call that must fail with a message containing `needle`. */
#define PW_ASSERT_FAILS_WITH(call, errp, needle)                                                   \
    do {                                                                                           \
        int pw_rc_ = (call);                                                                       \
        ck_assert_msg(pw_rc_ != 0, "%s succeeded, expected failure mentioning '%s'", #call,       \
                      (needle));                                                                   \
        ck_assert_msg(strstr((errp)->msg, (needle)) != NULL, "%s: message '%s' lacks '%s'", #call, \
                      (errp)->msg, (needle));                                                      \
    } while (0)

/* Every suite's constructor (the generated list of tests/unit/test_*.c stems). */
#define PW_SUITE(name) Suite *name##_suite(void);
#include "suites.h"
#undef PW_SUITE

/* Directory of shared/reference (environment PW_REFERENCE, set by the Makefile). */
const char *pw_test_reference_dir(void);
/* A fresh empty temporary directory, removed with its contents at exit. */
const char *pw_test_tmpdir(void);

#endif
