/* pw_noise.h -- a standard error for every score: the delete-a-block
 * jackknife over the probe inputs, out of the same streaming pass.
 *
 * The probe's N inputs are split into B fixed blocks of consecutive inputs
 * (block k holds inputs floor(kN/B) .. floor((k+1)N/B) - 1), and every row
 * of an input stays in its input's block: a conv map [N, C, H, W] has H*W
 * rows per input, a sequence [N, T, D] has T, a matrix [N, D] one.  The pass
 * is run block by block, each block keeping its own count, column means,
 * extremes and centred stacked Gram (Sxx, Syy, Sxy of that block); merging
 * the blocks with Chan's formula gives the full Grams the engine scores as
 * usual, and removing block k from the merged sums gives the Grams of the
 * probe without block k.  Scoring those B leave-one-block-out Grams gives
 * theta_(1..B), and
 *
 *     SE = sqrt((B - 1) / B * sum_k (theta_(k) - mean_k theta_(k))^2)
 *
 * for each metric (docs/ENGINE.md, "Standard errors", says what it estimates
 * and its finite-n bias).  Cost: the same one pass over the rows (with Syy
 * computed even when Y's side is cached), B * (p+q)^2 doubles held, and B
 * extra per-pair factorizations.
 *
 * The mode, as written in the config key `noise` and `pwcca compare --noise`:
 *   off                      no standard errors (the default)
 *   jackknife:B [every N]    B blocks (2 <= B <= PW_NOISE_MAX_BLOCKS); the
 *                            daemon computes them at every N-th checkpoint
 *                            of a layer (default PW_NOISE_DEFAULT_EVERY = 20;
 *                            every 1: each); compare always computes them. */
#ifndef PW_NOISE_H
#define PW_NOISE_H

#include <stddef.h>
#include <stdint.h>

#include "pw_engine.h"
#include "pw_gram.h"

/* `every` when a jackknife mode does not say: bench_engine --noise measures a
 * pair with jackknife:10 at 6-10x one without, so every 20th keeps the
 * amortized cost within 1.5x. */
#define PW_NOISE_DEFAULT_EVERY 20u

typedef struct pw_noise_mode {
    unsigned blocks; /* B, >= 2; 0: off */
    unsigned every;  /* SEs at every `every`-th checkpoint of a layer (>= 1) */
} pw_noise_mode;

/* Parse "off", "jackknife:B" or "jackknife:B every N" (blanks around words
 * ignored).  Returns 0, or -1 with err quoting the text and the forms. */
int pw_noise_parse(const char *text, pw_noise_mode *out, pw_err *err);

/* The canonical text ("off", "jackknife:10", "jackknife:10 every 4"); parses
 * back to the same mode.  len >= PW_NOISE_TEXT_MAX always suffices. */
void pw_noise_format(const pw_noise_mode *m, char *buf, size_t len);

/* 1 when the mode computes SEs for a layer's checkpoint number `index`
 * (0 for the layer's first scored checkpoint, counting on by one). */
int pw_noise_due(const pw_noise_mode *m, uint64_t index);

/* Blocks of inputs ------------------------------------------------------------ */

typedef struct pw_blocks {
    uint64_t nrows;          /* rows of the layer (inputs * rows_per_input) */
    uint64_t inputs;         /* N, probe inputs */
    uint64_t rows_per_input; /* rows each input contributes, consecutive */
    unsigned count;          /* B */
} pw_blocks;

/* Split nrows rows of `inputs` inputs into count blocks.  Refuses (-1, err
 * says why) count < 2, count > inputs, and nrows not a multiple of inputs. */
int pw_blocks_init(pw_blocks *b, uint64_t nrows, uint64_t inputs, unsigned count, pw_err *err);
/* First input of block k (k == count: inputs). */
uint64_t pw_blocks_first_input(const pw_blocks *b, unsigned k);
/* First row of block k (k == count: nrows). */
uint64_t pw_blocks_first_row(const pw_blocks *b, unsigned k);
/* The block holding a row (< nrows). */
unsigned pw_blocks_of_row(const pw_blocks *b, uint64_t row);

/* N of a layer's tensor: its first axis (the probe inputs), under
 * pw_tensor.h's shape conventions. */
uint64_t pw_noise_inputs(const pw_tensor *t);

/* The jackknife SE of count >= 2 leave-one-out values; NAN if one is NAN. */
double pw_jackknife_se(const double *theta, unsigned count);

/* Block sums ------------------------------------------------------------------ */

/* A pass's result handed to the engine instead of rows (pw_rows.given). */
typedef struct pw_gram_given {
    const double *g;               /* stacked (p+q)^2 Gram, column-major, upper triangle */
    const double *mean[2];         /* column means of X and Y */
    const double *min[2], *max[2]; /* raw extremes of X and Y */
} pw_gram_given;

/* pw_gram_pass's contract from given sums: fills g (ld x ld), the sides'
 * means and, for fresh sides, extremes; bad->kind is PW_GRAM_GOOD.  Returns 0. */
