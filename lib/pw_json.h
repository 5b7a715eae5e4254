/* pw_json.h -- the JSON forms shared by pwcca's --json/--format json output
 * and the dashboard's endpoints (lib/pw_web.c), so the two can never drift
 * apart: a curve row here is the one contract both print (docs/CLIENT.md).
 *
 * Values that are absent in the database are null: a NAN metric, a negative
 * count, PW_QUERY_NO_STEP.  Text that is not valid UTF-8 (a layer name is
 * whatever bytes a file held) keeps the field, with U+FFFD for each bad byte.
 * Every function returns a new reference, or NULL when out of memory. */
#ifndef PW_JSON_H
#define PW_JSON_H

#include <jansson.h>
#include <stdint.h>

#include "pw_store.h"

json_t *pw_json_real(double v);
json_t *pw_json_count(int64_t v);
json_t *pw_json_step(int64_t v);
json_t *pw_json_str(const char *s);
/* One row of `pwcca curve --format json`, fields in its documented order. */
json_t *pw_json_curve_row(const pw_curve_row *r);

#endif
