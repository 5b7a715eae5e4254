/* test_metrics_http.c -- the /metrics endpoint as a scraper and a hostile
 * client see it: status codes, headers and body, malformed and oversized
 * requests, request bodies, the connection limit and slow clients beside a
 * scrape, and a stop that never hangs the loop.
 *
 * The endpoint runs on the test's main thread, as in the daemon (libh2o
 * keeps per-thread buffer caches that must outlive the loop's thread); a
 * client thread runs a script with plain blocking loopback sockets, every
 * wait bounded by SO_RCVTIMEO/SO_SNDTIMEO, stores what it saw, and stops the
 * endpoint when done.  The assertions run on the main thread afterwards. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pw_limits.h"
#include "pw_metrics_http.h"
#include "pw_test.h"

#define IO_TIMEOUT_S  5     /* bound on every socket wait in this file */
#define STOP_BOUND_MS 10000 /* the loop must end this soon after the client is done */
#define NRESP         8     /* responses a script may keep */
#define RESP_MAX      16384 /* bytes kept of each */

typedef enum render_mode { RENDER_SMALL, RENDER_FAIL, RENDER_BIG } render_mode;

static uv_loop_t loop;
static uv_async_t stopper;         /* the client thread's "done": stops the endpoint */
static uv_timer_t watchdog;        /* fails the test when stop does not end the loop */
static render_mode mode;           /* what render produces */
static int renders;                /* render calls */
static char resp[NRESP][RESP_MAX]; /* what the client script received */
static int flags[NRESP];           /* script-specific yes/no observations */

static int render(void *ctx, pw_promtext *out, pw_err *err)
{
    (void)ctx;
    renders++;
    if (mode == RENDER_FAIL)
        return pw_err_set(err, "database is locked");
    if (pw_promtext_family(out, "t_up", PW_PROM_GAUGE, "Test.", err) != 0)
        return -1;
    int n = mode == RENDER_BIG ? 200000 : 1;
    for (int i = 0; i < n; i++) {
        pw_prom_label lab = {"layer", "layer-with-a-rather-long-name-to-fill-the-socket-buffers"};
        if (pw_promtext_sample(out, mode == RENDER_BIG ? &lab : NULL, mode == RENDER_BIG, i, err) !=
            0)
            return -1;
    }
    return 0;
}

static void on_watchdog(uv_timer_t *t)
{
    (void)t;
    ck_abort_msg("the loop did not end within %d ms of stop", STOP_BOUND_MS);
}

static void on_stop(uv_async_t *h)
{
    pw_metrics_http_stop();
    uv_close((uv_handle_t *)h, NULL);
    /* unref'd: it bounds the wait without keeping the loop alive */
    uv_timer_start(&watchdog, on_watchdog, STOP_BOUND_MS, 0);
    uv_unref((uv_handle_t *)&watchdog);
}

typedef struct client_job {
    void (*script)(int port); /* what the client does */
    int port;                 /* the endpoint's port */
} client_job;

static void *client_main(void *arg)
{
    client_job *job = arg;
    job->script(job->port);
    uv_async_send(&stopper);
    return NULL;
}

/* Serve on addr while script runs in a client thread; returns when the
 * endpoint has stopped and every handle of the loop is closed. */
