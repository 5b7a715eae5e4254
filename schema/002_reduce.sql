-- 002_reduce.sql -- the reduced mode for wide layers (issue #17, docs/SCHEMA.md).
--
-- A layer wider than the probe (n <= p_kept + q_kept) has no exact CCA score;
-- reduce = dims:K | var:F | auto scores it through its top principal
-- directions instead (lib/pw_reduce.h).  Every score records the reduction
-- applied and the directions each side kept; rows written before this
-- migration were exact, and read as 'none'.

ALTER TABLE scores ADD COLUMN reduce TEXT NOT NULL DEFAULT 'none'; -- 'none', 'dims:K' or 'var:F'
ALTER TABLE scores ADD COLUMN k_x INTEGER;  -- directions X kept when reduced; NULL when exact
ALTER TABLE scores ADD COLUMN k_y INTEGER;  -- directions Y kept when reduced; NULL when exact

-- What reduce = auto decided for a layer of a run, once, from the first pair
-- that scored it: every later pair of the layer (both references) is computed
-- with it, so a series never switches mode midway.  `pwcca rescore` forgets
-- the decisions its recomputation covers, and the first recomputed pair
-- decides again.
CREATE TABLE reduce_choices (
    run_id          INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    layer           TEXT NOT NULL,
    reduce          TEXT NOT NULL,              -- 'none' or 'dims:K': what auto resolved to
    step            INTEGER NOT NULL,           -- checkpoint scored by the pair that decided
    decided_at      REAL NOT NULL,
    PRIMARY KEY (run_id, layer)
) WITHOUT ROWID;
