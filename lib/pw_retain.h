/* pw_retain.h -- compact copies of a checkpoint: what the engine needs, in a chosen precision.
 *
 * Training scripts often keep only the last N checkpoints, while the
 * backfill against the final checkpoint needs every earlier one.  pwccad can
 * therefore keep a copy of each checkpoint it reads (docs/DAEMON.md,
 * "Retention").  The copy holds exactly what the engine consumes: every
 * layer as its rows x cols matrix (datapoints x neurons, the shape
 * conventions of pw_tensor.h already applied), C order, little-endian, in one
 * safetensors file whose layers appear in the checkpoint's depth order.  Its
 * precision is the retention mode:
 *   exact  each layer in its source dtype: the engine reads the very same
 *          doubles, so every score equals the original's bit for bit;
 *   f32    F64 layers rounded to F32 (half the bytes), the rest as exact;
 *   bf16   F32 and F64 layers rounded to BF16 (2 bytes per value), F16 and
 *          BF16 layers as exact -- compact and lossy (docs/DAEMON.md gives
 *          the measured effect on pwcca).
 * Rounding is to nearest, ties to even, from the exact double value. */
#ifndef PW_RETAIN_H
#define PW_RETAIN_H

#include <stddef.h>
#include <stdint.h>

#include "pw_checkpoint.h"
#include "pw_error.h"
#include "pw_stwrite.h"
#include "pw_tensor.h"

typedef enum pw_retain_mode {
    PW_RETAIN_OFF,   /* no copies */
    PW_RETAIN_EXACT, /* source dtype: scores identical to the original's */
    PW_RETAIN_F32,   /* F64 rounded to F32 */
    PW_RETAIN_BF16   /* F32 and F64 rounded to BF16 */
} pw_retain_mode;

/* "off", "exact", "f32", "bf16". */
const char *pw_retain_mode_name(pw_retain_mode m);
/* The mode named s; -1 when s names none. */
int pw_retain_mode_parse(const char *s, pw_retain_mode *m);
/* The dtype a layer of dtype src is stored in under mode m (m != OFF). */
pw_dtype pw_retain_dtype(pw_retain_mode m, pw_dtype src);

/* Round a double to the nearest binary16 / bfloat16 (ties to even); NaN stays NaN,
 * overflow becomes an infinity.  Exact for values the format can hold. */
uint16_t pw_double_to_f16(double v);
uint16_t pw_double_to_bf16(double v);

/* Bytes the copy of c under mode m takes on disk, given the metadata it carries. */
int pw_retain_size(const pw_ckpt *c, pw_retain_mode m, const pw_stwrite_meta *meta, size_t nmeta,
                   uint64_t *bytes, pw_err *err);

/* Called between chunks; a non-zero return abandons the copy. */
typedef int (*pw_retain_cancel_fn)(void *ctx);

/* Write the copy of c at path: streamed a chunk of rows at a time to
 * ".BASENAME.tmp.PID" in the same directory, fsynced, renamed into place and
 * the directory fsynced, so path never names a partial copy.  The header's
 * __metadata__ holds "pwccad_retain" (the mode) and the caller's entries.
 * On failure (a full disk, cancel) the temporary is removed and err says why;
 * an earlier file at path is left as it was.  cancel may be NULL. */
int pw_retain_write(const char *path, const pw_ckpt *c, pw_retain_mode m,
                    const pw_stwrite_meta *meta, size_t nmeta, pw_retain_cancel_fn cancel,
                    void *cancel_ctx, pw_err *err);

#endif
