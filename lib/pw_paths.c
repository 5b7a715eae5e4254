/* pw_paths.c -- the default database and socket locations (see pw_paths.h). */
#include "pw_paths.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "pw_limits.h"
#include "pw_store_impl.h"

/* systemd passes colon-separated lists in *_DIRECTORY; the first entry is ours. */
static int first_dir(const char *var, char *buf, size_t len)
{
    const char *v = getenv(var);
    if (!v || !*v)
        return 0;
    size_t n = strcspn(v, ":");
    if (n + 1 > len)
        return 0;
    memcpy(buf, v, n);
    buf[n] = '\0';
    return 1;
}

static int fits(int written, size_t len, const char *what, pw_err *err)
{
    if (written < 0 || (size_t)written >= len)
        return pw_err_set(err, "%s path is too long", what);
    return 0;
}

/* The SQLite file's place when neither --db nor PWCCAD_DB names one. */
static int default_db(char *buf, size_t len, pw_err *err)
{
    char dir[PW_PATH_MAX];
    if (first_dir("STATE_DIRECTORY", dir, sizeof dir))
        return fits(snprintf(buf, len, "%s/pwccad.db", dir), len, "database", err);
    const char *xdg = getenv("XDG_STATE_HOME");
    if (xdg && *xdg)
        return fits(snprintf(buf, len, "%s/pwccad/pwccad.db", xdg), len, "database", err);
    const char *home = getenv("HOME");
    if (!home || !*home)
        return pw_err_set(err, "no database given: set --db, PWCCAD_DB or HOME");
    return fits(snprintf(buf, len, "%s/.local/state/pwccad/pwccad.db", home), len, "database", err);
}

int pw_paths_db(const char *flag, char *buf, size_t len, pw_err *err)
{
    const char *env = getenv("PWCCAD_DB");
    if (flag && *flag)
        return fits(snprintf(buf, len, "%s", flag), len, "database", err);
    if (env && *env)
        return fits(snprintf(buf, len, "%s", env), len, "database", err);
    return default_db(buf, len, err);
}

int pw_paths_is_pg(const char *db)
{
    return strncmp(db, "postgresql://", 13) == 0 || strncmp(db, "postgres://", 11) == 0;
}

void pw_paths_display(const char *db, char *buf, size_t len)
{
    if (pw_paths_is_pg(db))
        pw_pg_display(db, buf, len);
    else
        snprintf(buf, len, "%s", db);
}

int pw_paths_socket(const char *flag, char *buf, size_t len, pw_err *err)
{
    char dir[PW_PATH_MAX];
    struct sockaddr_un sun;
    size_t max = len < sizeof sun.sun_path ? len : sizeof sun.sun_path;
    const char *env = getenv("PWCCAD_SOCKET");
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    if (flag && *flag)
        return fits(snprintf(buf, max, "%s", flag), max, "socket", err);
    if (env && *env)
        return fits(snprintf(buf, max, "%s", env), max, "socket", err);
    if (first_dir("RUNTIME_DIRECTORY", dir, sizeof dir))
        return fits(snprintf(buf, max, "%s/pwccad.sock", dir), max, "socket", err);
    if (xdg && *xdg)
        return fits(snprintf(buf, max, "%s/pwccad.sock", xdg), max, "socket", err);
    if (pw_paths_private_dir(getuid(), dir, sizeof dir, err) != 0)
        return -1;
    return fits(snprintf(buf, max, "%s/pwccad.sock", dir), max, "socket", err);
}

int pw_paths_retain(const char *flag, const char *db, char *buf, size_t len, pw_err *err)
{
    char local[PW_PATH_MAX];
    if (flag && *flag)
        return fits(snprintf(buf, len, "%s", flag), len, "retain_dir", err);
    /* A database on a server has no directory here: the copies go where a
     * local database would have been. */
    if (pw_paths_is_pg(db)) {
        if (default_db(local, sizeof local, err))
            return -1;
        db = local;
    }
    const char *slash = strrchr(db, '/');
    if (!slash)
        return fits(snprintf(buf, len, "retained"), len, "retain_dir", err);
    return fits(snprintf(buf, len, "%.*sretained", (int)(slash - db + 1), db), len, "retain_dir",
                err);
}

