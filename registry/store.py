"""The event store: append to streams, read them back, follow the global order.

Every asyncpg call of the store goes through this module, and no asyncpg
exception leaves it: `driver_errors` translates them in one place.

The global order
================

Followers (projections, the change feed, subscriptions, replay, checkpoints)
must see every committed event exactly once, in an order that never changes
after they have read past a point. The obvious rule, "read position >
checkpoint", is wrong in PostgreSQL:

1. Positions come from a sequence, and a sequence hands out values when a
   row is inserted, not when its transaction commits; nextval is never rolled
   back or held for the transaction (PostgreSQL manual, "Sequence
   Manipulation Functions": https://www.postgresql.org/docs/current/functions-sequence.html).
   A transaction that takes position 10 and commits after another transaction
   has committed position 11 is invisible when a follower reads 11 and
   checkpoints it; the follower then skips 10 forever. Worked examples:
   https://event-driven.io/en/ordering_in_postgres_outbox/ and
   https://blog.sequinstream.com/postgres-sequences-can-commit-out-of-order/.

2. Filtering on "transaction id older than every running transaction" and
   still ordering by position is not enough either. A transaction gets its id
   at its first write, which can be long before it inserts its event: A takes
   id 100, B takes id 101 and inserts position 10 (B still open), A inserts
   position 11 and commits. With B running, the oldest running id is 101, so
   A's event (id 100 < 101) is visible and a position-ordered follower
   checkpoints position 11; when B commits, position 10 is below the
   checkpoint and is lost.

The rule used here: every event records `transaction_id = pg_current_xact_id()`
(xid8, which never wraps around), and followers read in (transaction_id,
position) order, only rows whose transaction_id is below
`pg_snapshot_xmin(pg_current_snapshot())`, the oldest transaction id still
running as of the reading statement's snapshot (PostgreSQL manual, "Snapshot
Information Functions": https://www.postgresql.org/docs/current/functions-info.html#FUNCTIONS-PG-SNAPSHOT).
Every transaction with an id below that horizon has committed or aborted, so
no row can ever appear below it again; and every transaction that can still
insert has an id at or above it, so its rows sort after anything read so far.
The pair (transaction_id, position) is therefore a stable cursor: "everything
up to C" is the same set of events forever, and `read_all(after=C)` resumes
without gap or repeat. In case 1 the follower waits for position 10's
transaction before it reads 11; in case 2 it reads A's (100, 11), then B's
(101, 10), which sorts after it.

The price is latency, not correctness: a long transaction holds the horizon
back and every follower waits for it, so bulk work commits in batches. The
eventsourcing library takes the other route and serialises all writers with
`LOCK TABLE ... IN EXCLUSIVE MODE` so that commit order equals position order
(eventsourcing/postgres.py, `_lock_table`); that caps appends at one writer at
a time, which the registry's concurrent communes need not pay for.

Appends
=======

An append is one statement in its own transaction: it records the
idempotency key (if any), checks that the stream is at the expected version
with the expected head hash, and inserts the events with their hash chain.
The hashes are computed here, from canonical JSON (registry/hashing.py); the
head hash of the expected version comes from a small cache of stream heads
(a (stream, version) pair names one hash forever, since events are never
changed) or, on a miss, from one query. The statement itself re-checks the
head, so a stale or wrong head inserts nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

import asyncpg
from pydantic import ValidationError

from .errors import (
    ConcurrencyError,
    IdempotencyConflict,
    InvalidInput,
    RegistryError,
    StoreUnavailable,
    StreamTypeMismatch,
)
from .events import (
    START,
    STREAM_ID_PATTERN,
    Catalog,
    Cursor,
    Metadata,
    NewEvent,
    RecordedEvent,
    validation_error,
)
from .hashing import canonical_json, check_json, event_hash, format_time

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "registry_events"
MAX_EVENTS_PER_APPEND = 10_000
_VERSION_CONSTRAINT = "events_stream_id_version_key"
_T = TypeVar("_T")

# The event data travels as text[] and is cast in the statement: a jsonb[]
# parameter (with the text-format jsonb codec) goes as one escaped array
# literal that the server parses again, a third slower for 1,000 events.
_APPEND_SQL = """
WITH idempotency AS (
    INSERT INTO idempotency_keys (key, stream_id, fingerprint, first_version, last_version)
    SELECT $9, $1, $10, $3 + 1, $3 + cardinality($4::text[])
    WHERE $9::text IS NOT NULL
    ON CONFLICT (key) DO NOTHING
    RETURNING 1
)
INSERT INTO events (stream_id, stream_type, version, event_type, schema_version, data, metadata,
                    occurred_at, prev_hash, hash)
