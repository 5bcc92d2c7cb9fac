"""`registry verify` passes on an untouched store and names what a superuser altered."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.events import START
from registry.hashing import MerkleFrontier, canonical_json, event_hash, format_time, leaf_hash
from registry.integrity import CheckpointPolicy, Report, checkpoint_if_due, create_checkpoint, keep_checkpoints, verify
from registry.store import EventStore
from tests.conftest import Db, new_stream
from tests.registry.test_store import META, NOW, happened


def populate(run, store: EventStore, streams: int = 3, events: int = 4) -> None:
    for s in range(streams):
        stream = new_stream()
        for v in range(events):
            run(store.append(stream, "thing", v, [happened(v, f"ghi chú {s}.{v}: Tuần Giáo")], META))


async def superuser(db: Db, sql: str, *args: object) -> None:
    """Run sql as the owner with triggers off, as an administrator bent on tampering would."""
    conn = await db.owner()
    try:
        await conn.execute("SET session_replication_role = replica")
        await conn.execute(sql, *args)
    finally:
        await conn.close()


@given(
    appends=st.lists(
        st.tuples(st.integers(0, 3), st.integers(1, 3), st.text(max_size=8).filter(lambda t: "\x00" not in t)),
        min_size=1,
        max_size=10,
    )
)
def test_the_chains_verify_after_any_sequence_of_appends(run, fresh_db: Db, appends) -> None:
    streams = [new_stream() for _ in range(4)]
    versions = [0] * 4
    store = fresh_db.store
    for stream, count, note in appends:
        run(store.append(streams[stream], "thing", versions[stream], [happened(i, note) for i in range(count)], META))
        versions[stream] += count
    report = run(verify(store))
    assert report.ok, report.findings
    assert report.events >= sum(versions)


COLUMNS = ["data", "metadata", "event_type", "stream_type", "occurred_at", "hash", "prev_hash", "schema_version"]


def tampered(column: str, value: object, offset: int) -> object:
    """Change one byte (one character, one microsecond, one unit) of a stored value."""
    if isinstance(value, bytes) and column in ("hash", "prev_hash"):
        i = offset % len(value)
        return value[:i] + bytes([value[i] ^ (1 + offset % 255)]) + value[i + 1 :]
    if column in ("data", "metadata"):
        decoded = dict(value)  # type: ignore[call-overload]
        key = sorted(k for k, v in decoded.items() if isinstance(v, str) and v)[0]
        text = decoded[key]
        i = offset % len(text)
        decoded[key] = text[:i] + ("x" if text[i] != "x" else "y") + text[i + 1 :]
        return orjson.dumps(decoded)
    if isinstance(value, str):
        i = offset % len(value)
        return value[:i] + ("x" if value[i] != "x" else "y") + value[i + 1 :]
    if column == "occurred_at":
        return value + timedelta(microseconds=1)
    return value + 1


@pytest.fixture
def populated(run, fresh_db: Db) -> Db:
    populate(run, fresh_db.store)
    return fresh_db


@given(event=st.integers(0, 11), column=st.sampled_from(COLUMNS), offset=st.integers(0, 10_000))
def test_verify_names_the_stream_and_position_of_any_single_byte_change(run, populated: Db, event, column, offset):
    rows = run(
        populated.pool.fetch(f"SELECT position, stream_id, version, {column} AS value FROM events ORDER BY position")
    )
    row = rows[event]
    if row["value"] is None:  # prev_hash of a first event: tamper the next column instead
        column = "hash"
        row = run(
            populated.pool.fetchrow(
                "SELECT position, stream_id, version, hash AS value FROM events WHERE position = $1", row["position"]
            )
        )
    changed = tampered(column, row["value"], offset)
    assert changed != row["value"]
    original = orjson.dumps(row["value"]) if column in ("data", "metadata") else row["value"]
    run(superuser(populated, f"UPDATE events SET {column} = $2 WHERE position = $1", row["position"], changed))
    try:
        report = run(verify(populated.store))
        assert not report.ok
        located = {(f.stream_id, f.position) for f in report.findings}
        assert (row["stream_id"], row["position"]) in located, report.findings
    finally:
        run(superuser(populated, f"UPDATE events SET {column} = $2 WHERE position = $1", row["position"], original))
    assert run(verify(populated.store)).ok


def test_verify_reports_an_event_removed_from_the_middle_of_a_stream(run, populated: Db) -> None:
    row = run(populated.pool.fetchrow("SELECT position, stream_id FROM events WHERE version = 2 LIMIT 1"))
    run(superuser(populated, "DELETE FROM events WHERE position = $1", row["position"]))
    report = run(verify(populated.store))
    assert [(f.kind, f.stream_id) for f in report.findings] == [("removed", row["stream_id"])]


def located(report: Report) -> set[tuple[str, int | None]]:
    return {(f.kind, f.position) for f in report.findings}


def test_checkpoints_catch_what_chains_cannot(run, populated: Db) -> None:
    store = populated.store
    checkpoint = run(create_checkpoint(store))
    assert checkpoint is not None and checkpoint.event_count == 12
    assert run(create_checkpoint(store)) is None  # nothing new: nothing written
    assert run(verify(store, published_root=checkpoint.root)).ok

    # system time: outside the chain, inside the checkpoint, which names the event
    row = run(populated.pool.fetchrow("SELECT position, recorded_at FROM events ORDER BY position LIMIT 1"))
    run(superuser(populated, "UPDATE events SET recorded_at = recorded_at + interval '1 microsecond' "
                  "WHERE position = $1", row["position"]))  # fmt: skip
    report = run(verify(store, published_root=checkpoint.root))
    assert located(report) == {("altered", row["position"]), ("checkpoint", None)}
    run(superuser(populated, "UPDATE events SET recorded_at = $2 WHERE position = $1", row["position"],
                  row["recorded_at"]))  # fmt: skip
    assert run(verify(store)).ok

    # the last event of a stream: the chain still looks whole
    last = run(populated.pool.fetchrow("SELECT position FROM events WHERE version = 4 ORDER BY position LIMIT 1"))
    run(superuser(populated, "DELETE FROM events WHERE position = $1", last["position"]))
    report = run(verify(store))
    assert located(report) == {("removed", last["position"]), ("checkpoint", None)}
    assert f"removed: position {last['position']}: " in str(report.findings[0])


async def forge(db: Db, stream_id: str, position: int | None = None, transaction_id: int | None = None) -> int:
    """Append to stream_id, as a superuser, an event whose chain hash is right: what only a checkpoint catches.
    With position and transaction_id, put it at that place of the global order; returns its position."""
    last = await db.pool.fetchrow("SELECT * FROM events WHERE stream_id = $1 ORDER BY version DESC LIMIT 1",
                                  stream_id)  # fmt: skip
    version = last["version"] + 1
    data, metadata = (
        canonical_json({"note": "thêm vào sau"}),
        canonical_json(orjson.loads(orjson.dumps(last["metadata"]))),
    )
    digest = event_hash(stream_id=stream_id, stream_type=last["stream_type"], version=version,
                        event_type=last["event_type"], schema_version=1, data=data, metadata=metadata,
                        occurred_at=format_time(last["occurred_at"]), prev_hash=last["hash"])  # fmt: skip
    conn = await db.owner()
    try:
        await conn.execute("SET session_replication_role = replica")
        found: int = await conn.fetchval(
            "INSERT INTO events (position, transaction_id, stream_id, stream_type, version, event_type, "
            "schema_version, data, metadata, occurred_at, prev_hash, hash) OVERRIDING SYSTEM VALUE "
            "VALUES (coalesce($1, nextval(pg_get_serial_sequence('events', 'position'))), "
            "coalesce($2::text::xid8, pg_current_xact_id()), $3, $4, $5, $6, 1, "
            "convert_from($7::bytea, 'UTF8')::jsonb, convert_from($8::bytea, 'UTF8')::jsonb, $9, $10, $11) "
            "RETURNING position",
            position, None if transaction_id is None else str(transaction_id), stream_id, last["stream_type"],
            version, last["event_type"], data, metadata, last["occurred_at"], last["hash"], digest)  # fmt: skip
    finally:
        await conn.close()
    return found


async def swap(db: Db, one: int, other: int) -> None:
    """Swap two events' places in the global order (position and transaction id), as a superuser."""
    columns = ("stream_id, stream_type, version, event_type, schema_version, data, metadata, occurred_at, "
               "recorded_at, prev_hash, hash")  # fmt: skip
    conn = await db.owner()
    try:
        await conn.execute("SET session_replication_role = replica")
        async with conn.transaction():
            await conn.execute("CREATE TEMP TABLE swapped ON COMMIT DROP AS SELECT * FROM events "
                               "WHERE position IN ($1, $2)", one, other)  # fmt: skip
            await conn.execute("DELETE FROM events WHERE position IN ($1, $2)", one, other)
            await conn.execute(
                f"INSERT INTO events (position, transaction_id, {columns}) OVERRIDING SYSTEM VALUE "
                f"SELECT o.position, o.transaction_id, {', '.join('s.' + c.strip() for c in columns.split(','))} "
                "FROM swapped s JOIN swapped o ON o.position <> s.position")  # fmt: skip
    finally:
        await conn.close()


