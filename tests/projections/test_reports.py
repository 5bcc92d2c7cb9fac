"""Periodic reports: built from the read models for a commune and a district, before and after the 2025 reform, they
equal counts made independently from the events written here; CSV and XLSX give back the same figures."""

from __future__ import annotations

import argparse
import csv
import io
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook  # type: ignore[import-untyped]

from projections.cli import report
from projections.register import PROJECTIONS, CaseRegister, ChildRegister
from projections.reports import (
    ANNUAL,
    PERIOD,
    SIX_MONTH,
    ReadModels,
    Report,
    build_report,
    quarter,
    read_csv,
    read_xlsx,
    schedule,
    to_csv,
    to_xlsx,
)
from projections.runtime import Projection, Projector
from registry.cases import (
    ApplyEmergencyMeasure,
    ApprovePlan,
    AssessRisk,
    CaseType,
    Channel,
    CloseCase,
    ClosureReason,
    CompleteDetailedAssessment,
    EmergencyMeasure,
    PlannedService,
    ReceiveReport,
    ReporterKind,
    ReviewOutcome,
    ReviewPlan,
    RiskLevel,
    SubmitPlan,
    TransferCase,
)
from registry.catalog import default_catalog
from registry.children import ClassifyChild, DeclassifyChild, FlagAtRisk, MoveChild, RecordSupport, RegisterChild, Sex
from registry.circumstances import AtRiskCategory, SupportKind, SupportLevel
from registry.cli import report_arguments
from registry.config import load_settings
from registry.errors import InvalidInput
from registry.events import Metadata
from registry.gazetteer import Gazetteer
from registry.law import TWO_TIER_FROM, VIETNAM
from registry.store import EventStore
from registry.unit_loader import default_plan, load
from registry.units import Level
from tests.conftest import Db, Registry
from tests.projections.test_projector import isolated

OFFICER = Metadata(actor_id="officer:31", actor_role="commune_officer")
CHAIR = Metadata(actor_id="chair:31", actor_role="commune_chair")
# Tam Đường district (Lai Châu), the issuer of seed S000; no other test writes there.
DISTRICT = "106"
THEN_SIN, TA_LENG, GIANG_MA, KHUN_HA = "03394", "03400", "03405", "03430"  # legacy communes of Tam Đường
NEW_TA_LENG = "03405"  # from 2025-07-01: Tả Lèng (new) = Tả Lèng + Giang Ma + Hồ Thầu, all of Tam Đường
NEW_SIN_SUOI_HO = "03394"  # from 2025-07-01: Thèn Sin with communes of another district
SERVICE = PlannedService(service="counselling", level=SupportLevel.INTERVENTION, responsible="social work centre")
FAR = date(9999, 12, 30)


def vn(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=VIETNAM)  # type: ignore[misc]


@dataclass
class World:
    registry: Registry
    units: Gazetteer
    sources: ReadModels
    children: dict[str, str]
    cases: dict[str, str]
    before_declassified: datetime  # a moment when the registry still held c4 as trafficked

    async def report(self, level: Level | None, unit: str, kind: str, year: int | None = None,
                     **options: object) -> Report:  # fmt: skip
        conn = await self.registry.db.owner()
        try:
            return await build_report(conn, self.registry.store, self.units, level, unit, kind, year,
                                      sources=self.sources, **options)  # type: ignore[arg-type]  # fmt: skip
        finally:
            await conn.close()


