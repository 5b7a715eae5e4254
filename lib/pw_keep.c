/* pw_keep.c -- the pool of large buffers kept between uses (see pw_keep.h).
 *
 * A handful of slots under one mutex: the engine holds at most a few dozen
 * large arrays at once, so a linear scan is cheaper than anything smarter.
 * A kept buffer serves a request at least its size and at most twice it, so
 * a small request never takes the block a large one will ask for again. */
#include "pw_keep.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "pw_limits.h"

#define KEEP_SLOTS 16 /* buffers kept at most */

static struct {
    pthread_mutex_t mu;       /* guards the rest */
    void *block[KEEP_SLOTS];  /* kept buffers (NULL: empty slot) */
    size_t bytes[KEEP_SLOTS]; /* their sizes */
} keep = {PTHREAD_MUTEX_INITIALIZER, {0}, {0}};

/* The byte size of count elements of size bytes (at least one), or 0 on overflow. */
static size_t byte_size(size_t count, size_t size)
{
    if (count == 0)
        count = 1;
    return size == 0 || count > SIZE_MAX / size ? 0 : count * size;
}

void *pw_keep_alloc(size_t count, size_t size)
{
    size_t bytes = byte_size(count, size);
    if (bytes == 0)
        return NULL;
    int best = -1;
    pthread_mutex_lock(&keep.mu);
    for (int i = 0; i < KEEP_SLOTS; i++)
        if (keep.block[i] && keep.bytes[i] >= bytes && keep.bytes[i] / 2 <= bytes &&
            (best < 0 || keep.bytes[i] < keep.bytes[best]))
            best = i;
    void *b = NULL;
    if (best >= 0) {
        b = keep.block[best];
        keep.block[best] = NULL;
    }
    pthread_mutex_unlock(&keep.mu);
    return b ? b : malloc(bytes);
}

void pw_keep_free(void *p, size_t count, size_t size)
{
    size_t bytes = byte_size(count, size);
    if (!p)
        return;
    pthread_mutex_lock(&keep.mu);
    size_t total = bytes;
    int slot = -1;
    for (int i = 0; i < KEEP_SLOTS; i++) {
        if (keep.block[i])
            total += keep.bytes[i];
        else if (slot < 0)
            slot = i;
    }
    if (bytes > 0 && slot >= 0 && total <= PW_KEEP_BYTES) {
        keep.block[slot] = p;
        keep.bytes[slot] = bytes;
        p = NULL;
    }
    pthread_mutex_unlock(&keep.mu);
    free(p);
}

void pw_keep_drain(void)
{
    pthread_mutex_lock(&keep.mu);
    for (int i = 0; i < KEEP_SLOTS; i++) {
        free(keep.block[i]);
        keep.block[i] = NULL;
        keep.bytes[i] = 0;
    }
    pthread_mutex_unlock(&keep.mu);
}
