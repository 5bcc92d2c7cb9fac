"""Followers see every committed event exactly once, in a stable order.

The two forced interleavings of ARCHITECTURE.md ("The global order") hold
transactions open on dedicated connections while others commit. Each scenario
is also run with the naive readers, to show that it catches them: a follower
reading by bare position loses an event in both, and one that filters on the
oldest running transaction but orders by position loses one in the second.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
from hypothesis import given
from hypothesis import strategies as st

from registry.events import START, Cursor, Metadata, NewEvent
from registry.store import EventStore
from tests.conftest import Db, new_stream
from tests.registry.test_store import NOW, happened

META = Metadata(actor_id="officer-1", actor_role="commune_officer")

_INSERT = """
INSERT INTO events (stream_id, stream_type, version, event_type, schema_version, data, metadata,
                    occurred_at, hash)
VALUES ($1, 'thing', 1, 'Happened', 1, $2, '{}', now(), $3)
RETURNING position
"""


async def insert_event(conn: asyncpg.Connection, stream_id: str) -> int:
    """Insert a one-event stream on conn, in whatever transaction conn has open."""
    return await conn.fetchval(_INSERT, stream_id, b'{"n":1}', hashlib.sha256(stream_id.encode()).digest())


@dataclass
class Follower:
    """Reads the global order in batches and remembers where it got to; `read` is the rule under test."""

    read: Callable[[object], Awaitable[tuple[list[str], object]]]
    checkpoint: object
    seen: list[str]

    async def poll(self) -> None:
        streams, self.checkpoint = await self.read(self.checkpoint)
        self.seen.extend(streams)


def store_follower(store: EventStore, start: Cursor) -> Follower:
    async def read(after: object) -> tuple[list[str], object]:
        assert isinstance(after, Cursor)
        events = await store.read_all(after, limit=1000)
        return [e.stream_id for e in events], events[-1].cursor if events else after

    return Follower(read, start, [])


def bare_position_follower(pool: asyncpg.Pool, start: int) -> Follower:
    async def read(after: object) -> tuple[list[str], object]:
        rows = await pool.fetch("SELECT position, stream_id FROM events WHERE position > $1 ORDER BY position", after)
        return [r["stream_id"] for r in rows], rows[-1]["position"] if rows else after

    return Follower(read, start, [])


def xmin_position_follower(pool: asyncpg.Pool, start: int) -> Follower:
    async def read(after: object) -> tuple[list[str], object]:
        rows = await pool.fetch(
            "SELECT position, stream_id FROM events WHERE position > $1"
            " AND transaction_id < pg_snapshot_xmin(pg_current_snapshot()) ORDER BY position",
            after,
        )
        return [r["stream_id"] for r in rows], rows[-1]["position"] if rows else after

    return Follower(read, start, [])


@asynccontextmanager
async def two_writers(db: Db) -> AsyncIterator[tuple[asyncpg.Connection, asyncpg.Connection]]:
    conn_a, conn_b = await db.database.connect(), await db.database.connect()
    try:
        yield conn_a, conn_b
    finally:
        await conn_a.close()
        await conn_b.close()


async def low_position_commits_last(db: Db, follower: Follower) -> tuple[str, str]:
    """B inserts (low position) and stays open; A inserts (higher position) and commits; then B commits."""
    a, b = f"a-{uuid.uuid4().hex}", f"b-{uuid.uuid4().hex}"
    async with two_writers(db) as (conn_a, conn_b):
        tx_b = conn_b.transaction()
        await tx_b.start()
        low = await insert_event(conn_b, b)
        high = await insert_event(conn_a, a)  # autocommit
        assert low < high
        await follower.poll()
        await tx_b.commit()
        await follower.poll()
    return a, b


async def early_id_inserts_last(db: Db, follower: Follower) -> tuple[str, str]:
    """A takes its transaction id first; B takes a later id, inserts and stays open; A inserts and commits."""
    a, b = f"a-{uuid.uuid4().hex}", f"b-{uuid.uuid4().hex}"
    async with two_writers(db) as (conn_a, conn_b):
        tx_a, tx_b = conn_a.transaction(), conn_b.transaction()
        await tx_a.start()
        id_a = await conn_a.fetchval("SELECT pg_current_xact_id()")
        await tx_b.start()
        low = await insert_event(conn_b, b)
        id_b = await conn_b.fetchval("SELECT pg_current_xact_id()")
        high = await insert_event(conn_a, a)
        await tx_a.commit()
        assert id_a < id_b and low < high
        await follower.poll()
        await tx_b.commit()
        await follower.poll()
    return a, b


async def max_position(pool: asyncpg.Pool) -> int:
    return await pool.fetchval("SELECT coalesce(max(position), 0) FROM events")


def test_the_store_sees_an_event_whose_low_position_commits_last(run, fresh_db: Db) -> None:
    follower = store_follower(fresh_db.store, START)
    a, b = run(low_position_commits_last(fresh_db, follower))
    assert sorted(follower.seen) == sorted([a, b])


def test_the_store_sees_an_event_whose_transaction_took_its_id_first_and_inserted_last(run, fresh_db: Db) -> None:
    follower = store_follower(fresh_db.store, START)
    a, b = run(early_id_inserts_last(fresh_db, follower))
    assert follower.seen == [a, b]  # A's older transaction id sorts first, although its position is higher


def test_reading_by_bare_position_loses_an_event_in_both_interleavings(run, fresh_db: Db) -> None:
    for scenario in (low_position_commits_last, early_id_inserts_last):
        follower = bare_position_follower(fresh_db.pool, run(max_position(fresh_db.pool)))
        a, b = run(scenario(fresh_db, follower))
        assert follower.seen == [a]  # b is below the checkpoint when it commits: lost


def test_filtering_on_the_oldest_transaction_but_ordering_by_position_loses_the_early_id(run, fresh_db: Db) -> None:
    follower = xmin_position_follower(fresh_db.pool, run(max_position(fresh_db.pool)))
    run(low_position_commits_last(fresh_db, follower))
    assert len(follower.seen) == 2  # this one it survives
    follower = xmin_position_follower(fresh_db.pool, run(max_position(fresh_db.pool)))
    a, _ = run(early_id_inserts_last(fresh_db, follower))
    assert follower.seen == [a]


@given(
    writers=st.integers(min_value=2, max_value=6),
    appends=st.integers(min_value=1, max_value=6),
    streams=st.integers(min_value=1, max_value=4),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_a_follower_reading_during_concurrent_appends_sees_every_event_exactly_once(
    run, shared_db: Db, writers: int, appends: int, streams: int, seed: int
) -> None:
    store = shared_db.store
    rng = random.Random(seed)
    prefix = f"f{uuid.uuid4().hex[:8]}-"
    names = [f"{prefix}{i}" for i in range(streams)]

    async def writer(w: int) -> None:
        conn = await shared_db.database.connect()
        try:
            for i in range(appends):
                stream = rng.choice(names)
                if rng.random() < 0.5:
                    # a transaction that stays open a while, holding its position
                    async with conn.transaction():
                        await insert_event(conn, f"{stream}-{w}-{i}")
                        await asyncio.sleep(rng.random() / 100)
                else:
                    events = await store.read_stream(stream)
                    try:
                        await store.append(stream, "thing", len(events), [happened(i)], META)
                    except Exception:
                        pass  # a lost race: nothing was written
                await asyncio.sleep(rng.random() / 200)
        finally:
            await conn.close()

    async def scenario() -> tuple[list[int], list[int]]:
        start = await store.horizon()
        seen: list[int] = []
        cursor = start
        done = asyncio.gather(*(writer(w) for w in range(writers)))
        while True:
            finished = done.done()
            events = await store.read_all(cursor, limit=7)
            seen.extend(e.position for e in events if e.stream_id.startswith(prefix))
            if events:
                cursor = events[-1].cursor
            elif finished:
                break
            else:
                await asyncio.sleep(0.002)
        await done
        stored = await shared_db.pool.fetch(
            "SELECT position FROM events WHERE stream_id LIKE $1 ORDER BY transaction_id, position", prefix + "%"
        )
        return seen, [r["position"] for r in stored]

    seen, stored = run(scenario())
    assert seen == stored  # every committed event, once, in (transaction_id, position) order


def test_cursor_tokens_round_trip_and_reject_garbage() -> None:
    import pytest

    from registry.errors import InvalidInput

    cursor = Cursor(2**63 + 5, 42)
    assert Cursor.from_token(cursor.token()) == cursor
    for bad in ["", "!!", "bm90LWEtY3Vyc29y", Cursor(1, 2).token() + "x"]:
        with pytest.raises(InvalidInput):
            Cursor.from_token(bad, field="after")


def test_read_all_stops_at_until(run, fresh_db: Db) -> None:
    store = fresh_db.store
    for _ in range(5):
        run(store.append(new_stream(), "thing", 0, [happened(1)], META))
    events = run(store.read_all(START))
    assert len(events) == 5
    assert run(store.read_all(START, until=events[2].cursor)) == events[:3]
    assert run(store.read_all(events[2].cursor)) == events[3:]
    assert run(store.horizon()) == events[-1].cursor
    _ = NewEvent, NOW
