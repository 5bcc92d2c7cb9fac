-- The event store: one append-only table of events, the idempotency keys of
-- appends, and the Merkle checkpoints over the global order.
-- See ARCHITECTURE.md "The event store" and registry/store.py.

-- The run-time role. The application connects as (or switches to) this role and
-- may only read and append; migrations run as the owner. The role is created
-- once per server; other databases on the same server reuse it.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'registry_app') THEN
        CREATE ROLE registry_app NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- created concurrently by a migration of another database
END
$$;

-- The owner must be able to SET ROLE registry_app (a superuser always can).
DO $$
BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        EXECUTE format('GRANT registry_app TO %I', current_user);
    END IF;
END
$$;

CREATE TABLE events (
    -- Global position: handed out in insert order, NOT commit order. Followers
    -- never read by position alone; see the (transaction_id, position) rule.
    position        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transaction_id  xid8 NOT NULL DEFAULT pg_current_xact_id(),
    stream_id       text NOT NULL CHECK (length(stream_id) BETWEEN 1 AND 200),
    stream_type     text NOT NULL CHECK (length(stream_type) BETWEEN 1 AND 100),
    version         integer NOT NULL CHECK (version >= 1),
    event_type      text NOT NULL CHECK (length(event_type) BETWEEN 1 AND 200),
    schema_version  integer NOT NULL CHECK (schema_version >= 1),
    data            jsonb NOT NULL CHECK (jsonb_typeof(data) = 'object'),
    metadata        jsonb NOT NULL CHECK (jsonb_typeof(metadata) = 'object'),
    occurred_at     timestamptz NOT NULL,   -- business time: when it happened in the world
    recorded_at     timestamptz NOT NULL DEFAULT now(),  -- system time: set by the database
    prev_hash       bytea CHECK (length(prev_hash) = 32),
    hash            bytea NOT NULL CHECK (length(hash) = 32),
    -- Optimistic concurrency: registry/store.py turns a violation of this
    -- constraint, by name, into ConcurrencyError.
    CONSTRAINT events_stream_id_version_key UNIQUE (stream_id, version),
    -- The hash chain starts at version 1 and only there.
    CONSTRAINT events_chain_start CHECK ((version = 1) = (prev_hash IS NULL))
);

-- Used by every follower (projections, change feed, replay, checkpoints):
-- store.read_all reads in (transaction_id, position) order.
CREATE INDEX events_global_order_idx ON events (transaction_id, position);

CREATE TABLE idempotency_keys (
    key             text PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 200),
    stream_id       text NOT NULL,
    -- sha-256 of the canonical request: the same key with other content is a conflict.
    fingerprint     bytea NOT NULL CHECK (length(fingerprint) = 32),
    first_version   integer NOT NULL,
    last_version    integer NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now()
);

-- Merkle checkpoints: each commits the root of an RFC 6962 Merkle tree over
-- the leaf hashes of all events up to (upto_transaction_id, upto_position) in
-- the global order. frontier holds the roots of the tree's perfect subtrees,
-- largest first, so the next checkpoint extends the tree without re-reading.
CREATE TABLE checkpoints (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    upto_transaction_id  xid8 NOT NULL,
    upto_position        bigint NOT NULL,
    event_count          bigint NOT NULL CHECK (event_count >= 0),
    root                 bytea NOT NULL CHECK (length(root) = 32),
    frontier             bytea[] NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT checkpoints_cursor_key UNIQUE (upto_transaction_id, upto_position)
);

-- Immutability is enforced by the database, not by convention. Statement-level
-- BEFORE triggers fire even when no row matches, so the attempt itself fails.
CREATE FUNCTION reject_mutation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'feature_not_supported';
END
$$;

CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION reject_mutation();
CREATE TRIGGER idempotency_keys_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON idempotency_keys
    FOR EACH STATEMENT EXECUTE FUNCTION reject_mutation();
CREATE TRIGGER checkpoints_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION reject_mutation();

-- A wake-up hint for followers (LISTEN registry_events); delivery is by
-- reading the table, so a lost or merged notification loses nothing.
CREATE FUNCTION notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('registry_events', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER events_notify AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION notify_events();

-- Least privilege for the run-time role: read, and append only the columns a
-- client may choose. position, transaction_id and recorded_at are always the
-- database's own.
REVOKE ALL ON events, idempotency_keys, checkpoints FROM PUBLIC;
GRANT SELECT ON events, idempotency_keys, checkpoints TO registry_app;
GRANT INSERT (stream_id, stream_type, version, event_type, schema_version, data, metadata,
              occurred_at, prev_hash, hash) ON events TO registry_app;
GRANT INSERT (key, stream_id, fingerprint, first_version, last_version) ON idempotency_keys TO registry_app;
GRANT INSERT (upto_transaction_id, upto_position, event_count, root, frontier) ON checkpoints TO registry_app;
