/* pw_array.h -- allocation of arrays: the engine's numeric ones, and the
 * growable lists of the library, the daemon and the client.
 *
 * The engine's arrays have data-dependent sizes that can legitimately be 0
 * (a layer with no kept neuron, a rank of 0); malloc(0) may return NULL,
 * which would read as out-of-memory.  pw_array_alloc always asks for at
 * least one element and refuses a count whose byte size overflows.
 *
 * A list that grows one row at a time doubles its capacity with pw_grow, so
 * n appends cost O(log n) reallocs, and a capacity or byte size that would
 * overflow size_t reads as out of memory instead of wrapping to a small
 * buffer. */
#ifndef PW_ARRAY_H
#define PW_ARRAY_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* count elements of size bytes each (at least one element); NULL when out of memory. */
static inline void *pw_array_alloc(size_t count, size_t size)
{
    if (count == 0)
        count = 1;
    if (count > SIZE_MAX / size)
        return NULL;
    return malloc(count * size);
}

/* p (NULL, or holding *cap elements of elem bytes) with room for at least
 * need elements: returned as is when it has it, else moved to a capacity of
 * first doubled as often as need asks.  NULL when out of memory or when the
 * size passes PTRDIFF_MAX bytes; p and *cap are then untouched (the caller still owns p).
 * Use:  T *g = pw_grow(arr, &cap, n + 1, sizeof *arr, 16); if (!g) fail; arr = g; */
static inline void *pw_grow(void *p, size_t *cap, size_t need, size_t elem, size_t first)
{
    assert(need > 0 && elem > 0 && first > 0);
    if (p && need <= *cap)
        return p;
    size_t nc = *cap ? *cap : first;
    while (nc < need)
        nc = nc > SIZE_MAX / 2 ? need : nc * 2;
    if (nc > (size_t)PTRDIFF_MAX / elem) /* no object is larger */
        return NULL;
    void *g = realloc(p, nc * elem);
    if (g)
        *cap = nc;
    return g;
}

/* Byte counts for estimates (pw_engine_estimate): saturating at UINT64_MAX,
 * so an absurd shape reads as "too much" instead of wrapping to a small number. */
static inline uint64_t pw_sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static inline uint64_t pw_sat_mul(uint64_t a, uint64_t b)
{
    return b != 0 && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}

#endif
