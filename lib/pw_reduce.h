/* pw_reduce.h -- the reduced mode: scoring a layer through its top principal
 * directions when it is wider than the probe can determine.
 *
 * Definition (docs/ENGINE.md, "Reduced mode"): the reduced X is
 * Xc Vk = Uk Sk (n x K), where Xc is X with its column means removed and Vk
 * its top-K right singular vectors.  PWCCA, mean CCA and SVCCA are then the
 * ordinary metrics of the reduced X and reduced Y (SVCCA applies its own
 * 99 % cut again inside the reduced space); CKA is always the exact CKA of
 * the unreduced data.  The modes, as written in the config key `reduce` and
 * `pwcca compare --reduce`:
 *
 *   none      the exact definitions (a layer with n <= p_kept + q_kept gets
 *             insufficient_datapoints, as it always has)
 *   dims:K    each side keeps its top K directions (fewer when it has fewer
 *             non-constant directions)
 *   var:F     each side keeps the fewest directions holding a share F of its
 *             variance (0 < F <= 1)
 *   auto      exact wherever the exact path gives a score; a pair the exact
 *             path cannot score (n <= p_kept + q_kept) is reduced to
 *             dims:K with K = pw_reduce_auto_dims(n, ...) -- the probe
 *             supports K directions per side when n >= PW_REDUCE_AUTO_RATIO K.
 *
 * A score records the reduction applied (never `auto`: what auto resolved
 * to) and the K each side kept. */
#ifndef PW_REDUCE_H
#define PW_REDUCE_H

#include <stddef.h>
#include <stdint.h>

#include "pw_error.h"
#include "pw_limits.h"

typedef enum pw_reduce_kind {
    PW_REDUCE_NONE = 0, /* exact definitions */
    PW_REDUCE_DIMS,     /* top `dims` directions per side */
    PW_REDUCE_VAR,      /* fewest directions holding a share `var` of the variance */
    PW_REDUCE_AUTO      /* exact when it scores, else DIMS at auto's K (resolved per pair) */
} pw_reduce_kind;

typedef struct pw_reduce {
    pw_reduce_kind kind; /* which mode */
    uint64_t dims;       /* DIMS: K >= 1 (else 0) */
    double var;          /* VAR: the share F, 0 < F <= 1 (else 0) */
} pw_reduce;

/* Parse "none", "dims:K", "var:F" or "auto" (blanks around the text ignored;
 * K a positive integer up to PW_MAX_NEURONS, F a number in (0, 1]).
 * Returns 0, or -1 with err quoting the text and the accepted forms. */
int pw_reduce_parse(const char *text, pw_reduce *out, pw_err *err);

/* The canonical text of a mode ("dims:512", "var:0.99"), as stored in the
 * scores table and printed; parses back to the same mode.  len >=
 * PW_REDUCE_TEXT_MAX always suffices. */
void pw_reduce_format(const pw_reduce *r, char *buf, size_t len);

/* 1 when a and b are the same mode (for var, the same F exactly). */
int pw_reduce_equal(const pw_reduce *a, const pw_reduce *b);

/* auto's K for a side with n datapoints and p_kept non-constant neurons:
 * the most directions that keep n >= PW_REDUCE_AUTO_RATIO K, at least 1 and
 * at most p_kept. */
uint64_t pw_reduce_auto_dims(uint64_t n, uint64_t p_kept);

#endif
