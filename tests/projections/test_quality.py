"""The data-quality report of a unit: each issue found on a known set of records, counted, listed, logged, and
written as CSV and XLSX.

Children are made through the register in the new commune Mèo Vạc (Hà Giang, now Tuyên Quang) and in Pả Vi, a
legacy commune it was formed from; no other test writes there.
"""

from __future__ import annotations

import csv
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook  # type: ignore[import-untyped]

from projections.export import ExportRefused, Sources
from projections.quality import ISSUES, QualityCheck, QualityReport, QualityWriter, build_quality, headings
from projections.register import ChildRegister
from projections.reports import ReadModels
from registry.access import Principal, Role
from registry.access_log import entries
from registry.children import (
    BirthRegistration,
    ClassifyChild,
    DatePrecision,
    EraseChildData,
    MergeChild,
    RegisterChild,
    Sex,
)
from registry.events import Metadata
from registry.gazetteer import Gazetteer
from tests.conftest import NOW, Registry
from tests.projections.test_export import _catch_up, _grant
from tests.projections.test_projector import isolated

OFFICER = Metadata(actor_id="officer:meo-vac", actor_role="commune_officer")
MEO_VAC, PA_VI = "00769", "00781"  # the new Xã Mèo Vạc (from 2025-07-01) and a legacy commune it was formed from
NATIONAL = Principal("officer:national", Role.NATIONAL_OFFICER, None, NOW + timedelta(days=400))
PURPOSE = "Project 06 cleansing"


