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
 *             else $XDG_RUNTIME_DIR/pwccad.sock, else /tmp/pwccad-UID/pwccad.sock
 *   retained  retain_dir, else the directory "retained" beside the database
 *             (checkpoint copies the daemon keeps when retention is on)
 *
 * Users of the system service set PWCCAD_DB=/var/lib/pwccad/pwccad.db and
 * PWCCAD_SOCKET=/run/pwccad/pwccad.sock (installed in /etc/profile.d).
 *
 * /tmp is shared: anyone can create /tmp/pwccad-UID first.  So the fallback
 * socket lives in a private directory that the daemon creates with mode 0700
 * and that daemon and client both verify (a real directory, owned by the
 * user, mode 0700) before using it; and a client trusts a daemon only when
 * the peer's uid (SO_PEERCRED) is its own, root's, or that of the owner of
 * the socket in a directory nobody else may write (pw_paths_trust_peer). */
#ifndef PW_PATHS_H
#define PW_PATHS_H

#include <stddef.h>

#include "pw_error.h"

/* Resolve the database path into buf.  flag is the --db value or NULL.
 * Returns 0, or -1 when the result does not fit or no home is known. */
int pw_paths_db(const char *flag, char *buf, size_t len, pw_err *err);
/* 1 when db names a PostgreSQL database (a postgresql:// or postgres:// URI,
 * libpq's syntax) rather than an SQLite file. */
int pw_paths_is_pg(const char *db);
/* db as logs and messages may show it: a PostgreSQL URI's password replaced by "***". */
void pw_paths_display(const char *db, char *buf, size_t len);
/* Resolve the socket path into buf (fits a sockaddr_un).  flag is --socket or NULL. */
int pw_paths_socket(const char *flag, char *buf, size_t len, pw_err *err);
/* Resolve the retained-copies directory into buf.  flag is retain_dir or NULL;
 * db is the resolved database path. */
int pw_paths_retain(const char *flag, const char *db, char *buf, size_t len, pw_err *err);
/* mkdir -p of the directory holding path, with mode for created directories. */
int pw_paths_make_parent(const char *path, unsigned mode, pw_err *err);

/* The fallback socket's private directory for uid: /tmp/pwccad-UID. */
int pw_paths_private_dir(unsigned long uid, char *buf, size_t len, pw_err *err);
/* Check that dir is uid's private directory: a directory, not a symbolic link,
 * owned by uid, mode 0700.  With create it is made first when missing;
 * without, a missing one is not an error (the connect then fails). */
int pw_paths_check_private(const char *dir, unsigned long uid, int create, pw_err *err);
/* Before binding (create = 1) or connecting to (create = 0) sock_path: when it
 * is the fallback socket, check (and create) its private directory; else,
 * with create, make its parent directories (mode 0755). */
int pw_paths_socket_dir(const char *sock_path, int create, pw_err *err);
/* May a client of uid me trust the daemon that answers at sock_path, whose
 * peer credentials give uid peer?  Yes when peer is me or root, or when peer
 * owns the socket file and its directory is owned by peer or root and
 * writable by no one else (the system service's /run/pwccad).  Otherwise -1
 * with a sentence: anyone may bind a socket in a shared directory. */
int pw_paths_trust_peer(const char *sock_path, unsigned long peer, unsigned long me, pw_err *err);

#endif
