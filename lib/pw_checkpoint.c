/* pw_checkpoint.c -- one checkpoint, whatever its format (see pw_checkpoint.h).
 *
 * This file decides what a path is (extension first, then magic bytes), maps
 * the file or files, hands the bytes to the format module (pw_safetensors,
 * pw_npy, pw_npz) and keeps what they produce alive until pw_ckpt_close.  It
 * also owns the two things that are not a single file's business: a
 * directory of .npy files as one checkpoint, in natural name order, and the
 * cheap completeness test the daemon runs before reading anything.
 *
 * Every message starts with the path of the file at fault, and none quotes a
 * file's bytes: a file that is not a checkpoint may be anything (the daemon's
 * messages reach other users), so it is described, never shown.
 *
 * Everything is opened once, by descriptor: the entries of a directory
 * checkpoint relative to the directory's descriptor, and by the *_beneath
 * calls without following any symlink below a given directory (pw_beneath). */
#include "pw_checkpoint.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pw_beneath.h"
#include "pw_map.h"
#include "pw_name.h"
#include "pw_npy.h"
#include "pw_npz.h"
#include "pw_safetensors.h"
#include "pw_zip.h"

struct pw_ckpt {
    char *path;        /* as given to pw_ckpt_open */
    pw_format fmt;     /* detected format */
    size_t n;          /* number of layers */
    pw_tensor *layers; /* layers in depth order; points into st, npz or own */
    pw_st st;          /* safetensors state */
    pw_npz npz;        /* npz state */
    pw_tensor *own;    /* layers of a single .npy or a directory */
    pw_map *maps;      /* mapped files: one, or one per .npy of a directory */
    size_t nmaps;      /* number of entries of maps in use */
};

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

/* ---- the format table -------------------------------------------------------- */

/* One file format of PW_FORMAT_LIST (pw_checkpoint.h) and its functions. */
typedef struct ckpt_format {
    pw_format fmt;      /* its enum value */
    const char *suffix; /* file suffix, compared case-insensitively */
    /* 1 when the first n bytes of a file of size bytes are this format's (used
     * only when the suffix says nothing); n is at least 9 unless the file is shorter. */
    int (*magic)(const unsigned char *head, size_t n, uint64_t size);
    /* Parse the mapped file m into c->layers and c->n (c->path not yet prefixed). */
    int (*open)(pw_ckpt *c, const pw_map *m, const pw_ckpt_opts *o, pw_err *err);
    /* 0 when the file fd of size bytes, starting with the nhead bytes head
     * (at most PW_NPY_PREFIX), is completely written, else INCOMPLETE or IO_ERROR. */
    int (*complete)(int fd, uint64_t size, const unsigned char *head, size_t nhead, pw_err *err);
} ckpt_format;

#define FORMAT_DECLARE(sym, suffix, fn)                                                            \
    static int fn##_magic(const unsigned char *head, size_t n, uint64_t size);                     \
    static int fn##_open(pw_ckpt *c, const pw_map *m, const pw_ckpt_opts *o, pw_err *err);         \
    static int fn##_complete(int fd, uint64_t size, const unsigned char *head, size_t nhead,       \
                             pw_err *err);
PW_FORMAT_LIST(FORMAT_DECLARE)
#undef FORMAT_DECLARE

static const ckpt_format formats[] = {
#define FORMAT_ROW(sym, suffix, fn) {sym, suffix, fn##_magic, fn##_open, fn##_complete},
    PW_FORMAT_LIST(FORMAT_ROW)
#undef FORMAT_ROW
};
#define NFORMATS (sizeof formats / sizeof formats[0])

/* The entry whose suffix path ends with, or NULL. */
static const ckpt_format *format_by_suffix(const char *path)
{
    for (size_t i = 0; i < NFORMATS; i++)
        if (has_suffix(path, formats[i].suffix))
            return &formats[i];
    return NULL;
}

