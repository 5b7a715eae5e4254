/* sticky.c -- reduce = auto's per-(run, layer) decisions (sticky.h).
 *
 * Two plain arrays, not maps: a daemon watches a few runs of a few hundred
 * layers, and a lookup happens once per layer pair, next to a Gram pass. */
#include "sticky.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "pw_array.h"

/* One (run, layer). */
typedef struct choice {
    int64_t run_id; /* runs.id */
    char *layer;    /* layer name (heap) */
    int deciding;   /* 1 while a compute thread computes the deciding pair */
    pw_reduce use;  /* the decision (when not deciding): NONE or DIMS */
    int64_t step;   /* X step of the pair that decided */
} choice;

struct pwd_sticky {
    pthread_mutex_t mu;   /* guards everything below */
    pthread_cond_t cv;    /* a decision was taken or given up */
    choice *v;            /* the decisions and the ones being taken */
    size_t n, cap;        /* used / allocated */
    int64_t *loaded;      /* runs whose stored decisions were read */
    size_t nloaded, capl; /* used / allocated */
};

pwd_sticky *pwd_sticky_new(void)
{
    pwd_sticky *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    return s;
}

void pwd_sticky_free(pwd_sticky *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i].layer);
    free(s->v);
    free(s->loaded);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* The entry of (run, layer), NULL when none.  Caller locks. */
static choice *find(pwd_sticky *s, int64_t run_id, const char *layer)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].run_id == run_id && strcmp(s->v[i].layer, layer) == 0)
            return &s->v[i];
    return NULL;
}

/* A new entry for (run, layer), NULL when out of memory.  Caller locks. */
static choice *add(pwd_sticky *s, int64_t run_id, const char *layer)
{
    choice *g = pw_grow(s->v, &s->cap, s->n + 1, sizeof *g, 16);
    if (!g)
        return NULL;
    s->v = g;
    choice *c = &s->v[s->n];
    memset(c, 0, sizeof *c);
    c->run_id = run_id;
    if (!(c->layer = strdup(layer)))
        return NULL;
    s->n++;
    return c;
}

/* Remove entry i (order does not matter).  Caller locks. */
static void drop(pwd_sticky *s, size_t i)
{
    free(s->v[i].layer);
    s->v[i] = s->v[--s->n];
}

typedef struct load_ctx {
    pwd_sticky *s;  /* the book, locked */
    int64_t run_id; /* run read */
    int oom;        /* out of memory */
} load_ctx;

static int load_one(void *ctx, const char *layer, const char *reduce, int64_t step)
{
    load_ctx *l = ctx;
    pw_reduce r;
    pw_err e;
    /* Only what auto resolves to is stored; anything else decides again. */
    if (!layer || !reduce || pw_reduce_parse(reduce, &r, &e) != 0 ||
        (r.kind != PW_REDUCE_NONE && r.kind != PW_REDUCE_DIMS) || find(l->s, l->run_id, layer))
        return 0;
    choice *c = add(l->s, l->run_id, layer);
    if (!c)
        return l->oom = 1;
    c->use = r;
    c->step = step;
    return 0;
}

int pwd_sticky_load(pwd_sticky *s, pw_db *db, int64_t run_id, pw_err *err)
{
    int rc = 0;
    pthread_mutex_lock(&s->mu);
    size_t i = 0;
    while (i < s->nloaded && s->loaded[i] != run_id)
        i++;
    if (i == s->nloaded) {
        load_ctx l = {s, run_id, 0};
        int64_t *g = pw_grow(s->loaded, &s->capl, s->nloaded + 1, sizeof *g, 8);
        if (g)
            s->loaded = g;
        if (!g || pw_db_reduce_choices(db, run_id, load_one, &l, err) != 0 || l.oom)
            rc = l.oom || !g ? pw_err_set(err, "out of memory reading reduce decisions") : -1;
        else
            s->loaded[s->nloaded++] = run_id;
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int pwd_sticky_take(pwd_sticky *s, int64_t run_id, const char *layer, pw_reduce *use)
{
    pthread_mutex_lock(&s->mu);
    choice *c;
    /* The decider always reports back (pwd_sticky_decided), also when its pair
     * failed or the daemon stops, so this wait ends. */
    while ((c = find(s, run_id, layer)) && c->deciding)
        pthread_cond_wait(&s->cv, &s->mu);
    int decided = c != NULL;
    if (c)
        *use = c->use;
    else if ((c = add(s, run_id, layer)))
        c->deciding = 1;
    /* Out of memory: decide without the mark; the database keeps the first decision. */
    pthread_mutex_unlock(&s->mu);
    return decided;
}

void pwd_sticky_decided(pwd_sticky *s, int64_t run_id, const char *layer, const pw_reduce *resolved,
                        int64_t step)
{
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n; i++) {
        choice *c = &s->v[i];
        if (c->run_id != run_id || strcmp(c->layer, layer) != 0 || !c->deciding)
            continue;
        if (resolved) {
            c->deciding = 0;
            c->use = *resolved;
            c->step = step;
        } else {
            drop(s, i);
        }
        break;
    }
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void pwd_sticky_forget(pwd_sticky *s, int64_t run_id, int64_t from)
{
    pthread_mutex_lock(&s->mu);
    for (size_t i = s->n; i-- > 0;)
        if (s->v[i].run_id == run_id && !s->v[i].deciding && s->v[i].step >= from)
            drop(s, i);
    pthread_mutex_unlock(&s->mu);
}
