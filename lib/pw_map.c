/* pw_map.c -- read-only mmap of a whole regular file (see pw_map.h). */
#include "pw_map.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int pw_map_open(pw_map *m, const char *path, pw_err *err)
{
    memset(m, 0, sizeof *m);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block us */
    if (fd < 0)
        return pw_err_set(err, "cannot open: %s", strerror(errno));
    return pw_map_open_fd(m, fd, err);
}

int pw_map_open_fd(pw_map *m, int fd, pw_err *err)
{
    memset(m, 0, sizeof *m);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return pw_err_set(err, "cannot stat: %s", strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return pw_err_set(err, "not a regular file");
    }
    if (st.st_size < 0 || (uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return pw_err_set(err, "file size %lld cannot be mapped", (long long)st.st_size);
    }
    if (st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return pw_err_set(err, "cannot map %lld bytes: %s", (long long)st.st_size, strerror(e));
        }
        m->addr = p;
        m->data = p;
    }
    m->size = (uint64_t)st.st_size;
    close(fd); /* the mapping keeps the file alive */
    return 0;
}

void pw_map_close(pw_map *m)
{
    if (m->addr)
        munmap(m->addr, (size_t)m->size);
    memset(m, 0, sizeof *m);
}
