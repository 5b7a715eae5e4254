/* fuzz_common.h -- what every reader fuzz target does with a parsed layer:
 * read all of its rows, a chunk at a time, as the engine would. */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stdlib.h>

#include "pw_tensor.h"

static void fuzz_read_all(const pw_tensor *t)
{
    /* rows * cols * itemsize == nbytes <= input size, so this is bounded */
    if (t->rows == 0 || t->cols == 0)
        return;
    size_t chunk = t->rows < 64 ? (size_t)t->rows : 64;
    double *out = malloc(chunk * (size_t)t->cols * sizeof *out);
    if (!out)
        return;
    pw_err e;
    for (uint64_t r = 0; r < t->rows; r += chunk) {
        size_t n = t->rows - r < chunk ? (size_t)(t->rows - r) : chunk;
        if (pw_tensor_read_rows(t, r, n, out, &e) != 0)
            abort(); /* a view the reader accepted must always be readable */
    }
    free(out);
}

#endif
