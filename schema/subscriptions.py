"""Subscriptions over graphql-transport-ws (schema/app.py authenticates the connection; ../shared/API.md item 21).

- `events`: new events of child and case records in the caller's jurisdiction, in the global order (gap-safe:
  `EventStore.read_all` reads below the visibility horizon), from now or from an event's `globalCursor`;
- `caseDeadlines`: a legal time limit of an open case of a unit becoming due soon or overdue (checked every
  `everySeconds`);
- `projectionProgress`: a read model's checkpoint, the head of the log and the events still to project.

Every pushed event and every case whose deadline is pushed is checked against the caller's jurisdiction as it
stands when it is pushed, and written to the access log with the subscription's purpose (a push is a read).
A subscription ends when the token expires (the connection is closed with 4401; schema/app.py).

One LISTEN connection per process wakes every subscriber (`Wakeups`); a subscriber that misses a wake-up finds
the event on its next read, at the latest after `_POLL` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from projections.register import PROJECTIONS
from registry.access import Action, reaches
from registry.access_log import Access, Outcome, record
from registry.cases import STREAM_TYPE as CASE_STREAM
from registry.children import STREAM_TYPE as CHILD_STREAM
from registry.errors import RegistryError
from registry.events import Cursor, Horizon, RecordedEvent
from registry.law import VIETNAM
from registry.replica import Reader
from registry.store import EventStore, Listener
from registry.units import level_of

from .context import Context, bad_input, context, purpose_of, require_read_models

_POLL = 2.0  # seconds: the longest a subscriber waits without a wake-up before it reads again
_KINDS = {CHILD_STREAM: "child", CASE_STREAM: "case"}


class Wakeups:
    """One LISTEN connection for the whole process: each subscriber gets an asyncio.Event that every notified
    append sets. A subscriber clears its event before it reads, so a wake-up between its read and its wait is
    not lost.

    LISTEN runs on the primary (a standby cannot); with a read replica (`reader`), subscribers are woken once the
    replica shows the primary's newest event, so the read they wake for finds it (registry/replica.py).
    """

    def __init__(self, store: EventStore, reader: Reader | None = None) -> None:
        self._store = store
        self._reader = reader
        self._subscribers: set[asyncio.Event] = set()
        self._listener: Listener | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._listener = await self._store.listen()
        self._task = asyncio.create_task(self._pump(self._listener))

    async def _pump(self, listener: Listener) -> None:
        while True:
            if await listener.wait(30):
                if self._reader is not None and self._reader.replica and self._subscribers:
                    with contextlib.suppress(RegistryError):  # a replica far behind: subscribers poll meanwhile
                        await self._reader.after(await self._store.horizon())
                for event in self._subscribers:
                    event.set()

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[asyncio.Event]:
        event = asyncio.Event()
        self._subscribers.add(event)
        try:
            yield event
        finally:
            self._subscribers.discard(event)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._listener is not None:
            await self._listener.close()


async def _sleep(wake: asyncio.Event | None, seconds: float) -> None:
    if wake is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wake.wait(), seconds)


def _alive(ctx: Context) -> bool:
    """Whether the caller's token still holds (a subscription stops pushing the moment it expires)."""
    return ctx.principal.expires_at > datetime.now(UTC)


@strawberry.type(description="An event of a child's or a case's record, pushed as it is recorded.")
class RecordEvent:
    record_kind: str = strawberry.field(description="child or case.")
    record_id: str
    event_type: str
    version: int
    global_cursor: str = strawberry.field(description="Resume from here with `after` after a reconnection.")
    occurred_at: datetime
    recorded_at: datetime
    actor_role: str
    reason: str | None


@strawberry.type(description="A legal time limit of an open case that became due soon or overdue.")
class DeadlineAlert:
    case_id: str
    code: str
    step: str
    due_at: datetime
    status: str = strawberry.field(description="due_soon or overdue.")


@strawberry.type(description="How far a read model has followed the log.")
class ProjectionProgress:
    name: str
    checkpoint: str | None = strawberry.field(description="The global cursor of the last event it projected.")
    head: str | None = strawberry.field(description="The global cursor of the last event a follower can read.")
    lag_events: int = strawberry.field(description="Events of its record kinds recorded after its checkpoint.")
    at: datetime


