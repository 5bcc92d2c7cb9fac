"""The change feed (registry/feed.py): every event once, in the global order, gap-safe, placed, filtered, opened.

On the `registry` fixture (real units; other tests' records are there too): a test follows the log from the
horizon it found, and looks at its own records' events.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from datetime import UTC, date, datetime
from typing import Any

from registry.children import ClassifyChild, EraseChildData, MoveChild, RegisterChild, Sex
from registry.events import Cursor, Metadata
from registry.feed import Feed, FeedEvent
from registry.gazetteer import Gazetteer
from registry.hashing import canonical_json, event_hash, format_time
from tests.conftest import Registry

OFFICER = Metadata(actor_id="officer:feed", actor_role="commune_officer")


async def units_of(registry: Registry) -> Gazetteer:
    units = Gazetteer()
    await units.refresh(registry.store)
    return units


async def follow(feed: Feed, after: Cursor, **options: object) -> tuple[list[FeedEvent], Cursor]:
    """Every page from `after` to the head."""
    found: list[FeedEvent] = []
    while True:
        page = await feed.page(after, **options)  # type: ignore[arg-type]
        found.extend(page.events)
        after = page.next
        if not page.more:
            return found, after


def test_events_carry_where_their_record_lay_before_and_after_and_a_unit_filter_keeps_its_own(
    run, registry: Registry
) -> None:
    start = run(registry.store.horizon())
    mover, stayer = str(uuid.uuid4()), str(uuid.uuid4())
    run(registry.children.execute(RegisterChild(mover, "Lò Thị Mai", date(2015, 3, 1), Sex.FEMALE, "03274",
                                                date(2020, 1, 1)), OFFICER))  # fmt: skip
    run(registry.children.execute(MoveChild(mover, "03405", date(2025, 9, 1), "Bản Mới"), OFFICER))
    run(registry.children.execute(RegisterChild(stayer, "Lò Văn Nam", date(2016, 3, 1), Sex.MALE, "03405",
                                                date(2025, 8, 1)), OFFICER))  # fmt: skip
    units = run(units_of(registry))
    mine = {mover, stayer}
    every, _ = run(follow(Feed(registry.store, units), start))
    ours = [e for e in every if e.record_id in mine]
    assert [(e.record_id, e.event.event_type) for e in ours] == [
        (mover, "ChildRegistered"), (mover, "ChildMoved"), (stayer, "ChildRegistered")]  # fmt: skip
    registered, moved = ours[0], ours[1]
    assert [(p.commune, p.province, p.commune_now, p.province_now) for p in registered.places] == [
        ("03274", "11", "03253", "11")]  # Quài Nưa, Điện Biên, became Xã Tuần Giáo  # fmt: skip
    assert {p.commune_now for p in moved.places} == {"03253", "03405"}  # it left one commune for the other
    assert all(e.personal is None for e in ours)  # not asked for

    lai_chau, _ = run(follow(Feed(registry.store, units), start, within=lambda p: p.province_now == "12"))
    assert [(e.record_id, e.event.event_type) for e in lai_chau if e.record_id in mine] == [
        (mover, "ChildMoved"), (stayer, "ChildRegistered")]  # fmt: skip
    moves, _ = run(follow(Feed(registry.store, units), start, event_types=["ChildMoved"], kinds=["child"]))
    assert [e.record_id for e in moves if e.record_id in mine] == [mover]


def test_personal_parts_are_opened_when_asked_and_read_as_erased_after_erasure(run, registry: Registry) -> None:
    start = run(registry.store.horizon())
    child = str(uuid.uuid4())
    run(registry.children.execute(RegisterChild(child, "Giàng Thị Dợ", date(2017, 1, 2), Sex.FEMALE, "03405",
                                                date(2025, 8, 1), personal_id=None), OFFICER))  # fmt: skip
    feed = Feed(registry.store, run(units_of(registry)), registry.keyring)
    opened, cursor = run(follow(feed, start, personal=True))
    [event] = [e for e in opened if e.record_id == child]
    assert event.personal is not None and event.personal["full_name"] == "Giàng Thị Dợ"
    assert "personal" not in json.dumps(event.event.data).replace('"personal": {"sealed"', "")  # sealed at rest
    run(registry.children.execute(EraseChildData(child, "Decree 13/2023 Art. 16: the parent's request"), OFFICER))
    again, _ = run(follow(feed, start, personal=True))
    assert [e.personal for e in again if e.record_id == child and e.event.event_type == "ChildRegistered"] == [
        {"erased": True}]  # fmt: skip


def test_a_page_resumes_after_its_next_cursor_even_when_filters_left_everything_out(run, registry: Registry) -> None:
    start = run(registry.store.horizon())
    child = str(uuid.uuid4())
    run(registry.children.execute(RegisterChild(child, "Lò Văn Tú", date(2016, 1, 1), Sex.MALE, "03405",
                                                date(2025, 8, 1)), OFFICER))  # fmt: skip
    feed = Feed(registry.store, run(units_of(registry)))
    nothing = run(feed.page(start, within=lambda p: False, limit=1))
    assert nothing.events == [] and nothing.next > start
    assert run(feed.page(nothing.next)).events == []


def test_a_follower_under_concurrent_writers_sees_every_event_once_and_waits_for_a_late_commit(
    run, registry: Registry
) -> None:
    """A transaction that took its id before the writers' and commits after them holds the follower back: it does
    not read past the late event's place in the order, and then reads it, once, before the later ones."""
    start = run(registry.store.horizon())
    feed = Feed(registry.store, run(units_of(registry)))
    rng = random.Random(3)
    ids = [str(uuid.uuid4()) for _ in range(12)]
    early = str(uuid.uuid4())
    run(registry.children.execute(RegisterChild(early, "Lò Thị Ơn", date(2015, 1, 1), Sex.FEMALE, "03405",
                                                date(2025, 8, 1)), OFFICER))  # fmt: skip
    seen: list[FeedEvent] = []
    done = asyncio.Event()

    async def writer(child_id: str) -> None:
        await asyncio.sleep(rng.random() / 50)
        await registry.children.execute(RegisterChild(child_id, "Lò Văn Pao", date(2016, 1, 1), Sex.MALE, "03405",
                                                      date(2025, 8, 1)), OFFICER)  # fmt: skip
        await registry.children.execute(ClassifyChild(child_id, "disabled", date(2025, 9, 1), "assessment", "mild"),
                                        OFFICER)  # fmt: skip

    async def follower() -> None:
        cursor = start
        while True:
            finished = done.is_set()  # before the read: a page read as the late transaction commits may miss it
            page = await feed.page(cursor, limit=7)
            seen.extend(page.events)
            cursor = page.next
            if finished and not page.more:
                return
            if not page.more:
                await asyncio.sleep(0.01)

    async def late_commit(late: Any) -> None:
        await asyncio.gather(*(writer(child_id) for child_id in ids))
        await asyncio.sleep(0.2)
        assert [e for e in seen if e.record_id in ids] == [], "nothing after the open transaction's id is read yet"
        head = await late.fetchrow("SELECT version, hash FROM events WHERE stream_id = $1", f"child:{early}")
        # A whole event, its hash chained as the store's would be: the shared database is verified by other tests.
        data = canonical_json({"category": "at_risk_cisc", "on": "2025-09-02", "note": None})
        metadata, moment, stream = canonical_json({"actor_id": "officer:late", "actor_role": "commune_officer"}), \
            datetime(2025, 9, 2, tzinfo=UTC), f"child:{early}"  # fmt: skip
        chained = event_hash(stream_id=stream, stream_type="child", version=head["version"] + 1,
                             event_type="ChildFlaggedAtRisk", schema_version=1, data=data, metadata=metadata,
                             occurred_at=format_time(moment), prev_hash=head["hash"])  # fmt: skip
        await late.execute(
            "INSERT INTO events (stream_id, stream_type, version, event_type, schema_version, data, metadata,"
            " occurred_at, prev_hash, hash) VALUES ($1, 'child', $2, 'ChildFlaggedAtRisk', 1, $3, $4, $5, $6, $7)",
            stream, head["version"] + 1, data, metadata, moment, head["hash"], chained)  # fmt: skip
        await late.execute("COMMIT")

    async def scenario() -> None:
        late = await registry.db.owner()
        await late.execute("BEGIN")
        await late.fetchval("SELECT pg_current_xact_id()")  # takes its id now, before the writers'
        following = asyncio.create_task(follower())
        try:
            await late_commit(late)
            done.set()
            await asyncio.wait_for(following, 60)
        finally:
            following.cancel()
            await late.close()

    run(scenario())
    mine = [e for e in seen if e.record_id in set(ids) | {early}]
    assert len(mine) == len({(e.event.stream_id, e.event.version) for e in mine}) == 2 * len(ids) + 2
    assert [e.event.cursor for e in seen] == sorted(set(e.event.cursor for e in seen))  # the global order, once
    # the late event's transaction id sorts it before the writers' events, which committed first
    assert [(e.record_id, e.event.event_type) for e in mine[:2]] == [(early, "ChildRegistered"),
                                                                    (early, "ChildFlaggedAtRisk")]  # fmt: skip