@pytest.fixture(scope="module")
def world(run, registry: Registry) -> World:  # type: ignore[no-untyped-def]
    ids = {name: str(uuid.uuid4()) for name in ("c1", "c2", "c3", "c4", "c5", "c6", "c7")}
    kids = registry.children

    def do(command: object, who: Metadata = OFFICER) -> None:
        service = registry.cases if type(command).__module__.endswith("cases") else kids
        run(service.execute(command, who))  # type: ignore[attr-defined]

    born = date(2015, 4, 4)
    for name, commune, since in (("c1", THEN_SIN, date(2023, 3, 1)), ("c2", THEN_SIN, date(2023, 3, 1)),
                                 ("c3", THEN_SIN, date(2023, 1, 1)), ("c4", TA_LENG, date(2023, 1, 1)),
                                 ("c5", GIANG_MA, date(2024, 1, 1)), ("c6", THEN_SIN, date(2023, 1, 1)),
                                 ("c7", NEW_TA_LENG, date(2025, 8, 1))):  # fmt: skip
        do(RegisterChild(ids[name], "Giàng A Tủa", born, Sex.MALE, commune, since))
    c = ids
    do(ClassifyChild(c["c1"], "disabled", date(2023, 6, 1), "certificate", "mild"))
    do(
        RecordSupport(
            c["c1"], SupportKind.MONTHLY_ALLOWANCE, SupportLevel.SUPPORT, "UBND xã", date(2024, 2, 1), 500_000
        )
    )
    do(RecordSupport(c["c1"], SupportKind.COUNSELLING, SupportLevel.INTERVENTION, "CTXH", date(2024, 3, 1)))
    do(ClassifyChild(c["c2"], "orphan_both_parents", date(2024, 1, 10), "death certificates", "with_relatives"))
    do(ClassifyChild(c["c2"], "hiv_aids", date(2024, 2, 1), "hospital letter"))
    do(FlagAtRisk(c["c2"], AtRiskCategory.POOR_HOUSEHOLD, date(2024, 1, 5)))
    do(RecordSupport(c["c2"], SupportKind.CASH_GIFT, SupportLevel.PREVENTION, "Quỹ BTTE", date(2024, 12, 1), 300_000))
    do(ClassifyChild(c["c3"], "abandoned", date(2024, 1, 1), "police record", "in_alt_care"))
    do(MoveChild(c["c3"], TA_LENG, date(2024, 9, 1)))
    do(ClassifyChild(c["c4"], "trafficked", date(2024, 2, 1), "police record"))
    do(FlagAtRisk(c["c4"], AtRiskCategory.ABUSE, date(2024, 3, 1)))
    do(ClassifyChild(c["c5"], "disabled", date(2024, 5, 1), "certificate", "severe"))
    do(ClassifyChild(c["c6"], "disabled", date(2024, 12, 1), "certificate", "severe"))
    do(ClassifyChild(c["c7"], "drug_addicted", date(2025, 9, 1), "health centre"))

    k = {name: str(uuid.uuid4()) for name in ("k1", "k2", "k3", "k4", "k5", "k6")}

    def receive(case: str, at: datetime, types: tuple[CaseType, ...], commune: str, child: str) -> None:
        do(ReceiveReport(k[case], at, Channel.HOTLINE_111, ReporterKind.NEIGHBOUR, types, commune, "an account",
                         child_ids=(c[child],)))  # fmt: skip

    # k1 (domain.md 8.1): sexual abuse, emergency measure within the 12 hours, plan approved, open at the end.
    receive("k1", vn(2024, 3, 4, 21, 10), (CaseType.SEXUAL_ABUSE,), THEN_SIN, "c2")
    do(AssessRisk(k["k1"], vn(2024, 3, 4, 23, 30), RiskLevel.HIGH, emergency=True))
    do(ApplyEmergencyMeasure(k["k1"], vn(2024, 3, 5, 2), EmergencyMeasure.TEMPORARY_REMOVAL, "Mẫu 07 số 1"))
    do(CompleteDetailedAssessment(k["k1"], vn(2024, 3, 7, 9), "Mẫu 03"))
    do(SubmitPlan(k["k1"], vn(2024, 3, 12, 9), ("safe",), (SERVICE,)))
    do(ApprovePlan(k["k1"], vn(2024, 3, 13, 9)), CHAIR)
    # k2 (8.3): neglect and violence, plan drafted and approved late, closed after a review found the child stable.
    receive("k2", vn(2024, 5, 6, 9), (CaseType.NEGLECT, CaseType.PHYSICAL_VIOLENCE), THEN_SIN, "c1")
    do(AssessRisk(k["k2"], vn(2024, 5, 6, 10), RiskLevel.MEDIUM, emergency=False))
    do(CompleteDetailedAssessment(k["k2"], vn(2024, 5, 10, 9), "Mẫu 03"))
    do(SubmitPlan(k["k2"], vn(2024, 5, 20, 9), ("fed",), (SERVICE,)))
    do(ApprovePlan(k["k2"], vn(2024, 5, 21, 9)), CHAIR)
    do(ReviewPlan(k["k2"], vn(2024, 9, 20, 9), ReviewOutcome.STABLE, RiskLevel.LOW))
    do(CloseCase(k["k2"], vn(2024, 10, 1, 9), ClosureReason.RISK_RESOLVED))
    # k3: no plan by the end of the period (both plan deadlines overdue), transferred out after the period.
    receive("k3", vn(2024, 10, 20, 9), (CaseType.NEGLECT,), THEN_SIN, "c6")
    do(AssessRisk(k["k3"], vn(2024, 10, 21, 9), RiskLevel.MEDIUM, emergency=False))
    do(TransferCase(k["k3"], vn(2024, 12, 1, 9), TA_LENG, "the family moved"))
    # k4: received in Tả Lèng, transferred into Thèn Sin after the period.
    receive("k4", vn(2024, 6, 1, 9), (CaseType.CHILD_MARRIAGE,), TA_LENG, "c4")
    do(TransferCase(k["k4"], vn(2024, 12, 10, 9), THEN_SIN, "the child moved"))
    # k5: received before the period, closed within it as unfounded.
    receive("k5", vn(2023, 12, 1, 9), (CaseType.NEGLECT,), THEN_SIN, "c1")
    do(CloseCase(k["k5"], vn(2024, 2, 1, 9), ClosureReason.UNFOUNDED))
    # k6: after the reform, in the new commune Tả Lèng.
    receive("k6", vn(2025, 8, 10, 9), (CaseType.CHILD_MARRIAGE,), NEW_TA_LENG, "c7")

    time.sleep(0.05)
    moment = datetime.now(UTC)
    time.sleep(0.05)
    do(DeclassifyChild(c["c4"], "trafficked", date(2024, 10, 1), "returned, verified safe"))

    child_model, case_model = isolated(ChildRegister), isolated(CaseRegister)
    for projection in (child_model, case_model):
        _catch_up(run, registry, projection)
    units = Gazetteer()
    run(units.refresh(registry.store))
    sources = ReadModels(child_model.schema, child_model.name, case_model.schema, case_model.name)
    return World(registry, units, sources, ids, k, moment)


