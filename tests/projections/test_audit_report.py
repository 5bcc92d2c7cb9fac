"""The audit report of a unit and period: each section holds exactly the unit's events and access-log entries that
belong to it (not those of a neighbouring unit), as a workbook and through `registry audit report`.

Everything here is in Đắk Glei district (Kon Tum until 2025-06-30, now Quảng Ngãi) and its neighbour Ngọc Hồi;
no other test writes there. The legacy commune Đăk Man (23347) lies, from 2025-07-01, in the new commune Đăk Plô
(23344), Xốp (23359) in the new Xốp (23356), both in the former district 610; Đăk Dục (23383) of Ngọc Hồi (611)
in the new Dục Nông (23383). The period is the last ten days (Vietnam time), since the registry records events at
the time they are written; the access-log entries are written with their own times on days of the period.
"""

from __future__ import annotations

import getpass
import logging
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook  # type: ignore[import-untyped]

from projections.audit_report import (
    SHEETS,
    AccessEntry,
    AuditReport,
    build_audit_report,
    filename,
    to_xlsx,
)
from projections.register import PROJECTIONS, CaseRegister, ChildRegister
from projections.reports import ReadModels
from projections.runtime import Projection, Projector
from registry.access import operator
from registry.access_log import entries
from registry.case_service import CaseRegister as Cases
from registry.cases import CaseType, Channel, ReceiveReport, ReporterKind
from registry.child_service import ChildRegister as Children
from registry.children import ClassifyChild, RegisterChild, Sex
from registry.cli import main
from registry.errors import InvalidInput
from registry.events import Metadata, RecordedEvent
from registry.gazetteer import Gazetteer
from registry.law import LATE_CORRECTION, VIETNAM, in_working_hours, start_of_day
from registry.units import Level
from tests.conftest import Registry
from tests.projections.test_projector import isolated

DISTRICT, NEIGHBOUR = "610", "611"  # Đắk Glei, Ngọc Hồi (former districts from 2025-07-01)
DAK_MAN, DAK_PLO = "23347", "23344"  # a legacy commune and the new commune it lies in
XOP_LEGACY, XOP = "23359", "23356"
DAK_DUC = "23383"  # legacy Đăk Dục and, from 2025-07-01, the new Dục Nông (Ngọc Hồi)
PROVINCE = "51"  # Quảng Ngãi (Kon Tum's successor)
PLO = Metadata(actor_id="officer:plo", actor_role="commune_officer", jurisdiction=DAK_PLO)
CHAIR = Metadata(actor_id="chair:plo", actor_role="commune_chair", jurisdiction=DAK_PLO, reason="=report by phone")
XOP_OFFICER = Metadata(actor_id="officer:xop", actor_role="commune_officer", jurisdiction=XOP)
DUC = Metadata(actor_id="officer:duc", actor_role="commune_officer", jurisdiction=DAK_DUC)
NAME = "Y Thị Kiểm Toán"  # a synthetic name: it must never reach the report

TODAY = datetime.now(VIETNAM).date()
FROM, TO = TODAY - timedelta(days=9), TODAY + timedelta(days=1)  # a day more: a test run across midnight


def _last_before(today: date, weekdays: set[int]) -> date:
    return next(today - timedelta(days=n) for n in range(1, 8) if (today - timedelta(days=n)).isoweekday() in weekdays)


SATURDAY = _last_before(TODAY, {6})
WEEKDAY = _last_before(TODAY, {1, 2, 3, 4, 5})


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=VIETNAM)


@dataclass
class World:
    registry: Registry
    units: Gazetteer
    read: ReadModels
    children: dict[str, str]
    cases: dict[str, str]
    log: dict[str, int]  # the access-log entries written here, by name


async def _grant(registry: Registry, schema: str) -> None:
    conn = await registry.db.owner()
    try:
        await conn.execute(f"GRANT USAGE ON SCHEMA {schema} TO registry_app;"
                           f" GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO registry_app")  # fmt: skip
    finally:
        await conn.close()


def _catch_up(run: Any, registry: Registry, projection: Projection) -> None:
    runner = Projector(registry.store, registry.db.owner, projection)
    run(projection.prepare(registry.store))
    run(runner.catch_up(run(runner.ensure())))


_LOG_SQL = """INSERT INTO access_log (at, request_id, subject, role, unit, operation, record_kind, record_id, purpose,
    outcome, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'case review', $9, $10) RETURNING id"""


