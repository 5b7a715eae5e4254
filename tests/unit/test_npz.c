/* test_npz.c -- the .npz reader and the zip container under it: stored and
 * deflated members with every zip64 variant and data descriptors, real numpy
 * archives, and refusal of path-like names, encryption, zip bombs, bad CRCs
 * and lying structure. */
#include <string.h>
#include <zlib.h>

#include "pw_checkpoint.h"
#include "pw_npz.h"
#include "pw_testfile.h"

/* One member as the test builds it. */
typedef struct zmember {
    const char *name;          /* member name */
    size_t name_len;           /* its length; 0 means strlen(name) */
    const unsigned char *data; /* uncompressed bytes */
    size_t n;                  /* their length */
    int method;                /* 0 stored, 8 deflate, anything else as given */
    int descriptor;            /* flag bit 3: CRC and sizes follow the data */
    int zip64_local;           /* 1: local sizes 0xFFFFFFFF + zip64 field; 2: numpy's way */
    int zip64_central;         /* central sizes and offset 0xFFFFFFFF + zip64 field */
    long long usize_delta;     /* lie about the uncompressed size (both headers) */
    uint32_t crc_xor;          /* lie about the CRC (both headers) */
    unsigned flags;            /* extra general purpose flags */
    const unsigned char *raw;  /* compressed bytes to store instead of the real ones */
    size_t nraw;               /* their length */
} zmember;

static tf_buf deflate_raw(const void *p, size_t n)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    ck_assert_int_eq(deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    tf_buf b = {0};
    size_t cap = deflateBound(&zs, (uLong)n);
    b.p = malloc(cap);
    b.cap = cap;
    zs.next_in = (Bytef *)(uintptr_t)p;
    zs.avail_in = (uInt)n;
    zs.next_out = b.p;
    zs.avail_out = (uInt)cap;
    ck_assert_int_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
    b.n = cap - zs.avail_out;
    deflateEnd(&zs);
    return b;
}

