-- 005_noise.sql -- a standard error beside every score (issue #21, docs/SCHEMA.md).
--
-- noise = jackknife:B [every N] (lib/pw_noise.h) gives each metric a
-- delete-a-block jackknife standard error, at every N-th checkpoint of a run.
-- One column per metric that existed when this was written (explicit, not
-- generated from PW_METRIC_LIST): a metric added later adds its own *_se
-- column in its own migration, and PW_NOISE_SE_COLUMNS in lib/pw_noise.h.
-- NULL: no SE for that score (noise off, not due at this checkpoint, the
-- metric or its leave-one-out values missing, the memory budget, the reduced
-- mode); rows written before this migration have none.

ALTER TABLE scores ADD COLUMN pwcca_se REAL;
ALTER TABLE scores ADD COLUMN distance_se REAL;   -- equals pwcca_se
ALTER TABLE scores ADD COLUMN mean_cca_se REAL;
ALTER TABLE scores ADD COLUMN svcca_se REAL;
ALTER TABLE scores ADD COLUMN cka_se REAL;
ALTER TABLE scores ADD COLUMN noise_blocks INTEGER; -- B the SEs came from; NULL when none
