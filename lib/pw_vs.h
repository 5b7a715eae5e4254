/* pw_vs.h -- one run against another over training (`pwcca curve A --vs B`).
 *
 * At every step where both runs have a checkpoint whose file is still
 * there, each layer of A is compared (as X) with B's layer of the same name
 * (as Y), read from the files the daemon recorded: the daemon stores no
 * cross-run scores, so the client computes them, exactly as `pwcca compare
 * A_file B_file` does (reduce auto: exact wherever the probe has more rows
 * than both layers' neurons).  Nothing is cached across steps: each step's
 * files are different weights, so each pair is factored afresh.
 *
 * Rows have the shape of `pwcca curve`'s (pw_curve_row): run is A, ref is
 * "vs" and ref_step the step of B's checkpoint (the same step).  Two files
 * of different probes (probe_fingerprint) are refused for the whole curve:
 * their rows are different inputs, so one step's number would be noise. */
#ifndef PW_VS_H
#define PW_VS_H

#include <stddef.h>

#include "pw_checkpoint.h"
#include "pw_error.h"
#include "pw_query.h"

/* Fill *out with A-vs-B rows, ordered by A's layer depth then step; with
 * nlayers > 0 only those layers, each of which both runs must have (the
 * error lists the common ones).  metrics: PW_M_* bits.  warn (may be NULL,
 * wlen bytes) gets the first probe warning: one file of a pair has a
 * probe_fingerprint and the other none.  Returns 0, or -1 with err set: a
 * probe mismatch (naming the step and both fingerprints), a file that
 * cannot be opened, no step in common, memory.  Free *out with
 * pw_query_curve_free; the rows' run points into a->name. */
int pw_vs_curve(pw_query *q, const pw_run_info *a, const pw_run_info *b, const char *const *layers,
                size_t nlayers, unsigned metrics, const pw_ckpt_opts *copts, char *warn,
                size_t wlen, pw_curve_row **out, size_t *n, pw_err *err);

#endif
