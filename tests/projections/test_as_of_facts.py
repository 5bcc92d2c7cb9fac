"""A child's date of birth, death and merge as the registry knew them at T: recorded after T, they change the
answers about now, never those about T (child_lives, projections/queries.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from projections.queries import children_by_group, children_in, children_page
from projections.register import ChildRegister
from projections.runtime import Projection
from registry.children import (
    ChildClassified,
    ChildDetailsCorrected,
    ChildDied,
    ChildRegistered,
    ClassifyChild,
    CorrectChild,
    Details,
    MergeChild,
    RecordDeath,
    RegisterChild,
    Sex,
)
from registry.events import Metadata, NewEvent
from registry.law import VIETNAM
from registry.personal import Sealed
from registry.units import Level
from tests.conftest import Registry
from tests.projections.test_projector import digests, isolated, projector

OFFICER = Metadata(actor_id="officer:1", actor_role="commune_officer")
COMMUNE = "03158"
ON = date(2026, 6, 1)  # the day asked about


async def caught_up(registry: Registry, projection: Projection) -> None:
    runner = projector(registry, projection, batch=50)
    await projection.prepare(registry.store)
    await runner.catch_up(await runner.ensure())


async def answers(registry: Registry, projection: Projection, known_at: datetime | None, mine: set[str]) -> tuple[
        dict[tuple[str, str], int], list[str], list[str], list[str]]:  # fmt: skip
    """children_by_group (of the commune), children_in and children_page (all and in the group; only `mine`)."""
    conn = await registry.db.owner()
    try:
        s = projection.schema
        groups = await children_by_group(conn, Level.COMMUNE, ON, known_at=known_at, unit=COMMUNE, schema=s)
        here = await children_in(conn, Level.COMMUNE, COMMUNE, ON, known_at=known_at, schema=s)
        page = await children_page(conn, Level.COMMUNE, COMMUNE, ON, after="", limit=100_000, known_at=known_at,
                                   schema=s)  # fmt: skip
        grouped = await children_page(conn, Level.COMMUNE, COMMUNE, ON, after="", limit=100_000, group="disabled",
                                      known_at=known_at, schema=s)  # fmt: skip
    finally:
        await conn.close()
    return groups, [c for c in here if c in mine], [c for c in page if c in mine], [c for c in grouped if c in mine]


def test_a_death_a_merge_and_a_correction_recorded_after_t_leave_the_answers_about_t_as_they_were(
    run: Callable[..., Any], registry: Registry
) -> None:
    ids = {name: str(uuid.uuid4()) for name in ("dies", "merged", "survivor", "older", "stays")}
    for name, child in ids.items():
        run(registry.children.execute(RegisterChild(child, "Lò Văn Pao", date(2015, 3, 1), Sex.MALE, COMMUNE,
                                                    date(2025, 7, 10)), OFFICER))  # fmt: skip
        if name != "survivor":
            run(registry.children.execute(ClassifyChild(child, "disabled", date(2025, 8, 1), "decision", "mild"),
                                          OFFICER))  # fmt: skip
    projection = isolated(ChildRegister)
    run(caught_up(registry, projection))
    at = run(registry.store.recorded_at(run(registry.store.horizon())))
    assert at is not None
    mine = set(ids.values())
    before = run(answers(registry, projection, None, mine))
    assert run(answers(registry, projection, at, mine)) == before
    groups, here, page, grouped = before
    assert here == page == sorted(mine) and grouped == sorted(mine - {ids["survivor"]})
    disabled = groups[(COMMUNE, "disabled")]
    assert disabled >= 4

    # Recorded after T: a death before the day asked about, a merge, a date of birth 16 years before that day.
    run(registry.children.execute(RecordDeath(ids["dies"], date(2026, 3, 1)), OFFICER))
    run(registry.children.execute(MergeChild(ids["merged"], ids["survivor"], "same child recorded twice"), OFFICER))
    run(registry.children.execute(CorrectChild(ids["older"], {"date_of_birth": date(2010, 1, 1)}, "birth certificate"),
                                  OFFICER))  # fmt: skip
    run(caught_up(registry, projection))

    assert run(answers(registry, projection, at, mine)) == before  # about T: as the registry knew it then
    groups, here, page, grouped = run(answers(registry, projection, None, mine))
    assert groups[(COMMUNE, "disabled")] == disabled - 2  # the dead child's groups end on its death; merged: gone
    assert here == sorted(mine - {ids["merged"]})  # the register of the commune keeps the dead (children_in)
    assert page == sorted(mine - {ids["dies"], ids["merged"], ids["older"]})  # alive, under 16 that day
    assert grouped == sorted({ids["stays"]})


def test_life_versions_superseded_in_the_transaction_that_recorded_them_are_not_stored_however_batches_fall(
    run: Callable[..., Any], registry: Registry
) -> None:
    # An import registers a child, corrects its date of birth and records its death in one transaction: only the
    # last version was ever what the registry held.
    child = str(uuid.uuid4())
    sealed = Sealed(sealed="x")
    born, corrected = Details(date_of_birth=date(2015, 1, 1), sex=Sex.MALE), Details(date_of_birth=date(2014, 6, 1),
                                                                                      sex=Sex.MALE)  # fmt: skip
    new = [
        ChildRegistered[Sealed](child_id=child, details=born, commune_code=COMMUNE, residence_from=date(2025, 8, 1),
                                personal=sealed),
        ChildClassified(group="disabled", subgroup="mild", on=date(2025, 9, 1), evidence="assessment"),
        ChildDetailsCorrected[Sealed](fields=["date_of_birth"], reason="birth certificate", details=corrected,
                                      personal=sealed),
        ChildDied(on=date(2026, 1, 1)),
    ]  # fmt: skip
    at = datetime(2026, 3, 1, tzinfo=VIETNAM)
    run(registry.store.append(f"child:{child}", "child", 0, [NewEvent(type(e).__name__.split("[")[0], e, at)
                                                             for e in new], OFFICER))  # fmt: skip
    whole, one_by_one = isolated(ChildRegister), isolated(ChildRegister)
    for projection, batch in ((whole, 5000), (one_by_one, 1)):
        runner = projector(registry, projection, batch=batch)
        run(projection.prepare(registry.store))
        run(runner.catch_up(run(runner.ensure())))
    assert run(digests(registry, whole)) == run(digests(registry, one_by_one))
    conn = run(registry.db.owner())
    try:
        rows = run(conn.fetch(
            f"SELECT date_of_birth, died_on, merged_into, upper_inf(recorded) AS held FROM {whole.schema}.child_lives"
            " WHERE child_id = $1", child))  # fmt: skip
    finally:
        run(conn.close())
    assert [tuple(r) for r in rows] == [(date(2014, 6, 1), date(2026, 1, 1), None, True)]
