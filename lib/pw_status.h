/* pw_status.h -- the one list of result statuses.
 *
 * Every score pwccad produces carries one of these.  The engine sets the
 * first six; the tools add the rest.  `pwcca compare`, the database
 * (scores.status) and the client all print the names below unchanged, so
 * this list is a public contract: append, never renumber or rename.
 *
 *   ok                       all requested metrics computed
 *   insufficient_datapoints  n <= p_kept + q_kept (or n < 2): CCA is not determined;
 *                            CCA metrics are null, CKA is still given
 *   dead_layer               every neuron of one side is constant
 *   nonfinite                a NaN or Inf in the activations (row and column named)
 *   n_mismatch               X and Y have different numbers of datapoints
 *   numerical_error          a LAPACK routine failed (its info code named)
 *   read_error               the activation file or layer could not be read
 *   missing                  the layer exists in only one of the two checkpoints
 *   reference_unavailable    the reference checkpoint is gone and no retained copy exists
 *   over_budget              the comparison's estimated memory exceeds the budget (memory_mb,
 *                            --memory-mb); the message gives the estimate, budget and shapes
 *   shape_changed            pwccad: the layer's shape differs between the checkpoint and its
 *                            reference (a width changed mid-run); not compared, so no distance
 *                            feeds stability or alerts; the message names the layer and shapes
 *   probe_changed            pwccad: the probe fingerprint differs between a checkpoint and its
 *                            reference within a run
 *   probe_mismatch           a cross-run or offline pair (layers-matrix, compare, cluster) whose
 *                            two checkpoints carry different probe fingerprints: refused, the
 *                            message names both
 */
#ifndef PW_STATUS_H
#define PW_STATUS_H

#define PW_STATUS_LIST(X)                                                                          \
    X(PW_OK, "ok", "all requested metrics computed")                                               \
    X(PW_INSUFFICIENT_DATAPOINTS, "insufficient_datapoints",                                       \
      "n <= p_kept + q_kept: CCA is not determined; use 5-10x more datapoints than neurons")       \
    X(PW_DEAD_LAYER, "dead_layer", "every neuron of a layer is constant")                          \
    X(PW_NONFINITE, "nonfinite", "NaN or Inf in the activations")                                  \
    X(PW_N_MISMATCH, "n_mismatch", "the two layers have different numbers of datapoints")          \
    X(PW_NUMERICAL_ERROR, "numerical_error", "a LAPACK routine failed")                            \
    X(PW_READ_ERROR, "read_error", "the activation file or layer could not be read")               \
    X(PW_MISSING, "missing", "the layer exists in only one of the two checkpoints")                \
    X(PW_REFERENCE_UNAVAILABLE, "reference_unavailable",                                           \
      "the reference checkpoint was deleted and no retained copy exists")                          \
    X(PW_OVER_BUDGET, "over_budget",                                                               \
      "the comparison would need more memory than the budget allows (memory_mb)")                  \
    X(PW_SHAPE_CHANGED, "shape_changed",                                                           \
      "the layer's shape changed between the checkpoint and its reference; not compared")          \
    X(PW_PROBE_CHANGED, "probe_changed",                                                           \
      "the probe inputs (their fingerprint) differ between the checkpoint and its reference")      \
    X(PW_PROBE_MISMATCH, "probe_mismatch",                                                         \
      "the two checkpoints of a cross-run pair were taken on different probe inputs")

typedef enum pw_status {
#define PW_STATUS_ENUM(sym, name, doc) sym,
    PW_STATUS_LIST(PW_STATUS_ENUM)
#undef PW_STATUS_ENUM
        PW_STATUS_COUNT
} pw_status;

/* The stable name ("ok", "insufficient_datapoints", ...); "unknown" out of range. */
const char *pw_status_name(pw_status s);
/* One sentence describing the status. */
const char *pw_status_doc(pw_status s);
/* Name to status; returns 0 and sets *out, or -1 for an unknown name. */
int pw_status_parse(const char *name, pw_status *out);

#endif