@dataclass
class _Scope:
    """Whether a record lies within the caller's jurisdiction now (a record's own check, as a read of it does)."""

    ctx: Context

    async def covers(self, kind: str, record_id: str, upto: Cursor) -> bool:
        reader, today = self.ctx.reader, self.ctx.today()
        units = await self.ctx.registry.gazetteer(max_age=1.0)
        known = Horizon(cursor=upto)
        if kind == "child":
            child = await (await reader.children()).load(record_id, known=known)
            if child is None:
                return False
            here = child.residence_on(today)
            return self.ctx.principal.covers(units.place(here.commune_code, here.valid_from))
        case = await (await reader.cases()).load(record_id, known=known)
        if case is None:
            return False
        place = case.jurisdictions[-1]
        return self.ctx.principal.covers(units.place(place.commune_code, place.since.astimezone(VIETNAM).date()))


async def _log(ctx: Context, operation: str, kind: str, record_id: str, purpose: str) -> None:
    await record(ctx.registry.pool, ctx.principal,
                 [Access(ctx.request_id, operation, kind, record_id, purpose, Outcome.ALLOWED)])  # fmt: skip


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="New events of child and case records in your jurisdiction, in the global order: from now, or "
        "after `after` (an event's globalCursor, to resume). Each pushed event is logged with `purpose`."
    )
    async def events(
        self, info: Info, purpose: str, after: str | None = None,
        record_kinds: Annotated[list[str] | None, strawberry.argument(description="child and/or case.")] = None,
        event_types: list[str] | None = None,
    ) -> AsyncGenerator[RecordEvent, None]:  # fmt: skip
        ctx = context(info)
        given = purpose_of(purpose, "purpose")
        if not (ctx.principal.allows(Action.READ_HISTORY) or ctx.principal.allows(Action.FEED)):
            raise GraphQLError("your role does not follow events", extensions={"code": "FORBIDDEN"})
        kinds = {k: t for t, k in _KINDS.items()}
        for n, kind in enumerate(record_kinds or []):
            if kind not in kinds:
                raise bad_input(f"recordKinds.{n}", "must be child or case")
        types = [kinds[k] for k in record_kinds] if record_kinds else list(_KINDS)
        store = ctx.reader.store
        try:
            cursor = await store.horizon() if after is None else Cursor.from_token(after, "after")
        except RegistryError as exc:
            raise bad_input("after", "is not an event cursor of this registry (an event's globalCursor)") from exc
        scope = _Scope(ctx)
        with _wakeups(ctx) as wake:
            while _alive(ctx):
                if wake is not None:
                    wake.clear()
                batch = await store.read_all(cursor, limit=500, stream_types=types)
                for e in batch:
                    cursor = e.cursor
                    if event_types and e.event_type not in event_types:
                        continue
                    kind, record_id = _KINDS[e.stream_type], e.stream_id.split(":", 1)[1]
                    if not _alive(ctx) or not await scope.covers(kind, record_id, e.cursor):
                        continue
                    await _log(ctx, "events", kind, record_id, given)
                    yield _record_event(kind, record_id, e)
                if not batch:
                    await _sleep(wake, _POLL)

    @strawberry.subscription(
        description="Legal time limits of the open cases of a unit becoming due soon or overdue: those that are "
        "now, then each change, checked every `everySeconds` (5-3600). Each case pushed is logged with `purpose`."
    )
    async def case_deadlines(
        self, info: Info, unit: str, purpose: str, every_seconds: int = 60
    ) -> AsyncGenerator[DeadlineAlert, None]:
        ctx = context(info)
        given = purpose_of(purpose, "purpose")
        if not 5 <= every_seconds <= 3600:
            raise bad_input("everySeconds", "must be between 5 and 3600")
        try:
            level = level_of(unit, "unit")
        except RegistryError as exc:
            raise bad_input("unit", "must be 2 (province), 3 (district) or 5 (commune) digits") from exc
        units = await ctx.registry.gazetteer(max_age=1.0)  # a connection lives long: not its cached one
        if not (ctx.principal.allows(Action.READ_RECORD) and reaches(ctx.principal, units, unit, ctx.today())):
            raise GraphQLError("this unit is outside your jurisdiction", extensions={"code": "FORBIDDEN"})
        await require_read_models(ctx, "read.cases")
        column = {"commune": "commune_now", "district": "district_code", "province": "province_now"}[level.value]
        seen: dict[tuple[str, str], str] = {}
        scope = _Scope(ctx)
        while _alive(ctx):
            now = datetime.now(UTC)
            head = await ctx.reader.store.horizon()
            rows = await ctx.reader.pool.fetch(
                f"SELECT case_id FROM read.cases WHERE {column} = $1 AND stage <> 'closed' ORDER BY case_id", unit
            )
            ids = [r["case_id"] for r in rows]
            cases = await ctx.reader.cases()
            for case_id in ids:
                state = await cases.load(case_id)
                if state is None or not _alive(ctx) or not await scope.covers("case", case_id, head):
                    continue
                for d in state.deadlines(now):
                    key, status = (case_id, d.deadline.code), d.status.value
                    if status in ("due_soon", "overdue") and seen.get(key) != status:
                        await _log(ctx, "caseDeadlines", "case", case_id, given)
                        yield DeadlineAlert(case_id=case_id, code=d.deadline.code, step=d.deadline.step,
                                            due_at=d.due_at, status=status)  # fmt: skip
                    seen[key] = status
            await asyncio.sleep(every_seconds)

    @strawberry.subscription(
        description="A read model's progress: its checkpoint, the head of the log and the events still to "
        "project, now and then every `everySeconds` (1-3600) while it changes."
    )
    async def projection_progress(
        self, info: Info, name: str, every_seconds: int = 5
    ) -> AsyncGenerator[ProjectionProgress, None]:
        ctx = context(info)
        known = {p.name: p for p in PROJECTIONS}
        if name not in known:
            raise bad_input("name", f"must be one of {', '.join(sorted(known))}")
        if not 1 <= every_seconds <= 3600:
            raise bad_input("everySeconds", "must be between 1 and 3600")
        if not ctx.principal.allows(Action.READ_AGGREGATES):
            raise GraphQLError("your role does not read the registry's state", extensions={"code": "FORBIDDEN"})
        last: ProjectionProgress | None = None
        while _alive(ctx):
            progress = await _progress(ctx, name, list(known[name].stream_types))
            if last is None or (progress.checkpoint, progress.head) != (last.checkpoint, last.head):
                yield progress
                last = progress
            await asyncio.sleep(every_seconds)


