/* cmd_compare.c -- `pwcca compare A B`: score every layer of checkpoint A against B offline.
 *
 * The daemon stores, for each pair of checkpoints, exactly what this prints,
 * so a user can always re-derive a stored number from the files.  A is X and
 * B is Y (PWCCA is not symmetric).  Layers present in only one file are
 * reported with the status `missing`; two files that share no layer at all
 * are refused (exit 1), naming both files' layers. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pw_chance.h"
#include "pw_checkpoint.h"
#include "pw_engine.h"
#include "pw_noise.h"
#include "pw_probe.h"

static const char compare_usage[] =
    "Usage: pwcca compare A B [--layer NAME]... [--metrics LIST] [--json] [--nhwc]\n"
    "                         [--memory-mb N] [--reduce MODE] [--noise MODE] [--chance]\n"
    "       pwcca compare A B --all-pairs [--metrics LIST] [--json] [-o FILE.svg] [--nhwc]\n"
    "Compare the same-named layers of two checkpoints (A as X, B as Y).\n"
    "A and B are .safetensors, .npz or .npy files, or directories of .npy files\n"
    "(a lone .npy file is one layer named 'activations', whatever the file name).\n"
    "Files that share no layer name are an error.\n"
    "\n"
    "  --layer NAME     compare only this layer (repeatable)\n"
    "  --metrics LIST   comma list of pwcca, mean_cca, svcca, cka, cka_debiased,\n"
    "                   procrustes (default: all); only what is asked is computed\n"
    "  --json           one JSON object instead of a table (17 significant digits,\n"
    "                   null for metrics not requested or not applicable;\n"
    "                   tied_correlations counts tied canonical correlations)\n"
    "  --nhwc           4-D activations are [N, H, W, C] instead of PyTorch's NCHW\n"
    "  --memory-mb N    refuse a layer pair whose estimated memory exceeds N MiB\n"
    "                   (status over_budget), as the daemon's memory_mb does;\n"
    "                   default: no limit, with a warning on stderr when the\n"
    "                   estimate exceeds the memory available\n"
    "  --reduce MODE    how a layer wider than the probe (n <= p_kept + q_kept) is\n"
    "                   scored, as the daemon's reduce: auto (default: exact where\n"
    "                   exact scores, else the top K directions per side), none\n"
    "                   (exact only: such a layer is insufficient_datapoints),\n"
    "                   dims:K or var:F (0 < F <= 1); the table's REDUCE column and\n"
    "                   the JSON's reduce, k_x, k_y say what was applied\n"
    "  --all-pairs      every layer of A against every layer of B, whatever their\n"
    "                   names (A and B may be different architectures; n must\n"
    "                   match): one grid per metric (PWCCA and CKA, plus those of\n"
    "                   --metrics), rows A's layers as X; exact scores only\n"
    "  -o, --output F   with --all-pairs: draw the PWCCA grid as an SVG heatmap\n"
    "                   into F ('-': stdout, instead of the table)\n"
    "  --noise MODE     off (default) or jackknife:B: a standard error for each\n"
    "                   metric from B blocks of probe inputs (every row of an input\n"
    "                   in one block; B extra factorizations per layer), printed\n"
    "                   beside it (the table's *_se columns, the JSON's *_se keys);\n"
    "                   none in the reduced mode (docs/ENGINE.md, Standard errors)\n"
    "  --chance         also the chance level: every metric of A against B with B's\n"
    "                   probe inputs shuffled by the daemon's fixed seeded\n"
    "                   permutation (whole inputs; one more cross pass per layer),\n"
    "                   on a 'chance' line under each layer (the JSON's \"chance\")\n"
    "                   -- what unrelated activations score at this n and p\n"
    "\n"
    "Statuses: ok, insufficient_datapoints, dead_layer, nonfinite, n_mismatch,\n"
    "numerical_error, read_error, missing, over_budget (see docs/FORMATS.md and\n"
    "docs/ENGINE.md).\n"
    "Files whose __metadata__ probe_fingerprint differ were taken on different\n"
    "probe inputs: refused (probe_mismatch, exit 1); a warning when only one has\n"
    "a fingerprint (with --all-pairs, when either lacks one).\n"
    "Exit status: 0 when it ran, 1 when a file is bad, a --layer is unknown,\n"
    "the files share no layer or their probes differ, 2 on usage errors.\n";

/* One output row: a layer and its result. */
typedef struct compare_row {
    const char *layer;      /* name (borrowed from a checkpoint) */
    const pw_tensor *a, *b; /* the two views; one may be NULL (missing) */
    pw_result r;            /* engine result, or status PW_MISSING / PW_READ_ERROR */
    pw_noise_result nr;     /* standard errors (--noise), else none */
    int has_chance;         /* 1: chance holds the chance level (--chance) */
    pw_result chance;       /* the metrics against B with B's inputs shuffled */
} compare_row;

