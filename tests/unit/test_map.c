/* test_map.c -- a mapped file truncated under its reader.
 *
 * Another local user can truncate a checkpoint while pwccad reads it; the
 * pages past the new end then raise SIGBUS, which used to kill the daemon.
 * pw_map turns that into zeros plus a flag (pw_map_faulted) the reader
 * checks, on any thread -- and leaves every other SIGBUS fatal. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pw_checkpoint.h"
#include "pw_engine.h"
#include "pw_map.h"
#include "pw_test.h"
#include "pw_testfile.h"

/* A file of `bytes` bytes, each 0xAB. */
static const char *filled_file(const char *name, size_t bytes)
{
    const char *path = tf_path(name);
    unsigned char *b = malloc(bytes);
    ck_assert(b != NULL);
    memset(b, 0xAB, bytes);
    tf_write(path, b, bytes);
    free(b);
    return path;
}

/* Read one byte through a volatile pointer, so the compiler cannot skip it. */
static unsigned char peek(const pw_map *m, size_t off)
{
    return ((const volatile unsigned char *)m->data)[off];
}

START_TEST(truncated_mapping_reads_zeros_and_is_flagged)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const char *path = filled_file("shrinks.bin", 4 * page);
    const char *other_path = filled_file("stays.bin", 4 * page);
    pw_map m, other;
    pw_err err;
    PW_ASSERT_OK(pw_map_open(&m, path, &err), &err);
    PW_ASSERT_OK(pw_map_open(&other, other_path, &err), &err);
    ck_assert_uint_eq(peek(&m, 0), 0xAB);
    ck_assert_int_eq(pw_map_faulted(&m), 0);
    ck_assert_int_eq(truncate(path, 100), 0);
    /* Past the new end: zeros and the flag instead of SIGBUS. */
    ck_assert_uint_eq(peek(&m, 2 * page + 7), 0);
    ck_assert_int_eq(pw_map_faulted(&m), 1);
    ck_assert_uint_eq(peek(&m, 4 * page - 1), 0);
    ck_assert_uint_eq(peek(&m, 3 * page), 0);
    /* Other mappings are not affected. */
    ck_assert_uint_eq(peek(&other, 3 * page), 0xAB);
    ck_assert_int_eq(pw_map_faulted(&other), 0);
    pw_map_close(&m);
    ck_assert_int_eq(pw_map_faulted(&m), 0);
    /* The slot is free again; a new mapping of the shrunk file starts clean. */
    PW_ASSERT_OK(pw_map_open(&m, path, &err), &err);
    ck_assert_uint_eq(m.size, 100);
    ck_assert_int_eq(pw_map_faulted(&m), 0);
    pw_map_close(&m);
    pw_map_close(&other);
}
END_TEST

/* Many mappings at once: the handler's table grows past one segment. */
START_TEST(many_mappings_are_all_guarded)
{
    enum { N = 150 };
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    static pw_map maps[N];
    pw_err err;
    const char *path = filled_file("many.bin", 2 * page);
    for (int i = 0; i < N; i++)
        PW_ASSERT_OK(pw_map_open(&maps[i], path, &err), &err);
    ck_assert_int_eq(truncate(path, 0), 0);
    for (int i = 0; i < N; i += 7) {
        ck_assert_uint_eq(peek(&maps[i], page + 1), 0);
        ck_assert_int_eq(pw_map_faulted(&maps[i]), 1);
    }
    ck_assert_int_eq(pw_map_faulted(&maps[1]), 0); /* not read since */
    for (int i = 0; i < N; i++)
        pw_map_close(&maps[i]);
}
END_TEST

/* What a Gram lane does: sweep the mapping on a thread of its own. */
typedef struct sweeper {
    const pw_map *m;    /* the mapping */
    uint64_t sum;       /* bytes summed */
    atomic_int started; /* 1 once the first pass began */
} sweeper;

static void *sweep_main(void *arg)
{
    sweeper *s = arg;
    const volatile unsigned char *d = s->m->data;
    for (int pass = 0; pass < 200; pass++) {
        atomic_store(&s->started, 1);
        for (size_t i = 0; i < s->m->size; i += 512)
            s->sum += d[i];
        usleep(100);
    }
    return NULL;
}

