/* pw_name.h -- layer names: which byte strings are acceptable, how to print
 * any byte string safely, and the natural order of names.
 *
 * Layer names come from outside (JSON keys, zip member names, file names)
 * and end up in messages, the database and the client's output, so every
 * reader checks them here: 1 to PW_MAX_NAME-1 bytes of valid UTF-8 without
 * control characters. */
#ifndef PW_NAME_H
#define PW_NAME_H

#include <stddef.h>

#include "pw_error.h"

/* 0 when s[0..len) is an acceptable layer name, else -1 with err naming the defect. */
int pw_name_check(const char *s, size_t len, pw_err *err);

/* Copy s[0..len) into dst (capacity cap >= 4) for use in a message: bytes
 * outside printable ASCII become '?', and a long name is cut with "...". */
void pw_name_printable(char *dst, size_t cap, const char *s, size_t len);

/* Like pw_name_printable, but valid UTF-8 characters are kept: only control
 * characters and bytes that are not UTF-8 become '?', and a cut falls between
 * characters, so dst is always valid UTF-8 (a JSON string needs that). */
void pw_name_printable_utf8(char *dst, size_t cap, const char *s, size_t len);

/* Natural order: runs of digits compare as numbers, so "layer2" < "layer10".
 * Equal numbers with different zero padding, and everything else, fall back
 * to byte order, so the order is total. */
int pw_name_natcmp(const char *a, const char *b);

#endif
