"""The administrative-unit aggregate: each rule, and the tree staying a forest under any changes."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from registry.errors import InvalidInput
from registry.gazetteer import Gazetteer
from registry.units import (
    Change,
    DissolveUnit,
    EstablishUnit,
    InvalidUnitChange,
    Kind,
    Level,
    MergeUnit,
    RenameUnit,
    Reorganise,
    ReparentUnit,
    SplitUnit,
    UnitCommand,
    decide,
    reorganise,
    unit_id,
)

REFORM = date(2025, 7, 1)
BASIS = "test basis"


def run(units: Gazetteer, command: UnitCommand | Reorganise) -> list[Change]:
    """Decide and fold, as the application layer does (without the store)."""
    if isinstance(command, Reorganise):
        changes = reorganise(command, units)
    else:
        state = units.get(command.unit_id)
        changes = [Change(command.unit_id, 0 if state is None else state.version, tuple(decide(state, command, units)))]
    for change in changes:
        for decided in change.events:
            units.apply(change.stream_id, decided)
    return changes


def establish(units: Gazetteer, code: str, kind: Kind, name: str, parent: str | None, day: date | None) -> str:
    run(units, EstablishUnit(code, kind, name, parent, day, BASIS))
    return unit_id(code, day)


@pytest.fixture
def small() -> Gazetteer:
    """One province with one district of two communes, since before records begin."""
    units = Gazetteer()
    province = establish(units, "11", Kind.PROVINCE, "Điện Biên", None, None)
    district = establish(units, "099", Kind.RURAL_DISTRICT, "Tuần Giáo", province, None)
    establish(units, "03253", Kind.TOWNSHIP, "Tuần Giáo", district, None)
    establish(units, "03274", Kind.COMMUNE, "Quài Nưa", district, None)
    return units


def rejects(units: Gazetteer, command: UnitCommand | Reorganise, field: str, reason: str) -> None:
    before = {s.unit_id: s for s in units.states()}
    with pytest.raises(InvalidUnitChange) as caught:
        run(units, command)
    assert (caught.value.field, caught.value.reason) == (field, reason)
    assert {s.unit_id: s for s in units.states()} == before  # nothing changed


def test_the_small_tree_reads_back(small: Gazetteer) -> None:
    path = small.path("03253", date(2024, 1, 1))
    assert [(u.code, u.full_name) for u in path] == [
        ("03253", "Thị trấn Tuần Giáo"),
        ("099", "Huyện Tuần Giáo"),
        ("11", "Tỉnh Điện Biên"),
    ]


@pytest.mark.parametrize(
    ("command", "field", "reason"),
    [
        # a code of the wrong shape for any level
        (EstablishUnit("0325", Kind.COMMUNE, "X", "unit:099:initial", None, BASIS), "code", "invalid_code"),
        (EstablishUnit("ab", Kind.PROVINCE, "X", None, None, BASIS), "code", "invalid_code"),
        # a kind of another level than the code's
        (EstablishUnit("03300", Kind.RURAL_DISTRICT, "X", "unit:099:initial", None, BASIS), "kind", "wrong_kind"),
        # parent at the wrong level: a commune under a province before the reform, a district under a district
        (EstablishUnit("03300", Kind.COMMUNE, "X", "unit:11:initial", date(2020, 1, 1), BASIS),
         "parent_id", "wrong_parent_level"),
        (EstablishUnit("098", Kind.TOWN, "X", "unit:099:initial", date(2020, 1, 1), BASIS),
         "parent_id", "wrong_parent_level"),
        (EstablishUnit("12", Kind.PROVINCE, "X", "unit:11:initial", None, BASIS), "parent_id", "wrong_parent_level"),
        # and a commune under a district once there are no districts
        (EstablishUnit("03300", Kind.COMMUNE, "X", "unit:099:initial", REFORM, BASIS),
         "parent_id", "wrong_parent_level"),
        (EstablishUnit("098", Kind.TOWN, "X", "unit:11:initial", REFORM, BASIS), "level", "no_district_level"),
        # a code in force already
        (EstablishUnit("03274", Kind.COMMUNE, "X", "unit:099:initial", date(2020, 1, 1), BASIS), "code", "code_in_use"),
        (EstablishUnit("03300", Kind.COMMUNE, "X", "unit:999:initial", None, BASIS), "parent_id", "unknown_unit"),
        # an effective date before the unit was established, or before its latest change
        (MergeUnit("unit:03253:initial", "unit:03253:initial", date(2020, 1, 1), BASIS), "into_id", "self"),
        (MergeUnit("unit:03253:initial", "unit:099:initial", date(2020, 1, 1), BASIS), "into_id", "wrong_level"),
        (SplitUnit("unit:03253:initial", ("unit:03274:initial",), "unit:03274:initial", date(2020, 1, 1), BASIS),
         "into_ids", "invalid_split"),
        (DissolveUnit("unit:099:initial", date(2020, 1, 1), BASIS), "unit_id", "has_children"),
        (RenameUnit("unit:03253:initial", "Tuần Giáo", Kind.TOWNSHIP, date(2020, 1, 1), BASIS), "name", "no_change"),
        (RenameUnit("unit:03253:initial", "", Kind.COMMUNE, date(2020, 1, 1), BASIS), "name", "string_too_short"),
        (ReparentUnit("unit:03253:x", "unit:099:initial", date(2020, 1, 1), BASIS), "unit_id", "unknown_unit"),
    ],
)  # fmt: skip
def test_invalid_changes_are_typed_errors_and_change_nothing(
    small: Gazetteer, command: UnitCommand, field: str, reason: str
) -> None:
    rejects(small, command, field, reason)


def test_an_effective_date_before_establishment_is_rejected(small: Gazetteer) -> None:
    commune = establish(small, "03300", Kind.COMMUNE, "Mới", "unit:099:initial", date(2020, 1, 1))
    rejects(small, RenameUnit(commune, "Y", Kind.COMMUNE, date(2019, 12, 31), BASIS), "effective_date",
            "before_establishment")  # fmt: skip
    run(small, RenameUnit(commune, "Y", Kind.COMMUNE, date(2021, 1, 1), BASIS))
    rejects(small, RenameUnit(commune, "Z", Kind.COMMUNE, date(2020, 6, 1), BASIS), "effective_date",
            "before_last_change")  # fmt: skip


def test_a_merge_into_a_dissolved_unit_is_rejected(small: Gazetteer) -> None:
    spare = establish(small, "03300", Kind.COMMUNE, "Mới", "unit:099:initial", date(2020, 1, 1))
    run(small, DissolveUnit(spare, date(2021, 1, 1), BASIS))
    rejects(small, MergeUnit("unit:03253:initial", spare, date(2022, 1, 1), BASIS), "into_id", "target_ended")
    rejects(small, RenameUnit(spare, "Y", Kind.COMMUNE, date(2022, 1, 1), BASIS), "unit_id", "unit_ended")
    # a merge into a unit established later than the merge date
    later = establish(small, "03301", Kind.COMMUNE, "Sau", "unit:099:initial", date(2023, 1, 1))
    rejects(small, MergeUnit("unit:03253:initial", later, date(2022, 1, 1), BASIS), "into_id", "not_in_force")


def test_a_unit_ends_only_once_nothing_lies_under_it(small: Gazetteer) -> None:
    rejects(small, DissolveUnit("unit:11:initial", date(2021, 1, 1), BASIS), "unit_id", "has_children")
    run(small, MergeUnit("unit:03274:initial", "unit:03253:initial", date(2021, 1, 1), BASIS))
    rejects(small, DissolveUnit("unit:099:initial", date(2021, 1, 1), BASIS), "unit_id", "has_children")
    assert [u.code for u in small.children("099", date(2021, 1, 1))] == ["03253"]
    assert [s.unit.code for s in small.successors("03274", date(2020, 1, 1), date(2021, 1, 1))] == ["03253"]


def test_the_two_tier_reform_is_one_act(small: Gazetteer) -> None:
    """A new commune takes the code of one of the communes it replaces, on the day they end."""
    act = Reorganise(
        REFORM,
        BASIS,
        ends=[
            MergeUnit("unit:03253:initial", unit_id("03253", REFORM), REFORM, BASIS),
            MergeUnit("unit:03274:initial", unit_id("03253", REFORM), REFORM, BASIS),
            DissolveUnit("unit:099:initial", REFORM, BASIS),
        ],
        establishments=[EstablishUnit("03253", Kind.COMMUNE, "Tuần Giáo", "unit:11:initial", REFORM, BASIS)],
    )
    # Alone, neither half is possible: the code is taken, the target does not exist yet.
    rejects(small, act.establishments[0], "code", "code_in_use")
    rejects(small, act.ends[0], "into_id", "unknown_unit")
    run(small, act)
    before, after = date(2025, 6, 30), REFORM
    assert [u.full_name for u in small.path("03253", before)] == [
        "Thị trấn Tuần Giáo", "Huyện Tuần Giáo", "Tỉnh Điện Biên"]  # fmt: skip
    assert [u.full_name for u in small.path("03253", after)] == ["Xã Tuần Giáo", "Tỉnh Điện Biên"]
    assert [u.code for u in small.predecessors("03253", after)] == ["03253", "03274"]
    assert [u.code for u in small.former_districts("03253", after)] == ["099"]
    assert small.find("099", after) is None
    # The whole act is rejected if any part breaks a rule, e.g. a district left with communes under it.
    units = Gazetteer()
    establish(units, "11", Kind.PROVINCE, "Điện Biên", None, None)
    establish(units, "099", Kind.RURAL_DISTRICT, "Tuần Giáo", "unit:11:initial", None)
    establish(units, "03253", Kind.TOWNSHIP, "Tuần Giáo", "unit:099:initial", None)
    rejects(units, Reorganise(REFORM, BASIS, ends=[DissolveUnit("unit:099:initial", REFORM, BASIS)]),
            "unit_id", "has_children")  # fmt: skip


# -- hypothesis: the tree is a forest on every date, whatever changes are made --------

PROVINCES = ["01", "02", "03"]
DISTRICTS = ["001", "002", "003", "004"]
COMMUNES = ["00001", "00002", "00003", "00004", "00005", "00006"]
DAYS = [date(2000, 1, 1), date(2010, 1, 1), date(2020, 1, 1), REFORM, date(2026, 1, 1)]
PROBES = [date(1999, 1, 1), *DAYS, date(2005, 1, 1), date(2025, 6, 30), date(2030, 1, 1)]
KIND_OF = {Level.PROVINCE: Kind.PROVINCE, Level.DISTRICT: Kind.RURAL_DISTRICT, Level.COMMUNE: Kind.COMMUNE}


def _units_of(units: Gazetteer, level: Level | None) -> st.SearchStrategy[str]:
    known = sorted(s.unit_id for s in units.states() if level is None or s.level is level)
    return st.sampled_from(known) if known else st.just("unit:00001:initial")


@st.composite
def commands(draw: st.DrawFn, units: Gazetteer, day: date | None = None) -> UnitCommand:
    """Commands that are valid often enough to reach every rule, and invalid in every way too."""
    any_unit = _units_of(units, None)
    unit = draw(st.one_of(any_unit, st.just("unit:00009:initial")))
    state = units.get(unit)
    level = state.level if state is not None else Level.COMMUNE
    peer = st.one_of(_units_of(units, level), any_unit)  # mostly units of the same level
    day = day or draw(st.sampled_from(DAYS))
    name = draw(st.sampled_from(["A", "B", "Ă", "Đ"]))
    choice = draw(st.integers(0, 6))
    if choice <= 1:
        code = draw(st.sampled_from(PROVINCES + DISTRICTS + COMMUNES))
        level = {2: Level.PROVINCE, 3: Level.DISTRICT, 5: Level.COMMUNE}[len(code)]
        kind = draw(st.sampled_from([KIND_OF[level], KIND_OF[level], Kind.WARD, Kind.CITY]))
        since = draw(st.sampled_from([None, *DAYS]))
        above = {Level.PROVINCE: None, Level.DISTRICT: Level.PROVINCE, Level.COMMUNE: Level.DISTRICT}[level]
        parents = st.one_of(_units_of(units, above), _units_of(units, Level.PROVINCE), any_unit)
        parent = None if above is None and draw(st.booleans()) else draw(parents)
        return EstablishUnit(code, kind, name, parent, since, BASIS)
    if choice == 2:
        return RenameUnit(unit, name, draw(st.sampled_from([KIND_OF[level], *Kind])), day, BASIS)
    if choice == 3:
        parents = st.one_of(_units_of(units, Level.DISTRICT), _units_of(units, Level.PROVINCE), any_unit)
        return ReparentUnit(unit, draw(parents), day, BASIS)
    if choice == 4:
        return MergeUnit(unit, draw(peer), day, BASIS)
    if choice == 5:
        into = tuple(draw(st.lists(peer, min_size=2, max_size=3, unique=True)))
        return SplitUnit(unit, into, draw(st.sampled_from(into)), day, BASIS)
    return DissolveUnit(unit, day, BASIS, tuple(draw(st.lists(any_unit, max_size=2))))


@st.composite
def acts(draw: st.DrawFn, units: Gazetteer) -> Reorganise:
    day = draw(st.sampled_from(DAYS))
    parts = draw(st.lists(commands(units, day), min_size=1, max_size=5))
    return Reorganise(
        day,
        BASIS,
        ends=[c for c in parts if isinstance(c, MergeUnit | SplitUnit | DissolveUnit)],
        establishments=[c for c in parts if isinstance(c, EstablishUnit)],
        changes=[c for c in parts if isinstance(c, RenameUnit | ReparentUnit)],
    )


def assert_forest(units: Gazetteer) -> None:
    rank = {Level.PROVINCE: 0, Level.DISTRICT: 1, Level.COMMUNE: 2}
    for day in PROBES:
        codes: set[str] = set()
        for state in units.states():
            version = state.at(day)
            if version is None:
                continue
            assert state.code not in codes, f"two units bear {state.code} on {day}"
            codes.add(state.code)
            if state.level is Level.PROVINCE:
                assert version.parent_id is None
                continue
            parent = units.get(version.parent_id or "")
            assert parent is not None and parent.at(day) is not None, f"{state.unit_id} has no parent on {day}"
            assert rank[parent.level] < rank[state.level]
            path = units.path(state.code, day)  # terminates: no cycles
            assert path[-1].level is Level.PROVINCE and len(path) <= 3


@given(st.data())
def test_any_sequence_of_changes_keeps_a_forest(data: st.DataObject) -> None:
    units = Gazetteer()
    # a valid start, so that later commands have something to work on
    for province in PROVINCES[:2]:
        establish(units, province, Kind.PROVINCE, "P", None, None)
    for i, district in enumerate(DISTRICTS[:3]):
        establish(units, district, Kind.RURAL_DISTRICT, "D", f"unit:{PROVINCES[i % 2]}:initial", None)
    for i, commune in enumerate(COMMUNES[:5]):
        establish(units, commune, Kind.COMMUNE, "C", f"unit:{DISTRICTS[i % 3]}:initial", None)
    applied = rejected = 0
    for _ in range(data.draw(st.integers(1, 40))):
        command = data.draw(st.one_of(commands(units), acts(units)))
        before = {s.unit_id: s for s in units.states()}
        try:
            run_changes = run(units, command)
            applied += 1
            event(f"applied {type(command).__name__}")
            if isinstance(command, Reorganise):
                event(f"applied an act of {min(sum(len(c.events) for c in run_changes), 3)}+ events")
        except InvalidInput as exc:
            assert {s.unit_id: s for s in units.states()} == before
            rejected += 1
            event(f"rejected: {exc.reason}")
        assert_forest(units)
    assert applied + rejected > 0
