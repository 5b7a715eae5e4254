/* pw_ckname.h -- which directory entries of a run are checkpoints, and their step.
 *
 * A training script names its checkpoints after the step (`step-000100.safetensors`,
 * `ckpt_100.npz`, `epoch12/`): the step is the last integer in the name.  A
 * name whose stem is `final` (`final.safetensors`, `final/`) is the final
 * checkpoint, whose step comes from elsewhere.  Temporaries that writers use
 * before renaming into place are refused: dotfiles, `*.tmp`, `*.part`,
 * `*.partial`, `*~`, `*.swp` and names containing `.tmp.`.  Files need the
 * extension of a format pw_checkpoint reads (PW_FORMAT_LIST: .safetensors,
 * .npy, .npz), in any case as it reads them; directories need none.
 * An optional glob (config key `pattern`) must also match the name.  A name
 * holding a control character (a newline, an escape) is never a checkpoint:
 * names reach the log and the socket, and such a name could forge log lines
 * or terminal output there. */
#ifndef PW_CKNAME_H
#define PW_CKNAME_H

#include <stdint.h>

typedef struct pw_ckname {
    int64_t step; /* last integer in the name; -1 for a final checkpoint */
    int is_final; /* 1 when the stem is "final" */
} pw_ckname;

/* 1 when name holds a byte below 0x20 or 0x7f (DEL). */
int pw_ckname_has_control(const char *name);

/* 1 when name is a writer's temporary that must never be read. */
int pw_ckname_is_temporary(const char *name);

/* Classify one directory entry.  is_dir: the entry is a directory.  pattern:
 * fnmatch glob the name must match, NULL or "" for any.  Returns 1 and fills
 * *out when the entry is a checkpoint, 0 when it is not. */
int pw_ckname_parse(const char *name, int is_dir, const char *pattern, pw_ckname *out);

#endif
