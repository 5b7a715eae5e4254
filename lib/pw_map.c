/* pw_map.c -- read-only mmap of a whole regular file, and the SIGBUS guard
 * for files truncated while mapped (see pw_map.h).
 *
 * The handler must find "is this address ours?" without locks or malloc:
 * mappings are registered in segments of slots that are never freed, each
 * slot's start and length read with atomics (lock-free on every target we
 * build for).  Registering and releasing take a mutex, on the open and close
 * paths only.  A slot is published by storing its start last, and released
 * before its range is unmapped (so a later mapping at the same address
 * finds only its own slot); a fault inside a mapping being closed is the
 * caller's bug either way.
 *
 * Why zero pages and not siglongjmp: the faulting read may be inside zlib,
 * a parser, or a Gram lane holding a lock and buffers; jumping out would
 * leak them or leave the lock held.  mmap(MAP_FIXED) over the rest of the
 * mapping lets every reader finish normally (it is a plain system call on
 * Linux, safe in a handler), and munmap of the whole range later removes
 * both kinds of pages. */
#include "pw_map.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SLOTS_PER_SEGMENT 64 /* registrations per segment of the table */

struct pw_map_slot {
    atomic_uintptr_t start; /* first byte of the mapping, 0 when the slot is free */
    atomic_size_t len;      /* its length in bytes */
    atomic_int faulted;     /* 1 once a read met a page past the file's end */
};

typedef struct slot_segment {
    struct pw_map_slot slot[SLOTS_PER_SEGMENT]; /* registrations */
    _Atomic(struct slot_segment *) next;        /* the next segment, NULL at the end */
} slot_segment;

static slot_segment first_segment; /* the table; later segments are heap */
static pthread_mutex_t table_mu = PTHREAD_MUTEX_INITIALIZER; /* registering and releasing */
static pthread_once_t guard_once = PTHREAD_ONCE_INIT;        /* the handler's installation */
static struct sigaction previous;                            /* SIGBUS disposition before ours */
static uintptr_t page_size;                                  /* for rounding the fault address */

/* A SIGBUS that is not ours: the previous handler, or the default action
 * (restored here; returning re-runs the access, which then kills). */
static void pass_on(int sig, siginfo_t *si, void *uctx)
{
    if ((previous.sa_flags & SA_SIGINFO) && previous.sa_sigaction) {
        previous.sa_sigaction(sig, si, uctx);
    } else if (!(previous.sa_flags & SA_SIGINFO) && previous.sa_handler != SIG_DFL &&
               previous.sa_handler != SIG_IGN) {
        previous.sa_handler(sig);
    } else {
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigemptyset(&dfl.sa_mask);
        sigaction(SIGBUS, &dfl, NULL);
    }
}

static void on_sigbus(int sig, siginfo_t *si, void *uctx)
{
    int saved = errno;
    uintptr_t a = (uintptr_t)si->si_addr;
    for (slot_segment *seg = &first_segment; seg; seg = atomic_load(&seg->next))
        for (int i = 0; i < SLOTS_PER_SEGMENT; i++) {
            struct pw_map_slot *s = &seg->slot[i];
            uintptr_t start = atomic_load(&s->start);
            size_t len = atomic_load(&s->len);
            if (!start || a < start || a - start >= len)
                continue;
            atomic_store(&s->faulted, 1);
            uintptr_t page = a & ~(page_size - 1);
            size_t rest = (start + len - page + page_size - 1) & ~(page_size - 1);
            void *at = (char *)si->si_addr - (a - page); /* the page, as a pointer */
            if (mmap(at, rest, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) !=
                MAP_FAILED) {
                errno = saved;
                return; /* the read is retried and now sees zeros */
            }
            pass_on(sig, si, uctx);
            errno = saved;
            return;
        }
    pass_on(sig, si, uctx);
    errno = saved;
}

static void install_guard(void)
{
    long ps = sysconf(_SC_PAGESIZE);
    page_size = ps > 0 ? (uintptr_t)ps : 4096;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, &previous);
}

/* A free slot for [start, start + len), or NULL when out of memory. */
static struct pw_map_slot *slot_register(const void *start, size_t len)
{
    struct pw_map_slot *got = NULL;
    pthread_mutex_lock(&table_mu);
    slot_segment *seg = &first_segment, *last = NULL;
    for (; seg && !got; last = seg, seg = atomic_load(&seg->next))
        for (int i = 0; i < SLOTS_PER_SEGMENT && !got; i++)
            if (atomic_load(&seg->slot[i].start) == 0)
                got = &seg->slot[i];
    if (!got) {
        /* Never freed: the handler may be walking the table at any moment. */
        slot_segment *fresh = calloc(1, sizeof *fresh);
        if (fresh) {
            atomic_store(&last->next, fresh);
            got = &fresh->slot[0];
        }
    }
    if (got) {
        atomic_store(&got->faulted, 0);
        atomic_store(&got->len, len);
        atomic_store(&got->start, (uintptr_t)start);
    }
    pthread_mutex_unlock(&table_mu);
    return got;
}

static void slot_release(struct pw_map_slot *s)
{
    pthread_mutex_lock(&table_mu);
    atomic_store(&s->start, 0);
    atomic_store(&s->len, 0);
    pthread_mutex_unlock(&table_mu);
}

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
    /* Every mapping, whichever way its file was opened, is guarded. */
    pthread_once(&guard_once, install_guard);
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
        m->slot = slot_register(p, (size_t)st.st_size);
        if (!m->slot) {
            munmap(p, (size_t)st.st_size);
            close(fd);
            return pw_err_set(err, "out of memory registering a mapping");
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
    /* Released first: once unmapped, the range may be handed to another
     * mapping, whose faults must find its own slot. */
    if (m->slot)
        slot_release(m->slot);
    if (m->addr)
        munmap(m->addr, (size_t)m->size);
    memset(m, 0, sizeof *m);
}

int pw_map_faulted(const pw_map *m)
{
    return m->slot ? atomic_load(&m->slot->faulted) : 0;
}
