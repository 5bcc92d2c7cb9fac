"""What every resolver of a request shares: its context, the point in time a root read is made at, and the
errors and cursors the API speaks (schema/api.py, schema/aggregates.py, schema/subscriptions.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import strawberry
from graphql import GraphQLError
from strawberry import relay
from strawberry.types import Info

from registry.access import Principal
from registry.access_log import purpose_of as logged_purpose
from registry.errors import ConcurrencyError, IdempotencyConflict, InvalidInput, RegistryError
from registry.events import Cursor, Horizon
from registry.gazetteer import Gazetteer
from registry.law import VIETNAM
from registry.logs import note_error
from registry.replica import Reader
from registry.runtime import Registry

if TYPE_CHECKING:
    from .subscriptions import Wakeups

PURPOSE_HEADER = "x-registry-purpose"  # the purpose of the reads of a request, for `node` (child() takes it inline)
WRITTEN_HEADER = "x-registry-written"  # the globalCursor of the last event a request's commands wrote


@dataclass
class Context:
    """What every resolver of one request sees."""

    registry: Registry
    authenticated: Principal | None  # None only for the explorer page, which runs no resolver
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    purpose: str | None = None
    as_of: dict[str, Any] = field(default_factory=dict)  # echoed in the response's extensions (ReportAsOf)
    wakeups: Wakeups | None = None  # the process's LISTEN fan-out, for subscriptions (None: they poll)
    connection_params: dict[str, Any] | None = None  # a WebSocket's connection_init payload (the token)
    websocket: Any = None  # the starlette WebSocket of a subscription's connection (schema/app.py)
    response: Any = None  # the HTTP response being made (strawberry's sub-response), for headers
    written: Cursor | None = None  # the last event the request's commands wrote
    _units: Gazetteer | None = field(default=None, repr=False)

    @property
    def reader(self) -> Reader:
        """Where the request's reads go (the read replica, or the primary): registry/replica.py. A request sent
        with X-Registry-After has already waited there for that write (schema/app.py, ReadAfter)."""
        return self.registry.reader

    def wrote(self, cursor: Cursor) -> None:
        """Note an event a command wrote: the response's X-Registry-Written names the last one, for a later read
        to send back as X-Registry-After."""
        if self.written is None or cursor > self.written:
            self.written = cursor
            if self.response is not None:
                self.response.headers[WRITTEN_HEADER] = cursor.token()

    @property
    def principal(self) -> Principal:
        if self.authenticated is None:  # cannot happen: schema/app.py lets no query through without a token
            raise GraphQLError("a bearer token is required", extensions={"code": "UNAUTHENTICATED"})
        return self.authenticated

    async def units(self) -> Gazetteer:
        """The administrative units for this request: brought up to date once, at most a second old (a unit is
        decided rarely and long in advance), then the same for every resolver of the request."""
        if self._units is None:
            self._units = await self.registry.gazetteer(max_age=1.0)
        return self._units

    def today(self) -> date:
        return datetime.now(UTC).astimezone(VIETNAM).date()


def context(info: Info) -> Context:
    found: Context = info.context
    return found


@dataclass(frozen=True)
class AsOf:
    """The point a root read is made at and everything under it: what the registry knew then (`known`; None for
    now) and the moment of system time that is (`at`), whose day in Vietnam is the day the record is seen on."""

    known: Horizon | None
    at: datetime

    @property
    def day(self) -> date:
        return self.at.astimezone(VIETNAM).date()


AS_OF = "An event's `globalCursor`: read as the registry knew it just after that event (default: now)."
AS_OF_TIME = "A moment (with its time zone): read as the registry knew it then; with `asOf`, the earlier of both."


async def point_of(info: Info, as_of: str | None, as_of_time: datetime | None) -> AsOf:
    """The point a root read asks for, checked: a cursor this registry issued and has reached, a past time."""
    ctx = context(info)
    now = datetime.now(UTC)
    if as_of is None and as_of_time is None:
        return AsOf(None, now)
    at, cursor = now, None
    if as_of is not None:
        try:
            cursor = Cursor.from_token(as_of, "asOf")
        except RegistryError as exc:
            raise bad_input("asOf", "is not an event cursor of this registry (an event's globalCursor)") from exc
        store = ctx.reader.store
        recorded = await store.recorded_at(cursor) if cursor <= await store.horizon() else None
        if recorded is None:
            raise bad_input("asOf", "names no event this registry has recorded")
        at = recorded
        ctx.as_of[f"{info.path.key}.asOf"] = as_of
    if as_of_time is not None:
        if as_of_time.tzinfo is None:
            raise bad_input("asOfTime", "needs its time zone (e.g. 2026-10-01T09:00:00+07:00)")
        if as_of_time > now:
            raise bad_input("asOfTime", "lies in the future")
        at = min(at, as_of_time)
        ctx.as_of[f"{info.path.key}.asOfTime"] = as_of_time.isoformat()
    return AsOf(Horizon(cursor, as_of_time), at)


def bad_input(field_name: str, message: str) -> GraphQLError:
    return GraphQLError(f"{field_name}: {message}", extensions={"code": "BAD_USER_INPUT", "field": field_name})


def purpose_of(value: str | None, field_name: str) -> str:
    """registry.access_log.purpose_of, refusing with BAD_USER_INPUT naming the argument."""
    try:
        return logged_purpose(value, field_name)
    except InvalidInput as exc:
        raise bad_input(field_name, exc.message) from None


# Read models seen to exist, by database: a read model, once built, is swapped for a rebuilt one, never dropped.
_READY: dict[str, set[str]] = {}


async def require_read_models(ctx: Context, *tables: str) -> None:
    """A NOT_READY error while a read model a resolver needs has not been built yet (a new or rebuilt database)."""
    ready = _READY.setdefault(ctx.registry.database.describe(), set())
    wanted = [t for t in tables if t not in ready]
    if not wanted:
        return
    missing = await ctx.reader.pool.fetch(
        "SELECT t.name FROM unnest($1::text[]) AS t(name) WHERE to_regclass(t.name) IS NULL", wanted
    )
    ready.update(set(wanted) - {r[0] for r in missing})
    if missing:
        raise GraphQLError("the register's read model is being built: try again in a moment",
                           extensions={"code": "NOT_READY"})  # fmt: skip


def cursor_of(kind: str, value: str) -> str:
    return relay.to_base64(kind, value)


def cursor_value(kind: str, cursor: str | None, field_name: str = "after") -> str | None:
    if cursor is None:
        return None
    try:
        found, value = relay.from_base64(cursor)
    except (ValueError, TypeError) as exc:
        raise bad_input(field_name, "is not a cursor of this list") from exc
    if found != kind:
        raise bad_input(field_name, "is not a cursor of this list")
    return str(value)


@strawberry.type(description="Why a command was not carried out; nothing was written.")
class UserError:
    code: str = strawberry.field(
        description="CONCURRENCY_CONFLICT, IDEMPOTENCY_KEY_REUSED, FORBIDDEN, NOT_FOUND, "
        "or the rule broken (e.g. BEFORE_BIRTH, UNKNOWN_COMMUNE)."
    )
    message: str
    field: str | None = strawberry.field(description="The input field at fault, e.g. input.residenceFrom.")
    current_version: int | None = strawberry.field(default=None, description="With CONCURRENCY_CONFLICT.")


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def user_error(exc: RegistryError) -> UserError:
    """A registry error as the caller sees it: never a stack trace, never personal data."""
    note_error(exc.reason.upper() if isinstance(exc, InvalidInput) else exc.code)
    if isinstance(exc, ConcurrencyError):
        return UserError(code=exc.code, message="the record changed since you read it: read it again",
                         field="input.expectedVersion", current_version=exc.actual)  # fmt: skip
    if isinstance(exc, InvalidInput):
        path = ".".join(camel(part) for part in exc.field.split("."))
        return UserError(code=exc.reason.upper(), message=str(exc), field=f"input.{path}")
    return UserError(code=exc.code, message=str(exc), field="input.idempotencyKey"
                     if isinstance(exc, IdempotencyConflict) else None)  # fmt: skip