@contextlib.contextmanager
def _wakeups(ctx: Context) -> Iterator[asyncio.Event | None]:
    if ctx.wakeups is None:
        yield None
        return
    with ctx.wakeups.subscribe() as wake:
        yield wake


def _record_event(kind: str, record_id: str, e: RecordedEvent) -> RecordEvent:
    return RecordEvent(record_kind=kind, record_id=record_id, event_type=e.event_type, version=e.version,
                       global_cursor=e.cursor.token(), occurred_at=e.occurred_at, recorded_at=e.recorded_at,
                       actor_role=str(e.metadata.get("actor_role", "")),
                       reason=_text(e.metadata.get("reason")))  # fmt: skip


def _text(value: object) -> str | None:
    return None if value is None else str(value)


async def _progress(ctx: Context, name: str, stream_types: list[str]) -> ProjectionProgress:
    row = await ctx.reader.pool.fetchrow(
        "SELECT c.transaction_id, c.position FROM projection_checkpoints c JOIN projection_state s"
        " ON s.name = c.name AND s.generation = c.generation WHERE c.name = $1", name)  # fmt: skip
    cursor = Cursor(0, 0) if row is None else Cursor(int(row[0]), int(row[1]))
    head = await ctx.reader.store.horizon()
    lag = await ctx.reader.pool.fetchval(
        "SELECT count(*) FROM events WHERE (transaction_id, position) > ($1, $2) AND stream_type = ANY($3)"
        " AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())",
        cursor.transaction_id, cursor.position, stream_types,
    )  # fmt: skip
    return ProjectionProgress(name=name, checkpoint=None if row is None else cursor.token(),
                              head=head.token() if head.position else None, lag_events=int(lag),
                              at=datetime.now(UTC))  # fmt: skip


__all__ = ["Subscription", "Wakeups"]