/* A zip of the members, optionally with zip64 end records. */
static tf_buf zip_build(const zmember *m, size_t count, int zip64_end)
{
    tf_buf z = {0};
    uint64_t offs[16];
    tf_buf comp[16];
    ck_assert_uint_le(count, 16);
    for (size_t i = 0; i < count; i++) {
        const zmember *e = &m[i];
        size_t nlen = e->name_len ? e->name_len : strlen(e->name);
        memset(&comp[i], 0, sizeof comp[i]);
        if (e->raw)
            tf_put(&comp[i], e->raw, e->nraw);
        else if (e->method == 8)
            comp[i] = deflate_raw(e->data, e->n);
        else
            tf_put(&comp[i], e->data, e->n);
        uint32_t crc = (uint32_t)crc32(0, e->data, (uInt)e->n) ^ e->crc_xor;
        uint64_t usize = (uint64_t)((long long)e->n + e->usize_delta), csize = comp[i].n;
        unsigned flags = e->flags | (e->descriptor ? 8u : 0u);
        offs[i] = z.n;
        tf_le(&z, 0x04034b50, 4);
        tf_le(&z, e->zip64_local ? 45 : 20, 2);
        tf_le(&z, flags, 2);
        tf_le(&z, (uint64_t)e->method, 2);
        tf_le(&z, 0, 2);
        tf_le(&z, 0x21, 2);
        tf_le(&z, e->descriptor ? 0 : crc, 4);
        int ff = e->zip64_local == 1;
        tf_le(&z, e->descriptor ? 0 : ff ? 0xffffffffu : csize, 4);
        tf_le(&z, e->descriptor ? 0 : ff ? 0xffffffffu : usize, 4);
        tf_le(&z, nlen, 2);
        tf_le(&z, e->zip64_local ? 20 : 0, 2);
        tf_put(&z, e->name, nlen);
        if (e->zip64_local) {
            tf_le(&z, 1, 2);
            tf_le(&z, 16, 2);
            tf_le(&z, e->descriptor ? 0 : usize, 8);
            tf_le(&z, e->descriptor ? 0 : csize, 8);
        }
        tf_put(&z, comp[i].p, comp[i].n);
        if (e->descriptor) {
            tf_le(&z, 0x08074b50, 4);
            tf_le(&z, crc, 4);
            tf_le(&z, csize, 4);
            tf_le(&z, usize, 4);
        }
    }
    uint64_t cd_off = z.n;
    for (size_t i = 0; i < count; i++) {
        const zmember *e = &m[i];
        size_t nlen = e->name_len ? e->name_len : strlen(e->name);
        uint32_t crc = (uint32_t)crc32(0, e->data, (uInt)e->n) ^ e->crc_xor;
        uint64_t usize = (uint64_t)((long long)e->n + e->usize_delta), csize = comp[i].n;
        int ff = e->zip64_central;
        tf_le(&z, 0x02014b50, 4);
        tf_le(&z, 0x031e, 2);
        tf_le(&z, ff ? 45 : 20, 2);
        tf_le(&z, e->flags | (e->descriptor ? 8u : 0u), 2);
        tf_le(&z, (uint64_t)e->method, 2);
        tf_le(&z, 0, 2);
        tf_le(&z, 0x21, 2);
        tf_le(&z, crc, 4);
        tf_le(&z, ff ? 0xffffffffu : csize, 4);
        tf_le(&z, ff ? 0xffffffffu : usize, 4);
        tf_le(&z, nlen, 2);
        tf_le(&z, ff ? 28 : 0, 2);
        tf_le(&z, 0, 2);
        tf_le(&z, 0, 2);
        tf_le(&z, 0, 2);
        tf_le(&z, 0, 4);
        tf_le(&z, ff ? 0xffffffffu : offs[i], 4);
        tf_put(&z, e->name, nlen);
        if (ff) {
            tf_le(&z, 1, 2);
            tf_le(&z, 24, 2);
            tf_le(&z, usize, 8);
            tf_le(&z, csize, 8);
            tf_le(&z, offs[i], 8);
        }
        tf_free(&comp[i]);
    }
    uint64_t cd_size = z.n - cd_off;
    if (zip64_end) {
        uint64_t rec = z.n;
        tf_le(&z, 0x06064b50, 4);
        tf_le(&z, 44, 8);
        tf_le(&z, 45, 2);
        tf_le(&z, 45, 2);
        tf_le(&z, 0, 4);
        tf_le(&z, 0, 4);
        tf_le(&z, count, 8);
        tf_le(&z, count, 8);
        tf_le(&z, cd_size, 8);
        tf_le(&z, cd_off, 8);
        tf_le(&z, 0x07064b50, 4);
        tf_le(&z, 0, 4);
        tf_le(&z, rec, 8);
        tf_le(&z, 1, 4);
    }
    tf_le(&z, 0x06054b50, 4);
    tf_le(&z, 0, 2);
    tf_le(&z, 0, 2);
    tf_le(&z, zip64_end ? 0xffff : count, 2);
    tf_le(&z, zip64_end ? 0xffff : count, 2);
    tf_le(&z, zip64_end ? 0xffffffffu : cd_size, 4);
    tf_le(&z, zip64_end ? 0xffffffffu : cd_off, 4);
    tf_le(&z, 0, 2);
    return z;
}

static void wr32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Two small layers: "b" [3, 2] F32 and "a" [4] F64, each tf_ramp. */
static tf_buf layer_b, layer_a;

static void make_layers(void)
{
    float fb[6];
    double da[4];
    for (int k = 0; k < 6; k++)
        fb[k] = (float)tf_ramp((uint64_t)k);
    for (int k = 0; k < 4; k++)
        da[k] = tf_ramp((uint64_t)k);
    layer_b =
        tf_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", fb, sizeof fb);
    layer_a = tf_npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (4,), }", da, sizeof da);
}

static void free_layers(void)
{
    tf_free(&layer_b);
    tf_free(&layer_a);
}

static void assert_ramp(const pw_tensor *t)
{
    double out[64];
    pw_err e;
    PW_ASSERT_OK(pw_tensor_read_rows(t, 0, (size_t)t->rows, out, &e), &e);
    for (uint64_t k = 0; k < t->rows * t->cols; k++)
        ck_assert_msg(out[k] == tf_ramp(k), "%s[%llu] = %g", t->name, (unsigned long long)k,
                      out[k]);
}

