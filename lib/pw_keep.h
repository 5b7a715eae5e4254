/* pw_keep.h -- large numeric buffers kept for the next use.
 *
 * The engine allocates the same few large arrays on every comparison: the
 * stacked Gram and the lanes' chunks of the pass, each side's Gram, the
 * cross Gram.  Fresh memory from the kernel costs a page fault per 4 KiB
 * (malloc hands large blocks back to the kernel when they are freed), which
 * at a few hundred neurons is several per cent of a comparison.  Freed
 * buffers up to PW_KEEP_BYTES in all are kept here and handed out again to a
 * request of about their size.  Thread-safe. */
#ifndef PW_KEEP_H
#define PW_KEEP_H

#include <stddef.h>

/* count elements of size bytes each (at least one element, like
 * pw_array_alloc), from the kept buffers when one fits, else new.  NULL
 * when out of memory or when the byte size overflows. */
void *pw_keep_alloc(size_t count, size_t size);

/* Give back a buffer from pw_keep_alloc with the same count and size: kept
 * when there is room, else freed.  NULL is ignored. */
void pw_keep_free(void *p, size_t count, size_t size);

/* Free every kept buffer: memory back to the system after a one-off large
 * comparison, or a known empty pool for a test. */
void pw_keep_drain(void);

#endif
