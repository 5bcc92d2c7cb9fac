"""Indicators computed from the read models, each with the records that make it up; population entered."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from projections.indicators import compute
from projections.register import ChildRegister
from projections.runtime import Projector
from registry.children import ClassifyChild, RecordSupport, RegisterChild, Sex
from registry.circumstances import SupportKind, SupportLevel
from registry.errors import InvalidInput
from registry.events import Metadata
from registry.gazetteer import Gazetteer
from registry.population import latest, record
from registry.units import Level
from tests.conftest import Registry
from tests.projections.test_projector import isolated

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
