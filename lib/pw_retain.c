/* pw_retain.c -- writing a checkpoint's compact copy (see pw_retain.h).
 *
 * Every layer goes through pw_tensor_read_rows, the engine's own conversion
 * to double, a chunk of rows at a time, and is encoded into the copy's dtype.
 * Because that conversion is exact and the encoding of a value the dtype can
 * hold is exact too, an "exact" copy hands the engine the same doubles as
 * the original whatever the source's format, byte order or memory order.
 * Nothing the size of a layer is held in memory. */
#include "pw_retain.h"

#include "pw_afile.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RETAIN_CHUNK_BYTES (4u << 20) /* doubles converted per chunk, at least one row */

const char *pw_retain_mode_name(pw_retain_mode m)
{
    static const char *const names[] = {"off", "exact", "f32", "bf16"};
    return (unsigned)m < 4 ? names[m] : "?";
}

int pw_retain_mode_parse(const char *s, pw_retain_mode *m)
{
    for (int i = PW_RETAIN_OFF; i <= PW_RETAIN_BF16; i++)
        if (strcmp(s, pw_retain_mode_name((pw_retain_mode)i)) == 0) {
            *m = (pw_retain_mode)i;
            return 0;
        }
    return -1;
}

pw_dtype pw_retain_dtype(pw_retain_mode m, pw_dtype src)
{
    if (m == PW_RETAIN_F32 && src == PW_DT_F64)
        return PW_DT_F32;
    if (m == PW_RETAIN_BF16 && (src == PW_DT_F32 || src == PW_DT_F64))
        return PW_DT_BF16;
    return src;
}

/* v rounded to binary32 by round-to-odd: inexact results get their last bit
 * set.  A second rounding to a format with at most 22 significand bits is
 * then correctly rounded, which a plain (float)v followed by that rounding
 * is not (double rounding). */
static uint32_t f32_round_to_odd(double v)
{
    float f = (float)v;
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if (!isinf(f) && (double)f != v) {
        if (fabs((double)f) > fabs(v))
            u -= 1; /* (float)v rounded away from zero: step back toward it */
        u |= 1;
    }
    return u;
}

uint16_t pw_double_to_bf16(double v)
{
    if (isnan(v))
        return (uint16_t)(signbit(v) ? 0xffc0 : 0x7fc0);
    uint32_t u = f32_round_to_odd(v);
    /* Round the low 16 bits away, ties to even; a carry into the exponent is right,
     * up to the infinity. */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

uint16_t pw_double_to_f16(double v)
{
    if (isnan(v))
        return (uint16_t)(signbit(v) ? 0xfe00 : 0x7e00);
    uint32_t u = f32_round_to_odd(v);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a >= 0x477ff000u) /* >= 65520, half-way above the largest half 65504: infinity */
        return sign | 0x7c00u;
    if (a < 0x38800000u) { /* below 2^-14: a subnormal half, in units of 2^-24 */
        float f;
        memcpy(&f, &a, sizeof f);
        /* Scaling by a power of two is exact; nearbyintf rounds ties to even.
         * 1024 units is the smallest normal half, whose encoding is 0x400 too. */
        return sign | (uint16_t)nearbyintf(f * 16777216.0f);
    }
    /* Normal: rebias the exponent (127 -> 15) and round 23 mantissa bits to 10. */
    uint32_t h = a - 0x38000000u;
    h += 0xfffu + ((h >> 13) & 1u);
    return sign | (uint16_t)(h >> 13);
}

/* n doubles into dtype dt, little-endian, at out. */
static void encode(pw_dtype dt, const double *in, size_t n, unsigned char *out)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t bits;
        size_t w = pw_dtype_size(dt);
        if (dt == PW_DT_F64) {
            memcpy(&bits, &in[i], 8);
        } else if (dt == PW_DT_F32) {
            float f = (float)in[i];
            uint32_t b32;
            memcpy(&b32, &f, 4);
            bits = b32;
        } else {
            bits = dt == PW_DT_F16 ? pw_double_to_f16(in[i]) : pw_double_to_bf16(in[i]);
        }
        for (size_t b = 0; b < w; b++)
            out[i * w + b] = (unsigned char)(bits >> (8 * b));
    }
}

/* The header's tensor list: every layer as [rows, cols] in the copy's dtype. */
typedef struct copy_plan {
    pw_stwrite_tensor *t;  /* one per layer (heap) */
    uint64_t *shapes;      /* two extents per layer (heap) */
    pw_stwrite_meta *meta; /* "pwccad_retain" then the caller's (heap) */
    size_t n, nmeta;       /* layers / metadata entries */
    char *hdr;             /* length prefix and JSON header (heap) */
    size_t hlen;           /* its bytes */
    uint64_t data;         /* bytes of element data */
} copy_plan;

static void plan_free(copy_plan *p)
{
    if (!p)
        return;
    free(p->t);
    free(p->shapes);
    free(p->meta);
    free(p->hdr);
    free(p);
}

