"""In the demonstration data, per-commune, per-district and per-province views agree with a fold of the events,
for today and for a date before the 2025 reform."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime

from projections.queries import children_by_group
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
    counts: Counter[tuple[str, str]] = Counter()
    for state in states:
        if state.merged_into is not None:
            continue
        living = [r for r in state.residences if r.valid_from <= on]
        if not living:
            continue
        commune, since = living[-1].commune_code, living[-1].valid_from
        for spell in state.groups_on(on):
            if level is Level.DISTRICT:
                district = next((u.code for u in units.path(commune, since) if u.level is Level.DISTRICT), None)
                if district is None:
                    former = units.former_districts(commune, since)
                    district = former[0].code if len(former) == 1 else None
                if district is not None:
                    counts[(district, spell.code)] += 1
                continue
            if on >= TWO_TIER_FROM:
                path = units.path(units.successors(commune, since, FAR)[0].unit.code, FAR)
            else:
                path = units.path(commune, since)
            counts[(path[0].code if level is Level.COMMUNE else path[-1].code, spell.code)] += 1
    return counts


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
        finally:
            run(conn.close())
    finally:
        run(store.close())
