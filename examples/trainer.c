/* trainer.c -- a small but real training run that writes what pwccad watches.
 *
 * It trains an MLP (32 inputs -> hidden ReLU layers -> 10 logits, default
 * 32-128-128-128-128-10) with minibatch SGD + momentum and a cosine learning
 * rate schedule, on a synthetic classification task: inputs are Gaussian,
 * labels are the argmax of a fixed random "teacher" network (32-64-64-10,
 * tanh), so the task has real nonlinear structure and an unlimited supply of
 * fresh examples.  Everything is generated from --seed; nothing is scripted,
 * the layer dynamics are whatever SGD produces.
 *
 * Every --every steps (and at step 0 and the last step) it runs a fixed probe
 * set of --probe inputs through the network and writes the activations of
 * every hidden layer and of the logits, F32 [n, width], bottom to top, as
 * one safetensors file OUT/step-NNNNNN.safetensors with __metadata__
 * {"step", "layers", ...}.  Files are written to a dotfile and renamed into
 * place (lib/pw_stwrite.h), so the daemon never sees a partial one.  At the
 * end it writes OUT/FINAL holding the last step (also renamed into place),
 * which tells pwccad the run is final; --no-final leaves that to the user
 * (`pwcca finalize`).  The last checkpoint keeps its numbered name, so every
 * tool agrees on its step.
 *
 * BLAS: single precision OpenBLAS (cblas_sgemm), one thread by default so
 * the daemon keeps the other core. */
#include <assert.h>
#include <cblas.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pw_stwrite.h"

#define IN_DIM       32 /* input features */
#define N_CLASSES    10 /* output classes */
#define TEACHER_H    64 /* teacher hidden width */
#define MAX_HIDDEN   16 /* hidden layers accepted by --hidden */
#define MAX_WIDTH    4096
#define MAX_PROBE    (1 << 20)
#define LAYER_NAME_N 16

/* ---- deterministic random numbers (xoshiro256**, seeded by splitmix64) ---- */