/* The header and sizes of c's copy under mode m; NULL (err says why) on failure. */
static copy_plan *plan_copy(const pw_ckpt *c, pw_retain_mode m, const pw_stwrite_meta *meta,
                            size_t nmeta, pw_err *err)
{
    const char *path = pw_ckpt_path(c);
    size_t n = pw_ckpt_nlayers(c);
    if (m == PW_RETAIN_OFF || n == 0) {
        pw_err_set(err, "%s: %s", path, n ? "retention is off" : "no layers to retain");
        return NULL;
    }
    copy_plan *p = calloc(1, sizeof *p);
    if (!p || !(p->t = calloc(n, sizeof *p->t)) ||
        !(p->shapes = calloc(2 * n, sizeof *p->shapes)) ||
        !(p->meta = calloc(nmeta + 1, sizeof *p->meta))) {
        plan_free(p);
        pw_err_set(err, "%s: out of memory planning its retained copy", path);
        return NULL;
    }
    p->n = n;
    p->nmeta = nmeta + 1;
    p->meta[0] = (pw_stwrite_meta){"pwccad_retain", pw_retain_mode_name(m)};
    for (size_t i = 0; i < nmeta; i++)
        p->meta[i + 1] = meta[i];
    for (size_t i = 0; i < n; i++) {
        const pw_tensor *l = pw_ckpt_layer(c, i);
        pw_dtype dt = pw_retain_dtype(m, l->dtype);
        uint64_t w = pw_dtype_size(dt);
        if (l->cols && l->rows > UINT64_MAX / l->cols / w) {
            pw_err_set(err, "%s: layer %s is too large to retain", path, l->name);
            plan_free(p);
            return NULL;
        }
        p->shapes[2 * i] = l->rows;
        p->shapes[2 * i + 1] = l->cols;
        p->t[i] = (pw_stwrite_tensor){l->name, dt, 2, &p->shapes[2 * i], NULL};
        p->data += l->rows * l->cols * w;
    }
    if (pw_stwrite_header(p->t, p->n, p->meta, p->nmeta, &p->hdr, &p->hlen, err)) {
        pw_err_prefix(err, "%s: retained copy", path);
        plan_free(p);
        return NULL;
    }
    return p;
}

int pw_retain_size(const pw_ckpt *c, pw_retain_mode m, const pw_stwrite_meta *meta, size_t nmeta,
                   uint64_t *bytes, pw_err *err)
{
    copy_plan *p = plan_copy(c, m, meta, nmeta, err);
    int rc = p ? 0 : -1;
    *bytes = p ? p->hlen + p->data : 0;
    plan_free(p);
    return rc;
}

/* Stream every layer's rows, converted, after the header. */
static int write_layers(pw_afile *f, const pw_ckpt *c, const copy_plan *p,
                        pw_retain_cancel_fn cancel, void *cancel_ctx, pw_err *err)
{
    double *rows = NULL;
    unsigned char *bytes = NULL;
    size_t cap = 0; /* doubles rows (and bytes, at 8 bytes each) hold */
    int rc = 0;
    for (size_t i = 0; i < p->n && rc == 0; i++) {
        const pw_tensor *l = pw_ckpt_layer(c, i);
        if (l->rows == 0 || l->cols == 0)
            continue;
        size_t w = pw_dtype_size(p->t[i].dtype);
        size_t per = RETAIN_CHUNK_BYTES / (8 * (size_t)l->cols);
        if (per == 0)
            per = 1;
        if (per * (size_t)l->cols > cap) {
            cap = per * (size_t)l->cols;
            free(rows);
            free(bytes);
            rows = malloc(cap * sizeof *rows);
            bytes = malloc(cap * 8);
        }
        if (!rows || !bytes) {
            rc = pw_err_set(err, "out of memory");
            break;
        }
        for (uint64_t r0 = 0; r0 < l->rows && rc == 0; r0 += per) {
            size_t k = l->rows - r0 < per ? (size_t)(l->rows - r0) : per;
            if (cancel && cancel(cancel_ctx)) {
                rc = pw_err_set(err, "abandoned");
            } else if (pw_tensor_read_rows(l, r0, k, rows, err) == 0) {
                encode(p->t[i].dtype, rows, k * (size_t)l->cols, bytes);
                rc = pw_afile_write(f, bytes, k * (size_t)l->cols * w, err);
            } else {
                rc = -1;
            }
        }
    }
    free(rows);
    free(bytes);
    return rc;
}

int pw_retain_write(const char *path, const pw_ckpt *c, pw_retain_mode m,
                    const pw_stwrite_meta *meta, size_t nmeta, pw_retain_cancel_fn cancel,
                    void *cancel_ctx, pw_err *err)
{
    copy_plan *p = plan_copy(c, m, meta, nmeta, err);
    if (!p)
        return -1;
    pw_afile f;
    int rc = pw_afile_open(&f, path, err);
    if (rc == 0)
        rc = pw_afile_write(&f, p->hdr, p->hlen, err);
    if (rc == 0)
        rc = write_layers(&f, c, p, cancel, cancel_ctx, err);
    if (rc == 0)
        rc = pw_afile_commit(&f, err);
    pw_afile_abort(&f);
    plan_free(p);
    if (rc < 0)
        return pw_err_prefix(err, "writing the retained copy of %s", pw_ckpt_path(c));
    return 0;
}
