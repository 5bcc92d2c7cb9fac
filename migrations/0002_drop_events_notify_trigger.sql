-- Appends no longer NOTIFY inside their own transaction.
--
-- A transaction that has issued NOTIFY takes a database-wide lock at commit
-- (PreCommit_Notify, src/backend/commands/async.c) and holds it through the
-- commit's WAL flush, so every appending transaction committed one after the
-- other: eight writers appended no faster than one (`registry bench store`).
-- The store now sends the wake-up hint itself, after the append has committed,
-- coalescing a burst of appends into one NOTIFY (registry/store.py, _Notifier).
-- Followers still poll as the fallback, so nothing depends on the hint.
DROP TRIGGER events_notify ON events;
DROP FUNCTION notify_events();