def _catch_up(run, registry: Registry, projection: Projection) -> None:  # type: ignore[no-untyped-def]
    runner = Projector(registry.store, registry.db.owner, projection)
    run(projection.prepare(registry.store))
    run(runner.catch_up(run(runner.ensure())))


def folded_groups(run, world: World, level: Level, unit: str, on: date) -> Counter[str]:  # type: ignore[no-untyped-def]
    """Independently of the read models: fold each child's events and count its groups on `on` where it lived then
    (the unit structure in force on `on`; a district as the district its residence was recorded under)."""
    units, counts = world.units, Counter[str]()
    for child in world.children.values():
        state = run(world.registry.children.load(child))
        living = [r for r in state.residences if r.valid_from <= on]
        if not living:
            continue
        commune, since = living[-1].commune_code, living[-1].valid_from
        if level is Level.DISTRICT:
            district = next((u.code for u in units.path(commune, since) if u.level is Level.DISTRICT), None)
            former = units.former_districts(commune, since)
            here = district or (former[0].code if len(former) == 1 else None)
        elif on >= TWO_TIER_FROM:
            here = units.successors(commune, since, FAR)[0].unit.code
        else:
            here = commune
        groups = state.groups_on(on)
        if here == unit and groups:
            counts[""] += 1
            counts.update(g.code for g in groups)
            counts.update(f"{g.code}/{g.subgroup}" for g in groups if g.subgroup)
    return counts


def section_counts(report: Report, code: str) -> Counter[str]:
    found = Counter[str]()
    for row in report.section(code).rows:
        value = row.values[0]
        assert isinstance(value, int)
        if value:
            found["/".join(k for k in row.keys if k)] = value
    return found


def test_the_calendar_gives_the_seed_dates_and_periods_from_1_january() -> None:
    district = schedule(Level.DISTRICT, SIX_MONTH, 2024, ["106", "12"])
    assert (district.due, district.start, district.end) == (date(2024, 5, 20), date(2024, 1, 1), date(2024, 5, 10))
    assert "S003" in district.basis and district.verified
    commune = schedule(Level.COMMUNE, ANNUAL, 2024, [THEN_SIN, "106", "12"])
    assert commune.due == date(2024, 11, 10) and commune.due < schedule(Level.DISTRICT, ANNUAL, 2024).due  # type: ignore[operator]
    tam_duong_2020 = schedule(Level.COMMUNE, SIX_MONTH, 2020, [THEN_SIN, "106", "12"])  # S000: by 25/5/2020
    assert tam_duong_2020.due == date(2020, 5, 25) and "S000" in tam_duong_2020.basis
    hong_ngu_2020 = schedule(Level.COMMUNE, SIX_MONTH, 2020, ["29956", "870", "87"])  # S002: before 13/5/2020
    assert hong_ngu_2020.due == date(2020, 5, 13) and hong_ngu_2020.end == date(2020, 5, 10)
    after = schedule(Level.COMMUNE, ANNUAL, 2025, [NEW_TA_LENG, "12"])
    assert after.recipient is not None and "tỉnh" in after.recipient  # no district after 2025-07-01
    assert schedule(Level.DISTRICT, ANNUAL, 2025, ["106", "12"]).due is None
    assert quarter(2024, 2) == (date(2024, 4, 1), date(2024, 6, 30)) and quarter(2024, 4)[1] == date(2024, 12, 31)