@pytest.mark.parametrize("tampering", ["change", "delete", "insert", "reorder"])
def test_each_tampering_is_found_and_named_by_its_position_through_the_checkpoints(run, populated: Db,
                                                                                   tampering: str) -> None:  # fmt: skip
    """An administrator changes, deletes, inserts or reorders events so that every hash chain still holds:
    the checkpoint's leaves name each event's position, and a published root no longer matches."""
    store = populated.store
    checkpoint = run(create_checkpoint(store))
    assert checkpoint is not None
    rows = run(populated.pool.fetch("SELECT position, transaction_id, stream_id, version FROM events "
                                    "ORDER BY transaction_id, position"))  # fmt: skip
    last_of = {r["stream_id"]: r for r in rows}  # the last event of each stream
    first, second = rows[0], rows[-1]
    if tampering == "change":  # an event taken away, a well-chained one put in its place
        victim = last_of[first["stream_id"]]
        run(superuser(populated, "DELETE FROM events WHERE position = $1", victim["position"]))
        run(forge(populated, first["stream_id"], victim["position"], victim["transaction_id"]))
        expected = {("altered", victim["position"])}
    elif tampering == "delete":
        victim = last_of[second["stream_id"]]
        run(superuser(populated, "DELETE FROM events WHERE position = $1", victim["position"]))
        expected = {("removed", victim["position"])}
    elif tampering == "insert":  # inside the checkpointed part of the global order
        position = run(forge(populated, first["stream_id"], second["position"] + 100, first["transaction_id"]))
        expected = {("inserted", position)}
    else:  # two events of two streams swap places in the global order
        a, b = last_of[first["stream_id"]], last_of[second["stream_id"]]
        run(swap(populated, a["position"], b["position"]))
        expected = {("altered", a["position"]), ("altered", b["position"])}
    report = run(verify(store, published_root=checkpoint.root))
    assert expected <= located(report), report.findings
    assert ("checkpoint", None) in located(report)
    assert not any(f.kind in ("altered", "removed", "inserted") and f.position not in {p for _, p in expected}
                   for f in report.findings), report.findings  # fmt: skip


