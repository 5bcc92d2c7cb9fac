"""Duplicate detection on a real register: the batch, one record checked, the review queue, the command line.

A database of the module's own, with the real administrative units: a batch runs over the whole register, so no
other test's children may be in it.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from projections.cli import duplicates
from projections.duplicate_queue import DuplicateQueue, pairs_of, queue, queued_pair
from projections.duplicates import DuplicateFinder, FindSummary
from projections.register import ChildRegister as ChildModel
from projections.runtime import Projection, Projector
from registry.catalog import default_catalog
from registry.child_service import ChildRegister
from registry.children import (
    DatePrecision,
    EraseChildData,
    MergeChild,
    MoveChild,
    NewCaregiver,
    RegisterChild,
    Relation,
    Sex,
)
from registry.cli import duplicates_arguments
from registry.config import load_settings
from registry.duplicate_review import DismissReason, DuplicateReviews, FoundBy, QueueStatus
from registry.duplicates import KeyKind, Reason, pair_id
from registry.errors import InvalidInput
from registry.events import Metadata
from registry.gazetteer import Gazetteer
from registry.sealing import Keyring
from registry.store import EventStore
from registry.unit_loader import default_plan, load
from tests.conftest import NOW, Db, create_test_database, drop_test_database
from tests.projections.test_projector import isolated

OFFICER = Metadata(actor_id="officer:dup", actor_role="commune_officer")
OPERATOR = Metadata(actor_id="operator:dup", actor_role="operator")
TUAN_GIAO, DIEN_BIEN_PHU, MUONG_LAY = "03253", "03127", "03151"  # Điện Biên (11), today's communes
TA_LENG_LEGACY, TA_LENG = "03400", "03405"  # Lai Châu (12): legacy Tả Lèng became part of today's Tả Lèng
BA_DINH = "00004"  # Hà Nội (01)


@dataclass
class World:
    db: Db
    store: EventStore
    units: Gazetteer
    children: ChildRegister
    master: bytes
    ids: dict[str, str]

    def finder(self, **options: Any) -> DuplicateFinder:
        return DuplicateFinder(self.store, self.children, self.units, self.db.database.connect, **options)

    async def catch_up(self, *projections: Projection) -> None:
        for projection in projections or (ChildModel(), DuplicateQueue()):
            runner = Projector(self.store, self.db.owner, projection)
            await projection.prepare(self.store)
            await runner.catch_up(await runner.ensure())


def mother(name: str) -> tuple[NewCaregiver, ...]:
    return (NewCaregiver(Relation.MOTHER, name=name),)


# name, full name, born, precision, sex, commune, since, personal id, mother
RECORDS = [
    ("hoa", "Trần Thị Thuý", date(2015, 7, 9), DatePrecision.DAY, Sex.FEMALE, TA_LENG, date(2025, 8, 1),
     "012315004711", "Trần Thị Lan"),
    # the same girl, typed without diacritics, under the legacy code, with the day and month swapped, no number
    ("hoa2", "TRAN THI THUY", date(2015, 9, 7), DatePrecision.DAY, Sex.FEMALE, TA_LENG_LEGACY, date(2016, 1, 1),
     None, None),
    ("binh", "Lò Văn Bình", date(2016, 4, 2), DatePrecision.DAY, Sex.MALE, TUAN_GIAO, date(2025, 9, 1), None,
     "Lò Thị Mai"),
    # the same boy, registered again where he went to school: another commune, the same mother, born "2016"
    ("binh2", "Lo Van Binh", date(2016, 1, 1), DatePrecision.YEAR, Sex.MALE, DIEN_BIEN_PHU, date(2025, 9, 1), None,
     "LÒ THỊ MAI"),
    # his twin: same day, commune and mother, another name
    ("twin", "Lò Văn An", date(2016, 4, 2), DatePrecision.DAY, Sex.MALE, TUAN_GIAO, date(2025, 9, 1), None,
     "Lò Thị Mai"),
    # a namesake in Hà Nội, born the same day
    ("namesake", "Lò Văn Bình", date(2016, 4, 2), DatePrecision.DAY, Sex.MALE, BA_DINH, date(2025, 9, 1), None,
     "Vi Thị Hằng"),
    # a pair merged already, and a pair whose one record is erased: neither is suspected
    ("merged", "Cà Văn Tâm", date(2014, 3, 3), DatePrecision.DAY, Sex.MALE, MUONG_LAY, date(2025, 9, 1), None, None),
    ("survivor", "Ca Van Tam", date(2014, 3, 3), DatePrecision.DAY, Sex.MALE, MUONG_LAY, date(2025, 9, 1), None,
     None),
    ("erased", "Quàng Thị Ly", date(2013, 6, 6), DatePrecision.DAY, Sex.FEMALE, MUONG_LAY, date(2025, 9, 1), None,
     None),
    ("erased2", "Quang Thi Li", date(2013, 6, 6), DatePrecision.DAY, Sex.FEMALE, MUONG_LAY, date(2025, 9, 1), None,
     None),
]  # fmt: skip


@pytest.fixture(scope="module")
def world(admin_url: str, runner: Any) -> Iterator[World]:
    db = runner.run(create_test_database(admin_url))
    store = EventStore(db.pool, default_catalog(), connect=db.database.connect)
    runner.run(load(store, default_plan()))
    units = Gazetteer()
    runner.run(units.refresh(store))
    master = os.urandom(32)
    children = ChildRegister(store, Keyring(db.pool, master), units, clock=lambda: NOW)
    ids = {name: str(uuid.uuid4()) for name, *_ in RECORDS}
    for name, full_name, born, precision, sex, commune, since, pid, mum in RECORDS:
        command = RegisterChild(ids[name], full_name, born, sex, commune, since, date_of_birth_precision=precision,
                                personal_id=pid, caregivers=mother(mum) if mum else ())  # fmt: skip
        runner.run(children.execute(command, OFFICER))
    runner.run(children.execute(MergeChild(ids["merged"], ids["survivor"], "the same child"), OFFICER))
    runner.run(children.execute(EraseChildData(ids["erased"], "Decree 13/2023 Art. 16: the parent asked"), OFFICER))
    yield World(db, store, units, children, master, ids)
    runner.run(store.close())
    runner.run(drop_test_database(admin_url, db))


def found(world: World, summary: FindSummary) -> set[frozenset[str]]:
    """The pairs a run recorded, as sets of the records' names in RECORDS (pairs of other records left out)."""
    recorded = set(summary.pair_ids)
    named = world.ids.items()
    return {frozenset((x, y)) for x, a in named for y, b in named if a < b and pair_id(a, b) in recorded}


