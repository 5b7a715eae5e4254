/* sticky.h -- reduce = auto's decisions, made once per (run, layer) and kept.
 *
 * Under reduce = auto the first pair that scores a layer decides whether the
 * layer is exact or reduced (and at which K); every later pair of that layer,
 * against the previous checkpoint and against the final one, is computed with
 * that decision passed explicitly, so a series never switches mode midway
 * (docs/DAEMON.md, "Wide layers").  The decisions are stored in the
 * database's reduce_choices table with the scores that carry them; this is
 * the compute threads' shared view of them, read from the database the first
 * time a run is scored.  When two compute threads reach an undecided layer at
 * once, the second waits for the first's decision rather than take its own.
 * Any thread; one mutex of its own. */
#ifndef PWD_STICKY_H
#define PWD_STICKY_H

#include <stdint.h>

#include "pw_reduce.h"
#include "pw_store.h"

typedef struct pwd_sticky pwd_sticky;

pwd_sticky *pwd_sticky_new(void); /* NULL when out of memory */
void pwd_sticky_free(pwd_sticky *s);
/* Compute thread: read the run's stored decisions the first time it is seen
 * (db: the thread's own connection).  -1 with err when the reading failed. */
int pwd_sticky_load(pwd_sticky *s, pw_db *db, int64_t run_id, pw_err *err);
/* The decision for (run, layer): 1 with *use filled when there is one; 0 when
 * the caller is to decide (it must then call pwd_sticky_decided).  Waits
 * while another thread is deciding the same layer. */
int pwd_sticky_take(pwd_sticky *s, int64_t run_id, const char *layer, pw_reduce *use);
/* The decider's verdict for (run, layer), from the pair whose X is at step;
 * resolved NULL when the pair decided nothing (not scored: the next one decides). */
void pwd_sticky_decided(pwd_sticky *s, int64_t run_id, const char *layer, const pw_reduce *resolved,
                        int64_t step);
/* Loop thread, after the database forgot them (pwcca rescore): forget the run's
 * decisions taken at steps >= from, so the first recomputed pair decides again. */
void pwd_sticky_forget(pwd_sticky *s, int64_t run_id, int64_t from);

#endif
