-- The leaf hash of every event a checkpoint covers, by position, written with the checkpoint in one
-- transaction (registry/integrity.py). The root alone tells that something up to a checkpoint changed;
-- the leaves tell which event: `registry verify` recomputes each event's leaf and names the position whose
-- leaf differs, is missing (an event removed) or was never committed (an event inserted). Rewriting the
-- leaves as well does not hide a change: they no longer give the checkpoint's root, nor a published one.
CREATE TABLE checkpoint_leaves (
    position        bigint PRIMARY KEY,
    transaction_id  xid8 NOT NULL,
    leaf            bytea NOT NULL CHECK (length(leaf) = 32)
);
CREATE INDEX checkpoint_leaves_global_order_idx ON checkpoint_leaves (transaction_id, position);

CREATE TRIGGER checkpoint_leaves_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON checkpoint_leaves
    FOR EACH STATEMENT EXECUTE FUNCTION reject_mutation();

REVOKE ALL ON checkpoint_leaves FROM PUBLIC;
GRANT SELECT, INSERT ON checkpoint_leaves TO registry_app;