static void serve_while(const char *addr, render_mode m, void (*script)(int port))
{
    pw_err e;
    mode = m;
    renders = 0;
    memset(resp, 0, sizeof resp);
    memset(flags, 0, sizeof flags);
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    PW_ASSERT_OK(pw_metrics_http_start(&loop, addr, render, NULL, &e), &e);
    client_job job = {script, pw_metrics_http_port()};
    ck_assert_int_gt(job.port, 0);
    ck_assert_int_eq(uv_async_init(&loop, &stopper, on_stop), 0);
    ck_assert_int_eq(uv_timer_init(&loop, &watchdog), 0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, client_main, &job), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_int_eq(pw_metrics_http_active(), 0);
    uv_close((uv_handle_t *)&watchdog, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}

/* A connected loopback socket with bounded waits, or -1. */
static int connect_to(int family, int port)
{
    int fd = socket(family, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {IO_TIMEOUT_S, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int rc;
    if (family == AF_INET6) {
        struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
        a.sin6_addr = in6addr_loopback;
        rc = connect(fd, (struct sockaddr *)&a, sizeof a);
    } else {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        rc = connect(fd, (struct sockaddr *)&a, sizeof a);
    }
    if (rc != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n <= 0)
            return; /* the server may close early on a bad request; the reply tells */
        data += n;
        len -= (size_t)n;
    }
}

/* Read until the peer closes (or the timeout) into buf (RESP_MAX bytes). */
static void recv_all(int fd, char *buf)
{
    size_t len = 0;
    while (len + 1 < RESP_MAX) {
        ssize_t n = recv(fd, buf + len, RESP_MAX - 1 - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
}

/* One request on a fresh IPv4 connection; the response in out. */
static void exchange(int port, const char *req, size_t reqlen, char *out)
{
    int fd = connect_to(AF_INET, port);
    out[0] = '\0';
    if (fd < 0)
        return;
    send_all(fd, req, reqlen);
    recv_all(fd, out);
    close(fd);
}

/* 1 when the server closes fd without answering within the timeout. */
static int closed_by_server(int fd)
{
    char c;
    ssize_t n = recv(fd, &c, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

static int status_of(const char *r)
{
    int code = 0;
    if (sscanf(r, "HTTP/1.%*d %d", &code) != 1)
        return 0;
    return code;
}

static const char *body_of(const char *r)
{
    const char *p = strstr(r, "\r\n\r\n");
    return p ? p + 4 : "(no body)";
}

#define GET(path)            "GET " path " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
#define KEEP_ALIVE_GET       "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
#define SEND(port, req, out) exchange(port, req, strlen(req), out)

static void get_twice(int port)
{
    SEND(port, GET("/metrics"), resp[0]);
    SEND(port, GET("/metrics?x=1"), resp[1]); /* a query string is still /metrics */
}

START_TEST(get_metrics_serves_the_rendered_text)
{
    serve_while("127.0.0.1:0", RENDER_SMALL, get_twice);
    ck_assert_int_eq(status_of(resp[0]), 200);
    ck_assert_msg(strcasestr(resp[0], "\r\ncontent-type: text/plain; version=0.0.4") != NULL,
                  "response: %s", resp[0]);
    ck_assert_msg(strcasestr(resp[0], "\r\ncontent-length: 43\r\n") != NULL, "response: %s",
                  resp[0]);
    ck_assert_str_eq(body_of(resp[0]), "# HELP t_up Test.\n# TYPE t_up gauge\nt_up 0\n");
    ck_assert_int_eq(status_of(resp[1]), 200);
    ck_assert_int_eq(renders, 2);
}
END_TEST

static void head_once(int port)
{
    SEND(port, "HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", resp[0]);
}

START_TEST(head_gets_headers_without_a_body)
{
    serve_while("127.0.0.1:0", RENDER_SMALL, head_once);
    ck_assert_int_eq(status_of(resp[0]), 200);
    ck_assert_msg(strcasestr(resp[0], "\r\ncontent-length: 43\r\n") != NULL, "response: %s",
                  resp[0]);
    ck_assert_str_eq(body_of(resp[0]), "");
}
END_TEST

static const char *const other_paths[] = {GET("/"), GET("/metricsx"), GET("/metrics/x"),
                                          GET("/favicon.ico")};

static void wrong_paths_and_method(int port)
{
    for (size_t i = 0; i < 4; i++)
        SEND(port, other_paths[i], resp[i]);
    SEND(port,
         "POST /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello",
         resp[4]);
}

START_TEST(other_paths_are_404_and_other_methods_405)
{
    serve_while("127.0.0.1:0", RENDER_SMALL, wrong_paths_and_method);
    for (size_t i = 0; i < 4; i++)
        ck_assert_msg(status_of(resp[i]) == 404, "%s -> %s", other_paths[i], resp[i]);
    ck_assert_int_eq(status_of(resp[4]), 405);
    ck_assert_msg(strcasestr(resp[4], "\r\nallow: GET, HEAD\r\n") != NULL, "response: %s", resp[4]);
    ck_assert_int_eq(renders, 0);
}
END_TEST

static void get_once(int port)
{
    SEND(port, GET("/metrics"), resp[0]);
}

START_TEST(a_failed_render_is_a_500_with_its_reason)
{
    serve_while("127.0.0.1:0", RENDER_FAIL, get_once);
    ck_assert_int_eq(status_of(resp[0]), 500);
    ck_assert_msg(strstr(body_of(resp[0]), "database is locked") != NULL, "response: %s", resp[0]);
}
END_TEST

static const char *const bad_requests[] = {"garbage\r\n\r\n", "GET /metrics HTTP/9\r\n\r\n",
                                           "GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n",
                                           "\x01\x02\x03\xff\xfe\r\n\r\n"};

static void bad_then_good(int port)
{
    for (size_t i = 0; i < 4; i++)
        SEND(port, bad_requests[i], resp[i]);
    /* a 1 MiB header line */
    size_t big = 1u << 20;
    char *req = malloc(big + 64);
    if (req) {
        int off = sprintf(req, "GET /metrics HTTP/1.1\r\nX-Big: ");
        memset(req + off, 'a', big);
        memcpy(req + off + big, "\r\n\r\n", 5);
        SEND(port, req, resp[4]);
        free(req);
    }
    SEND(port, GET("/metrics"), resp[5]);
}

START_TEST(malformed_and_oversized_requests_are_refused_and_harmless)
{
    serve_while("127.0.0.1:0", RENDER_SMALL, bad_then_good);
    for (size_t i = 0; i < 4; i++)
        ck_assert_msg(status_of(resp[i]) == 400, "bad request %zu answered: %.200s", i, resp[i]);
    /* 400 too, unless the server's close overtook its answer on the wire */
    int code = status_of(resp[4]);
    ck_assert_msg(code == 0 || code == 400, "1 MiB header answered %d", code);
    /* the endpoint still serves */
    ck_assert_int_eq(status_of(resp[5]), 200);
    ck_assert_int_eq(renders, 1);
}
END_TEST

static void two_on_one_connection(int port)
{
    int fd = connect_to(AF_INET, port);
    if (fd < 0)
        return;
    send_all(fd, KEEP_ALIVE_GET GET("/metrics"), strlen(KEEP_ALIVE_GET GET("/metrics")));
    recv_all(fd, resp[0]);
    close(fd);
}

START_TEST(keep_alive_serves_several_requests_on_one_connection)
{
    serve_while("127.0.0.1:0", RENDER_SMALL, two_on_one_connection);
    ck_assert_int_eq(status_of(resp[0]), 200);
    ck_assert_msg(strstr(resp[0] + 1, "HTTP/1.1 200") != NULL, "one response only: %s", resp[0]);
    ck_assert_int_eq(renders, 2);
}
END_TEST

static void fill_to_the_limit(int port)
{
    int held[PW_HTTP_MAX_CONNS];
    for (int i = 0; i < PW_HTTP_MAX_CONNS; i++) {
        held[i] = connect_to(AF_INET, port);
        usleep(2000); /* accepted in this order, on distinct milliseconds */
    }
    /* the held connections are served: the last one answers */
    int last = held[PW_HTTP_MAX_CONNS - 1];
    send_all(last, KEEP_ALIVE_GET, strlen(KEEP_ALIVE_GET));
    ssize_t n = recv(last, resp[0], RESP_MAX - 1, 0);
    resp[0][n > 0 ? n : 0] = '\0';
    /* one more is served too, and the connection idle longest makes room */
    SEND(port, GET("/metrics"), resp[1]);
    flags[0] = closed_by_server(held[0]);
    for (int i = 0; i < PW_HTTP_MAX_CONNS; i++)
        close(held[i]);
}

START_TEST(at_the_limit_a_new_connection_is_served_and_the_oldest_goes)
{
    serve_while("127.0.0.1:0", RENDER_SMALL, fill_to_the_limit);
    ck_assert_int_eq(status_of(resp[0]), 200);
    ck_assert_msg(status_of(resp[1]) == 200, "connection %d beyond the limit: %.200s",
                  PW_HTTP_MAX_CONNS + 1, resp[1]);
    ck_assert_msg(flags[0], "the oldest idle connection was kept open");
}
END_TEST

#define NSLOW    (PW_HTTP_MAX_CONNS + 16) /* slow clients, more than the pool */
#define NSCRAPES 8                        /* scrapes that must all succeed among them */

/* Slowloris: each client sends half a request head and then nothing, and a
 * client whose connection is dropped comes back at once. */
static void slow_clients_and_scrapes(int port)
{
    static const char half[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    int slow[NSLOW];
    for (int i = 0; i < NSLOW; i++) {
        slow[i] = connect_to(AF_INET, port);
        send_all(slow[i], half, strlen(half));
    }
    int ok = 0;
    for (int k = 0; k < NSCRAPES; k++) {
        SEND(port, GET("/metrics"), resp[0]);
        ok += status_of(resp[0]) == 200;
        for (int i = 0; i < NSLOW; i++) { /* reconnect the dropped ones */
            struct timeval tv = {0, 1000};
            setsockopt(slow[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            char c;
            if (recv(slow[i], &c, 1, 0) == 0) {
                close(slow[i]);
                slow[i] = connect_to(AF_INET, port);
                send_all(slow[i], half, strlen(half));
            }
        }
    }
    flags[0] = ok;
    for (int i = 0; i < NSLOW; i++)
        close(slow[i]);
}

START_TEST(slow_clients_that_reconnect_do_not_starve_a_scrape)
{
    serve_while("127.0.0.1:0", RENDER_SMALL, slow_clients_and_scrapes);
    ck_assert_msg(flags[0] == NSCRAPES, "only %d of %d scrapes answered beside %d slow clients",
                  flags[0], NSCRAPES, NSLOW);
}
END_TEST

static void post_a_big_body(int port)
{
    static const char head[] = "POST /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                               "Content-Length: 100000000\r\n\r\n";
    int fd = connect_to(AF_INET, port);
    if (fd < 0)
        return;
    send_all(fd, head, strlen(head));
    char *body = calloc(1, 1 << 16);
    if (body)
        send_all(fd, body, 1 << 16);
    free(body);
    recv_all(fd, resp[0]);
    close(fd);
}

START_TEST(a_request_body_is_refused_not_buffered)
{
    serve_while("127.0.0.1:0", RENDER_SMALL, post_a_big_body);
    ck_assert_msg(status_of(resp[0]) == 413, "a 100 MB body answered: %.200s", resp[0]);
}
END_TEST

static int stop_idle = -1, stop_partial = -1, stop_stuck = -1;

static void leave_connections_open(int port)
{
    stop_idle = connect_to(AF_INET, port); /* idle keep-alive */
    stop_partial = connect_to(AF_INET, port);
    send_all(stop_partial, "GET /met", 8); /* half a request */
    /* a reader that never reads a ~14 MB answer, so the server's write is stuck */
    stop_stuck = connect_to(AF_INET, port);
    int small = 4096;
    setsockopt(stop_stuck, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    send_all(stop_stuck, KEEP_ALIVE_GET, strlen(KEEP_ALIVE_GET));
    flags[0] = recv(stop_stuck, resp[0], 64, 0) > 0;
}

START_TEST(stop_ends_idle_and_stuck_connections)
{
    /* serve_while fails when the loop does not end within STOP_BOUND_MS */
    serve_while("127.0.0.1:0", RENDER_BIG, leave_connections_open);
    ck_assert_msg(flags[0], "the big response never started");
    ck_assert(closed_by_server(stop_idle));
    ck_assert(closed_by_server(stop_partial));
    close(stop_idle);
    close(stop_partial);
    close(stop_stuck);
}
END_TEST

START_TEST(start_refuses_bad_addresses_busy_ports_and_a_second_start)
{
    pw_err e;
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    PW_ASSERT_FAILS_WITH(pw_metrics_http_start(&loop, "nowhere.example:80", render, NULL, &e), &e,
                         "not an IPv4 address");
    ck_assert_int_eq(pw_metrics_http_active(), 0);
    /* a port someone else listens on */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(fd, 1), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    char spec[32];
    snprintf(spec, sizeof spec, "127.0.0.1:%d", ntohs(a.sin_port));
    PW_ASSERT_FAILS_WITH(pw_metrics_http_start(&loop, spec, render, NULL, &e), &e,
                         "address already in use");
    close(fd);
    ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0); /* the failed listener closes */
    ck_assert_int_eq(pw_metrics_http_active(), 0);

    PW_ASSERT_OK(pw_metrics_http_start(&loop, "127.0.0.1:0", render, NULL, &e), &e);
    PW_ASSERT_FAILS_WITH(pw_metrics_http_start(&loop, "127.0.0.1:0", render, NULL, &e), &e,
                         "already serving");
    pw_metrics_http_stop();
    PW_ASSERT_FAILS_WITH(pw_metrics_http_start(&loop, "127.0.0.1:0", render, NULL, &e), &e,
                         "still stopping");
    ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ck_assert_int_eq(pw_metrics_http_active(), 0);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

START_TEST(restart_after_stop_serves_again)
{
    for (int round = 0; round < 3; round++) {
        serve_while("127.0.0.1:0", RENDER_SMALL, get_once);
        ck_assert_int_eq(status_of(resp[0]), 200);
    }
}
END_TEST

static void get_over_ipv6(int port)
{
    int fd = connect_to(AF_INET6, port);
    if (fd < 0)
        return;
    send_all(fd, GET("/metrics"), strlen(GET("/metrics")));
    recv_all(fd, resp[0]);
    close(fd);
}

START_TEST(ipv6_loopback_is_served)
{
    int probe = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6};
    a.sin6_addr = in6addr_loopback;
    int have6 = probe >= 0 && bind(probe, (struct sockaddr *)&a, sizeof a) == 0;
    if (probe >= 0)
        close(probe);
    if (!have6) {
        fprintf(stderr, "ipv6_loopback_is_served: no IPv6 loopback here, skipped\n");
        return;
    }
    serve_while("[::1]:0", RENDER_SMALL, get_over_ipv6);
    ck_assert_int_eq(status_of(resp[0]), 200);
}
END_TEST

START_TEST(addresses_parse_to_loopback_unless_named)
{
    struct sockaddr_storage sa;
    pw_err e;
    char host[INET6_ADDRSTRLEN];
    struct sockaddr_in *v4 = (struct sockaddr_in *)&sa;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&sa;

    PW_ASSERT_OK(pw_metrics_http_parse_addr("9464", &sa, &e), &e);
    ck_assert_int_eq(sa.ss_family, AF_INET);
    ck_assert_str_eq(inet_ntop(AF_INET, &v4->sin_addr, host, sizeof host), "127.0.0.1");
    ck_assert_int_eq(ntohs(v4->sin_port), 9464);
    PW_ASSERT_OK(pw_metrics_http_parse_addr("localhost:1", &sa, &e), &e);
    ck_assert_str_eq(inet_ntop(AF_INET, &v4->sin_addr, host, sizeof host), "127.0.0.1");
    PW_ASSERT_OK(pw_metrics_http_parse_addr("0.0.0.0:65535", &sa, &e), &e);
    ck_assert_int_eq(ntohs(v4->sin_port), 65535);
    PW_ASSERT_OK(pw_metrics_http_parse_addr("[::1]:80", &sa, &e), &e);
    ck_assert_int_eq(sa.ss_family, AF_INET6);
    ck_assert_str_eq(inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof host), "::1");
    ck_assert_int_eq(ntohs(v6->sin6_port), 80);

    PW_ASSERT_FAILS_WITH(pw_metrics_http_parse_addr("", &sa, &e), &e, "empty");
    PW_ASSERT_FAILS_WITH(pw_metrics_http_parse_addr(":9464", &sa, &e), &e, "name the address");
    PW_ASSERT_FAILS_WITH(pw_metrics_http_parse_addr("::1:80", &sa, &e), &e, "brackets");
    PW_ASSERT_FAILS_WITH(pw_metrics_http_parse_addr("[::1]80", &sa, &e), &e, "[IPV6]:PORT");
    PW_ASSERT_FAILS_WITH(pw_metrics_http_parse_addr("[]:80", &sa, &e), &e, "bad IPv6");
    PW_ASSERT_FAILS_WITH(pw_metrics_http_parse_addr("[1.2.3.4]:80", &sa, &e), &e,
                         "not an IPv6 address");
    PW_ASSERT_FAILS_WITH(pw_metrics_http_parse_addr("127.0.0.1:65536", &sa, &e), &e, "0 to 65535");
    PW_ASSERT_FAILS_WITH(pw_metrics_http_parse_addr("127.0.0.1:", &sa, &e), &e, "0 to 65535");
    PW_ASSERT_FAILS_WITH(pw_metrics_http_parse_addr("127.0.0.1:12a", &sa, &e), &e, "0 to 65535");
    PW_ASSERT_FAILS_WITH(pw_metrics_http_parse_addr("127.0.0.1:-1", &sa, &e), &e, "0 to 65535");
    PW_ASSERT_FAILS_WITH(pw_metrics_http_parse_addr("127.0.0.1:0009464", &sa, &e), &e,
                         "0 to 65535");
    PW_ASSERT_FAILS_WITH(pw_metrics_http_parse_addr("300.1.1.1:80", &sa, &e), &e,
                         "not an IPv4 address");
}
END_TEST

Suite *metrics_http_suite(void)
{
    Suite *s = suite_create("metrics_http");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, get_metrics_serves_the_rendered_text);
    tcase_add_test(tc, head_gets_headers_without_a_body);
    tcase_add_test(tc, other_paths_are_404_and_other_methods_405);
    tcase_add_test(tc, a_failed_render_is_a_500_with_its_reason);
    tcase_add_test(tc, malformed_and_oversized_requests_are_refused_and_harmless);
    tcase_add_test(tc, keep_alive_serves_several_requests_on_one_connection);
    tcase_add_test(tc, at_the_limit_a_new_connection_is_served_and_the_oldest_goes);
    tcase_add_test(tc, slow_clients_that_reconnect_do_not_starve_a_scrape);
    tcase_add_test(tc, a_request_body_is_refused_not_buffered);
    tcase_add_test(tc, stop_ends_idle_and_stuck_connections);
    tcase_add_test(tc, start_refuses_bad_addresses_busy_ports_and_a_second_start);
    tcase_add_test(tc, restart_after_stop_serves_again);
    tcase_add_test(tc, ipv6_loopback_is_served);
    tcase_add_test(tc, addresses_parse_to_loopback_unless_named);
    suite_add_tcase(s, tc);
    return s;
}
