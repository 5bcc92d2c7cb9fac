-- The administrative units and their reorganisations (reference data, a few
-- tens of thousands of events) are read in the global order at start-up by
-- every process (registry/gazetteer.py) without scanning the whole log:
-- store.read_all(stream_type=...) puts the type in the statement so that the
-- planner can prove this predicate. Partial, because a full index led by
-- stream_type made every append slower as the table grew (measured: single
-- appends fell from about 1,000/s to 460/s over 10,000 events, against a
-- steady 1,400/s without it).
CREATE INDEX events_reference_data_order_idx ON events (transaction_id, position)
    WHERE stream_type IN ('administrative_unit', 'reorganisation');