SELECT $1, $2, $3 + e.ord, e.event_type, e.schema_version, e.data::jsonb, $8, e.occurred_at, e.prev_hash, e.hash
FROM unnest($4::text[], $5::int[], $6::text[], $7::timestamptz[], $11::bytea[], $12::bytea[])
     WITH ORDINALITY AS e(event_type, schema_version, data, occurred_at, prev_hash, hash, ord)
WHERE ($9::text IS NULL OR EXISTS (SELECT FROM idempotency))
  AND (SELECT hash FROM events WHERE stream_id = $1 AND version = $3 AND stream_type = $2)
      IS NOT DISTINCT FROM $13::bytea
ORDER BY e.ord
RETURNING position, transaction_id
"""

# A batch of appends to several streams (EventStore.append_batch): every event of the batch in one statement.
# Each stream already in the store must still have, at the version the batch extends, the hash the batch chains
# from (the same re-check as _APPEND_SQL, for all the streams at once); a stream that moved on meanwhile makes the
# insert of its next version violate events_stream_id_version_key, and the whole batch is refused.
_APPEND_BATCH_SQL = """
INSERT INTO events (stream_id, stream_type, version, event_type, schema_version, data, metadata,
                    occurred_at, prev_hash, hash)
SELECT e.stream_id, e.stream_type, e.version, e.event_type, e.schema_version, e.data::jsonb, e.metadata::jsonb,
       e.occurred_at, e.prev_hash, e.hash
FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::int[], $6::text[], $7::text[], $8::timestamptz[],
            $9::bytea[], $10::bytea[]) WITH ORDINALITY
     AS e(stream_id, stream_type, version, event_type, schema_version, data, metadata, occurred_at, prev_hash, hash,
          ord)
WHERE NOT EXISTS (
    SELECT FROM unnest($11::text[], $12::int[], $13::bytea[], $14::text[]) AS h(stream_id, version, hash, stream_type)
    WHERE NOT EXISTS (SELECT FROM events x WHERE x.stream_id = h.stream_id AND x.version = h.version
                      AND x.hash = h.hash AND x.stream_type = h.stream_type))
ORDER BY e.ord
RETURNING position, transaction_id
"""

_HEADS_SQL = """
SELECT DISTINCT ON (stream_id) stream_id, version, hash, stream_type FROM events
WHERE stream_id = ANY($1::text[]) ORDER BY stream_id, version DESC
"""

_HEAD_SQL = """
SELECT version, hash, stream_type FROM events WHERE stream_id = $1 ORDER BY version DESC LIMIT 1
"""

_IDEMPOTENCY_SQL = """
SELECT k.stream_id, k.fingerprint, k.first_version, k.last_version
FROM idempotency_keys k WHERE k.key = $1
"""

_COLUMNS = """position, transaction_id, stream_id, stream_type, version, event_type, schema_version,
    data, metadata, occurred_at, recorded_at, prev_hash, hash"""

_STREAM_SQL = f"""
SELECT {_COLUMNS} FROM events
WHERE stream_id = $1 AND version >= $2 AND version <= $3
ORDER BY version
"""

_STREAMS_SQL = f"""
SELECT {_COLUMNS} FROM events WHERE stream_id = ANY($1::text[]) ORDER BY stream_id, version
"""

# The gap-safe read (see the module docstring): after cursor ($1, $2), up to
# cursor ($3, $4), below the oldest running transaction, $5 rows at most. The
# row comparison is an index condition on events_global_order_idx.
_GLOBAL_ORDER = """
WHERE (transaction_id, position) > ($1::xid8, $2::bigint)
  AND (transaction_id, position) <= ($3::xid8, $4::bigint)
  AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY transaction_id, position
