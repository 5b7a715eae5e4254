/* pw_array.h -- allocation of numeric arrays for the engine.
 *
 * The engine's arrays have data-dependent sizes that can legitimately be 0
 * (a layer with no kept neuron, a rank of 0); malloc(0) may return NULL,
 * which would read as out-of-memory.  pw_array_alloc always asks for at
 * least one element and refuses a count whose byte size overflows. */
#ifndef PW_ARRAY_H
#define PW_ARRAY_H

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
