"""In the demonstration data, per-commune, per-district and per-province views agree with a fold of the events,
for today and for a date before the 2025 reform."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime

from projections.indicators import compute
from projections.queries import children_by_group
from projections.queries import open_cases as open_cases_on
from projections.register import PROJECTIONS
from projections.runtime import Projector
from registry.catalog import default_catalog
from registry.config import load_settings
from registry.demo import load_demo
from registry.gazetteer import Gazetteer
from registry.law import TWO_TIER_FROM, VIETNAM
from registry.runtime import Registry
from registry.store import EventStore
from registry.units import Level
from tests.conftest import Db

FAR = date(9999, 12, 30)


def expected(units: Gazetteer, states: list, level: Level, on: date) -> Counter[tuple[str, str]]:  # type: ignore[type-arg]
    """Fold: each child's groups on `on`, counted where it lived that day, in the structure in force then
    (districts: the district its residence was recorded under, or the one former district of its commune)."""
    return Counter({key: len(children) for key, children in members(units, states, level, on).items()})


def unit_of(units: Gazetteer, commune: str, since: date, level: Level, on: date) -> str | None:
    """The unit of `level` a record made under `commune` from `since` counts in on `on` (README, design notes)."""
    if level is Level.DISTRICT:
        district = next((u.code for u in units.path(commune, since) if u.level is Level.DISTRICT), None)
        if district is None:
            former = units.former_districts(commune, since)
            district = former[0].code if len(former) == 1 else None
        return district
    if on >= TWO_TIER_FROM:
        path = units.path(units.successors(commune, since, FAR)[0].unit.code, FAR)
    else:
        path = units.path(commune, since)
    return path[0].code if level is Level.COMMUNE else path[-1].code


def members(units: Gazetteer, states: list, level: Level, on: date) -> dict[tuple[str, str], set[str]]:  # type: ignore[type-arg]
    """Fold: the children of each (unit, group) on `on`."""
    found: dict[tuple[str, str], set[str]] = {}
    for state in states:
        if state.merged_into is not None:
            continue
        living = [r for r in state.residences if r.valid_from <= on]
        if not living:
            continue
        commune, since = living[-1].commune_code, living[-1].valid_from
        unit = unit_of(units, commune, since, level, on)
        for spell in state.groups_on(on):
            if unit is not None:
                found.setdefault((unit, spell.code), set()).add(state.child_id)
    return found


def test_demo_views_today_and_before_the_reform_agree_with_a_fold(run, fresh_db: Db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings(registry_data_dir=tmp_path)
    store = EventStore(fresh_db.pool, default_catalog(), connect=fresh_db.database.connect)
    registry = Registry(settings, fresh_db.database, fresh_db.pool, store)
    try:
        run(load_demo(registry))
        for cls in PROJECTIONS:
            projector = Projector(store, fresh_db.owner, cls())
            run(projector.projection.prepare(store))
            run(projector.catch_up(run(projector.ensure())))
        units = run(registry.gazetteer())
        register = run(registry.children())
        ids = [r[0].split(":", 1)[1] for r in run(fresh_db.pool.fetch(
            "SELECT DISTINCT stream_id FROM events WHERE stream_type = 'child'"))]  # fmt: skip
        states = [run(register.load(child)) for child in ids]
        today = datetime.now(UTC).astimezone(VIETNAM).date()
        conn = run(fresh_db.owner())
        try:
            for on in (today, date(2024, 6, 1)):
                for level in (Level.COMMUNE, Level.DISTRICT, Level.PROVINCE):
                    got = run(children_by_group(conn, level, on))
                    assert got == expected(units, states, level, on), (level, on)
                    assert got or level is Level.DISTRICT and on >= TWO_TIER_FROM  # something to compare
                    # the share of children in special circumstances supported since 1 January, per unit
                    cisc: dict[str, set[str]] = {}
                    for (unit, _), children in members(units, states, level, on).items():
                        cisc.setdefault(unit, set()).update(children)
                    start = date(on.year, 1, 1)
                    for unit, children in sorted(cisc.items())[:40]:
                        value = run(compute(conn, store, "cisc_supported_pct", level, unit, start, on))
                        helped = {s.child_id for s in states if s.child_id in children
                                  and any(start <= x.on <= on for x in s.supports)}  # fmt: skip
                        assert value.denominator_records == sorted(children), (level, unit, on)
                        assert value.numerator_records == sorted(helped), (level, unit, on)
            # today's views of every level agree with the same fold
            rows = run(conn.fetch("SELECT level, unit_code, group_code, sum(children) FROM"
                                  " read.children_by_group_per_unit GROUP BY 1, 2, 3"))  # fmt: skip
            for level in (Level.COMMUNE, Level.DISTRICT, Level.PROVINCE):
                got = {(r[1], r[2]): r[3] for r in rows if r[0] == level.value}
                assert got == expected(units, states, level, today), level
            cases = run(registry.cases())
            case_ids = [r[0].split(":", 1)[1] for r in run(fresh_db.pool.fetch(
                "SELECT DISTINCT stream_id FROM events WHERE stream_type = 'case'"))]  # fmt: skip
            open_cases: Counter[tuple[str, str, str, str]] = Counter()
            for case in (run(cases.load(case_id)) for case_id in case_ids):
                assert case is not None
                if case.stage == "closed":
                    continue
                since = case.jurisdictions[-1].since.astimezone(VIETNAM).date()
                for level in (Level.COMMUNE, Level.DISTRICT, Level.PROVINCE):
                    unit = unit_of(units, case.commune, since, level, today)
                    for kind in case.case_types:
                        if unit is not None:
                            open_cases[(level.value, unit, case.stage, kind)] += 1
            got_cases = {(r[0], r[1], r[2], r[3]): r[4] for r in run(conn.fetch(
                "SELECT level, unit_code, stage, case_type, sum(cases) FROM read.open_cases_per_unit"
                " GROUP BY 1, 2, 3, 4"))}  # fmt: skip
            assert got_cases == dict(open_cases) and got_cases
            for level in (Level.COMMUNE, Level.DISTRICT, Level.PROVINCE):  # and so does the as-of history of cases
                as_of = run(open_cases_on(conn, level, today))
                assert as_of == {k[1:]: n for k, n in open_cases.items() if k[0] == level.value}, level
        finally:
            run(conn.close())
    finally:
        run(store.close())
