/* pw_chance.c -- the chance level: a seeded permutation of whole inputs, a
 * row source that reads Y through it, and the comparison against it
 * (pw_chance.h says what and why). */
#include "pw_chance.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "pw_array.h"

/* splitmix64: one 64-bit state, advanced by a constant, mixed out. */
static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [0, bound) (bound >= 1): draws at or above the largest multiple
 * of bound are drawn again, so every value is equally likely. */
static uint64_t below(uint64_t *state, uint64_t bound)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    uint64_t r;
    do
        r = splitmix64(state);
    while (r >= limit);
    return r % bound;
}

void pw_chance_perm(uint64_t *perm, uint64_t n, uint64_t seed)
{
    uint64_t state = seed;
    for (uint64_t i = 0; i < n; i++)
        perm[i] = i;
    for (uint64_t i = n; i > 1; i--) {
        uint64_t j = below(&state, i);
        uint64_t t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
}

/* Reads rows [row0, row0 + nrows) of the view: runs of one input's
 * consecutive rows, each read from where that input lies in Y. */
static int view_read(void *ctx, uint64_t row0, size_t nrows, double *out, pw_err *err)
{
    const pw_chance_view *v = ctx;
    const pw_rows *y = v->y;
    uint64_t r = v->rows_per_input, row = row0, end = row0 + nrows;
    size_t nc = y->ncols;
    while (row < end) {
        uint64_t i = row / r, off = row % r;
        uint64_t len = r - off < end - row ? r - off : end - row;
        uint64_t src = v->perm[i] * r + off;
        if (y->mem)
            memcpy(out, y->mem + src * nc, len * nc * sizeof(double));
        else if (y->read(y->ctx, src, len, out, err) != 0)
            return -1;
        out += len * nc;
        row += len;
    }
    return 0;
}

pw_rows pw_chance_rows(pw_chance_view *v, const pw_rows *y, const uint64_t *perm, uint64_t inputs)
{
    assert(inputs > 0 && y->nrows % inputs == 0);
    *v = (pw_chance_view){.y = y, .perm = perm, .rows_per_input = y->nrows / inputs};
    pw_rows s = *y;
    s.mem = NULL;
    s.given = NULL;
    s.read = view_read;
    s.ctx = v;
    return s;
}

int pw_chance_compare(const pw_rows *x, const pw_rows *y, uint64_t inputs, uint64_t seed,
                      unsigned metrics, const pw_reduce *mode, pw_side **x_cache, pw_side **y_cache,
                      pw_result *out, pw_err *err)
{
    assert(!mode || mode->kind != PW_REDUCE_AUTO);
    if (inputs == 0 || y->nrows % inputs != 0 || x->nrows != y->nrows) {
        pw_result_init(out);
        return pw_err_set(err,
                          "no chance level: %llu and %llu rows are not a whole number of rows "
                          "for each of %llu inputs",
                          (unsigned long long)x->nrows, (unsigned long long)y->nrows,
                          (unsigned long long)inputs);
    }
    uint64_t *perm = pw_array_alloc(inputs, sizeof(uint64_t));
    if (!perm) {
        pw_result_init(out);
        return pw_err_set(err, "no chance level: out of memory for a permutation of %llu inputs",
                          (unsigned long long)inputs);
    }
    pw_chance_perm(perm, inputs, seed);
    pw_chance_view v;
    pw_rows py = pw_chance_rows(&v, y, perm, inputs);
    /* Only sides the caller already holds are passed: a side built here
     * would be built from the shuffled rows, and nothing is handed back. */
    pw_side *sx = x_cache ? *x_cache : NULL, *sy = y_cache ? *y_cache : NULL;
    int exact = !mode || mode->kind == PW_REDUCE_NONE;
    int rc = pw_engine_compare_reduced(x, &py, metrics, mode, sx ? &sx : NULL,
                                       exact && sy ? &sy : NULL, out, err);
    free(perm);
    return rc;
}
