-- 003_probe.sql -- the probe a checkpoint was taken on (issue #19, docs/SCHEMA.md).
--
-- The Probe (integrations/python) writes __metadata__ probe_fingerprint: a
-- hash of the probe inputs and of the positions or tokens it kept.  pwccad
-- stores it per checkpoint, so a run's probe can be shown and compared with
-- other runs'; a pair whose two fingerprints differ is scored probe_changed.

ALTER TABLE checkpoints ADD COLUMN probe_fingerprint TEXT; -- lowercase hex; NULL when the file has none
