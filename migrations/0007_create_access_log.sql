-- The access log (issue: GraphQL API; ARCHITECTURE.md, "The API"): every read of
-- a child or case record, allowed or denied, with who asked, in what role and
-- jurisdiction, for what purpose, in which request, and what came of it.
-- Append-only like the events (reject_mutation, migration 0001): auditors read
-- it, nobody edits it. It holds record ids, never personal data.
CREATE TABLE access_log (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    request_id    text NOT NULL CHECK (length(request_id) BETWEEN 1 AND 100),
    subject       text NOT NULL CHECK (length(subject) BETWEEN 1 AND 200),
    role          text NOT NULL CHECK (length(role) BETWEEN 1 AND 50),
    unit          text CHECK (unit ~ '^[0-9]{2}([0-9]|[0-9]{3})?$'),
    operation     text NOT NULL CHECK (length(operation) BETWEEN 1 AND 100),
    record_kind   text NOT NULL CHECK (record_kind IN ('child', 'case', 'access_log')),
    record_id     text CHECK (length(record_id) <= 100),
    purpose       text CHECK (length(purpose) <= 500),
    outcome       text NOT NULL CHECK (outcome IN ('allowed', 'denied', 'not_found')),
    reason        text CHECK (length(reason) <= 200)
);

CREATE INDEX access_log_record_idx ON access_log (record_kind, record_id, at);
CREATE INDEX access_log_subject_idx ON access_log (subject, at);

CREATE TRIGGER access_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON access_log
    FOR EACH STATEMENT EXECUTE FUNCTION reject_mutation();

GRANT SELECT, INSERT ON access_log TO registry_app;
