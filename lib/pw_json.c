/* pw_json.c -- JSON values and the curve row shared by pwcca and the
 * dashboard (pw_json.h). */
#include "pw_json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pw_metric.h"
#include "pw_noise.h"
#include "pw_plot.h"

json_t *pw_json_real(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

json_t *pw_json_count(int64_t v)
{
    return v < 0 ? json_null() : json_integer(v);
}

json_t *pw_json_step(int64_t v)
{
    return v == PW_QUERY_NO_STEP ? json_null() : json_integer(v);
}

json_t *pw_json_str(const char *s)
{
    if (!s)
        return json_null();
    json_t *j = json_string(s);
    if (j)
        return j;
    /* Not UTF-8: replace the bad bytes with U+FFFD rather than drop the field. */
    char *clean = malloc(3 * strlen(s) + 1), *o = clean;
    if (!clean)
        return NULL;
    while (*s) {
        uint32_t c;
        size_t n = pw_plot_utf8_next(s, &c);
        if (c == 0xFFFD && n == 1) {
            memcpy(o, "\xef\xbf\xbd", 3);
            o += 3;
        } else {
            memcpy(o, s, n);
            o += n;
        }
        s += n;
    }
    *o = '\0';
    j = json_string(clean);
    free(clean);
    return j;
}

json_t *pw_json_curve_row(const pw_curve_row *r)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "run", pw_json_str(r->run));
    json_object_set_new(o, "layer", pw_json_str(r->layer));
    json_object_set_new(o, "depth", r->depth < 0 ? json_null() : json_integer(r->depth));
    json_object_set_new(o, "step", json_integer(r->step));
    json_object_set_new(o, "ref", pw_json_str(r->ref));
    json_object_set_new(o, "ref_step", json_integer(r->ref_step));
    json_object_set_new(o, "n", pw_json_count(r->n));
    json_object_set_new(o, "p_kept", pw_json_count(r->p_kept));
    json_object_set_new(o, "q_kept", pw_json_count(r->q_kept));
#define PW_METRIC_JSON(sym, id, bitno, sel, tpos, label, doc)                                      \
    json_object_set_new(o, #id, pw_json_real(r->id));
    PW_METRIC_LIST(PW_METRIC_JSON)
#undef PW_METRIC_JSON
    json_object_set_new(o, "status", pw_json_str(r->status));
    json_object_set_new(o, "message", pw_json_str(r->message));
    json_object_set_new(o, "reduce", pw_json_str(r->reduce));
    json_object_set_new(o, "k_x", pw_json_count(r->k_x));
    json_object_set_new(o, "k_y", pw_json_count(r->k_y));
    /* Standard errors (005_noise.sql), appended: null where none was made. */
#define NOISE_JSON(sym, id, since)                                                                 \
    json_object_set_new(o, #id "_se", pw_json_real(r->se[PW_METRIC_##sym]));
    PW_NOISE_SE_COLUMNS(NOISE_JSON)
#undef NOISE_JSON
    json_object_set_new(o, "noise_blocks", pw_json_count(r->noise_blocks));
    /* The layer's chance level (007_chance.sql), appended: null where none. */
    json_object_set_new(o, "chance_distance",
                        r->has_chance ? pw_json_real(r->chance_distance) : json_null());
    return o;
}
