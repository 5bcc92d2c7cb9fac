"""Progress against a plan: computed figures, officers' figures, and the reasons where there is none."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from projections.indicators import INDICATORS, Value
from projections.progress import NOT_OBSERVED, Progress, in_measure, progress
from projections.register import CaseRegister, ChildRegister
from projections.runtime import Projection, Projector
from registry.cases import CaseType, Channel, ReceiveReport, ReporterKind
from registry.children import ClassifyChild, RecordSupport, RegisterChild, Sex
from registry.circumstances import SupportKind, SupportLevel
from registry.errors import InvalidInput, NotFound
from registry.events import Metadata
from registry.gazetteer import Gazetteer
from registry.law import VIETNAM
from registry.observations import record as observe
from registry.plans import IssuePlan, Measure, RevisePlan, WithdrawIndicator, execute, load_seed_plans
from registry.population import record as count
from registry.units import Level
from tests.conftest import Registry
from tests.projections.test_projector import isolated

OFFICER = Metadata(actor_id="officer:progress", actor_role="province_officer")
LAI_CHAU, KA_LANG = "12", "03439"  # the province and one of its communes from 2025-07-01 (legacy: of Mường Tè, not
# Tam Đường, whose reports tests/projections/test_reports.py counts), used by no other test


def target(code: str, measure: str, direction: str, value: str, **more: Any) -> dict[str, Any]:
    return dict(code=code, number=more.pop("number", "1"), title=code, measure=measure, direction=direction,
                target=value, deadline_year=2026, source_text="synthetic", **more)  # fmt: skip


PLAN = [
    target("cisc_rate", "percent", "at_most", "5", strict=True),  # dưới 5%
    target("cisc_supported_pct", "percent", "at_least", "85"),
    target("imr", "per_1000_live_births", "at_most", "8.5", strict=True),
    target("full_immunisation_u1", "percent", "at_least", "90"),
    target("child_marriage_reduction", "percent_change", "reduce_by", "2"),  # hằng năm: against the previous year
    target("pmtct_rate", "percent", "at_most", "2", strict=True),
    target("cp_budget_commune", "vnd", "at_least", "30000000", strict=True, applies_to="commune"),
    target("cp_budget_district", "vnd", "at_least", "150000000", strict=True, applies_to="district"),
]


async def _units(registry: Registry) -> Gazetteer:
    units = Gazetteer()
    await units.refresh(registry.store)
    return units


@pytest.fixture(scope="module")
def models() -> tuple[Projection, Projection]:
    """The child and case registers under schemas of their own."""
    return isolated(ChildRegister), isolated(CaseRegister)


@pytest.fixture
def conn(run, registry: Registry) -> Iterator[Any]:
    connection = run(registry.db.owner())
    yield connection
    run(connection.close())


def catch_up(run, registry: Registry, models: tuple[Projection, Projection]) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Bring both read models up to date; the options that point `progress` at them."""
    for projection in models:
        runner = Projector(registry.store, registry.db.owner, projection)
        run(projection.prepare(registry.store))
        run(runner.catch_up(run(runner.ensure())))
    children, cases = models
    return dict(schema=children.schema, projection=children.name, case_schema=cases.schema,
                case_projection=cases.name)  # fmt: skip


def by_code(rows: list[Progress]) -> dict[str, Progress]:
    return {row.code: row for row in rows}


def test_a_computed_ratio_is_put_into_the_targets_measure_exactly() -> None:
    def value(numerator: int, denominator: int | None, change: bool = False) -> Value:
        ratio = None if not denominator else numerator / denominator - change
        return Value("x", Level.COMMUNE, KA_LANG, date(2026, 1, 1), date(2026, 12, 31), numerator, denominator, ratio)

    assert in_measure(Measure.PERCENT, value(1, 3)) == Fraction(100, 3)  # exact, not the float's 33.33...
    assert in_measure(Measure.PER_100K, value(11, 2000)) == 550
    assert in_measure(Measure.PER_1000_LIVE_BIRTHS, value(1, 110)) == Fraction(1000, 110)
    assert in_measure(Measure.COUNT, value(7, None)) == 7 and in_measure(Measure.VND, value(5, None)) == 5
    assert in_measure(Measure.PERCENT_CHANGE, value(3, 4, change=True)) == -25  # 3 cases after 4: a fall by 25 %
    assert in_measure(Measure.PERCENT_CHANGE, value(4, 3, change=True)) == Fraction(100, 3)
    assert in_measure(Measure.PERCENT, value(3, 0)) is None  # no denominator, no figure