/* pw_npz_parse on a zip of members; returns its result. */
static int npz_try(const zmember *m, size_t count, int zip64_end, uint64_t cap, pw_err *e)
{
    tf_buf z = zip_build(m, count, zip64_end);
    pw_npz npz;
    pw_err_clear(e);
    int rc = pw_npz_parse(&npz, z.p, z.n, 0, cap, e);
    if (rc == 0)
        pw_npz_free(&npz);
    tf_free(&z);
    return rc;
}

START_TEST(every_member_layout_reads_exactly)
{
    make_layers();
    int variants = 0;
    for (int method = 0; method <= 8; method += 8)
        for (int desc = 0; desc <= 1; desc++)
            for (int zl = 0; zl <= 2; zl++)
                for (int zc = 0; zc <= 1; zc++)
                    for (int ze = 0; ze <= 1; ze++) {
                        zmember m[2] = {
                            {"b.npy", 0, layer_b.p, layer_b.n, method, desc, zl, zc, 0, 0, 0, NULL,
                             0},
                            {"a.npy", 0, layer_a.p, layer_a.n, method, desc, zl, zc, 0, 0, 0, NULL,
                             0},
                        };
                        tf_buf z = zip_build(m, 2, ze);
                        pw_npz npz;
                        pw_err e;
                        PW_ASSERT_OK(pw_npz_parse(&npz, z.p, z.n, 0, 0, &e), &e);
                        ck_assert_uint_eq(npz.n, 2);
                        /* central directory order, not name order */
                        ck_assert_str_eq(npz.tensors[0].name, "b");
                        ck_assert_str_eq(npz.tensors[1].name, "a");
                        ck_assert_uint_eq(npz.tensors[0].rows, 3);
                        ck_assert_uint_eq(npz.tensors[0].cols, 2);
                        assert_ramp(&npz.tensors[0]);
                        assert_ramp(&npz.tensors[1]);
                        /* stored members are views into the archive */
                        int inside = npz.tensors[0].data > z.p && npz.tensors[0].data < z.p + z.n;
                        ck_assert_int_eq(inside, method == 0);
                        pw_npz_free(&npz);
                        tf_free(&z);
                        variants++;
                    }
    ck_assert_int_eq(variants, 48);
    free_layers();
}
END_TEST

START_TEST(real_numpy_archives_read_exactly)
{
    const char *files[] = {TF_DATA("stored.npz"), TF_DATA("deflated.npz"),
                           TF_DATA("descriptor.npz")};
    for (int f = 0; f < 3; f++) {
        size_t n;
        unsigned char *buf = tf_read(files[f], &n);
        pw_npz npz;
        pw_err e;
        PW_ASSERT_OK(pw_npz_parse(&npz, buf, n, 0, 0, &e), &e);
        ck_assert_uint_eq(npz.n, 3);
        ck_assert_str_eq(npz.tensors[0].name, "conv1");
        ck_assert_str_eq(npz.tensors[1].name, "fc1");
        ck_assert_str_eq(npz.tensors[2].name, "fc2");
        ck_assert_int_eq(npz.zip.m[0].method, f == 0 ? 0 : 8);
        ck_assert_int_eq(npz.zip.m[0].flags & 8, f == 2 ? 8 : 0); /* data descriptor */
        /* conv1 is NCHW [2, 3, 2, 2]: 8 positions of 3 channels */
        const pw_tensor *conv = &npz.tensors[0];
        ck_assert_uint_eq(conv->rows, 8);
        ck_assert_uint_eq(conv->cols, 3);
        double out[24];
        PW_ASSERT_OK(pw_tensor_read_rows(conv, 0, 8, out, &e), &e);
        for (int r = 0; r < 8; r++)
            for (int c = 0; c < 3; c++) {
                int nn = r / 4, hw = r % 4;
                ck_assert(out[r * 3 + c] == tf_ramp((uint64_t)((nn * 3 + c) * 4 + hw)));
            }
        assert_ramp(&npz.tensors[1]);
        assert_ramp(&npz.tensors[2]); /* big-endian float16 */
        ck_assert_int_eq(npz.tensors[2].big_endian, 1);
        pw_npz_free(&npz);
        free(buf);
    }
}
END_TEST

