/* pw_retain_plan.c -- the eviction choice for retained copies (see pw_retain_plan.h).
 *
 * Copies are sorted by (run, step) once; each eviction is one pass over them
 * that sizes every run and finds its best candidate, so deciding costs
 * O(copies) per evicted copy. */
#include "pw_retain_plan.h"

#include <stdlib.h>

#define NONE ((size_t)-1)

typedef struct item {
    pw_retain_copy c; /* the copy */
    size_t idx;       /* index into the caller's array; n for the incoming copy */
    int alive;        /* not evicted (yet) */
} item;

static int by_run_step(const void *a, const void *b)
{
    const item *x = a, *y = b;
    if (x->c.run != y->c.run)
        return x->c.run < y->c.run ? -1 : 1;
    if (x->c.step != y->c.step)
        return x->c.step < y->c.step ? -1 : 1;
    return 0;
}

/* The run's best candidate among its live copies (positions in live[0..cnt)), or NONE. */
static size_t run_candidate(const item *it, const size_t *live, size_t cnt)
{
    size_t best = NONE;
    int best_cls = 0;
    int64_t best_gap = 0;
    for (size_t j = 0; j + 1 < cnt; j++) { /* j + 1 < cnt: never the newest */
        const item *x = &it[live[j]];
        if (x->c.pinned)
            continue;
        int cls = j == 0; /* the oldest goes last */
        int64_t gap = j == 0 ? 0 : it[live[j + 1]].c.step - it[live[j - 1]].c.step;
        if (best == NONE || cls < best_cls || (cls == best_cls && gap < best_gap)) {
            best = live[j];
            best_cls = cls;
            best_gap = gap;
        }
    }
    return best;
}

/* Evict from it[0..m) (sorted) until *total fits budget.  Positions of victims go
 * to out; returns their count; *fits is 0 when nothing evictable was left first. */
static size_t thin(item *it, size_t m, uint64_t *total, uint64_t budget, size_t *live, size_t *out,
                   int *fits)
{
    size_t nv = 0;
    *fits = 1;
    while (*total > budget) {
        size_t victim = NONE;
        uint64_t victim_run_bytes = 0;
        for (size_t a = 0; a < m;) {
            size_t b = a, cnt = 0;
            uint64_t bytes = 0;
            for (; b < m && it[b].c.run == it[a].c.run; b++)
                if (it[b].alive) {
                    bytes += it[b].c.bytes;
                    live[cnt++] = b;
                }
            size_t cand = run_candidate(it, live, cnt);
            if (cand != NONE && (victim == NONE || bytes > victim_run_bytes)) {
                victim = cand;
                victim_run_bytes = bytes;
            }
            a = b;
        }
        if (victim == NONE) {
            *fits = 0;
            break;
        }
        it[victim].alive = 0;
        *total -= it[victim].c.bytes;
        out[nv++] = victim;
    }
    return nv;
}

/* Fill it with copies (and incoming when given), sorted; returns their total bytes. */
static uint64_t load(item *it, const pw_retain_copy *copies, size_t n,
                     const pw_retain_copy *incoming, size_t *m)
{
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        it[i] = (item){copies[i], i, 1};
    *m = n;
    if (incoming)
        it[(*m)++] = (item){*incoming, n, 1};
    for (size_t i = 0; i < *m; i++)
        total += it[i].c.bytes;
    qsort(it, *m, sizeof *it, by_run_step);
    return total;
}

size_t pw_retain_plan(const pw_retain_copy *copies, size_t n, const pw_retain_copy *incoming,
                      uint64_t budget, size_t *victims, int *keep_incoming)
{
    item *it = malloc((n + 1) * sizeof *it);
    size_t *live = malloc((n + 1) * sizeof *live);
    size_t *pos = malloc((n + 1) * sizeof *pos);
    *keep_incoming = 0;
    if (!it || !live || !pos) {
        free(it);
        free(live);
        free(pos);
        return NONE;
    }
    size_t m;
    uint64_t total = load(it, copies, n, incoming, &m);
    int fits;
    size_t nv = thin(it, m, &total, budget, live, pos, &fits);
    int incoming_out = !fits;
    for (size_t i = 0; i < nv; i++)
        incoming_out |= it[pos[i]].idx == n;
    if (incoming_out) {
        /* Without the new copy the others may well fit as they are. */
        total = load(it, copies, n, NULL, &m);
        nv = thin(it, m, &total, budget, live, pos, &fits);
    } else {
        *keep_incoming = 1;
    }
    for (size_t i = 0; i < nv; i++)
        victims[i] = it[pos[i]].idx;
    free(it);
    free(live);
    free(pos);
    return nv;
}
