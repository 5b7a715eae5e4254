/* pw_strmap.h -- a hash map from strings to 64-bit integers.
 *
 * The daemon indexes what it knows of a run -- checkpoints by path, files
 * settling by path -- so a scan costs O(files), not O(files^2).  The keys
 * are file names that anyone who can write a watch root chooses, so the hash
 * is SipHash-2-4 under a key drawn at random per map: names cannot be
 * crafted to collide.  Open addressing with linear probing and backward-shift
 * deletion (no tombstones); the map copies its keys. */
#ifndef PW_STRMAP_H
#define PW_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct pw_strmap_slot {
    char *key;     /* heap copy, NULL for an empty slot */
    uint64_t hash; /* of key, kept so growing needs no rehash of the bytes */
    int64_t value; /* the caller's */
} pw_strmap_slot;

typedef struct pw_strmap {
    pw_strmap_slot *slots; /* cap entries, NULL before the first put */
    size_t cap;            /* a power of two, or 0 */
    size_t n;              /* keys held */
    uint64_t k0, k1;       /* SipHash key */
} pw_strmap;

/* An empty map with a fresh random key. */
void pw_strmap_init(pw_strmap *m);
void pw_strmap_free(pw_strmap *m);
/* Set key's value (insert or replace): 0, or -1 when out of memory (map
 * unchanged).  Replacing the value of a key present never fails. */
int pw_strmap_put(pw_strmap *m, const char *key, int64_t value);
/* 1 and *value when key is present, else 0 (value may be NULL). */
int pw_strmap_get(const pw_strmap *m, const char *key, int64_t *value);
/* Remove key: 1 when it was present. */
int pw_strmap_del(pw_strmap *m, const char *key);

#endif
