/* pw_zip.c -- bounded reading of zip archives for .npz (see pw_zip.h).
 *
 * Layout, from the end: [zip64 EOCD record][zip64 locator] EOCD [comment].
 * The EOCD is found by scanning back at most 22 + 65535 bytes for a
 * signature whose comment length reaches the end of the file exactly; the
 * zip64 record, when a locator precedes the EOCD, must sit right before the
 * locator (as every writer, numpy's included, puts it).  The central
 * directory must end exactly where the end records begin, every local header
 * must agree with its central entry, and member spans must not overlap.
 * Sizes come from the central directory, so members written with a data
 * descriptor (flag bit 3) need nothing else. */
#include "pw_zip.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ZLIB_CONST
#include <zlib.h>

#include "pw_name.h"

#define SIG_LOCAL    0x04034b50u
#define SIG_CENTRAL  0x02014b50u
#define SIG_EOCD     0x06054b50u
#define SIG_Z64_EOCD 0x06064b50u
#define SIG_Z64_LOC  0x07064b50u

#define EOCD_LEN     22u
#define Z64_EOCD_LEN 56u
#define Z64_LOC_LEN  20u
#define CENTRAL_LEN  46u
#define LOCAL_LEN    30u

#define FLAG_ENCRYPTED  0x0001u /* traditional PKWARE encryption */
#define FLAG_DESCRIPTOR 0x0008u /* sizes and CRC follow the data */
#define FLAG_STRONG     0x0040u /* strong encryption */
#define FLAG_CD_MASKED  0x2000u /* central directory encryption */

/* pw_err_set, with its -1 visible to the static analyzer (which cannot see
 * into pw_error.c and would otherwise follow error paths as if they went on). */
#define FAIL(...) (pw_err_set(err, __VA_ARGS__), -1)

/* deflate's best case is 258 bytes from 2 bits: no honest member inflates
 * more than 1032 times its compressed size (zlib's documented maximum). */
#define DEFLATE_MAX_RATIO 1032u
#define DEFLATE_SLACK     1024u