def test_a_log_rewritten_with_its_checkpoints_fails_against_the_published_root(run, populated: Db) -> None:
    """Who can rewrite the events can rewrite the checkpoints and their leaves: then only a root published
    outside the system shows it."""
    store = populated.store
    published = run(create_checkpoint(store))
    assert published is not None
    victim = run(populated.pool.fetchrow("SELECT stream_id, position FROM events WHERE version = 4 LIMIT 1"))
    run(superuser(populated, "DELETE FROM events WHERE position = $1", victim["position"]))
    run(superuser(populated, "DELETE FROM checkpoint_leaves"))
    run(superuser(populated, "DELETE FROM checkpoints"))
    assert run(create_checkpoint(store)) is not None
    assert run(verify(store)).ok  # self-consistent again
    report = run(verify(store, published_root=published.root))
    assert [str(f) for f in report.findings] == ["checkpoint: the published root is not the root of any checkpoint"]


def test_a_published_root_that_no_checkpoint_has_is_a_finding(run, populated: Db) -> None:
    run(create_checkpoint(populated.store))
    report = run(verify(populated.store, published_root=b"\x00" * 32))
    assert [f.kind for f in report.findings] == ["checkpoint"]


def test_checkpoints_extend_each_other_to_the_root_over_the_whole_log(run, populated: Db) -> None:
    store = populated.store
    first = run(create_checkpoint(store))
    populate(run, store, streams=2, events=3)
    second = run(create_checkpoint(store))
    assert first is not None and second is not None and second.event_count == 18

    rows = run(store.read_leaves(START, second.cursor, 1000))
    tree = MerkleFrontier()
    tree.extend(
        leaf_hash(
            position=r[0], transaction_id=r[1], stream_id=r[2], version=r[3], recorded_at=format_time(r[4]), hash=r[5]
        )
        for r in rows
    )
    assert tree.root() == second.root
    assert run(verify(store)).ok and run(verify(store)).checkpoints == 2