def test_a_commune_before_the_reform_equals_counts_from_the_events(run, world: World) -> None:  # type: ignore[no-untyped-def]
    report = run(world.report(None, THEN_SIN, ANNUAL, 2024))
    h = report.header
    assert (h.level, h.start, h.end, h.due, h.former_district) == (
        Level.COMMUNE, date(2024, 1, 1), date(2024, 11, 5), date(2024, 11, 10), False)  # fmt: skip
    assert all(cursor for _, cursor in h.cursors) and "Thèn Sin" in h.unit_name
    groups = section_counts(report, "children_by_group")
    assert groups == folded_groups(run, world, Level.COMMUNE, THEN_SIN, h.end)
    assert groups == Counter({"": 2, "disabled": 1, "disabled/mild": 1, "orphan_both_parents": 1,
                              "orphan_both_parents/with_relatives": 1, "hiv_aids": 1})  # fmt: skip
    assert section_counts(report, "at_risk") == Counter({"": 1, "poor_household": 1})
    supports = report.section("supports")
    assert [supports.value("", "", measure=m) for m in ("supports", "children", "amount_vnd")] == [2, 1, 500_000]
    assert supports.value("monthly_allowance", "support") == 1 and supports.value("counselling", "intervention") == 1
    assert supports.value("cash_gift") == 0  # given after the cut-off
    assert section_counts(report, "cases_received") == Counter(
        {"": 3, "sexual_abuse": 1, "neglect": 2, "physical_violence": 1})  # fmt: skip
    assert section_counts(report, "open_cases") == Counter(
        {"": 2, "intervention": 1, "intervention/high": 1, "assessed": 1, "assessed/medium": 1})  # fmt: skip
    assert section_counts(report, "cases_closed") == Counter({"": 2, "unfounded": 1, "risk_resolved": 1})
    deadlines = report.section("deadlines")
    assert [deadlines.value("", measure=m) for m in ("due", "met", "met_late", "overdue")] == [5, 1, 2, 2]
    assert deadlines.value("emergency_protection", measure="met") == 1
    assert deadlines.value("plan_draft", measure="overdue") == 1 and deadlines.value("plan_approval") == 2
    indicators = report.section("indicators")
    assert indicators.value("cisc_rate", measure="numerator") == groups[""]
    assert [indicators.value("cisc_supported_pct", measure=m) for m in ("numerator", "denominator", "value")] == [
        1, 2, 0.5]  # fmt: skip


def test_the_neighbouring_commune_and_the_district_before_the_reform(run, world: World) -> None:  # type: ignore[no-untyped-def]
    end = date(2024, 11, 5)
    ta_leng = run(world.report(Level.COMMUNE, TA_LENG, ANNUAL, 2024))
    assert section_counts(ta_leng, "children_by_group") == folded_groups(run, world, Level.COMMUNE, TA_LENG, end)
    assert section_counts(ta_leng, "children_by_group") == Counter(
        {"": 1, "abandoned": 1, "abandoned/in_alt_care": 1})  # c3 moved in; c4 declassified  # fmt: skip
    assert section_counts(ta_leng, "open_cases") == Counter({"": 1, "received": 1, "received/unassessed": 1})

    district = run(world.report(Level.DISTRICT, DISTRICT, ANNUAL, 2024))
    assert district.header.due == date(2024, 11, 15) and district.header.end == end
    assert "Tam Đường" in district.header.unit_name
    groups = section_counts(district, "children_by_group")
    assert groups == folded_groups(run, world, Level.DISTRICT, DISTRICT, end)
    assert groups[""] == 4 and groups["disabled"] == 2
    assert section_counts(district, "at_risk") == Counter({"": 2, "poor_household": 1, "at_risk_abuse": 1})
    assert section_counts(district, "cases_received")[""] == 4
    assert section_counts(district, "open_cases")[""] == 3
    assert section_counts(district, "cases_closed")[""] == 2


