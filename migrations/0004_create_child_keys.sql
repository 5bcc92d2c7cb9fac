-- Crypto-shredding (ARCHITECTURE.md, "The event store"; registry/sealing.py):
-- the personal part of a child's events is encrypted with a key of that child
-- alone, kept here wrapped by the deployment's master key. Erasing the child's
-- personal data destroys the key; the events are never touched, so every hash
-- chain and checkpoint still verifies.
--
-- A key row is never deleted (the erasure is itself on record) and a destroyed
-- key never comes back. Note for operators: an UPDATE leaves the old row
-- version on disk until VACUUM reclaims it (autovacuum does), and backups and
-- WAL archives keep old keys for as long as they are kept; the retention of
-- those bounds how long an erasure takes to be complete.
CREATE TABLE child_keys (
    child_id     text PRIMARY KEY CHECK (length(child_id) BETWEEN 1 AND 100),
    wrapped_key  bytea CHECK (length(wrapped_key) BETWEEN 40 AND 100),
    created_at   timestamptz NOT NULL DEFAULT now(),
    erased_at    timestamptz,
    CONSTRAINT child_keys_erased_without_key CHECK ((wrapped_key IS NULL) = (erased_at IS NOT NULL))
);

-- Shared by every table of subject keys (child_keys here, case_keys in 0005): only an erasure, once.
CREATE FUNCTION keys_only_erase() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' THEN
        RAISE EXCEPTION '% rows are never deleted: erase a key instead', TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.wrapped_key IS NULL OR NEW.wrapped_key IS NOT NULL
       OR to_jsonb(NEW) - 'wrapped_key' - 'erased_at' <> to_jsonb(OLD) - 'wrapped_key' - 'erased_at' THEN
        RAISE EXCEPTION 'a key of % may only be erased, once', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER child_keys_only_erase BEFORE UPDATE OR DELETE ON child_keys
    FOR EACH ROW EXECUTE FUNCTION keys_only_erase();
CREATE TRIGGER child_keys_no_truncate BEFORE TRUNCATE ON child_keys
    FOR EACH STATEMENT EXECUTE FUNCTION keys_only_erase();

GRANT SELECT ON child_keys TO registry_app;
GRANT INSERT (child_id, wrapped_key) ON child_keys TO registry_app;
GRANT UPDATE (wrapped_key, erased_at) ON child_keys TO registry_app;
