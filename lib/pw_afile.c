/* pw_afile.c -- crash-safe whole-file writes: temporary, fsync, rename,
 * directory fsync (see pw_afile.h). */
#include "pw_afile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int pw_afile_open(pw_afile *f, const char *path, pw_err *err)
{
    const char *slash = strrchr(path, '/');
    int dirlen = slash ? (int)(slash - path + 1) : 0;
    const char *base = slash ? slash + 1 : path;
    f->fd = -1;
    f->path = path;
    int n = snprintf(f->tmp, sizeof f->tmp, "%.*s.%s.tmp.%ld", dirlen, path, base, (long)getpid());
    if (!*base || n < 0 || (size_t)n >= sizeof f->tmp)
        return pw_err_set(err, "%s: not a usable file path", path);
    f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (f->fd < 0)
        return pw_err_set(err, "%s: cannot create %s: %s", path, f->tmp, strerror(errno));
    return 0;
}

int pw_afile_write(pw_afile *f, const void *buf, size_t len, pw_err *err)
{
    const char *p = buf;
    while (len > 0) {
        /* Linux writes at most about 2 GiB per call. */
        ssize_t w = write(f->fd, p, len > (1u << 30) ? (1u << 30) : len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return pw_err_set(err, "%s: writing failed: %s", f->path, strerror(errno));
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* fsync the directory holding path, so the rename survives a crash. */
static void sync_dir(const char *path)
{
    char dir[PW_PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash || (size_t)(slash - path) >= sizeof dir)
        return;
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash - path] = '\0';
    int fd = open(slash == path ? "/" : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

int pw_afile_commit(pw_afile *f, pw_err *err)
{
    int rc = fsync(f->fd), saved = errno;
    if (close(f->fd) < 0 && rc == 0) {
        rc = -1;
        saved = errno;
    }
    f->fd = -1;
    if (rc == 0 && rename(f->tmp, f->path) < 0) {
        rc = -1;
        saved = errno;
    }
    if (rc < 0) {
        unlink(f->tmp);
        return pw_err_set(err, "%s: writing failed: %s", f->path, strerror(saved));
    }
    sync_dir(f->path);
    return 0;
}

void pw_afile_abort(pw_afile *f)
{
    if (f->fd < 0)
        return;
    close(f->fd);
    f->fd = -1;
    unlink(f->tmp);
}