#define NPZ_FAILS(m, count, zip64_end, cap, needle)                                                \
    do {                                                                                           \
        pw_err e_;                                                                                 \
        PW_ASSERT_FAILS_WITH(npz_try((m), (count), (zip64_end), (cap), &e_), &e_, (needle));       \
    } while (0)

START_TEST(names_are_names_never_paths)
{
    make_layers();
    static const struct {
        const char *name; /* member name */
        size_t len;       /* 0: strlen */
        const char *why;  /* expected message part */
    } bad[] = {
        {"a/b.npy", 0, "never paths"},           {"../x.npy", 0, "never paths"},
        {"a\\b.npy", 0, "never paths"},          {"/abs.npy", 0, "never paths"},
        {"x..y.npy", 0, "never paths"},          {"a\0b.npy", 7, "never paths"},
        {"readme.txt", 0, "not an .npy member"}, {".npy", 0, "empty layer name"},
        {"a\x01.npy", 0, "control character"},   {"\xff\xfe.npy", 0, "not valid UTF-8"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        zmember m = {bad[i].name, bad[i].len, layer_a.p, layer_a.n, 0, 0, 0, 0, 0, 0, 0, NULL, 0};
        NPZ_FAILS(&m, 1, 0, 0, bad[i].why);
    }
    zmember two[2] = {{"a.npy", 0, layer_a.p, layer_a.n, 0, 0, 0, 0, 0, 0, 0, NULL, 0},
                      {"a.npy", 0, layer_b.p, layer_b.n, 8, 0, 0, 0, 0, 0, 0, NULL, 0}};
    NPZ_FAILS(two, 2, 0, 0, "two members are named 'a.npy'");
    free_layers();
}
END_TEST

START_TEST(encryption_and_other_methods_are_refused)
{
    make_layers();
    zmember m = {"a.npy", 0, layer_a.p, layer_a.n, 0, 0, 0, 0, 0, 0, 1, NULL, 0};
    NPZ_FAILS(&m, 1, 0, 0, "member 'a.npy' at offset 0: is encrypted, refused");
    m.flags = 0x40;
    NPZ_FAILS(&m, 1, 0, 0, "is encrypted, refused");
    m.flags = 0;
    m.method = 12; /* bzip2 */
    NPZ_FAILS(&m, 1, 0, 0, "compression method 12 is not supported");
    m.method = 0;
    m.usize_delta = 4; /* stored but sizes differ */
    NPZ_FAILS(&m, 1, 0, 0, "stored, but compressed size");
    free_layers();
}
END_TEST

START_TEST(zip_bombs_are_refused)
{
    make_layers();
    zmember m = {"a.npy", 0, layer_a.p, layer_a.n, 8, 0, 0, 0, 0, 0, 0, NULL, 0};
    /* declared size above the cap: refused before any allocation */
    NPZ_FAILS(&m, 1, 0, 100, "declares 160 bytes uncompressed, above the inflate cap of 100");
    /* a declared size no deflate stream of this length can reach */
    m.usize_delta = 1000000000;
    NPZ_FAILS(&m, 1, 0, 0, "more than deflate can produce");
    /* the stream inflates past what the headers declare */
    m.usize_delta = -10;
    NPZ_FAILS(&m, 1, 0, 0, "inflates past its declared size 150");
    /* ... or stops short of it */
    m.usize_delta = 10;
    NPZ_FAILS(&m, 1, 0, 0, "inflates to 160 bytes, short of its declared size 170");
    m.usize_delta = 0;

    /* a real bomb: 8 MiB of zeros in a few KiB, with the cap at 1 MiB */
    size_t big = 8u << 20;
    unsigned char *zeros = calloc(big, 1);
    tf_buf hdr =
        tf_npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1048576,), }", NULL, 0);
    memcpy(zeros, hdr.p, hdr.n);
    zmember bomb = {"z.npy", 0, zeros, big, 8, 0, 0, 0, 0, 0, 0, NULL, 0};
    tf_buf z = zip_build(&bomb, 1, 0);
    ck_assert_uint_lt(z.n, 64 * 1024);
    pw_npz npz;
    pw_err e;
    PW_ASSERT_FAILS_WITH(pw_npz_parse(&npz, z.p, z.n, 0, 1u << 20, &e), &e,
                         "above the inflate cap of 1048576 bytes");
    tf_free(&z);
    tf_free(&hdr);
    free(zeros);
    free_layers();
}
END_TEST