/* The entry of fmt; fmt is a file format (not PW_FMT_NPY_DIR). */
static const ckpt_format *format_of(pw_format fmt)
{
    assert((size_t)fmt < NFORMATS && formats[fmt].fmt == fmt);
    return &formats[fmt];
}

size_t pw_ckpt_suffix_len(const char *name)
{
    const ckpt_format *f = format_by_suffix(name);
    return f ? strlen(f->suffix) : 0;
}

/* Format from the suffix first, else from the first n bytes of a file of size bytes. */
static int detect(const char *path, const unsigned char *head, size_t n, uint64_t size,
                  pw_format *fmt)
{
    const ckpt_format *f = format_by_suffix(path);
    for (size_t i = 0; !f && i < NFORMATS; i++)
        if (formats[i].magic(head, n, size))
            f = &formats[i];
    if (!f)
        return -1;
    *fmt = f->fmt;
    return 0;
}

/* "unknown format: expected a file ending in .safetensors, .npy, .npz, in any case, ...". */
#define FORMAT_SUFFIX(sym, suffix, fn) suffix ", "
static const char unknown_format[] = "unknown format: expected a file ending in " PW_FORMAT_LIST(
    FORMAT_SUFFIX) "in any case, or a directory of .npy files";
#undef FORMAT_SUFFIX

/* A PyTorch torch.save file: a zip whose members sit under one directory with
 * a pickle in NAME/data.pkl (torch >= 1.6), or the legacy format, a bare
 * pickle starting with torch's magic number.  Neither holds plain arrays:
 * reading them means unpickling, which pwccad never does. */
static int is_torch_save(const unsigned char *buf, uint64_t len)
{
    static const unsigned char legacy[] =
        "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19";
    if (len >= sizeof legacy - 1 && memcmp(buf, legacy, sizeof legacy - 1) == 0)
        return 1;
    if (len < 4 || memcmp(buf, "PK\x03\x04", 4) != 0)
        return 0;
    pw_zip z;
    pw_err ignored;
    if (pw_zip_open(&z, buf, len, PW_NPZ_MAX_MEMBERS, &ignored) != 0)
        return 0;
    int torch = 0;
    for (size_t i = 0; i < z.n && !torch; i++) {
        const pw_zip_member *m = &z.m[i];
        torch = (m->name_len == 8 && memcmp(m->name, "data.pkl", 8) == 0) ||
                (m->name_len > 9 && memcmp(m->name + m->name_len - 9, "/data.pkl", 9) == 0);
    }
    pw_zip_free(&z);
    return torch;
}

static const char torch_save[] =
    "a PyTorch torch.save file (.pt/.pth: a pickle), which pwccad does not read; save the "
    "activations as safetensors instead: "
    "safetensors.torch.save_file({name: t.detach().contiguous() for name, t in acts.items()}, "
    "path), or let integrations/python/pwcca_probe.py write them (docs/FORMATS.md)";

/* ---- the formats' magic tests and readers (their completeness tests are below) -- */

static int st_magic(const unsigned char *head, size_t n, uint64_t size)
{
    uint64_t hl;
    return n >= 9 && head[8] == '{' && pw_st_header_len(head, size, &hl, NULL) == 0;
}

static int st_open(pw_ckpt *c, const pw_map *m, const pw_ckpt_opts *o, pw_err *err)
{
    int rc = pw_st_parse(&c->st, m->data, m->size, o->nhwc, err);
    c->layers = c->st.tensors;
    c->n = c->st.ntensors;
    return rc;
}

static int npy_magic(const unsigned char *head, size_t n, uint64_t size)
{
    (void)size;
    return n >= 6 && memcmp(head, "\x93NUMPY", 6) == 0;
}

static int npy_open(pw_ckpt *c, const pw_map *m, const pw_ckpt_opts *o, pw_err *err)
{
    /* One array, one layer, and one name for it in every checkpoint: named
     * after the file, step-000100.npy and step-000200.npy would share no
     * layer and never be compared. */
    c->own = calloc(1, sizeof *c->own);
    if (!c->own)
        return pw_err_set(err, "out of memory");
    int rc = pw_npy_parse(m->data, m->size, PW_NPY_LAYER, o->nhwc, c->own, err);
    c->layers = c->own;
    c->n = 1;
    return rc;
}