def test_a_batch_finds_the_duplicates_and_a_second_run_writes_nothing(run, world: World) -> None:  # type: ignore[no-untyped-def]
    run(world.catch_up(ChildModel()))
    summary = run(world.finder(page=3).find(OPERATOR))
    assert found(world, summary) == {frozenset({"hoa", "hoa2"}), frozenset({"binh", "binh2"})}
    assert summary.records == len(RECORDS) - 2  # the merged record and the erased one are not read
    # the twin and the namesake share no key with the boy: they are not even candidates
    assert (summary.candidates, summary.compared, summary.suspected, summary.found_before) == (2, 2, 2, 0)
    assert "2 new suspected duplicates at 0.80 or above" in summary.line()

    hoa = pair_id(world.ids["hoa"], world.ids["hoa2"])
    review = run(DuplicateReviews(world.store).load(hoa))
    assert review is not None and review.found_by is FoundBy.BATCH
    assert review.reasons == (Reason.SAME_NAME, Reason.COMPATIBLE_BIRTH_DATE, Reason.SAME_COMMUNE)
    assert review.keys == (KeyKind.NAME_COMMUNE,)
    binh = run(DuplicateReviews(world.store).load(pair_id(world.ids["binh"], world.ids["binh2"])))
    assert binh is not None and binh.keys == (KeyKind.NAME_CAREGIVER,)

    again = run(world.finder().find(OPERATOR))
    assert again.suspected == 0 and again.found_before >= 2 and again.pair_ids == []
    province = run(world.finder().find(OPERATOR, unit="12"))  # Lai Châu: one pair's records, found before
    assert (province.records, province.candidates, province.found_before, province.suspected) == (2, 1, 1, 0)
    with pytest.raises(InvalidInput) as unknown:
        run(world.finder().find(OPERATOR, unit="99"))
    assert unknown.value.field == "unit"


