/* metrics_serve.c -- serves a fixed pwccad metrics snapshot on /metrics, for
 * test_metrics.sh (promtool and a real Prometheus read it), through the same
 * endpoint and renderer the daemon uses.
 *
 * Usage: metrics_serve ADDR:PORT PORTFILE
 * Writes the bound port to PORTFILE once listening; SIGTERM or SIGINT stop
 * it.  Exit status 0 after a clean stop (every handle closed), 1 otherwise.
 * Each scrape counts one more processed checkpoint, so a scraper sees the
 * counter move. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "pw_metrics.h"
#include "pw_metrics_http.h"

static uv_signal_t sigterm, sigint;
static pw_metrics_snapshot snap;

/* Names a scraper must survive: quotes, backslashes, newlines, non-UTF-8. */
static const pw_metrics_layer layers[] = {
    {"resnet-a", "conv1", 0.004, 0.21, 1, 1200, 1, 0, NAN, NAN, 0, NAN},
    {"resnet-a", "layer4.1.conv2", 0.031, NAN, 0, -1, 1, 102, NAN, NAN, 0, NAN},
    {"run \"quoted\"\\b", "fc\nhead", 0.5, 0.75, 0, -1, 1, 0, NAN, NAN, 0, NAN},
    {"caf\xC3\xA9-\xFF", "emb", NAN, NAN, 1, 10, 0, 0, NAN, NAN, 0, NAN},
};

static int render(void *ctx, pw_promtext *out, pw_err *err)
{
    pw_metrics_snapshot *s = ctx;
    s->checkpoints_processed++;
    return pw_metrics_render(s, out, err);
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)h, (void)signum;
    pw_metrics_http_stop();
    uv_close((uv_handle_t *)&sigterm, NULL);
    uv_close((uv_handle_t *)&sigint, NULL);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "Usage: metrics_serve ADDR:PORT PORTFILE\n");
        return 2;
    }
    snap.layers = layers;
    snap.nlayers = sizeof layers / sizeof layers[0];
    snap.checkpoints_failed = 2;
    snap.alerts[PW_METRICS_ALERT_LAYER_STABLE] = 5;
    snap.alerts[PW_METRICS_ALERT_RUN_CONVERGED] = 1;
    snap.queue_length = 3;
    const double seconds[] = {0.02, 0.3, 0.3, 4.5, 12, 400};
    for (size_t i = 0; i < sizeof seconds / sizeof seconds[0]; i++)
        pw_metrics_hist_observe(&snap.compute, seconds[i]);

    uv_loop_t *loop = uv_default_loop();
    pw_err err;
    if (pw_metrics_http_start(loop, argv[1], render, &snap, &err) != 0) {
        fprintf(stderr, "metrics_serve: %s\n", err.msg);
        return 1;
    }
    uv_signal_init(loop, &sigterm);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    uv_signal_init(loop, &sigint);
    uv_signal_start(&sigint, on_signal, SIGINT);

    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", argv[2]);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%d\n", pw_metrics_http_port()) < 0 || fclose(f) != 0 ||
        rename(tmp, argv[2]) != 0) {
        perror(argv[2]);
        return 1;
    }
    uv_run(loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(loop);
    if (rc != 0)
        fprintf(stderr, "metrics_serve: handles left open at exit: %s\n", uv_strerror(rc));
    return rc == 0 ? 0 : 1;
}
