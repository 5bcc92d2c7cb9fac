"""Exports of a unit's children and cases: what the register holds on a day, as known at a time, in three formats,
read back by `registry import` into an empty registry as the same records; logged; memory flat.

Children and cases are made through the registers in Đồng Văn district (Hà Giang; no other test writes there):
legacy communes Lũng Cú, Má Lé and Phố Bảng until 2025-06-30, the new Lũng Cú (Lũng Cú + Má Lé + Lũng Táo) and
Phố Bảng from 2025-07-01.
"""

from __future__ import annotations

import argparse
import base64
import csv
import gc
import io
import json
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook  # type: ignore[import-untyped]

from projections.cli import export, quality
from projections.export import (
    CASE_COLUMNS,
    Export,
    ExportRefused,
    ExportRequest,
    Sources,
    child_fields,
    child_headings,
)
from projections.register import PROJECTIONS, CaseRegister, ChildRegister
from projections.reports import ReadModels
from projections.runtime import Projection, Projector
from registry.access import Principal, Role, operator
from registry.access_log import Entry, entries
from registry.cases import (
    AssessRisk,
    CaseType,
    Channel,
    CloseCase,
    ClosureReason,
    ReceiveReport,
    ReporterKind,
    RiskLevel,
    TransferCase,
)
from registry.catalog import default_catalog
from registry.child_columns import BY_NAME
from registry.child_service import Batched
from registry.child_service import ChildRegister as Children
from registry.children import (
    BirthRegistration,
    CaregiverStatus,
    ChildState,
    ClassifyChild,
    CorrectChild,
    DatePrecision,
    EraseChildData,
    MergeChild,
    MoveChild,
    NewCaregiver,
    RegisterChild,
    Relation,
    Sex,
)
from registry.cli import export_arguments, quality_arguments
from registry.config import load_settings
from registry.errors import InvalidInput
from registry.events import Metadata
from registry.gazetteer import Gazetteer
from registry.imports import Importer, ImportOptions, Rejection, Table
from registry.law import VIETNAM
from registry.sealing import Keyring
from registry.store import EventStore
from registry.unit_loader import default_plan, load
from tests.conftest import NOW, Db, Registry, create_test_database, drop_test_database

OFFICER = Metadata(actor_id="officer:9e", actor_role="commune_officer")
DISTRICT = "026"  # Huyện Đồng Văn (until 2025-06-30)
LUNG_CU, MA_LE, PHO_BANG = "00715", "00718", "00712"  # legacy communes; from 2025-07-01 00715 is the new Lũng Cú
NEW_PHO_BANG = "00745"
ON = NOW.astimezone(VIETNAM).date()  # 2026-11-23: the registers' today in the tests
PAST = date(2024, 6, 1)  # the legacy structure
PURPOSE = "Project 06 data cleansing"


def vn(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=VIETNAM)  # type: ignore[misc]


@dataclass
class World:
    registry: Registry
    sources: Sources
    models: tuple[Projection, Projection]
    ids: dict[str, str]
    cases: dict[str, str]
    moment: datetime  # before the name of "di" was corrected and "ly" classified

    def catch_up(self, run: Any) -> None:
        """Bring the test's read models up to date; the app reads them as `read.*` is read (registry_app)."""
        for projection in self.models:
            _catch_up(run, self.registry, projection)
            run(_grant(self.registry, projection.schema))


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