LIMIT $5
"""
_READ_ALL_SQL = f"SELECT {_COLUMNS} FROM events {_GLOBAL_ORDER}"


# The same for some stream types. The types are written into the statement,
# not passed as a parameter, so that the planner can use a partial index on
# (transaction_id, position) for them (migrations/0003). They are safe to
# inline: each must be a registered stream type, whose names match
# NAME_PATTERN. (A full index on (stream_type, transaction_id, position) needs
# no such care, but its inserts slowed every append as the table grew.)
def _read_types_sql(stream_types: Sequence[str]) -> str:
    types = ", ".join(f"'{t}'" for t in stream_types)
    where = _GLOBAL_ORDER.replace("WHERE", f"WHERE stream_type IN ({types}) AND", 1)
    return f"SELECT {_COLUMNS} FROM events {where}"


# The few columns a Merkle leaf needs (registry/integrity.py).
_READ_LEAVES_SQL = f"SELECT position, transaction_id, stream_id, version, recorded_at, hash FROM events {_GLOBAL_ORDER}"

_HORIZON_SQL = """
SELECT transaction_id, position FROM events
WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY transaction_id DESC, position DESC
LIMIT 1
"""

_STATS_SQL = "SELECT count(*), coalesce(max(position), 0) FROM events"

_NOTIFY_SQL = f"SELECT pg_notify('{NOTIFY_CHANNEL}', '')"

_MAX_XID8 = 2**64 - 1
_MAX_POSITION = 2**63 - 1
_MAX_VERSION = 2**31 - 1
END = Cursor(_MAX_XID8, _MAX_POSITION)

# Transient faults: the connection dropped, the server is restarting, or the
# statement lost a serialisation race. Anything else is not retried.
_TRANSIENT = (
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    ConnectionError,
    TimeoutError,
)


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What an append wrote (or, for a replayed idempotency key, what the first append wrote)."""

    stream_id: str
    first_version: int
    last_version: int
    positions: tuple[int, ...]
    transaction_id: int
    last_hash: bytes
    replayed: bool = False

    @property
    def cursor(self) -> Cursor:
        """The cursor of the last event written: a follower past it has seen this append."""
        return Cursor(self.transaction_id, self.positions[-1])


@dataclass(frozen=True, slots=True)
class StreamAppend:
    """One stream's part of a batch (EventStore.append_batch): its events, at the version it must be at."""

    stream_id: str
    stream_type: str
    expected_version: int
    events: Sequence[NewEvent]
    metadata: Metadata | dict[str, Any]


@contextmanager
def driver_errors() -> Iterator[None]:
    """Translate driver errors into the registry's; the one place that does."""
    try:
        yield
    except RegistryError:
        raise
    except _TRANSIENT as exc:
        raise StoreUnavailable(f"database unavailable: {type(exc).__name__}") from None
    except (OSError, asyncpg.InterfaceError) as exc:
        raise StoreUnavailable(f"database unavailable: {type(exc).__name__}") from None
    except asyncpg.PostgresError as exc:
        # The SQLSTATE says what happened; the server's message may quote data.
        log.error("database error %s (%s)", exc.sqlstate, type(exc).__name__)
        raise RegistryError(f"database error {exc.sqlstate} ({type(exc).__name__})") from None


