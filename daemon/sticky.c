/* sticky.c -- reduce = auto's per-(run, layer) decisions (sticky.h).
 *
 * A book per run, each with its layers' decisions in an array indexed by a
 * pw_strmap (layer -> index): a lookup happens once per layer pair, and with
 * many runs of thousands of layers a scan of every decision would cost more
 * than the small pairs it sits next to.  Runs stay few, so they are scanned. */
#include "sticky.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "pw_array.h"
#include "pw_strmap.h"

/* One layer of a run. */
typedef struct choice {
    char *layer;   /* layer name (heap) */
    int deciding;  /* 1 while a compute thread computes the deciding pair */
    pw_reduce use; /* the decision (when not deciding): NONE or DIMS */
    int64_t step;  /* X step of the pair that decided */
} choice;

/* One run's decisions. */
typedef struct book {
    int64_t run_id; /* runs.id */
    int loaded;     /* its stored decisions were read */
    pw_strmap at;   /* layer -> index in v */
    choice *v;      /* the decisions and the ones being taken */
    size_t n, cap;  /* used / allocated */
} book;

struct pwd_sticky {
    pthread_mutex_t mu;  /* guards everything below */
    pthread_cond_t cv;   /* a decision was taken or given up */
    book *books;         /* one per run seen */
    size_t nbooks, capb; /* used / allocated */
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
    for (size_t b = 0; b < s->nbooks; b++) {
        book *k = &s->books[b];
        for (size_t i = 0; i < k->n; i++)
            free(k->v[i].layer);
        free(k->v);
        pw_strmap_free(&k->at);
    }
    free(s->books);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* The run's book; with make, a new empty one when there is none.  NULL when
 * none (or out of memory).  Valid until the next book is made.  Caller locks. */
static book *book_of(pwd_sticky *s, int64_t run_id, int make)
{
    for (size_t b = 0; b < s->nbooks; b++)
        if (s->books[b].run_id == run_id)
            return &s->books[b];
    if (!make)
        return NULL;
    book *g = pw_grow(s->books, &s->capb, s->nbooks + 1, sizeof *g, 8);
    if (!g)
        return NULL;
    s->books = g;
    book *k = &s->books[s->nbooks++];
    memset(k, 0, sizeof *k);
    k->run_id = run_id;
    pw_strmap_init(&k->at);
    return k;
}

/* The entry of (run, layer), NULL when none.  Caller locks. */
static choice *find(pwd_sticky *s, int64_t run_id, const char *layer)
{
    book *k = book_of(s, run_id, 0);
    int64_t i;
    return k && pw_strmap_get(&k->at, layer, &i) ? &k->v[i] : NULL;
}

/* A new entry for (run, layer), which has none; NULL when out of memory.
 * Caller locks. */
static choice *add(pwd_sticky *s, int64_t run_id, const char *layer)
{
    book *k = book_of(s, run_id, 1);
    if (!k)
        return NULL;
    choice *g = pw_grow(k->v, &k->cap, k->n + 1, sizeof *g, 16);
    if (!g)
        return NULL;
    k->v = g;
    choice *c = &k->v[k->n];
    memset(c, 0, sizeof *c);
    if (!(c->layer = strdup(layer)))
        return NULL;
    if (pw_strmap_put(&k->at, layer, (int64_t)k->n) != 0) {
        free(c->layer);
        return NULL;
    }
    k->n++;
    return c;
}

/* Remove entry i of book k: the last entry takes its place (order does not
 * matter) and its index follows it.  Caller locks. */
static void drop(book *k, size_t i)
{
    pw_strmap_del(&k->at, k->v[i].layer);
    free(k->v[i].layer);
    k->v[i] = k->v[--k->n];
    /* Replacing the value of a key present never fails (pw_strmap.h). */
    if (i < k->n)
        pw_strmap_put(&k->at, k->v[i].layer, (int64_t)i);
}

typedef struct load_ctx {
    pwd_sticky *s;  /* the decisions, locked */
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
    book *k = book_of(s, run_id, 1);
    if (!k)
        rc = pw_err_set(err, "out of memory reading reduce decisions");
    else if (!k->loaded) {
        load_ctx l = {s, run_id, 0};
        if (pw_db_reduce_choices(db, run_id, load_one, &l, err) != 0 || l.oom)
            rc = l.oom ? pw_err_set(err, "out of memory reading reduce decisions") : -1;
        else
            k->loaded = 1; /* still valid: load_one adds to this book, makes none */
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
    book *k = book_of(s, run_id, 0);
    int64_t i;
    if (k && pw_strmap_get(&k->at, layer, &i) && k->v[i].deciding) {
        choice *c = &k->v[i];
        if (resolved) {
            c->deciding = 0;
            c->use = *resolved;
            c->step = step;
        } else {
            drop(k, (size_t)i);
        }
    }
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void pwd_sticky_forget(pwd_sticky *s, int64_t run_id, int64_t from)
{
    pthread_mutex_lock(&s->mu);
    book *k = book_of(s, run_id, 0);
    for (size_t i = k ? k->n : 0; i-- > 0;)
        if (!k->v[i].deciding && k->v[i].step >= from)
            drop(k, i);
    pthread_mutex_unlock(&s->mu);
}