int pw_paths_make_parent(const char *path, unsigned mode, pw_err *err)
{
    char dir[PW_PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir)
        return pw_err_set(err, "%s: path too long", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, mode) != 0 && errno != EEXIST)
            return pw_err_set(err, "cannot create %s: %s", dir, strerror(errno));
        *p = '/';
    }
    if (mkdir(dir, mode) != 0 && errno != EEXIST)
        return pw_err_set(err, "cannot create %s: %s", dir, strerror(errno));
    return 0;
}

int pw_paths_private_dir(unsigned long uid, char *buf, size_t len, pw_err *err)
{
    return fits(snprintf(buf, len, "/tmp/pwccad-%lu", uid), len, "socket directory", err);
}

int pw_paths_check_private(const char *dir, unsigned long uid, int create, pw_err *err)
{
    struct stat st;
    if (create && mkdir(dir, 0700) != 0 && errno != EEXIST)
        return pw_err_set(err, "cannot create %s: %s", dir, strerror(errno));
    if (lstat(dir, &st) != 0) {
        if (errno == ENOENT && !create)
            return 0;
        return pw_err_set(err, "%s: %s", dir, strerror(errno));
    }
    /* Anyone can create this name in /tmp first: whatever is there must be
     * exactly what the daemon makes, or someone else may control the socket. */
    const char *hint = "another user may be impersonating pwccad; remove it, or set "
                       "XDG_RUNTIME_DIR or PWCCAD_SOCKET";
    if (S_ISLNK(st.st_mode))
        return pw_err_set(err, "%s is a symbolic link, not a private directory: %s", dir, hint);
    if (!S_ISDIR(st.st_mode))
        return pw_err_set(err, "%s is not a directory: %s", dir, hint);
    if ((unsigned long)st.st_uid != uid)
        return pw_err_set(err, "%s belongs to uid %lu, not to uid %lu: %s", dir,
                          (unsigned long)st.st_uid, uid, hint);
    if ((st.st_mode & 07777) != 0700)
        return pw_err_set(err, "%s has mode %04o, not 0700: %s", dir,
                          (unsigned)(st.st_mode & 07777), hint);
    return 0;
}

int pw_paths_socket_dir(const char *sock_path, int create, pw_err *err)
{
    char dir[128];
    if (pw_paths_private_dir(getuid(), dir, sizeof dir, err) != 0)
        return -1;
    size_t n = strlen(dir);
    const char *slash = strrchr(sock_path, '/');
    if (slash && (size_t)(slash - sock_path) == n && strncmp(sock_path, dir, n) == 0)
        return pw_paths_check_private(dir, getuid(), create, err);
    return create ? pw_paths_make_parent(sock_path, 0755, err) : 0;
}

int pw_paths_trust_peer(const char *sock_path, unsigned long peer, unsigned long me, pw_err *err)
{
    if (peer == me || peer == 0)
        return 0;
    char dir[PW_PATH_MAX];
    struct stat sock_st, dir_st;
    const char *slash = strrchr(sock_path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == sock_path)
        snprintf(dir, sizeof dir, "/");
    else if (snprintf(dir, sizeof dir, "%.*s", (int)(slash - sock_path), sock_path) >=
             (int)sizeof dir)
        return pw_err_set(err, "%s: path too long", sock_path);
    /* The directory may be reached through symbolic links (/var/run): what
     * counts is who can add or replace entries in the one it resolves to. */
    int owned = lstat(sock_path, &sock_st) == 0 && S_ISSOCK(sock_st.st_mode) &&
                (unsigned long)sock_st.st_uid == peer && stat(dir, &dir_st) == 0 &&
                S_ISDIR(dir_st.st_mode) &&
                ((unsigned long)dir_st.st_uid == peer || dir_st.st_uid == 0) &&
                (dir_st.st_mode & 0022) == 0;
    if (owned)
        return 0;
    return pw_err_set(err,
                      "refusing the daemon at %s: it runs as uid %lu, which is neither you (uid "
                      "%lu) nor root nor the owner of a directory only it can write; another "
                      "user may be impersonating pwccad (check --socket / PWCCAD_SOCKET)",
                      sock_path, peer, me);
}
