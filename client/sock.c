/* sock.c -- line-delimited JSON over the daemon's Unix socket (see sock.h). */
#include "sock.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "pw_limits.h"
#include "pw_paths.h"

int pwcca_sock_path(const char *flag, char *buf, size_t len, pw_err *err)
{
    return pw_paths_socket(flag, buf, len, err);
}

int pwcca_sock_connect(pwcca_sock *s, const char *path, pw_err *err)
{
    struct sockaddr_un sun;
    memset(s, 0, sizeof *s);
    s->fd = -1;
    _Static_assert(sizeof s->path >= sizeof sun.sun_path, "room for any socket path");
    if (strlen(path) >= sizeof sun.sun_path)
        return pw_err_set(err, "socket path %s is too long for a Unix socket", path);
    snprintf(s->path, sizeof s->path, "%s", path);
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, path, strlen(path) + 1);
    if (pw_paths_socket_dir(path, 0, err) != 0)
        return -1;
    s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->fd < 0)
        return pw_err_set(err, "cannot create a socket: %s", strerror(errno));
    if (connect(s->fd, (const struct sockaddr *)&sun, sizeof sun) != 0) {
        int e = errno;
        close(s->fd);
        s->fd = -1;
        if (e == ENOENT || e == ECONNREFUSED || e == ENOTDIR)
            return pw_err_set(err,
                              "no daemon is listening on %s (%s): is pwccad running? "
                              "(--socket or PWCCAD_SOCKET name another socket)",
                              path, e == ECONNREFUSED ? "connection refused" : "no such socket");
        if (e == EACCES || e == EPERM)
            return pw_err_set(err,
                              "permission denied connecting to %s: the daemon's socket is for "
                              "its user and group",
                              path);
        return pw_err_set(err, "cannot connect to %s: %s", path, strerror(e));
    }
    /* Whoever answers is told our requests and believed: only a daemon of
     * ours, root's or the socket directory's owner is (pw_paths.h). */
    struct ucred cr;
    socklen_t crlen = sizeof cr;
    int rc = 0;
    if (getsockopt(s->fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) != 0)
        rc = pw_err_set(err, "cannot tell who serves %s: %s", path, strerror(errno));
    else
        rc = pw_paths_trust_peer(path, (unsigned long)cr.uid, (unsigned long)getuid(), err);
    if (rc != 0) {
        close(s->fd);
        s->fd = -1;
    }
    return rc;
}

void pwcca_sock_close(pwcca_sock *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    free(s->buf);
    s->buf = NULL;
    s->len = s->cap = 0;
}

int pwcca_sock_send(pwcca_sock *s, json_t *msg, pw_err *err)
{
    char *json = json_dumps(msg, JSON_COMPACT | JSON_REAL_PRECISION(17));
    size_t n = json ? strlen(json) : 0;
    char *line = json ? realloc(json, n + 2) : NULL;
    if (!line) {
        free(json);
        return pw_err_set(err, "cannot encode the request");
    }
    line[n++] = '\n';
    line[n] = '\0';
    for (size_t off = 0; off < n;) {
        ssize_t w = send(s->fd, line + off, n - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            pw_err_set(err, "cannot send to the daemon at %s: %s", s->path, strerror(errno));
            free(line);
            return -1;
        }
        off += (size_t)w;
    }
    free(line);
    return 0;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int pwcca_sock_recv(pwcca_sock *s, int timeout_ms, json_t **out, pw_err *err)
{
    long long deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : -1;
    *out = NULL;
    for (;;) {
        char *nl = s->len ? memchr(s->buf, '\n', s->len) : NULL;
        if (nl) {
            size_t n = (size_t)(nl - s->buf);
            json_error_t je;
            json_t *v = json_loadb(s->buf, n, 0, &je);
            memmove(s->buf, nl + 1, s->len - n - 1);
            s->len -= n + 1;
            if (!v || !json_is_object(v)) {
                json_decref(v);
                return pw_err_set(err, "the daemon at %s sent a line that is not a JSON object",
                                  s->path);
            }
            *out = v;
            return 0;
        }
        if (s->len >= PW_SOCK_MAX_RESPONSE)
            return pw_err_set(err, "the daemon at %s sent a line longer than %u bytes", s->path,
                              (unsigned)PW_SOCK_MAX_RESPONSE);
        int wait = -1;
        if (deadline >= 0) {
            long long left = deadline - now_ms();
            if (left <= 0)
                return pw_err_set(err, "the daemon at %s did not answer within %d ms", s->path,
                                  timeout_ms);
            wait = (int)left;
        }
        struct pollfd pfd = {s->fd, POLLIN, 0};
        int pr = poll(&pfd, 1, wait);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr < 0)
            return pw_err_set(err, "waiting for the daemon: %s", strerror(errno));
        if (pr == 0)
            continue; /* the deadline check above reports it */
        if (s->cap - s->len < 4096) {
            size_t cap = s->cap ? s->cap * 2 : 8192;
            if (cap > PW_SOCK_MAX_RESPONSE + 4096)
                cap = PW_SOCK_MAX_RESPONSE + 4096;
            char *b = realloc(s->buf, cap);
            if (!b)
                return pw_err_set(err, "out of memory reading from the daemon");
            s->buf = b;
            s->cap = cap;
        }
        ssize_t r = recv(s->fd, s->buf + s->len, s->cap - s->len, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return pw_err_set(err, "reading from the daemon at %s: %s", s->path, strerror(errno));
        if (r == 0)
            return pw_err_set(err, "the daemon at %s closed the connection", s->path);
        s->len += (size_t)r;
    }
}

int pwcca_sock_call(const char *path, json_t *req, json_t **resp, pw_err *err)
{
    pwcca_sock s;
    *resp = NULL;
    if (pwcca_sock_connect(&s, path, err) != 0)
        return -1;
    json_t *v = NULL;
    int rc = pwcca_sock_send(&s, req, err);
    if (rc == 0)
        rc = pwcca_sock_recv(&s, PW_SOCK_TIMEOUT_MS, &v, err);
    pwcca_sock_close(&s);
    if (rc != 0)
        return -1;
    if (!json_is_true(json_object_get(v, "ok"))) {
        const char *e = json_string_value(json_object_get(v, "error"));
        pw_err_set(err, "the daemon refused: %s", e ? e : "(no reason given)");
        json_decref(v);
        return -1;
    }
    *resp = v;
    return 0;
}
