-- 001_init.sql -- the first version of pwccad's database: a public contract.
--
-- People query this from pandas, sqlite3 and Grafana; columns are documented in
-- docs/SCHEMA.md.  Later changes come as new numbered files; a migration never
-- edits a shipped one.  Steps are training steps (integers); times are Unix
-- seconds (REAL); statuses are the names in lib/pw_status.h.

CREATE TABLE runs (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL,              -- display name: the run directory's basename
    path            TEXT NOT NULL UNIQUE,       -- absolute path of the run directory
    final_step      INTEGER,                    -- step of the final checkpoint; NULL while running
    final_source    TEXT,                       -- how it became final: FINAL file, final checkpoint, socket
    converged_step  INTEGER,                    -- step at which every layer was stable; NULL otherwise
    created_at      REAL NOT NULL
);

CREATE TABLE checkpoints (
    id              INTEGER PRIMARY KEY,
    run_id          INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step            INTEGER NOT NULL,
    path            TEXT NOT NULL,              -- file or directory as found
    size            INTEGER NOT NULL,           -- bytes when processed
    mtime_ns        INTEGER NOT NULL,           -- modification time when processed
    inode           INTEGER NOT NULL,
    status          TEXT NOT NULL,              -- ok, read_error, ...
    error           TEXT,                       -- message when status is not ok
    present         INTEGER NOT NULL DEFAULT 1, -- 0 once the file was deleted (history stays)
    processed_at    REAL NOT NULL,
    UNIQUE (run_id, step)
);

CREATE TABLE layers (
    run_id          INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    depth           INTEGER NOT NULL,           -- 0 = bottom, in the checkpoint's layer order
    dtype           TEXT NOT NULL,              -- F16, BF16, F32, F64
    shape           TEXT NOT NULL,              -- JSON array, as stored in the file
    rows            INTEGER NOT NULL,           -- datapoints n under the shape convention
    cols            INTEGER NOT NULL,           -- neurons
    stable_step     INTEGER,                    -- step at which it became stable; NULL when not stable
    PRIMARY KEY (run_id, name)
);

-- One row per (run, layer, step, reference kind): recomputing a pair replaces it,
-- so every score exists exactly once.
CREATE TABLE scores (
    run_id          INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    layer           TEXT NOT NULL,
    step            INTEGER NOT NULL,           -- checkpoint scored (X)
    ref             TEXT NOT NULL CHECK (ref IN ('previous', 'final')),
    ref_step        INTEGER NOT NULL,           -- reference checkpoint (Y)
    n               INTEGER,
    p_kept          INTEGER,
    q_kept          INTEGER,
    pwcca           REAL,                       -- NULL when not applicable
    distance        REAL,                       -- 1 - pwcca
    mean_cca        REAL,
    svcca           REAL,
    cka             REAL,
    status          TEXT NOT NULL,
    message         TEXT,
    computed_at     REAL NOT NULL,
    PRIMARY KEY (run_id, layer, step, ref)
) WITHOUT ROWID;

CREATE TABLE alerts (
    id              INTEGER PRIMARY KEY,
    run_id          INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    kind            TEXT NOT NULL CHECK (kind IN ('layer_stable', 'layer_unstable', 'run_converged')),
    layer           TEXT NOT NULL DEFAULT '',   -- '' for run_converged
    step            INTEGER NOT NULL,
    value           REAL,                       -- the distance that triggered it
    detail          TEXT,                       -- e.g. layers without a distance, for run_converged
    created_at      REAL NOT NULL,
    UNIQUE (run_id, kind, layer, step)
);

CREATE INDEX scores_by_step ON scores (run_id, ref, step);
CREATE INDEX alerts_by_time ON alerts (created_at);