def test_a_transaction_id_change_is_caught_by_the_checkpoint(run, populated: Db) -> None:
    run(create_checkpoint(populated.store))
    row = run(populated.pool.fetchrow("SELECT position FROM events ORDER BY position DESC LIMIT 1"))
    run(superuser(populated, "UPDATE events SET transaction_id = '3'::xid8 WHERE position = $1", row["position"]))
    assert located(run(verify(populated.store))) == {("altered", row["position"]), ("checkpoint", None)}


def test_the_checkpoint_table_is_append_only_for_the_app_role(run, populated: Db) -> None:
    run(create_checkpoint(populated.store))
    with pytest.raises(asyncpg.PostgresError):
        run(populated.pool.execute("UPDATE checkpoints SET root = sha256('')"))
    _ = NOW


def test_a_checkpoint_is_due_after_so_many_events_or_so_long_after_the_last(run, populated: Db) -> None:
    store = populated.store  # 12 events
    assert run(checkpoint_if_due(store, CheckpointPolicy(events=13, minutes=0))) is None
    made = run(checkpoint_if_due(store, CheckpointPolicy(events=12, minutes=0)))
    assert made is not None and made.event_count == 12
    assert run(checkpoint_if_due(store, CheckpointPolicy(events=1, minutes=1e-6))) is None  # nothing new
    populate(run, store, streams=1, events=1)
    assert run(checkpoint_if_due(store, CheckpointPolicy(events=0, minutes=60))) is None  # the last is too young
    made = run(checkpoint_if_due(store, CheckpointPolicy(events=0, minutes=1e-6)))
    assert made is not None and made.event_count == 13


def test_the_background_work_commits_checkpoints_until_told_to_stop(run, populated: Db) -> None:
    async def scenario() -> int:
        stop = asyncio.Event()
        task = asyncio.create_task(keep_checkpoints(populated.store, stop, CheckpointPolicy(events=5), poll=0.05))
        for _ in range(200):
            if await populated.pool.fetchval("SELECT count(*) FROM checkpoints"):
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 5)
        return int(await populated.pool.fetchval("SELECT event_count FROM checkpoints"))

    assert run(scenario()) == 12
    assert run(verify(populated.store)).ok
