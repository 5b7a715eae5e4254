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
 * Two backends implement it, chosen at open time by the database name:
 * SQLite (a file: lib/pw_db.c and lib/pw_query.c, the only files that
 * include <sqlite3.h>) and PostgreSQL (a postgresql:// or postgres:// URI:
 * lib/pw_store_pg.c, the only file that includes <libpq-fe.h>).  The
 * handles are { ops, impl } pairs (lib/pw_store_impl.h, internal to lib/):
 * SQLite keeps its state in the handle itself, and each public function
 * of pw_db.c and pw_query.c first hands a PostgreSQL handle on to its ops,
 * so neither SQLite's code nor any caller changed for the second backend.
 * daemon/ and client/ include this header, never pw_db.h, pw_query.h or
 * pw_store_impl.h, and `make lint` fails on a breach of any of these rules
 * (tests excepted).  The types the interface passes (pw_db, pw_query, the
 * row structs, the callbacks) are opaque or plain C, so nothing backend-
 * shaped leaks through it.  docs/ARCHITECTURE.md, "How to add a store",
 * lists what a new operation or backend touches.
 *
 * Busy policy: one connection waits PW_DB_BUSY_MS for another's lock, the
 * daemon's event-loop connection PW_DB_LOOP_BUSY_MS (lib/pw_limits.h). */
#ifndef PW_STORE_H
#define PW_STORE_H

#include "pw_db.h"
#include "pw_limits.h"
#include "pw_query.h"

#endif
