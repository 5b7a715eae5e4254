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

int pw_paths_db(const char *flag, char *buf, size_t len, pw_err *err)
{
    char dir[4096];
    const char *env = getenv("PWCCAD_DB");
    if (flag && *flag)
        return fits(snprintf(buf, len, "%s", flag), len, "database", err);
    if (env && *env)
        return fits(snprintf(buf, len, "%s", env), len, "database", err);
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

int pw_paths_socket(const char *flag, char *buf, size_t len, pw_err *err)
{
    char dir[4096];
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
    return fits(snprintf(buf, max, "/tmp/pwccad-%lu.sock", (unsigned long)getuid()), max, "socket",
                err);
}

int pw_paths_retain(const char *flag, const char *db, char *buf, size_t len, pw_err *err)
{
    if (flag && *flag)
        return fits(snprintf(buf, len, "%s", flag), len, "retain_dir", err);
    const char *slash = strrchr(db, '/');
    if (!slash)
        return fits(snprintf(buf, len, "retained"), len, "retain_dir", err);
    return fits(snprintf(buf, len, "%.*sretained", (int)(slash - db + 1), db), len, "retain_dir",
                err);
}

int pw_paths_make_parent(const char *path, unsigned mode, pw_err *err)
{
    char dir[4096];
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