START_TEST(a_reader_thread_survives_a_truncation)
{
    size_t bytes = 64 * (size_t)sysconf(_SC_PAGESIZE);
    const char *path = filled_file("racing.bin", bytes);
    pw_map m;
    pw_err err;
    PW_ASSERT_OK(pw_map_open(&m, path, &err), &err);
    sweeper s = {.m = &m};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, sweep_main, &s), 0);
    while (!atomic_load(&s.started))
        usleep(100);
    ck_assert_int_eq(truncate(path, 10), 0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_int_eq(pw_map_faulted(&m), 1);
    pw_map_close(&m);
}
END_TEST

/* A .npy of n x p doubles (the i-th value i % 97 + row / 7). */
static void write_npy(const char *path, size_t n, size_t p)
{
    char dict[128];
    int len = snprintf(dict, sizeof dict,
                       "{'descr': '<f8', 'fortran_order': False, 'shape': (%zu, %zu), }", n, p);
    size_t hl = 10 + (size_t)len + 1, pad = (64 - hl % 64) % 64;
    tf_buf b = {0};
    tf_put(&b, "\x93NUMPY\x01\x00", 8);
    tf_le(&b, (uint64_t)len + pad + 1, 2);
    tf_put(&b, dict, (size_t)len);
    for (size_t i = 0; i < pad; i++)
        tf_put(&b, " ", 1);
    tf_put(&b, "\n", 1);
    for (size_t i = 0; i < n * p; i++) {
        double v = (double)(i % 97) + (double)(i / p) / 7.0;
        tf_put(&b, &v, sizeof v);
    }
    tf_write(path, b.p, b.n);
    tf_free(&b);
}

START_TEST(a_comparison_over_a_truncated_checkpoint_ends_and_is_void)
{
    const char *path = tf_path("act.npy");
    write_npy(path, 20000, 16);
    pw_ckpt *c;
    pw_err err;
    PW_ASSERT_OK(pw_ckpt_open(&c, path, NULL, &err), &err);
    ck_assert_int_eq(pw_ckpt_truncated(c), 0);
    ck_assert_int_eq(truncate(path, 4096), 0);
    pw_rows x = pw_rows_from_tensor(pw_ckpt_layer(c, 0));
    pw_result r;
    /* It ends (with whatever the zeros give) instead of killing the process... */
    if (pw_engine_compare(&x, &x, PW_M_ALL, NULL, NULL, &r, &err) == 0)
        pw_result_free(&r);
    /* ...and says that it read a truncated file. */
    ck_assert_int_eq(pw_ckpt_truncated(c), 1);
    pw_ckpt_close(c);
}
END_TEST

/* A SIGBUS that is not from a registered mapping still kills (Check expects SIGBUS). */
START_TEST(other_sigbus_stays_fatal)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const char *path = filled_file("raw.bin", 2 * page);
    pw_map m;
    pw_err err;
    PW_ASSERT_OK(pw_map_open(&m, path, &err), &err); /* installs the handler */
    FILE *f = fopen(path, "rb");
    ck_assert(f != NULL);
    const volatile unsigned char *raw = mmap(NULL, 2 * page, PROT_READ, MAP_PRIVATE, fileno(f), 0);
    ck_assert(raw != MAP_FAILED);
    ck_assert_int_eq(truncate(path, 0), 0);
    (void)raw[page + 1]; /* not ours: must die */
    ck_abort_msg("reading past the end of an unregistered mapping did not raise SIGBUS");
}
END_TEST

Suite *map_suite(void)
{
    Suite *s = suite_create("map");
    TCase *tc = tcase_create("truncation");
    tcase_add_test(tc, truncated_mapping_reads_zeros_and_is_flagged);
    tcase_add_test(tc, many_mappings_are_all_guarded);
    tcase_add_test(tc, a_reader_thread_survives_a_truncation);
    tcase_add_test(tc, a_comparison_over_a_truncated_checkpoint_ends_and_is_void);
    /* Under ASan the previous handler is ASan's, which reports and aborts instead. */
#if !defined(__SANITIZE_ADDRESS__)
    tcase_add_test_raise_signal(tc, other_sigbus_stays_fatal, SIGBUS);
#else
    (void)other_sigbus_stays_fatal;
#endif
    suite_add_tcase(s, tc);
    return s;
}
