"""The projector: named, versioned projections folded from the global order into tables of schema `read`.

A projection declares its tables and how a batch of events changes them. The
projector reads the global order with the store's gap-safe rule, a batch at a
time, and applies each batch and advances the projection's checkpoint in one
transaction: after a crash at any point the projection resumes exactly after
the last batch it committed, so no event is applied twice or skipped.

Tables come in generations (`read.children_g2`); views without the suffix
(`read.children`) point at the serving one. `rebuild` fills the next
generation from the start of the log while the serving one keeps answering,
then swaps the views in one transaction and drops the old tables.

One leader per projection across processes: the projector holds a
PostgreSQL advisory lock on a dedicated connection (a pooled connection would
drop it on release) for as long as it runs. It catches up on start, then
wakes on NOTIFY (and polls as a fallback). A rebuild run while a leader is
up hands its finished generation to the leader (`projection_state.pending`),
which catches it up and swaps it in; with no leader, the rebuild does it.

Stopping is graceful: once the stop event is set the leader finishes the batch
it is applying (its transaction commits with its checkpoint), applies no
other, and closes its lock connection, so another process can take the lead
at once instead of after the dead connection times out.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import asyncpg

from registry.collector import cycle_collection_paused
from registry.errors import RegistryError
from registry.events import START, Cursor, RecordedEvent
from registry.store import EventStore, driver_errors

log = logging.getLogger(__name__)

REBUILD_BATCH = 20_000  # events per transaction while a new generation is built: nobody reads it yet
Connect = Callable[[], Awaitable[asyncpg.Connection]]
Progress = Callable[[int], object]
Observer = Callable[[str, int, float], object]  # after each batch committed: projection, events, seconds


class Projection(ABC):
    """A read model: its name and version, the stream types it reads, its tables, and its fold."""

    name: ClassVar[str]
    version: ClassVar[int]
    schema: ClassVar[str] = "read"  # where its tables and views live (tests use schemas of their own)
    stream_types: ClassVar[tuple[str, ...]]
    tables: ClassVar[dict[str, str]]  # base name -> column definitions
    indexes: ClassVar[tuple[str, ...]] = ()  # statements; {name} is a table's physical name
    views: ClassVar[dict[str, str]] = {}  # extra views (aggregates) over the serving tables; {name} as above

    async def prepare(self, store: EventStore) -> None:  # noqa: B027 - a hook; most projections need nothing
        """Load what the fold needs besides the events (e.g. the administrative units)."""

    @abstractmethod
    async def apply(self, conn: asyncpg.Connection, tables: dict[str, str], events: Sequence[RecordedEvent]) -> None:
        """Fold a batch of events into the tables (physical names in `tables`), inside the batch's transaction."""


@dataclass(frozen=True)
class Status:
    name: str
    version: int
    generation: int
    cursor: Cursor
    events: int
    head: Cursor
    lag_events: int  # events of its stream types committed after its checkpoint


@dataclass(frozen=True)
class Lag:
    """How far a projection is behind the log: events not yet projected (counted up to a cap), and how long ago
    the oldest of them was recorded (0 when there is none). `built` is false before its first generation."""

    events: int
    seconds: float
    built: bool = True


# The serving generation's checkpoint, then the events of the projection's stream types after it that a follower
# can read (the gap-safe rule of registry/store.py), in the global order, at most $3: cheap at any lag.
_LAG_SQL = """
WITH checkpoint AS (
    SELECT c.transaction_id, c.position FROM projection_checkpoints c
    JOIN projection_state s ON s.name = c.name AND s.generation = c.generation WHERE c.name = $1
), behind AS (
    SELECT e.recorded_at FROM events e, checkpoint c
    WHERE (e.transaction_id, e.position) > (c.transaction_id, c.position) AND e.stream_type = ANY($2::text[])
      AND e.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
    ORDER BY e.transaction_id, e.position
    LIMIT $3
)
SELECT (SELECT count(*) FROM checkpoint), (SELECT count(*) FROM behind),
       coalesce((SELECT extract(epoch FROM now() - min(recorded_at)) FROM behind), 0)::float8
"""


async def lag(pool: asyncpg.Pool, name: str, stream_types: Sequence[str], cap: int = 10_000) -> Lag:
    """A projection's lag, cheaply (for /readyz and /metrics; `Projector.status` counts it exactly)."""
    with driver_errors():
        row = await pool.fetchrow(_LAG_SQL, name, list(stream_types), cap, timeout=5)
    assert row is not None  # scalar subqueries always give a row
    return Lag(int(row[1]), max(float(row[2]), 0.0), built=bool(row[0]))