static int npz_magic(const unsigned char *head, size_t n, uint64_t size)
{
    (void)size;
    return n >= 4 && (memcmp(head, "PK\x03\x04", 4) == 0 || memcmp(head, "PK\x05\x06", 4) == 0);
}

static int npz_open(pw_ckpt *c, const pw_map *m, const pw_ckpt_opts *o, pw_err *err)
{
    int rc = pw_npz_parse(&c->npz, m->data, m->size, o->nhwc, o->inflate_cap, err);
    c->layers = c->npz.tensors;
    c->n = c->npz.n;
    return rc;
}

/* The layer name of a file in a directory checkpoint: its name without ".npy". */
static void npy_stem(const char *path, char *out, size_t cap)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (has_suffix(base, ".npy"))
        n -= 4;
    if (n >= cap)
        n = cap - 1; /* pw_name_check refuses it with a clear message anyway */
    memcpy(out, base, n);
    out[n] = '\0';
}

/* Open flags of a checkpoint file or directory: a FIFO must not block us. */
#define CKPT_OPEN_FLAGS (O_RDONLY | O_NONBLOCK | O_CLOEXEC)

/* The file of descriptor fd, which it consumes. */
static int open_file(pw_ckpt *c, int fd, const pw_ckpt_opts *o, pw_err *err)
{
    c->maps = calloc(1, sizeof *c->maps);
    if (!c->maps) {
        close(fd);
        return pw_err_set(err, "%s: out of memory", c->path);
    }
    if (pw_map_open_fd(&c->maps[0], fd, err) != 0)
        return pw_err_prefix(err, "%s", c->path);
    c->nmaps = 1;
    const pw_map *m = &c->maps[0];
    /* Checked before the extension: "step-100.npz" written by torch.save is
     * still a pickle, and its members' names would only confuse. */
    if (is_torch_save(m->data, m->size))
        return pw_err_set(err, "%s: %s", c->path, torch_save);
    if (detect(c->path, m->data, m->size < 9 ? (size_t)m->size : 9, m->size, &c->fmt) != 0)
        return pw_err_set(err, "%s: %s", c->path, unknown_format);
    if (format_of(c->fmt)->open(c, m, o, err) != 0)
        return pw_err_prefix(err, "%s", c->path);
    return 0;
}

/* A directory entry that is part of a directory checkpoint. */
static int is_layer_file(const char *name)
{
    return name[0] != '.' && has_suffix(name, ".npy");
}

static int natcmp_ptr(const void *a, const void *b)
{
    return pw_name_natcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* The .npy file names of the directory dirfd (path, for messages) in natural order. */
static int list_dir(int dirfd, const char *path, char ***out, size_t *count, pw_err *err)
{
    *out = NULL;
    *count = 0;
    /* A descriptor of its own: closedir closes it, and its offset is not dirfd's. */
    int lfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = lfd >= 0 ? fdopendir(lfd) : NULL;
    if (!d) {
        int e = errno;
        if (lfd >= 0)
            close(lfd);
        return pw_err_set(err, "%s: cannot open directory: %s", path, strerror(e));
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (!is_layer_file(de->d_name))
            continue;
        if (n == PW_MAX_LAYERS) {
            rc = pw_err_set(err, "%s: more than %d .npy files", path, PW_MAX_LAYERS);
            break;
        }
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char **nn = realloc(names, ncap * sizeof *nn);
            if (!nn) {
                rc = pw_err_set(err, "%s: out of memory listing the directory", path);
                break;
            }
            names = nn;
            cap = ncap;
        }
        names[n] = strdup(de->d_name);
        if (!names[n]) {
            rc = pw_err_set(err, "%s: out of memory listing the directory", path);
            break;
        }
        n++;
    }
    closedir(d);
    if (rc != 0) {
        free_names(names, n);
        return -1;
    }
    if (n > 1)
        qsort(names, n, sizeof *names, natcmp_ptr);
    *out = names;
    *count = n;
    return 0;
}

