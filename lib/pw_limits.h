/* pw_limits.h -- every limit and default of libpwcca in one place.
 *
 * Parsers of outside input (safetensors, npy, npz, the control socket, the
 * config file) and the engine size their work against these numbers, so a
 * hostile file can never ask for more than is written here.  Change a limit
 * here and nowhere else. */
#ifndef PW_LIMITS_H
#define PW_LIMITS_H

/* Engine ------------------------------------------------------------------ */
#define PW_CHUNK_ROWS        4096        /* most rows per chunk of the Gram pass */
#define PW_CHUNK_BYTES       (2u << 20)  /* stacked chunk size the Gram pass aims for (cache) */
#define PW_KEEP_BYTES        (64u << 20) /* large engine buffers kept for reuse (pw_keep.h) */
#define PW_RANK_REL_EIG      1e-12 /* eigenvalue cut, relative to the largest (README: rank) */
#define PW_CHOL_MARGIN       64    /* the bounds of pw_side.c must clear the cut this far */
#define PW_SVCCA_KEEP        0.99  /* share of variance SVCCA keeps */
#define PW_TIE_EPS_FACTOR    16    /* rho within this x p_kept x DBL_EPSILON are tied */
#define PW_MAX_NEURONS       65536 /* columns per layer the engine accepts */
#define PW_REDUCE_AUTO_RATIO 10    /* reduce=auto keeps K directions with n >= this x K */
#define PW_REDUCE_TEXT_MAX   32    /* bytes of a reduce mode's text ("dims:512"), NUL included */

/* Activation files --------------------------------------------------------- */
#define PW_MAX_NDIM                8    /* tensor rank accepted by the readers */
#define PW_MAX_LAYERS              4096 /* tensors per checkpoint */
#define PW_MAX_NAME                512  /* bytes in a layer name, NUL included */
#define PW_PROBE_FP_MAX            65   /* hex digits of a probe_fingerprint kept, NUL included */
#define PW_ST_MAX_HEADER           (100u * 1000u * 1000u) /* safetensors header bytes (as the reference) */
#define PW_NPY_MAX_HEADER          (1u << 20)             /* npy header bytes */
#define PW_NPZ_MAX_MEMBERS         PW_MAX_LAYERS
#define PW_NPZ_DEFAULT_INFLATE_CAP (16ull << 30) /* bytes one deflated member may inflate to */

/* Messages ----------------------------------------------------------------- */
#define PW_ERR_MAX 1024 /* bytes in an error message, NUL included */

/* Paths -------------------------------------------------------------------- */
#define PW_PATH_MAX 4096 /* bytes in a path buffer, NUL included (Linux's PATH_MAX) */

/* Daemon and socket ---------------------------------------------------------- */
#define PW_SOCK_MAX_REQUEST 65536 /* bytes in one request line */
#define PW_SOCK_MAX_CLIENTS 64    /* simultaneous socket connections */
#define PW_REQ_MAX_DEPTH    8     /* nesting of objects and arrays in one request */
#define PW_REQ_MAX_RUN      4096  /* bytes in a request's run name or path, NUL included */
/* A connection's answers queue in the daemon while it does not read them: past
 * PAUSE its further requests wait unread (backpressure), past MAX it is closed. */
#define PW_SOCK_PAUSE_PENDING   (256u << 10) /* queued output bytes that stop reading requests */
#define PW_SOCK_MAX_PENDING     (4u << 20)   /* queued output bytes that close a connection */
#define PW_SOCK_MAX_SUBSCRIBERS 32 /* subscribed connections: the rest of the slots stay free */
/* A stopping daemon waits this long for its compute threads, then exits without
 * the ones still inside LAPACK (nothing of theirs is committed; redone at the next
 * start): systemd's stop timeout and a user's Ctrl-C are not held up by a big layer. */
#define PW_STOP_GRACE_S 1.5
/* More older checkpoints of a run waiting for their previous pair than this, and its
 * newest is compared with the last one scored instead (docs/DAEMON.md, "Keeping up"). */
#define PW_LIVE_BACKLOG 2

/* Watching (daemon/watch.c) ---------------------------------------------------- */
/* A run may hold any number of files: scans and settle checks go in slices,
 * and the loop serves the socket between them. */
#define PW_SCAN_SLICE   1024 /* directory entries a scan looks at per loop turn */
#define PW_SETTLE_SLICE 1024 /* settling files re-examined per settle tick */

/* Config file (lib/pw_config.c) ------------------------------------------------ */
/* libinih parses a line in a 200-byte buffer (INI_MAX_LINE, less \r, \n and
 * NUL) and would read the rest of a longer line as a line of its own; it also
 * cuts section names to 49 bytes (MAX_SECTION in its ini.c).  pw_config
 * refuses both before libinih sees the text. */
#define PW_CFG_MAX_LINE    197               /* bytes in one line, without \r\n */
#define PW_CFG_MAX_SECTION 49                /* bytes between [ and ] */
#define PW_CFG_MAX_FILE    (1u << 20)        /* bytes in a config file */
#define PW_CFG_MAX_SECONDS (366.0 * 86400.0) /* longest duration a key accepts */