static uint32_t rd16(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t rd32(const unsigned char *p)
{
    return rd16(p) | rd16(p + 2) << 16;
}

static uint64_t rd64(const unsigned char *p)
{
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

void pw_zip_member_label(const pw_zip_member *m, char *buf, size_t cap)
{
    char shown[80];
    pw_name_printable(shown, sizeof shown, m->name, m->name_len);
    snprintf(buf, cap, "member '%s' at offset %llu", shown, (unsigned long long)m->lh_offset);
}

int pw_zip_find_end(const unsigned char *tail, size_t tail_len, uint64_t file_size, pw_zip_end *end,
                    pw_err *err)
{
    memset(end, 0, sizeof *end);
    if (tail_len > file_size)
        tail_len = (size_t)file_size;
    if (tail_len < EOCD_LEN)
        return pw_err_set(err,
                          "file is %llu bytes, too short for a zip end of central directory "
                          "record (truncated?)",
                          (unsigned long long)file_size);
    uint64_t base = file_size - tail_len; /* file offset of tail[0] */
    size_t i = tail_len - EOCD_LEN + 1, found = SIZE_MAX;
    while (i-- > 0 && tail_len - i <= EOCD_LEN + 0xffffu) {
        const unsigned char *e = tail + i;
        if (rd32(e) == SIG_EOCD && i + EOCD_LEN + rd16(e + 20) == tail_len) {
            found = i;
            break;
        }
    }
    if (found == SIZE_MAX)
        return pw_err_set(err,
                          "no zip end of central directory record at the end of the file (not a "
                          "zip archive, or truncated)");
    const unsigned char *e = tail + found;
    uint64_t eocd_off = base + found;
    uint64_t disk = rd16(e + 4), cd_disk = rd16(e + 6), n_disk = rd16(e + 8),
             n_total = rd16(e + 10), cd_size = rd32(e + 12), cd_off = rd32(e + 16);
    end->end_offset = eocd_off;

    if (found >= Z64_LOC_LEN && rd32(e - Z64_LOC_LEN) == SIG_Z64_LOC) {
        const unsigned char *loc = e - Z64_LOC_LEN;
        uint64_t rec_off = rd64(loc + 8);
        uint32_t ndisks = rd32(loc + 16);
        if (rd32(loc + 4) != 0 || ndisks > 1)
            return FAIL("multi-disk (split) zip archives are not supported");
        if (found < Z64_LOC_LEN + Z64_EOCD_LEN || rec_off != eocd_off - Z64_LOC_LEN - Z64_EOCD_LEN)
            return pw_err_set(err,
                              "zip64 end record offset %llu does not lie right before its "
                              "locator at offset %llu",
                              (unsigned long long)rec_off,
                              (unsigned long long)(eocd_off - Z64_LOC_LEN));
        const unsigned char *rec = loc - Z64_EOCD_LEN;
        if (rd32(rec) != SIG_Z64_EOCD)
            return FAIL("zip64 end record at offset %llu has a bad signature",
                        (unsigned long long)rec_off);
        if (rd64(rec + 4) != Z64_EOCD_LEN - 12)
            return pw_err_set(err,
                              "zip64 end record at offset %llu has extensible data (size %llu), "
                              "which is not supported",
                              (unsigned long long)rec_off, (unsigned long long)rd64(rec + 4));
        disk = rd32(rec + 16);
        cd_disk = rd32(rec + 20);
        n_disk = rd64(rec + 24);
        n_total = rd64(rec + 32);
        cd_size = rd64(rec + 40);
        cd_off = rd64(rec + 48);
        end->end_offset = rec_off;
    }
    if (disk != 0 || cd_disk != 0 || n_disk != n_total)
        return FAIL("multi-disk (split) zip archives are not supported");
    uint64_t cd_end;
    if (__builtin_add_overflow(cd_off, cd_size, &cd_end) || cd_end != end->end_offset)
        return pw_err_set(err,
                          "central directory at offset %llu, %llu bytes long, does not end where "
                          "the end records begin (offset %llu)",
                          (unsigned long long)cd_off, (unsigned long long)cd_size,
                          (unsigned long long)end->end_offset);
    end->cd_offset = cd_off;
    end->cd_size = cd_size;
    end->nentries = n_total;
    return 0;
}

/* The zip64 extended information field (id 0x0001) in an extra area, if any. */
static int find_zip64(const unsigned char *ex, size_t len, const unsigned char **z64, size_t *zlen,
                      const char *label, pw_err *err)
{
    *z64 = NULL;
    *zlen = 0;
    size_t pos = 0;
    while (len - pos >= 4) { /* fewer than 4 left: padding, as zipalign writes */
        uint32_t id = rd16(ex + pos), sz = rd16(ex + pos + 2);
        if (sz > len - pos - 4)
            return FAIL("%s: extra field 0x%04x of %u bytes runs past the extra area", label,
                        (unsigned)id, (unsigned)sz);
        if (id == 0x0001) {
            if (*z64)
                return FAIL("%s: two zip64 extra fields", label);
            *z64 = ex + pos + 4;
            *zlen = sz;
        }
        pos += 4 + (size_t)sz;
    }
    return 0;
}

/* Replace 0xFFFFFFFF/0xFFFF placeholders by their zip64 values, which come in
 * this order and only for the fields that need them.  off and disk may be NULL. */
static int apply_zip64(const unsigned char *z64, size_t zlen, uint64_t *usize, uint64_t *csize,
                       uint64_t *off, uint64_t *disk, const char *label, pw_err *err)
{
    int need = *usize == 0xffffffffu || *csize == 0xffffffffu || (off && *off == 0xffffffffu) ||
               (disk && *disk == 0xffffu);
    if (!need)
        return 0;
    if (!z64)
        return FAIL("%s: a size or offset is 0xFFFFFFFF but there is no zip64 extra "
                    "field",
                    label);
    size_t q = 0;
    uint64_t *fields[3] = {usize, csize, off};
    for (int k = 0; k < 3; k++) {
        if (!fields[k] || *fields[k] != 0xffffffffu)
            continue;
        if (zlen - q < 8)
            return FAIL("%s: zip64 extra field is too short", label);
        *fields[k] = rd64(z64 + q);
        q += 8;
    }
    if (disk && *disk == 0xffffu) {
        if (zlen - q < 4)
            return FAIL("%s: zip64 extra field is too short", label);
        *disk = rd32(z64 + q);
    }
    return 0;
}

static int read_central(pw_zip *z, pw_err *err)
{
    uint64_t pos = z->end.cd_offset, cd_end = z->end.cd_offset + z->end.cd_size;
    for (size_t i = 0; i < z->n; i++) {
        if (cd_end - pos < CENTRAL_LEN)
            return FAIL("central directory entry %zu at offset %llu is truncated", i,
                        (unsigned long long)pos);
        const unsigned char *p = z->buf + pos;
        if (rd32(p) != SIG_CENTRAL)
            return FAIL("central directory entry %zu at offset %llu has a bad "
                        "signature",
                        i, (unsigned long long)pos);
        pw_zip_member *m = &z->m[i];
        m->flags = rd16(p + 8);
        m->method = rd16(p + 10);
        m->crc = rd32(p + 16);
        m->csize = rd32(p + 20);
        m->usize = rd32(p + 24);
        uint64_t nlen = rd16(p + 28), elen = rd16(p + 30), clen = rd16(p + 32);
        uint64_t disk = rd16(p + 34);
        m->lh_offset = rd32(p + 42);
        if (cd_end - pos - CENTRAL_LEN < nlen + elen + clen)
            return FAIL("central directory entry %zu at offset %llu runs past the "
                        "directory",
                        i, (unsigned long long)pos);
        m->name = (const char *)p + CENTRAL_LEN;
        m->name_len = (size_t)nlen;
        char label[160];
        pw_zip_member_label(m, label, sizeof label);
        const unsigned char *z64;
        size_t zlen;
        if (find_zip64(p + CENTRAL_LEN + nlen, (size_t)elen, &z64, &zlen, label, err) != 0 ||
            apply_zip64(z64, zlen, &m->usize, &m->csize, &m->lh_offset, &disk, label, err) != 0)
            return -1;
        pw_zip_member_label(m, label, sizeof label); /* the offset may have been zip64 */
        if (disk != 0)
            return FAIL("%s: lies on disk %llu; multi-disk archives are not supported", label,
                        (unsigned long long)disk);
        if (m->flags & (FLAG_ENCRYPTED | FLAG_STRONG | FLAG_CD_MASKED))
            return FAIL("%s: is encrypted, refused", label);
        if (m->method != 0 && m->method != 8)
            return pw_err_set(err,
                              "%s: compression method %u is not supported (only stored and "
                              "deflate)",
                              label, m->method);
        if (m->method == 0 && m->csize != m->usize)
            return FAIL("%s: stored, but compressed size %llu differs from size %llu", label,
                        (unsigned long long)m->csize, (unsigned long long)m->usize);
        pos += CENTRAL_LEN + nlen + elen + clen;
    }
    if (pos != cd_end)
        return FAIL("central directory has %llu stray bytes after its %zu entries",
                    (unsigned long long)(cd_end - pos), z->n);
    return 0;
}

/* Check member m's local header against its central entry; set data_offset. */
static int read_local(const pw_zip *z, pw_zip_member *m, pw_err *err)
{
    char label[160];
    pw_zip_member_label(m, label, sizeof label);
    uint64_t limit = z->end.cd_offset; /* member data lies before the central directory */
    if (m->lh_offset > limit || limit - m->lh_offset < LOCAL_LEN)
        return pw_err_set(err,
                          "%s: local header lies outside the member area (central directory "
                          "starts at %llu)",
                          label, (unsigned long long)limit);
    const unsigned char *p = z->buf + m->lh_offset;
    if (rd32(p) != SIG_LOCAL)
        return FAIL("%s: bad local header signature", label);
    unsigned lflags = rd16(p + 6), lmethod = rd16(p + 8);
    uint32_t lcrc = rd32(p + 14);
    uint64_t lcsize = rd32(p + 18), lusize = rd32(p + 22);
    uint64_t nlen = rd16(p + 26), elen = rd16(p + 28);
    if (limit - m->lh_offset - LOCAL_LEN < nlen + elen)
        return FAIL("%s: local header runs into the central directory", label);
    if (nlen != m->name_len || (nlen > 0 && memcmp(p + LOCAL_LEN, m->name, (size_t)nlen) != 0))
        return FAIL("%s: local header names a different member", label);
    if (lmethod != m->method)
        return pw_err_set(err,
                          "%s: local header says compression method %u, the central directory "
                          "%u",
                          label, lmethod, m->method);
    if (lflags & (FLAG_ENCRYPTED | FLAG_STRONG))
        return FAIL("%s: is encrypted, refused", label);
    m->data_offset = m->lh_offset + LOCAL_LEN + nlen + elen;
    if (m->csize > limit - m->data_offset)
        return pw_err_set(err,
                          "%s: %llu bytes of data from offset %llu run past the start of the "
                          "central directory (%llu)",
                          label, (unsigned long long)m->csize, (unsigned long long)m->data_offset,
                          (unsigned long long)limit);
    if ((lflags | m->flags) & FLAG_DESCRIPTOR)
        return 0; /* local sizes are zero; the central directory's are authoritative */
    const unsigned char *z64;
    size_t zlen;
    if (find_zip64(p + LOCAL_LEN + nlen, (size_t)elen, &z64, &zlen, label, err) != 0)
        return -1;
    if ((lusize == 0xffffffffu || lcsize == 0xffffffffu) && z64 && zlen >= 16) {
        /* The local zip64 field holds both sizes whenever either needs it. */
        if (lusize == 0xffffffffu)
            lusize = rd64(z64);
        if (lcsize == 0xffffffffu)
            lcsize = rd64(z64 + 8);
    } else if (apply_zip64(z64, zlen, &lusize, &lcsize, NULL, NULL, label, err) != 0) {
        return -1;
    }
    if (lcrc != m->crc || lcsize != m->csize || lusize != m->usize)
        return pw_err_set(err,
                          "%s: local header (crc 0x%08x, %llu -> %llu bytes) disagrees with the "
                          "central directory (crc 0x%08x, %llu -> %llu bytes)",
                          label, (unsigned)lcrc, (unsigned long long)lcsize,
                          (unsigned long long)lusize, (unsigned)m->crc,
                          (unsigned long long)m->csize, (unsigned long long)m->usize);
    return 0;
}

/* The bytes one member occupies, from its local header to its data's end. */
typedef struct span {
    uint64_t start;         /* local header offset */
    uint64_t end;           /* one past the compressed data */
    const pw_zip_member *m; /* the member */
} span;

static int span_cmp(const void *a, const void *b)
{
    const span *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

/* Members may not share bytes: a member overlapping another is how
 * overlapping-file zip bombs multiply their output. */
static int check_overlap(const pw_zip *z, pw_err *err)
{
    if (z->n < 2)
        return 0;
    span *s = malloc(z->n * sizeof *s);
    if (!s)
        return FAIL("out of memory for %zu members", z->n);
    for (size_t i = 0; i < z->n; i++) /* end <= cd_offset: checked by read_local */
        s[i] = (span){z->m[i].lh_offset, z->m[i].data_offset + z->m[i].csize, &z->m[i]};
    qsort(s, z->n, sizeof *s, span_cmp);
    int rc = 0;
    for (size_t i = 0; i + 1 < z->n && rc == 0; i++)
        if (s[i].end > s[i + 1].start) {
            char a[160], b[160];
            pw_zip_member_label(s[i + 1].m, a, sizeof a);
            pw_zip_member_label(s[i].m, b, sizeof b);
            rc = pw_err_set(err, "%s: overlaps %s, which ends at %llu", a, b,
                            (unsigned long long)s[i].end);
        }
    free(s);
    return rc;
}

int pw_zip_open(pw_zip *z, const unsigned char *buf, uint64_t len, size_t max_members, pw_err *err)
{
    memset(z, 0, sizeof *z);
    if (len < EOCD_LEN)
        return pw_err_set(err,
                          "file is %llu bytes, too short for a zip end of central directory "
                          "record (truncated?)",
                          (unsigned long long)len);
    size_t tail = len < PW_ZIP_TAIL_MAX ? (size_t)len : PW_ZIP_TAIL_MAX;
    if (pw_zip_find_end(buf + len - tail, tail, len, &z->end, err) != 0)
        return -1;
    if (z->end.nentries > max_members)
        return FAIL("archive has %llu members, more than the %zu supported",
                    (unsigned long long)z->end.nentries, max_members);
    if (z->end.nentries > z->end.cd_size / CENTRAL_LEN)
        return FAIL("a central directory of %llu bytes cannot hold %llu entries",
                    (unsigned long long)z->end.cd_size, (unsigned long long)z->end.nentries);
    z->buf = buf;
    z->len = len;
    z->n = (size_t)z->end.nentries;
    z->m = calloc(z->n ? z->n : 1, sizeof *z->m);
    if (!z->m)
        return FAIL("out of memory for %zu members", z->n);
    int rc = read_central(z, err);
    for (size_t i = 0; rc == 0 && i < z->n; i++)
        rc = read_local(z, &z->m[i], err);
    if (rc == 0)
        rc = check_overlap(z, err);
    if (rc != 0)
        pw_zip_free(z);
    return rc;
}

void pw_zip_free(pw_zip *z)
{
    free(z->m);
    memset(z, 0, sizeof *z);
}

static uint32_t crc_of(const unsigned char *p, uint64_t n)
{
    uLong crc = crc32(0L, Z_NULL, 0);
    while (n > 0) {
        uInt chunk = n > 0x40000000u ? 0x40000000u : (uInt)n;
        crc = crc32(crc, p, chunk);
        p += chunk;
        n -= chunk;
    }
    return (uint32_t)crc;
}

/* Inflate exactly m->usize bytes from src into out; anything else is an error. */
static int inflate_exact(const pw_zip_member *m, const unsigned char *src, unsigned char *out,
                         const char *label, pw_err *err)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, -MAX_WBITS) != Z_OK)
        return FAIL("%s: cannot initialise zlib", label);
    uint64_t in_left = m->csize, out_left = m->usize;
    unsigned char probe[1];
    int probing = 0, rc = 0;
    for (;;) {
        if (zs.avail_in == 0 && in_left > 0) {
            zs.next_in = src;
            zs.avail_in = in_left > 0x40000000u ? 0x40000000u : (uInt)in_left;
            src += zs.avail_in;
            in_left -= zs.avail_in;
        }
        if (zs.avail_out == 0) {
            if (out_left > 0) {
                zs.next_out = out;
                zs.avail_out = out_left > 0x40000000u ? 0x40000000u : (uInt)out_left;
                out += zs.avail_out;
                out_left -= zs.avail_out;
            } else {
                /* Declared size reached: one more byte means the stream lied. */
                zs.next_out = probe;
                zs.avail_out = sizeof probe;
                probing = 1;
            }
        }
        int z = inflate(&zs, Z_NO_FLUSH);
        if (probing && zs.avail_out == 0) {
            rc = pw_err_set(err, "%s: inflates past its declared size %llu", label,
                            (unsigned long long)m->usize);
            break;
        }
        if (z == Z_STREAM_END) {
            uint64_t got = m->usize - out_left - (probing ? 0 : zs.avail_out);
            if (got != m->usize)
                rc = pw_err_set(err, "%s: inflates to %llu bytes, short of its declared size %llu",
                                label, (unsigned long long)got, (unsigned long long)m->usize);
            break;
        }
        if (z == Z_OK)
            continue;
        if (z == Z_BUF_ERROR && zs.avail_in == 0 && in_left == 0)
            rc = pw_err_set(err, "%s: deflate stream ends before its end marker (truncated data)",
                            label);
        else
            rc = pw_err_set(err, "%s: corrupt deflate data (%s)", label,
                            zs.msg ? zs.msg : "zlib error");
        break;
    }
    inflateEnd(&zs);
    return rc;
}

