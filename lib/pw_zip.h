/* pw_zip.h -- the zip container, as far as .npz needs it: the end records
 * (including zip64), the central directory, local headers, and extraction of
 * stored and deflated members with hard bounds.
 *
 * Every offset and length read from the archive is checked against the
 * buffer with overflow-safe arithmetic before it is used.  Members must not
 * overlap (which defeats overlapping-member zip bombs); a deflated member may
 * not declare more than a caller-given cap, nor more than deflate can
 * produce from its compressed size, and must inflate to exactly its
 * declared size with a matching CRC-32.  Offsets are absolute: archives with
 * data prepended (self-extractors) are refused.
 *
 * Messages never carry the archive's name; the caller prefixes it.  Member
 * names appear as "member 'NAME' at offset N" with N its local header. */
#ifndef PW_ZIP_H
#define PW_ZIP_H

#include <stddef.h>
#include <stdint.h>

#include "pw_error.h"

/* Bytes from the end of a file that can hold the end records: the 22-byte
 * EOCD, its comment of up to 65535 bytes, and a 56-byte zip64 EOCD record
 * with its 20-byte locator in front. */
#define PW_ZIP_TAIL_MAX (22u + 65535u + 56u + 20u)

/* Where the central directory is, from the end records. */
typedef struct pw_zip_end {
    uint64_t cd_offset;  /* first byte of the central directory */
    uint64_t cd_size;    /* its length in bytes */
    uint64_t nentries;   /* number of members */
    uint64_t end_offset; /* first byte of the end records (zip64 record or EOCD) */
} pw_zip_end;

/* One member, from the central directory, checked against its local header. */
typedef struct pw_zip_member {
    const char *name;     /* member name as stored, not NUL-terminated; points into the archive */
    size_t name_len;      /* its length */
    unsigned method;      /* 0 stored, 8 deflate */
    unsigned flags;       /* general purpose bit flags */
    uint32_t crc;         /* CRC-32 of the uncompressed bytes */
    uint64_t csize;       /* compressed size */
    uint64_t usize;       /* uncompressed size */
    uint64_t lh_offset;   /* local header */
    uint64_t data_offset; /* first byte of the (compressed) data */
} pw_zip_member;

typedef struct pw_zip {
    const unsigned char *buf; /* the whole archive, borrowed */
    uint64_t len;             /* its length */
    pw_zip_end end;           /* end records */
    size_t n;                 /* number of members */
    pw_zip_member *m;         /* members in central directory order */
} pw_zip;

/* Find and check the end records in the last tail_len bytes of a file of
 * file_size bytes (tail_len >= min(file_size, PW_ZIP_TAIL_MAX) to be sure to
 * find them): exactly one disk, and a central directory that lies inside the
 * file and ends where the end records begin. */
int pw_zip_find_end(const unsigned char *tail, size_t tail_len, uint64_t file_size, pw_zip_end *end,
                    pw_err *err);

/* Read the central directory and every local header of buf[0..len), at most
 * max_members members.  Fills z; pw_zip_free releases it. */
int pw_zip_open(pw_zip *z, const unsigned char *buf, uint64_t len, size_t max_members, pw_err *err);
void pw_zip_free(pw_zip *z);

/* The uncompressed bytes of member i.  Stored members are returned in place
 * (*owned = NULL); deflated ones are inflated into a malloc'd buffer returned
 * in both *data and *owned (free it).  Refuses a declared size above cap
 * before allocating, and checks size and CRC-32 afterwards. */
int pw_zip_extract(const pw_zip *z, size_t i, uint64_t cap, const unsigned char **data,
                   unsigned char **owned, pw_err *err);

/* "member 'NAME' at offset N" for messages (NAME made printable), into buf. */
void pw_zip_member_label(const pw_zip_member *m, char *buf, size_t cap);

#endif
