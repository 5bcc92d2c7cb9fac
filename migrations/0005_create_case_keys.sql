-- The keys of cases' confidential parts (the reporter's identity and the
-- account of what was reported: registry/cases.py), on the same terms as
-- child_keys (migrations/0004, whose trigger function keys_only_erase it
-- shares): wrapped by the master key, never deleted, and a destroyed key never
-- comes back.
CREATE TABLE case_keys (
    case_id      text PRIMARY KEY CHECK (length(case_id) BETWEEN 1 AND 100),
    wrapped_key  bytea CHECK (length(wrapped_key) BETWEEN 40 AND 100),
    created_at   timestamptz NOT NULL DEFAULT now(),
    erased_at    timestamptz,
    CONSTRAINT case_keys_erased_without_key CHECK ((wrapped_key IS NULL) = (erased_at IS NOT NULL))
);

CREATE TRIGGER case_keys_only_erase BEFORE UPDATE OR DELETE ON case_keys
    FOR EACH ROW EXECUTE FUNCTION keys_only_erase();
CREATE TRIGGER case_keys_no_truncate BEFORE TRUNCATE ON case_keys
    FOR EACH STATEMENT EXECUTE FUNCTION keys_only_erase();

GRANT SELECT ON case_keys TO registry_app;
GRANT INSERT (case_id, wrapped_key) ON case_keys TO registry_app;
GRANT UPDATE (wrapped_key, erased_at) ON case_keys TO registry_app;