@pytest.fixture(scope="module")
def world(run, registry: Registry) -> World:  # type: ignore[no-untyped-def]
    ids = {name: str(uuid.uuid4()) for name in ("mo", "chu", "di", "pa", "dup", "sinh", "ly", "sua")}
    kids = registry.children

    def do(command: object) -> None:
        service = registry.cases if type(command).__module__.endswith("cases") else kids
        run(service.execute(command, OFFICER))  # type: ignore[attr-defined]

    i = ids
    do(RegisterChild(i["mo"], "Giàng Thị Mỷ", date(2016, 5, 2), Sex.FEMALE, MA_LE, date(2023, 3, 1), ethnicity="08",
                     personal_id="002316123456", birth_registration=BirthRegistration.REGISTERED,
                     caregivers=(NewCaregiver(Relation.FATHER, CaregiverStatus.ALIVE, "Giàng A Súa"),
                                 NewCaregiver(Relation.MOTHER, CaregiverStatus.DECEASED, "Lò Thị Dợ"),
                                 NewCaregiver(Relation.RELATIVE, CaregiverStatus.ALIVE, "Giàng Thị Mai")),
                     address="Thôn Má Lé"))  # fmt: skip
    do(ClassifyChild(i["mo"], "disabled", date(2024, 1, 15), "certificate", "mild"))
    do(MoveChild(i["mo"], LUNG_CU, date(2025, 9, 1), "Thôn Lô Lô Chải"))  # across the reform
    do(RegisterChild(i["chu"], "Vàng Văn Chứ", date(2019, 11, 1), Sex.MALE, LUNG_CU, date(2022, 1, 1),
                     date_of_birth_precision=DatePrecision.MONTH,
                     birth_registration=BirthRegistration.NOT_REGISTERED))  # fmt: skip
    do(ClassifyChild(i["chu"], "abandoned", date(2024, 2, 1), "police record", "in_alt_care"))
    do(ClassifyChild(i["chu"], "hiv_aids", date(2024, 3, 1), "hospital letter"))
    do(RegisterChild(i["di"], "Sùng Thị Dí", date(2014, 1, 1), Sex.FEMALE, LUNG_CU, date(2020, 6, 1),
                     date_of_birth_precision=DatePrecision.YEAR, ethnicity="08",
                     caregivers=(NewCaregiver(Relation.MOTHER, CaregiverStatus.ALIVE, None),),
                     address="Thôn Séo Lủng"))  # fmt: skip
    do(RegisterChild(i["pa"], "Ly Thị Pà", date(2017, 2, 3), Sex.FEMALE, MA_LE, date(2023, 5, 1)))
    do(EraseChildData(i["pa"], "Decree 13/2023 Art. 16: the guardian's request"))
    do(RegisterChild(i["dup"], "Giàng Thị Mỹ", date(2016, 5, 2), Sex.FEMALE, MA_LE, date(2023, 3, 1)))
    do(MergeChild(i["dup"], i["mo"], "the same child, registered twice"))
    do(RegisterChild(i["sinh"], "Thào Mí Sính", date(2015, 8, 8), Sex.MALE, PHO_BANG, date(2024, 1, 1),
                     ethnicity="08"))  # fmt: skip
    do(RegisterChild(i["ly"], "Lầu Thị Ly", date(2020, 2, 29), Sex.FEMALE, LUNG_CU, date(2025, 8, 1)))
    do(RegisterChild(i["sua"], "Vừ Thị Súa", date(2012, 7, 7), Sex.FEMALE, MA_LE, date(2024, 4, 1), ethnicity="08",
                     personal_id="002312654321", birth_registration=BirthRegistration.REGISTERED,
                     address="=1+2 Thôn Sáng Ngài"))  # text a spreadsheet would take for a formula  # fmt: skip
    do(ClassifyChild(i["sua"], "exploited", date(2024, 5, 1), "labour inspection", "illegal_labour"))

    k = {name: str(uuid.uuid4()) for name in ("k1", "k2", "k3", "k4")}
    do(ReceiveReport(k["k1"], vn(2026, 11, 20, 9), Channel.HOTLINE_111, ReporterKind.NEIGHBOUR, (CaseType.NEGLECT,),
                     LUNG_CU, "an account", child_ids=(i["chu"],), reporter_name="Giàng A Lử"))  # fmt: skip
    do(AssessRisk(k["k1"], vn(2026, 11, 20, 10), RiskLevel.MEDIUM, emergency=False))
    do(ReceiveReport(k["k2"], vn(2024, 5, 1, 9), Channel.SCHOOL, ReporterKind.TEACHER, (CaseType.CHILD_MARRIAGE,),
                     MA_LE, "an account", child_ids=(i["sua"],)))  # fmt: skip
    do(CloseCase(k["k2"], vn(2024, 6, 10, 9), ClosureReason.UNFOUNDED))
    do(ReceiveReport(k["k3"], vn(2024, 3, 1, 9), Channel.COMMUNE_PC, ReporterKind.OFFICIAL, (CaseType.NEGLECT,),
                     PHO_BANG, "an account", child_ids=(i["sinh"],)))  # fmt: skip
    do(TransferCase(k["k3"], vn(2024, 7, 1, 9), MA_LE, "the family moved"))
    do(ReceiveReport(k["k4"], vn(2026, 11, 22, 21), Channel.HOTLINE_111, ReporterKind.NEIGHBOUR,
                     (CaseType.PHYSICAL_VIOLENCE,), LUNG_CU, "an account", child_ids=(i["ly"],)))  # fmt: skip
    do(AssessRisk(k["k4"], vn(2026, 11, 22, 22), RiskLevel.HIGH, emergency=True))

    time.sleep(0.05)
    moment = datetime.now(UTC)
    time.sleep(0.05)
    do(CorrectChild(i["di"], {"full_name": "Sùng Thị Dính"}, "birth certificate"))
    do(ClassifyChild(i["ly"], "orphan_both_parents", date(2025, 10, 1), "death certificates", "with_relatives"))

    models = (_isolated(ChildRegister), _isolated(CaseRegister))
    units = Gazetteer()
    run(units.refresh(registry.store))
    read = ReadModels(models[0].schema, models[0].name, models[1].schema, models[1].name)
    w = World(registry, Sources(registry.db.pool, kids, registry.cases, units, read), models, ids, k, moment)
    w.catch_up(run)
    return w


