/* pw_map.h -- a whole file mapped read-only, with its size.
 *
 * The readers never copy activation data: they validate headers against the
 * mapped bytes and hand out pw_tensor views that point straight into the
 * mapping.  An empty file has size 0 and no mapping (mmap refuses length 0),
 * so callers must check sizes before touching data -- which they do anyway.
 *
 * A mapping whose file is truncated by someone else raises SIGBUS on access;
 * checkpoints are therefore read only once complete (pw_ckpt_is_complete)
 * and must be renamed into place, never rewritten in place. */
#ifndef PW_MAP_H
#define PW_MAP_H

#include <stdint.h>

#include "pw_error.h"

typedef struct pw_map {
    const unsigned char *data; /* first byte of the file, NULL when size is 0 */
    uint64_t size;             /* file size in bytes at open time */
    void *addr;                /* the mapping as mmap returned it, for munmap */
} pw_map;

/* Map a regular file read-only.  On failure m is zeroed and err says why
 * (without the path: the caller prefixes it). */
int pw_map_open(pw_map *m, const char *path, pw_err *err);
/* The same for a descriptor open for reading, which it closes in every case. */
int pw_map_open_fd(pw_map *m, int fd, pw_err *err);
/* Unmap; safe on a zeroed or already closed map. */
void pw_map_close(pw_map *m);

#endif