START_TEST(corrupt_data_is_refused)
{
    make_layers();
    zmember m = {"a.npy", 0, layer_a.p, layer_a.n, 0, 0, 0, 0, 0, 1, 0, NULL, 0};
    NPZ_FAILS(&m, 1, 0, 0, "CRC-32 of the data is");
    m.method = 8;
    NPZ_FAILS(&m, 1, 0, 0, "CRC-32 of the inflated data is");
    m.crc_xor = 0;
    tf_buf good = deflate_raw(layer_a.p, layer_a.n);
    m.raw = good.p;
    m.nraw = good.n / 2; /* stream cut in the middle */
    NPZ_FAILS(&m, 1, 0, 0, "ends before its end marker");
    unsigned char junk[32];
    memset(junk, 0xff, sizeof junk);
    m.raw = junk;
    m.nraw = sizeof junk;
    NPZ_FAILS(&m, 1, 0, 0, "corrupt deflate data");
    tf_free(&good);
    /* a member that is a zip entry but not a valid .npy */
    zmember txt = {"t.npy", 0, (const unsigned char *)"hello", 5, 0, 0, 0, 0, 0, 0, 0, NULL, 0};
    NPZ_FAILS(&txt, 1, 0, 0, "member 't.npy' at offset 0: not an .npy file");
    free_layers();
}
END_TEST

START_TEST(lying_structure_is_refused)
{
    make_layers();
    zmember m[2] = {{"b.npy", 0, layer_b.p, layer_b.n, 0, 0, 0, 0, 0, 0, 0, NULL, 0},
                    {"a.npy", 0, layer_a.p, layer_a.n, 0, 0, 0, 0, 0, 0, 0, NULL, 0}};
    tf_buf z = zip_build(m, 2, 0);
    unsigned char *eocd = z.p + z.n - 22;
    pw_npz npz;
    pw_err e;

    wr32(eocd + 16, (uint32_t)(eocd[16] | eocd[17] << 8 | eocd[18] << 16) + 1);
    PW_ASSERT_FAILS_WITH(pw_npz_parse(&npz, z.p, z.n, 0, 0, &e), &e,
                         "does not end where the end records begin");
    wr32(eocd + 16, (uint32_t)(eocd[16] | eocd[17] << 8 | eocd[18] << 16) - 1);
    PW_ASSERT_OK(pw_npz_parse(&npz, z.p, z.n, 0, 0, &e), &e);
    pw_npz_free(&npz);

    eocd[8] = eocd[10] = 5; /* 5 entries in a directory that holds 2 */
    PW_ASSERT_FAILS_WITH(pw_npz_parse(&npz, z.p, z.n, 0, 0, &e), &e, "cannot hold 5 entries");
    eocd[8] = eocd[10] = 1; /* 1 entry: the second is left over */
    PW_ASSERT_FAILS_WITH(pw_npz_parse(&npz, z.p, z.n, 0, 0, &e), &e, "stray bytes");
    eocd[8] = eocd[10] = 2;
    eocd[4] = 1; /* disk 1 */
    PW_ASSERT_FAILS_WITH(pw_npz_parse(&npz, z.p, z.n, 0, 0, &e), &e, "multi-disk");
    eocd[4] = 0;

    /* the local header of the first member disagrees on its size */
    z.p[18] ^= 1;
    PW_ASSERT_FAILS_WITH(pw_npz_parse(&npz, z.p, z.n, 0, 0, &e), &e, "local header (crc");
    z.p[18] ^= 1;
    z.p[30] = 'c'; /* local name "c.npy", central "b.npy" */
    PW_ASSERT_FAILS_WITH(pw_npz_parse(&npz, z.p, z.n, 0, 0, &e), &e, "names a different member");
    z.p[30] = 'b';
    z.p[0] = 'Q';
    PW_ASSERT_FAILS_WITH(pw_npz_parse(&npz, z.p, z.n, 0, 0, &e), &e, "bad local header signature");
    z.p[0] = 'P';
    PW_ASSERT_FAILS_WITH(pw_npz_parse(&npz, z.p, z.n - 1, 0, 0, &e), &e,
                         "no zip end of central directory record");
    tf_free(&z);

    /* two directory entries for the same bytes: overlapping members */
    zmember same[2] = {m[1], m[1]};
    z = zip_build(same, 2, 0);
    size_t cd = z.n - 22 - 2 * (46 + 5);
    uint32_t second = (uint32_t)(layer_a.n + 30 + 5);
    ck_assert(z.p[cd + 46 + 5 + 42] == (second & 0xff));
    wr32(z.p + cd + 46 + 5 + 42, 0); /* second entry points at the first local header */
    PW_ASSERT_FAILS_WITH(pw_npz_parse(&npz, z.p, z.n, 0, 0, &e), &e, "overlaps member 'a.npy'");
    tf_free(&z);

    PW_ASSERT_FAILS_WITH(pw_npz_parse(&npz, (const unsigned char *)"PK\5\6", 4, 0, 0, &e), &e,
                         "too short");
    /* an empty archive is a valid zip but no checkpoint */
    z = zip_build(NULL, 0, 0);
    PW_ASSERT_FAILS_WITH(pw_npz_parse(&npz, z.p, z.n, 0, 0, &e), &e, "holds no arrays");
    tf_free(&z);
    free_layers();
}
END_TEST

