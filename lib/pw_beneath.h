/* pw_beneath.h -- open a file under a trusted directory without following symlinks.
 *
 * The daemon reads files that other people write in its watch roots.  A
 * symbolic link there could point anywhere the daemon may read (another
 * user's run, /etc/shadow), so by default everything below a watch root is
 * opened with pw_open_beneath: openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)
 * from the root's descriptor where the kernel has it (Linux 5.6), else a
 * walk that opens one component at a time with O_NOFOLLOW.  Either way no
 * component below base may be a symlink or "..", so the file opened is the
 * one a listing of base shows -- not one a writer swapped in mid-path.  base
 * itself (the configured root) is opened as given. */
#ifndef PW_BENEATH_H
#define PW_BENEATH_H

/* Open path (absolute and below base, or relative to base) with open(2)
 * flags (O_CLOEXEC and O_NOFOLLOW are added).  base NULL: plain open(2),
 * symlinks followed.  Returns a descriptor, or -1 with errno set: ELOOP when
 * a component is a symlink, EXDEV when path is not below base. */
int pw_open_beneath(const char *base, const char *path, int flags);

/* What errno from pw_open_beneath means, for a message. */
const char *pw_beneath_strerror(int e);

/* Tests: 1 makes pw_open_beneath use the component walk, as on old kernels. */
void pw_beneath_walk_only(int on);

#endif