def test_the_queue_shows_each_pair_where_its_records_lie_and_follows_dismissals_merges_moves_and_erasures(
    run, world: World
) -> None:  # type: ignore[no-untyped-def]
    run(world.catch_up(ChildModel()))
    run(world.finder().find(OPERATOR))
    run(world.catch_up())
    ids = world.ids
    hoa, binh = pair_id(ids["hoa"], ids["hoa2"]), pair_id(ids["binh"], ids["binh2"])
    conn = run(world.db.database.connect())  # the app's role reads the queue
    try:
        row = run(queued_pair(conn, hoa))
        assert row is not None and row.status is QueueStatus.PENDING and row.score == Decimal("0.85")
        assert [(p.commune_now, p.province_now, p.district) for p in row.places] == [(TA_LENG, "12", "106")] * 2
        assert row.reasons == ("same_name", "compatible_birth_date", "same_commune")
        in_commune = {p.pair_id for p in run(queue(conn, DIEN_BIEN_PHU))}
        assert binh in in_commune and hoa not in in_commune  # a pair is in the queue of either record's commune
        assert {p.pair_id for p in run(queue(conn, "11"))} >= {binh}
        assert hoa not in {p.pair_id for p in run(queue(conn, "11"))}
        assert {p.pair_id for p in run(queue(conn, "106"))} >= {hoa}  # the former district of Tam Đường
        assert run(queue(conn, "01")) == []  # the namesake in Hà Nội is in no pair

        first = run(queue(conn, None, limit=1))
        rest = run(queue(conn, None, after=first[0].cursor, limit=1000))
        assert first[0].pair_id not in {p.pair_id for p in rest} and len(first) + len(rest) >= 2
        with pytest.raises(InvalidInput):
            run(queue(conn, None, after="not a cursor"))

        reviews = DuplicateReviews(world.store)
        run(reviews.dismiss(binh, DismissReason.NOT_SAME_CHILD, OFFICER))
        run(reviews.merge(hoa, ids["hoa"], world.children, OFFICER))
        run(world.catch_up())
        dismissed, merged = run(queued_pair(conn, binh)), run(queued_pair(conn, hoa))
        assert dismissed is not None and dismissed.status is QueueStatus.DISMISSED
        assert (dismissed.dismissed_reason, dismissed.resolved_by) == ("not_same_child", "officer:dup")
        assert merged is not None and merged.status is QueueStatus.MERGED and merged.merged_into == ids["hoa"]
        assert binh not in {p.pair_id for p in run(queue(conn, DIEN_BIEN_PHU))}  # pending only, by default
        assert binh in {p.pair_id for p in run(queue(conn, DIEN_BIEN_PHU, status=QueueStatus.DISMISSED))}

        # a new pair: a record moves to another province, then one of the two is erased
        a, b = str(uuid.uuid4()), str(uuid.uuid4())
        for child, name in ((a, "Mùa A Sử"), (b, "Mua A Su")):
            run(world.children.execute(RegisterChild(child, name, date(2018, 8, 8), Sex.MALE, MUONG_LAY,
                                                     date(2025, 9, 1)), OFFICER))  # fmt: skip
        run(world.catch_up(ChildModel()))
        summary = run(world.finder().find(OPERATOR, unit=MUONG_LAY))
        assert summary.pair_ids == [pair_id(a, b)]
        run(world.children.execute(MoveChild(b, TA_LENG, date(2026, 1, 5)), OFFICER))
        run(world.catch_up())
        moved = run(queued_pair(conn, pair_id(a, b)))
        assert moved is not None and {p.province_now for p in moved.places} == {"11", "12"}
        assert pair_id(a, b) in {p.pair_id for p in run(queue(conn, "12"))}
        assert [p.pair_id for p in run(pairs_of(conn, b))] == [pair_id(a, b)]
        run(world.children.execute(EraseChildData(b, "Decree 13/2023 Art. 16"), OFFICER))
        run(world.catch_up())
        erased = run(queued_pair(conn, pair_id(a, b)))
        assert erased is not None and erased.status is QueueStatus.ERASED
        counts = {(r[0], r[1]): r[2] for r in run(conn.fetch("SELECT * FROM read.duplicate_pairs_per_province"))}
        assert counts[("12", "erased")] == 1 and counts[("11", "erased")] == 1
    finally:
        run(conn.close())


def test_no_name_or_number_reaches_the_reviews_or_the_queue(run, world: World) -> None:  # type: ignore[no-untyped-def]
    run(world.catch_up(ChildModel()))
    run(world.finder().find(OPERATOR))
    run(world.catch_up())
    words = {w for _, name, *_ in RECORDS for w in name.split() if len(w) > 2} | {"Thuy", "THUY", "Binh", "4711"}
    rows = run(
        world.db.pool.fetch("SELECT data::text, metadata::text FROM events WHERE stream_type = 'duplicate_review'")
    )
    tables = [run(world.db.pool.fetch(f"SELECT t::text FROM read.{t} t")) for t in ("duplicate_pairs",
                                                                                    "duplicate_children")]  # fmt: skip
    texts = [value for row in rows for value in row] + [r[0] for table in tables for r in table]
    assert rows and texts
    assert not [w for w in words for text in texts if w.lower() in text.lower()]