def _isolated(base: type[Projection]) -> Projection:
    from tests.projections.test_projector import isolated

    return isolated(base)


NATIONAL = Principal("officer:national", Role.NATIONAL_OFFICER, None, NOW + timedelta(days=1))


def exporting(world: World, principal: Principal = NATIONAL, page: int = 2, **request: Any) -> Export:
    """An export of Lũng Cú today by default, two records a page (so that every export here has several pages)."""
    values: dict[str, Any] = {"unit": LUNG_CU, "purpose": PURPOSE, "on": ON, **request}
    return Export(world.sources, principal, ExportRequest(**values), request_id=f"t-{uuid.uuid4().hex}", today=ON,
                  page=page)  # fmt: skip


async def body(job: Export) -> tuple[bytes, int]:
    chunks = [chunk async for chunk in job.chunks()]
    return b"".join(chunks), len(chunks)


def csv_rows(data: bytes) -> list[dict[str, str]]:
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def by_id(rows: list[dict[str, str]], key: str) -> dict[str, dict[str, str]]:
    return {row[key]: row for row in rows}


def test_a_communes_children_today_in_vietnamese_csv(run, world: World) -> None:  # type: ignore[no-untyped-def]
    job = exporting(world)
    data, chunks = run(body(job))
    rows = by_id(csv_rows(data), BY_NAME["child_id"].vietnamese)
    i = world.ids
    assert set(rows) == {i["mo"], i["chu"], i["di"], i["pa"], i["ly"], i["sua"]}  # not the merged one, nor Phố Bảng
    assert chunks == 1 + 3 and job.summary.records == 6 and job.summary.pages == 3  # headings, then a chunk a page
    assert list(rows[i["mo"]]) == child_headings(True, True)
    mo = {f: rows[i["mo"]][h] for f, h in zip(child_fields(), child_headings(True, True), strict=True)}
    assert mo == {
        "child_id": i["mo"], "source_key": "", "full_name": "Giàng Thị Mỷ", "date_of_birth": "2016-05-02",
        "sex": "Nữ", "ethnicity": "Hmông", "personal_id": "002316123456", "personal_id_mismatch_reason": "",
        "birth_registration": "Có", "commune_code": LUNG_CU, "residence_from": "2025-09-01",
        "address": "Thôn Lô Lô Chải", "father_name": "Giàng A Súa", "father_status": "Còn sống",
        "mother_name": "Lò Thị Dợ", "mother_status": "Đã mất", "caregiver_names": "Giàng Thị Mai",
        "caregiver_relations": "Người thân thích", "caregiver_statuses": "Còn sống",
        "groups": "d:mild@2024-01-15", "groups_from": "", "commune_now": LUNG_CU, "commune_name": "Xã Lũng Cú",
    }  # fmt: skip
    chu = {f: rows[i["chu"]][h] for f, h in zip(child_fields(), child_headings(True, True), strict=True)}
    assert (chu["date_of_birth"], chu["birth_registration"], chu["ethnicity"], chu["residence_from"]) == (
        "2019-11", "Không", "", "2022-01-01")  # a residence from before the reform, under its legacy code  # fmt: skip
    assert chu["groups"] == "b:in_alt_care@2024-02-01; đ@2024-03-01"
    di = rows[i["di"]]
    assert di["Họ và tên"] == "Sùng Thị Dính" and di["Ngày sinh"] == "2014" and di["Tình trạng mẹ"] == "Còn sống"
    pa = {f: rows[i["pa"]][h] for f, h in zip(child_fields(), child_headings(True, True), strict=True)}
    assert pa["full_name"] == pa["personal_id"] == pa["address"] == "" and pa["date_of_birth"] == "2017-02-03"
    assert (pa["commune_code"], pa["commune_now"]) == (MA_LE, LUNG_CU)  # erased: the rest is still there
    assert rows[i["ly"]]["Nhóm hoàn cảnh đặc biệt"] == "a:with_relatives@2025-10-01"
    assert rows[i["sua"]]["Nhóm hoàn cảnh đặc biệt"] == "k:illegal_labour@2024-05-01"