static char *join(const char *dir, const char *name)
{
    size_t a = strlen(dir), cap = a + strlen(name) + 2;
    char *p = malloc(cap);
    if (p)
        snprintf(p, cap, "%s%s%s", dir, a > 0 && dir[a - 1] != '/' ? "/" : "", name);
    return p;
}

/* A layer file of the directory dirfd; no symlink when nofollow. */
static int open_member(int dirfd, const char *name, int nofollow)
{
    return openat(dirfd, name, CKPT_OPEN_FLAGS | (nofollow ? O_NOFOLLOW : 0));
}

/* The directory of descriptor dirfd, which it does not close; no symlinks when nofollow. */
static int open_dir(pw_ckpt *c, int dirfd, int nofollow, const pw_ckpt_opts *o, pw_err *err)
{
    char **names;
    size_t n;
    if (list_dir(dirfd, c->path, &names, &n, err) != 0)
        return -1;
    if (n == 0) {
        free_names(names, n);
        return pw_err_set(err, "%s: directory holds no .npy files", c->path);
    }
    c->maps = calloc(n, sizeof *c->maps);
    c->own = calloc(n, sizeof *c->own);
    if (!c->maps || !c->own) {
        free_names(names, n);
        return pw_err_set(err, "%s: out of memory for %zu layers", c->path, n);
    }
    c->layers = c->own;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char *file = join(c->path, names[i]);
        if (!file) {
            rc = pw_err_set(err, "%s: out of memory", c->path);
            break;
        }
        char stem[PW_MAX_NAME + 1];
        npy_stem(names[i], stem, sizeof stem);
        int fd = open_member(dirfd, names[i], nofollow);
        if (fd < 0)
            rc = pw_err_set(err, "cannot open: %s", pw_beneath_strerror(errno));
        else if (pw_map_open_fd(&c->maps[i], fd, err) != 0)
            rc = -1;
        else {
            c->nmaps = i + 1;
            rc = pw_npy_parse(c->maps[i].data, c->maps[i].size, stem, o->nhwc, &c->own[i], err);
        }
        if (rc != 0)
            pw_err_prefix(err, "%s", file);
        c->n = i + 1;
        free(file);
    }
    free_names(names, n);
    return rc;
}

int pw_ckpt_open(pw_ckpt **out, const char *path, const pw_ckpt_opts *opts, pw_err *err)
{
    return pw_ckpt_open_beneath(out, path, NULL, opts, err);
}

int pw_ckpt_open_beneath(pw_ckpt **out, const char *path, const char *beneath,
                         const pw_ckpt_opts *opts, pw_err *err)
{
    *out = NULL;
    pw_ckpt_opts o = {0, 0};
    if (opts)
        o = *opts;
    int fd = pw_open_beneath(beneath, path, CKPT_OPEN_FLAGS);
    if (fd < 0)
        return pw_err_set(err, "%s: %s", path, pw_beneath_strerror(errno));
    struct stat st;
    pw_ckpt *c = NULL;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return pw_err_set(err, "%s: %s", path, strerror(e));
    }
    if (!(c = calloc(1, sizeof *c)) || !(c->path = strdup(path))) {
        close(fd);
        free(c);
        return pw_err_set(err, "%s: out of memory", path);
    }
    int rc;
    if (S_ISDIR(st.st_mode)) {
        c->fmt = PW_FMT_NPY_DIR;
        rc = open_dir(c, fd, beneath != NULL, &o, err);
        close(fd);
    } else {
        rc = open_file(c, fd, &o, err);
    }
    if (rc != 0) {
        pw_ckpt_close(c);
        return -1;
    }
    *out = c;
    return 0;
}

