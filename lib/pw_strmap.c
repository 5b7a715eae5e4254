/* pw_strmap.c -- string -> int64 hash map under a random SipHash key (see pw_strmap.h). */
#include "pw_strmap.h"

#include <assert.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* SipHash-2-4 (Aumasson & Bernstein, 2012) of n bytes under (k0, k1). */
#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = ROTL(v1, 13);                                                                         \
        v1 ^= v0;                                                                                  \
        v0 = ROTL(v0, 32);                                                                         \
        v2 += v3;                                                                                  \
        v3 = ROTL(v3, 16);                                                                         \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = ROTL(v3, 21);                                                                         \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = ROTL(v1, 17);                                                                         \
        v1 ^= v2;                                                                                  \
        v2 = ROTL(v2, 32);                                                                         \
    } while (0)

static uint64_t siphash(uint64_t k0, uint64_t k1, const unsigned char *p, size_t n)
{
    uint64_t v0 = k0 ^ 0x736f6d6570736575ull, v1 = k1 ^ 0x646f72616e646f6dull;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ull, v3 = k1 ^ 0x7465646279746573ull;
    uint64_t b = (uint64_t)n << 56;
    size_t whole = n - n % 8;
    for (size_t i = 0; i < whole; i += 8) {
        uint64_t m = 0;
        for (int k = 7; k >= 0; k--)
            m = (m << 8) | p[i + (size_t)k];
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    for (size_t k = 0; k < n % 8; k++)
        b |= (uint64_t)p[whole + k] << (8 * k);
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

void pw_strmap_init(pw_strmap *m)
{
    memset(m, 0, sizeof *m);
    uint64_t k[2];
    if (getrandom(k, sizeof k, GRND_NONBLOCK) != (ssize_t)sizeof k) {
        /* No entropy this early: still unpredictable enough from outside. */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        k[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
        k[1] = (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)m;
    }
    m->k0 = k[0];
    m->k1 = k[1];
}

void pw_strmap_free(pw_strmap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].key);
    free(m->slots);
    m->slots = NULL;
    m->cap = m->n = 0;
}

static uint64_t hash_of(const pw_strmap *m, const char *key)
{
    return siphash(m->k0, m->k1, (const unsigned char *)key, strlen(key));
}

/* The slot holding key, or the empty slot where it would go. */
static size_t find(const pw_strmap *m, const char *key, uint64_t h)
{
    size_t mask = m->cap - 1, i = (size_t)h & mask;
    while (m->slots[i].key && (m->slots[i].hash != h || strcmp(m->slots[i].key, key) != 0))
        i = (i + 1) & mask;
    return i;
}

static int grow(pw_strmap *m)
{
    size_t cap = m->cap ? 2 * m->cap : 16;
    pw_strmap_slot *s = calloc(cap, sizeof *s);
    if (!s)
        return -1;
    pw_strmap old = *m;
    m->slots = s;
    m->cap = cap;
    for (size_t i = 0; i < old.cap; i++)
        if (old.slots[i].key)
            m->slots[find(m, old.slots[i].key, old.slots[i].hash)] = old.slots[i];
    free(old.slots);
    return 0;
}

int pw_strmap_put(pw_strmap *m, const char *key, int64_t value)
{
    uint64_t h = hash_of(m, key);
    size_t i = m->cap ? find(m, key, h) : 0;
    if (m->cap && m->slots[i].key) {
        m->slots[i].value = value; /* a replace never allocates, so never fails */
        return 0;
    }
    if (2 * (m->n + 1) > m->cap) {
        if (grow(m) != 0)
            return -1; /* the load stays at most one half */
        i = find(m, key, h);
    }
    char *k = strdup(key);
    if (!k)
        return -1;
    m->slots[i].key = k;
    m->slots[i].hash = h;
    m->slots[i].value = value;
    m->n++;
    return 0;
}

int pw_strmap_get(const pw_strmap *m, const char *key, int64_t *value)
{
    if (m->n == 0)
        return 0;
    size_t i = find(m, key, hash_of(m, key));
    if (!m->slots[i].key)
        return 0;
    if (value)
        *value = m->slots[i].value;
    return 1;
}

int pw_strmap_del(pw_strmap *m, const char *key)
{
    if (m->n == 0)
        return 0;
    size_t mask = m->cap - 1, i = find(m, key, hash_of(m, key));
    if (!m->slots[i].key)
        return 0;
    free(m->slots[i].key);
    m->slots[i].key = NULL;
    m->n--;
    /* Backward shift: move later members of the cluster into the hole when
     * their home slot does not lie (cyclically) between the hole and them. */
    for (size_t j = (i + 1) & mask; m->slots[j].key; j = (j + 1) & mask) {
        size_t home = (size_t)m->slots[j].hash & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->slots[i] = m->slots[j];
            m->slots[j].key = NULL;
            i = j;
        }
    }
    assert(m->n < m->cap);
    return 1;
}
