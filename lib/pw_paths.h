/* pw_paths.h -- where the database and the control socket live by default.
 *
 * Daemon and client resolve the same way, so `pwcca` finds what `pwccad`
 * writes without flags (documented in README.md):
 *
 *   database  --db FILE, else $PWCCAD_DB, else $STATE_DIRECTORY/pwccad.db
 *             (systemd's StateDirectory=), else
 *             ${XDG_STATE_HOME:-$HOME/.local/state}/pwccad/pwccad.db
 *   socket    --socket PATH, else $PWCCAD_SOCKET, else
 *             $RUNTIME_DIRECTORY/pwccad.sock (systemd's RuntimeDirectory=),
 *             else $XDG_RUNTIME_DIR/pwccad.sock, else /tmp/pwccad-UID.sock
 *   retained  retain_dir, else the directory "retained" beside the database
 *             (checkpoint copies the daemon keeps when retention is on)
 *
 * Users of the system service set PWCCAD_DB=/var/lib/pwccad/pwccad.db and
 * PWCCAD_SOCKET=/run/pwccad/pwccad.sock (installed in /etc/profile.d). */
#ifndef PW_PATHS_H
#define PW_PATHS_H

#include <stddef.h>

#include "pw_error.h"

/* Resolve the database path into buf.  flag is the --db value or NULL.
 * Returns 0, or -1 when the result does not fit or no home is known. */
int pw_paths_db(const char *flag, char *buf, size_t len, pw_err *err);
/* Resolve the socket path into buf (fits a sockaddr_un).  flag is --socket or NULL. */
int pw_paths_socket(const char *flag, char *buf, size_t len, pw_err *err);
/* Resolve the retained-copies directory into buf.  flag is retain_dir or NULL;
 * db is the resolved database path. */
int pw_paths_retain(const char *flag, const char *db, char *buf, size_t len, pw_err *err);
/* mkdir -p of the directory holding path, with mode for created directories. */
int pw_paths_make_parent(const char *path, unsigned mode, pw_err *err);

#endif