def test_progress_takes_computed_figures_then_observations_and_says_why_when_there_is_none(
    run, registry: Registry, models: tuple[Projection, Projection], conn: Any
) -> None:
    units = run(_units(registry))
    plan_id = f"lai-chau-2026-{uuid.uuid4().hex[:8]}"
    run(execute(registry.store, units, IssuePlan(plan_id, "Kế hoạch công tác trẻ em năm 2026 (thử)", LAI_CHAU,
                                                 "9/KH-UBND", date(2026, 1, 10), 2026, 2026, "synthetic", PLAN),
                OFFICER))  # fmt: skip
    children = [str(uuid.uuid4()) for _ in range(2)]
    for child in children:
        run(registry.children.execute(RegisterChild(child, "Lò Thị Mai", date(2015, 3, 3), Sex.FEMALE, KA_LANG,
                                                    date(2025, 9, 1)), OFFICER))  # fmt: skip
    run(registry.children.execute(ClassifyChild(children[0], "orphan_both_parents", date(2026, 2, 1), "certificates",
                                                "with_relatives"), OFFICER))  # fmt: skip
    run(registry.children.execute(ClassifyChild(children[1], "hiv_aids", date(2026, 3, 1), "hospital letter"),
                                  OFFICER))  # fmt: skip
    run(registry.children.execute(RecordSupport(children[1], SupportKind.COUNSELLING, SupportLevel.SUPPORT, "CTXH",
                                                date(2026, 4, 1)), OFFICER))  # fmt: skip
    # 2 children in special circumstances of 40: exactly 5 %, which is not "dưới 5%"
    run(count(registry.store, units, OFFICER, unit_code=KA_LANG, year=2026, children=40, counted_on=date(2026, 6, 30),
              source="sổ quản lý trẻ em"))  # fmt: skip
    run(observe(registry.store, units, OFFICER, unit_code=KA_LANG, code="imr", year=2026,
                measure="per_1000_live_births", value="9.09", numerator=1, denominator=110,
                observed_on=date(2026, 12, 31), source="Trạm Y tế xã"))  # fmt: skip
    run(observe(registry.store, units, OFFICER, unit_code=KA_LANG, code="child_marriage_reduction", year=2026,
                measure="percent_change", value="-25", numerator=3, denominator=4, observed_on=date(2026, 12, 31),
                source="Tư pháp xã"))  # fmt: skip
    run(observe(registry.store, units, OFFICER, unit_code=KA_LANG, code="pmtct_rate", year=2026, measure="count",
                value="0", observed_on=date(2026, 12, 31), source="Trạm Y tế xã"))  # fmt: skip
    run(observe(registry.store, units, OFFICER, unit_code=KA_LANG, code="cp_budget_commune", year=2026, measure="vnd",
                value="35000000", observed_on=date(2026, 12, 31), source="dự toán xã"))  # fmt: skip
    options = catch_up(run, registry, models)

    def measured() -> dict[str, Progress]:
        return by_code(run(progress(conn, registry.store, plan_id, KA_LANG, Level.COMMUNE, 2026,
                                    **options)))  # fmt: skip

    rows = measured()
    assert list(rows) == [t["code"] for t in PLAN]  # in the plan's order
    rate = rows["cisc_rate"]
    assert (rate.source, rate.actual, rate.met, rate.numerator, rate.denominator) == ("computed", 5, False, 2, 40)
    assert rate.computed is not None and rate.computed.numerator_records == sorted(children)  # explained
    supported = rows["cisc_supported_pct"]
    assert (supported.source, supported.actual, supported.met) == ("computed", 50, False)
    imr = rows["imr"]
    assert (imr.source, imr.actual, imr.met, imr.numerator, imr.denominator) == ("observed", Decimal("9.09"), False,
                                                                                  1, 110)  # fmt: skip
    assert imr.observation_position is not None and imr.due
    assert (rows["full_immunisation_u1"].actual, rows["full_immunisation_u1"].met) == (None, None)
    assert rows["full_immunisation_u1"].reason == NOT_OBSERVED
    change = rows["child_marriage_reduction"]
    assert (change.source, change.actual, change.met) == ("observed", -25, True)  # a fall by a quarter: 2 % reached
    assert rows["pmtct_rate"].source is None and rows["pmtct_rate"].reason == "observed in count, not in percent"
    assert (rows["cp_budget_commune"].actual, rows["cp_budget_commune"].met) == (35_000_000, True)
    assert rows["cp_budget_district"].reason == "the target is set for each district"

    # the plan is revised ("xuống 5%": 5 % now meets it) and the infant mortality target withdrawn
    relaxed = target("cisc_rate", "percent", "at_most", "5")
    run(execute(registry.store, units, RevisePlan(plan_id, "QĐ 20/QĐ-UBND", date(2026, 7, 1), "mid-year review",
                                                  [relaxed]), OFFICER))  # fmt: skip
    run(execute(registry.store, units, WithdrawIndicator(plan_id, "imr", "QĐ 21/QĐ-UBND", date(2026, 7, 1),
                                                         "moved to the health plan"), OFFICER))  # fmt: skip
    rows = measured()
    assert rows["cisc_rate"].met is True and "imr" not in rows
    # a better figure entered later supersedes the first
    run(observe(registry.store, units, OFFICER, unit_code=KA_LANG, code="full_immunisation_u1", year=2026,
                measure="percent", value="95.5", observed_on=date(2026, 12, 31), source="Trạm Y tế xã"))  # fmt: skip
    assert (measured()["full_immunisation_u1"].actual, measured()["full_immunisation_u1"].met) == (Decimal("95.5"),
                                                                                                   True)  # fmt: skip

    # the province: no population entered for it, so its rate cannot be computed, and nothing was observed
    province = by_code(run(progress(conn, registry.store, plan_id, LAI_CHAU, Level.PROVINCE, 2026,
                                    **options)))  # fmt: skip
    assert province["cisc_rate"].actual is None and province["cisc_rate"].met is None
    assert province["cisc_rate"].reason == f"not computable (no denominator for the year); {NOT_OBSERVED}"
    assert province["cp_budget_commune"].reason == "the target is set for each commune"

    with pytest.raises(InvalidInput) as caught:
        run(progress(conn, registry.store, plan_id, KA_LANG, Level.COMMUNE, 2027))
    assert caught.value.field == "year"
    with pytest.raises(NotFound):
        run(progress(conn, registry.store, "no-such-plan", KA_LANG, Level.COMMUNE, 2026))


