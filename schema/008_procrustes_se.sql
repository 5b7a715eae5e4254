-- 008_procrustes_se.sql -- procrustes' standard error (issue #21, docs/SCHEMA.md).
--
-- procrustes came with 004_measures.sql, before 005_noise.sql gave each metric
-- of that time its *_se column; the jackknife (lib/pw_noise.c) has computed
-- its SE from the same per-block Gram sums all along, but there was nowhere
-- to store it.  This is the column, on scores and on group_scores (whose SE
-- columns mirror scores', 006_groups.sql), and the PROCRUSTES entry of
-- PW_NOISE_SE_COLUMNS (lib/pw_noise.h) that writes and reads it.
-- cka_debiased still has none: its sums are not kept per block.
-- NULL: no SE for that score (as 005's columns); rows written before this
-- migration have none.

ALTER TABLE scores ADD COLUMN procrustes_se REAL;
ALTER TABLE group_scores ADD COLUMN procrustes_se REAL;
