/* pw_npz.h -- NumPy .npz archives: a zip of .npy members, one layer each.
 *
 * The layer name is the member name without ".npy"; names are names, never
 * paths, so members with '/', '\\', "..", NUL or without the .npy suffix are
 * refused.  Stored members are viewed in place (after their CRC-32 is
 * checked); deflated members are inflated, bounded by the member's declared
 * size and by inflate_cap.  Layers come in central directory order, which is
 * the order numpy.savez was given them.
 *
 * Messages never carry the archive's name; pw_checkpoint prefixes it. */
#ifndef PW_NPZ_H
#define PW_NPZ_H

#include <stddef.h>
#include <stdint.h>

#include "pw_error.h"
#include "pw_tensor.h"
#include "pw_zip.h"

typedef struct pw_npz {
    pw_zip zip;            /* the container; borrows the archive bytes */
    size_t n;              /* number of layers (= members) */
    pw_tensor *tensors;    /* layers in central directory order */
    unsigned char **owned; /* per member: its inflated bytes, or NULL when stored */
} pw_npz;

/* Parse the archive buf[0..len) (which must outlive z) and every member.
 * nhwc marks 4-D arrays [N, H, W, C]; inflate_cap bounds each deflated
 * member (0 means PW_NPZ_DEFAULT_INFLATE_CAP). */
int pw_npz_parse(pw_npz *z, const unsigned char *buf, uint64_t len, int nhwc, uint64_t inflate_cap,
                 pw_err *err);

/* Free what pw_npz_parse allocated; safe on a zeroed pw_npz. */
void pw_npz_free(pw_npz *z);

#endif
