/* cache.c -- the compute threads' LRU cache of pw_side (cache.h).
 *
 * A list, not a map: it holds one entry per monitored layer of the few
 * checkpoints in use, and every lookup is dwarfed by the Gram pass it saves. */
#include "cache.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pwd_cache_entry {
    struct pwd_cache_entry *next; /* list link */
    char *key;                    /* identity + layer + reduction (heap) */
    pw_side *side;                /* cached side */
    size_t bytes;                 /* pw_side_bytes */
    int busy;                     /* checked out by a compute thread */
    uint64_t used;                /* clock of last use, for LRU */
};

struct pwd_cache {
    pthread_mutex_t mu;    /* guards everything below */
    pwd_cache_entry *list; /* cached sides */
    size_t bytes;          /* held */
    uint64_t budget;       /* allowed */
    uint64_t clock;        /* LRU clock */
};

static char *cache_key(const char *ident, const char *layer, const char *reduce)
{
    size_t n = strlen(ident) + strlen(layer) + strlen(reduce) + 3;
    char *k = malloc(n);
    if (k)
        snprintf(k, n, "%s|%s|%s", ident, layer, reduce);
    return k;
}

static void entry_free(pwd_cache_entry *e)
{
    pw_side_free(e->side);
    free(e->key);
    free(e);
}

pwd_cache *pwd_cache_new(uint64_t budget)
{
    pwd_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    pthread_mutex_init(&c->mu, NULL);
    c->budget = budget;
    return c;
}

void pwd_cache_free(pwd_cache *c)
{
    if (!c)
        return;
    while (c->list) {
        pwd_cache_entry *e = c->list;
        c->list = e->next;
        assert(!e->busy);
        entry_free(e);
    }
    pthread_mutex_destroy(&c->mu);
    free(c);
}

pwd_cache_entry *pwd_cache_get(pwd_cache *c, const char *ident, const char *layer,
                               const char *reduce)
{
    char *key = cache_key(ident, layer, reduce);
    if (!key)
        return NULL;
    pwd_cache_entry *e;
    pthread_mutex_lock(&c->mu);
    for (e = c->list; e; e = e->next)
        if (strcmp(e->key, key) == 0)
            break;
    if (e && e->busy)
        e = NULL;
    if (e) {
        e->busy = 1;
        e->used = ++c->clock;
    }
    pthread_mutex_unlock(&c->mu);
    free(key);
    return e;
}

pw_side *pwd_cache_side(const pwd_cache_entry *e)
{
    return e->side;
}

/* Evict unused entries, oldest first, until the budget holds.  Caller locks. */
static void cache_trim(pwd_cache *c)
{
    while (c->bytes > c->budget) {
        pwd_cache_entry **victim = NULL;
        for (pwd_cache_entry **pp = &c->list; *pp; pp = &(*pp)->next)
            if (!(*pp)->busy && (!victim || (*pp)->used < (*victim)->used))
                victim = pp;
        if (!victim)
            return;
        pwd_cache_entry *e = *victim;
        *victim = e->next;
        c->bytes -= e->bytes;
        entry_free(e);
    }
}

void pwd_cache_release(pwd_cache *c, pwd_cache_entry *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&c->mu);
    assert(e->busy);
    e->busy = 0;
    cache_trim(c);
    pthread_mutex_unlock(&c->mu);
}

void pwd_cache_put(pwd_cache *c, const char *ident, const char *layer, const char *reduce,
                   pw_side *side)
{
    size_t bytes = pw_side_bytes(side);
    char *key = cache_key(ident, layer, reduce);
    pthread_mutex_lock(&c->mu);
    int known = 0;
    for (pwd_cache_entry *e = c->list; e && key; e = e->next)
        known |= strcmp(e->key, key) == 0;
    pwd_cache_entry *e = NULL;
    if (key && !known && bytes <= c->budget && (e = calloc(1, sizeof *e))) {
        e->key = key;
        e->side = side;
        e->bytes = bytes;
        e->used = ++c->clock;
        e->next = c->list;
        c->list = e;
        c->bytes += bytes;
        cache_trim(c);
    } else {
        free(key);
        pw_side_free(side);
    }
    pthread_mutex_unlock(&c->mu);
}

uint64_t pwd_cache_set_budget(pwd_cache *c, uint64_t budget)
{
    pthread_mutex_lock(&c->mu);
    uint64_t old = c->budget;
    c->budget = budget;
    cache_trim(c);
    pthread_mutex_unlock(&c->mu);
    return old;
}

uint64_t pwd_cache_budget(pwd_cache *c)
{
    pthread_mutex_lock(&c->mu);
    uint64_t b = c->budget;
    pthread_mutex_unlock(&c->mu);
    return b;
}
