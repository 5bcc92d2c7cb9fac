-- The audit report (projections/audit_report.py, `registry audit report`) reads the access log of a period:
-- every entry written between two times, whoever and whatever it names. The indexes of migration 0007 lead
-- with the record or the subject; this one lets a period's entries be found without reading the whole log.
CREATE INDEX access_log_at_idx ON access_log (at);
