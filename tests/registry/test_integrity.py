"""`registry verify` passes on an untouched store and names what a superuser altered."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.events import START
from registry.hashing import MerkleFrontier, format_time, leaf_hash
from registry.integrity import create_checkpoint, verify
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


def test_checkpoints_catch_what_chains_cannot(run, populated: Db) -> None:
    store = populated.store
    checkpoint = run(create_checkpoint(store))
    assert checkpoint is not None and checkpoint.event_count == 12
    assert run(create_checkpoint(store)) is None  # nothing new: nothing written
    assert run(verify(store, published_root=checkpoint.root)).ok

    # system time: outside the chain, inside the checkpoint
    row = run(populated.pool.fetchrow("SELECT position, recorded_at FROM events ORDER BY position LIMIT 1"))
    run(
        superuser(
            populated,
            "UPDATE events SET recorded_at = recorded_at + interval '1 microsecond' WHERE position = $1",
            row["position"],
        )
    )
    report = run(verify(store))
    assert [f.kind for f in report.findings] == ["checkpoint"]
    run(
        superuser(
            populated, "UPDATE events SET recorded_at = $2 WHERE position = $1", row["position"], row["recorded_at"]
        )
    )
    assert run(verify(store)).ok

    # the last event of a stream: the chain still looks whole
    last = run(populated.pool.fetchrow("SELECT position FROM events WHERE version = 4 ORDER BY position LIMIT 1"))
    run(superuser(populated, "DELETE FROM events WHERE position = $1", last["position"]))
    report = run(verify(store))
    assert [f.kind for f in report.findings] == ["checkpoint"]
    assert "altered, removed or inserted" in str(report.findings[0])


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
    assert [f.kind for f in run(verify(populated.store)).findings] == ["checkpoint"]


def test_the_checkpoint_table_is_append_only_for_the_app_role(run, populated: Db) -> None:
    run(create_checkpoint(populated.store))
    with pytest.raises(asyncpg.PostgresError):
        run(populated.pool.execute("UPDATE checkpoints SET root = sha256('')"))
    _ = NOW