def test_a_district_in_the_past_is_read_in_the_legacy_structure(run, world: World) -> None:  # type: ignore[no-untyped-def]
    data, _ = run(body(exporting(world, unit=DISTRICT, on=PAST, vietnamese=False)))
    rows = by_id(csv_rows(data), "child_id")
    i = world.ids
    assert set(rows) == {i["mo"], i["chu"], i["di"], i["pa"], i["sinh"], i["sua"]}  # "ly" came in 2025
    mo = rows[i["mo"]]
    assert (mo["commune_code"], mo["residence_from"], mo["commune_now"]) == (MA_LE, "2023-03-01", LUNG_CU)
    assert mo["address"] == ""  # the record keeps the address of its latest residence only
    assert (mo["sex"], mo["birth_registration"], mo["mother_status"]) == ("female", "registered", "deceased")
    assert rows[i["di"]]["address"] == "Thôn Séo Lủng"  # her residence of then is her latest
    assert rows[i["sinh"]]["commune_code"] == PHO_BANG and rows[i["sinh"]]["commune_now"] == NEW_PHO_BANG
    assert rows[i["sua"]]["groups"] == "k:illegal_labour@2024-05-01"
    assert rows[i["chu"]]["groups"] == "b:in_alt_care@2024-02-01; đ@2024-03-01"
    legacy, _ = run(body(exporting(world, unit=MA_LE, on=PAST)))
    assert set(by_id(csv_rows(legacy), "Mã trẻ em (hệ thống)")) == {i["mo"], i["pa"], i["sua"]}


def test_as_the_registry_knew_it_at_an_earlier_time(run, world: World) -> None:  # type: ignore[no-untyped-def]
    data, _ = run(body(exporting(world, known_at=world.moment, file_format="jsonl")))
    rows = {r["child_id"]: r for r in map(json.loads, data.decode().splitlines())}
    assert rows[world.ids["di"]]["full_name"] == "Sùng Thị Dí"  # corrected after that time
    assert rows[world.ids["ly"]]["groups"] == "không"  # classified after it
    assert rows[world.ids["ly"]]["source_key"] is None and rows[world.ids["ly"]]["sex"] == "female"
    early, _ = run(body(exporting(world, known_at=datetime(2000, 1, 1, tzinfo=UTC), file_format="jsonl")))
    assert early == b""


def test_without_personal_data_the_personal_columns_are_left_out(run, world: World) -> None:  # type: ignore[no-untyped-def]
    data, _ = run(body(exporting(world, personal=False, vietnamese=False)))
    rows = csv_rows(data)
    assert set(rows[0]) == set(child_fields(False))
    assert not {"full_name", "personal_id", "address", "father_name", "mother_name", "caregiver_names"} & set(rows[0])
    text = data.decode()
    assert "Giàng" not in text and "002316123456" not in text and "Thôn" not in text
    mo = by_id(rows, "child_id")[world.ids["mo"]]
    assert (mo["father_status"], mo["caregiver_relations"]) == ("alive", "relative")


# -- the round trip -------------------------------------------------------------------------------------------------


@dataclass
class Empty:
    db: Db
    store: EventStore
    children: Children
    units: Gazetteer
    master: bytes


