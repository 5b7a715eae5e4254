/* pw_afile.h -- write a file so that a crash leaves either the old file or
 * the whole new one, never a part.
 *
 * The data go to a dotfile temporary in the target's directory (so rename()
 * is atomic and a watcher ignores it), which is fsynced, renamed over the
 * target, and the directory fsynced so the rename itself survives a crash.
 * Used by the safetensors writer and by the daemon's retained copies. */
#ifndef PW_AFILE_H
#define PW_AFILE_H

#include <stddef.h>

#include "pw_error.h"
#include "pw_limits.h"

typedef struct pw_afile {
    int fd;                /* the temporary, open for writing; -1 once finished */
    const char *path;      /* the target (the caller's string, kept until finished) */
    char tmp[PW_PATH_MAX]; /* the temporary's path: ".NAME.tmp.PID" beside the target */
} pw_afile;

/* Create the temporary for path.  0, or -1 with err naming path. */
int pw_afile_open(pw_afile *f, const char *path, pw_err *err);
/* Append len bytes (retrying short writes and EINTR).  0, or -1 with errno's sentence. */
int pw_afile_write(pw_afile *f, const void *buf, size_t len, pw_err *err);
/* fsync, close, rename over the target, fsync the directory.  On failure
 * the temporary is removed and the target untouched. */
int pw_afile_commit(pw_afile *f, pw_err *err);
/* Give up: close and remove the temporary (safe to call after commit). */
void pw_afile_abort(pw_afile *f);

#endif