/* A stable_z above this would keep any layer with an SE from ever settling. */
#define PW_CFG_MAX_STABLE_Z 10.0 /* largest stable_z (standard errors) accepted */

/* Client ---------------------------------------------------------------------- */
#define PW_CONV_DEFAULT_TAU   0.05 /* distance to final under which a layer counts as settled */
#define PW_CONV_BOTTOM_UP_RHO 0.5  /* Spearman rho from which convergence is called bottom-up */
#define PW_CONV_DEFAULT_Z     2.0  /* standard errors each side of a settle step (stable_z) */
#define PW_CONV_WITHIN_SHOWN  20   /* pairs within the noise named in `convergence`'s table */
#define PW_SOCK_MAX_RESPONSE                                                                       \
    (16u << 20)                   /* bytes in one response or event line the client reads          \
                                   */
#define PW_SOCK_TIMEOUT_MS 10000  /* how long the client waits for a daemon's answer */
#define PW_PLOT_MAX_STEPS  100000 /* checkpoints one plot draws */

/* Metrics endpoint (--metrics, lib/pw_metrics_http.c) ------------------------ */
#define PW_HTTP_MAX_CONNS      64   /* simultaneous connections; at the limit the oldest goes */
#define PW_HTTP_REQ_TIMEOUT_MS 5000 /* ms for a request, head and body, or an idle keep-alive */
#define PW_HTTP_MAX_BODY       1024 /* request body bytes accepted (GET and HEAD need none) */
#define PW_HTTP_STOP_GRACE_MS  1000 /* ms open connections get at stop before a reset */
#define PW_PROM_MAX_BYTES      (64u * 1024 * 1024) /* bytes of one rendered exposition */

/* Dashboard (--http, lib/pw_web.c) -------------------------------------------- */
#define PW_WEB_MAX_TARGET    8192 /* bytes of a request's path and query string */
#define PW_WEB_MAX_NAME      4096 /* bytes of a run name or layer name once percent-decoded */
#define PW_WEB_MAX_PARAMS    32   /* parameters in one query string */
#define PW_WEB_MAX_TOKEN     256  /* bytes of the access token (http_token_file) */
#define PW_WEB_MAX_ALERTS    100  /* newest alerts a run page lists */
#define PW_WEB_MAX_RESPONSE  (64u * 1024 * 1024) /* bytes of one rendered response */
#define PW_WEB_REUSE_MS      1000 /* a rendered answer is reused this long though data changed */
#define PW_WEB_RUNS_REUSE_MS 5000 /* the list of runs is read whole at most this often */
#define PW_WEB_MAX_COLUMNS   250  /* checkpoints a page's plot draws; more are thinned evenly */

/* Store (lib/pw_store.h): the one busy-timeout policy ------------------------ */
#define PW_DB_BUSY_MS      5000 /* ms a statement waits out another connection's lock */
#define PW_DB_LOOP_BUSY_MS 200  /* the same on the event loop, which must keep answering */
/* Extra attempts, after a backoff sleep, of a failed write on the event loop:
 * none -- the loop must not sleep (it already waits PW_DB_LOOP_BUSY_MS for a lock);
 * a failed write is logged, and alerts, stable steps and convergence are
 * written again at the next commit (daemon/alerts.c). */
#define PW_DB_LOOP_RETRIES 0

/* Noise floor (jackknife standard errors, lib/pw_noise.c) --------------------- */
#define PW_NOISE_MAX_BLOCKS 1000    /* B of jackknife:B: Grams held, factorizations per pair */
#define PW_NOISE_MAX_EVERY  1000000 /* N of `every N` */
#define PW_NOISE_TEXT_MAX   48      /* bytes of a noise mode's text ("jackknife:10 every 4") */
/* A leave-one-block-out Gram diagonal below this share of the full one is
 * summed afresh from the other blocks, not subtracted (cancellation). */
#define PW_NOISE_GUARD 1e-6

/* Run groups ([group NAME], daemon/groups.c) ---------------------------------- */
#define PW_MAX_GROUPS 16 /* [group NAME] sections */
#define PW_GROUP_NAME_MAX                                                                          \
    40                         /* bytes in a group name, NUL included ("group " + it fits          \
                                  PW_CFG_MAX_SECTION) */
#define PW_GROUP_MAX_GLOBS 16  /* globs of one group's runs keys, all lines together */
#define PW_GROUP_GLOB_MAX  128 /* bytes in one glob, NUL included */
/* Runs one group scores pairs of (the first by runs.id; k (k - 1) / 2 pairs per step):
 * more are left out with a warning, once. */
#define PW_GROUP_MAX_RUNS 64

/* Watch roots' names (`watch = NAME=DIR`, lib/pw_config.c): a run's identity in a
 * shared store is (root name, directory under it), docs/SCHEMA.md.  Bytes in a
 * name, NUL included: a default name is a directory's basename (NAME_MAX 255). */
#define PW_ROOT_NAME_MAX 256

#endif
