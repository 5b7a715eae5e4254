-- 006_groups.sql -- cross-run scores of run groups (issue #22, docs/SCHEMA.md).
--
-- A [group NAME] section of the config names runs (globs on their names);
-- for every two runs of a group the daemon scores each layer of the one with
-- the lower runs.id (A, the engine's X) against the same-named layer of the
-- other (B, Y), at every step both have and at their two final checkpoints,
-- exactly what `pwcca compare A_FILE B_FILE` prints for the two files.  The
-- metric, status and noise columns are those of scores (001, 002, 004, 005),
-- in the same order and meaning; the SE columns stay NULL today (standard
-- errors are computed for a run's own series only).  The existing tables are
-- unchanged.  One row per (group, run pair, layer pair, step pair): a pair is
-- stored exactly once, and a daemon restarted after a crash skips what is here.

CREATE TABLE group_scores (
    group_name      TEXT NOT NULL,              -- the [group NAME] of the config
    run_a           INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, -- X: the lower runs.id
    run_b           INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, -- Y: the higher one
    layer_a         TEXT NOT NULL,              -- layer of run_a
    layer_b         TEXT NOT NULL,              -- layer of run_b (the same name today)
    step_a          INTEGER NOT NULL,           -- checkpoint of run_a
    step_b          INTEGER NOT NULL,           -- checkpoint of run_b (= step_a, or both finals)
    n               INTEGER,
    p_kept          INTEGER,
    q_kept          INTEGER,
    pwcca           REAL,                       -- NULL when not applicable
    distance        REAL,                       -- 1 - pwcca
    mean_cca        REAL,
    svcca           REAL,
    cka             REAL,
    cka_debiased    REAL,
    procrustes      REAL,
    status          TEXT NOT NULL,              -- ok, probe_mismatch, missing, ...
    message         TEXT,
    computed_at     REAL NOT NULL,
    reduce          TEXT NOT NULL DEFAULT 'none',
    k_x             INTEGER,
    k_y             INTEGER,
    pwcca_se        REAL,
    distance_se     REAL,
    mean_cca_se     REAL,
    svcca_se        REAL,
    cka_se          REAL,
    noise_blocks    INTEGER,
    CHECK (run_a < run_b),
    PRIMARY KEY (group_name, run_a, run_b, layer_a, layer_b, step_a, step_b)
) WITHOUT ROWID;

-- Deleting a run (pwcca forget) finds its rows as run_b without a scan,
CREATE INDEX group_scores_by_run_b ON group_scores (run_b);
-- and run_a likewise (the key starts with group_name).
CREATE INDEX group_scores_by_run_a ON group_scores (run_a);
