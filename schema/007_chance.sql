-- 007_chance.sql -- a chance level per layer and run (issue #21, docs/SCHEMA.md).
--
-- The metrics of one scored pair (X = step_a, Y = step_b) computed again with
-- Y's probe inputs shuffled by the fixed permutation of `seed` (whole inputs:
-- every row of an input moves with it; lib/pw_chance.h): what two unrelated
-- activations score at this layer's n and p.  The daemon stores it once per
-- (run, layer), at the first pair of the layer that scored ok; `pwcca rescore`
-- computes it again.  One column per metric that existed when this was
-- written (explicit, as 005_noise's *_se): a metric added later adds its own
-- column here in its own migration, and an entry in PW_CHANCE_COLUMNS.

CREATE TABLE chance (
    run_id          INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    layer           TEXT NOT NULL,
    step_a          INTEGER NOT NULL,           -- X: the checkpoint of the pair
    step_b          INTEGER NOT NULL,           -- Y: its reference, whose inputs were shuffled
    seed            INTEGER NOT NULL,           -- of the permutation (splitmix64, Fisher-Yates)
    n               INTEGER,
    p_kept          INTEGER,
    q_kept          INTEGER,
    reduce          TEXT NOT NULL,              -- as scores.reduce: none, dims:K, var:F
    pwcca           REAL,                       -- NULL when not applicable
    distance        REAL,                       -- 1 - pwcca: the chance distance
    mean_cca        REAL,
    svcca           REAL,
    cka             REAL,
    cka_debiased    REAL,
    procrustes      REAL,
    status          TEXT NOT NULL,
    message         TEXT,
    computed_at     REAL NOT NULL,
    PRIMARY KEY (run_id, layer)
) WITHOUT ROWID;
