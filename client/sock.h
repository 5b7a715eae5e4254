/* sock.h -- the client end of pwccad's control socket (docs/protocol.md).
 *
 * One JSON object per line each way.  Reads are bounded in size
 * (PW_SOCK_MAX_RESPONSE) and, for requests, in time (PW_SOCK_TIMEOUT_MS), so
 * a stuck or hostile daemon cannot hang or exhaust the client.  Errors say
 * what a user can do: "no daemon is listening on PATH" when the socket is
 * missing or refuses. */
#ifndef PWCCA_SOCK_H
#define PWCCA_SOCK_H

#include <stddef.h>

#include <jansson.h>

#include "pw_error.h"

typedef struct pwcca_sock {
    int fd;         /* connected socket, -1 when closed */
    char *buf;      /* bytes received and not yet returned as lines */
    size_t len;     /* bytes in buf */
    size_t cap;     /* bytes allocated */
    char path[108]; /* socket path, for messages */
} pwcca_sock;

/* Connect to the daemon listening at path. */
int pwcca_sock_connect(pwcca_sock *s, const char *path, pw_err *err);
/* Send msg as one line. */
int pwcca_sock_send(pwcca_sock *s, json_t *msg, pw_err *err);
/* Receive one JSON object line into *out (caller decrefs).  timeout_ms < 0
 * waits as long as it takes.  The daemon closing the connection is an error. */
int pwcca_sock_recv(pwcca_sock *s, int timeout_ms, json_t **out, pw_err *err);
void pwcca_sock_close(pwcca_sock *s);

/* Connect, send req, read the answer within PW_SOCK_TIMEOUT_MS and close.
 * An answer with "ok": false fails with the daemon's "error" sentence. */
int pwcca_sock_call(const char *path, json_t *req, json_t **resp, pw_err *err);
/* The socket path from --socket / PWCCAD_SOCKET / defaults. */
int pwcca_sock_path(const char *flag, char *buf, size_t len, pw_err *err);

#endif
