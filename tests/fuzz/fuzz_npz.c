/* fuzz_npz.c -- libFuzzer target for the .npz reader and the zip container:
 * the full parse with a small inflate cap, the end-record check of
 * pw_ckpt_is_complete, then every row of every layer.
 *
 * A fuzzer cannot forge CRC-32s, so most mutated members would stop at the
 * CRC check and the .npy parser inside would go unexplored.  When the
 * container parses, a second round therefore runs on a copy whose CRC fields
 * are patched to match the members' actual bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "fuzz_common.h"
#include "pw_npz.h"

#define CAP (1u << 20) /* inflate cap for the fuzzer's members */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parse_and_read(const uint8_t *data, size_t size)
{
    pw_err e;
    pw_npz z;
    if (pw_npz_parse(&z, data, size, size & 1, CAP, &e) == 0) {
        for (size_t i = 0; i < z.n; i++)
            fuzz_read_all(&z.tensors[i]);
        pw_npz_free(&z);
    }
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* CRC-32 of member m's uncompressed bytes, or -1 when they cannot be had. */
static int64_t member_crc(const pw_zip *zip, size_t i)
{
    const unsigned char *bytes;
    unsigned char *owned;
    pw_err e;
    const pw_zip_member *m = &zip->m[i];
    if (m->method == 0)
        return (int64_t)crc32(0, zip->buf + m->data_offset, (uInt)m->csize);
    /* pw_zip_extract checks the CRC last: inflate with it, then recompute */
    if (pw_zip_extract(zip, i, CAP, &bytes, &owned, &e) == 0) {
        free(owned);
        return m->crc;
    }
    if (!strstr(e.msg, "CRC-32 of the inflated data is 0x"))
        return -1;
    return (int64_t)strtoul(strstr(e.msg, "0x") + 2, NULL, 16);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parse_and_read(data, size);

    pw_err e;
    pw_zip_end end;
    size_t tail = size < PW_ZIP_TAIL_MAX ? size : PW_ZIP_TAIL_MAX;
    if (size > 0)
        pw_zip_find_end(data + size - tail, tail, size, &end, &e);

    pw_zip zip;
    if (pw_zip_open(&zip, data, size, PW_NPZ_MAX_MEMBERS, &e) != 0)
        return 0;
    uint8_t *copy = malloc(size);
    if (!copy) {
        pw_zip_free(&zip);
        return 0;
    }
    memcpy(copy, data, size);
    uint64_t pos = zip.end.cd_offset;
    for (size_t i = 0; i < zip.n; i++) {
        const uint8_t *c = data + pos; /* central entry i, already validated */
        int64_t crc = member_crc(&zip, i);
        if (crc >= 0) {
            put32(copy + pos + 16, (uint32_t)crc);
            if (!(zip.m[i].flags & 8))
                put32(copy + zip.m[i].lh_offset + 14, (uint32_t)crc);
        }
        pos += 46u + (c[28] | c[29] << 8) + (c[30] | c[31] << 8) + (c[32] | c[33] << 8);
    }
    pw_zip_free(&zip);
    parse_and_read(copy, size);
    free(copy);
    return 0;
}