@pytest.fixture(autouse=True)
def logging_left_as_found() -> Iterator[None]:
    """`main` configures logging for a process: its handler would outlive the test, writing to the standard error
    pytest captured for it (closed by then), and pytest's own handlers would be gone."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="module")
def world(run, registry: Registry) -> World:  # type: ignore[no-untyped-def]
    units = Gazetteer()
    run(units.refresh(registry.store))
    # Registers on the wall clock: the events are recorded now, and a registration's business time is now too.
    kids = Children(registry.store, registry.keyring, units, clock=lambda: datetime.now(UTC))
    cases = Cases(registry.store, registry.case_keyring, units, kids, clock=lambda: datetime.now(UTC))
    c = {name: str(uuid.uuid4()) for name in ("an", "binh", "cuc")}
    k = {name: str(uuid.uuid4()) for name in ("k1", "k2", "k3")}
    run(kids.execute(RegisterChild(c["an"], NAME, date(2018, 4, 1), Sex.FEMALE, DAK_MAN, date(2024, 1, 1)), PLO))
    # Late: a disability certified on 2026-05-01, recorded now; on time: one two days ago.
    run(kids.execute(ClassifyChild(c["an"], "disabled", date(2026, 5, 1), "certificate", "mild"), PLO))
    run(kids.execute(ClassifyChild(c["an"], "hiv_aids", TODAY - timedelta(days=2), "hospital letter"), PLO))
    run(kids.execute(RegisterChild(c["binh"], NAME, date(2017, 2, 3), Sex.MALE, XOP_LEGACY, date(2023, 5, 1)),
                     XOP_OFFICER))  # fmt: skip
    run(kids.execute(RegisterChild(c["cuc"], NAME, date(2019, 9, 9), Sex.MALE, DAK_DUC, date(2022, 1, 1)), DUC))
    run(kids.execute(ClassifyChild(c["cuc"], "disabled", date(2025, 1, 1), "certificate", "mild"), DUC))  # late
    now = datetime.now(UTC)

    def report(case: str, moment: datetime, commune: str, child: str, who: Metadata) -> None:
        run(cases.execute(ReceiveReport(case, moment, Channel.SCHOOL, ReporterKind.TEACHER, (CaseType.NEGLECT,),
                                        commune, "an account", child_ids=(child,)), who))  # fmt: skip

    report(k["k1"], now - timedelta(hours=2), DAK_PLO, c["an"], PLO)
    report(k["k2"], at(date(2026, 3, 1), 9), DAK_PLO, c["an"], CHAIR)  # taken on 2026-03-01, entered now: late
    report(k["k3"], at(date(2026, 2, 1), 9), DAK_DUC, c["cuc"], DUC)

    plo = ("officer:plo", "commune_officer", DAK_PLO)
    duc = ("officer:duc", "commune_officer", DAK_DUC)
    xop = ("officer:xop", "commune_officer", XOP)
    district = ("officer:glei", "district_officer", DISTRICT)
    ops = ("operator:night", "operator", None)
    entries_ = {
        "office": (at(WEEKDAY, 10), plo, "child", "child", c["an"], "allowed", None),
        "saturday": (at(SATURDAY, 10), plo, "child", "child", c["an"], "allowed", None),
        "night_elsewhere": (at(WEEKDAY, 22, 30), plo, "child", "child", c["cuc"], "denied", "jurisdiction"),
        "neighbour_tries": (at(WEEKDAY, 14), duc, "child", "child", c["an"], "denied", "jurisdiction"),
        "dawn_guess": (at(WEEKDAY, 6, 30), plo, "child", "child", "no-such-record", "not_found", None),
        "no_purpose": (at(WEEKDAY, 11), plo, "child", "child", c["an"], "denied", "no_purpose"),
        "neighbour_night": (at(WEEKDAY, 23), duc, "child", "child", c["cuc"], "allowed", None),
        "before_period": (at(FROM - timedelta(days=20), 23), plo, "child", "child", c["an"], "allowed", None),
        "district_sunday": (at(SATURDAY + timedelta(days=1), 9), district, "case", "case", k["k1"], "allowed", None),
        "operator_closing": (at(WEEKDAY, 17, 30), ops, "export", "child", c["an"], "allowed", None),
        "opening": (at(WEEKDAY, 7), plo, "child", "child", c["an"], "allowed", None),
        "xop_saturday": (at(SATURDAY, 8), xop, "child", "child", c["binh"], "allowed", None),
        "neighbour_list": (at(WEEKDAY, 15), duc, "children", "child", None, "denied", "jurisdiction"),
    }
    log = {}
    for name, (moment, (subject, role, unit), operation, kind, record_id, outcome, reason) in entries_.items():
        log[name] = run(registry.db.pool.fetchval(_LOG_SQL, moment, f"t-{uuid.uuid4().hex}", subject, role, unit,
                                                  operation, kind, record_id, outcome, reason))  # fmt: skip

    models = (isolated(ChildRegister), isolated(CaseRegister))
    for projection in models:
        _catch_up(run, registry, projection)
        run(_grant(registry, projection.schema))
    read = ReadModels(models[0].schema, models[0].name, models[1].schema, models[1].name)
    return World(registry, units, read, c, k, log)


def build(run: Any, world: World, unit: str, start: date = FROM, end: date = TO) -> AuditReport:
    return run(build_audit_report(world.registry.db.pool, world.units, unit, start, end,  # type: ignore[no-any-return]
                                  reader=operator("operator:auditor"), request_id=f"t-{uuid.uuid4().hex}",
                                  sources=world.read))  # fmt: skip


def streams_events(run: Any, world: World, streams: list[str]) -> list[RecordedEvent]:
    """The events of these streams recorded in the period, read from the store (the report reads SQL)."""
    found = run(world.registry.store.read_streams(streams))
    lower, upper = start_of_day(FROM), start_of_day(TO + timedelta(days=1))
    return [e for events in found.values() for e in events if lower <= e.recorded_at < upper]


def ids(found: tuple[AccessEntry, ...]) -> set[int]:
    return {e.id for e in found}


def named(world: World, *names: str) -> set[int]:
    return {world.log[n] for n in names}


def mine(world: World, found: tuple[AccessEntry, ...]) -> set[int]:
    """The entries of this module among those found (the unit is no other test's, so that is all of them)."""
    return ids(found) & set(world.log.values())


def test_the_times_are_judged_in_vietnam_time_on_working_days() -> None:
    assert in_working_hours(at(WEEKDAY, 7)) and in_working_hours(at(WEEKDAY, 17, 29))
    assert not in_working_hours(at(WEEKDAY, 17, 30)) and not in_working_hours(at(WEEKDAY, 6, 59))
    assert not in_working_hours(at(SATURDAY, 10)) and not in_working_hours(at(SATURDAY + timedelta(days=1), 10))
    assert in_working_hours(datetime(2026, 12, 1, 3, 0, tzinfo=UTC))  # Tuesday 10:00 in Vietnam
    assert not in_working_hours(datetime(2026, 12, 1, 14, 0, tzinfo=UTC))  # Tuesday 21:00 in Vietnam


def test_a_communes_report_holds_its_records_changes_and_access_only(run, world: World) -> None:  # type: ignore[no-untyped-def]
    report = build(run, world, DAK_PLO)
    c, k = world.children, world.cases
    assert (report.unit_name, report.level, report.children, report.cases) == ("Xã Đăk Plô", Level.COMMUNE, 1, 2)

    events = streams_events(run, world, [f"child:{c['an']}", f"case:{k['k1']}", f"case:{k['k2']}"])
    expected = Counter((e.metadata["actor_id"], e.metadata["actor_role"], e.event_type) for e in events)
    assert {(x.actor_id, x.actor_role, x.event_type): x.events for x in report.changes} == dict(expected)
    assert ("chair:plo", "commune_chair", "ReportReceived") in expected  # both officers, every type
    assert {x.actor_id for x in report.changes} == {"officer:plo", "chair:plo"}  # not Dục Nông's officer
    late = {(e.stream_id, e.version) for e in events if e.recorded_at - e.occurred_at > LATE_CORRECTION}
    assert {(x.stream_id, x.version) for x in report.late} == late
    assert {(f"child:{c['an']}", 2), (f"case:{k['k2']}", 1)} <= late  # the certificate of May, the March report
    assert (f"child:{c['an']}", 3) not in late  # two days late only
    k2 = next(x for x in report.late if x.stream_id == f"case:{k['k2']}")
    assert (k2.actor_id, k2.actor_role, k2.reason) == ("chair:plo", "commune_chair", "=report by phone")
    assert k2.occurred_at == at(date(2026, 3, 1), 9)
    assert k2.gap_days > 200

    w = world
    assert mine(w, report.after_hours) == ids(report.after_hours) == named(
        w, "saturday", "night_elsewhere", "dawn_guess", "district_sunday", "operator_closing")  # fmt: skip
    assert ids(report.denied) == named(w, "night_elsewhere", "neighbour_tries", "dawn_guess", "no_purpose")
    assert ids(report.out_of_jurisdiction) == named(w, "night_elsewhere", "neighbour_tries")
    scopes = {e.id: e.scope for e in (*report.after_hours, *report.denied)}
    assert scopes == {w.log["saturday"]: "record+principal", w.log["night_elsewhere"]: "principal",
                      w.log["dawn_guess"]: "principal", w.log["district_sunday"]: "record",
                      w.log["operator_closing"]: "record", w.log["neighbour_tries"]: "record",
                      w.log["no_purpose"]: "record+principal"}  # fmt: skip
    tried = next(e for e in report.out_of_jurisdiction if e.id == w.log["neighbour_tries"])
    assert (tried.subject, tried.role, tried.unit, tried.record_id, tried.at) == (
        "officer:duc", "commune_officer", DAK_DUC, c["an"], at(WEEKDAY, 14))  # fmt: skip


def test_a_former_districts_report_adds_its_other_communes(run, world: World) -> None:  # type: ignore[no-untyped-def]
    report = build(run, world, DISTRICT)
    assert (report.unit_name, report.children, report.cases) == ("Huyện Đắk Glei", 2, 2)
    assert {x.actor_id for x in report.changes} == {"officer:plo", "chair:plo", "officer:xop"}
    assert ids(report.after_hours) == named(world, "saturday", "night_elsewhere", "dawn_guess", "district_sunday",
                                            "operator_closing", "xop_saturday")  # fmt: skip
    assert ids(report.denied) == named(world, "night_elsewhere", "neighbour_tries", "dawn_guess", "no_purpose")
    assert ids(report.out_of_jurisdiction) == named(world, "night_elsewhere", "neighbour_tries")
    assert {e.id: e.scope for e in report.after_hours}[world.log["district_sunday"]] == "record+principal"
    assert any("huyện cũ" in note for note in report.notes)


def test_the_new_provinces_report_holds_both_districts(run, world: World) -> None:  # type: ignore[no-untyped-def]
    report = build(run, world, PROVINCE)
    assert {x.actor_id for x in report.changes} >= {"officer:plo", "chair:plo", "officer:xop", "officer:duc"}
    assert mine(world, report.after_hours) == named(world, "saturday", "night_elsewhere", "dawn_guess",
                                                    "district_sunday", "operator_closing", "xop_saturday",
                                                    "neighbour_night")  # fmt: skip
    assert mine(world, report.out_of_jurisdiction) == named(world, "night_elsewhere", "neighbour_tries",
                                                            "neighbour_list")  # fmt: skip
    assert {e.id: e.scope for e in report.denied}[world.log["night_elsewhere"]] == "record+principal"
    late = {x.stream_id for x in report.late}
    assert f"child:{world.children['cuc']}" in late and f"case:{world.cases['k3']}" in late


def test_a_period_before_the_entries_holds_none_of_them(run, world: World) -> None:  # type: ignore[no-untyped-def]
    report = build(run, world, DAK_PLO, FROM - timedelta(days=30), FROM - timedelta(days=1))
    assert mine(world, report.after_hours) == named(world, "before_period")
    assert report.changes == () and report.late == () and report.denied == ()


def test_a_section_cut_at_the_limit_says_so(run, world: World) -> None:  # type: ignore[no-untyped-def]
    report = run(build_audit_report(world.registry.db.pool, world.units, DAK_PLO, FROM, TO,
                                    reader=operator("operator:auditor"), request_id=f"t-{uuid.uuid4().hex}",
                                    sources=world.read, limit=2))  # fmt: skip
    assert set(report.truncated) == {"changes", "access"} and len(report.changes) == 2
    assert len(report.after_hours) + len([e for e in report.denied if e.in_working_hours]) == 2
    lines = report.summary_lines()
    assert lines[0].endswith("(first rows only)") and not lines[1].endswith("(first rows only)")


def test_bad_input_names_the_option(run, world: World) -> None:  # type: ignore[no-untyped-def]
    for unit, start, end, field in (
        ("2334", FROM, TO, "unit"),  # four digits
        ("62", FROM, TO, "unit"),  # Kon Tum: no province bears the code in the two-tier map
        ("99999", FROM, TO, "unit"),
        (DAK_PLO, TO, FROM, "to"),
    ):
        with pytest.raises(InvalidInput) as caught:
            build(run, world, unit, start, end)
        assert caught.value.field == field, unit
    assert build(run, world, "62", date(2025, 6, 1), date(2025, 6, 30)).unit_name == "Tỉnh Kon Tum"


def test_the_workbook_has_a_sheet_per_section_and_no_personal_data(run, world: World, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    report = build(run, world, DAK_PLO)
    path = tmp_path / report.filename
    assert report.filename == f"bao-cao-kiem-toan-{DAK_PLO}-{FROM.isoformat()}-{TO.isoformat()}.xlsx"
    to_xlsx(report, path)
    book = load_workbook(path)
    assert book.sheetnames == [title for _, title, _ in SHEETS]
    rows = {title: [list(r) for r in book[title].iter_rows(values_only=True)] for title in book.sheetnames}
    counts = {"changes": len(report.changes), "late": len(report.late), "after_hours": len(report.after_hours),
              "denied": len(report.denied), "out_of_jurisdiction": len(report.out_of_jurisdiction)}  # fmt: skip
    for code, title, english in SHEETS[1:]:
        assert len(rows[title]) == 2 + counts[code], code  # the Vietnamese and English headings, then the rows
        assert rows[title][1][0] in ("actor id", "stream", "log entry")
        assert [f"{title} ({english})", f"{counts[code]:,}"] in rows["Tổng hợp"]
    late = {r[0]: r for r in rows["2. Cập nhật muộn"][2:]}
    k2 = late[f"case:{world.cases['k2']}"]
    row = 1 + [r[0] for r in rows["2. Cập nhật muộn"]].index(k2[0])
    assert k2[5] == "=report by phone" and book["2. Cập nhật muộn"].cell(row, 6).data_type != "f"  # never a formula
    assert k2[7] == datetime(2026, 3, 1, 9, 0)  # Vietnam time
    night = next(r for r in rows["3. Truy cập ngoài giờ"][2:] if r[0] == world.log["saturday"])
    assert night[1:3] == [at(SATURDAY, 10).replace(tzinfo=None), "Thứ Bảy (Sat)"]
    assert night[3:11] == ["officer:plo", "commune_officer", DAK_PLO, "child", "child", world.children["an"],
                           "allowed", None]  # fmt: skip
    text = " ".join(str(v) for sheet in rows.values() for row in sheet for v in row if v is not None)
    assert NAME not in text and "case review" not in text and "an account" not in text


def test_the_command_writes_the_workbook_and_a_line_per_section(  # type: ignore[no-untyped-def]
    run, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`registry audit report` on the deployment's own read models (schema read), the file named by default."""
    for cls in PROJECTIONS:
        if cls in (ChildRegister, CaseRegister):
            _catch_up(run, world.registry, cls())
    monkeypatch.setenv("DATABASE_URL", world.registry.db.owner_url)
    monkeypatch.setenv("REGISTRY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    assert main(["audit", "report", "--unit", DAK_PLO, "--from", FROM.isoformat(), "--to", TO.isoformat()]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("audit report: Xã Đăk Plô (23344)") and out[0].endswith(filename(DAK_PLO, FROM, TO))
    assert [line.split(":")[0].strip() for line in out[1:]] == [
        "changes by officer", "late corrections", "access outside working hours", "denied access attempts",
        "out-of-jurisdiction attempts"]  # fmt: skip
    assert out[4].strip() == "denied access attempts: 4 entries" and "1 children and 2 cases" in out[1]
    book = load_workbook(tmp_path / filename(DAK_PLO, FROM, TO), read_only=True)
    assert len(list(book["4. Truy cập bị từ chối"].iter_rows(values_only=True))) == 2 + 4
    book.close()
    logged = run(entries(world.registry.db.pool, record_kind="access_log", record_id=DAK_PLO, limit=1000))
    assert any(e.subject == f"operator:{getpass.getuser()}" and e.operation == "auditReport" for e in logged)

    # Bad input: exit 2, the option named, before anything is read.
    for argv, option in ((["--unit", "2334", "--from", "2026-01-01", "--to", "2026-01-31"], "unit"),
                         (["--unit", DAK_PLO, "--from", "2026-02-01", "--to", "2026-01-31"], "to"),
                         (["--unit", "62", "--from", "2026-02-01", "--to", "2026-02-28"], "unit")):  # fmt: skip
        assert main(["audit", "report", *argv]) == 2
        assert capsys.readouterr().err.startswith(f"registry: {option}: ")
    with pytest.raises(SystemExit) as caught:
        main(["audit", "report", "--unit", DAK_PLO, "--from", "2026-02-30", "--to", "2026-03-01"])
    assert caught.value.code == 2 and "--from" in capsys.readouterr().err