def test_after_the_reform_the_new_commune_and_the_former_district(run, world: World) -> None:  # type: ignore[no-untyped-def]
    report = run(world.report(Level.COMMUNE, NEW_TA_LENG, ANNUAL, 2025))
    h = report.header
    assert h.end == date(2025, 11, 5) and h.due == date(2025, 11, 10) and h.recipient and "tỉnh" in h.recipient
    groups = section_counts(report, "children_by_group")
    assert groups == folded_groups(run, world, Level.COMMUNE, NEW_TA_LENG, h.end)
    assert groups == Counter({"": 3, "abandoned": 1, "abandoned/in_alt_care": 1, "disabled": 1, "disabled/severe": 1,
                              "drug_addicted": 1})  # fmt: skip
    assert section_counts(report, "cases_received") == Counter({"": 1, "child_marriage": 1})
    assert section_counts(report, "open_cases") == Counter(  # k6, and k3 transferred to legacy Tả Lèng in 2024
        {"": 2, "received": 1, "received/unassessed": 1, "assessed": 1, "assessed/medium": 1})  # fmt: skip

    # The same code before the reform is another unit (legacy Giang Ma): only c5 lived there.
    legacy = run(world.report(Level.COMMUNE, GIANG_MA, PERIOD, start=date(2024, 1, 1), end=date(2024, 12, 31)))
    assert section_counts(legacy, "children_by_group") == Counter({"": 1, "disabled": 1, "disabled/severe": 1})

    former = run(world.report(Level.DISTRICT, DISTRICT, ANNUAL, 2025))
    assert former.header.former_district and former.header.due is None and former.notes
    groups = section_counts(former, "children_by_group")
    assert groups == folded_groups(run, world, Level.DISTRICT, DISTRICT, former.header.end)
    assert groups[""] == 6  # c1, c2, c3, c5, c6 recorded under Tam Đường's communes; c7 under a commune wholly in it
    assert section_counts(former, "cases_received")[""] == 1
    assert section_counts(former, "open_cases")[""] == 4  # k1, k3, k4 (transferred within the district) and k6


def test_as_the_registry_knew_it(run, world: World) -> None:  # type: ignore[no-untyped-def]
    today = run(world.report(Level.COMMUNE, TA_LENG, ANNUAL, 2024))
    then = run(world.report(Level.COMMUNE, TA_LENG, ANNUAL, 2024, known_at=world.before_declassified))
    assert today.section("children_by_group").value("trafficked") == 0
    assert then.section("children_by_group").value("trafficked") == 1
    assert then.header.known_at == world.before_declassified and then.notes
    early = run(world.report(Level.COMMUNE, THEN_SIN, ANNUAL, 2024, known_at=datetime(2000, 1, 1, tzinfo=UTC)))
    known = {k: v for k, v in early.figures().items() if k[0] != "indicators"}  # indicators: as known today (notes)
    assert known and all(v in (0, None) for v in known.values()), {k: v for k, v in known.items() if v}


def test_a_unit_with_nothing_gives_zeros(run, world: World) -> None:  # type: ignore[no-untyped-def]
    report = run(world.report(Level.COMMUNE, KHUN_HA, SIX_MONTH, 2024))
    figures = report.figures()
    assert figures and all(v in (0, None) for v in figures.values())
    assert report.section("children_by_group").value("") == 0 and report.section("deadlines").value("") == 0


def test_bad_input_is_a_typed_error_naming_the_field(run, world: World) -> None:  # type: ignore[no-untyped-def]
    cases: list[tuple[dict[str, object], str]] = [
        (dict(level=None, unit="1234", kind=ANNUAL, year=2024), "unit_code"),
        (dict(level=None, unit="99999", kind=ANNUAL, year=2024), "unit_code"),
        (dict(level=Level.PROVINCE, unit=THEN_SIN, kind=ANNUAL, year=2024), "level"),
        (dict(level=None, unit=THEN_SIN, kind="monthly", year=2024), "kind"),
        (dict(level=None, unit=THEN_SIN, kind=ANNUAL, year=None), "year"),
        (dict(level=None, unit=THEN_SIN, kind=PERIOD, start=date(2024, 6, 1), end=date(2024, 5, 31)), "end"),
        (dict(level=None, unit=THEN_SIN, kind=PERIOD, start=date(2024, 6, 1)), "end"),
    ]
    for options, field in cases:
        level, unit, kind = options.pop("level"), options.pop("unit"), options.pop("kind")
        year = options.pop("year", None)
        with pytest.raises(InvalidInput) as caught:
            run(world.report(level, unit, kind, year, **options))  # type: ignore[arg-type]
        assert caught.value.field == field, (options, caught.value)


