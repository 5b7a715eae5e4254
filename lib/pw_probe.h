/* pw_probe.h -- whether two checkpoints were taken on the same probe inputs.
 *
 * Rows of two checkpoints are comparable only when they are the same probe
 * inputs in the same order.  n catches a different count; the Probe
 * (integrations/python/pwcca_probe.py) also writes __metadata__
 * probe_fingerprint, a hash of the inputs and of the positions or tokens
 * it kept, which catches a different probe of the same size.  Within a run
 * the daemon scores such a pair probe_changed; a pair across runs or files
 * (layers-matrix, compare, cluster) is refused as probe_mismatch.  A file
 * without a fingerprint (numpy formats never have one) cannot be checked:
 * the caller warns and goes on. */
#ifndef PW_PROBE_H
#define PW_PROBE_H

#include <stddef.h>

#include "pw_checkpoint.h"

/* The file's probe_fingerprint when it is one (1 to PW_PROBE_FP_MAX - 1
 * lowercase hex digits), else "": anything else a file claims is neither
 * compared nor quoted in a message. */
void pw_probe_fingerprint(const pw_ckpt *c, char *out, size_t len);

typedef enum pw_probe_verdict {
    PW_PROBE_SAME,     /* both have a fingerprint and they are equal */
    PW_PROBE_UNKNOWN,  /* one or both have none: not checkable, warn */
    PW_PROBE_DIFFERENT /* both have one and they differ: refuse (probe_mismatch) */
} pw_probe_verdict;

/* Compare fingerprints fa and fb ("" for none) of the checkpoints labelled
 * la and lb (paths or RUN:STEP); msg gets, for UNKNOWN, the warning, for
 * DIFFERENT, the refusal naming both labels and fingerprints ("" for SAME). */
pw_probe_verdict pw_probe_check(const char *fa, const char *la, const char *fb, const char *lb,
                                char *msg, size_t len);

#endif