void pw_ckpt_close(pw_ckpt *c)
{
    if (!c)
        return;
    pw_st_free(&c->st);
    pw_npz_free(&c->npz);
    free(c->own);
    for (size_t i = 0; i < c->nmaps; i++)
        pw_map_close(&c->maps[i]);
    free(c->maps);
    free(c->path);
    free(c);
}

const char *pw_ckpt_path(const pw_ckpt *c)
{
    return c->path;
}

pw_format pw_ckpt_format(const pw_ckpt *c)
{
    return c->fmt;
}

size_t pw_ckpt_nlayers(const pw_ckpt *c)
{
    return c->n;
}

const pw_tensor *pw_ckpt_layer(const pw_ckpt *c, size_t i)
{
    return i < c->n ? &c->layers[i] : NULL;
}

const pw_tensor *pw_ckpt_find(const pw_ckpt *c, const char *name)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->layers[i].name, name) == 0)
            return &c->layers[i];
    return NULL;
}

const char *pw_ckpt_meta(const pw_ckpt *c, const char *key)
{
    return c->fmt == PW_FMT_SAFETENSORS ? pw_st_meta(&c->st, key) : NULL;
}

int pw_ckpt_truncated(const pw_ckpt *c)
{
    for (size_t i = 0; c && i < c->nmaps; i++)
        if (pw_map_faulted(&c->maps[i]))
            return 1;
    return 0;
}

/* ---- completeness ------------------------------------------------------------ */

/* Read exactly n bytes at off: 0 done, 1 the file is shorter now, -1 I/O error. */
static int read_at(int fd, uint64_t off, void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (r == 0)
            return 1;
        p += r;
        off += (uint64_t)r;
        n -= (size_t)r;
    }
    return 0;
}

/* The helpers below return 0 when complete, INCOMPLETE or IO_ERROR, with
 * messages that lack the path (file_complete prefixes it). */
#define INCOMPLETE (-1)
#define IO_ERROR   (-2)

/* Read n bytes at off into a fresh buffer. */
static int read_alloc(int fd, uint64_t off, size_t n, unsigned char **out, pw_err *err)
{
    *out = malloc(n ? n : 1);
    if (!*out) {
        pw_err_set(err, "out of memory reading %zu header bytes", n);
        return IO_ERROR;
    }
    int r = read_at(fd, off, *out, n);
    if (r == 0)
        return 0;
    int e = errno;
    free(*out);
    *out = NULL;
    if (r < 0) {
        pw_err_set(err, "read error: %s", strerror(e));
        return IO_ERROR;
    }
    pw_err_set(err, "the file shrank while being checked");
    return INCOMPLETE;
}

static int st_complete(int fd, uint64_t size, const unsigned char *head, size_t nhead, pw_err *err)
{
    uint64_t hl;
    if (nhead < 8) {
        pw_err_set(err, "only %llu bytes, the 8-byte header length is incomplete",
                   (unsigned long long)size);
        return INCOMPLETE;
    }
    if (pw_st_header_len(head, size, &hl, err) != 0)
        return INCOMPLETE;
    unsigned char *json;
    int r = read_alloc(fd, 8, (size_t)hl, &json, err);
    if (r != 0)
        return r;
    int rc = pw_st_check_header((const char *)json, (size_t)hl, size - 8 - hl, err);
    free(json);
    return rc != 0 ? INCOMPLETE : 0;
}

static int npy_complete(int fd, uint64_t size, const unsigned char *head, size_t nhead, pw_err *err)
{
    uint64_t pre;
    if (pw_npy_preamble_len(head, nhead, &pre, err) != 0)
        return INCOMPLETE;
    if (pre > size) {
        pw_err_set(err, "the header ends at byte %llu but the file has only %llu bytes",
                   (unsigned long long)pre, (unsigned long long)size);
        return INCOMPLETE;
    }
    unsigned char *buf;
    int r = read_alloc(fd, 0, (size_t)pre, &buf, err);
    if (r != 0)
        return r;
    pw_npy_info info;
    int rc = pw_npy_parse_header(buf, (size_t)pre, size, &info, err);
    free(buf);
    return rc != 0 ? INCOMPLETE : 0;
}