static void wr64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

START_TEST(zip64_values_near_the_top_of_64_bits_are_refused)
{
    make_layers();
    /* with a data descriptor, so that only the central directory speaks of sizes */
    zmember m = {"a.npy", 0, layer_a.p, layer_a.n, 8, 1, 0, 1, 0, 0, 0, NULL, 0};
    tf_buf z = zip_build(&m, 1, 1);
    /* the central zip64 field: after the 46-byte entry and the 5-byte name,
     * 4 bytes of id and size, then usize, csize, local header offset */
    size_t cd = z.n - 22 - 20 - 56 - (46 + 5 + 28);
    unsigned char *f = z.p + cd + 46 + 5 + 4;
    pw_npz npz;
    pw_err e;
    PW_ASSERT_OK(pw_npz_parse(&npz, z.p, z.n, 0, 0, &e), &e);
    pw_npz_free(&npz);
    const struct {
        int field;      /* 0 usize, 1 csize, 2 offset */
        uint64_t value; /* what to claim */
        const char *why;
    } lies[] = {
        {0, UINT64_MAX, "above the inflate cap"},
        {0, UINT64_MAX / 2, "above the inflate cap"},
        {1, UINT64_MAX, "run past the start of the central directory"},
        {1, UINT64_MAX - 40, "run past the start of the central directory"},
        {2, UINT64_MAX, "local header lies outside the member area"},
        {2, UINT64_MAX - 29, "local header lies outside the member area"},
    };
    for (size_t i = 0; i < sizeof lies / sizeof lies[0]; i++) {
        unsigned char keep[8];
        memcpy(keep, f + 8 * lies[i].field, 8);
        wr64(f + 8 * lies[i].field, lies[i].value);
        PW_ASSERT_FAILS_WITH(pw_npz_parse(&npz, z.p, z.n, 0, 0, &e), &e, lies[i].why);
        memcpy(f + 8 * lies[i].field, keep, 8);
    }
    /* the zip64 end record claiming a directory at the top of the range */
    unsigned char *rec = z.p + z.n - 22 - 20 - 56;
    wr64(rec + 48, UINT64_MAX - 10);
    PW_ASSERT_FAILS_WITH(pw_npz_parse(&npz, z.p, z.n, 0, 0, &e), &e,
                         "does not end where the end records begin");
    wr64(rec + 48, cd);
    wr64(rec + 32, UINT64_MAX); /* entries */
    wr64(rec + 24, UINT64_MAX);
    PW_ASSERT_FAILS_WITH(pw_npz_parse(&npz, z.p, z.n, 0, 0, &e), &e, "more than the 4096");
    tf_free(&z);
    free_layers();
}
END_TEST

