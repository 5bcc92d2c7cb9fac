"""Plans and targets: the pure core, typed errors naming the field, observations, the seed plans and their loader."""

from __future__ import annotations

import json
import re
import shutil
import uuid
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.errors import InvalidInput
from registry.events import Metadata
from registry.gazetteer import Gazetteer
from registry.hashing import check_json
from registry.observations import decide as observe
from registry.observations import latest, record
from registry.plans import (
    CHANGES,
    DATA_DIR,
    Direction,
    IssuePlan,
    Measure,
    PlanIndicator,
    PlanRevised,
    RevisePlan,
    WithdrawIndicator,
    check_seed,
    decide,
    evolve,
    execute,
    fold,
    is_met,
    load,
    load_seed_plans,
    plan_ids,
    read_seed,
    seed_files,
)
from registry.unit_loader import default_plan
from tests.conftest import Registry
from tests.registry.test_cli import environment
from tests.registry.test_cli import registry as command

OFFICER = Metadata(actor_id="officer:plans", actor_role="province_officer")
SEEDS = Path("/work/shared/seeds")  # the source documents, where the machine has them (not part of the repository)
AN_GIANG, HONG_NGU = "89", "870"  # legacy codes: the plans were issued before the 2025 reform


@pytest.fixture(scope="module")
def units() -> Gazetteer:
    """The real administrative units, folded in memory (no database needed)."""
    return default_plan().gazetteer