async def retry(operation: Callable[[], Awaitable[_T]], attempts: int = 4, wait: float = 0.1) -> _T:
    """Run operation, retrying transient faults with backoff; others propagate at once."""
    for attempt in range(1, attempts + 1):
        try:
            return await operation()
        except _TRANSIENT as exc:
            if attempt == attempts:
                raise StoreUnavailable(f"database unavailable after {attempts} attempts") from exc
            log.warning("transient database fault (%s), retrying", type(exc).__name__)
            await asyncio.sleep(wait * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


class _Notifier:
    """Wake followers after appends commit: a hint, never the delivery.

    The NOTIFY goes out in a transaction of its own, after the append has
    committed (see migrations/0002 for why not inside it). Appends that
    commit within WINDOW seconds of each other share one NOTIFY, so a burst
    costs a few statements, not one per append, and a follower wakes at most
    WINDOW later than it could. A failed NOTIFY is logged and dropped:
    followers poll as well.
    """

    WINDOW = 0.005

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._pending = False
        self._task: asyncio.Task[None] | None = None

    def mark(self) -> None:
        self._pending = True
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while self._pending:
            await asyncio.sleep(self.WINDOW)
            self._pending = False
            try:
                await self._pool.execute(_NOTIFY_SQL)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("wake-up notification not sent (%s); followers will poll", type(exc).__name__)
                return

    async def flush(self) -> None:
        """Wait until the notifications of finished appends have gone out."""
        if self._task is not None:
            await self._task


class _Heads:
    """Recently seen stream heads: stream_id -> (version, hash, stream_type).

    Safe to keep without invalidation: a (stream, version) pair names the same
    hash forever. Bounded, least recently used first out.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._heads: OrderedDict[str, tuple[int, bytes, str]] = OrderedDict()

    def get(self, stream_id: str) -> tuple[int, bytes, str] | None:
        head = self._heads.get(stream_id)
        if head is not None:
            self._heads.move_to_end(stream_id)
        return head

    def put(self, stream_id: str, version: int, hash: bytes, stream_type: str) -> None:
        current = self._heads.get(stream_id)
        if current is not None and current[0] > version:
            return
        self._heads[stream_id] = (version, hash, stream_type)
        self._heads.move_to_end(stream_id)
        if len(self._heads) > self._size:
            self._heads.popitem(last=False)

    def forget(self, stream_id: str) -> None:
        self._heads.pop(stream_id, None)


@dataclass(slots=True)
class _Prepared:
    """An append checked and encoded, ready for the statement."""

    stream_id: str
    stream_type: str
    expected_version: int
    event_types: list[str]
    schema_versions: list[int]
    data: list[bytes]
    occurred_at: list[datetime]
    occurred_text: list[str]
    metadata: bytes
    key: str | None
    fingerprint: bytes | None


class EventStore:
    """Append-only event streams in PostgreSQL, with a gap-safe global order."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        catalog: Catalog,
        *,
        connect: Callable[[], Awaitable[asyncpg.Connection]] | None = None,
        head_cache_size: int = 100_000,
    ) -> None:
        self._pool = pool
        self._catalog = catalog
        self._connect = connect
        self._heads = _Heads(head_cache_size)
        self._notifier = _Notifier(pool)
        # Told of every append this store commits (stream type, events): the process's metrics count them.
        self.appended: Callable[[str, int], object] | None = None

    @property
    def catalog(self) -> Catalog:
        return self._catalog

    @property
    def pool(self) -> asyncpg.Pool:
        return self._pool

    # -- appending -----------------------------------------------------------

    async def append(
        self,
        stream_id: str,
        stream_type: str,
        expected_version: int,
        events: Sequence[NewEvent],
        metadata: Metadata | dict[str, Any],
        *,
        idempotency_key: str | None = None,
        request_fingerprint: bytes | None = None,
    ) -> AppendResult:
        """Append events to a stream that must be at expected_version (0: a new stream).

        Raises ConcurrencyError if the stream is at another version,
        IdempotencyConflict if the key was used for another request, and an
        InvalidInput subclass naming the field for bad input. Nothing is
        written unless every event is written. The request a key stands for
        is the append itself, or `request_fingerprint` when the caller gives
        one (a service's command: its events may differ when decided again).
        """
        prepared = self._prepare(stream_id, stream_type, expected_version, events, metadata, idempotency_key)
        if request_fingerprint is not None and idempotency_key is not None:
            prepared = replace(prepared, fingerprint=request_fingerprint)

        async def attempt() -> AppendResult:
            for _ in range(2):
                result = await self._try_append(prepared)
                if result is not None:
                    return result
            raise ConcurrencyError(stream_id, expected_version, await self._actual_version(stream_id))

        with driver_errors():
            if idempotency_key is None:
                # Without a key a retry after a lost reply could append twice.
                return await attempt()
            return await retry(attempt)

    def _prepare(
        self,
        stream_id: str,
        stream_type: str,
        expected_version: int,
        events: Sequence[NewEvent],
        metadata: Metadata | dict[str, Any],
        key: str | None,
    ) -> _Prepared:
        if not isinstance(stream_id, str) or not STREAM_ID_PATTERN.match(stream_id):
            raise InvalidInput("stream_id", "invalid_stream_id", "must be 1-200 letters, digits or _.:-")
        if type(expected_version) is not int or expected_version < 0:
            raise InvalidInput("expected_version", "invalid_version", "must be an integer >= 0")
        if not events:
            raise InvalidInput("events", "empty", "an append needs at least one event")
        if len(events) > MAX_EVENTS_PER_APPEND:
            raise InvalidInput("events", "too_many", f"at most {MAX_EVENTS_PER_APPEND} events per append")
        if key is not None and (not isinstance(key, str) or not 1 <= len(key) <= 200):
            raise InvalidInput("idempotency_key", "invalid_key", "must be 1-200 characters")
        catalog = self._catalog
        catalog.check_stream_type(stream_type)

        if isinstance(metadata, Metadata):
            meta = metadata
        else:
            try:
                meta = Metadata.model_validate(metadata)
            except ValidationError as exc:
                raise validation_error(exc, "metadata") from None
        meta_json = meta.model_dump(exclude_none=True)
        if key is not None:
            meta_json["idempotency_key"] = key
        check_json(meta_json, "metadata")

        event_types, schema_versions, data, occurred_at, occurred_text = [], [], [], [], []
        for index, event in enumerate(events):
            field = f"events.{index}"
            if not isinstance(event, NewEvent):
                raise InvalidInput(field, "not_an_event", "must be a NewEvent")
            schema_version, payload = catalog.validate(stream_type, event, field)
            check_json(payload, f"{field}.data")
            moment = event.occurred_at
            if not isinstance(moment, datetime) or moment.utcoffset() is None:
                raise InvalidInput(f"{field}.occurred_at", "naive_datetime", "must be a time with a time zone")
            event_types.append(event.event_type)
            schema_versions.append(schema_version)
            data.append(canonical_json(payload))
            occurred_at.append(moment)
            occurred_text.append(format_time(moment))

        meta_bytes = canonical_json(meta_json)
        fingerprint = None
        if key is not None:
            request = b"\x1e".join(
                [stream_id.encode(), stream_type.encode(), str(expected_version).encode()]
                + [
                    b"\x1f".join((t.encode(), d, o.encode()))
                    for t, d, o in zip(event_types, data, occurred_text, strict=True)
                ]
            )
            fingerprint = hashlib.sha256(request).digest()
        return _Prepared(
            stream_id, stream_type, expected_version, event_types, schema_versions, data,
            occurred_at, occurred_text, meta_bytes, key, fingerprint,
        )  # fmt: skip

    async def append_batch(self, appends: Sequence[StreamAppend]) -> list[AppendResult]:
        """Append to several streams in one transaction: every event of every stream, or nothing.

        For bulk work (an import writes a thousand children at a time): one
        statement instead of one per stream. Each stream must be at its
        `expected_version` (0: a new stream); if one is not, or another
        writer extends one of them meanwhile, nothing is written and
        ConcurrencyError names the first such stream. A batch carries no
        idempotency keys: every stream's expected version already makes a
        repeated batch fail instead of writing twice, and bulk callers stay
        idempotent by deciding against what is stored (README, design
        notes). A stream appears at most once in a batch. Results are in the
        order of `appends`.
        """
        if not appends:
            return []
        prepared = [self._prepare(a.stream_id, a.stream_type, a.expected_version, a.events, a.metadata, None)
                    for a in appends]  # fmt: skip
        if sum(len(p.event_types) for p in prepared) > MAX_EVENTS_PER_APPEND:
            raise InvalidInput("appends", "too_many", f"at most {MAX_EVENTS_PER_APPEND} events per batch")
        seen: set[str] = set()
        for index, p in enumerate(prepared):
            if p.stream_id in seen:
                raise InvalidInput(f"appends.{index}.stream_id", "repeated", "names a stream already in the batch")
            seen.add(p.stream_id)
        with driver_errors():
            heads = await self._batch_heads(prepared)
            records: list[tuple[Any, ...]] = []
            checks: list[tuple[Any, ...]] = []  # (stream, version, hash, type) of each head the batch extends
            lasts: dict[str, tuple[int, bytes]] = {}
            # Streams are inserted in the order of their ids, so that two batches over the same streams wait for
            # each other's versions in one order and never deadlock.
            for p in sorted(prepared, key=lambda p: p.stream_id):
                prev = heads.get(p.stream_id)
                if prev is not None:
                    checks.append((p.stream_id, p.expected_version, prev, p.stream_type))
                version, metadata = p.expected_version, p.metadata.decode()
                for event_type, schema_version, data, occurred, moment in zip(
                    p.event_types, p.schema_versions, p.data, p.occurred_text, p.occurred_at, strict=True
                ):
                    version += 1
                    hash_ = event_hash(stream_id=p.stream_id, stream_type=p.stream_type, version=version,
                                       event_type=event_type, schema_version=schema_version, data=data,
                                       metadata=p.metadata, occurred_at=occurred, prev_hash=prev)  # fmt: skip
                    records.append((p.stream_id, p.stream_type, version, event_type, schema_version, data.decode(),
                                    metadata, moment, prev, hash_))  # fmt: skip
                    prev = hash_
                assert prev is not None
                lasts[p.stream_id] = (version, prev)
            columns = [list(column) for column in zip(*records, strict=True)]
            heads_given = [list(column) for column in zip(*checks, strict=True)] if checks else [[], [], [], []]
            try:
                rows = await self._pool.fetch(_APPEND_BATCH_SQL, *columns, *heads_given)
            except asyncpg.UniqueViolationError as exc:
                if exc.constraint_name != _VERSION_CONSTRAINT:
                    raise
                rows = []
            if not rows:  # a stream moved on (or a cached head was wrong): nothing was written
                for p in prepared:
                    self._heads.forget(p.stream_id)
                await self._batch_heads(prepared)  # raises ConcurrencyError for the stream that moved
                raise RegistryError("a stream of the batch does not end in the hash it was read with")
        self._notifier.mark()
        written, offset = {}, 0
        for p in sorted(prepared, key=lambda p: p.stream_id):
            version, last_hash = lasts[p.stream_id]
            mine = rows[offset : offset + len(p.event_types)]
            offset += len(p.event_types)
            self._heads.put(p.stream_id, version, last_hash, p.stream_type)
            written[p.stream_id] = AppendResult(p.stream_id, p.expected_version + 1, version,
                                                tuple(r[0] for r in mine), mine[0][1], last_hash)  # fmt: skip
        return [written[p.stream_id] for p in prepared]

    async def _batch_heads(self, prepared: Sequence[_Prepared]) -> dict[str, bytes]:
        """The head hash each stream of a batch extends (streams new to the store have none); a stream at another
        version than expected, or of another type, is refused here, before anything is written."""
        heads: dict[str, tuple[int, bytes, str]] = {}
        missing = []
        for p in prepared:
            head = self._heads.get(p.stream_id) if p.expected_version else None
            if head is not None and head[0] == p.expected_version:
                heads[p.stream_id] = head
            else:
                missing.append(p.stream_id)
        if missing:
            for row in await self._pool.fetch(_HEADS_SQL, missing):
                heads[row[0]] = (row[1], row[2], row[3])
                self._heads.put(row[0], row[1], row[2], row[3])
        for index, p in enumerate(prepared):
            head = heads.get(p.stream_id)
            if head is not None and head[2] != p.stream_type:
                raise StreamTypeMismatch(f"appends.{index}.stream_type", "stream_type_mismatch",
                                         "differs from the stream's type")  # fmt: skip
            actual = 0 if head is None else head[0]
            if actual != p.expected_version:
                raise ConcurrencyError(p.stream_id, p.expected_version, actual)
        return {stream: head[1] for stream, head in heads.items() if head[0] > 0}

    async def _try_append(self, p: _Prepared) -> AppendResult | None:
        """One attempt; None means the cached head was stale and was dropped (try again)."""
        prev = await self._expected_head(p)
        if prev is _MISMATCH:
            return await self._explain_failure(p)
        prev_hashes: list[bytes | None] = []
        hashes: list[bytes] = []
        version = p.expected_version
        for event_type, schema_version, data, occurred in zip(
            p.event_types, p.schema_versions, p.data, p.occurred_text, strict=True
        ):
            version += 1
            prev_hashes.append(prev)  # type: ignore[arg-type]
            prev = event_hash(
                stream_id=p.stream_id,
                stream_type=p.stream_type,
                version=version,
                event_type=event_type,
                schema_version=schema_version,
                data=data,
                metadata=p.metadata,
                occurred_at=occurred,
                prev_hash=prev,  # type: ignore[arg-type]
            )
            hashes.append(prev)
        try:
            rows = await self._pool.fetch(
                _APPEND_SQL,
                p.stream_id, p.stream_type, p.expected_version, p.event_types, p.schema_versions,
                [d.decode() for d in p.data], p.occurred_at, p.metadata, p.key, p.fingerprint, prev_hashes, hashes,
                prev_hashes[0],
            )  # fmt: skip
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name != _VERSION_CONSTRAINT:
                raise
            return await self._explain_failure(p)
        if not rows:
            self._heads.forget(p.stream_id)
            if p.key is not None or p.expected_version == 0:
                return await self._explain_failure(p)
            return None
        self._heads.put(p.stream_id, version, hashes[-1], p.stream_type)
        self._notifier.mark()
        if self.appended is not None:
            self.appended(p.stream_type, len(rows))
        return AppendResult(
            p.stream_id,
            p.expected_version + 1,
            version,
            tuple(row[0] for row in rows),
            rows[0][1],
            hashes[-1],
        )

    async def _expected_head(self, p: _Prepared) -> bytes | None | object:
        """The hash of the expected version (None for a new stream), or _MISMATCH."""
        if p.expected_version == 0:
            return None
        head = self._heads.get(p.stream_id)
        if head is None or head[0] != p.expected_version:
            row = await self._pool.fetchrow(_HEAD_SQL, p.stream_id)
            if row is None:
                return _MISMATCH
            head = (row[0], row[1], row[2])
            self._heads.put(p.stream_id, *head)
        if head[0] != p.expected_version or head[2] != p.stream_type:
            return _MISMATCH
        return head[1]

    async def _explain_failure(self, p: _Prepared) -> AppendResult:
        """Nothing was written: replay the idempotent result, or raise the reason."""
        if p.key is not None:
            row = await self._pool.fetchrow(_IDEMPOTENCY_SQL, p.key)
            if row is not None:
                if row["fingerprint"] != p.fingerprint or row["stream_id"] != p.stream_id:
                    raise IdempotencyConflict(p.key, p.stream_id)
                return await self._replayed(p.stream_id, row["first_version"], row["last_version"])
        head = await self._pool.fetchrow(_HEAD_SQL, p.stream_id)
        if head is not None and head["stream_type"] != p.stream_type:
            raise StreamTypeMismatch("stream_type", "stream_type_mismatch", "differs from the stream's type")
        raise ConcurrencyError(p.stream_id, p.expected_version, head["version"] if head else 0)

    async def recorded(self, key: str, request_fingerprint: bytes | None = None) -> AppendResult | None:
        """The result of the append made under idempotency key `key`, or None if there was none.

        For application services that decide before they append: a repeated
        command must return its first result, not be decided again. With
        `request_fingerprint`, a key first used for another request is an
        IdempotencyConflict.
        """
        with driver_errors():
            row = await self._pool.fetchrow(_IDEMPOTENCY_SQL, key)
            if row is None:
                return None
            if request_fingerprint is not None and row["fingerprint"] != request_fingerprint:
                raise IdempotencyConflict(key, row["stream_id"])
            return await self._replayed(row["stream_id"], row["first_version"], row["last_version"])

    async def _replayed(self, stream_id: str, first: int, last: int) -> AppendResult:
        rows = await self._pool.fetch(
            "SELECT position, transaction_id, hash FROM events"
            " WHERE stream_id = $1 AND version BETWEEN $2 AND $3 ORDER BY version",
            stream_id,
            first,
            last,
        )
        return AppendResult(stream_id, first, last, tuple(r[0] for r in rows), rows[-1][1], rows[-1][2], replayed=True)

    async def _actual_version(self, stream_id: str) -> int:
        with driver_errors():
            head = await self._pool.fetchrow(_HEAD_SQL, stream_id)
        return head["version"] if head else 0

    # -- reading -------------------------------------------------------------

    async def read_stream(
        self, stream_id: str, *, from_version: int = 1, to_version: int | None = None
    ) -> list[RecordedEvent]:
        """Return a stream's events in version order (empty for an unknown stream)."""
        if type(from_version) is not int or from_version < 1:
            raise InvalidInput("from_version", "invalid_version", "must be an integer >= 1")
        upper = _MAX_VERSION if to_version is None else to_version

        async def read() -> list[RecordedEvent]:
            return [self._decode(row) for row in await self._pool.fetch(_STREAM_SQL, stream_id, from_version, upper)]

        with driver_errors():
            events = await retry(read)
        if events and to_version is None:
            last = events[-1]
            self._heads.put(stream_id, last.version, last.hash, last.stream_type)
        return events

    async def read_streams(self, stream_ids: Sequence[str]) -> dict[str, list[RecordedEvent]]:
        """The events of several streams in one query, each in version order (empty for an unknown stream)."""
        found: dict[str, list[RecordedEvent]] = {stream_id: [] for stream_id in stream_ids}
        with driver_errors():
            rows = await retry(lambda: self._pool.fetch(_STREAMS_SQL, list(found)))
        for row in rows:
            found[row[2]].append(self._decode(row))
        return found

    async def read_all(
        self,
        after: Cursor = START,
        *,
        limit: int = 1000,
        until: Cursor = END,
        stream_types: Sequence[str] | None = None,
    ) -> list[RecordedEvent]:
        """Return up to `limit` committed events after `after` (and not past `until`) in the global order.

        Gap-safe (see the module docstring): resuming from the last event's
        cursor never skips or repeats an event. With `stream_types`, only the
        events of streams of those types.
        """
        decode = self._decode
        if stream_types is None:
            rows = await self._global_order(_READ_ALL_SQL, after, until, limit)
        else:
            for stream_type in stream_types:
                self._catalog.check_stream_type(stream_type)
            rows = await self._global_order(_read_types_sql(sorted(stream_types)), after, until, limit)
        return [decode(row) for row in rows]

    async def read_leaves(self, after: Cursor, until: Cursor, limit: int) -> list[Any]:
        """Like read_all, but only (position, transaction_id, stream_id, version, recorded_at, hash)."""
        return await self._global_order(_READ_LEAVES_SQL, after, until, limit)

    async def _global_order(self, sql: str, after: Cursor, until: Cursor, limit: int) -> list[Any]:
        if not 1 <= limit <= 100_000:
            raise InvalidInput("limit", "out_of_range", "must be between 1 and 100000")
        args = (after.transaction_id, after.position, until.transaction_id, until.position, limit)
        with driver_errors():
            return await retry(lambda: self._pool.fetch(sql, *args))

    async def iterate(
        self,
        after: Cursor = START,
        *,
        batch: int = 5000,
        until: Cursor = END,
        stream_types: Sequence[str] | None = None,
    ) -> AsyncIterator[list[RecordedEvent]]:
        """Yield batches of read_all until the horizon (or `until`) is reached."""
        while True:
            events = await self.read_all(after, limit=batch, until=until, stream_types=stream_types)
            if not events:
                return
            yield events
            after = events[-1].cursor

    async def horizon(self) -> Cursor:
        """The cursor of the last event a follower can read now (START if none)."""
        with driver_errors():
            row = await retry(lambda: self._pool.fetchrow(_HORIZON_SQL))
        return START if row is None else Cursor(row[0], row[1])

    async def recorded_at(self, cursor: Cursor) -> datetime | None:
        """When the event at `cursor` was recorded (None if no event is there)."""
        with driver_errors():
            found: datetime | None = await retry(lambda: self._pool.fetchval(
                "SELECT recorded_at FROM events WHERE position = $1 AND transaction_id = $2",
                cursor.position, cursor.transaction_id))  # fmt: skip
        return found

    async def stats(self) -> tuple[int, int]:
        """Return (number of events, highest position)."""
        with driver_errors():
            row = await retry(lambda: self._pool.fetchrow(_STATS_SQL))
        assert row is not None  # an aggregate always returns a row
        return row[0], row[1]

    def _decode(self, row: Any) -> RecordedEvent:
        """Decode a stored row, upcasting its data: the one place rows become events."""
        stored_version, data = row[6], row[7]
        if stored_version < self._catalog.current_version(row[5]):
            schema_version, data = self._catalog.upcast(row[5], stored_version, data)
        else:
            schema_version = stored_version
        return _new_event(RecordedEvent, (
            row[0], row[1], row[2], row[3], row[4], row[5], schema_version, data,
            row[8], row[9], row[10], row[11], row[12], stored_version,
        ))  # fmt: skip

    # -- following -----------------------------------------------------------

    async def close(self) -> None:
        """Send the wake-ups still owed; call before closing the pool."""
        await self._notifier.flush()

    async def listen(self) -> Listener:
        """Open a dedicated connection that wakes when events are appended."""
        if self._connect is None:
            raise RegistryError("this store was opened without a way to make dedicated connections")
        with driver_errors():
            conn = await self._connect()
            listener = Listener(conn)
            await conn.add_listener(NOTIFY_CHANNEL, listener._notified)
        return listener


_MISMATCH = object()
# tuple.__new__ skips the Python-level __new__ a NamedTuple generates: one frame less per event read.
_new_event: Callable[..., RecordedEvent] = tuple.__new__


class Listener:
    """Wake-ups on append (LISTEN registry_events): a hint to read, not the delivery."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        self._event = asyncio.Event()

    def _notified(self, *_: object) -> None:
        self._event.set()

    async def wait(self, timeout: float) -> bool:
        """Wait until an append was notified or the timeout passes; return whether one was."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            return False
        self._event.clear()
        return True

    async def close(self) -> None:
        with driver_errors():
            await self._conn.close()


__all__ = [
    "END",
    "MAX_EVENTS_PER_APPEND",
    "NOTIFY_CHANNEL",
    "AppendResult",
    "EventStore",
    "Listener",
    "StreamAppend",
    "driver_errors",
    "retry",
]
