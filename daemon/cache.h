/* cache.h -- the compute threads' cache of per-(checkpoint, layer) engine state.
 *
 * Each (checkpoint identity, layer, reduction) pw_side -- Gram, means and
 * factorization -- is kept within a memory budget, least recently used first out, so the
 * steady state costs one Gram for the new checkpoint and one cross product per
 * layer.  Any thread; one mutex of its own. */
#ifndef PWD_CACHE_H
#define PWD_CACHE_H

#include <stdint.h>

#include "pw_side.h"

typedef struct pwd_cache pwd_cache;
typedef struct pwd_cache_entry pwd_cache_entry;

/* An empty cache allowed budget bytes; NULL when out of memory. */
pwd_cache *pwd_cache_new(uint64_t budget);
void pwd_cache_free(pwd_cache *c); /* no entry may be checked out */
/* Check out the side of (ident, layer) built with the reduction reduce (its
 * pw_reduce_format text: a side remembers its reduction and the engine refuses
 * it with another), or NULL when absent or in use (the caller computes its
 * own).  The engine may complete a side's lazy factorizations, so a side has
 * one user at a time until pwd_cache_release. */
pwd_cache_entry *pwd_cache_get(pwd_cache *c, const char *ident, const char *layer,
                               const char *reduce);
pw_side *pwd_cache_side(const pwd_cache_entry *e);
void pwd_cache_release(pwd_cache *c, pwd_cache_entry *e); /* NULL: no-op */
/* Keep a freshly computed side of (ident, layer, reduce), or free it when it does
 * not fit or is known already.  Either way the cache owns side. */
void pwd_cache_put(pwd_cache *c, const char *ident, const char *layer, const char *reduce,
                   pw_side *side);
/* A new budget, applied at once (unused entries evicted).  Returns the old one. */
uint64_t pwd_cache_set_budget(pwd_cache *c, uint64_t budget);
uint64_t pwd_cache_budget(pwd_cache *c);

#endif