def test_csv_and_xlsx_give_back_the_same_figures(run, world: World, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    report = run(world.report(Level.DISTRICT, DISTRICT, ANNUAL, 2024))
    figures = report.figures()

    stream = io.StringIO()
    to_csv(report, stream)
    text = stream.getvalue()
    assert text.startswith("\ufeff") and "Trẻ em bị bỏ rơi" in text
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0][0] == "Mục (section)"
    from_csv = {(r[0], (r[1], r[2]), r[4]): r[5] for r in rows[1:] if r[0] != "header" and r[1] != "note"}
    expected = {(s, (*k, "")[:2], m): "" if v is None else str(v) for (s, k, m), v in figures.items()}
    assert from_csv == expected and read_csv(io.StringIO(text)) == expected
    header = {r[1]: r[5] for r in rows if r[0] == "header"}
    assert header["unit_code"] == DISTRICT and header["due"] == "2024-11-15"

    path = tmp_path / "report.xlsx"
    to_xlsx(report, path)
    book = load_workbook(path)
    first = book.worksheets[0]
    assert first.title == "Thông tin" and "Tam Đường" in str(first["A1"].value)
    sheet = book.worksheets[1]
    assert [c.value for c in sheet[1]][:3] == ["Nhóm", "Nhóm nhỏ", "Tên"]
    assert [c.value for c in sheet[2]][:3] == ["group", "sub-group", "label"]
    assert sheet.column_dimensions["C"].width > 20
    back = read_xlsx(path)
    assert back == {(s, k, m): v for (s, k, m), v in figures.items()}
    assert len(book.worksheets) == 1 + len(report.sections)


def test_the_command_line_options(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    report_arguments(parser)
    args = parser.parse_args(["--unit", "106", "--level", "district", "--kind", "annual", "--year", "2024",
                              "--format", "xlsx", "--out", str(tmp_path / "r.xlsx")])  # fmt: skip
    assert (args.unit, args.level, args.kind, args.year, args.format) == ("106", "district", "annual", 2024, "xlsx")
    args = parser.parse_args(["--unit", THEN_SIN, "--kind", "period", "--start", "2024-04-01", "--end", "2024-06-30",
                              "--known-at", "2024-07-01T00:00+07:00"])  # fmt: skip
    assert args.start == date(2024, 4, 1) and args.known_at.utcoffset() == timedelta(hours=7)
    with pytest.raises(SystemExit):
        parser.parse_args(["--unit", THEN_SIN, "--known-at", "2024-07-01"])  # a time without its zone


def test_the_command_writes_csv_and_xlsx_from_the_read_models(run, fresh_db: Db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = EventStore(fresh_db.pool, default_catalog(), connect=fresh_db.database.connect)
    try:
        run(load(store, default_plan()))
        for cls in PROJECTIONS:
            _catch_up(run, Registry(fresh_db, store, None, None, None, None, b""), cls())  # type: ignore[arg-type]
    finally:
        run(store.close())
    settings = load_settings(database_url=fresh_db.owner_url, registry_data_dir=tmp_path)
    parser = argparse.ArgumentParser()
    report_arguments(parser)
    out = tmp_path / "bao-cao.csv"
    assert report(settings, parser.parse_args(["--unit", DISTRICT, "--kind", "annual", "--year", "2024",
                                               "--out", str(out)])) == 0  # fmt: skip
    assert out.read_bytes().startswith("\ufeff".encode()) and "Tam Đường" in out.read_text(encoding="utf-8")
    xlsx = tmp_path / "bao-cao.xlsx"
    assert report(settings, parser.parse_args(["--unit", KHUN_HA, "--year", "2024", "--format", "xlsx",
                                               "--out", str(xlsx)])) == 0  # fmt: skip
    figures = read_xlsx(xlsx)
    assert figures and all(v in (0, None) for v in figures.values())
