"""Indicators computed from the read models, each with the records that make it up; population entered."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

import pytest

from projections.indicators import Value, compute
from projections.register import CaseRegister, ChildRegister
from projections.runtime import Projector
from registry.cases import (
    ApprovePlan,
    AssessRisk,
    CaseType,
    Channel,
    CompleteDetailedAssessment,
    ReceiveReport,
    ReporterKind,
    RiskLevel,
    SubmitPlan,
)
from registry.children import BirthRegistration, ClassifyChild, FlagAtRisk, RecordSupport, RegisterChild, Sex
from registry.circumstances import AtRiskCategory, SupportKind, SupportLevel
from registry.errors import InvalidInput
from registry.events import Metadata
from registry.gazetteer import Gazetteer
from registry.law import VIETNAM
from registry.population import latest, record
from registry.units import Level
from tests.conftest import Registry
from tests.projections.test_projector import SERVICE, isolated

OFFICER = Metadata(actor_id="officer:9", actor_role="commune_officer")
MUONG_NHE = "03160"  # a commune of Điện Biên from 2025-07-01, used by no other test


def test_cisc_rate_and_supported_share_are_explained_by_their_records(run, registry: Registry) -> None:
    children = [str(uuid.uuid4()) for _ in range(3)]
    for child in children:
        run(registry.children.execute(RegisterChild(child, "Giàng A Tủa", date(2016, 4, 4), Sex.MALE, MUONG_NHE,
                                                    date(2025, 8, 1)), OFFICER))  # fmt: skip
    run(registry.children.execute(ClassifyChild(children[0], "hiv_aids", date(2026, 1, 5), "hospital letter"), OFFICER))
    run(registry.children.execute(ClassifyChild(children[1], "trafficked", date(2026, 2, 1), "police record"), OFFICER))
    run(registry.children.execute(RecordSupport(children[1], SupportKind.COUNSELLING, SupportLevel.INTERVENTION,
                                                "CTXH", date(2026, 3, 1)), OFFICER))  # fmt: skip
    gazetteer = run(_units(registry))
    with pytest.raises(InvalidInput) as caught:
        run(record(registry.store, gazetteer, OFFICER, unit_code=MUONG_NHE, year=2026, children=400,
                   counted_on=date(2025, 12, 31), source="x"))  # fmt: skip
    assert caught.value.field == "counted_on"
    run(record(registry.store, gazetteer, OFFICER, unit_code=MUONG_NHE, year=2026, children=350,
               counted_on=date(2026, 1, 1), source="household register"))  # fmt: skip
    run(record(registry.store, gazetteer, OFFICER, unit_code=MUONG_NHE, year=2026, children=400,
               counted_on=date(2026, 6, 30), source="household register, mid-year"))  # fmt: skip
    assert run(latest(registry.store, MUONG_NHE, 2026))[0].children == 400  # type: ignore[index]

    projection = isolated(ChildRegister)
    runner = Projector(registry.store, registry.db.owner, projection)
    run(projection.prepare(registry.store))
    run(runner.catch_up(run(runner.ensure())))
    conn = run(registry.db.owner())
    try:
        rate = run(compute(conn, registry.store, "cisc_rate", Level.COMMUNE, MUONG_NHE, date(2026, 1, 1),
                           date(2026, 6, 30), schema=projection.schema, projection=projection.name))  # fmt: skip
        assert (rate.numerator, rate.denominator, rate.value) == (2, 400, 2 / 400)
        assert rate.numerator_records == sorted(children[:2]) and "mid-year" in rate.denominator_records[0]
        assert rate.cursor  # read at the projection's checkpoint
        share = run(compute(conn, registry.store, "cisc_supported_pct", Level.COMMUNE, MUONG_NHE, date(2026, 1, 1),
                            date(2026, 6, 30), schema=projection.schema, projection=projection.name))  # fmt: skip
        assert (share.numerator, share.denominator, share.value) == (1, 2, 0.5)
        assert share.numerator_records == [children[1]] and share.denominator_records == sorted(children[:2])
        province = run(compute(conn, registry.store, "cisc_rate", Level.PROVINCE, "11", date(2026, 1, 1),
                               date(2026, 6, 30), schema=projection.schema, projection=projection.name))  # fmt: skip
        assert province.denominator is None and province.value is None  # no population entered: no rate
        assert set(children[:2]) <= set(province.numerator_records)
    finally:
        run(conn.close())


async def _units(registry: Registry) -> Gazetteer:
    units = Gazetteer()
    await units.refresh(registry.store)
    return units


MUONG_TOONG = "03163"  # another commune of Điện Biên from 2025-07-01, used by no other test
CHAIR = Metadata(actor_id="chair:9", actor_role="commune_chair")


def test_case_indicators_birth_registration_and_at_risk_are_explained_by_their_records(run, registry: Registry) -> None:  # type: ignore[no-untyped-def]
    young, older, flagged = (str(uuid.uuid4()) for _ in range(3))
    run(registry.children.execute(RegisterChild(young, "Lò Thị Mai", date(2023, 2, 1), Sex.FEMALE, MUONG_TOONG,
                                                date(2025, 8, 1), birth_registration=BirthRegistration.REGISTERED),
                                  OFFICER))  # fmt: skip
    run(registry.children.execute(RegisterChild(older, "Lò Văn Sáng", date(2022, 9, 1), Sex.MALE, MUONG_TOONG,
                                                date(2025, 8, 1)), OFFICER))  # fmt: skip
    run(registry.children.execute(RegisterChild(flagged, "Lò Văn Hùng", date(2012, 9, 1), Sex.MALE, MUONG_TOONG,
                                                date(2025, 8, 1)), OFFICER))  # fmt: skip
    run(registry.children.execute(FlagAtRisk(flagged, AtRiskCategory.ABUSE, date(2026, 2, 1), "teacher"), OFFICER))
    at = datetime(2026, 3, 2, 9, tzinfo=VIETNAM)
    cases = [str(uuid.uuid4()) for _ in range(3)]
    for n, case in enumerate(cases):  # two of sexual abuse (one managed), one of neglect a year earlier
        when = at if n < 2 else at.replace(year=2025)
        kind = CaseType.SEXUAL_ABUSE if n < 2 else CaseType.NEGLECT
        run(registry.cases.execute(ReceiveReport(case, when, Channel.HOTLINE_111, ReporterKind.NEIGHBOUR, (kind,),
                                                 MUONG_TOONG, "seen", child_ids=(flagged,) if n == 0 else (),
                                                 unregistered_children=() if n == 0 else ("a girl",)),
                                   OFFICER))  # fmt: skip
    first = cases[0]
    run(registry.cases.execute(AssessRisk(first, at + timedelta(hours=3), RiskLevel.HIGH, emergency=False), OFFICER))
    run(registry.cases.execute(CompleteDetailedAssessment(first, at + timedelta(days=1), "seen"), OFFICER))
    run(registry.cases.execute(SubmitPlan(first, at + timedelta(days=2), ("safe",), (SERVICE,)), OFFICER))
    run(registry.cases.execute(ApprovePlan(first, at + timedelta(days=20)), CHAIR))  # late: 7 working days

    children, case_model = isolated(ChildRegister), isolated(CaseRegister)
    for projection in (children, case_model):
        runner = Projector(registry.store, registry.db.owner, projection)
        run(projection.prepare(registry.store))
        run(runner.catch_up(run(runner.ensure())))
    options = dict(schema=children.schema, projection=children.name, case_schema=case_model.schema,
                   case_projection=case_model.name)  # fmt: skip
    conn = run(registry.db.owner())
    try:

        def value(code: str, level: Level = Level.COMMUNE, unit: str = MUONG_TOONG) -> Value:
            return run(compute(conn, registry.store, code, level, unit, date(2026, 1, 1), date(2026, 6, 30),
                               **options))  # type: ignore[arg-type]  # fmt: skip

        managed = value("sexual_abuse_case_managed_pct")
        assert (managed.numerator_records, managed.denominator_records) == ([first], sorted(cases[:2]))
        assert managed.value == 0.5 and "case_register" not in managed.cursor and case_model.name in managed.cursor
        change = value("abuse_cases_change")
        assert (change.numerator, change.denominator, change.value) == (2, 1, 1.0)
        deadlines = value("cases_within_deadlines_pct")
        on_time = {d.split("/")[2] for d in deadlines.numerator_records if d.startswith(first)}
        due = {d.split("/")[2] for d in deadlines.denominator_records if d.startswith(first)}
        assert due == {"plan_draft", "plan_approval"} and on_time == {"plan_draft"}, (due, on_time)
        births = value("birth_registration_u5")
        assert (births.numerator_records, births.denominator_records) == ([young], sorted([young, older]))
        risk = value("at_risk_detected_supported")
        assert risk.denominator_records == risk.numerator_records == [flagged]  # in a case with an approved plan
        province = value("sexual_abuse_case_managed_pct", Level.PROVINCE, "11")
        assert set(cases[:2]) <= set(province.denominator_records)
    finally:
        run(conn.close())