def indicator(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = dict(code="cisc_rate", number="8", title="Tỷ lệ trẻ em có hoàn cảnh đặc biệt",
                                  measure="percent", direction="at_most", strict=True, target="5", deadline_year=2024,
                                  source_text="Giảm tỷ lệ trẻ em có hoàn cảnh đặc biệt xuống dưới 5%")  # fmt: skip
    values.update(changes)
    return values


def issue(**changes: Any) -> IssuePlan:
    values: dict[str, Any] = dict(plan_id="test-plan", title="Kế hoạch thử", issuing_unit=AN_GIANG,
                                  document_number="1/KH-UBND", issued_on=date(2024, 2, 28), start_year=2024,
                                  end_year=2024, source="test", indicators=[indicator()])  # fmt: skip
    values.update(changes)
    return IssuePlan(**values)


def issued(units: Gazetteer, **changes: Any) -> Any:
    return evolve(None, decide(None, issue(**changes), units)[0])


# -- the pure core -------------------------------------------------------------------

BOUNDS = {"percent": 100, "per_100k": 100_000, "per_1000_live_births": 1000, "count": 10**6, "vnd": 10**12}


@st.composite
def indicators(draw: st.DrawFn, code: str) -> dict[str, Any]:
    """A valid indicator of a province plan starting in 2024."""
    if draw(st.booleans()):
        direction, measure = draw(st.sampled_from(["reduce_by", "increase_by"])), "percent_change"
        target = draw(st.decimals(min_value=Decimal("0.01"), max_value=100, places=2))
        baseline = draw(st.none() | st.integers(2000, 2023))
    else:
        direction, measure = draw(st.sampled_from(["at_most", "at_least"])), draw(st.sampled_from(sorted(BOUNDS)))
        places = 0 if measure in ("count", "vnd") else 4
        target = draw(st.decimals(min_value=0, max_value=BOUNDS[measure], places=places))
        baseline = None
    return indicator(code=code, measure=measure, direction=direction, target=str(target), baseline_year=baseline,
                     strict=draw(st.booleans()), deadline_year=draw(st.integers(2024, 2030)),
                     applies_to=draw(st.sampled_from([None, "province", "district", "commune"])))  # fmt: skip


codes = st.lists(st.from_regex(r"[a-z][a-z0-9_]{1,12}", fullmatch=True), min_size=1, max_size=6, unique=True)


@given(data=st.data(), chosen=codes)
def test_an_issued_plan_holds_its_indicators_in_order_and_survives_the_store_round_trip(
    units: Gazetteer, data: st.DataObject, chosen: list[str]
) -> None:
    wanted = [data.draw(indicators(code)) for code in chosen]
    [event] = decide(None, issue(indicators=wanted), units)
    state = evolve(None, event)
    assert [i.code for i in state.indicators] == chosen
    assert [i.target for i in state.indicators] == [Decimal(i["target"]) for i in wanted]
    stored = event.model_dump(mode="json")
    check_json(stored, "data")  # canonical JSON: targets travel as decimal strings, never floats
    assert fold([("PlanIssued", json.loads(json.dumps(stored)))]) == state


@given(data=st.data(), chosen=codes, steps=st.lists(st.tuples(st.booleans(), st.integers(0, 5)), max_size=8))
def test_revisions_and_withdrawals_leave_exactly_the_indicators_a_model_expects(
    units: Gazetteer, data: st.DataObject, chosen: list[str], steps: list[tuple[bool, int]]
) -> None:
    state = issued(units, indicators=[data.draw(indicators(code)) for code in chosen])
    model = {i.code: i for i in state.indicators}
    pool = [*chosen, "extra_one", "extra_two"]
    applied = 0
    for revise, pick in steps:
        code = pool[pick % len(pool)]
        if revise:
            new = PlanIndicator.model_validate(data.draw(indicators(code)))
            command: RevisePlan | WithdrawIndicator = RevisePlan("test-plan", "QĐ 2/QĐ-UBND", date(2024, 6, 1),
                                                                 "điều chỉnh", [new])  # fmt: skip
            if model.get(code) == new:
                with pytest.raises(InvalidInput) as caught:
                    decide(state, command, units)
                assert (caught.value.field, caught.value.reason) == ("indicators", "no_change")
                continue
            model[code] = new
        else:
            command = WithdrawIndicator("test-plan", code, "QĐ 3/QĐ-UBND", date(2024, 7, 1), "không phù hợp")
            if code not in model:
                with pytest.raises(InvalidInput) as caught:
                    decide(state, command, units)
                assert caught.value.field == "code"
                continue
            del model[code]
        for event in decide(state, command, units):
            state = evolve(state, event)
            applied += 1
    assert {i.code: i for i in state.indicators} == model
    assert not {w.code for w in state.withdrawn} & set(model)  # a withdrawn indicator revised back is in force
    assert state.version == 1 + applied


@given(
    direction=st.sampled_from(list(Direction)),
    target=st.decimals(min_value=0, max_value=100, places=2),
    actual=st.fractions(min_value=-200, max_value=200, max_denominator=1000),
)
def test_a_strict_target_differs_from_a_plain_one_only_on_the_target_itself(
    direction: Direction, target: Decimal, actual: Fraction
) -> None:
    measure = "percent_change" if direction in CHANGES else "percent"
    plain = PlanIndicator.model_validate(indicator(direction=direction, measure=measure, target=str(target),
                                                   strict=False))  # fmt: skip
    strict = plain.model_copy(update={"strict": True})
    on_target = (-actual if direction is Direction.REDUCE_BY else actual) == target
    assert (is_met(plain, actual) != is_met(strict, actual)) == on_target
    if direction is Direction.AT_MOST:
        assert is_met(plain, actual) == (actual <= target)
    if direction is Direction.REDUCE_BY:
        assert is_met(plain, actual) == (actual <= -target)  # a fall of at least the target


BAD_ISSUES: list[tuple[Callable[[], IssuePlan], str, str]] = [
    (lambda: issue(end_year=2023), "end_year", "before_start"),
    (lambda: issue(indicators=[indicator(), indicator(number="9")]), "indicators.1.code", "duplicate"),
    (lambda: issue(issuing_unit="99"), "issuing_unit", "unknown_unit"),
    (lambda: issue(issuing_unit="8a"), "issuing_unit", "invalid_code"),
    (lambda: issue(issuing_unit=HONG_NGU, issued_on=date(2025, 8, 1), start_year=2025, end_year=2025,
                   indicators=[indicator(deadline_year=2025)]), "issuing_unit", "unknown_unit"),  # no districts now
    (lambda: issue(indicators=[indicator(target="120")]), "indicators.0.target", "out_of_range"),
    (lambda: issue(indicators=[indicator(measure="per_100k", target="-1")]), "indicators.0.target", "out_of_range"),
    (lambda: issue(indicators=[indicator(measure="count", target="2.5")]), "indicators.0.target", "not_whole"),
    (lambda: issue(indicators=[indicator(target="lots")]), "indicators.0.target", "decimal_parsing"),
    (lambda: issue(indicators=[indicator(target="1.00001")]), "indicators.0.target", "decimal_max_places"),
    (lambda: issue(indicators=[indicator(direction="reduce_by")]), "indicators.0.measure", "direction_mismatch"),
    (lambda: issue(indicators=[indicator(measure="percent_change")]), "indicators.0.measure", "direction_mismatch"),
    (lambda: issue(indicators=[indicator(direction="reduce_by", measure="percent_change", target="0")]),
     "indicators.0.target", "out_of_range"),
    (lambda: issue(indicators=[indicator(baseline_year=2023)]), "indicators.0.baseline_year", "not_a_change"),
    (lambda: issue(indicators=[indicator(direction="reduce_by", measure="percent_change", baseline_year=2024)]),
     "indicators.0.baseline_year", "not_before_deadline"),
    (lambda: issue(indicators=[indicator(deadline_year=2023)]), "indicators.0.deadline_year", "before_period"),
    (lambda: issue(issuing_unit=HONG_NGU, issued_on=date(2020, 2, 1), start_year=2020, end_year=2020,
                   indicators=[indicator(deadline_year=2020, applies_to="province")]),
     "indicators.0.applies_to", "above_issuer"),
    (lambda: issue(indicators=[indicator(measure="percent of children")]), "indicators.0.measure", "enum"),
    (lambda: issue(indicators=[indicator(code="Cisc Rate")]), "indicators.0.code", "string_pattern_mismatch"),
    (lambda: issue(indicators=[]), "indicators", "too_short"),
    (lambda: issue(plan_id="Kế hoạch"), "plan_id", "string_pattern_mismatch"),
    (lambda: issue(issued_on=date(2025, 1, 2)), "issued_on", "after_period"),
    (lambda: issue(start_year=1999), "start_year", "greater_than_equal"),
]  # fmt: skip


@pytest.mark.parametrize(("command", "field", "reason"), BAD_ISSUES)
def test_a_bad_plan_is_a_typed_error_naming_the_field(
    units: Gazetteer, command: Callable[[], IssuePlan], field: str, reason: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        decide(None, command(), units)
    assert (caught.value.field, caught.value.reason) == (field, reason)


def test_bad_revisions_and_withdrawals_are_typed_errors_naming_the_field(units: Gazetteer) -> None:
    state = issued(units)
    revision = RevisePlan("test-plan", "QĐ 5/QĐ-UBND", date(2024, 5, 1), "điều chỉnh", [indicator(target="4")])
    cases: list[tuple[Any, Any, str, str]] = [
        (state, issue(), "plan_id", "already_issued"),
        (None, revision, "plan_id", "unknown_plan"),
        (state, RevisePlan("test-plan", "QĐ", date(2024, 1, 1), "sớm", [indicator(target="4")]), "decided_on",
         "before_issue"),
        (state, RevisePlan("test-plan", "QĐ", date(2024, 5, 1), "như cũ", [indicator()]), "indicators", "no_change"),
        (state, RevisePlan("test-plan", "QĐ", date(2024, 5, 1), "", [indicator(target="4")]), "reason",
         "string_too_short"),
        (state, RevisePlan("test-plan", "QĐ", date(2024, 5, 1), "x", [indicator(target="101")]), "indicators.0.target",
         "out_of_range"),
        (state, WithdrawIndicator("test-plan", "imr", "QĐ", date(2024, 5, 1), "x"), "code", "unknown_indicator"),
    ]  # fmt: skip
    for current, wrong, field, reason in cases:
        with pytest.raises(InvalidInput) as caught:
            decide(current, wrong, units)
        assert (caught.value.field, caught.value.reason) == (field, reason), wrong
    withdrawn = evolve(state, decide(state, WithdrawIndicator("test-plan", "cisc_rate", "QĐ", date(2024, 5, 1), "x"),
                                     units)[0])  # fmt: skip
    with pytest.raises(InvalidInput) as caught:
        decide(withdrawn, WithdrawIndicator("test-plan", "cisc_rate", "QĐ", date(2024, 6, 1), "again"), units)
    assert (caught.value.field, caught.value.reason) == ("code", "withdrawn")
    [event] = decide(state, revision, units)
    assert isinstance(event, PlanRevised) and evolve(state, event).indicator("cisc_rate").target == 4


# -- observations ----------------------------------------------------------------------


def observation(units: Gazetteer, **changes: Any) -> Any:
    values: dict[str, Any] = dict(unit_code=AN_GIANG, code="imr", year=2024, measure="per_1000_live_births",
                                  value="9.1", observed_on=date(2024, 12, 31), source="Sở Y tế")  # fmt: skip
    values.update(changes)
    return observe(units, **values)


BAD_OBSERVATIONS: list[tuple[dict[str, Any], str, str]] = [
    (dict(observed_on=date(2025, 1, 1)), "observed_on", "other_year"),
    (dict(value="12", numerator=10, denominator=1100), "value", "inconsistent"),  # 10 / 1100 births is 9.09 per 1000
    (dict(measure="percent", value="101"), "value", "out_of_range"),
    (dict(measure="count", value="3", numerator=3, denominator=1), "numerator", "not_a_ratio"),
    (dict(measure="count", value="2.5"), "value", "not_whole"),
    (dict(measure="percent_change", value="10", numerator=30, denominator=40), "value", "inconsistent"),  # -25 %
    (dict(unit_code="99999"), "unit_code", "unknown_unit"),
    (dict(unit_code=AN_GIANG, observed_on=date(2025, 12, 31), year=2025), "unit_code", "unknown_unit"),
    (dict(denominator=0, numerator=0), "denominator", "greater_than_equal"),
    (dict(value="9.12345"), "value", "decimal_max_places"),
    (dict(source=""), "source", "string_too_short"),
]


@pytest.mark.parametrize(("changes", "field", "reason"), BAD_OBSERVATIONS)
def test_a_bad_observation_is_a_typed_error_naming_the_field(
    units: Gazetteer, changes: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        observation(units, **changes)
    assert (caught.value.field, caught.value.reason) == (field, reason)


def test_observations_with_agreeing_numerator_and_denominator_are_accepted(units: Gazetteer) -> None:
    assert observation(units, value="9.09", numerator=10, denominator=1100).value == Decimal("9.09")
    assert observation(units, measure="percent_change", value="-25", numerator=30, denominator=40).value == -25
    # cases tried per case received can pass 100 % (Tuần Giáo's "trên 100%"), proven by its two counts
    assert observation(units, measure="percent", value="120", numerator=12, denominator=10).value == 120


# -- the seed plans ------------------------------------------------------------------------


def test_every_seed_file_validates_against_the_real_units_and_cites_its_seed(units: Gazetteer) -> None:
    files = seed_files()
    assert {f.name for f in files} == {"an_giang_2024.json", "hong_ngu_2020.json", "tuan_giao_2020.json"}
    plans = {p.plan_id: p for p in (check_seed(f, units) for f in files)}
    assert len(plans) == len(files)
    for plan in plans.values():
        assert re.match(r"seeds/00[0-4]_[0-9a-f]{16}\.txt \(S00[0-4]\)", plan.source)
        unit = units.lookup(plan.issuing_unit, plan.issued_on)
        assert plan.issued_on.year <= 2024 and unit.valid_to is not None  # a legacy unit, ended by the reform
    an_giang = plans["an-giang-2024"]
    assert (an_giang.issuing_unit, an_giang.document_number, an_giang.issued_on) == ("89", "177/KH-UBND",
                                                                                     date(2024, 2, 28))  # fmt: skip
    numbered = [i for i in an_giang.indicators if i.number.isdigit()]
    assert sorted({int(i.number) for i in numbered}) == list(range(1, 25))  # chỉ tiêu 1-24, every one
    assert (len(numbered), len(an_giang.indicators)) == (35, 41)
    by_code = {i.code: i for i in an_giang.indicators}
    assert (by_code["cisc_rate"].number, by_code["cisc_rate"].target, by_code["cisc_rate"].strict) == ("8", 5, True)
    assert (by_code["cisc_supported_pct"].target, by_code["cisc_supported_pct"].direction) == (85, Direction.AT_LEAST)
    assert (by_code["injury_rate"].measure, by_code["injury_rate"].target) == (Measure.PER_100K, 550)
    assert (by_code["abuse_cases_change"].direction, by_code["abuse_cases_change"].baseline_year) == (
        Direction.REDUCE_BY, 2023)  # fmt: skip
    assert by_code["child_friendly_commune_pct"].deadline_year == 2025  # "Phấn đấu đến năm 2025 đạt 75%"
    assert by_code["imr"].target == Decimal("8.5") and by_code["neonatal_mr"].target == Decimal("9.5")
    hong_ngu = {i.code: i for i in plans["hong-ngu-2020"].indicators}
    assert plans["hong-ngu-2020"].issuing_unit == "870"  # huyện Hồng Ngự, not the city of Hồng Ngự (868)
    assert (hong_ngu["cisc_rate"].target, hong_ngu["cisc_supported_pct"].target, hong_ngu["fund_raised"].target) == (
        3, 93, 300_000_000)  # fmt: skip


@pytest.mark.skipif(not SEEDS.is_dir(), reason="the seed documents are not on this machine")
def test_every_target_quotes_its_seed_verbatim() -> None:
    for path in seed_files():
        plan = read_seed(path)
        seed = re.search(r"seeds/(\S+\.txt)", plan.source)
        assert seed is not None
        text = " ".join((SEEDS / seed.group(1)).read_text(encoding="utf-8").split())
        for item in plan.indicators:
            assert isinstance(item, PlanIndicator)
            assert " ".join(item.source_text.split()) in text, (path.name, item.code)
            if item.number.isdigit():
                assert item.source_text.startswith(f"Chỉ tiêu {item.number}:")


def copies(tmp_path: Path) -> tuple[Path, list[str]]:
    """The seed files under plan ids of their own, so that the test's plans are new in the session's store."""
    suffix = uuid.uuid4().hex[:8]
    ids = []
    for path in seed_files():
        data = json.loads(path.read_text(encoding="utf-8"))
        data["plan_id"] = f"{data['plan_id']}-{suffix}"
        ids.append(data["plan_id"])
        (tmp_path / path.name).write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return tmp_path, ids


async def _units(registry: Registry) -> Gazetteer:
    units = Gazetteer()
    await units.refresh(registry.store)
    return units


def test_the_seed_plans_load_once_and_a_reload_writes_nothing(run, registry: Registry, tmp_path: Path) -> None:
    units = run(_units(registry))
    directory, ids = copies(tmp_path)
    first = run(load_seed_plans(registry.store, units, directory=directory))
    assert (sorted(first.written), first.unchanged, first.diverged) == (sorted(ids), [], [])
    before = run(registry.store.stats())
    again = run(load_seed_plans(registry.store, units, directory=directory))
    assert (again.written, sorted(again.unchanged), again.diverged) == ([], sorted(ids), [])
    assert run(registry.store.stats()) == before  # nothing written
    for plan_id in ids:
        state = run(load(registry.store, plan_id))
        assert state is not None and state.version == 1
    assert set(ids) <= set(run(plan_ids(registry.store)))
    # a seed file edited after loading is reported, never written over
    path = directory / "hong_ngu_2020.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["indicators"][0]["target"] = "2"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    edited = run(load_seed_plans(registry.store, units, directory=directory))
    assert (edited.written, edited.diverged) == ([], [data["plan_id"]])
    assert run(registry.store.stats()) == before
    # the shipped files too: however often they are loaded, each plan is issued once
    run(load_seed_plans(registry.store, units))
    shipped = run(registry.store.stats())
    assert run(load_seed_plans(registry.store, units)).written == []
    assert run(registry.store.stats()) == shipped


def test_a_bad_seed_file_is_a_typed_error_naming_the_file_and_field(
    run, registry: Registry, units: Gazetteer, tmp_path: Path
) -> None:
    shutil.copy(DATA_DIR / "hong_ngu_2020.json", tmp_path / "hong_ngu_2020.json")
    data = json.loads((tmp_path / "hong_ngu_2020.json").read_text(encoding="utf-8"))
    data["end_year"] = 2019
    (tmp_path / "hong_ngu_2020.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(InvalidInput) as caught:
        run(load_seed_plans(registry.store, units, directory=tmp_path))
    assert caught.value.field == "hong_ngu_2020.json:end_year"
    (tmp_path / "hong_ngu_2020.json").write_text(json.dumps({**data, "end_year": 2020, "colour": "red"}))
    with pytest.raises(InvalidInput) as caught:
        run(load_seed_plans(registry.store, units, directory=tmp_path))
    assert (caught.value.field, caught.value.reason) == ("hong_ngu_2020.json:colour", "extra_forbidden")


def test_revisions_and_withdrawals_are_stored_with_their_decision(run, registry: Registry, tmp_path: Path) -> None:
    units = run(_units(registry))
    directory, ids = copies(tmp_path)
    run(load_seed_plans(registry.store, units, directory=directory))
    plan_id = next(i for i in ids if i.startswith("an-giang"))
    revised = PlanIndicator.model_validate(indicator(target="4.5", strict=False))
    added = indicator(code="drowning_deaths", number="III.3.1", measure="count", target="0")
    revise = RevisePlan(
        plan_id, "Quyết định 99/QĐ-UBND", date(2024, 7, 1), "tightened after the review", [revised, added]
    )
    first = run(execute(registry.store, units, revise, OFFICER, idempotency_key=f"revise-{plan_id}"))
    repeated = run(execute(registry.store, units, revise, OFFICER, idempotency_key=f"revise-{plan_id}"))
    assert repeated.positions == first.positions  # a repeated command writes nothing
    run(execute(registry.store, units, WithdrawIndicator(plan_id, "imr", "Quyết định 100/QĐ-UBND", date(2024, 8, 1),
                                                         "figure moved to the health plan"), OFFICER))  # fmt: skip
    state = run(load(registry.store, plan_id))
    assert state is not None and state.version == 3
    assert state.indicator("cisc_rate") == revised and state.indicator("imr") is None
    assert [i.code for i in state.indicators][-1] == "drowning_deaths" and len(state.indicators) == 41
    assert state.revisions[0].decision == "Quyết định 99/QĐ-UBND"
    events = run(registry.store.read_stream(f"plan:{plan_id}"))
    assert [e.event_type for e in events] == ["PlanIssued", "PlanRevised", "PlanIndicatorWithdrawn"]
    assert events[2].metadata["actor_id"] == "officer:plans"
    with pytest.raises(InvalidInput) as caught:
        run(execute(registry.store, units, WithdrawIndicator(plan_id, "imr", "QĐ", date(2024, 9, 1), "x"), OFFICER))
    assert (caught.value.field, caught.value.reason) == ("code", "withdrawn")
    assert len(run(registry.store.read_stream(f"plan:{plan_id}"))) == 3


def test_a_later_observation_supersedes_an_earlier_one(run, registry: Registry) -> None:
    units = run(_units(registry))
    unit = "03424"  # Bản Bo (Lai Châu), a commune from 2025-07-01
    code = f"test_{uuid.uuid4().hex[:8]}"
    assert run(latest(registry.store, unit, code, 2026)) is None
    run(record(registry.store, units, OFFICER, unit_code=unit, code=code, year=2026, measure="percent",
               value="91.5", observed_on=date(2026, 6, 30), source="Trạm Y tế, 6 tháng"))  # fmt: skip
    run(record(registry.store, units, OFFICER, unit_code=unit, code=code, year=2026, measure="percent",
               value=Decimal("92.25"), numerator=369, denominator=400, observed_on=date(2026, 12, 31),
               source="Trạm Y tế, cả năm"))  # fmt: skip
    found = run(latest(registry.store, unit, code, 2026))
    assert found is not None
    figure, position = found
    assert (figure.value, figure.numerator, figure.source) == (Decimal("92.25"), 369, "Trạm Y tế, cả năm")
    assert len(run(registry.store.read_stream(f"observation:{unit}:{code}:2026"))) == 2 and position > 0


def test_the_plans_command_loads_lists_and_shows(registry: Registry) -> None:
    env = environment(DATABASE_URL=registry.db.owner_url)
    loaded = command("plans", "load", env=env)
    assert loaded.returncode == 0, loaded.stderr
    again = command("plans", "load", env=env)
    assert again.returncode == 0 and "0 written, 3 already loaded, 0 differ" in again.stderr, again.stderr
    listed = command("plans", "list", env=env)
    assert listed.returncode == 0 and "an-giang-2024  89  2024-2024  41 indicators" in listed.stdout, listed.stdout
    shown = command("plans", "show", "an-giang-2024", env=env)
    assert shown.returncode == 0, shown.stderr
    assert "issued by 89  Tỉnh An Giang, 177/KH-UBND of 2024-02-28" in shown.stdout
    assert "cisc_rate" in shown.stdout and "at_most 5 percent (strictly), by 2024" in shown.stdout
    blank = command("plans", "show", "hong-ngu-2020", env=env)
    assert "(number left blank) of 2020-02" in blank.stdout, blank.stdout
    missing = command("plans", "show", "no-such-plan", env=env)
    assert missing.returncode == 1 and "no plan no-such-plan" in missing.stderr