int pw_zip_extract(const pw_zip *z, size_t i, uint64_t cap, const unsigned char **data,
                   unsigned char **owned, pw_err *err)
{
    const pw_zip_member *m = &z->m[i];
    const unsigned char *src = z->buf + m->data_offset;
    char label[160];
    pw_zip_member_label(m, label, sizeof label);
    *data = NULL;
    *owned = NULL;
    if (m->method == 0) {
        uint32_t crc = crc_of(src, m->csize);
        if (crc != m->crc)
            return FAIL("%s: CRC-32 of the data is 0x%08x, the archive says 0x%08x", label,
                        (unsigned)crc, (unsigned)m->crc);
        *data = src;
        return 0;
    }
    if (m->usize > cap)
        return pw_err_set(err,
                          "%s: declares %llu bytes uncompressed, above the inflate cap of %llu "
                          "bytes",
                          label, (unsigned long long)m->usize, (unsigned long long)cap);
    uint64_t most;
    if (!__builtin_mul_overflow(m->csize, DEFLATE_MAX_RATIO, &most) &&
        !__builtin_add_overflow(most, DEFLATE_SLACK, &most) && m->usize > most)
        return pw_err_set(err,
                          "%s: declares %llu bytes from %llu compressed bytes, more than deflate "
                          "can produce",
                          label, (unsigned long long)m->usize, (unsigned long long)m->csize);
    if (m->usize > SIZE_MAX - 1)
        return FAIL("%s: %llu bytes do not fit in memory", label, (unsigned long long)m->usize);
    unsigned char *out = malloc(m->usize ? (size_t)m->usize : 1);
    if (!out)
        return FAIL("%s: cannot allocate %llu bytes to inflate it", label,
                    (unsigned long long)m->usize);
    if (inflate_exact(m, src, out, label, err) != 0) {
        free(out);
        return -1;
    }
    uint32_t crc = crc_of(out, m->usize);
    if (crc != m->crc) {
        free(out);
        return FAIL("%s: CRC-32 of the inflated data is 0x%08x, the archive says "
                    "0x%08x",
                    label, (unsigned)crc, (unsigned)m->crc);
    }
    *data = out;
    *owned = out;
    return 0;
}