static int npz_complete(int fd, uint64_t size, const unsigned char *head, size_t nhead, pw_err *err)
{
    (void)head; /* the end of an archive says whether it is whole, not its start */
    (void)nhead;
    size_t tail = size < PW_ZIP_TAIL_MAX ? (size_t)size : PW_ZIP_TAIL_MAX;
    unsigned char *buf;
    int r = read_alloc(fd, size - tail, tail, &buf, err);
    if (r != 0)
        return r;
    pw_zip_end end;
    int rc = pw_zip_find_end(buf, tail, size, &end, err);
    free(buf);
    return rc != 0 ? INCOMPLETE : 0;
}

static int file_check(int fd, const char *path, pw_err *err)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        pw_err_set(err, "cannot stat: %s", strerror(errno));
        return IO_ERROR;
    }
    if (!S_ISREG(st.st_mode)) {
        pw_err_set(err, "not a regular file");
        return INCOMPLETE;
    }
    uint64_t size = (uint64_t)st.st_size;
    unsigned char head[PW_NPY_PREFIX];
    size_t nhead = size < sizeof head ? (size_t)size : sizeof head;
    int r = read_at(fd, 0, head, nhead);
    if (r != 0) {
        if (r < 0) {
            pw_err_set(err, "read error: %s", strerror(errno));
            return IO_ERROR;
        }
        pw_err_set(err, "the file shrank while being checked");
        return INCOMPLETE;
    }
    pw_format fmt;
    if (detect(path, head, nhead, size, &fmt) != 0) {
        pw_err_set(err, "%s (or not written yet)", unknown_format);
        return INCOMPLETE;
    }
    return format_of(fmt)->complete(fd, size, head, nhead, err);
}

/* One file of descriptor fd (-1: its open failed, errno says why), which it
 * closes: 1, 0 or -1 as pw_ckpt_is_complete. */
static int file_complete(int fd, const char *path, pw_err *err)
{
    if (fd < 0)
        return pw_err_set(err, "%s: cannot open: %s", path, pw_beneath_strerror(errno));
    int rc = file_check(fd, path, err);
    close(fd);
    if (rc == 0)
        return 1;
    pw_err_prefix(err, "%s", path);
    return rc == IO_ERROR ? -1 : 0;
}

int pw_ckpt_is_complete(const char *path, pw_err *err)
{
    return pw_ckpt_is_complete_beneath(path, NULL, err);
}

int pw_ckpt_is_complete_beneath(const char *path, const char *beneath, pw_err *err)
{
    int dirfd = pw_open_beneath(beneath, path, CKPT_OPEN_FLAGS);
    if (dirfd < 0)
        return pw_err_set(err, "%s: %s", path, pw_beneath_strerror(errno));
    struct stat st;
    if (fstat(dirfd, &st) != 0) {
        int e = errno;
        close(dirfd);
        return pw_err_set(err, "%s: %s", path, strerror(e));
    }
    if (!S_ISDIR(st.st_mode))
        return file_complete(dirfd, path, err);
    char **names;
    size_t n;
    if (list_dir(dirfd, path, &names, &n, err) != 0) {
        close(dirfd);
        return -1;
    }
    if (n == 0) {
        close(dirfd);
        free_names(names, n);
        pw_err_set(err, "%s: directory holds no .npy files (yet)", path);
        return 0;
    }
    int rc = 1;
    for (size_t i = 0; i < n && rc == 1; i++) {
        char *file = join(path, names[i]);
        if (!file) {
            rc = pw_err_set(err, "%s: out of memory", path);
            break;
        }
        rc = file_complete(open_member(dirfd, names[i], beneath != NULL), file, err);
        free(file);
    }
    close(dirfd);
    free_names(names, n);
    return rc;
}
