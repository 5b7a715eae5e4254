/* pw_store.h -- the store seam: everything pwccad and pwcca do with their
 * database, behind one interface.
 *
 * The interface is the two headers included below, and it is exactly the
 * operations the programs perform:
 *
 *   pw_db.h    the daemon's side and `pwcca forget`: open and migrate
 *              (pw_db_open), the one-writer lock, runs' state (upsert,
 *              final, converged, absent, forget), a checkpoint's commit
 *              (its row, layers and scores in one transaction, pw_db_commit),
 *              alerts (pw_db_alert_add), and the readings a restart resumes
 *              from (scores done, series, unmeasured layers, latest scores);
 *   pw_query.h the client's read-only queries: runs, layers, curves, alerts.
 *
 * SQLite is the one implementation today: lib/pw_db.c and lib/pw_query.c.
 * They are the only files that include <sqlite3.h> or call sqlite3_*;
 * daemon/ and client/ include this header, never pw_db.h or pw_query.h, and
 * `make lint` fails on a breach of either rule (tests excepted).  The types
 * the interface passes (pw_db, pw_query, the row structs, the callbacks) are
 * opaque or plain C, so nothing SQLite-shaped leaks through it.
 *
 * Why a header and not a table of function pointers: with one backend a
 * vtable would be indirection nobody calls through twice, and every call
 * site would change for nothing.  The rule above already gives what a
 * second backend needs -- one list of operations, no caller touching
 * SQLite -- so adding PostgreSQL means turning the handles into
 * { ops, impl } pairs chosen at open time (by the database path's scheme)
 * and writing lib/pw_store_pg.c against the same declarations; the callers
 * do not change.  docs/ARCHITECTURE.md, "How to add a store", lists the
 * files such a backend touches.
 *
 * Busy policy: one connection waits PW_DB_BUSY_MS for another's lock, the
 * daemon's event-loop connection PW_DB_LOOP_BUSY_MS (lib/pw_limits.h). */
#ifndef PW_STORE_H
#define PW_STORE_H

#include "pw_db.h"
#include "pw_limits.h"
#include "pw_query.h"

#endif