def test_a_rebuilt_queue_is_the_queue_folded_in_small_batches(run, world: World) -> None:  # type: ignore[no-untyped-def]
    from tests.projections.test_projector import digests

    run(world.catch_up(ChildModel()))
    run(world.finder().find(OPERATOR))
    small, large = isolated(DuplicateQueue), isolated(DuplicateQueue)
    for projection, batch in ((small, 3), (large, 5000)):
        runner = Projector(world.store, world.db.owner, projection, batch=batch)
        run(projection.prepare(world.store))
        run(runner.catch_up(run(runner.ensure())))
    registry_like = type("R", (), {"db": world.db})()
    assert run(digests(registry_like, small)) == run(digests(registry_like, large))  # type: ignore[arg-type]


def test_one_record_or_a_registration_is_checked_against_the_register(run, world: World) -> None:  # type: ignore[no-untyped-def]
    run(world.catch_up(ChildModel()))
    finder = world.finder()
    ids = world.ids
    candidates = run(finder.candidates_of(ids["binh"]))
    assert [c.child_id for c in candidates] == [ids["binh2"]]
    assert candidates[0].keys == (KeyKind.NAME_CAREGIVER,) and candidates[0].match.suspected()
    everyone = run(finder.candidates_of(ids["binh"], threshold=None))
    assert ids["twin"] not in {c.child_id for c in everyone}  # twins share no key
    assert ids["namesake"] not in {c.child_id for c in run(finder.candidates_of(ids["binh"], threshold=None,
                                                                                 country=True))}  # fmt: skip
    with pytest.raises(InvalidInput) as merged:
        run(finder.candidates_of(ids["merged"]))
    assert (merged.value.field, merged.value.reason) == ("child_id", "not_comparable")

    # a child about to be registered: the same boy, typed once more at the commune of his mother
    new = str(uuid.uuid4())
    command = RegisterChild(new, "Lò Văn Bình", date(2016, 4, 2), Sex.MALE, MUONG_LAY, date(2026, 1, 1),
                            caregivers=mother("Lò Thị Mai"))  # fmt: skip
    found_now = run(finder.candidates_for(finder.profile_of_registration(command)))
    assert {c.child_id for c in found_now} >= {ids["binh"]}
    binh = next(c for c in found_now if c.child_id == ids["binh"])
    assert binh.match.reasons == (Reason.SAME_NAME, Reason.SAME_BIRTH_DATE, Reason.SAME_CAREGIVER)
    run(world.children.execute(command, OFFICER))
    written = run(finder.record(new, found_now, OFFICER))
    assert pair_id(new, ids["binh"]) in written.written
    review = run(DuplicateReviews(world.store).load(pair_id(new, ids["binh"])))
    assert review is not None and review.found_by is FoundBy.CHECK


def test_the_command_line_finds_lists_and_dismisses(run, world: World, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    master = base64.urlsafe_b64encode(world.master).decode()
    settings = load_settings(database_url=world.db.owner_url, registry_master_key=master, registry_data_dir=tmp_path)
    parser = argparse.ArgumentParser()
    duplicates_arguments(parser)
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    for child, name in ((a, "Sùng Thị Dợ"), (b, "Sung Thi Do")):
        run(world.children.execute(RegisterChild(child, name, date(2019, 2, 2), Sex.FEMALE, TUAN_GIAO,
                                                 date(2025, 9, 1)), OFFICER))  # fmt: skip
    run(world.catch_up(ChildModel()))
    for wrong in ("1.5", "high", "NaN"):
        with pytest.raises(InvalidInput) as refused:
            duplicates(settings, parser.parse_args(["find", "--threshold", wrong]))
        assert refused.value.field == "threshold"
    assert duplicates(settings, parser.parse_args(["find", "--unit", TUAN_GIAO, "--threshold", "0.9"])) == 0
    out = capsys.readouterr()
    assert "1 new suspected duplicates at 0.9 or above" in out.out and "Sùng" not in out.out + out.err
    run(world.catch_up())
    assert duplicates(settings, parser.parse_args(["list", "--unit", TUAN_GIAO])) == 0
    listed = capsys.readouterr().out
    pair = pair_id(a, b)
    assert pair in listed and "same_name" in listed and "Sùng" not in listed and "Sung" not in listed
    assert duplicates(settings, parser.parse_args(["dismiss", pair, "--reason", "twins", "--actor", "officer:x"])) == 0
    assert f"pair {pair} dismissed" in capsys.readouterr().out
    state = run(DuplicateReviews(world.store).load(pair))
    assert state is not None and state.dismissed is DismissReason.TWINS
    events = run(world.store.read_stream(f"duplicate_review:{pair}"))
    assert events[-1].metadata["actor_id"] == "officer:x" and "Sùng" not in json.dumps(events[-1].metadata)