@pytest.fixture(scope="module")
def empty(run, admin_url: str) -> Iterator[Empty]:  # type: ignore[no-untyped-def]
    """Another registry, with the administrative units and nothing else (an import's destination)."""
    db = run(create_test_database(admin_url))
    store = EventStore(db.pool, default_catalog(), connect=db.database.connect)
    run(load(store, default_plan()))
    units = Gazetteer()
    run(units.refresh(store))
    master = bytes(range(32))
    yield Empty(db, store, Children(store, Keyring(db.pool, master), units, clock=lambda: NOW), units, master)
    run(store.close())
    run(drop_test_database(admin_url, db))


def importing(run: Any, empty: Empty, path: Path) -> tuple[Any, list[Rejection]]:
    rejected: list[Rejection] = []
    options = ImportOptions(source="export-test", collected_on=ON, actor_id="operator:test", actor_role="operator")
    importer = Importer(empty.children, empty.units, empty.store, options)
    summary = run(importer.run(Table(path), on_rejected=rejected.append))
    return summary, rejected


def same_record(original: ChildState, copy: ChildState, on: date) -> None:
    """The fields a row carries, compared one by one."""
    assert copy.child_id == original.child_id
    assert copy.details == original.details  # birth, precision, sex, ethnicity, registration, caregivers in order
    assert copy.personal == original.personal  # name, personal id, caregivers' names, address
    assert copy.residences == (original.residence_on(on),)
    groups = [(g.code, g.subgroup, g.start) for g in original.groups_on(on)]
    assert [(g.code, g.subgroup, g.start, g.end) for g in copy.groups] == [(*g, None) for g in groups]


def test_an_export_imports_into_an_empty_registry_as_the_same_records_in_every_format(  # type: ignore[no-untyped-def]
    run, world: World, empty: Empty, tmp_path: Path
) -> None:
    i = world.ids
    for number, (file_format, vietnamese) in enumerate((("csv", True), ("xlsx", False), ("jsonl", None))):
        data, _ = run(body(exporting(world, file_format=file_format, vietnamese=vietnamese)))
        path = tmp_path / f"tre-em.{file_format}"
        path.write_bytes(data)
        summary, rejected = importing(run, empty, path)
        assert [(r.problems[0][0], r.problems[0][1]) for r in rejected] == [("full_name", "missing")]  # the erased
        if number == 0:  # into the empty registry: every other row is a record
            assert (summary.created, summary.changed, summary.unchanged) == (5, 0, 0)
        else:  # the same records again, from another format: nothing to change
            assert (summary.created, summary.changed, summary.unchanged, summary.events) == (0, 0, 5, 0)
    for name in ("mo", "chu", "di", "ly", "sua"):
        original = run(world.registry.children.load(i[name]))
        copy = run(empty.children.load(i[name]))
        assert original is not None and copy is not None
        same_record(original, copy, ON)
    assert run(empty.children.load(i["pa"])) is None and run(empty.children.load(i["dup"])) is None
    book = load_workbook(tmp_path / "tre-em.xlsx", read_only=True)
    first = next(book.worksheets[0].iter_rows(values_only=True))
    assert list(first) == child_headings(True, False)
    column = list(first).index("personal_id")
    cells = [row[column] for row in book.worksheets[0].iter_rows(values_only=True)]
    assert "002316123456" in cells  # a text cell: the leading 0 stays
    address = list(first).index("address")
    typed = [row[address] for row in load_workbook(tmp_path / "tre-em.xlsx").worksheets[0].iter_rows()]
    assert [(c.value, c.data_type) for c in typed if c.value and c.value.startswith("=")] == [
        ("=1+2 Thôn Sáng Ngài", "s")]  # text, never a formula Excel would run  # fmt: skip
    book.close()


