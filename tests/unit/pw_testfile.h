/* pw_testfile.h -- byte buffers and small files for the reader suites.
 *
 * The reader tests craft safetensors, npy and zip images byte by byte; this
 * header holds the little they share: a growable buffer with little-endian
 * writers, temporary file paths and whole-file reads and writes.  Everything
 * is static so each suite stays one translation unit. */
#ifndef PW_TESTFILE_H
#define PW_TESTFILE_H

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pw_test.h"

typedef struct tf_buf {
    unsigned char *p; /* bytes */
    size_t n;         /* used */
    size_t cap;       /* allocated */
} tf_buf;

static inline void tf_put(tf_buf *b, const void *data, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        ck_assert_ptr_nonnull(b->p);
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->n, data, n);
    b->n += n;
}

static inline void tf_str(tf_buf *b, const char *s)
{
    tf_put(b, s, strlen(s));
}

static inline void tf_le(tf_buf *b, uint64_t v, int bytes)
{
    unsigned char x[8];
    for (int i = 0; i < bytes; i++)
        x[i] = (unsigned char)(v >> (8 * i));
    tf_put(b, x, (size_t)bytes);
}

static inline void tf_free(tf_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* A path in the suite's temporary directory; the last 8 results stay valid. */
static inline const char *tf_path(const char *name)
{
    static char ring[8][512];
    static int next;
    char *p = ring[next++ % 8];
    snprintf(p, sizeof ring[0], "%s/%s", pw_test_tmpdir(), name);
    return p;
}

static inline void tf_write(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

/* Whole file into a malloc'd buffer (free it); *n gets its size. */
static inline unsigned char *tf_read(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    tf_buf b = {0};
    unsigned char chunk[4096];
    size_t r;
    while ((r = fread(chunk, 1, sizeof chunk, f)) > 0)
        tf_put(&b, chunk, r);
    fclose(f);
    *n = b.n;
    if (!b.p)
        b.p = malloc(1);
    return b.p;
}

/* The value every fixture holds at C-order index k (see tests/data/make_data.py). */
static inline double tf_ramp(uint64_t k)
{
    return (double)k * 0.25 - 1.5;
}

/* IEEE binary16 bits of a double known to be exactly representable as a normal half. */
static inline uint16_t tf_half(double v)
{
    if (v == 0)
        return 0;
    uint16_t sign = v < 0 ? 0x8000 : 0;
    double a = v < 0 ? -v : v;
    int e = 0;
    while (a >= 2) {
        a /= 2;
        e++;
    }
    while (a < 1) {
        a *= 2;
        e--;
    }
    return (uint16_t)(sign | (uint16_t)((e + 15) << 10) | (uint16_t)((a - 1) * 1024));
}

/* bfloat16 bits of a float known to be exactly representable. */
static inline uint16_t tf_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)(u >> 16);
}

/* Fixtures written by tests/data/make_data.py; the runner starts in the repository root. */
#define TF_DATA(name) ("tests/data/" name)

/* An .npy image: magic, version major.0, header length, the dict padded with
 * spaces and a newline to a multiple of 64 bytes as numpy does, then data. */
static inline tf_buf tf_npy(int major, const char *dict, const void *data, size_t n)
{
    tf_buf b = {0};
    static const unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
    tf_put(&b, magic, 6);
    unsigned char ver[2] = {(unsigned char)major, 0};
    tf_put(&b, ver, 2);
    size_t lenbytes = major == 1 ? 2 : 4, pre = 8 + lenbytes + strlen(dict) + 1;
    size_t pad = (64 - pre % 64) % 64;
    tf_le(&b, strlen(dict) + pad + 1, (int)lenbytes);
    tf_str(&b, dict);
    for (size_t i = 0; i < pad; i++)
        tf_put(&b, " ", 1);
    tf_put(&b, "\n", 1);
    tf_put(&b, data, n);
    return b;
}

#endif
