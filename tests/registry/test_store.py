"""The event store's contract: appends, reads, concurrency, idempotency, bad input.

Runs against the embedded server, or against DATABASE_URL when it is set.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.errors import (
    ConcurrencyError,
    IdempotencyConflict,
    InvalidEventData,
    InvalidInput,
    StreamTypeMismatch,
    UnknownEventType,
    UnknownStreamType,
)
from registry.events import Catalog, Metadata, NewEvent
from registry.store import EventStore, StreamAppend
from tests.conftest import Db, Happened, Tagged, new_stream

NOW = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
META = Metadata(actor_id="officer-1", actor_role="commune_officer", jurisdiction="commune:00001", reason="test")


def happened(n: int, note: str = "") -> NewEvent:
    return NewEvent("Happened", {"n": n, "note": note}, NOW)


async def count_events(store: EventStore) -> int:
    return (await store.stats())[0]


def test_it_appends_and_reads_a_stream_back(run, store: EventStore) -> None:
    stream = new_stream()
    first = run(store.append(stream, "thing", 0, [happened(1), happened(2, "Tuần Giáo")], META))
    second = run(store.append(stream, "thing", 2, [NewEvent("Happened", Happened(n=3), NOW)], META))
    events = run(store.read_stream(stream))

    assert (first.first_version, first.last_version, second.last_version) == (1, 2, 3)
    assert [e.version for e in events] == [1, 2, 3]
    assert [e.data["n"] for e in events] == [1, 2, 3]
    assert events[1].data["note"] == "Tuần Giáo"
    assert events[0].prev_hash is None
    assert events[1].prev_hash == events[0].hash and events[2].prev_hash == events[1].hash
    assert events[2].hash == second.last_hash
    assert [e.position for e in events] == [*first.positions, *second.positions]
    assert events[0].metadata == META.model_dump(exclude_none=True)
    assert events[0].occurred_at == NOW
    assert events[0].recorded_at > NOW
    assert events[0].transaction_id == first.transaction_id != second.transaction_id


def test_it_reads_part_of_a_stream_and_nothing_for_an_unknown_one(run, store: EventStore) -> None:
    stream = new_stream()
    run(store.append(stream, "thing", 0, [happened(i) for i in range(5)], META))
    assert [e.version for e in run(store.read_stream(stream, from_version=2, to_version=3))] == [2, 3]
    assert run(store.read_stream(new_stream())) == []


def test_it_keeps_business_time_apart_from_system_time(run, store: EventStore) -> None:
    stream = new_stream()
    last_month = NOW - timedelta(days=30)
    run(store.append(stream, "thing", 0, [NewEvent("Happened", {"n": 1}, last_month)], META))
    [event] = run(store.read_stream(stream))
    assert event.occurred_at == last_month
    assert event.recorded_at - event.occurred_at > timedelta(days=29)


@pytest.mark.parametrize("expected", [0, 1, 3, 9])
def test_it_raises_concurrency_error_when_the_expected_version_is_not_current(run, store, expected) -> None:
    stream = new_stream()
    run(store.append(stream, "thing", 0, [happened(1), happened(2)], META))
    before = run(count_events(store))
    with pytest.raises(ConcurrencyError) as caught:
        run(store.append(stream, "thing", expected, [happened(3)], META))
    assert (caught.value.stream_id, caught.value.expected, caught.value.actual) == (stream, expected, 2)
    assert run(count_events(store)) == before


def test_a_second_store_with_a_stale_head_cannot_overwrite(run, shared_db: Db) -> None:
    stream = new_stream()
    one, two = shared_db.store, EventStore(shared_db.pool, shared_db.store.catalog)
    run(one.append(stream, "thing", 0, [happened(1)], META))
    run(two.read_stream(stream))  # two caches version 1
    run(one.append(stream, "thing", 1, [happened(2)], META))
    with pytest.raises(ConcurrencyError):
        run(two.append(stream, "thing", 1, [happened(99)], META))
    run(two.append(stream, "thing", 2, [happened(3)], META))
    assert [e.data["n"] for e in run(one.read_stream(stream))] == [1, 2, 3]


@given(
    writers=st.integers(min_value=2, max_value=6),
    per_writer=st.integers(min_value=1, max_value=4),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_concurrent_writers_on_one_stream_each_version_has_one_winner_and_nothing_is_lost(
    run, store: EventStore, writers: int, per_writer: int, seed: int
) -> None:
    stream = new_stream()
    rng = random.Random(seed)
    wins: dict[int, list[int]] = {}
    conflicts = 0

    async def writer(w: int) -> None:
        nonlocal conflicts
        written = 0
        while written < per_writer:
            events = await store.read_stream(stream)
            await asyncio.sleep(rng.random() / 500)
            try:
                result = await store.append(stream, "thing", len(events), [happened(w * 1000 + written)], META)
            except ConcurrencyError as exc:
                assert exc.actual > exc.expected
                conflicts += 1
                continue
            wins.setdefault(result.last_version, []).append(w)
            written += 1

    async def scenario() -> None:
        await asyncio.gather(*(writer(w) for w in range(writers)))

    run(scenario())
    events = run(store.read_stream(stream))
    assert [e.version for e in events] == list(range(1, writers * per_writer + 1))
    assert all(len(winners) == 1 for winners in wins.values())
    assert sorted(e.data["n"] for e in events) == sorted(
        w * 1000 + i for w in range(writers) for i in range(per_writer)
    )


# -- idempotency --------------------------------------------------------------


def test_a_retried_append_returns_the_original_result_and_writes_nothing(run, store: EventStore) -> None:
    stream, key = new_stream(), new_stream()
    first = run(store.append(stream, "thing", 0, [happened(1)], META, idempotency_key=key))
    before = run(count_events(store))
    again = run(store.append(stream, "thing", 0, [happened(1)], META, idempotency_key=key))
    assert again.replayed and not first.replayed
    assert (again.positions, again.last_hash, again.last_version) == (first.positions, first.last_hash, 1)
    assert run(count_events(store)) == before
    # also after the stream has moved on
    run(store.append(stream, "thing", 1, [happened(2)], META))
    assert run(store.append(stream, "thing", 0, [happened(1)], META, idempotency_key=key)).positions == first.positions


def test_the_same_key_with_other_content_is_an_idempotency_conflict(run, store: EventStore) -> None:
    stream, key = new_stream(), new_stream()
    run(store.append(stream, "thing", 0, [happened(1)], META, idempotency_key=key))
    before = run(count_events(store))
    with pytest.raises(IdempotencyConflict):
        run(store.append(stream, "thing", 1, [happened(2)], META, idempotency_key=key))
    with pytest.raises(IdempotencyConflict):
        run(store.append(new_stream(), "thing", 0, [happened(1)], META, idempotency_key=key))
    assert run(count_events(store)) == before


@given(
    attempts=st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(min_value=0, max_value=2)), min_size=1, max_size=12
    )
)
def test_idempotent_retries_write_once(run, store: EventStore, attempts) -> None:
    """A retry re-sends the first request under its key: it replays; other content under the key conflicts."""
    stream, prefix = new_stream(), new_stream()
    first: dict[str, tuple[int, int, tuple[int, ...]]] = {}  # key -> (expected version, n, positions)
    for key, n in attempts:
        if key in first:
            version, original, positions = first[key]
            if n == original:
                result = run(store.append(stream, "thing", version, [happened(n)], META, idempotency_key=prefix + key))
                assert result.replayed and result.positions == positions
            else:
                with pytest.raises(IdempotencyConflict):
                    run(store.append(stream, "thing", version, [happened(n)], META, idempotency_key=prefix + key))
            continue
        version = len(run(store.read_stream(stream)))
        result = run(store.append(stream, "thing", version, [happened(n)], META, idempotency_key=prefix + key))
        assert not result.replayed
        first[key] = (version, n, result.positions)
    events = run(store.read_stream(stream))
    assert len(events) == len(first)
    assert [e.metadata["idempotency_key"] for e in events] == [prefix + k for k in first]


def test_concurrent_appends_with_one_key_write_once(run, store: EventStore) -> None:
    stream, key = new_stream(), new_stream()

    async def scenario():
        return await asyncio.gather(
            *(store.append(stream, "thing", 0, [happened(7)], META, idempotency_key=key) for _ in range(6)),
            return_exceptions=True,
        )

    results = run(scenario())
    assert all(not isinstance(r, BaseException) for r in results), results
    assert sum(not r.replayed for r in results) == 1
    assert len({r.positions for r in results}) == 1
    assert len(run(store.read_stream(stream))) == 1


# -- bad input ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("stream_type", "expected_version", "events", "error", "field"),
    [
        ("nothing", 0, [NewEvent("Happened", {"n": 1}, NOW)], UnknownStreamType, "stream_type"),
        ("thing", 0, [NewEvent("Vanished", {"n": 1}, NOW)], UnknownEventType, "events.0.event_type"),
        ("thing", 0, [NewEvent("OtherHappened", {"n": 1}, NOW)], UnknownEventType, "events.0.event_type"),
        ("thing", 0, [NewEvent("Happened", {"m": 1}, NOW)], InvalidEventData, "events.0.data.n"),
        ("thing", 0, [NewEvent("Happened", {"n": 1, "extra": 1}, NOW)], InvalidEventData, "events.0.data.extra"),
        ("thing", 0, [NewEvent("Happened", {"n": "many"}, NOW)], InvalidEventData, "events.0.data.n"),
        ("thing", 0, [happened(1), NewEvent("Happened", {}, NOW)], InvalidEventData, "events.1.data.n"),
        ("thing", -1, [NewEvent("Happened", {"n": 1}, NOW)], InvalidInput, "expected_version"),
        ("thing", True, [NewEvent("Happened", {"n": 1}, NOW)], InvalidInput, "expected_version"),
        ("thing", 0, [], InvalidInput, "events"),
        ("thing", 0, [NewEvent("Happened", {"n": 1}, datetime(2026, 1, 1))], InvalidInput, "events.0.occurred_at"),
        ("thing", 0, [NewEvent("Tagged", {"payload": [1.5]}, NOW)], InvalidEventData, "events.0.data.payload.0"),
        ("thing", 0, [NewEvent("Tagged", {"payload": {"a": 2**60}}, NOW)], InvalidEventData, "events.0.data.payload.a"),
        ("thing", 0, [NewEvent("Tagged", {"payload": "nul\x00"}, NOW)], InvalidEventData, "events.0.data.payload"),
        ("thing", 0, [NewEvent("Tagged", {"payload": object()}, NOW)], InvalidEventData, "events.0.data.payload"),
        ("thing", 0, [NewEvent("Happened", Tagged(payload=1), NOW)], InvalidEventData, "events.0.data"),
    ],
)
def test_it_rejects_bad_input_with_a_typed_error_naming_the_field_and_writes_nothing(
    run, store: EventStore, stream_type, expected_version, events, error, field
) -> None:
    before = run(count_events(store))
    stream = new_stream()
    with pytest.raises(error) as caught:
        run(store.append(stream, stream_type, expected_version, events, META))
    assert caught.value.field == field
    assert "nul" not in str(caught.value) and "many" not in str(caught.value)  # input never echoed
    assert run(count_events(store)) == before
    assert run(store.read_stream(stream)) == []


@pytest.mark.parametrize(
    ("stream_id", "metadata", "key", "field"),
    [
        ("", META, None, "stream_id"),
        ("has space", META, None, "stream_id"),
        ("x" * 201, META, None, "stream_id"),
        ("ok", {"actor_id": "a"}, None, "metadata.actor_role"),
        ("ok", {"actor_id": "a", "actor_role": "r", "mood": "x"}, None, "metadata.mood"),
        ("ok", META, "", "idempotency_key"),
    ],
)
def test_it_rejects_bad_stream_ids_metadata_and_keys(run, store: EventStore, stream_id, metadata, key, field) -> None:
    with pytest.raises(InvalidInput) as caught:
        run(store.append(stream_id, "thing", 0, [happened(1)], metadata, idempotency_key=key))
    assert caught.value.field == field


def test_a_stream_keeps_its_stream_type(run, store: EventStore) -> None:
    stream = new_stream()
    run(store.append(stream, "thing", 0, [happened(1)], META))
    with pytest.raises(StreamTypeMismatch):
        run(store.append(stream, "other", 1, [NewEvent("OtherHappened", {"n": 2}, NOW)], META))
    assert len(run(store.read_stream(stream))) == 1


def test_the_global_order_can_be_read_for_some_stream_types_only(run, fresh_db: Db) -> None:
    store = fresh_db.store
    for n in range(6):
        stream_type, event_type = ("thing", "Happened") if n % 2 else ("other", "OtherHappened")
        run(store.append(new_stream(), stream_type, 0, [NewEvent(event_type, {"n": n}, NOW)], META))
    everything = run(store.read_all())
    others = run(store.read_all(stream_types=["other"], limit=2))
    assert [e.data["n"] for e in others] == [0, 2]
    rest = run(store.read_all(others[-1].cursor, stream_types=["other"]))
    assert [e.data["n"] for e in rest] == [4]  # resuming from the cursor skips and repeats nothing
    assert [e for e in everything if e.stream_type == "other"] == others + rest
    with pytest.raises(UnknownStreamType):
        run(store.read_all(stream_types=["x'; DROP TABLE events; --"]))


# -- upcasting ----------------------------------------------------------------


def test_old_schema_versions_are_upcast_when_read_and_never_rewritten(run, shared_db: Db) -> None:
    from pydantic import BaseModel, ConfigDict

    class V1(BaseModel):
        model_config = ConfigDict(extra="forbid")
        name: str

    class V2(BaseModel):
        model_config = ConfigDict(extra="forbid")
        full_name: str
        alias: str | None

    old, new = Catalog(), Catalog()
    old.add_event("person", "Named", V1)
    new.add_event("person", "Named", V2, version=2, upcasters={1: lambda d: {"full_name": d["name"], "alias": None}})
    stream = new_stream()
    run(EventStore(shared_db.pool, old).append(stream, "person", 0, [NewEvent("Named", {"name": "A"}, NOW)], META))
    writer = EventStore(shared_db.pool, new)
    run(writer.append(stream, "person", 1, [NewEvent("Named", {"full_name": "B", "alias": "b"}, NOW)], META))

    first, second = run(writer.read_stream(stream))
    assert (first.schema_version, first.stored_schema_version, first.data) == (2, 1, {"full_name": "A", "alias": None})
    assert (second.schema_version, second.stored_schema_version) == (2, 2)
    stored = run(
        shared_db.pool.fetchval("SELECT schema_version FROM events WHERE stream_id = $1 AND version = 1", stream)
    )
    assert stored == 1


def test_a_catalog_needs_every_upcaster() -> None:
    catalog = Catalog()
    with pytest.raises(ValueError, match="upcaster"):
        catalog.add_event("person", "Named", Happened, version=3, upcasters={1: dict})


# -- immutability -------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE events SET data = '{}'::jsonb",
        "DELETE FROM events",
        "TRUNCATE events",
        "UPDATE idempotency_keys SET stream_id = 'x'",
        "DELETE FROM checkpoints",
        "TRUNCATE checkpoints",
    ],
)
def test_stored_events_cannot_be_changed_by_the_app_role_nor_by_the_owner(run, shared_db: Db, statement: str) -> None:
    run(shared_db.store.append(new_stream(), "thing", 0, [happened(1)], META))
    before = run(shared_db.pool.fetchval("SELECT count(*) FROM events"))

    async def attempt(conn) -> None:
        with pytest.raises(asyncpg.PostgresError) as caught:
            await conn.execute(statement)
        assert caught.value.sqlstate in ("42501", "0A000")  # insufficient privilege / append-only trigger

    async def scenario() -> int:
        async with shared_db.pool.acquire() as app:
            assert await app.fetchval("SELECT current_user") == "registry_app"
            await attempt(app)
        owner = await shared_db.owner()
        try:
            await attempt(owner)
        finally:
            await owner.close()
        return await shared_db.pool.fetchval("SELECT count(*) FROM events")

    assert run(scenario()) == before


def test_the_app_role_cannot_choose_position_transaction_or_system_time(run, shared_db: Db) -> None:
    for column, value in [("position", "1"), ("transaction_id", "'1'::xid8"), ("recorded_at", "now()")]:
        with pytest.raises(asyncpg.PostgresError):
            run(
                shared_db.pool.execute(
                    f"INSERT INTO events (stream_id, stream_type, version, event_type, schema_version, data,"
                    f" metadata, occurred_at, hash, {column}) VALUES ('x', 'thing', 1, 'Happened', 1, '{{}}',"
                    f" '{{}}', now(), sha256(''), {value})"
                )
            )


# -- listening ----------------------------------------------------------------


def test_listeners_wake_on_append(run, store: EventStore) -> None:
    async def scenario() -> tuple[bool, bool]:
        listener = await store.listen()
        try:
            idle = await listener.wait(0.05)
            await store.append(new_stream(), "thing", 0, [happened(1)], META)
            woke = await listener.wait(5)
            return idle, woke
        finally:
            await listener.close()

    assert run(scenario()) == (False, True)


# -- batches of several streams ------------------------------------------------


def test_a_batch_appends_to_several_streams_in_one_transaction_with_their_chains(run, store: EventStore) -> None:
    old, new_one, new_two = new_stream(), new_stream(), new_stream()
    run(store.append(old, "thing", 0, [happened(1)], META))
    results = run(store.append_batch([
        StreamAppend(new_one, "thing", 0, [happened(10), happened(11)], META),
        StreamAppend(old, "thing", 1, [happened(2)], META),
        StreamAppend(new_two, "other", 0, [NewEvent("OtherHappened", {"n": 20}, NOW)], META),
    ]))  # fmt: skip

    assert [(r.stream_id, r.first_version, r.last_version) for r in results] == [
        (new_one, 1, 2), (old, 2, 2), (new_two, 1, 1)]  # fmt: skip
    assert len({r.transaction_id for r in results}) == 1
    for result in results:
        events = run(store.read_stream(result.stream_id))
        assert [e.position for e in events if e.version >= result.first_version] == list(result.positions)
        assert events[-1].hash == result.last_hash
        assert all(e.prev_hash == p.hash for p, e in zip(events, events[1:], strict=False))
    assert [e.data["n"] for e in run(store.read_stream(old))] == [1, 2]


@pytest.mark.parametrize("moved", ["new_stream_exists", "old_stream_moved", "expects_too_much"])
def test_a_batch_with_one_stream_at_another_version_writes_nothing(run, shared_db: Db, moved: str) -> None:
    store = shared_db.store
    old, fresh = new_stream(), new_stream()
    run(store.append(old, "thing", 0, [happened(1)], META))
    expected_old = 1
    if moved == "new_stream_exists":
        run(store.append(fresh, "thing", 0, [happened(1)], META))
    elif moved == "old_stream_moved":
        # Another store (another process) moves the stream on: this store's cached head is stale.
        run(EventStore(shared_db.pool, store.catalog).append(old, "thing", 1, [happened(2)], META))
    else:
        expected_old = 5
    before = run(count_events(store))
    with pytest.raises(ConcurrencyError) as caught:
        run(store.append_batch([StreamAppend(fresh, "thing", 0, [happened(7)], META),
                                StreamAppend(old, "thing", expected_old, [happened(8)], META)]))  # fmt: skip
    assert caught.value.stream_id == (fresh if moved == "new_stream_exists" else old)
    assert run(count_events(store)) == before


def test_a_batch_racing_another_writer_for_a_stream_writes_nothing_of_its_own(run, shared_db: Db) -> None:
    """The head is read before the insert: a writer that extends the stream in between makes the insert fail on
    the stream's unique version, and the batch's other streams are not written either."""
    store = shared_db.store
    old, fresh = new_stream(), new_stream()
    run(store.append(old, "thing", 0, [happened(1)], META))
    other = EventStore(shared_db.pool, store.catalog)
    original = store._batch_heads

    async def heads_then_lose_the_race(prepared):  # type: ignore[no-untyped-def]
        heads = await original(prepared)
        await other.append(old, "thing", 1, [happened(99)], META)
        return heads

    store._batch_heads = heads_then_lose_the_race  # type: ignore[method-assign]
    try:
        with pytest.raises(ConcurrencyError) as caught:
            run(store.append_batch([StreamAppend(fresh, "thing", 0, [happened(7)], META),
                                    StreamAppend(old, "thing", 1, [happened(8)], META)]))  # fmt: skip
    finally:
        del store._batch_heads
    assert caught.value.stream_id == old and caught.value.actual == 2
    assert run(store.read_stream(fresh)) == []
    assert [e.data["n"] for e in run(store.read_stream(old))] == [1, 99]


def test_a_batch_refuses_bad_input_naming_the_field(run, store: EventStore) -> None:
    stream = new_stream()
    run(store.append(stream, "thing", 0, [happened(1)], META))
    cases = [
        ([StreamAppend(stream, "other", 1, [NewEvent("OtherHappened", {"n": 1}, NOW)], META)],
         StreamTypeMismatch, "appends.0.stream_type"),
        ([StreamAppend(new_stream(), "thing", 0, [happened(1)], META), StreamAppend(stream, "thing", 1,
         [NewEvent("Happened", {"n": "x"}, NOW)], META)], InvalidEventData, "events.0.data.n"),
        ([StreamAppend(stream, "thing", 1, [happened(2)], META)] * 2, InvalidInput, "appends.1.stream_id"),
    ]  # fmt: skip
    before = run(count_events(store))
    for batch, error, field in cases:
        with pytest.raises(error) as caught:
            run(store.append_batch(batch))
        assert caught.value.field == field
    assert run(count_events(store)) == before
    assert run(store.append_batch([])) == []


@given(sizes=st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=6), seed=st.integers(0, 2**32))
def test_concurrent_batches_over_shared_streams_each_version_has_one_winner(
    run, store: EventStore, sizes, seed
) -> None:
    """Writers racing with batches over overlapping streams: each batch is all or nothing, and what is stored is
    exactly the batches that won, every chain whole."""
    rng = random.Random(seed)
    streams = [new_stream() for _ in range(3)]
    won: list[list[tuple[str, int]]] = []

    async def writer(w: int, size: int) -> None:
        for attempt in range(30):
            chosen = rng.sample(streams, rng.randint(1, 3))
            heads = {s: len(await store.read_stream(s)) for s in chosen}
            await asyncio.sleep(rng.random() / 1000)
            batch = [StreamAppend(s, "thing", heads[s], [happened(w * 100 + attempt * 10 + i) for i in range(size)],
                                  META) for s in chosen]  # fmt: skip
            try:
                await store.append_batch(batch)
            except ConcurrencyError:
                continue
            won.append([(s, w * 100 + attempt * 10 + i) for s in chosen for i in range(size)])
            return

    async def scenario() -> None:
        await asyncio.gather(*(writer(w, size) for w, size in enumerate(sizes)))

    run(scenario())
    stored = {s: run(store.read_stream(s)) for s in streams}
    for events in stored.values():
        assert [e.version for e in events] == list(range(1, len(events) + 1))
        assert all(e.prev_hash == p.hash for p, e in zip(events, events[1:], strict=False))
    assert sorted((s, e.data["n"]) for s, events in stored.items() for e in events) == sorted(
        pair for batch in won for pair in batch
    )
