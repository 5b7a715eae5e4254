/* pw_map.h -- a whole file mapped read-only, with its size.
 *
 * The readers never copy activation data: they validate headers against the
 * mapped bytes and hand out pw_tensor views that point straight into the
 * mapping.  An empty file has size 0 and no mapping (mmap refuses length 0),
 * so callers must check sizes before touching data -- which they do anyway.
 *
 * A mapping whose file is truncated by someone else raises SIGBUS on access
 * to the pages past the new end.  Checkpoints are read only once complete
 * (pw_ckpt_is_complete) and should be renamed into place, but a local user
 * can still truncate one while the daemon reads it.  So every mapping is
 * registered, and a process-wide SIGBUS handler (installed by the first
 * pw_map_open) that finds the faulting address inside a registered mapping
 * puts zero pages over the rest of it and marks the map: the read goes on
 * over zeros, on whichever thread it was (a Gram lane, zlib, a parser), and
 * the owner asks pw_map_faulted afterwards and throws the result away.  A
 * SIGBUS anywhere else goes to the handler that was there before, or kills
 * the process as it always did. */
#ifndef PW_MAP_H
#define PW_MAP_H

#include <stdint.h>

#include "pw_error.h"

struct pw_map_slot; /* the mapping's entry in the SIGBUS handler's table (pw_map.c) */

typedef struct pw_map {
    const unsigned char *data; /* first byte of the file, NULL when size is 0 */
    uint64_t size;             /* file size in bytes at open time */
    void *addr;                /* the mapping as mmap returned it, for munmap */
    struct pw_map_slot *slot;  /* its registration, NULL when size is 0 */
} pw_map;

/* Map a regular file read-only.  On failure m is zeroed and err says why
 * (without the path: the caller prefixes it). */
int pw_map_open(pw_map *m, const char *path, pw_err *err);
/* The same for a descriptor open for reading, which it closes in every case. */
int pw_map_open_fd(pw_map *m, int fd, pw_err *err);
/* Unmap; safe on a zeroed or already closed map. */
void pw_map_close(pw_map *m);
/* 1 once a read of the mapping met a page past the file's end (the file was
 * truncated while mapped: what was read since is zeros, not the file), else
 * 0.  Any thread; stays 1 until pw_map_close. */
int pw_map_faulted(const pw_map *m);

#endif
