-- 009_share.sql -- several daemons sharing one store (issue #24, docs/DAEMON.md "Sharing the work").
--
-- On PostgreSQL several pwccad processes, on one machine or many, watch the
-- same roots and split the scoring: a daemon registers in `daemons`, renews
-- its heartbeat and its claims' leases, and computes a run (or a group's
-- cross pairs) only while it holds that unit's claim; a commit first checks
-- the claim is still its own.  On SQLite one daemon owns the file (a lock),
-- so these two tables stay empty there.  Times here are the database's clock
-- (Unix seconds), so that daemons on machines whose clocks differ agree on
-- when a lease ran out.
--
-- A run's identity: the watch root's name and the run directory relative to
-- it, so that two nodes mounting one share at different paths find one run.
-- runs.path stays the path where the run was first seen (display only when
-- root is set); SQLite keeps finding runs by path, as one machine has one.
-- Rows of runs written before this migration have root and rel NULL until a
-- daemon sees them again.
-- Lines starting with "--postgresql: " are statements for PostgreSQL only
-- (pw_pg_translate uncomments them; SQLite reads a comment).

ALTER TABLE runs ADD COLUMN root TEXT;          -- name of the watch root it was found under
ALTER TABLE runs ADD COLUMN rel TEXT;           -- the run directory relative to that root
CREATE UNIQUE INDEX runs_by_root ON runs (root, rel);
--postgresql: ALTER TABLE runs DROP CONSTRAINT runs_path_key;

CREATE TABLE daemons (
    id              INTEGER PRIMARY KEY,
    host            TEXT NOT NULL,              -- gethostname()
    pid             INTEGER NOT NULL,           -- process id on that host
    started_at      REAL NOT NULL,
    heartbeat_at    REAL NOT NULL,              -- last heartbeat (database clock)
    lease_s         REAL NOT NULL,              -- its lease: silent this long, its claims are free
    job             TEXT,                       -- what it computes now; NULL when idle
    stopped_at      REAL                        -- set when it stopped cleanly; NULL while running
);

CREATE TABLE claims (
    unit            TEXT PRIMARY KEY,           -- 'run:ID' (runs.id) or 'group:NAME'
    daemon_id       INTEGER NOT NULL REFERENCES daemons(id) ON DELETE CASCADE,
    lease_until     REAL NOT NULL,              -- free for another daemon after this (database clock)
    claimed_at      REAL NOT NULL               -- when this daemon took it
);
