/* refcase.h -- test-only loader for the engine's reference matrices.
 *
 * shared/reference stores each case as .npy files of one fixed format:
 * version 1.0, '<f8', C order, two dimensions.  This loader reads exactly
 * that and refuses anything else, so the engine tests do not depend on the
 * production readers.  Defined in test_refcase.c, which also tests it. */
#ifndef REFCASE_H
#define REFCASE_H

#include <stddef.h>
#include <stdint.h>

typedef struct refcase_matrix {
    uint64_t rows, cols; /* shape */
    double *data;        /* rows x cols, row-major; free with refcase_free */
} refcase_matrix;

/* Load path into m.  Returns 0, or -1 with why (a sentence) filled in. */
int refcase_load(const char *path, refcase_matrix *m, char *why, size_t whylen);
void refcase_free(refcase_matrix *m);

#endif