def lock_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(f"projection:{name}".encode()).digest()[:8], "big", signed=True)


def physical(projection: Projection, generation: int) -> dict[str, str]:
    return {base: f"{projection.schema}.{base}_g{generation}" for base in projection.tables}


class Projector:
    """Runs one projection: catch up, follow, rebuild, report."""

    def __init__(
        self, store: EventStore, connect: Connect, projection: Projection, *, batch: int = 5000,
        observe: Observer | None = None,
    ) -> None:  # fmt: skip
        self.store = store
        self.projection = projection
        self._connect = connect  # owner connections: projections create and drop their tables
        self._batch = batch
        self._observe = observe  # the metrics of the process (schema/metrics.py), if any

    # -- generations -------------------------------------------------------

    async def ensure(self) -> int:
        """Create the projection's first generation if it has none; return the serving generation."""
        p = self.projection
        conn = await self._connect()
        try:
            with driver_errors():
                async with conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock($1)", lock_key(p.name) ^ 1)
                    if p.schema != "read":
                        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {p.schema}")
                    row = await conn.fetchrow("SELECT version, generation FROM projection_state WHERE name = $1",
                                              p.name)  # fmt: skip
                    if row is not None and row["version"] == p.version:
                        return int(row["generation"])
                    generation = 1 if row is None else row["generation"] + 1
                    await self._create(conn, generation)
                    if row is None:
                        await conn.execute(
                            "INSERT INTO projection_state (name, version, generation) VALUES ($1, $2, $3)",
                            p.name, p.version, generation,
                        )  # fmt: skip
                    else:  # a new version of the fold: its tables are built from the start, then swapped in
                        await conn.execute("UPDATE projection_state SET pending = $2 WHERE name = $1", p.name,
                                           generation)  # fmt: skip
                        return int(row["generation"])
                    await self._point_views(conn, generation)
                    return generation
        finally:
            await conn.close()

    async def _create(self, conn: asyncpg.Connection, generation: int) -> None:
        p = self.projection
        names = physical(p, generation)
        for base, columns in p.tables.items():
            await conn.execute(f"DROP TABLE IF EXISTS {names[base]}")
            await conn.execute(f"CREATE TABLE {names[base]} ({columns})")
        for statement in p.indexes:
            await conn.execute(statement.format(**names))
        await conn.execute(
            "INSERT INTO projection_checkpoints (name, generation, version, transaction_id, position)"
            " VALUES ($1, $2, $3, '0'::xid8, 0) ON CONFLICT (name, generation) DO UPDATE"
            " SET transaction_id = '0'::xid8, position = 0, events = 0, version = EXCLUDED.version",
            p.name, generation, p.version,
        )  # fmt: skip

    async def _point_views(self, conn: asyncpg.Connection, generation: int) -> None:
        p = self.projection
        names = physical(p, generation)
        for view in p.views:
            await conn.execute(f"DROP VIEW IF EXISTS {p.schema}.{view}")
        for base, table in names.items():
            await conn.execute(f"DROP VIEW IF EXISTS {p.schema}.{base}")
            await conn.execute(f"CREATE VIEW {p.schema}.{base} AS SELECT * FROM {table}")
        for view, query in p.views.items():
            await conn.execute(
                f"CREATE VIEW {p.schema}.{view} AS {query.format(**{b: f'{p.schema}.{b}' for b in names})}"
            )

    # -- folding -----------------------------------------------------------

    async def cursor(self, conn: asyncpg.Connection, generation: int) -> tuple[Cursor, int]:
        row = await conn.fetchrow(
            "SELECT transaction_id::text::bigint AS tx, position, events FROM projection_checkpoints"
            " WHERE name = $1 AND generation = $2",
            self.projection.name, generation,
        )  # fmt: skip
        if row is None:
            raise RuntimeError(f"projection {self.projection.name} has no generation {generation}")
        return Cursor(row["tx"], row["position"]), row["events"]

    async def catch_up(
        self, generation: int, *, progress: Progress = lambda n: None, fail_after: int | None = None,
        batch: int | None = None, stop: asyncio.Event | None = None,
    ) -> int:  # fmt: skip
        """Apply every committed event after the generation's checkpoint, `batch` events (or the projector's
        batch size) per transaction; return how many. Once `stop` is set, the batch under way is finished and
        no other is begun.

        `fail_after` raises inside the transaction of the batch that would pass
        that many events (tests of crash safety use it).
        """
        p = self.projection
        names = physical(p, generation)
        conn = await self._connect()
        applied = 0

        def read(after: Cursor) -> asyncio.Task[list[RecordedEvent]]:
            return asyncio.create_task(self.store.read_all(after, limit=limit, stream_types=p.stream_types))

        limit = batch or self._batch
        ahead: asyncio.Task[list[RecordedEvent]] | None = None
        try:
            with driver_errors():
                after, _ = await self.cursor(conn, generation)
                ahead = read(after)
                while True:
                    events = await ahead
                    if not events or (stop is not None and stop.is_set()):
                        return applied
                    began = time.perf_counter()
                    last = events[-1].cursor
                    # The next batch is read (on a pooled connection) while this one is folded and written: the
                    # read is of committed events after `last`, whatever becomes of this batch's transaction.
                    ahead = read(last)
                    async with conn.transaction():
                        # The checkpoint row is locked first: a second writer (which the leader lock already
                        # rules out) would wait here and then find it moved on.
                        current, _ = await self._locked_cursor(conn, generation)
                        if current != after:
                            raise RuntimeError(f"projection {p.name} generation {generation} moved under us")
                        with cycle_collection_paused():
                            await p.apply(conn, names, events)
                        if fail_after is not None and applied + len(events) >= fail_after:
                            raise SimulatedCrash(f"crash inside a batch after {applied} events")
                        await conn.execute(
                            "UPDATE projection_checkpoints SET transaction_id = $3::text::xid8, position = $4,"
                            " events = events + $5, updated_at = now() WHERE name = $1 AND generation = $2",
                            p.name, generation, str(last.transaction_id), last.position, len(events),
                        )  # fmt: skip
                    applied += len(events)
                    progress(len(events))
                    if self._observe is not None:
                        self._observe(p.name, len(events), time.perf_counter() - began)
                    after = last
        finally:
            if ahead is not None and not ahead.done():
                ahead.cancel()
            await conn.close()

    async def _locked_cursor(self, conn: asyncpg.Connection, generation: int) -> tuple[Cursor, int]:
        row = await conn.fetchrow(
            "SELECT transaction_id::text::bigint AS tx, position, events FROM projection_checkpoints"
            " WHERE name = $1 AND generation = $2 FOR UPDATE",
            self.projection.name, generation,
        )  # fmt: skip
        assert row is not None  # created with its generation and never deleted while it serves
        return Cursor(row["tx"], row["position"]), row["events"]

    # -- running -----------------------------------------------------------

    async def run(self, stop: asyncio.Event, *, poll: float = 1.0) -> None:
        """Lead the projection until `stop` is set: catch up, then follow the log (NOTIFY, polling as fallback).

        A database that goes away is waited for, not fatal: the projector logs it and tries again.
        """
        while not stop.is_set():
            try:
                await self._lead(stop, poll)
            except (RegistryError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("projection %s: %s; trying again", self.projection.name, type(exc).__name__)
                await _sleep(stop, poll)

    async def _lead(self, stop: asyncio.Event, poll: float) -> None:
        p = self.projection
        await p.prepare(self.store)
        generation = await self.ensure()
        leader = await self._connect()
        listener = await self.store.listen()
        try:
            with driver_errors():
                while not stop.is_set():
                    if await leader.fetchval("SELECT pg_try_advisory_lock($1)", lock_key(p.name)):
                        break
                    await _sleep(stop, poll)
                log.info("projection %s: leading (generation %d)", p.name, generation)
                while not stop.is_set():
                    generation = await self.catch_up_serving(generation, stop)
                    await _first(listener.wait(poll), stop)
        finally:
            await listener.close()
            await leader.close()  # releases the leader lock
            log.info("projection %s: stopped", p.name)

    async def catch_up_once(self) -> int | None:
        """Take the lead, catch up (swapping in a pending generation), let go; None if another process leads."""
        await self.projection.prepare(self.store)
        generation = await self.ensure()
        leader = await self._connect()
        try:
            if not await leader.fetchval("SELECT pg_try_advisory_lock($1)", lock_key(self.projection.name)):
                return None
            return await self.catch_up_serving(generation)
        finally:
            await leader.close()

    async def catch_up_serving(self, generation: int, stop: asyncio.Event | None = None) -> int:
        """Swap in a pending generation (a rebuild, or a new version of the fold) if any, then catch up; return
        the serving generation. The caller must lead the projection, or be its only runner."""
        generation = await self._adopt_pending(generation, stop)
        await self.catch_up(generation, stop=stop)
        return generation

    async def _adopt_pending(self, generation: int, stop: asyncio.Event | None = None) -> int:
        """Swap in a generation a rebuild handed over, after catching it up (the leader does this; a leader told
        to stop leaves it pending for the next one)."""
        conn = await self._connect()
        try:
            pending = await conn.fetchval("SELECT pending FROM projection_state WHERE name = $1", self.projection.name)
        finally:
            await conn.close()
        if pending is None or pending == generation:
            return generation
        await self.projection.prepare(self.store)
        await self.catch_up(pending, stop=stop)
        if stop is not None and stop.is_set():
            return generation
        await self._swap(generation, pending)
        return int(pending)

    async def _swap(self, old: int, new: int) -> None:
        p = self.projection
        conn = await self._connect()
        try:
            with driver_errors():
                async with conn.transaction():
                    await self._point_views(conn, new)
                    await conn.execute(
                        "UPDATE projection_state SET generation = $2, version = $3, pending = NULL, swapped_at = now()"
                        " WHERE name = $1", p.name, new, p.version,
                    )  # fmt: skip
                    for table in physical(p, old).values():
                        await conn.execute(f"DROP TABLE IF EXISTS {table}")
                    await conn.execute("DELETE FROM projection_checkpoints WHERE name = $1 AND generation = $2",
                                       p.name, old)  # fmt: skip
        finally:
            await conn.close()

    async def rebuild(self, *, progress: Progress = lambda n: None, wait: float = 60.0) -> int:
        """Build a new generation from the start of the log and swap it in; the old one serves until then."""
        p = self.projection
        await p.prepare(self.store)
        serving = await self.ensure()
        conn = await self._connect()
        try:
            with driver_errors():
                new = int(await conn.fetchval(
                    "SELECT greatest(generation, coalesce(pending, 0)) + 1 FROM projection_state WHERE name = $1",
                    p.name))  # fmt: skip
                async with conn.transaction():
                    await self._create(conn, new)
        finally:
            await conn.close()
        await self.catch_up(new, progress=progress, batch=REBUILD_BATCH)
        await self._analyze(new)
        leader = await self._connect()
        try:
            if await leader.fetchval("SELECT pg_try_advisory_lock($1)", lock_key(p.name)):
                await self.catch_up(new, progress=progress)
                await self._swap(serving, new)
                return new
            # A leader is running: hand the generation over and wait for the swap.
            await leader.execute("UPDATE projection_state SET pending = $2 WHERE name = $1", p.name, new)
            for _ in range(int(wait * 10)):
                if await leader.fetchval("SELECT generation FROM projection_state WHERE name = $1", p.name) == new:
                    return new
                await asyncio.sleep(0.1)
            raise TimeoutError(f"the leader of projection {p.name} did not swap in generation {new}")
        finally:
            await leader.close()

    async def _analyze(self, generation: int) -> None:
        """Gather the statistics of a generation filled in bulk before it serves, as PostgreSQL advises after a bulk
        load: until autovacuum gets to it, the planner would guess its tables' sizes."""
        conn = await self._connect()
        try:
            with driver_errors():
                for table in physical(self.projection, generation).values():
                    await conn.execute(f"ANALYZE {table}")
        finally:
            await conn.close()

    async def status(self) -> Status:
        p = self.projection
        conn = await self._connect()
        try:
            with driver_errors():
                generation = await conn.fetchval("SELECT generation FROM projection_state WHERE name = $1", p.name)
                if generation is None:
                    cursor, events = START, 0
                    generation = 0
                else:
                    cursor, events = await self.cursor(conn, generation)
        finally:
            await conn.close()
        head = await self.store.horizon()
        lag = 0
        async for batch in self.store.iterate(cursor, stream_types=p.stream_types, batch=10_000):
            lag += len(batch)
        return Status(p.name, p.version, int(generation), cursor, events, head, lag)


async def _first(waiting: Awaitable[object], stop: asyncio.Event) -> None:
    """Wait for `waiting` or for `stop`, whichever comes first (a leader told to stop does not sit out its poll)."""
    tasks = [asyncio.ensure_future(waiting), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    """Wait `seconds`, or less if `stop` is set meanwhile."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass


class SimulatedCrash(RuntimeError):
    """Raised by catch_up(fail_after=...) inside a batch's transaction, to test crash safety."""


def table_digest_sql(table: str) -> str:
    """A query giving an md5 of a table's rows, in the order of their text (a total order: rows that agree on
    every key still sort the same way, which an order by key columns would leave to chance)."""
    return f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text COLLATE \"C\"), '')) FROM {table} t"


__all__ = [
    "Lag",
    "Projection",
    "Projector",
    "SimulatedCrash",
    "Status",
    "lag",
    "lock_key",
    "physical",
    "table_digest_sql",
]