@dataclass
class World:
    registry: Registry
    sources: Sources
    ids: dict[str, str]

    def check(self, principal: Principal = NATIONAL, **options: object) -> QualityCheck:
        values: dict[str, object] = {"now": NOW, "page": 2, **options}
        return QualityCheck(self.sources, principal, MEO_VAC, PURPOSE, f"q-{uuid.uuid4().hex}", **values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def world(run, registry: Registry) -> World:  # type: ignore[no-untyped-def]
    i = {name: str(uuid.uuid4()) for name in "abcdef"}
    kids = registry.children

    def do(command: object) -> None:
        run(kids.execute(command, OFFICER))  # type: ignore[arg-type]

    do(RegisterChild(i["a"], "Hầu Thị Mai", date(2017, 3, 3), Sex.FEMALE, MEO_VAC, date(2025, 8, 1), ethnicity="08",
                     personal_id="002317111111", birth_registration=BirthRegistration.REGISTERED))  # fmt: skip
    do(ClassifyChild(i["a"], "disabled", date(2025, 9, 1), "certificate", "severe"))
    do(RegisterChild(i["b"], "Lý Văn Páo", date(2020, 6, 1), Sex.MALE, MEO_VAC, date(2025, 8, 1),
                     date_of_birth_precision=DatePrecision.MONTH,
                     birth_registration=BirthRegistration.NOT_REGISTERED))  # fmt: skip
    do(RegisterChild(i["c"], "Vàng Thị Dở", date(2013, 1, 1), Sex.FEMALE, PA_VI, date(2020, 1, 1),
                     date_of_birth_precision=DatePrecision.YEAR, ethnicity="08"))  # fmt: skip
    do(RegisterChild(i["d"], "Sùng Mí Lử", date(2016, 4, 4), Sex.MALE, PA_VI, date(2021, 1, 1),
                     personal_id="002216222222"))  # fmt: skip
    do(EraseChildData(i["d"], "Decree 13/2023 Art. 16"))
    do(RegisterChild(i["e"], "Mua Thị Chá", date(2015, 5, 5), Sex.FEMALE, PA_VI, date(2024, 1, 1), ethnicity="08",
                     personal_id="002315333333", birth_registration=BirthRegistration.REGISTERED))  # fmt: skip
    do(ClassifyChild(i["e"], "abandoned", date(2024, 2, 1), "police record", "in_alt_care"))
    do(RegisterChild(i["f"], "Mua Thị Cha", date(2015, 5, 5), Sex.FEMALE, PA_VI, date(2024, 1, 1)))
    do(MergeChild(i["f"], i["e"], "the same child"))
    model = isolated(ChildRegister)
    _catch_up(run, registry, model)
    run(_grant(registry, model.schema))
    units = Gazetteer()
    run(units.refresh(registry.store))
    read = ReadModels(model.schema, model.name)
    return World(registry, Sources(registry.db.pool, kids, registry.cases, units, read), i)


def test_each_issue_is_found_and_counted_on_a_known_set(run, world: World) -> None:  # type: ignore[no-untyped-def]
    i = world.ids
    report: QualityReport = run(build_quality(world.check()))
    assert (report.checked, report.erased, report.unit_name, report.on) == (5, 1, "Xã Mèo Vạc", date(2026, 11, 23))
    assert report.counts == {
        "needs_id_match": 2, "birth_not_registered": 1, "birth_registration_unknown": 2, "imprecise_date_of_birth": 2,
        "missing_ethnicity": 2, "groups_not_reviewed": 0,
    }  # fmt: skip
    found = {r.child_id: r for r in report.records}
    assert set(found) == {i["b"], i["c"], i["d"]}  # "a" and "e" are complete; "f" was merged
    assert found[i["b"]].issues == ("needs_id_match", "birth_not_registered", "imprecise_date_of_birth",
                                    "missing_ethnicity")  # fmt: skip
    assert found[i["c"]].issues == ("needs_id_match", "birth_registration_unknown", "imprecise_date_of_birth")
    assert found[i["d"]].issues == ("birth_registration_unknown", "missing_ethnicity")  # its number was erased
    assert (found[i["b"]].full_name, found[i["d"]].full_name) == ("Lý Văn Páo", None)
    assert (found[i["c"]].date_of_birth, found[i["c"]].commune_code, found[i["c"]].commune_now) == ("2013", PA_VI,
                                                                                                   MEO_VAC)  # fmt: skip


def test_groups_without_a_group_event_recorded_in_a_year_are_not_reviewed(run, world: World) -> None:  # type: ignore[no-untyped-def]
    """Group events are recorded now (system time), so a report for a year and a day later finds them unreviewed."""
    later = datetime.now(UTC) + timedelta(days=366)
    report = run(build_quality(world.check(now=later)))
    assert report.counts["groups_not_reviewed"] == 2
    flagged = {r.child_id for r in report.records if "groups_not_reviewed" in r.issues}
    assert flagged == {world.ids["a"], world.ids["e"]}  # the children in a group; the others have none
    assert run(build_quality(world.check(now=datetime.now(UTC) + timedelta(days=364)))).counts[
        "groups_not_reviewed"] == 0  # fmt: skip


def test_names_only_for_a_caller_who_may_read_them_and_every_record_opened_is_logged(run, world: World) -> None:  # type: ignore[no-untyped-def]
    check = world.check(personal=False)
    report = run(build_quality(check))
    assert all(r.full_name is None for r in report.records) and report.counts["needs_id_match"] == 2
    logged = [e for e in run(entries(world.registry.db.pool, subject="officer:national", limit=10_000))
              if e.request_id == check.request_id]  # fmt: skip
    assert sorted(e.record_id for e in logged) == sorted(set(world.ids.values()) - {world.ids["f"]})  # type: ignore[type-var]
    assert {(e.operation, e.record_kind, e.purpose, e.outcome.value) for e in logged} == {
        ("quality", "child", PURPOSE, "allowed")}  # fmt: skip


def test_a_unit_out_of_reach_is_refused_and_logged(run, world: World) -> None:  # type: ignore[no-untyped-def]
    other = Principal("officer:dong-van", Role.COMMUNE_OFFICER, "00721", NOW + timedelta(days=1))
    check = world.check(other)
    with pytest.raises(ExportRefused):
        run(build_quality(check))
    logged = [e for e in run(entries(world.registry.db.pool, subject="officer:dong-van", limit=10_000))
              if e.request_id == check.request_id]  # fmt: skip
    assert [(e.operation, e.outcome.value, e.reason) for e in logged] == [("quality", "denied", "jurisdiction")]
    mine = Principal("officer:meo-vac", Role.COMMUNE_OFFICER, MEO_VAC, NOW + timedelta(days=1))
    assert run(build_quality(world.check(mine))).checked == 5


async def write(check: QualityCheck, writer: QualityWriter) -> None:
    async for found in check.records():
        writer.add(found)
    writer.close(check)


def test_the_report_as_csv_and_xlsx(run, world: World, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    for file_format in ("csv", "xlsx"):
        check = world.check()
        path = tmp_path / f"chat-luong.{file_format}"
        writer = QualityWriter(path, file_format, personal=True)
        run(write(check, writer))
        if file_format == "csv":
            assert path.read_bytes().startswith(b"\xef\xbb\xbf")
            with path.open(encoding="utf-8-sig", newline="") as handle:
                rows = list(csv.DictReader(handle))
            assert list(rows[0]) == headings(True, True)
            b = next(r for r in rows if r["Mã trẻ em (hệ thống)"] == world.ids["b"])
            assert b["Họ và tên"] == "Lý Văn Páo" and b[ISSUES[0].vietnamese] == "x" and b[ISSUES[2].vietnamese] == ""
            assert len(rows) == 3
        else:
            book = load_workbook(path, read_only=True)
            summary = [list(r) for r in book["Tổng hợp"].iter_rows(values_only=True)]
            counts = {r[1]: r[2] for r in summary if len(r) == 3 and r[1] in {i.code for i in ISSUES}}
            assert counts["needs_id_match"] == 2 and counts["missing_ethnicity"] == 2
            assert ["Số trẻ em đã kiểm tra", 5] in summary
            listed = list(book["Danh sách"].iter_rows(values_only=True))
            assert list(listed[0]) == headings(True, True) and len(listed) == 4
            book.close()
