"""`registry replay`: the read models rebuilt apart up to a point equal the live as-of views, and a live read model
altered is found out."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projections.duplicate_queue import DuplicateQueue
from projections.register import CaseRegister, ChildRegister
from projections.replay import ReplayError, ReplayReport, parse_until, replay
from projections.runtime import Projection
from registry.children import (
    ChildClassified,
    ChildCommand,
    ChildMoved,
    ChildRegistered,
    ClassifyChild,
    CorrectChild,
    DeclassifyChild,
    Details,
    MergeChild,
    MoveChild,
    RecordDeath,
    RecordSupport,
    RegisterChild,
    Sex,
)
from registry.circumstances import SupportKind, SupportLevel
from registry.errors import InvalidInput
from registry.events import Cursor, Metadata, NewEvent, RecordedEvent
from registry.law import VIETNAM
from registry.personal import Sealed
from tests.conftest import Registry
from tests.projections.test_projector import case_history, case_steps, history, isolated, projector

PROJECT = Path(__file__).resolve().parents[2]
STREAM_TYPES = ["case", "child"]
OFFICER = Metadata(actor_id="officer:1", actor_role="commune_officer")

# Deaths, merges (into the child before, in the example) and corrections of the date of birth (back by up to
# 6.5 years: across the age limit on some days asked about) too: the as-of views read them as known at T.
child_histories = st.lists(
    st.lists(
        st.tuples(st.sampled_from(["move", "classify", "declassify", "support", "die", "merge", "correct"]),
                  st.integers(0, 600),
                  st.sampled_from(["03253", "03127", "03151", "03158"]),
                  st.sampled_from(["disabled", "abandoned", "hiv_aids"])),
        min_size=1, max_size=6,
    ),
    min_size=1, max_size=3,
)  # fmt: skip


async def lived(registry: Registry, steps: list[tuple[str, int, str, str]], before: str | None) -> str:
    """A child's history as tests/projections/test_projector.py `history` makes it, with its death, its merge into
    `before` (the child made before it, if any) and corrections of its date of birth; returns the child id."""
    child = str(uuid.uuid4())
    start = date(2025, 7, 10)
    await registry.children.execute(RegisterChild(child, "Hà Thị Nga", date(2015, 3, 1), Sex.FEMALE, "03253",
                                                  start), OFFICER)  # fmt: skip
    for kind, days, commune, group in steps:
        on = start + timedelta(days=days + 1)
        command: ChildCommand = {
            "move": MoveChild(child, commune, on),
            "classify": ClassifyChild(child, group, on, "decision", {"disabled": "mild"}.get(group)),
            "declassify": DeclassifyChild(child, group, on, "no longer"),
            "support": RecordSupport(child, SupportKind.HEALTH, SupportLevel.SUPPORT, "trạm y tế", on),
            "die": RecordDeath(child, on),
            "merge": MergeChild(child, before or child, "same child recorded twice"),
            "correct": CorrectChild(
                child, {"date_of_birth": date(2015, 3, 1) - timedelta(days=4 * days)}, "birth certificate"
            ),
        }[kind]
        try:
            await registry.children.execute(command, OFFICER)
        except InvalidInput:
            pass
    return child


async def built(registry: Registry) -> list[Projection]:
    """The live read models of this test: each projection in a schema of its own, caught up."""
    live = [isolated(ChildRegister), isolated(CaseRegister), isolated(DuplicateQueue)]
    for projection in live:
        runner = projector(registry, projection, batch=50)
        await projection.prepare(registry.store)
        await runner.catch_up(await runner.ensure())
    return live


async def events_after(registry: Registry, after: Cursor) -> list[RecordedEvent]:
    found: list[RecordedEvent] = []
    async for batch in registry.store.iterate(after, stream_types=STREAM_TYPES):
        found += batch
    return found


async def replayed(registry: Registry, until: Cursor | datetime, live: list[Projection], **options: object) -> (
        ReplayReport):  # fmt: skip
    return await replay(registry.store, registry.db.owner, until, live=live, days=8, budget=24, **options)  # type: ignore[arg-type]


def nothing_differs(report: ReplayReport) -> None:
    assert [d.line() for d in report.differences] == [] and report.differing == 0, report.summary()
    compared = {c.name for c in report.comparisons}
    assert {"table child_residences", "table child_groups", "table child_lives", "table case_history",
            "query children_by_group", "query open_cases", "query children_in",
            "query children_page"} <= compared  # fmt: skip


async def schemas_left(registry: Registry, report: ReplayReport) -> tuple[int, int]:
    conn = await registry.db.owner()
    try:
        schemas = await conn.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname = $1", report.schema)
        states = await conn.fetchval("SELECT count(*) FROM projection_state WHERE name LIKE $1", f"{report.schema}%")
        return int(schemas), int(states)
    finally:
        await conn.close()


@settings(max_examples=3, deadline=None)
@given(children=child_histories, cases=st.lists(case_steps, max_size=2), k=st.integers(3, 7))
def test_a_replay_up_to_every_kth_event_equals_the_as_of_views(run, registry: Registry, children, cases, k) -> None:  # type: ignore[no-untyped-def]
    first = run(registry.store.horizon())
    before: str | None = None
    for steps in children:
        before = run(lived(registry, steps, before))
    for steps in cases:
        run(case_history(registry, steps))
    live = run(built(registry))
    events = run(events_after(registry, first))
    points = [*events[k - 1 :: k], events[-1]]
    for n, event in enumerate(points):
        # Every other point is asked for as a time, the rest as a cursor: both mean "as recorded by then".
        until: Cursor | datetime = event.cursor if n % 2 == 0 else event.recorded_at
        report = run(replayed(registry, until, live))
        nothing_differs(report)
        assert report.horizon == event.recorded_at and report.last >= event.cursor
        assert report.events >= 1
    # The last point holds every event the live read models folded: their current-state tables are compared too.
    assert {"table children", "table cases", "table case_deadlines", "table duplicate_pairs"} <= {
        c.name for c in report.comparisons
    }
    assert run(schemas_left(registry, report)) == (0, 0)


def test_a_cursor_inside_a_transaction_stands_for_the_whole_transaction(run, registry: Registry) -> None:
    # An import writes a child's registration, classification and move in one transaction: no reader ever saw
    # only its first event, and the as-of views (by system time) cannot tell its events apart.
    child = str(uuid.uuid4())
    sealed = Sealed(sealed="x")
    details = Details(date_of_birth=date(2015, 1, 1), sex=Sex.MALE)
    new = [
        ChildRegistered[Sealed](child_id=child, details=details, commune_code="03253",
                                residence_from=date(2025, 8, 1), personal=sealed),
        ChildClassified(group="disabled", subgroup="mild", on=date(2025, 9, 1), evidence="assessment"),
        ChildMoved[Sealed](from_commune="03253", to_commune="03127", on=date(2026, 1, 1), personal=sealed),
    ]  # fmt: skip
    at = datetime(2026, 3, 1, tzinfo=VIETNAM)
    appended = run(registry.store.append(f"child:{child}", "child", 0, [
        NewEvent(type(e).__name__.split("[")[0], e, at) for e in new], OFFICER))  # fmt: skip
    live = run(built(registry))
    events = run(registry.store.read_stream(f"child:{child}"))
    report = run(replayed(registry, events[0].cursor, live))
    nothing_differs(report)
    assert report.last >= events[-1].cursor and appended.cursor == events[-1].cursor
    assert any("2 events after the cursor" in note for note in report.notes), report.notes


def test_a_live_read_model_altered_is_found_out_and_named(run, registry: Registry) -> None:
    child = run(history(registry, [("classify", 3, "03253", "disabled"), ("move", 40, "03127", "x")]))
    live = run(built(registry))
    last = run(registry.store.horizon())
    assert run(replayed(registry, last, live)).differing == 0
    conn = run(registry.db.owner())
    try:  # an edit no fold made: the child's classification changed in the serving table
        edit = f"UPDATE {live[0].schema}.child_groups SET group_code = 'hiv_aids' WHERE child_id = $1"
        changed = run(conn.execute(edit, child))
    finally:
        run(conn.close())
    assert changed == "UPDATE 1"
    report = run(replayed(registry, last, live, keep=True))
    assert report.differing > 0
    lines = [d.line() for d in report.differences]
    assert any("table child_groups" in line and child in line and "hiv_aids" in line for line in lines), lines
    assert any(line.startswith("DIFFERS children_by_group commune") and "03127" in line for line in lines), lines
    assert any(c.name == "query children_page" and c.differences for c in report.comparisons)
    assert run(schemas_left(registry, report)) == (1, 3)  # kept to be queried
    # Only the child's commune differs: another unit's views and rows agree.
    assert run(replayed(registry, last, live, unit="03127")).differing > 0
    assert run(replayed(registry, last, live, unit="03158")).differing == 0


def test_a_horizon_that_cannot_be_compared_is_refused(run, registry: Registry) -> None:
    live = run(built(registry))
    with pytest.raises(ReplayError, match="future"):
        run(replayed(registry, datetime.now(UTC) + timedelta(days=1), live))
    with pytest.raises(ReplayError, match="names no event"):
        run(replayed(registry, Cursor(2**40, 1), live))
    with pytest.raises(ReplayError, match="unit"):
        run(replayed(registry, datetime.now(UTC), live, unit="12ab"))
    run(history(registry, [("classify", 1, "03253", "disabled")]))  # not folded by the live read models
    with pytest.raises(ReplayError, match="has not folded"):
        run(replayed(registry, run(registry.store.horizon()), live))
    for text in ("2026-10-01T09:00:00", "not a cursor"):
        with pytest.raises(ReplayError):
            parse_until(text)
    assert parse_until(Cursor(5, 7).token()) == Cursor(5, 7)
    assert parse_until("2026-10-01T09:00:00+07:00") == datetime(2026, 10, 1, 2, tzinfo=UTC)


def test_registry_replay_compares_the_serving_read_models_and_says_so(run, registry: Registry) -> None:
    run(history(registry, [("classify", 2, "03151", "abandoned"), ("support", 9, "03151", "x")]))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REGISTRY_"))}
    env["DATABASE_URL"] = registry.db.owner_url

    def registry_cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "registry.cli", *args], cwd=PROJECT, env=env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip

    caught_up = registry_cli("project", "run", "--once")
    assert caught_up.returncode == 0, caught_up.stderr[-2000:]
    token = run(registry.store.horizon()).token()
    done = registry_cli("replay", "--until", token)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "nothing differs" in done.stdout and "events/s" in done.stdout and "DIFFERS" not in done.stdout
    day = date.today().isoformat()
    assert registry_cli("replay", "--until", f"{day}T00:00:00", "--unit", "03151").returncode == 2  # no zone
    assert registry_cli("replay", "--until", f"nonsense-{uuid.uuid4().hex[:4]}").returncode == 2