typedef struct rng {
    uint64_t s[4]; /* xoshiro256** state */
    int has_spare; /* Box-Muller produced a second normal */
    double spare;  /* that second normal */
} rng;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* One independent stream per purpose, so e.g. changing --probe does not change the weights. */
static void rng_seed(rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ull);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
    r->has_spare = 0;
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(rng *r)
{
    uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* Uniform in (0, 1): never 0, so log() below is finite. */
static double rng_uniform(rng *r)
{
    return ((double)(rng_next(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static double rng_normal(rng *r)
{
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u = rng_uniform(r), v = rng_uniform(r), m = sqrt(-2.0 * log(u));
    r->spare = m * sin(2.0 * M_PI * v);
    r->has_spare = 1;
    return m * cos(2.0 * M_PI * v);
}

/* ---- dense layers ----------------------------------------------------------- */

typedef struct dense {
    int in, out; /* fan-in and fan-out */
    float *w;    /* in x out, row-major: Z = A W + b */
    float *b;    /* out */
    float *dw;   /* gradient of w */
    float *db;   /* gradient of b */
    float *vw;   /* momentum of w */
    float *vb;   /* momentum of b */
} dense;

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p) {
        fprintf(stderr, "trainer: out of memory\n");
        exit(1);
    }
    return p;
}

static void dense_init(dense *d, int in, int out, double wscale, rng *r)
{
    d->in = in;
    d->out = out;
    size_t nw = (size_t)in * out;
    d->w = xcalloc(nw, sizeof(float));
    d->b = xcalloc((size_t)out, sizeof(float));
    d->dw = xcalloc(nw, sizeof(float));
    d->db = xcalloc((size_t)out, sizeof(float));
    d->vw = xcalloc(nw, sizeof(float));
    d->vb = xcalloc((size_t)out, sizeof(float));
    double sd = wscale / sqrt((double)in);
    for (size_t i = 0; i < nw; i++)
        d->w[i] = (float)(sd * rng_normal(r));
}

static void dense_free(dense *d)
{
    free(d->w);
    free(d->b);
    free(d->dw);
    free(d->db);
    free(d->vw);
    free(d->vb);
}

/* Z (rows x out) = A (rows x in) W + b */
static void dense_forward(const dense *d, const float *a, int rows, float *z)
{
    for (int i = 0; i < rows; i++)
        memcpy(z + (size_t)i * d->out, d->b, (size_t)d->out * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, d->out, d->in, 1.0f, a, d->in,
                d->w, d->out, 1.0f, z, d->out);
}

/* ---- the task ------------------------------------------------------------------ */

typedef struct teacher {
    dense l1, l2, l3; /* 32 -> 64 -> 64 -> 10, tanh between */
} teacher;

static void teacher_init(teacher *t, rng *r)
{
    /* Unit gain: tanh units use their nonlinear range often enough that the labels
     * need depth, yet the task stays learnable to ~75 % in a few thousand steps. */
    dense_init(&t->l1, IN_DIM, TEACHER_H, 1.0, r);
    dense_init(&t->l2, TEACHER_H, TEACHER_H, 1.0, r);
    dense_init(&t->l3, TEACHER_H, N_CLASSES, 1.0, r);
}

static void teacher_free(teacher *t)
{
    dense_free(&t->l1);
    dense_free(&t->l2);
    dense_free(&t->l3);
}

/* Labels of rows inputs: argmax of the teacher's output. */
static void teacher_label(const teacher *t, const float *x, int rows, int *label)
{
    float *h1 = xcalloc((size_t)rows * TEACHER_H, sizeof(float));
    float *h2 = xcalloc((size_t)rows * TEACHER_H, sizeof(float));
    float *o = xcalloc((size_t)rows * N_CLASSES, sizeof(float));
    dense_forward(&t->l1, x, rows, h1);
    for (size_t i = 0; i < (size_t)rows * TEACHER_H; i++)
        h1[i] = tanhf(h1[i]);
    dense_forward(&t->l2, h1, rows, h2);
    for (size_t i = 0; i < (size_t)rows * TEACHER_H; i++)
        h2[i] = tanhf(h2[i]);
    dense_forward(&t->l3, h2, rows, o);
    for (int i = 0; i < rows; i++) {
        int best = 0;
        for (int c = 1; c < N_CLASSES; c++)
            if (o[(size_t)i * N_CLASSES + c] > o[(size_t)i * N_CLASSES + best])
                best = c;
        label[i] = best;
    }
    free(h1);
    free(h2);
    free(o);
}

static void sample_inputs(rng *r, float *x, int rows)
{
    for (size_t i = 0; i < (size_t)rows * IN_DIM; i++)
        x[i] = (float)rng_normal(r);
}

/* ---- the student MLP ------------------------------------------------------------- */

typedef struct mlp {
    int nlayers;   /* dense layers: hidden layers + the output layer */
    dense *layer;  /* bottom to top */
    float **z;     /* pre-activations per layer, batch x out (training buffers) */
    float **a;     /* post-activations per layer (ReLU; the last is the logits) */
    float **delta; /* gradient w.r.t. z per layer */
    int batch;     /* rows the training buffers hold */
} mlp;

static void mlp_init(mlp *m, const int *hidden, int nhidden, int batch, rng *r)
{
    m->nlayers = nhidden + 1;
    m->batch = batch;
    m->layer = xcalloc((size_t)m->nlayers, sizeof(dense));
    m->z = xcalloc((size_t)m->nlayers, sizeof(float *));
    m->a = xcalloc((size_t)m->nlayers, sizeof(float *));
    m->delta = xcalloc((size_t)m->nlayers, sizeof(float *));
    int in = IN_DIM;
    for (int l = 0; l < m->nlayers; l++) {
        int out = l < nhidden ? hidden[l] : N_CLASSES;
        /* He initialisation for ReLU layers; a smaller last layer keeps initial logits tame. */
        dense_init(&m->layer[l], in, out, l < nhidden ? sqrt(2.0) : 1.0, r);
        m->z[l] = xcalloc((size_t)batch * out, sizeof(float));
        m->a[l] = xcalloc((size_t)batch * out, sizeof(float));
        m->delta[l] = xcalloc((size_t)batch * out, sizeof(float));
        in = out;
    }
}

static void mlp_free(mlp *m)
{
    for (int l = 0; l < m->nlayers; l++) {
        dense_free(&m->layer[l]);
        free(m->z[l]);
        free(m->a[l]);
        free(m->delta[l]);
    }
    free(m->layer);
    free(m->z);
    free(m->a);
    free(m->delta);
}

/* Forward rows inputs; z[l] and a[l] must hold rows x width(l). */
static void mlp_forward(const mlp *m, const float *x, int rows, float **z, float **a)
{
    const float *in = x;
    for (int l = 0; l < m->nlayers; l++) {
        const dense *d = &m->layer[l];
        dense_forward(d, in, rows, z[l]);
        size_t n = (size_t)rows * d->out;
        if (l < m->nlayers - 1)
            for (size_t i = 0; i < n; i++)
                a[l][i] = z[l][i] > 0 ? z[l][i] : 0;
        else
            memcpy(a[l], z[l], n * sizeof(float));
        in = a[l];
    }
}

/* Softmax cross-entropy of the logits: writes (softmax - onehot) / rows into
 * dlogits when it is not NULL; returns the mean loss and counts correct argmaxes. */
static double softmax_xent(const float *logits, const int *label, int rows, float *dlogits,
                           int *correct)
{
    assert(logits && label && rows > 0);
    double loss = 0;
    int ok = 0;
    for (int i = 0; i < rows; i++) {
        const float *o = logits + (size_t)i * N_CLASSES;
        int best = 0;
        float mx = o[0];
        for (int c = 1; c < N_CLASSES; c++)
            if (o[c] > mx) {
                mx = o[c];
                best = c;
            }
        ok += best == label[i];
        double sum = 0, p[N_CLASSES];
        for (int c = 0; c < N_CLASSES; c++)
            sum += p[c] = exp((double)o[c] - mx);
        loss += -log(p[label[i]] / sum);
        if (dlogits)
            for (int c = 0; c < N_CLASSES; c++)
                dlogits[(size_t)i * N_CLASSES + c] = (float)((p[c] / sum - (c == label[i])) / rows);
    }
    if (correct)
        *correct = ok;
    return loss / rows;
}

/* One SGD + momentum step on a batch; returns the batch loss before the step. */
static double mlp_train_step(mlp *m, const float *x, const int *label, float lr, float momentum)
{
    int B = m->batch, L = m->nlayers;
    mlp_forward(m, x, B, m->z, m->a);
    double loss = softmax_xent(m->a[L - 1], label, B, m->delta[L - 1], NULL);
    for (int l = L - 1; l >= 0; l--) {
        dense *d = &m->layer[l];
        const float *in = l > 0 ? m->a[l - 1] : x;
        /* dW = A_in^T delta, db = column sums of delta */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d->in, d->out, B, 1.0f, in, d->in,
                    m->delta[l], d->out, 0.0f, d->dw, d->out);
        memset(d->db, 0, (size_t)d->out * sizeof(float));
        for (int i = 0; i < B; i++)
            for (int j = 0; j < d->out; j++)
                d->db[j] += m->delta[l][(size_t)i * d->out + j];
        if (l > 0) {
            /* delta_{l-1} = (delta_l W^T) * relu'(z_{l-1}) */
            float *prev = m->delta[l - 1];
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, d->in, d->out, 1.0f,
                        m->delta[l], d->out, d->w, d->out, 0.0f, prev, d->in);
            for (size_t i = 0; i < (size_t)B * d->in; i++)
                if (m->z[l - 1][i] <= 0)
                    prev[i] = 0;
        }
    }
    for (int l = 0; l < L; l++) {
        dense *d = &m->layer[l];
        size_t nw = (size_t)d->in * d->out;
        for (size_t i = 0; i < nw; i++) {
            d->vw[i] = momentum * d->vw[i] - lr * d->dw[i];
            d->w[i] += d->vw[i];
        }
        for (int j = 0; j < d->out; j++) {
            d->vb[j] = momentum * d->vb[j] - lr * d->db[j];
            d->b[j] += d->vb[j];
        }
    }
    return loss;
}

/* ---- checkpoints ------------------------------------------------------------------ */

typedef struct probe {
    int n;          /* probe inputs */
    float *x;       /* n x IN_DIM */
    int *label;     /* teacher labels, for the accuracy figure */
    float **z, **a; /* per-layer outputs on the probe set */
} probe;

typedef struct options {
    const char *out;        /* run directory */
    long steps;             /* training steps */
    long every;             /* checkpoint interval */
    uint64_t seed;          /* everything random derives from it */
    double lr;              /* peak learning rate */
    double momentum;        /* SGD momentum */
    int batch;              /* minibatch size */
    int hidden[MAX_HIDDEN]; /* hidden widths, bottom to top */
    int nhidden;            /* number of hidden layers */
    int probe;              /* probe inputs */
    int quiet;              /* only errors and the last line */
    int final;              /* write FINAL at the end */
    long sleep_ms;          /* pause after each checkpoint (to watch or interrupt a run) */
    int threads;            /* OpenBLAS threads */
} options;

static void layer_name(const mlp *m, int l, char *buf, size_t len)
{
    if (l == m->nlayers - 1)
        snprintf(buf, len, "logits");
    else
        snprintf(buf, len, "fc%d", l + 1);
}

/* Evaluate the probe set and write OUT/step-NNNNNN.safetensors.  Returns the probe
 * accuracy through *acc; 0, or -1 with a message printed. */
static int write_checkpoint(const options *o, const mlp *m, probe *p, long step, double loss,
                            double *acc)
{
    mlp_forward(m, p->x, p->n, p->z, p->a);
    int correct;
    double probe_loss = softmax_xent(p->a[m->nlayers - 1], p->label, p->n, NULL, &correct);
    *acc = (double)correct / p->n;

    pw_stwrite_tensor t[MAX_HIDDEN + 1];
    uint64_t shape[MAX_HIDDEN + 1][2];
    char names[MAX_HIDDEN + 1][LAYER_NAME_N];
    char layers[(MAX_HIDDEN + 1) * LAYER_NAME_N] = "";
    for (int l = 0; l < m->nlayers; l++) {
        layer_name(m, l, names[l], sizeof names[l]);
        shape[l][0] = (uint64_t)p->n;
        shape[l][1] = (uint64_t)m->layer[l].out;
        t[l] = (pw_stwrite_tensor){names[l], PW_DT_F32, 2, shape[l], p->a[l]};
        if (l > 0)
            strcat(layers, ",");
        strcat(layers, names[l]);
    }
    char sstep[32], sloss[32], sacc[32], sploss[32];
    snprintf(sstep, sizeof sstep, "%ld", step);
    snprintf(sloss, sizeof sloss, "%.6f", loss);
    snprintf(sploss, sizeof sploss, "%.6f", probe_loss);
    snprintf(sacc, sizeof sacc, "%.4f", *acc);
    pw_stwrite_meta meta[] = {
        {"step", sstep},        {"layers", layers},       {"train_loss", sloss},
        {"probe_loss", sploss}, {"probe_accuracy", sacc}, {"producer", "pwccad examples/trainer"},
    };
    char path[4096];
    if (snprintf(path, sizeof path, "%s/step-%06ld.safetensors", o->out, step) >=
        (int)sizeof path) {
        fprintf(stderr, "trainer: output path too long\n");
        return -1;
    }
    pw_err err;
    pw_err_clear(&err);
    if (pw_stwrite_file(path, t, (size_t)m->nlayers, meta, sizeof meta / sizeof meta[0], &err) <
        0) {
        fprintf(stderr, "trainer: %s\n", err.msg);
        return -1;
    }
    return 0;
}

/* OUT/FINAL holding the final step, renamed into place like the checkpoints. */
static int write_final(const options *o, long step)
{
    char tmp[4096], path[4096];
    snprintf(tmp, sizeof tmp, "%s/.FINAL.tmp.%ld", o->out, (long)getpid());
    snprintf(path, sizeof path, "%s/FINAL", o->out);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%ld\n", step) < 0 || fclose(f) != 0 || rename(tmp, path) != 0) {
        fprintf(stderr, "trainer: cannot write %s: %s\n", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* ---- command line ------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f, "Usage: trainer [--out DIR] [--steps N] [--every K] [--seed S] [--lr LR]\n"
               "               [--momentum M] [--batch B] [--hidden W1,W2,...] [--probe N]\n"
               "               [--sleep-ms MS] [--threads T] [--no-final] [--quiet]\n"
               "\n"
               "Trains an MLP (32 -> hidden ReLU layers -> 10) with SGD on a synthetic\n"
               "teacher-labelled task and writes, every K steps, the activations of every\n"
               "layer on a fixed probe set as DIR/step-NNNNNN.safetensors (F32, bottom to\n"
               "top, renamed into place), then DIR/FINAL holding the last step.\n"
               "\n"
               "  --out DIR        run directory, created if missing (default: run)\n"
               "  --steps N        training steps (default 3000)\n"
               "  --every K        checkpoint every K steps; also at 0 and N (default 100)\n"
               "  --seed S         seed of the task, the weights and the data (default 1)\n"
               "  --lr LR          peak learning rate, cosine-decayed to 0 (default 0.05)\n"
               "  --momentum M     SGD momentum (default 0.9)\n"
               "  --batch B        minibatch size (default 64)\n"
               "  --hidden LIST    hidden widths, bottom to top (default 128,128,128,128)\n"
               "  --probe N        probe inputs; use 5-10x the widest layer (default 2048)\n"
               "  --sleep-ms MS    pause after each checkpoint (default 0)\n"
               "  --threads T      OpenBLAS threads (default 1)\n"
               "  --no-final       do not write FINAL (finalize with `pwcca finalize`)\n"
               "  --quiet          print only the summary line\n");
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

static int parse_hidden(const char *s, options *o)
{
    char buf[256];
    if (strlen(s) >= sizeof buf)
        return -1;
    strcpy(buf, s);
    o->nhidden = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        long w;
        if (o->nhidden == MAX_HIDDEN || parse_long(tok, 1, MAX_WIDTH, &w) < 0)
            return -1;
        o->hidden[o->nhidden++] = (int)w;
    }
    return o->nhidden > 0 ? 0 : -1;
}

static int parse_args(int argc, char **argv, options *o)
{
    enum { O_SLEEP = 256, O_THREADS, O_NOFINAL, O_MOMENTUM, O_BATCH };
    static const struct option longopts[] = {
        {"out", required_argument, NULL, 'o'},
        {"steps", required_argument, NULL, 'n'},
        {"every", required_argument, NULL, 'k'},
        {"seed", required_argument, NULL, 's'},
        {"lr", required_argument, NULL, 'l'},
        {"hidden", required_argument, NULL, 'H'},
        {"probe", required_argument, NULL, 'p'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"sleep-ms", required_argument, NULL, O_SLEEP},
        {"threads", required_argument, NULL, O_THREADS},
        {"no-final", no_argument, NULL, O_NOFINAL},
        {"momentum", required_argument, NULL, O_MOMENTUM},
        {"batch", required_argument, NULL, O_BATCH},
        {NULL, 0, NULL, 0},
    };
    *o = (options){.out = "run",
                   .steps = 3000,
                   .every = 100,
                   .seed = 1,
                   .lr = 0.05,
                   .momentum = 0.9,
                   .batch = 64,
                   .hidden = {128, 128, 128, 128},
                   .nhidden = 4,
                   .probe = 2048,
                   .final = 1,
                   .threads = 1};
    int c;
    long v = 0;
    while ((c = getopt_long(argc, argv, "o:n:k:s:l:H:p:qh", longopts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'o':
            o->out = optarg;
            break;
        case 'n':
            bad = parse_long(optarg, 1, 100000000, &o->steps);
            break;
        case 'k':
            bad = parse_long(optarg, 1, 100000000, &o->every);
            break;
        case 's':
            bad = parse_long(optarg, 0, 0x7fffffffL, &v);
            o->seed = (uint64_t)v;
            break;
        case 'l':
            bad = parse_double(optarg, 1e-9, 10, &o->lr);
            break;
        case O_MOMENTUM:
            bad = parse_double(optarg, 0, 0.999, &o->momentum);
            break;
        case O_BATCH:
            bad = parse_long(optarg, 1, 65536, &v);
            o->batch = (int)v;
            break;
        case 'H':
            bad = parse_hidden(optarg, o);
            break;
        case 'p':
            bad = parse_long(optarg, 2, MAX_PROBE, &v);
            o->probe = (int)v;
            break;
        case 'q':
            o->quiet = 1;
            break;
        case O_SLEEP:
            bad = parse_long(optarg, 0, 3600000, &o->sleep_ms);
            break;
        case O_THREADS:
            bad = parse_long(optarg, 1, 256, &v);
            o->threads = (int)v;
            break;
        case O_NOFINAL:
            o->final = 0;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
        if (bad) {
            const char *name = "?";
            for (const struct option *lo = longopts; lo->name; lo++)
                if (lo->val == c)
                    name = lo->name;
            fprintf(stderr, "trainer: invalid value for --%s: '%s'\n", name, optarg);
            return -1;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "trainer: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return -1;
    }
    return 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

int main(int argc, char **argv)
{
    options o;
    if (parse_args(argc, argv, &o) < 0)
        return 2;
    openblas_set_num_threads(o.threads);
    if (mkdir(o.out, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "trainer: cannot create %s: %s\n", o.out, strerror(errno));
        return 1;
    }
    int widest = IN_DIM;
    for (int i = 0; i < o.nhidden; i++)
        widest = o.hidden[i] > widest ? o.hidden[i] : widest;
    if (o.probe <= 2 * widest)
        fprintf(stderr,
                "trainer: warning: --probe %d is not above twice the widest layer (%d); "
                "CCA needs n > p + q, use 5-10x\n",
                o.probe, widest);

    rng r_teacher, r_init, r_data, r_probe;
    rng_seed(&r_teacher, o.seed, 1);
    rng_seed(&r_init, o.seed, 2);
    rng_seed(&r_data, o.seed, 3);
    rng_seed(&r_probe, o.seed, 4);

    teacher t;
    teacher_init(&t, &r_teacher);
    mlp m;
    mlp_init(&m, o.hidden, o.nhidden, o.batch, &r_init);

    probe p = {.n = o.probe};
    p.x = xcalloc((size_t)p.n * IN_DIM, sizeof(float));
    p.label = xcalloc((size_t)p.n, sizeof(int));
    sample_inputs(&r_probe, p.x, p.n);
    teacher_label(&t, p.x, p.n, p.label);
    p.z = xcalloc((size_t)m.nlayers, sizeof(float *));
    p.a = xcalloc((size_t)m.nlayers, sizeof(float *));
    for (int l = 0; l < m.nlayers; l++) {
        p.z[l] = xcalloc((size_t)p.n * m.layer[l].out, sizeof(float));
        p.a[l] = xcalloc((size_t)p.n * m.layer[l].out, sizeof(float));
    }

    if (!o.quiet) {
        printf("trainer: MLP %d", IN_DIM);
        for (int i = 0; i < o.nhidden; i++)
            printf("-%d", o.hidden[i]);
        printf("-%d, %ld steps of SGD (batch %d, lr %g cosine, momentum %g), seed %llu\n",
               N_CLASSES, o.steps, o.batch, o.lr, o.momentum, (unsigned long long)o.seed);
        printf("trainer: probe set of %d inputs; checkpoints every %ld steps in %s/\n", o.probe,
               o.every, o.out);
    }

    float *x = xcalloc((size_t)o.batch * IN_DIM, sizeof(float));
    int *label = xcalloc((size_t)o.batch, sizeof(int));
    double loss_sum = 0, first_loss = NAN, last_loss = NAN, acc = 0, first_acc = NAN;
    long loss_n = 0, nckpt = 0;
    int rc = 0;
    for (long step = 0;; step++) {
        if (step % o.every == 0 || step == o.steps) {
            double mean_loss = loss_n ? loss_sum / loss_n : NAN;
            if (write_checkpoint(&o, &m, &p, step, mean_loss, &acc) < 0) {
                rc = 1;
                break;
            }
            nckpt++;
            if (isnan(first_acc))
                first_acc = acc;
            if (loss_n) {
                if (isnan(first_loss))
                    first_loss = mean_loss;
                last_loss = mean_loss;
            }
            if (!o.quiet) {
                if (loss_n)
                    printf(
                        "step %6ld  loss %.4f  probe accuracy %5.1f%%  -> step-%06ld.safetensors\n",
                        step, mean_loss, 100 * acc, step);
                else
                    printf("step %6ld  (initial weights)   probe accuracy %5.1f%%  -> "
                           "step-%06ld.safetensors\n",
                           step, 100 * acc, step);
                fflush(stdout);
            }
            loss_sum = 0;
            loss_n = 0;
            if (o.sleep_ms)
                sleep_ms(o.sleep_ms);
        }
        if (step == o.steps)
            break;
        float lr = (float)(o.lr * 0.5 * (1 + cos(M_PI * (double)step / (double)o.steps)));
        sample_inputs(&r_data, x, o.batch);
        teacher_label(&t, x, o.batch, label);
        loss_sum += mlp_train_step(&m, x, label, lr, (float)o.momentum);
        loss_n++;
    }
    if (rc == 0 && o.final && write_final(&o, o.steps) < 0)
        rc = 1;
    if (rc == 0)
        printf("trainer: done: %ld checkpoints, loss %.4f -> %.4f, probe accuracy %.1f%% -> "
               "%.1f%%%s\n",
               nckpt, first_loss, last_loss, 100 * first_acc, 100 * acc,
               o.final ? ", FINAL written" : "");

    free(x);
    free(label);
    for (int l = 0; l < m.nlayers; l++) {
        free(p.z[l]);
        free(p.a[l]);
    }
    free(p.z);
    free(p.a);
    free(p.x);
    free(p.label);
    mlp_free(&m);
    teacher_free(&t);
    return rc;
}
