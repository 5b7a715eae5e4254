/* pw_beneath.c -- symlink-free opens below a trusted directory (see pw_beneath.h).
 *
 * openat2 does the whole resolution in the kernel, atomically.  Where it is
 * missing (ENOSYS on kernels before 5.6, or a seccomp filter that refuses it)
 * the walk does the same one component at a time: every directory on the way
 * is opened O_PATH | O_NOFOLLOW and checked to be a directory, so a symlink
 * anywhere fails the open instead of being followed.  Each step opens
 * relative to the descriptor of the previous one, so renaming things around
 * between steps cannot lead out of base. */
#include "pw_beneath.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int walk_only; /* tests: pretend openat2 is missing */

void pw_beneath_walk_only(int on)
{
    walk_only = on;
}

const char *pw_beneath_strerror(int e)
{
    if (e == ELOOP)
        return "a symbolic link (or one in its path), not followed (follow_symlinks = no)";
    if (e == EXDEV)
        return "outside the watch root, not opened";
    return strerror(e);
}

/* After an O_PATH | O_NOFOLLOW open: a symlink was opened itself; refuse it. */
static int refuse_link(int fd, int want_dir)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    if (S_ISLNK(st.st_mode) || (want_dir && !S_ISDIR(st.st_mode))) {
        close(fd);
        errno = S_ISLNK(st.st_mode) ? ELOOP : ENOTDIR;
        return -1;
    }
    return fd;
}

/* The component walk: rel relative to dirfd, which it does not close. */
static int walk(int dirfd, const char *rel, int flags)
{
    int cur = dirfd;
    const char *p = rel;
    for (;;) {
        while (*p == '/')
            p++;
        size_t n = strcspn(p, "/");
        const char *next = p + n;
        while (*next == '/')
            next++;
        char comp[NAME_MAX + 1];
        if (n > NAME_MAX) {
            errno = ENAMETOOLONG;
            break;
        }
        memcpy(comp, p, n);
        comp[n] = '\0';
        if (strcmp(comp, "..") == 0) {
            errno = EXDEV;
            break;
        }
        int last = *next == '\0';
        int fd;
        if (!last) {
            if (n == 0 || strcmp(comp, ".") == 0) {
                p = next;
                continue;
            }
            fd = openat(cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            struct stat st;
            if (fd >= 0)
                fd = refuse_link(fd, 1);
            else if (errno == ENOTDIR && fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                     S_ISLNK(st.st_mode))
                errno = ELOOP; /* as openat2 says it */
        } else {
            fd = openat(cur, n ? comp : ".", flags | O_NOFOLLOW | O_CLOEXEC);
            if (fd >= 0 && (flags & O_PATH))
                fd = refuse_link(fd, 0);
        }
        if (cur != dirfd) {
            int e = errno;
            close(cur);
            errno = e;
        }
        if (fd < 0 || last)
            return fd;
        cur = fd;
        p = next;
    }
    if (cur != dirfd) {
        int e = errno;
        close(cur);
        errno = e;
    }
    return -1;
}

int pw_open_beneath(const char *base, const char *path, int flags)
{
    if (!base)
        return open(path, flags | O_CLOEXEC);
    const char *rel = path;
    if (path[0] == '/') {
        size_t bl = strlen(base);
        while (bl > 1 && base[bl - 1] == '/')
            bl--;
        if (strncmp(path, base, bl) != 0 || (path[bl] != '/' && path[bl] != '\0')) {
            errno = EXDEV;
            return -1;
        }
        rel = path + bl;
        while (*rel == '/')
            rel++;
        if (*rel == '\0')
            rel = ".";
    }
    int dirfd = open(base, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return -1;
    int fd = -1;
    int tried = 0;
    if (!walk_only) {
        struct open_how how;
        memset(&how, 0, sizeof how);
        how.flags = (uint64_t)(flags | O_NOFOLLOW | O_CLOEXEC);
        how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
        fd = (int)syscall(SYS_openat2, dirfd, rel, &how, sizeof how);
        /* ENOSYS: an old kernel; EPERM: a seccomp filter that does not know it. */
        tried = fd >= 0 || (errno != ENOSYS && errno != EPERM && errno != E2BIG);
        if (fd >= 0 && (flags & O_PATH))
            fd = refuse_link(fd, 0);
    }
    if (!tried)
        fd = walk(dirfd, rel, flags);
    int e = errno;
    close(dirfd);
    errno = e;
    return fd;
}
