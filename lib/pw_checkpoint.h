/* pw_checkpoint.h -- one checkpoint: every layer's activations, whatever the format.
 *
 * A checkpoint is a .safetensors file, a .npy file (one layer, always named
 * PW_NPY_LAYER, so that step-000100.npy and step-000200.npy compare), a .npz
 * archive, or a directory of .npy files (one layer each, named after the
 * file).  PyTorch torch.save files (.pt, .pth) are pickles and are refused
 * with a message saying how to write safetensors instead.  pw_ckpt_open detects the format,
 * validates it completely (see docs/FORMATS.md) and exposes the layers, bottom to top, as pw_tensor
 * views.  The views stay valid until pw_ckpt_close.
 *
 * Layer order: tensor order in the file (data offsets for safetensors,
 * member order for npz, natural name order for a directory), unless a
 * safetensors __metadata__ "layers": "a,b,c" names it. */
#ifndef PW_CHECKPOINT_H
#define PW_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "pw_error.h"
#include "pw_tensor.h"

#define PW_NPY_LAYER "activations" /* the layer name of a lone .npy checkpoint */

/* The one list of checkpoint file formats, one entry each: its pw_format, its
 * file suffix (matched in any case), and the prefix P of its three functions
 * in pw_checkpoint.c: P_magic (do these first bytes look like it), P_open
 * (parse it into layers) and P_complete (is it fully written, from headers
 * only).  The watcher's suffixes (pw_ckname), format detection, the reader
 * and the completeness test all come from here, so a new format is one
 * entry, its reader and its test.  Append only: the enum values follow the
 * order, and pw_ckpt_format is public.  A magic test must refuse every other
 * format's files, so the order of the tests never decides a format.
 *
 *   PW_FMT_SAFETENSORS  a .safetensors file
 *   PW_FMT_NPY          a single .npy file (one layer, PW_NPY_LAYER)
 *   PW_FMT_NPZ          an .npz archive (a zip of .npy members) */
#define PW_FORMAT_LIST(X)                                                                          \
    X(PW_FMT_SAFETENSORS, ".safetensors", st)                                                      \
    X(PW_FMT_NPY, ".npy", npy)                                                                     \
    X(PW_FMT_NPZ, ".npz", npz)

typedef enum pw_format {
#define PW_FORMAT_ENUM(sym, suffix, fn) sym,
    PW_FORMAT_LIST(PW_FORMAT_ENUM)
#undef PW_FORMAT_ENUM
        PW_FMT_NPY_DIR /* directory of .npy files: a layout of PW_FMT_NPY, no suffix */
} pw_format;

/* Length of the checkpoint file suffix that name ends with, compared in any
 * case as pw_ckpt_open compares it ("x.NPZ" is an npz), or 0 when it has
 * none.  The watcher asks this, so it accepts exactly the files we read. */
size_t pw_ckpt_suffix_len(const char *name);

typedef struct pw_ckpt_opts {
    int nhwc;             /* 4-D tensors are [N, H, W, C] instead of NCHW */
    uint64_t inflate_cap; /* bytes a deflated npz member may inflate to; 0 = default */
} pw_ckpt_opts;

typedef struct pw_ckpt pw_ckpt; /* opaque: mappings and buffers */

/* Open and validate a checkpoint.  opts may be NULL.  On failure *out is NULL
 * and err names the file, the layer when there is one, what is wrong and,
 * where it helps, the byte offset. */
int pw_ckpt_open(pw_ckpt **out, const char *path, const pw_ckpt_opts *opts, pw_err *err);
/* The same, with path below the directory beneath and no symlink below it
 * followed (pw_beneath.h); beneath NULL is pw_ckpt_open. */
int pw_ckpt_open_beneath(pw_ckpt **out, const char *path, const char *beneath,
                         const pw_ckpt_opts *opts, pw_err *err);
void pw_ckpt_close(pw_ckpt *c);

const char *pw_ckpt_path(const pw_ckpt *c);
pw_format pw_ckpt_format(const pw_ckpt *c);
size_t pw_ckpt_nlayers(const pw_ckpt *c);
/* Layer i in depth order (0 = bottom). */
const pw_tensor *pw_ckpt_layer(const pw_ckpt *c, size_t i);
/* Layer by name, or NULL. */
const pw_tensor *pw_ckpt_find(const pw_ckpt *c, const char *name);
/* Value of a safetensors __metadata__ key, or NULL (always NULL for numpy formats). */
const char *pw_ckpt_meta(const pw_ckpt *c, const char *key);

/* 1 when one of the checkpoint's files was truncated while mapped and a
 * read since met its missing end (pw_map.h): what was read is zeros there,
 * so any result computed from c is void.  Else 0. */
int pw_ckpt_truncated(const pw_ckpt *c);

/* Cheap completeness test that reads headers only, never the data:
 * safetensors: 8 + header + last END == file size; npy: header + data size ==
 * file size; npz: a valid end-of-central-directory record whose directory
 * fits the file; directory: every .npy in it complete.
 * Returns 1 complete, 0 not (yet) complete (err says why), -1 on I/O error. */
int pw_ckpt_is_complete(const char *path, pw_err *err);
/* The same, opened as pw_ckpt_open_beneath opens (beneath NULL: symlinks followed). */
int pw_ckpt_is_complete_beneath(const char *path, const char *beneath, pw_err *err);

#endif
