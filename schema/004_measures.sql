-- 004_measures.sql -- debiased CKA and the Procrustes distance (issue #20, docs/SCHEMA.md).
--
-- Two more metrics of PW_METRIC_LIST, computed from the same streaming pass
-- as the others: cka_debiased (linear CKA with the unbiased HSIC estimator,
-- can be negative) and procrustes (the angular orthogonal Procrustes
-- distance in radians, 0 for identical shapes).  Rows written before this
-- migration, or by a daemon not asked for them, hold NULL.

ALTER TABLE scores ADD COLUMN cka_debiased REAL; -- NULL when not computed (n < 4, reduced mode)
ALTER TABLE scores ADD COLUMN procrustes REAL;   -- radians in [0, pi/2]; NULL when not computed