static json_t *num_or_null(double v)
{
    return isnan(v) ? json_null() : json_real(v);
}

/* The chance level of a row (--chance): every metric, the seed, its status;
 * null when the layer's own pair did not score. */
static json_t *chance_json(const compare_row *row)
{
    if (!row->has_chance)
        return json_null();
    const pw_result *c = &row->chance;
    json_t *o = json_object();
#define PW_METRIC_JSON(sym, id, bitno, sel, tpos, label, doc)                                      \
    json_object_set_new(o, #id, num_or_null(c->id));
    PW_METRIC_LIST(PW_METRIC_JSON)
#undef PW_METRIC_JSON
    json_object_set_new(o, "seed", json_integer((json_int_t)PW_CHANCE_SEED));
    json_object_set_new(o, "status", json_string(pw_status_name(c->status)));
    json_object_set_new(o, "message", c->message[0] ? json_string(c->message) : json_null());
    return o;
}

/* chance: each layer's object gets "chance" (--chance). */
static void print_json(const char *a, const char *b, const compare_row *rows, size_t n, int chance)
{
    json_t *layers = json_array();
    for (size_t i = 0; i < n; i++) {
        const pw_result *r = &rows[i].r;
        json_t *o = json_object();
        json_object_set_new(o, "layer", json_string(rows[i].layer));
        json_object_set_new(o, "n",
                            rows[i].a || rows[i].b ? json_integer((json_int_t)r->n) : json_null());
        json_object_set_new(o, "p", rows[i].a ? json_integer((json_int_t)r->p) : json_null());
        json_object_set_new(o, "q", rows[i].b ? json_integer((json_int_t)r->q) : json_null());
        int computed =
            r->status != PW_MISSING && r->status != PW_READ_ERROR && r->status != PW_OVER_BUDGET;
        json_object_set_new(o, "p_kept",
                            computed ? json_integer((json_int_t)r->p_kept) : json_null());
        json_object_set_new(o, "q_kept",
                            computed ? json_integer((json_int_t)r->q_kept) : json_null());
#define PW_METRIC_JSON(sym, id, bitno, sel, tpos, label, doc)                                      \
    json_object_set_new(o, #id, num_or_null(r->id));
        PW_METRIC_LIST(PW_METRIC_JSON)
#undef PW_METRIC_JSON
        /* Canonical correlations in tied groups (their PWCCA weight is the
         * basis average, docs/ENGINE.md); null when no rho was computed. */
        json_object_set_new(o, "tied_correlations",
                            r->nrho ? json_integer((json_int_t)r->ntied) : json_null());
        json_object_set_new(o, "status", json_string(pw_status_name(r->status)));
        json_object_set_new(o, "message", r->message[0] ? json_string(r->message) : json_null());
        /* What was applied (never auto), and the directions each side kept. */
        char reduce[PW_REDUCE_TEXT_MAX];
        int reduced = r->reduce.kind != PW_REDUCE_NONE;
        pw_reduce_format(&r->reduce, reduce, sizeof reduce);
        json_object_set_new(o, "reduce", json_string(reduce));
        json_object_set_new(o, "k_x", reduced ? json_integer((json_int_t)r->k_x) : json_null());
        json_object_set_new(o, "k_y", reduced ? json_integer((json_int_t)r->k_y) : json_null());
        /* Standard errors (--noise): appended, one per metric, and why any is null. */
        const pw_noise_result *nr = &rows[i].nr;
        for (unsigned m = 0; m < PW_METRIC_COUNT; m++) {
            char key[64];
            snprintf(key, sizeof key, "%s_se", pw_metric_name(m));
            json_object_set_new(o, key, num_or_null(nr->se[m]));
        }
        json_object_set_new(o, "noise_blocks",
                            nr->blocks ? json_integer((json_int_t)nr->blocks) : json_null());
        json_object_set_new(o, "noise_message",
                            nr->message[0] ? json_string(nr->message) : json_null());
        if (chance)
            json_object_set_new(o, "chance", chance_json(&rows[i]));
        json_array_append_new(layers, o);
    }
    json_t *top = json_object();
    json_object_set_new(top, "a", json_string(a));
    json_object_set_new(top, "b", json_string(b));
    json_object_set_new(top, "layers", layers);
    char *s = json_dumps(top, JSON_REAL_PRECISION(17) | JSON_PRESERVE_ORDER | JSON_INDENT(1));
    if (s) {
        puts(s);
        free(s);
    }
    json_decref(top);
}

/* "none", or "dims:6 (6/6)": the reduction and the directions X and Y kept. */
static const char *reduce_text(const pw_result *r)
{
    static char buf[PW_REDUCE_TEXT_MAX + 48];
    char mode[PW_REDUCE_TEXT_MAX];
    pw_reduce_format(&r->reduce, mode, sizeof mode);
    if (r->reduce.kind == PW_REDUCE_NONE)
        snprintf(buf, sizeof buf, "%s", mode);
    else
        snprintf(buf, sizeof buf, "%s (%llu/%llu)", mode, (unsigned long long)r->k_x,
                 (unsigned long long)r->k_y);
    return buf;
}

static void print_metric(double v)
{
    if (isnan(v))
        printf(" %10s", "-");
    else
        printf(" %10.6f", v);
}

/* A standard error, under a heading as wide as "mean_cca_se". */
static void print_se(double v)
{
    if (isnan(v))
        printf(" %11s", "-");
    else
        printf(" %11.6f", v);
}

/* noise: print a *_se column beside each metric; chance: a 'chance' line
 * under each layer, its values under the layer's. */
static void print_table(const compare_row *rows, size_t n, int noise, int chance)
{
    int w = chance ? 8 : 5;
    for (size_t i = 0; i < n; i++)
        if ((int)strlen(rows[i].layer) > w)
            w = (int)strlen(rows[i].layer);
    printf("%-*s %8s %6s %6s", w, "layer", "n", "p", "q");
    for (unsigned m = 0; m < PW_METRIC_COUNT; m++) {
        printf(" %10s", pw_metric_name(m));
        if (noise) {
            char h[64];
            snprintf(h, sizeof h, "%s_se", pw_metric_name(m));
            printf(" %11s", h);
        }
    }
    printf("  %-16s %s\n", "reduce", "status");
    for (size_t i = 0; i < n; i++) {
        const pw_result *r = &rows[i].r;
        printf("%-*s %8llu %6llu %6llu", w, rows[i].layer, (unsigned long long)r->n,
               (unsigned long long)r->p, (unsigned long long)r->q);
#define PW_METRIC_PRINT(sym, id, bitno, sel, tpos, label, doc)                                     \
    print_metric(r->id);                                                                           \
    if (noise)                                                                                     \
        print_se(rows[i].nr.se[PW_METRIC_##sym]);
        PW_METRIC_LIST(PW_METRIC_PRINT)
#undef PW_METRIC_PRINT
        printf("  %-16s %s\n", reduce_text(r), pw_status_name(r->status));
        if (!chance)
            continue;
        const pw_result *c = &rows[i].chance;
        printf("%-*s %8s %6s %6s", w, "  chance", "", "", "");
        for (unsigned m = 0; m < PW_METRIC_COUNT; m++) {
            double v[PW_METRIC_COUNT];
#define PW_METRIC_GET(sym, id, bitno, sel, tpos, label, doc) v[PW_METRIC_##sym] = c->id;
            PW_METRIC_LIST(PW_METRIC_GET)
#undef PW_METRIC_GET
            print_metric(rows[i].has_chance ? v[m] : NAN);
            if (noise)
                print_se(NAN);
        }
        printf("  %-16s %s\n", rows[i].has_chance ? reduce_text(c) : "-",
               rows[i].has_chance ? pw_status_name(c->status) : "-");
    }
    for (size_t i = 0; i < n; i++)
        if (rows[i].r.message[0])
            printf("%s: %s\n", rows[i].layer, rows[i].r.message);
    for (size_t i = 0; noise && i < n; i++)
        if (rows[i].nr.message[0])
            printf("%s: %s\n", rows[i].layer, rows[i].nr.message);
    for (size_t i = 0; chance && i < n; i++)
        if (rows[i].has_chance && rows[i].chance.message[0])
            printf("%s (chance): %s\n", rows[i].layer, rows[i].chance.message);
    if (chance)
        printf("chance: B's probe inputs shuffled by the fixed permutation of seed %u "
               "(docs/ENGINE.md, Chance level)\n",
               (unsigned)PW_CHANCE_SEED);
}

/* "a, b, c" of a checkpoint's layer names, for error messages. */
static void known_layers(const pw_ckpt *c, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < pw_ckpt_nlayers(c) && off < len; i++) {
        int k = snprintf(buf + off, len - off, "%s%s", i ? ", " : "", pw_ckpt_layer(c, i)->name);
        if (k < 0)
            break;
        off += (size_t)k;
    }
}

/* Why no row can be compared, naming each file's layers: the layer asked for
 * (want) is in neither file, or (want NULL) the files share no layer name. */
static void no_layer_error(const pw_ckpt *ca, const pw_ckpt *cb, const char *const paths[2],
                           const char *want)
{
    char ka[2048], kb[2048];
    known_layers(ca, ka, sizeof ka);
    known_layers(cb, kb, sizeof kb);
    if (want)
        fprintf(stderr,
                "pwcca compare: no layer '%s' in either file\n  layers of %s: %s\n"
                "  layers of %s: %s\n",
                want, paths[0], ka, paths[1], kb);
    else
        fprintf(stderr,
                "pwcca compare: no layer in common: %s has %s; %s has %s\n"
                "  layers are matched by name (a lone .npy file is the layer '%s')\n",
                paths[0], ka[0] ? ka : "no layers", paths[1], kb[0] ? kb : "no layers",
                PW_NPY_LAYER);
}

/* MemAvailable from /proc/meminfo in bytes, 0 when unknown. */
static uint64_t memory_available(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    unsigned long long kib = 0;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "MemAvailable:", 13) == 0) {
            kib = strtoull(line + 13, NULL, 10);
            break;
        }
    if (f)
        fclose(f);
    return (uint64_t)kib << 10;
}

/* budget: --memory-mb in bytes, 0 for none (then only a warning when the
 * estimate exceeds the memory available).  reduce: --reduce; noise: --noise;
 * chance: --chance, computed, as the daemon does, from the pair's sides once
 * the pair scored. */
static void compute_row(compare_row *row, unsigned metrics, uint64_t budget,
                        const pw_reduce *reduce, const pw_noise_mode *noise, int chance)
{
    pw_result_init(&row->chance);
    pw_result_init(&row->r);
    pw_noise_result_init(&row->nr);
    row->r.metrics = metrics;
    if (row->a)
        row->r.n = row->a->rows, row->r.p = row->a->cols;
    else
        row->r.n = row->b->rows;
    if (row->b)
        row->r.q = row->b->cols;
    if (!row->a || !row->b) {
        row->r.status = PW_MISSING;
        snprintf(row->r.message, sizeof row->r.message, "layer '%s' exists only in %s", row->layer,
                 row->a ? "A" : "B");
        return;
    }
    pw_rows x = pw_rows_from_tensor(row->a), y = pw_rows_from_tensor(row->b);
    pw_err err;
    pw_err_clear(&err);
    uint64_t est = 0;
    if (pw_engine_check_budget(&x, &y, metrics, budget, "--memory-mb", &est, &row->r))
        return;
    uint64_t avail = budget ? 0 : memory_available();
    if (avail && est > avail)
        fprintf(stderr,
                "pwcca compare: warning: layer %s: comparing %llu x %llu with %llu x %llu needs "
                "an estimated %llu MiB, more than the %llu MiB available; it may be killed "
                "(--memory-mb N refuses such a layer as over_budget)\n",
                row->layer, (unsigned long long)x.nrows, (unsigned long long)x.ncols,
                (unsigned long long)y.nrows, (unsigned long long)y.ncols,
                (unsigned long long)(est >> 20), (unsigned long long)(avail >> 20));
    /* auto as the daemon applies it: a layer narrower than the probe (n > p + q,
     * so n > p_kept + q_kept) is exact by auto's rule; the engine resolves the rest. */
    pw_reduce use = *reduce;
    if (use.kind == PW_REDUCE_AUTO && x.nrows > x.ncols + y.ncols)
        use.kind = PW_REDUCE_NONE;
    int rc;
    pw_side *sx = NULL, *sy = NULL; /* kept for the chance level only */
    pw_side **cx = chance ? &sx : NULL, **cy = chance ? &sy : NULL;
    if (noise->blocks && use.kind == PW_REDUCE_AUTO &&
        pw_engine_resolve_reduce(&x, &y, metrics, &use, budget, &use, &err) != 0)
        rc = -1;
    else if (noise->blocks && use.kind == PW_REDUCE_NONE)
        rc = pw_noise_compare(&x, &y, pw_noise_inputs(row->a), metrics, noise, budget,
                              "--memory-mb", cx, cy, &row->r, &row->nr, &err);
    else {
        if (noise->blocks)
            snprintf(row->nr.message, sizeof row->nr.message,
                     "no standard errors in the reduced mode (jackknife blocks are summed "
                     "only by the exact path)");
        rc = pw_engine_compare_reduced(&x, &y, metrics, &use, cx, cy, &row->r, &err);
    }
    if (rc != 0) {
        row->r.status = PW_READ_ERROR;
        snprintf(row->r.message, sizeof row->r.message, "%s", err.msg);
    } else if (chance && row->r.status == PW_OK) {
        if (pw_chance_compare(&x, &y, pw_noise_inputs(row->a), PW_CHANCE_SEED, metrics,
                              &row->r.reduce, &sx, &sy, &row->chance, &err) != 0) {
            row->chance.status = PW_READ_ERROR;
            snprintf(row->chance.message, sizeof row->chance.message, "%s", err.msg);
        }
        row->has_chance = 1;
    }
    pw_side_free(sx);
    pw_side_free(sy);
}

int pwcca_cmd_compare(const pwcca_opts *o, int argc, char **argv)
{
    (void)o;
    pwcca_texts want = {NULL, 0};
    unsigned metrics = 0; /* 0: not given */
    int json = 0, nhwc = 0, all_pairs = 0, chance = 0, pos, rc = PWCCA_ERROR;
    const char *svg = NULL;
    uint64_t budget = 0; /* --memory-mb in bytes, 0: none */
    const char *reduce_arg = "auto", *noise_arg = "off";
    pw_reduce reduce;
    pw_noise_mode noise;
    const pwcca_arg args[] = {{"layer", 0, PWCCA_ARG_TEXTS, NULL, &want},
                              {"metrics", 0, PWCCA_ARG_METRICS, NULL, &metrics},
                              {"json", 0, PWCCA_ARG_FLAG, NULL, &json},
                              {"nhwc", 0, PWCCA_ARG_FLAG, NULL, &nhwc},
                              {"memory-mb", 0, PWCCA_ARG_MIB, NULL, &budget},
                              {"reduce", 0, PWCCA_ARG_TEXT, NULL, &reduce_arg},
                              {"all-pairs", 0, PWCCA_ARG_FLAG, NULL, &all_pairs},
                              {"output", 'o', PWCCA_ARG_TEXT, NULL, &svg},
                              {"noise", 0, PWCCA_ARG_TEXT, NULL, &noise_arg},
                              {"chance", 0, PWCCA_ARG_FLAG, NULL, &chance},
                              {NULL, 0, 0, NULL, NULL}};
    int done = pwcca_parse_args(argc, argv, compare_usage, args, 2, 2, "checkpoint", &pos);
    if (done >= 0)
        return done;
    if (svg && !all_pairs) {
        free(want.v);
        return pwcca_usage(argv[0], "-o draws the --all-pairs heatmap: add --all-pairs");
    }
    if (all_pairs && want.n) {
        free(want.v);
        return pwcca_usage(argv[0], "--all-pairs compares every layer: drop --layer");
    }
    /* The layer matrix always has PWCCA and CKA; compare computes all by default. */
    metrics = all_pairs ? metrics | PW_M_PWCCA | PW_M_CKA : metrics ? metrics : PW_M_ALL;
    pw_err rerr;
    if (pw_reduce_parse(reduce_arg, &reduce, &rerr) != 0) {
        free(want.v);
        return pwcca_usage(argv[0], "--reduce: %s", rerr.msg);
    }
    if (pw_noise_parse(noise_arg, &noise, &rerr) != 0) {
        free(want.v);
        return pwcca_usage(argv[0], "--noise: %s", rerr.msg);
    }
    const char *paths[2] = {argv[pos], argv[pos + 1]};
    size_t nwant = want.n;
    pw_ckpt_opts copts = {nhwc, 0};
    pw_err err;
    pw_err_clear(&err);

    pw_ckpt *ca = NULL, *cb = NULL;
    compare_row *rows = NULL;
    size_t nrows = 0;
    if (pw_ckpt_open(&ca, paths[0], &copts, &err) != 0 ||
        pw_ckpt_open(&cb, paths[1], &copts, &err) != 0) {
        fprintf(stderr, "pwcca compare: %s\n", err.msg);
        goto out;
    }
    if (!all_pairs) {
        /* Files of two different probes hold different inputs: refused.  Two
         * files without a fingerprint (numpy formats have none) are compared
         * silently as before; one without, while the other has one, is said. */
        char fa[PW_PROBE_FP_MAX], fb[PW_PROBE_FP_MAX], msg[PW_ERR_MAX + 2 * PW_PATH_MAX];
        pw_probe_fingerprint(ca, fa, sizeof fa);
        pw_probe_fingerprint(cb, fb, sizeof fb);
        pw_probe_verdict pv = pw_probe_check(fa, paths[0], fb, paths[1], msg, sizeof msg);
        if (pv == PW_PROBE_DIFFERENT) {
            fprintf(stderr, "pwcca compare: %s\n", msg);
            goto out;
        }
        if (pv == PW_PROBE_UNKNOWN && (fa[0] || fb[0]))
            fprintf(stderr, "pwcca compare: warning: %s\n", msg);
    }
    if (all_pairs) {
        rc = pwcca_matrix_print("compare", ca, cb, paths[0], paths[1], metrics, json, svg);
        goto out;
    }
    size_t na = pw_ckpt_nlayers(ca), nb = pw_ckpt_nlayers(cb);
    rows = calloc(na + nb + nwant + 1, sizeof *rows);
    if (!rows)
        goto out;
    if (nwant) {
        for (size_t i = 0; i < nwant; i++) {
            const pw_tensor *ta = pw_ckpt_find(ca, want.v[i]), *tb = pw_ckpt_find(cb, want.v[i]);
            if (!ta && !tb) {
                no_layer_error(ca, cb, paths, want.v[i]);
                goto out;
            }
            rows[nrows++] = (compare_row){want.v[i], ta, tb, {0}, {0}, 0, {0}};
        }
    } else {
        for (size_t i = 0; i < na; i++) {
            const pw_tensor *ta = pw_ckpt_layer(ca, i);
            rows[nrows++] =
                (compare_row){ta->name, ta, pw_ckpt_find(cb, ta->name), {0}, {0}, 0, {0}};
        }
        for (size_t i = 0; i < nb; i++) {
            const pw_tensor *tb = pw_ckpt_layer(cb, i);
            if (!pw_ckpt_find(ca, tb->name))
                rows[nrows++] = (compare_row){tb->name, NULL, tb, {0}, {0}, 0, {0}};
        }
        /* A table of nothing but `missing` would read as a result: two files
         * that share no layer name are a mistake (other files, renamed layers). */
        size_t common = 0;
        for (size_t i = 0; i < nrows; i++)
            common += rows[i].a && rows[i].b;
        if (common == 0) {
            no_layer_error(ca, cb, paths, NULL);
            goto out;
        }
    }
    pw_engine_set_blas_threads(0);
    for (size_t i = 0; i < nrows; i++)
        compute_row(&rows[i], metrics, budget, &reduce, &noise, chance);
    if (json)
        print_json(paths[0], paths[1], rows, nrows, chance);
    else
        print_table(rows, nrows, noise.blocks > 0, chance);
    rc = PWCCA_OK;
out:
    for (size_t i = 0; rows && i < nrows; i++) {
        pw_result_free(&rows[i].r);
        pw_result_free(&rows[i].chance);
    }
    free(rows);
    pw_ckpt_close(ca);
    pw_ckpt_close(cb);
    free(want.v);
    return rc;
}