int pw_noise_take(const pw_gram_given *gv, pw_gram_side *x, pw_gram_side *y, double *g, size_t ld,
                  pw_gram_bad *bad);

/* Per-block sums of one pair, their merge and the leave-one-out sums. */
typedef struct pw_noise_sums {
    pw_blocks blocks; /* the split */
    size_t p, q, ld;  /* columns of X, Y, and p + q */
    uint64_t *n;      /* count: rows per block */
    double *g;        /* count Grams of ld x ld, block k at g + k ld^2 (upper triangles) */
    double *stats;    /* count x 3 ld: block k's means, minima, maxima (X's columns first) */
    double *full_g;   /* ld x ld: the merged Gram of every block */
    double *full;     /* 3 ld: its means, minima, maxima */
    double *d;        /* ld: scratch for the merges' mean differences */
} pw_noise_sums;

/* Heap bytes pw_noise_sums_pass holds for B blocks of p + q columns (sums
 * only; the engine's own estimate comes on top), saturating. */
uint64_t pw_noise_sums_bytes(uint64_t p, uint64_t q, unsigned count);

/* One pass over both sides' rows, block by block, then the merge.  Returns
 * 0 (bad->kind says whether a value was non-finite; bad->row is then the
 * row in the whole layer), or -1 when reading or memory failed.  Free with
 * pw_noise_sums_free whatever it returned. */
int pw_noise_sums_pass(pw_noise_sums *s, const pw_rows *x, const pw_rows *y, const pw_blocks *b,
                       pw_gram_bad *bad, pw_err *err);

/* The sums of every block but k: g (ld x ld, upper triangle) and stats
 * (3 ld: means, minima, maxima); returns the rows left. */
uint64_t pw_noise_sums_without(const pw_noise_sums *s, unsigned k, double *g, double *stats);

void pw_noise_sums_free(pw_noise_sums *s);

/* The metrics whose SEs the scores table has columns for, X(sym, id, since)
 * with column id_se added by schema version `since` (005_noise.sql for the
 * first five, 008_procrustes_se.sql for procrustes).  Explicit, not
 * PW_METRIC_LIST: a metric added to the list later adds its own column in its
 * own migration, then an entry here with that migration's version
 * (lib/pw_query.c reads it only from databases at that version; NULL before).
 * cka_debiased has none: its sums are not kept per block. */
#define PW_NOISE_SE_COLUMNS(X)                                                                     \
    X(PWCCA, pwcca, PW_NOISE_SCHEMA_VERSION)                                                       \
    X(DISTANCE, distance, PW_NOISE_SCHEMA_VERSION)                                                 \
    X(MEAN_CCA, mean_cca, PW_NOISE_SCHEMA_VERSION)                                                 \
    X(SVCCA, svcca, PW_NOISE_SCHEMA_VERSION)                                                       \
    X(CKA, cka, PW_NOISE_SCHEMA_VERSION)                                                           \
    X(PROCRUSTES, procrustes, PW_NOISE_PROCRUSTES_VERSION)

/* The schema version that added the first five columns and scores.noise_blocks. */
#define PW_NOISE_SCHEMA_VERSION 5
/* The schema version that added procrustes_se (008_procrustes_se.sql). */
#define PW_NOISE_PROCRUSTES_VERSION 8

/* A comparison with standard errors ------------------------------------------ */

typedef struct pw_noise_result {
    unsigned blocks;          /* B the SEs came from; 0 when none was computed */
    char message[PW_ERR_MAX]; /* why SEs are missing (all or some), else "" */
    /* One SE per PW_METRIC_LIST entry (pwcca_se, ...), NAN when missing. */
    double se[PW_METRIC_COUNT];
} pw_noise_result;

void pw_noise_result_init(pw_noise_result *nr);

/* Bytes the SEs add to pw_engine_estimate for this pair, saturating. */
uint64_t pw_noise_estimate(const pw_rows *x, const pw_rows *y, unsigned blocks);

/* pw_engine_compare with standard errors: *out is exactly what
 * pw_engine_compare(x, y, metrics, x_cache, y_cache, ...) gives (the caller
 * has checked its budget), and *noise the SEs under `mode` when mode is on,
 * the layer has at least B inputs, the SEs' own bytes fit what is left of
 * budget_bytes (0: no budget; `knob` names it) after the engine's estimate,
 * and the rows are finite; otherwise noise->message says why not (blocks 0).
 * A leave-one-out set whose metric is missing (too few datapoints left, a
 * side left constant) leaves that metric's SE missing, with a message.
 * inputs: N of x's and y's rows (pw_noise_inputs).  Returns as
 * pw_engine_compare. */
int pw_noise_compare(const pw_rows *x, const pw_rows *y, uint64_t inputs, unsigned metrics,
                     const pw_noise_mode *mode, uint64_t budget_bytes, const char *knob,
                     pw_side **x_cache, pw_side **y_cache, pw_result *out, pw_noise_result *noise,
                     pw_err *err);

#endif