START_TEST(every_truncation_fails_cleanly)
{
    make_layers();
    zmember m[2] = {{"b.npy", 0, layer_b.p, layer_b.n, 0, 0, 2, 0, 0, 0, 0, NULL, 0},
                    {"a.npy", 0, layer_a.p, layer_a.n, 8, 0, 2, 0, 0, 0, 0, NULL, 0}};
    tf_buf z = zip_build(m, 2, 1);
    const char *path = tf_path("trunc.npz");
    for (size_t len = 0; len < z.n; len++) {
        pw_npz npz;
        pw_err e;
        pw_err_clear(&e);
        ck_assert_int_ne(pw_npz_parse(&npz, z.p, len, 0, 0, &e), 0);
        ck_assert_msg(e.msg[0] != '\0', "no message at length %zu", len);
        tf_write(path, z.p, len);
        pw_ckpt *c;
        ck_assert_int_ne(pw_ckpt_open(&c, path, NULL, &e), 0);
        ck_assert_msg(strncmp(e.msg, path, strlen(path)) == 0, "'%s' lacks the path", e.msg);
        ck_assert_msg(pw_ckpt_is_complete(path, &e) == 0, "length %zu called complete", len);
    }
    tf_write(path, z.p, z.n);
    pw_err e;
    ck_assert_int_eq(pw_ckpt_is_complete(path, &e), 1);
    tf_free(&z);
    free_layers();
}
END_TEST

START_TEST(errors_name_file_member_and_offset)
{
    make_layers();
    zmember m[2] = {{"b.npy", 0, layer_b.p, layer_b.n, 0, 0, 0, 0, 0, 0, 0, NULL, 0},
                    {"a.npy", 0, layer_a.p, layer_a.n, 8, 0, 0, 0, -10, 0, 0, NULL, 0}};
    tf_buf z = zip_build(m, 2, 0);
    const char *path = tf_path("x.npz");
    tf_write(path, z.p, z.n);
    pw_ckpt *c;
    pw_err e;
    char want[700];
    snprintf(want, sizeof want,
             "%s: member 'a.npy' at offset %zu: inflates past its declared size 150", path,
             30 + 5 + layer_b.n);
    ck_assert_int_eq(pw_ckpt_open(&c, path, NULL, &e), -1);
    ck_assert_str_eq(e.msg, want);
    /* the cap comes from the options */
    m[1].usize_delta = 0;
    tf_free(&z);
    z = zip_build(m, 2, 0);
    tf_write(path, z.p, z.n);
    pw_ckpt_opts o = {0, 64};
    PW_ASSERT_FAILS_WITH(pw_ckpt_open(&c, path, &o, &e), &e, "above the inflate cap of 64 bytes");
    o.inflate_cap = 0; /* default */
    PW_ASSERT_OK(pw_ckpt_open(&c, path, &o, &e), &e);
    ck_assert_int_eq(pw_ckpt_format(c), PW_FMT_NPZ);
    ck_assert_uint_eq(pw_ckpt_nlayers(c), 2);
    ck_assert_ptr_null(pw_ckpt_meta(c, "layers"));
    pw_ckpt_close(c);
    tf_free(&z);
    free_layers();
}
END_TEST

Suite *npz_suite(void)
{
    Suite *s = suite_create("npz");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, every_member_layout_reads_exactly);
    tcase_add_test(tc, real_numpy_archives_read_exactly);
    tcase_add_test(tc, names_are_names_never_paths);
    tcase_add_test(tc, encryption_and_other_methods_are_refused);
    tcase_add_test(tc, zip_bombs_are_refused);
    tcase_add_test(tc, corrupt_data_is_refused);
    tcase_add_test(tc, lying_structure_is_refused);
    tcase_add_test(tc, zip64_values_near_the_top_of_64_bits_are_refused);
    tcase_add_test(tc, every_truncation_fails_cleanly);
    tcase_add_test(tc, errors_name_file_member_and_offset);
    suite_add_tcase(s, tc);
    return s;
}