def test_the_command_writes_the_file_and_logs_as_the_operator(  # type: ignore[no-untyped-def]
    run, world: World, empty: Empty, tmp_path: Path
) -> None:
    """On the registry the round trip imported into, with its own read models, as `registry export` runs."""
    if run(empty.children.load(world.ids["mo"])) is None:  # this test run alone: import first
        (tmp_path / "first").mkdir()
        test_an_export_imports_into_an_empty_registry_as_the_same_records_in_every_format(
            run, world, empty, tmp_path / "first"
        )
    stand_in = Registry(empty.db, empty.store, None, None, None, None, b"")  # type: ignore[arg-type]
    for cls in PROJECTIONS:
        _catch_up(run, stand_in, cls())
    settings = load_settings(database_url=empty.db.owner_url, registry_data_dir=tmp_path,
                             registry_master_key=base64.urlsafe_b64encode(empty.master).decode())  # fmt: skip
    parser = argparse.ArgumentParser()
    export_arguments(parser)
    out = tmp_path / "tre-em.jsonl"
    args = parser.parse_args(["--unit", LUNG_CU, "--on", ON.isoformat(), "--format", "jsonl", "--purpose", PURPOSE,
                              "--actor", "operator:tester", "--out", str(out), "--page", "2"])  # fmt: skip
    assert export(settings, args) == 0
    rows = {r["child_id"]: r for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    assert set(rows) == {world.ids[n] for n in ("mo", "chu", "di", "ly", "sua")}
    assert rows[world.ids["mo"]]["full_name"] == "Giàng Thị Mỷ"
    logged = [e for e in run(_all_entries(empty.db)) if e.subject == "operator:tester"]
    assert {(e.role, e.unit, e.operation, e.record_kind, e.purpose, e.outcome.value) for e in logged} == {
        ("operator", None, "export", "child", PURPOSE, "allowed")}  # fmt: skip
    assert sorted(e.record_id for e in logged) == sorted(rows)  # type: ignore[type-var]
    with pytest.raises(SystemExit):
        parser.parse_args(["--unit", LUNG_CU, "--format", "csv"])  # no purpose

    checker = argparse.ArgumentParser()
    quality_arguments(checker)
    report = tmp_path / "chat-luong.xlsx"
    args = checker.parse_args(["--unit", LUNG_CU, "--format", "xlsx", "--purpose", PURPOSE, "--actor",
                               "operator:checker", "--out", str(report)])  # fmt: skip
    assert quality(settings, args) == 0
    book = load_workbook(report, read_only=True)
    counts = {r[1]: r[2] for r in book.worksheets[0].iter_rows(values_only=True) if len(r) == 3 and r[2] is not None}
    listed = {r[0] for r in list(book.worksheets[1].iter_rows(values_only=True))[1:]}
    book.close()
    # The records imported: "mo" and "sua" are complete; "chu", "di" and "ly" lack a personal id, and more.
    assert {k: v for k, v in counts.items() if k != "Mã"} == {
        "needs_id_match": 3, "birth_not_registered": 1, "birth_registration_unknown": 2, "imprecise_date_of_birth": 2,
        "missing_ethnicity": 2, "groups_not_reviewed": 0,
    }  # fmt: skip
    assert listed == {world.ids[n] for n in ("chu", "di", "ly")}
    checked = {e.record_id for e in run(_all_entries(empty.db)) if e.subject == "operator:checker"}
    assert checked == set(rows)


async def _all_entries(db: Db) -> list[Entry]:
    found: list[Entry] = []
    while page := await entries(db.pool, after=found[-1].id if found else 0, limit=1000):
        found.extend(page)
    return found


# -- the access log and jurisdiction ---------------------------------------------------------------------------------


def test_every_record_exported_is_logged_a_page_at_a_time(run, world: World) -> None:  # type: ignore[no-untyped-def]
    officer = Principal("officer:lung-cu", Role.COMMUNE_OFFICER, LUNG_CU, NOW + timedelta(days=1))
    job = exporting(world, officer, unit=MA_LE, on=PAST)  # a legacy commune of her commune: within reach
    data, _ = run(body(job))
    logged = [e for e in run(_all_entries(world.registry.db)) if e.request_id == job.request_id]
    exported = set(by_id(csv_rows(data), "Mã trẻ em (hệ thống)"))
    assert sorted(e.record_id for e in logged) == sorted(exported) and len(logged) == 3  # type: ignore[type-var]
    assert {(e.subject, e.role, e.unit, e.operation, e.purpose) for e in logged} == {
        ("officer:lung-cu", "commune_officer", LUNG_CU, "export", PURPOSE)}  # fmt: skip
    assert job.summary.pages == 2  # page size 2: one statement for each


def test_a_unit_out_of_reach_or_a_role_without_records_is_refused_and_logged(run, world: World) -> None:  # type: ignore[no-untyped-def]
    other = Principal("officer:pho-bang", Role.COMMUNE_OFFICER, NEW_PHO_BANG, NOW + timedelta(days=1))
    job = exporting(world, other)
    with pytest.raises(ExportRefused) as caught:
        run(body(job))
    assert caught.value.reason == "jurisdiction" and caught.value.code == "FORBIDDEN"
    logged = [e for e in run(_all_entries(world.registry.db)) if e.request_id == job.request_id]
    assert [(e.outcome.value, e.reason, e.record_id) for e in logged] == [("denied", "jurisdiction", None)]
    assert job.summary.bytes == 0
    # The national child database's client reads no record through the API, but exports whole units (its first
    # load before it follows the change feed): admitted, and each record it receives is logged.
    client = Principal("client:csdl", Role.INTEGRATION_CLIENT, None, NOW + timedelta(days=1))
    received = exporting(world, client)
    assert run(body(received)) and received.summary.records > 0
    with pytest.raises(InvalidInput) as bad:
        run(exporting(world, unit="99999").check())
    assert bad.value.field == "unit"
    for field, request in (("purpose", {"purpose": " "}), ("format", {"file_format": "pdf"}),
                           ("records", {"records": "plans"}), ("unit", {"unit": "1234"}),
                           ("known_at", {"known_at": datetime(2026, 1, 1)})):  # fmt: skip
        with pytest.raises(InvalidInput) as bad:
            ExportRequest(**{"unit": LUNG_CU, "purpose": PURPOSE, **request})  # type: ignore[arg-type]
        assert bad.value.field == field


def test_the_operator_reaches_the_whole_country_and_carries_its_role() -> None:
    who = operator("operator:root")
    assert (who.role, who.unit) == (Role.OPERATOR, None)
    assert who.covers(Gazetteer().place("00715", ON))


# -- cases -----------------------------------------------------------------------------------------------------------


def test_the_cases_of_a_unit_at_the_end_of_a_day_with_their_deadlines_and_never_the_sealed_part(  # type: ignore[no-untyped-def]
    run, world: World
) -> None:
    k, i = world.cases, world.ids
    data, _ = run(body(exporting(world, records="cases", file_format="jsonl")))
    rows = {r["case_id"]: r for r in map(json.loads, data.decode().splitlines())}
    assert set(rows) == {k["k1"], k["k2"], k["k3"], k["k4"]}  # k2 and k3 were handled in Má Lé: now Lũng Cú
    assert list(rows[k["k1"]]) == [name for name, _ in CASE_COLUMNS]
    k1 = rows[k["k1"]]
    assert (k1["stage"], k1["channel"], k1["case_types"], k1["risk_level"], k1["emergency"]) == (
        "assessed", "hotline_111", ["neglect"], "medium", False)  # fmt: skip
    assert k1["received_at"] == "2026-11-20T09:00:00+07:00" and k1["child_ids"] == [i["chu"]]
    assert (k1["deadline_plan_draft"], k1["deadline_emergency_protection"]) == ("pending", None)
    k4 = rows[k["k4"]]
    assert k4["deadline_emergency_protection"] == "overdue"  # 12 hours from 21:00 passed by the end of the day
    assert k4["deadline_emergency_protection_due"] == "2026-11-23T09:00:00+07:00"
    assert rows[k["k2"]]["closed_reason"] == "unfounded" and rows[k["k2"]]["stage"] == "closed"
    assert (rows[k["k3"]]["commune_code"], rows[k["k3"]]["commune_now"]) == (MA_LE, LUNG_CU)
    assert "account" not in data.decode() and "Giàng A Lử" not in data.decode()

    then, _ = run(body(exporting(world, records="cases", unit=PHO_BANG, on=PAST, vietnamese=True)))
    past = by_id(csv_rows(then), "Mã vụ việc")
    assert set(past) == {k["k3"]}  # before its transfer to Má Lé
    assert past[k["k3"]]["Giai đoạn"] == "received" and past[k["k3"]]["Cần bảo vệ khẩn cấp"] == "Không"
    may, _ = run(body(exporting(world, records="cases", unit=MA_LE, on=date(2024, 6, 5))))
    assert set(by_id(csv_rows(may), "Mã vụ việc")) == {k["k2"]}
    assert by_id(csv_rows(may), "Mã vụ việc")[k["k2"]]["Giai đoạn"] == "received"  # closed only on 2024-06-10
    district, _ = run(body(exporting(world, records="cases", unit=DISTRICT, on=date(2024, 8, 1))))
    assert set(by_id(csv_rows(district), "Mã vụ việc")) == {k["k2"], k["k3"]}


# -- memory ----------------------------------------------------------------------------------------------------------


def test_memory_stays_flat_however_large_the_unit(run, world: World) -> None:  # type: ignore[no-untyped-def]
    """Two communes of Mèo Vạc district, one with four times the children of the other: the peak memory of an export
    (a page of 50 at a time) does not grow with the unit."""
    small_commune, large_commune, small = "00808", "00787", 100  # Tát Ngà, Sủng Máng (from 2025-07-01)
    for commune, count in ((small_commune, small), (large_commune, 4 * small)):
        requests = []
        for n in range(count):
            command = RegisterChild(str(uuid.uuid4()), "Giàng Thị Dua", date(2018, 1, 1) + timedelta(days=n),
                                    Sex.FEMALE, commune, date(2025, 8, 1), ethnicity="08",
                                    caregivers=(NewCaregiver(Relation.MOTHER, CaregiverStatus.ALIVE, "Lò Thị Mỷ"),),
                                    address="Thôn Tát Ngà")  # fmt: skip
            requests.append(Batched(command.child_id, lambda _, c=command: [c], OFFICER))  # type: ignore[misc]
        run(world.registry.children.execute_batch(requests))
    world.catch_up(run)

    async def peak(unit: str, file_format: str) -> tuple[int, int]:
        job = Export(world.sources, NATIONAL, ExportRequest(unit, PURPOSE, on=ON, file_format=file_format),
                     request_id=f"m-{uuid.uuid4().hex}", today=ON, page=50)  # fmt: skip
        gc.collect()  # garbage of an earlier run is not this one's
        tracemalloc.reset_peak()
        size = 0
        async for chunk in job.chunks():
            size += len(chunk)
        return tracemalloc.get_traced_memory()[1], job.summary.records

    tracemalloc.start()
    try:
        for file_format in ("csv", "jsonl", "xlsx"):
            run(peak(small_commune, file_format))  # warm up: caches, imports
            low, n = run(peak(small_commune, file_format))
            high, four_n = run(peak(large_commune, file_format))
            assert (n, four_n) == (small, 4 * small)
            assert high < 1.6 * low, (file_format, low, high)  # proportional would be 4 times
    finally:
        tracemalloc.stop()


def test_an_http_endpoint_streams_the_chunks_and_answers_403_before_any_byte(run, world: World) -> None:  # type: ignore[no-untyped-def]
    """How the API serves an export: check first (a refusal is a status, not a broken download), then stream."""
    import httpx
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response, StreamingResponse
    from starlette.routing import Route

    outsider = Principal("officer:pho-bang", Role.COMMUNE_OFFICER, NEW_PHO_BANG, NOW + timedelta(days=1))

    async def endpoint(request: Request) -> Response:
        who = outsider if request.query_params.get("who") == "outsider" else NATIONAL
        job = exporting(world, who, file_format=request.query_params.get("format", "csv"))
        try:
            await job.check()
        except ExportRefused:
            return PlainTextResponse("forbidden", status_code=403)
        disposition = f'attachment; filename="{job.filename}"'
        return StreamingResponse(job.chunks(), media_type=job.media_type, headers={"content-disposition": disposition})

    app = Starlette(routes=[Route("/export", endpoint)])

    async def get(query: str) -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            return await client.get(f"/export?{query}")

    answer = run(get("format=jsonl"))
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/x-ndjson")
    assert answer.headers["content-disposition"] == f'attachment; filename="tre-em-{LUNG_CU}-{ON.isoformat()}.jsonl"'
    assert len(answer.text.splitlines()) == 6
    before = set(Path(tempfile.gettempdir()).glob("registry-export-*"))
    xlsx = run(get("format=xlsx"))
    assert xlsx.status_code == 200 and xlsx.content.startswith(b"PK")  # a zip: the workbook
    assert set(Path(tempfile.gettempdir()).glob("registry-export-*")) <= before  # streamed, then removed
    assert run(get("who=outsider")).status_code == 403
