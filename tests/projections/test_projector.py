"""The projector on a real store: crash safety, determinism, as-of exactness, and a follower keeping up."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path

import asyncpg
from hypothesis import given, settings
from hypothesis import strategies as st

from projections.queries import children_by_group, children_in
from projections.register import CaseRegister, ChildRegister
from projections.runtime import Projection, Projector, SimulatedCrash, table_digest_sql
from registry.cases import PARTS as CASE_PARTS
from registry.cases import (
    ApprovePlan,
    AssessRisk,
    AssignOfficer,
    CaseCommand,
    CaseType,
    Channel,
    CloseCase,
    ClosureReason,
    CompleteDetailedAssessment,
    DeliverService,
    PlannedService,
    ReceiveReport,
    ReopenCase,
    ReporterKind,
    RiskLevel,
    SubmitPlan,
    TransferCase,
)
from registry.cases import replay as case_replay
from registry.children import PARTS as CHILD_PARTS
from registry.children import (
    ChildClassified,
    ChildDeclassified,
    ChildMoved,
    ChildRegistered,
    ClassifyChild,
    DeclassifyChild,
    Details,
    MoveChild,
    RecordDeath,
    RecordSupport,
    RegisterChild,
    Sex,
    replay,
)
from registry.circumstances import SupportKind, SupportLevel
from registry.errors import InvalidInput
from registry.events import Metadata, NewEvent
from registry.law import VIETNAM
from registry.personal import Sealed, event_type
from registry.sealing import unseal
from registry.units import Level
from tests.conftest import Registry

OFFICER = Metadata(actor_id="officer:1", actor_role="commune_officer")
CHAIR = Metadata(actor_id="chair:1", actor_role="commune_chair")
SERVICE = PlannedService(service="counselling", level=SupportLevel.INTERVENTION, responsible="social work centre")
PROGRESS = "SELECT coalesce(max(events), 0) FROM projection_checkpoints WHERE name = 'child_register'"
COMMUNES = ["03253", "03127", "03151", "03158"]  # Điện Biên, from 2025-07-01


def isolated(base: type[Projection]) -> Projection:
    """The projection under a name and schema of its own, so that tests never share tables."""
    suffix = uuid.uuid4().hex[:10]
    cls = type(f"{base.__name__}_{suffix}", (base,), {"name": f"t{suffix}", "schema": f"t{suffix}"})
    return cls()  # type: ignore[no-any-return]


def projector(registry: Registry, projection: Projection, batch: int = 7) -> Projector:
    return Projector(registry.store, registry.db.owner, projection, batch=batch)


async def digests(registry: Registry, projection: Projection) -> dict[str, str]:
    conn: asyncpg.Connection = await registry.db.owner()
    try:
        found = {}
        for base in projection.tables:
            found[base] = await conn.fetchval(table_digest_sql(f"{projection.schema}.{base}"))
        return found
    finally:
        await conn.close()


async def built_from_scratch(registry: Registry, base: type[Projection]) -> dict[str, str]:
    fresh = isolated(base)
    runner = projector(registry, fresh, batch=5000)
    await fresh.prepare(registry.store)
    await runner.catch_up(await runner.ensure())
    return await digests(registry, fresh)


commands = st.lists(
    st.tuples(st.sampled_from(["move", "classify", "declassify", "support", "die"]), st.integers(0, 600),
              st.sampled_from(COMMUNES), st.sampled_from(["disabled", "abandoned", "hiv_aids"])),
    min_size=1, max_size=12,
)  # fmt: skip


async def history(registry: Registry, steps: list[tuple[str, int, str, str]]) -> str:
    """A child's history through the register's commands (refused ones are skipped); returns the child id."""
    child = str(uuid.uuid4())
    start = date(2025, 7, 10)
    await registry.children.execute(RegisterChild(child, "Hà Thị Nga", date(2015, 3, 1), Sex.FEMALE, "03253",
                                                  start), OFFICER)  # fmt: skip
    for kind, days, commune, group in steps:
        on = start + timedelta(days=days + 1)
        subgroup = {"disabled": "mild", "abandoned": "in_alt_care"}.get(group)
        command = {
            "move": MoveChild(child, commune, on),
            "classify": ClassifyChild(child, group, on, "decision", subgroup),
            "declassify": DeclassifyChild(child, group, on, "no longer"),
            "support": RecordSupport(child, SupportKind.HEALTH, SupportLevel.SUPPORT, "trạm y tế", on),
            "die": RecordDeath(child, on),
        }[kind]
        try:
            await registry.children.execute(command, OFFICER)
        except InvalidInput:
            pass
    return child


@settings(max_examples=8, deadline=None)
@given(steps=commands, crash_at=st.integers(1, 60))
def test_a_crash_inside_a_batch_loses_and_repeats_nothing(run, registry: Registry, steps, crash_at) -> None:  # type: ignore[no-untyped-def]
    run(history(registry, steps))
    projection = isolated(ChildRegister)
    runner = projector(registry, projection)
    run(projection.prepare(registry.store))
    generation = run(runner.ensure())
    try:
        run(runner.catch_up(generation, fail_after=crash_at))
    except SimulatedCrash:
        pass
    run(runner.catch_up(generation))  # the restart
    assert run(digests(registry, projection)) == run(built_from_scratch(registry, ChildRegister))


def test_two_rebuilds_from_the_same_log_are_identical(run, registry: Registry) -> None:
    run(history(registry, [("classify", 3, "03253", "disabled"), ("move", 10, "03127", "x")]))
    for base in (ChildRegister, CaseRegister):
        assert run(built_from_scratch(registry, base)) == run(built_from_scratch(registry, base))


def test_a_rebuild_swaps_in_a_new_generation_while_the_old_one_serves(run, registry: Registry) -> None:
    projection = isolated(ChildRegister)
    runner = projector(registry, projection, batch=5000)
    run(projection.prepare(registry.store))
    first = run(runner.ensure())
    run(runner.catch_up(first))
    before = run(digests(registry, projection))
    second = run(runner.rebuild())
    assert second == first + 1 and run(digests(registry, projection)) == before
    conn = run(registry.db.owner())
    try:
        tables = {r[0] for r in run(conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = $1", projection.schema))}  # fmt: skip
    finally:
        run(conn.close())
    assert tables == {f"{base}_g{second}" for base in projection.tables}  # the old generation is gone


@settings(max_examples=6, deadline=None)
@given(steps=commands)
def test_as_of_each_event_the_history_tables_equal_a_fold_of_the_events_up_to_it(
    run, registry: Registry, steps
) -> None:  # type: ignore[no-untyped-def]
    child = run(history(registry, steps))
    projection = isolated(ChildRegister)
    runner = projector(registry, projection, batch=5000)
    run(projection.prepare(registry.store))
    run(runner.catch_up(run(runner.ensure())))
    events = run(registry.store.read_stream(f"child:{child}"))
    key = run(registry.keyring.get(child))
    folded = [unseal(e.event_type, e.data, key, e.stream_id, CHILD_PARTS) for e in events]
    conn = run(registry.db.owner())
    try:
        for n, event in enumerate(events):
            known = replay(folded[: n + 1])
            assert known is not None and event_type(folded[n]) == event.event_type
            for probe in (date(2025, 7, 11), date(2025, 12, 1), date(2026, 6, 1), date(2027, 3, 1)):
                as_known = "recorded @> $2::timestamptz AND valid @> $3::date"
                groups = {r[0] for r in run(conn.fetch(
                    f"SELECT group_code FROM {projection.schema}.child_groups WHERE child_id = $1 AND kind = 'group'"
                    f" AND {as_known}", child, event.recorded_at, probe))}  # fmt: skip
                assert groups == {s.code for s in known.groups_on(probe)}, (n, probe)
                commune = run(conn.fetchval(
                    f"SELECT commune_code FROM {projection.schema}.child_residences WHERE child_id = $1 AND {as_known}",
                    child, event.recorded_at, probe))  # fmt: skip
                assert commune == known.commune_on(probe), (n, probe)
                if commune is not None:  # the same answers through the as-of queries officers' views use
                    here = run(children_in(conn, Level.COMMUNE, commune, probe, known_at=event.recorded_at,
                                           schema=projection.schema))  # fmt: skip
                    assert child in here, (n, probe)
                    everywhere = run(children_by_group(conn, Level.COMMUNE, probe, known_at=event.recorded_at,
                                                       schema=projection.schema))  # fmt: skip
                    only = run(children_by_group(conn, Level.COMMUNE, probe, known_at=event.recorded_at,
                                                 unit=commune, schema=projection.schema))  # fmt: skip
                    assert only == {k: v for k, v in everywhere.items() if k[0] == commune}, (n, probe)
                    assert all(only.get((commune, g), 0) >= 1 for g in groups), (n, probe)
    finally:
        run(conn.close())


def test_a_follower_keeps_up_with_concurrent_writers(run, registry: Registry) -> None:
    projection = isolated(ChildRegister)
    runner = projector(registry, projection, batch=50)

    async def scenario() -> tuple[int, int]:
        stop = asyncio.Event()
        follower = asyncio.create_task(runner.run(stop, poll=0.2))
        children = await asyncio.gather(*(history(registry, [("classify", n, "03253", "hiv_aids")]) for n in range(12)))
        for _ in range(100):
            status = await runner.status()
            if status.lag_events == 0:
                break
            await asyncio.sleep(0.1)
        stop.set()
        await follower
        conn = await registry.db.owner()
        try:
            seen = await conn.fetchval(f"SELECT count(*) FROM {projection.schema}.children WHERE child_id = ANY($1)",
                                       list(children))  # fmt: skip
        finally:
            await conn.close()
        return seen, status.lag_events

    seen, lag = run(scenario())
    assert (seen, lag) == (12, 0)


def test_a_projector_killed_mid_run_resumes_exactly(run, registry: Registry) -> None:
    """kill -9 of `registry project run` (one event per batch, so it is killed mid-way), then a restart."""
    for n in range(15):
        run(history(registry, [("classify", n, "03253", "disabled"), ("move", n + 5, "03127", "x")]))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REGISTRY_"))}
    env["DATABASE_URL"] = registry.db.owner_url
    command = [sys.executable, "-m", "registry.cli", "project", "run", "child_register", "--batch", "1"]
    project = Path(__file__).resolve().parents[2]
    child = subprocess.Popen(command, cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            done = run(registry.db.pool.fetchval(PROGRESS))
            if done >= 20:
                break
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    again = subprocess.run([*command[:-2], "--once"], cwd=project, env=env, capture_output=True, text=True,
                           timeout=300)  # fmt: skip
    assert again.returncode == 0, again.stderr[-2000:]
    served = Projector(registry.store, registry.db.owner, ChildRegister())
    assert run(served.status()).lag_events == 0
    live = run(digests(registry, ChildRegister()))
    assert live == run(built_from_scratch(registry, ChildRegister))


case_steps = st.lists(
    st.tuples(st.sampled_from(["assess", "detail", "submit", "approve", "close", "reopen", "transfer", "assign",
                               "serve"]), st.integers(1, 30), st.sampled_from(COMMUNES)),
    min_size=1, max_size=12,
)  # fmt: skip


async def case_history(registry: Registry, steps: list[tuple[str, int, str]]) -> str:
    """A case's history through the case register's commands (refused ones are skipped); returns the case id."""
    case_id = str(uuid.uuid4())
    at = datetime(2026, 9, 1, 8, tzinfo=VIETNAM)
    await registry.cases.execute(ReceiveReport(case_id, at, Channel.HOTLINE_111, ReporterKind.NEIGHBOUR,
                                               (CaseType.NEGLECT,), "03253", "left alone",
                                               unregistered_children=("a girl of about 8",)), OFFICER)  # fmt: skip
    for n, (kind, hours, commune) in enumerate(steps):
        at += timedelta(hours=hours)
        command: CaseCommand = {
            "assess": AssessRisk(case_id, at, RiskLevel.HIGH, emergency=n % 2 == 0),
            "detail": CompleteDetailedAssessment(case_id, at, "seen at home"),
            "submit": SubmitPlan(case_id, at, ("safe at home",), (SERVICE,)),
            "approve": ApprovePlan(case_id, at),
            "close": CloseCase(case_id, at, ClosureReason.UNFOUNDED),
            "reopen": ReopenCase(case_id, at, "again"),
            "transfer": TransferCase(case_id, at, commune, "moved"),
            "assign": AssignOfficer(case_id, at, f"officer:{hours}"),
            "serve": DeliverService(case_id, at, "counselling", SupportLevel.SUPPORT, "centre"),
        }[kind]
        try:
            await registry.cases.execute(command, CHAIR if kind == "approve" else OFFICER)
        except InvalidInput:
            pass
    return case_id


@settings(max_examples=6, deadline=None)
@given(steps=case_steps)
def test_as_of_each_case_event_the_case_history_equals_a_fold_of_the_events_up_to_it(
    run, registry: Registry, steps
) -> None:  # type: ignore[no-untyped-def]
    case_id = run(case_history(registry, steps))
    projection = isolated(CaseRegister)
    runner = projector(registry, projection, batch=3)
    run(projection.prepare(registry.store))
    run(runner.catch_up(run(runner.ensure())))
    events = run(registry.store.read_stream(f"case:{case_id}"))
    key = run(registry.case_keyring.get(case_id))
    folded = [unseal(e.event_type, e.data, key, e.stream_id, CASE_PARTS) for e in events]
    times = [datetime.fromisoformat(e.data["at"]) for e in events]
    conn = run(registry.db.owner())
    try:
        for n, event in enumerate(events):
            for probe in sorted({*times, times[-1] + timedelta(days=1), times[0] - timedelta(minutes=1)}):
                known = case_replay([f for f, t in zip(folded[: n + 1], times, strict=False) if t <= probe])
                row = run(conn.fetchrow(
                    f"SELECT stage, commune_code, risk_level, officer_id, cycle FROM {projection.schema}.case_history"
                    " WHERE case_id = $1 AND recorded @> $2::timestamptz AND valid @> $3::timestamptz",
                    case_id, event.recorded_at, probe))  # fmt: skip
                if known is None:
                    assert row is None, (n, probe)
                    continue
                assert row is not None, (n, probe)
                expected = (str(known.stage), known.commune, known.risk_level, known.officer_id, known.cycle)
                assert tuple(row) == expected, (n, probe)
    finally:
        run(conn.close())


def test_versions_superseded_in_the_transaction_that_recorded_them_are_not_stored_however_batches_fall(
    run, registry: Registry
) -> None:  # type: ignore[no-untyped-def]
    # An import writes a child's registration, classification, declassification and move in one transaction:
    # the residence and group versions they supersede at once were never what the registry held.
    child = str(uuid.uuid4())
    sealed = Sealed(sealed="x")
    details = Details(date_of_birth=date(2015, 1, 1), sex=Sex.MALE)
    new = [
        ChildRegistered[Sealed](child_id=child, details=details, commune_code="03253",
                                residence_from=date(2025, 8, 1), personal=sealed),
        ChildClassified(group="disabled", subgroup="mild", on=date(2025, 9, 1), evidence="assessment"),
        ChildMoved[Sealed](from_commune="03253", to_commune="03127", on=date(2026, 1, 1), personal=sealed),
        ChildDeclassified(group="disabled", on=date(2026, 2, 1), reason="recovered"),
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
            f"SELECT commune_code, valid::text, isempty(recorded) AS never FROM {whole.schema}.child_residences"
            " WHERE child_id = $1 ORDER BY lower(valid)", child))  # fmt: skip
        groups = run(conn.fetch(f"SELECT valid::text FROM {whole.schema}.child_groups WHERE child_id = $1", child))
    finally:
        run(conn.close())
    assert [tuple(r) for r in rows] == [("03253", "[2025-08-01,2026-01-01)", False), ("03127", "[2026-01-01,)", False)]
    assert [r[0] for r in groups] == ["[2025-09-01,2026-02-01)"]