def test_the_an_giang_plan_reads_for_the_province_with_every_target_accounted_for(
    run, registry: Registry, models: tuple[Projection, Projection], conn: Any
) -> None:
    units = run(_units(registry))
    run(load_seed_plans(registry.store, units))
    options = catch_up(run, registry, models)
    rows = run(progress(conn, registry.store, "an-giang-2024", "89", Level.PROVINCE, 2024,
                        **options))  # fmt: skip
    assert len(rows) == 41 and {int(r.number) for r in rows if r.number.isdigit()} == set(range(1, 25))
    for row in rows:
        # every row has a figure, or says why not; a figure always says whether the target is met
        assert (row.actual is None) == (row.met is None) == (row.source is None) != (row.reason is None)
        assert row.due == (row.deadline_year <= 2024)
    computed = {r.code for r in rows if r.code in INDICATORS}
    assert {"cisc_rate", "cisc_supported_pct"} <= computed
    by = by_code(rows)
    assert by["cp_budget_commune"].reason == "the target is set for each commune"
    assert by["heart_screening"].reason == NOT_OBSERVED
    assert not by["child_friendly_commune_pct"].due  # "đến năm 2025"


def test_a_change_against_a_fixed_baseline_year_is_measured_against_that_year(
    run, registry: Registry, models: tuple[Projection, Projection], conn: Any
) -> None:
    """An Giang's chỉ tiêu 9 style: "giảm 20% số vụ ... so với năm 2023", read in a later year (seed S004)."""
    units = run(_units(registry))
    plan_id = f"ban-bo-{uuid.uuid4().hex[:8]}"
    change = target("abuse_cases_change", "percent_change", "reduce_by", "20", baseline_year=2024)
    run(execute(registry.store, units, IssuePlan(plan_id, "Kế hoạch (thử)", LAI_CHAU, None, date(2026, 1, 5), 2026,
                                                 2026, "synthetic", [change]), OFFICER))  # fmt: skip
    # Ka Lăng's cases of neglect: 4 in 2024 (the commune before the reform, same code), 1 in 2025, 3 in 2026
    for year, n in ((2024, 4), (2025, 1), (2026, 3)):
        for day in range(n):
            at = datetime(year, 3, 2 + day, 9, tzinfo=VIETNAM)
            run(registry.cases.execute(ReceiveReport(str(uuid.uuid4()), at, Channel.HOTLINE_111, ReporterKind.NEIGHBOUR,
                                                     (CaseType.NEGLECT,), KA_LANG, "seen",
                                                     unregistered_children=("a boy",)), OFFICER))  # fmt: skip
    options = catch_up(run, registry, models)
    [row] = run(progress(conn, registry.store, plan_id, KA_LANG, Level.COMMUNE, 2026, **options))
    assert (row.source, row.numerator, row.denominator, row.actual, row.met) == ("computed", 3, 4, -25, True)
    assert row.computed is not None and all(r.startswith("baseline 2024: ") for r in row.computed.denominator_records)
    # against the previous year (the default) the same cases are a rise: 3 after 1
    run(execute(registry.store, units, RevisePlan(plan_id, "QĐ 1", date(2026, 2, 1), "baseline: the previous year",
                                                  [{**change, "baseline_year": None}]), OFFICER))  # fmt: skip
    [row] = run(progress(conn, registry.store, plan_id, KA_LANG, Level.COMMUNE, 2026, **options))
    assert (row.numerator, row.denominator, row.actual, row.met) == (3, 1, 200, False)
