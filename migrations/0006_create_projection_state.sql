-- Projections (projections/runtime.py): read models folded from the global
-- order into plain tables of the schema `read`. Each projection has numbered
-- generations of its tables (`children_g3`); the serving generation is the
-- one its views (`read.children`) point at. A rebuild fills the next
-- generation while the serving one keeps answering, then swaps the views in
-- one transaction. A generation's checkpoint is written in the same
-- transaction as the batch it covers, so a crash never applies an event
-- twice or skips one.
CREATE SCHEMA read;
GRANT USAGE ON SCHEMA read TO registry_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA read GRANT SELECT ON TABLES TO registry_app;

CREATE TABLE projection_state (
    name        text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,40}$'),
    version     integer NOT NULL CHECK (version >= 1),
    generation  integer NOT NULL CHECK (generation >= 1),  -- the one serving
    pending     integer,  -- a rebuilt generation waiting for the leader to swap it in
    swapped_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE projection_checkpoints (
    name            text NOT NULL,
    generation      integer NOT NULL,
    version         integer NOT NULL,
    transaction_id  xid8 NOT NULL,
    position        bigint NOT NULL,
    events          bigint NOT NULL DEFAULT 0,  -- applied by this generation
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, generation)
);

GRANT SELECT ON projection_state, projection_checkpoints TO registry_app;
