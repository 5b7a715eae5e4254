#!/usr/bin/env python3
"""dashboard_db.py -- synthesise a pwccad database of the dashboard's scale case.

Usage: dashboard_db.py DB SCHEMA_DIR [RUNS LAYERS CHECKPOINTS]   (default 200 50 500)

Every run has LAYERS layers scored against the previous checkpoint at every
one of CHECKPOINTS steps (distance falling like a training run's, lower
layers first), one layer_stable alert per layer, and no run directory on
disk.  The schema is applied from SCHEMA_DIR's migrations in order, as the
daemon does, and rows are inserted by column name, so the file is a valid
database for this pwccad.  Used by bench/bench_dashboard.sh.
"""
import glob
import math
import os
import sqlite3
import sys

db, schema = sys.argv[1], sys.argv[2]
nruns, nlayers, nsteps = (int(x) for x in (sys.argv[3:6] or (200, 50, 500)))
if os.path.exists(db):
    os.remove(db)
con = sqlite3.connect(db)
con.execute("PRAGMA journal_mode = WAL")
for f in sorted(glob.glob(os.path.join(schema, "[0-9][0-9][0-9]_*.sql"))):
    con.executescript(open(f).read())
    con.execute("PRAGMA user_version = %d" % int(os.path.basename(f)[:3]))
con.execute("BEGIN")
every = 100
for r in range(1, nruns + 1):
    name = "run-%03d" % r
    con.execute("INSERT INTO runs (id, name, path, created_at) VALUES (?, ?, ?, 1.0)",
                (r, name, "/bench/nowhere/" + name))
    con.executemany(
        "INSERT INTO checkpoints (run_id, step, path, size, mtime_ns, inode, status, processed_at)"
        " VALUES (?, ?, 'ck', 1, 1, 1, 'ok', 1.0)", ((r, s * every) for s in range(nsteps)))
    con.executemany(
        "INSERT INTO layers (run_id, name, depth, dtype, shape, rows, cols, stable_step)"
        " VALUES (?, ?, ?, 'F32', '[2048, 128]', 2048, 128, ?)",
        ((r, "layer%02d" % d, d, (100 + 4 * d) * every) for d in range(nlayers)))

    def rows():
        for d in range(nlayers):
            lname = "layer%02d" % d
            for s in range(1, nsteps):
                dist = 0.5 * math.exp(-s / (20.0 + 2 * d)) + 1e-3 * ((s * 7 + d) % 5)
                yield (r, lname, s * every, (s - 1) * every, 1 - dist, dist)
    con.executemany(
        "INSERT INTO scores (run_id, layer, step, ref, ref_step, n, p_kept, q_kept, pwcca, distance,"
        " mean_cca, svcca, cka, status, computed_at) VALUES (?, ?, ?, 'previous', ?, 2048, 128, 128,"
        " ?, ?, 0.5, 0.5, 0.5, 'ok', 1.0)", rows())
    con.executemany(
        "INSERT INTO alerts (run_id, kind, layer, step, value, created_at) VALUES"
        " (?, 'layer_stable', ?, ?, 0.001, 1.0)",
        ((r, "layer%02d" % d, (100 + 4 * d) * every) for d in range(nlayers)))
con.execute("COMMIT")
con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
con.close()
