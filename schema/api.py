"""The GraphQL schema (first slice of the API issue): who am I, administrative units, a child record, `node`.

Every request is authenticated before it reaches the schema (schema/app.py:
a bearer token, registry/tokens.py). Each resolver then asks the two
questions of registry/access.py: may this role do this at all, and does the
record lie within the principal's jurisdiction on the day asked about. A
record out of scope and a record that does not exist both come back as
null, and both are written to the access log (registry/access_log.py) with
the purpose the caller gave, before the answer leaves; a read that cannot be
logged is not served. Each record also answers what changed between two of
its versions, field by field with the events that changed each
(`historyDiff`), and, to auditors only, who read it (`accessLog`: the same
log the root `accessLog` pages, this read logged as well).

Errors the caller can act on carry `extensions.code` (BAD_USER_INPUT with
the `field`, FORBIDDEN); anything else is masked as "Unexpected error." and
logged with the request id (MaskErrors). Depth, aliases and tokens are
limited; field suggestions are off; the SDL is exported to
schema/schema.graphql (test_schema keeps it in sync).
"""

from __future__ import annotations

import logging
import unicodedata
import uuid
from collections.abc import Callable, Iterable
from dataclasses import MISSING, asdict, dataclass, fields, is_dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from types import UnionType
from typing import Annotated, Any, Optional, TypeVar, Union, cast, get_args, get_origin, get_type_hints

import strawberry
from graphql import GraphQLError
from pydantic import BaseModel
from strawberry import relay
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)
from strawberry.extensions.max_aliases import create_validator as aliases_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule
from strawberry.relay.types import GlobalIDValueError, InvalidGlobalIDError
from strawberry.scalars import JSON
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext, Info

from projections.queries import children_page
from registry.access import Action, reaches
from registry.access_log import Access, Outcome, entries, record
from registry.cases import PARTS as CASE_PARTS
from registry.cases import (
    ApplyEmergencyMeasure,
    ApprovePlan,
    AssessRisk,
    AssignOfficer,
    CaseCommand,
    CaseState,
    CaseType,
    CloseCase,
    CompleteDetailedAssessment,
    DeliverService,
    EndEmergencyMeasure,
    LinkChild,
    ReceiveReport,
    ReferCase,
    RejectPlan,
    ReopenCase,
    ReviewPlan,
    RevisePlan,
    RiskLevel,
    Stage,
    SubmitPlan,
    TransferCase,
)
from registry.cases import evolve as evolve_case
from registry.children import PARTS as CHILD_PARTS
from registry.children import (
    ChildCommand,
    ChildDetailsCorrected,
    ChildMoved,
    ChildRegistered,
    ChildState,
    ClassifyChild,
    ClearAtRisk,
    CorrectChild,
    DeclassifyChild,
    EraseChildData,
    FlagAtRisk,
    Identity,
    MergeChild,
    MoveChild,
    RecordDeath,
    RecordDisability,
    RecordSchoolStatus,
    RecordSupport,
    RegisterChild,
    Residence,
)
from registry.children import evolve as evolve_child
from registry.errors import RegistryError
from registry.events import Horizon, Metadata, RecordedEvent
from registry.gazetteer import Gazetteer, UnitView, fold
from registry.law import VIETNAM, start_of_day
from registry.logs import note_error
from registry.personal import Erased
from registry.sealing import unseal
from registry.units import Level, level_of

from .aggregates import AggregateQuery
from .context import (
    AS_OF,
    AS_OF_TIME,
    PURPOSE_HEADER,
    AsOf,
    Context,
    UserError,
    bad_input,
    camel,
    context,
    cursor_of,
    cursor_value,
    point_of,
    purpose_of,
    require_read_models,
    user_error,
)
from .cost import MAX_PAGE, CostRule, ReportCost
from .duplicates import DuplicateMutation, DuplicateQuery
from .feed import FeedQuery
from .integration import IntegrationMutation, IntegrationQuery
from .metrics import MeasureOperation
from .subscriptions import Subscription
from .text import StorableLiterals, StorableVariables

log = logging.getLogger(__name__)

_IDS = uuid.UUID("0b5c7d0e-3f55-4c1e-9a57-6a2f3c9e8d41")  # namespace of the ids the API makes for new records


@strawberry.type(name="Principal", description="Who is asking: from the bearer token.")
class PrincipalType:
    subject: str
    role: str
    unit: str | None = strawberry.field(description="The unit the principal's jurisdiction follows (null: national).")
    expires_at: datetime


@strawberry.type(
    description="An event of a record's history (the audit trail): what happened, when, who did it "
    "and why. `data` holds the event's fields without its sealed personal part."
)
class Event:
    position: int
    global_cursor: str = strawberry.field(description="Its place in the global order: give it as `asOf` to read "
                                          "as the registry knew it just after this event.")  # fmt: skip
    version: int
    event_type: str
    occurred_at: datetime = strawberry.field(description="Business time: when it happened.")
    recorded_at: datetime = strawberry.field(description="System time: when the registry recorded it.")
    actor_id: str
    actor_role: str
    jurisdiction: str | None
    reason: str | None
    source: str | None
    correlation_id: str | None
    causation_id: str | None
    data: JSON


@strawberry.type
class EventEdge:
    cursor: str
    node: Event


@strawberry.type(description="A page of a record's events, oldest first.")
class EventConnection:
    edges: list[EventEdge]
    page_info: relay.PageInfo


async def history(
    ctx: Context, stream: str, first: int, after: str | None, before: datetime | None, known: Horizon | None
) -> EventConnection:
    """The events of a stream the caller may already read (its record was authorised), a page at a time: those
    the registry knew at `known`, and with `before`, those that occurred earlier."""
    may_read_history(ctx)
    if not 1 <= first <= MAX_PAGE:
        raise bad_input("first", f"must be between 1 and {MAX_PAGE}")
    try:
        start = int(cursor_value("EventCursor", after) or 0)
    except ValueError as exc:
        raise bad_input("after", "is not a cursor of this list") from exc
    events = [e for e in await ctx.reader.store.read_stream(stream)
              if e.version > start and (before is None or e.occurred_at < before)
              and (known is None or known.includes(e))]  # fmt: skip
    edges = [EventEdge(cursor=cursor_of("EventCursor", str(e.version)), node=_event(e)) for e in events[:first]]
    page = relay.PageInfo(has_next_page=len(events) > first, has_previous_page=start > 0,
                          start_cursor=edges[0].cursor if edges else None,
                          end_cursor=edges[-1].cursor if edges else None)  # fmt: skip
    return EventConnection(edges=edges, page_info=page)


def may_read_history(ctx: Context) -> None:
    """FORBIDDEN unless the caller's role reads histories (the record itself was already read, and logged)."""
    if not ctx.principal.allows(Action.READ_HISTORY):
        raise GraphQLError("your role does not read histories", extensions={"code": "FORBIDDEN"})


def may_compare_versions(ctx: Context, purpose: str | None) -> None:
    """As may_read_history, and only for a record read with a purpose (and so logged): a command's payload
    returns the record it wrote without a logged read, and a diff opens every earlier version of it."""
    may_read_history(ctx)
    if purpose is None:
        raise GraphQLError("compare versions of a record read with a purpose: child(childId:, purpose:) or "
                           "case(caseId:, purpose:)", extensions={"code": "FORBIDDEN"})  # fmt: skip


def _event(e: RecordedEvent) -> Event:
    meta: dict[str, Any] = e.metadata
    return Event(
        position=e.position, global_cursor=e.cursor.token(), version=e.version, event_type=e.event_type,
        occurred_at=e.occurred_at, recorded_at=e.recorded_at, actor_id=meta.get("actor_id", ""),
        actor_role=meta.get("actor_role", ""),
        jurisdiction=meta.get("jurisdiction"), reason=meta.get("reason"), source=meta.get("source"),
        correlation_id=meta.get("correlation_id"), causation_id=meta.get("causation_id"),
        data=cast(JSON, {k: v for k, v in e.data.items() if k != "personal"}),
    )  # fmt: skip


# -- what changed between two versions of a record (issue 10: the auditors) ------------------------------------------

DIFF = (
    "What changed from `fromVersion` to `toVersion`, field by field (before, after, and the events that changed "
    "each: actor, reason, occurred and recorded time), among the versions this read includes; a personal field "
    "is shown only as the record shows it, and one erased since only as erased."
)
FROM_VERSION = "The earlier version (0: before the record existed); default: the one before `toVersion`."
TO_VERSION = "The later version; default: the record's version as read."
RECORD_ACCESS_LOG = (
    "Who read this record or was refused it, when and why, oldest first (auditors only: FORBIDDEN otherwise; "
    "this read is logged too)."
)
LOG_PURPOSE = "Why the log is read (logged); default: the purpose the record was read with."

_ERASED = object()  # a personal field whose value went with the child's key (crypto-shredding)
_PERSONAL = tuple(f"personal.{camel(name)}" for name in Identity.model_fields)
_SHOWN = frozenset({"personal.fullName"})  # the personal fields the record itself shows (Child.fullName)
_WITHHELD = frozenset(_PERSONAL) - _SHOWN  # personal fields the API never shows: a change is named, not its values
S = TypeVar("S")


def _plain(value: Any) -> Any:
    """A value of a record's state as JSON: models and records as objects with the API's camelCase names, enums as
    their values, days and times in ISO 8601."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    elif is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in fields(value)}
    if isinstance(value, dict):
        return {camel(str(k)): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, date):  # a datetime too
        return value.isoformat()
    return value


def _child_view(state: ChildState) -> dict[str, Any]:
    """The fields of a child's record an auditor compares, by dotted path, in the record's own order."""
    view = {f"details.{camel(name)}": _plain(value) for name, value in state.details}
    if isinstance(state.personal, Identity):
        view.update({f"personal.{camel(name)}": _plain(value) for name, value in state.personal})
    else:
        view.update(dict.fromkeys(_PERSONAL, _ERASED))
    here = state.residences[-1]
    view.update({
        "residence.communeCode": here.commune_code, "residence.validFrom": here.valid_from.isoformat(),
        "groups": _plain(state.groups), "atRisk": _plain(state.at_risk), "supports": _plain(state.supports),
        "disability": _plain(state.disability), "school": _plain(state.school), "diedOn": _plain(state.died_on),
        "mergedInto": state.merged_into, "absorbed": list(state.absorbed), "erased": state.erased,
    })  # fmt: skip
    return view


def _child_erased_touches(event: BaseModel) -> set[str]:
    """The personal fields an event recorded, when its personal part can no longer be read (the child's data was
    erased): the values are gone, the fact that a registration, a correction or a move set them is not."""
    if not isinstance(getattr(event, "personal", None), Erased):
        return set()
    if isinstance(event, ChildRegistered):
        return set(_PERSONAL)
    if isinstance(event, ChildDetailsCorrected):
        names = {"caregiver_names" if name == "caregivers" else name for name in event.fields}
        return {f"personal.{camel(name)}" for name in names if name in Identity.model_fields}
    if isinstance(event, ChildMoved):
        return {"personal.address"}
    return set()


def _case_view(state: CaseState) -> dict[str, Any]:
    """The fields of a case an auditor compares. The confidential part (who reported, what was said) is not among
    them: the API never shows it."""
    here = state.jurisdictions[-1]
    return {
        "stage": state.stage.value, "channel": state.channel.value, "caseTypes": _plain(state.case_types),
        "reporterAskedConfidentiality": state.reporter_asked_confidentiality,
        "receivedAt": _plain(state.received_at), "jurisdiction.communeCode": here.commune_code,
        "jurisdiction.since": _plain(here.since), "childIds": list(state.child_ids),
        "riskLevel": _plain(state.risk_level), "emergency": state.emergency,
        "caregiverIsPerpetrator": state.caregiver_is_perpetrator, "emergencyMeasure": _plain(state.emergency_measure),
        "officerId": state.officer_id, "plan": _plain(state.plan), "planApprovedBy": state.plan_approved_by,
        "lastReview": _plain(state.last_review), "services": _plain(state.services),
        "referrals": _plain(state.referrals), "closed": _plain(state.closed), "cycle": state.cycle,
    }  # fmt: skip


@strawberry.type(description="A field of the record that differs between the two versions compared.")
class FieldChange:
    field: str = strawberry.field(description="Its dotted path, e.g. details.sex, residence.communeCode, groups.")
    before: JSON | None = strawberry.field(description="Its value at `fromVersion` (null: none, or concealed).")
    after: JSON | None = strawberry.field(description="Its value at `toVersion` (null: none, or concealed).")
    concealed: str | None = strawberry.field(
        description="Why the values are not shown: `erased` (the child's personal data was erased: it can no "
        "longer be read), `withheld` (a personal field the API does not show); null when they are shown."
    )
    events: list[Event] = strawberry.field(
        description="The events after `fromVersion` up to `toVersion` that changed it, oldest first: who, why "
        "(actor, reason), when it happened (occurredAt) and when it was recorded (recordedAt)."
    )


@strawberry.type(description="What changed in a record from one version to another, field by field.")
class RecordDiff:
    from_version: int
    to_version: int
    differences: list[FieldChange] = strawberry.field(description="The fields that differ, in the record's order.")


@dataclass(frozen=True)
class Versions:
    """A record's versions as the caller may see them: the events, and the fields compared after each."""

    events: list[RecordedEvent]
    views: list[dict[str, Any]]  # views[n]: after the n-th event (views[0]: before the record, none)
    touched: list[frozenset[str]]  # touched[n]: the fields the n-th event changed

    @classmethod
    def fold(
        cls, events: list[RecordedEvent], models: list[BaseModel], evolve: Callable[[S | None, BaseModel], S],
        view: Callable[[S], dict[str, Any]], erased_touches: Callable[[BaseModel], set[str]],
    ) -> Versions:  # fmt: skip
        views: list[dict[str, Any]] = [{}]
        touched: list[frozenset[str]] = [frozenset()]
        state: S | None = None
        for model in models:
            state = evolve(state, model)
            now, then = view(state), views[-1]
            changed = {path for path in now.keys() | then.keys() if now.get(path) != then.get(path)}
            views.append(now)
            touched.append(frozenset(changed | erased_touches(model)))
        return cls(events, views, touched)

    @classmethod
    def of_child(cls, events: list[RecordedEvent], models: list[BaseModel]) -> Versions:
        """A child's record's versions, from its events as stored and as opened (`models`, in the same order)."""
        return cls.fold(events, models, evolve_child, _child_view, _child_erased_touches)

    @classmethod
    def of_case(cls, events: list[RecordedEvent], models: list[BaseModel]) -> Versions:
        """A case's versions, from its events as stored and as opened."""
        return cls.fold(events, models, evolve_case, _case_view, lambda _: set())

    @property
    def numbers(self) -> list[int]:
        """The versions one may compare: 0 (before the record) and those of the events."""
        return [0, *(e.version for e in self.events)]

    def index(self, version: int, name: str) -> int:
        """Where a version given as the argument `name` lies, or BAD_USER_INPUT naming it."""
        numbers = self.numbers
        if version not in numbers:
            raise bad_input(name, f"must be a version of the record you may read, from 0 to {numbers[-1]}")
        return numbers.index(version)

    def diff(self, from_version: int | None, to_version: int | None) -> RecordDiff:
        """The fields that differ between two versions (default: what the last event changed), and the events that
        changed each. A personal field erased since is named with the events that set it, never with its values."""
        end = len(self.events) if to_version is None else self.index(to_version, "toVersion")
        start = max(end - 1, 0) if from_version is None else self.index(from_version, "fromVersion")
        if start > end:
            raise bad_input("fromVersion", "must not be after toVersion")
        before, after = self.views[start], self.views[end]
        steps = range(start + 1, end + 1)
        paths = dict.fromkeys([*after, *before, *(p for n in steps for p in sorted(self.touched[n]))])
        found = []
        for path in paths:
            by = [_event(self.events[n - 1]) for n in steps if path in self.touched[n]]
            old, new = before.get(path), after.get(path)
            if old is _ERASED or new is _ERASED:
                if not by:
                    continue
                concealed: str | None = "erased"
            elif old == new or (start == 0 and new in (None, [], {})):  # left empty by the first version: no change
                continue
            else:
                concealed = "withheld" if path in _WITHHELD else None
            shown = concealed is None
            found.append(FieldChange(field=path, before=old if shown else None, after=new if shown else None,
                                     concealed=concealed, events=by))  # fmt: skip
        numbers = self.numbers
        return RecordDiff(from_version=numbers[start], to_version=numbers[end], differences=found)


@strawberry.type(description="Đơn vị hành chính: a province, district or commune as it was on one day.")
class AdministrativeUnit(relay.Node):
    node_key: relay.NodeID[str]  # "{unit id}@{day}": the unit and the day it is seen on
    code: str
    name: str
    full_name: str
    level: str
    kind: str
    valid_from: date | None = strawberry.field(description="First day in force (null: before records begin).")
    valid_to: date | None = strawberry.field(description="First day no longer in force (null: still in force).")
    on: date = strawberry.field(description="The day this view of the unit is of.")
    parent_id: strawberry.Private[str | None]

    @classmethod
    def of(cls, unit: UnitView, on: date) -> AdministrativeUnit:
        return cls(node_key=f"{unit.unit_id}@{on.isoformat()}", code=unit.code, name=unit.name,
                   full_name=unit.full_name, level=unit.level.value, kind=unit.kind.value, valid_from=unit.valid_from,
                   valid_to=unit.valid_to, on=on, parent_id=unit.parent_id)  # fmt: skip

    @strawberry.field(description="The unit above, on the same day.")
    async def parent(self, info: Info) -> AdministrativeUnit | None:
        if self.parent_id is None:
            return None
        units = await context(info).units()
        view = units.view(self.parent_id, self.on)
        return None if view is None else AdministrativeUnit.of(view, self.on)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]  # relay.Node declares it with overloads; this is one of them
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[AdministrativeUnit | None]:
        units = await context(info).units()
        return [_unit_node(units, key) for key in node_ids]


async def commune_on(info: Info, commune: str, since: date, on: date) -> AdministrativeUnit | None:
    """The commune a record made under `commune` from `since` lies in, in the structure in force on `on`."""
    units = await context(info).units()
    code = units.place(commune, since).unit(Level.COMMUNE, on)
    view = None if code is None else units.find(code, on)
    return None if view is None else AdministrativeUnit.of(view, on)


def _unit_node(units: Gazetteer, key: str) -> AdministrativeUnit | None:
    unit_id, _, day = key.rpartition("@")
    try:
        on = date.fromisoformat(day)
    except ValueError:
        return None
    view = units.view(unit_id, on)
    return None if view is None else AdministrativeUnit.of(view, on)


@strawberry.type(description="A time in a group of Law on Children Art. 10(1), or in an at-risk category.")
class Spell:
    code: str
    subgroup: str | None
    start: date
    end: date | None = strawberry.field(description="First day no longer in it (null: still in it).")


@strawberry.type(description="Hồ sơ trẻ em: a child's record as the registry holds it now.")
class Child(relay.Node):
    child_id: relay.NodeID[str]
    full_name: str | None = strawberry.field(description="Null when the child's personal data was erased.")
    date_of_birth: date
    sex: str
    groups: list[Spell]
    at_risk: list[Spell]
    died_on: date | None
    merged_into: str | None = strawberry.field(description="The record this one was merged into, if any.")
    version: int
    residence: strawberry.Private[Residence]  # the one in force on `on`
    on: strawberry.Private[date]
    known: strawberry.Private[Horizon | None]
    purpose: strawberry.Private[str | None] = None  # the purpose the record was read with

    @classmethod
    def of(cls, state: ChildState, on: date, known: Horizon | None = None, purpose: str | None = None) -> Child:
        identity = state.personal if isinstance(state.personal, Identity) else None
        return cls(
            child_id=state.child_id, full_name=None if identity is None else identity.full_name,
            date_of_birth=state.details.date_of_birth, sex=state.details.sex.value,
            groups=[Spell(code=s.code, subgroup=s.subgroup, start=s.start, end=s.end) for s in state.groups],
            at_risk=[Spell(code=s.code, subgroup=s.subgroup, start=s.start, end=s.end) for s in state.at_risk],
            died_on=state.died_on, merged_into=state.merged_into, version=state.version,
            residence=state.residence_on(on), on=on, known=known, purpose=purpose,
        )  # fmt: skip

    @strawberry.field(description="The commune the child lives in, in the structure in force on the day asked about.")
    async def commune(self, info: Info) -> AdministrativeUnit | None:
        return await commune_on(info, self.residence.commune_code, self.residence.valid_from, self.on)

    @strawberry.field(name="childId", description="The record's own id (for `child(childId:)` and commands).")
    def record_id(self) -> strawberry.ID:
        return strawberry.ID(self.child_id)

    @strawberry.field(description="The record's events, oldest first (the audit trail).")
    async def history(self, info: Info, first: int = 50, after: str | None = None) -> EventConnection:
        return await history(context(info), f"child:{self.child_id}", first, after, None, self.known)

    @strawberry.field(description=DIFF)
    async def history_diff(
        self, info: Info, from_version: Annotated[int | None, strawberry.argument(description=FROM_VERSION)] = None,
        to_version: Annotated[int | None, strawberry.argument(description=TO_VERSION)] = None,
    ) -> RecordDiff | None:  # fmt: skip
        ctx = context(info)
        may_compare_versions(ctx, self.purpose)
        return (await child_versions(ctx, self)).diff(from_version, to_version)

    @strawberry.field(description=RECORD_ACCESS_LOG)
    async def access_log(
        self, info: Info, first: int = 50, after: str | None = None,
        purpose: Annotated[str | None, strawberry.argument(description=LOG_PURPOSE)] = None,
    ) -> AccessLogConnection | None:  # fmt: skip
        given = self.purpose if purpose is None else purpose
        return await record_access_log(context(info), "child", self.child_id, given, first, after)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]  # relay.Node declares it with overloads; this is one of them
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Child | None]:
        ctx = context(info)
        return [await read_child(ctx, "node", child_id, ctx.purpose) for child_id in node_ids]


@dataclass(frozen=True)
class RecordRead:
    """One read of a child or case record: checked for a purpose and the role first, logged whatever comes of it."""

    ctx: Context
    operation: str
    kind: str  # "child" or "case"
    record_id: str
    purpose: str | None

    async def log(self, outcome: Outcome, reason: str | None = None) -> None:
        access = Access(self.ctx.request_id, self.operation, self.kind, self.record_id[:100], self.purpose, outcome,
                        reason)  # fmt: skip
        await record(self.ctx.registry.pool, self.ctx.principal, [access])

    async def admitted(self) -> bool:
        """Whether the read may go on to the record (a refusal is logged here)."""
        if not self.purpose:
            await self.log(Outcome.DENIED, "no_purpose")
            return False
        if not self.ctx.principal.allows(Action.READ_RECORD):
            await self.log(Outcome.DENIED, "role")
            return False
        if not _plausible_id(self.record_id):
            await self.log(Outcome.NOT_FOUND)
            return False
        return True


async def read_child(
    ctx: Context, operation: str, child_id: str, purpose: str | None, point: AsOf | None = None
) -> Child | None:
    """A child's record if the principal may read it (None otherwise, or if there is none); logged either way.
    With `point`, the record as the registry knew it then, in the jurisdiction of that day."""
    read = RecordRead(ctx, operation, "child", child_id, purpose)
    on, known = (ctx.today(), None) if point is None else (point.day, point.known)
    if not await read.admitted():
        return None
    state = await (await ctx.reader.children()).load(child_id, known=known)
    if state is None:
        await read.log(Outcome.NOT_FOUND)
        return None
    units = await ctx.units()
    residence = state.residence_on(on)
    if not ctx.principal.covers(units.place(residence.commune_code, residence.valid_from)):
        await read.log(Outcome.DENIED, "jurisdiction")
        return None
    await read.log(Outcome.ALLOWED)
    return Child.of(state, on, known, purpose)


async def child_versions(ctx: Context, child: Child) -> Versions:
    """The versions of a child's record the caller was served (the events its horizon includes, up to the version
    read), personal parts opened with the child's key while it exists."""
    stream = f"child:{child.child_id}"
    events = await ctx.reader.store.read_stream(stream)
    erased = any(e.event_type == "ChildDataErased" for e in events)
    events = [e for e in events if e.version <= child.version and (child.known is None or child.known.includes(e))]
    key = None if erased else await (await ctx.reader.children()).keyring.get(child.child_id)
    models = [unseal(e.event_type, e.data, key, stream, CHILD_PARTS) for e in events]
    return Versions.of_child(events, models)


async def _given_purpose(info: Info, kind: str, record_id: str, purpose: str) -> str:
    """The purpose of a read, or a BAD_USER_INPUT error; a read refused for want of one is logged."""
    try:
        return purpose_of(purpose, "purpose")
    except GraphQLError:
        await RecordRead(context(info), kind, kind, str(record_id), None).admitted()
        raise


def _plausible_id(child_id: str) -> bool:
    return 0 < len(child_id) <= 100 and child_id.isprintable()


@strawberry.type(description="A legal time limit of the case's current cycle (registry/deadlines.py).")
class CaseDeadline:
    code: str
    step: str
    due_at: datetime
    met_at: datetime | None
    status: str = strawberry.field(description="pending, due_soon, overdue, met or met_late, at the time asked.")


@strawberry.type(description="Hồ sơ vụ việc: a child-protection case (Decree 56/2017 Arts. 25-30).")
class Case(relay.Node):
    case_id: relay.NodeID[str]
    stage: str
    channel: str
    case_types: list[str]
    received_at: datetime
    risk_level: str | None
    emergency: bool
    officer_id: str | None
    child_ids: list[str] = strawberry.field(description="Read each child with `child` (its own purpose and log).")
    closed_reason: str | None
    cycle: int
    version: int
    deadlines: list[CaseDeadline]
    until: datetime | None = strawberry.field(
        description="Set when the caller's commune handled the case only until a transfer: the case as it stood "
        "then, and nothing later."
    )
    commune_code: strawberry.Private[str]
    since: strawberry.Private[date]
    on: strawberry.Private[date]
    known: strawberry.Private[Horizon | None]
    purpose: strawberry.Private[str | None] = None  # the purpose the case was read with

    @classmethod
    def of(
        cls, state: CaseState, now: datetime, until: datetime | None, known: Horizon | None = None,
        purpose: str | None = None,
    ) -> Case:  # fmt: skip
        place = state.jurisdictions[-1]
        deadlines = [CaseDeadline(code=d.deadline.code, step=d.deadline.step, due_at=d.due_at, met_at=d.met_at,
                                  status=d.status.value) for d in state.deadlines(until or now)]  # fmt: skip
        return cls(
            case_id=state.case_id, stage=state.stage.value, channel=state.channel.value,
            case_types=[t.value for t in state.case_types], received_at=state.received_at,
            risk_level=None if state.risk_level is None else state.risk_level.value, emergency=state.emergency,
            officer_id=state.officer_id, child_ids=list(state.child_ids),
            closed_reason=None if state.closed is None else state.closed.reason.value, cycle=state.cycle,
            version=state.version, deadlines=deadlines, until=until, commune_code=place.commune_code,
            since=place.since.astimezone(VIETNAM).date(), on=(until or now).astimezone(VIETNAM).date(), known=known,
            purpose=purpose,
        )  # fmt: skip

    @strawberry.field(description="The commune responsible, in the structure in force on the day asked about.")
    async def commune(self, info: Info) -> AdministrativeUnit | None:
        return await commune_on(info, self.commune_code, self.since, self.on)

    @strawberry.field(name="caseId", description="The case's own id (for `case(caseId:)`).")
    def record_id(self) -> strawberry.ID:
        return strawberry.ID(self.case_id)

    @strawberry.field(description="The case's events, oldest first; for a former commune, those until the transfer.")
    async def history(self, info: Info, first: int = 50, after: str | None = None) -> EventConnection:
        return await history(context(info), f"case:{self.case_id}", first, after, self.until, self.known)

    @strawberry.field(description=DIFF + " For a former commune, versions until the transfer.")
    async def history_diff(
        self, info: Info, from_version: Annotated[int | None, strawberry.argument(description=FROM_VERSION)] = None,
        to_version: Annotated[int | None, strawberry.argument(description=TO_VERSION)] = None,
    ) -> RecordDiff | None:  # fmt: skip
        ctx = context(info)
        may_compare_versions(ctx, self.purpose)
        return (await case_versions(ctx, self)).diff(from_version, to_version)

    @strawberry.field(description=RECORD_ACCESS_LOG)
    async def access_log(
        self, info: Info, first: int = 50, after: str | None = None,
        purpose: Annotated[str | None, strawberry.argument(description=LOG_PURPOSE)] = None,
    ) -> AccessLogConnection | None:  # fmt: skip
        given = self.purpose if purpose is None else purpose
        return await record_access_log(context(info), "case", self.case_id, given, first, after)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]  # relay.Node declares it with overloads; this is one of them
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Case | None]:
        ctx = context(info)
        return [await read_case(ctx, "node", case_id, ctx.purpose) for case_id in node_ids]


async def read_case(
    ctx: Context, operation: str, case_id: str, purpose: str | None, point: AsOf | None = None
) -> Case | None:
    """A case if the principal may read it, logged either way. A case transferred between communes is visible
    to each side for its own period: the commune it left sees it as it stood until the transfer. With `point`,
    the case as the registry knew it then."""
    read = RecordRead(ctx, operation, "case", case_id, purpose)
    now, known = (datetime.now(UTC), None) if point is None else (point.at, point.known)
    if not await read.admitted():
        return None
    cases = await ctx.reader.cases()
    state = await cases.load(case_id, known=known)
    if state is None:
        await read.log(Outcome.NOT_FOUND)
        return None
    units = await ctx.units()
    periods = state.jurisdictions
    for index in range(len(periods) - 1, -1, -1):
        period = periods[index]
        if ctx.principal.covers(units.place(period.commune_code, period.since.astimezone(VIETNAM).date())):
            if index == len(periods) - 1:
                await read.log(Outcome.ALLOWED)
                return Case.of(state, now, None, known, purpose)
            until = periods[index + 1].since
            before = await cases.load(case_id, before=until, known=known)
            assert before is not None  # the report came before the transfer
            await read.log(Outcome.ALLOWED, "former_jurisdiction")
            return Case.of(before, now, until, known, purpose)
    await read.log(Outcome.DENIED, "jurisdiction")
    return None


async def case_versions(ctx: Context, case: Case) -> Versions:
    """The versions of a case the caller was served: the events its horizon includes, up to the version read (for
    a former commune, those that occurred before the transfer, as its history). The confidential part is left
    sealed: no field compared holds it."""
    stream = f"case:{case.case_id}"
    events = [e for e in await ctx.reader.store.read_stream(stream)
              if (case.known is None or case.known.includes(e))
              and (e.occurred_at < case.until if case.until is not None else e.version <= case.version)]  # fmt: skip
    models = [unseal(e.event_type, e.data, None, stream, CASE_PARTS) for e in events]
    return Versions.of_case(events, models)


@strawberry.type(description="An entry of the access log (auditors only).")
class AccessLogEntry:
    id: strawberry.Private[int]
    at: datetime
    request_id: str
    subject: str
    role: str
    unit: str | None
    operation: str
    record_kind: str
    record_id: str | None
    purpose: str | None
    outcome: str
    reason: str | None


@strawberry.type
class AccessLogEdge:
    cursor: str
    node: AccessLogEntry


@strawberry.type(description="A page of the access log, oldest first; `after` the `endCursor` for the next.")
class AccessLogConnection:
    edges: list[AccessLogEdge]
    page_info: relay.PageInfo


async def access_log_page(
    ctx: Context, operation: str, purpose: str, first: int, after: str | None, *, record_kind: str | None = None,
    record_id: str | None = None, subject: str | None = None,
) -> AccessLogConnection:  # fmt: skip
    """A page of the access log, oldest first, for an auditor; the read is logged first, allowed or refused (a
    refusal is FORBIDDEN)."""
    if not 1 <= first <= MAX_PAGE:
        raise bad_input("first", f"must be between 1 and {MAX_PAGE}")
    try:
        start = int(cursor_value("AccessLog", after) or 0)
    except ValueError as exc:
        raise bad_input("after", "is not a cursor of this list") from exc
    allowed = ctx.principal.allows(Action.READ_ACCESS_LOG)
    outcome, reason = (Outcome.ALLOWED, None) if allowed else (Outcome.DENIED, "role")
    access = Access(ctx.request_id, operation, "access_log", record_id, purpose, outcome, reason)
    await record(ctx.registry.pool, ctx.principal, [access])
    if not allowed:
        raise GraphQLError("only auditors read the access log", extensions={"code": "FORBIDDEN"})
    found = await entries(ctx.registry.pool, record_kind=record_kind, record_id=record_id, subject=subject,
                          after=start, limit=first + 1)  # fmt: skip
    edges = [AccessLogEdge(cursor=cursor_of("AccessLog", str(e.id)),
                           node=AccessLogEntry(**{**asdict(e), "outcome": e.outcome.value}))
             for e in found[:first]]  # fmt: skip
    page = relay.PageInfo(has_next_page=len(found) > first, has_previous_page=start > 0,
                          start_cursor=edges[0].cursor if edges else None,
                          end_cursor=edges[-1].cursor if edges else None)  # fmt: skip
    return AccessLogConnection(edges=edges, page_info=page)


async def record_access_log(
    ctx: Context, kind: str, record_id: str, purpose: str | None, first: int, after: str | None
) -> AccessLogConnection:
    """Who read one record (or was refused it), for an auditor: the access log's entries of the record, the read
    logged under the purpose given, or the one the record was read with."""
    given = purpose_of(purpose, "purpose")
    return await access_log_page(ctx, f"{kind}.accessLog", given, first, after, record_kind=kind,
                                 record_id=record_id)  # fmt: skip


@strawberry.type
class ChildEdge:
    cursor: str
    node: Child


@strawberry.type(description="A page of children, by id; `after` the `endCursor` for the next.")
class ChildConnection:
    edges: list[ChildEdge]
    page_info: relay.PageInfo


NAME_SCAN = 5000  # records a name search reads (and opens) for one page at most: a larger unit is narrowed first


def name_matcher(query: str) -> Callable[[str | None], bool]:
    """Whether a child's name holds `query`: letter for letter when the query has diacritics ('Hòa' is not
    'Hoà' is not 'Hoa'), without them when it has none ('hoa' finds all three); case never matters."""
    words = unicodedata.normalize("NFC", query).lower().split()
    plain = [fold.__wrapped__(w) for w in words]  # not fold's cache: it would keep children's names
    if plain == words:
        return lambda name: name is not None and all(w in fold.__wrapped__(name) for w in plain)
    return lambda name: name is not None and all(w in unicodedata.normalize("NFC", name).lower() for w in words)


async def list_children(
    ctx: Context, unit: str, purpose: str, first: int, after: str | None, group: str | None, on: date | None,
    point: AsOf, name: str | None = None,
) -> ChildConnection:  # fmt: skip
    """The children living in a unit on `on` (default: the day of `point`) as the registry knew it at `point` (the
    child register's read model), a page at a time; every record served is logged, and a unit out of reach (in
    the structure of that day) is refused (and logged)."""
    principal, today = ctx.principal, on or point.day
    if not 1 <= first <= MAX_PAGE:
        raise bad_input("first", f"must be between 1 and {MAX_PAGE}")
    start = cursor_value("ChildCursor", after) or ""
    units = await ctx.units()
    try:
        level = level_of(unit, "unit")
    except RegistryError as exc:
        raise bad_input("unit", "must be 2 (province), 3 (district) or 5 (commune) digits") from exc
    allowed = principal.allows(Action.READ_RECORD) and reaches(principal, units, unit, today)
    if not allowed:
        reason = "role" if not principal.allows(Action.READ_RECORD) else "jurisdiction"
        await record(ctx.registry.pool, principal,
                     [Access(ctx.request_id, "children", "child", None, purpose, Outcome.DENIED, reason)])  # fmt: skip
        raise GraphQLError("this unit is outside your jurisdiction", extensions={"code": "FORBIDDEN"})
    await require_read_models(ctx, "read.children", "read.child_residences", "read.child_groups", "read.child_lives")
    known_at = None if point.known is None else point.at
    register = await ctx.reader.children()
    if name is not None and not name.strip():
        raise bad_input("name", "is empty")
    wanted = None if name is None else name_matcher(name)
    found: list[ChildState] = []
    position, scanned, more = start, 0, True
    # Names are sealed at rest: a search opens the unit's records in order and keeps those that match.
    while more and len(found) <= first and scanned < (NAME_SCAN if wanted else first + 1):
        batch = first + 1 if wanted is None else 200
        ids = await children_page(ctx.reader.pool, level, unit, today, after=position, limit=batch, group=group,
                                  known_at=known_at)  # fmt: skip
        more = len(ids) == batch
        states = await register.load_many(ids, known=point.known)
        for child_id in ids:
            state, position, scanned = states[child_id], child_id, scanned + 1
            identity = None if state is None or not isinstance(state.personal, Identity) else state.personal
            if state is not None and (wanted is None or wanted(None if identity is None else identity.full_name)):
                found.append(state)
            if len(found) > first:
                break
    edges = [ChildEdge(cursor=cursor_of("ChildCursor", s.child_id), node=Child.of(s, today, point.known, purpose))
             for s in found[:first]]  # fmt: skip
    served = [Access(ctx.request_id, "children", "child", e.node.child_id, purpose, Outcome.ALLOWED) for e in edges]
    await record(ctx.registry.pool, principal, served)
    has_next = len(found) > first or (wanted is not None and more and scanned >= NAME_SCAN)
    if len(found) > first or not has_next:
        end = edges[-1].cursor if edges else None
    else:  # a search that stopped reading before it found a page: go on from where it stopped
        end = cursor_of("ChildCursor", position)
    page = relay.PageInfo(has_next_page=has_next, has_previous_page=bool(start),
                          start_cursor=edges[0].cursor if edges else None, end_cursor=end)  # fmt: skip
    return ChildConnection(edges=edges, page_info=page)


@strawberry.type
class CaseEdge:
    cursor: str
    node: Case


@strawberry.type(description="A page of cases, by id; `after` the `endCursor` for the next.")
class CaseConnection:
    edges: list[CaseEdge]
    page_info: relay.PageInfo


_CASE_UNIT = {Level.COMMUNE: "commune_now", Level.DISTRICT: "district_code", Level.PROVINCE: "province_now"}


@dataclass(frozen=True)
class CaseFilter:
    """What a list of cases is narrowed to (each None: any)."""

    stage: str | None = None
    case_type: str | None = None
    risk_level: str | None = None
    overdue: bool | None = None
    received_from: date | None = None
    received_to: date | None = None


async def list_cases(
    ctx: Context, unit: str, purpose: str, first: int, after: str | None, wanted: CaseFilter
) -> CaseConnection:
    """The cases handled in a unit now (the case register's read model; a commune or province of today's map, a
    former district), a page at a time, narrowed by `wanted`; every case served is logged, a refusal too."""
    principal, now = ctx.principal, datetime.now(UTC)
    if not 1 <= first <= MAX_PAGE:
        raise bad_input("first", f"must be between 1 and {MAX_PAGE}")
    for name, value, kind in (("stage", wanted.stage, Stage), ("caseType", wanted.case_type, CaseType),
                              ("riskLevel", wanted.risk_level, RiskLevel)):  # fmt: skip
        if value is not None and value not in {m.value for m in kind}:
            raise bad_input(name, f"must be one of {', '.join(m.value for m in kind)}")
    if wanted.received_from and wanted.received_to and wanted.received_from > wanted.received_to:
        raise bad_input("receivedFrom", "must not be after receivedTo")
    start = cursor_value("CaseCursor", after) or ""
    try:
        level = level_of(unit, "unit")
    except RegistryError as exc:
        raise bad_input("unit", "must be 2 (province), 3 (district) or 5 (commune) digits") from exc
    units = await ctx.units()
    if not (principal.allows(Action.READ_RECORD) and reaches(principal, units, unit, ctx.today())):
        reason = "role" if not principal.allows(Action.READ_RECORD) else "jurisdiction"
        await record(ctx.registry.pool, principal,
                     [Access(ctx.request_id, "cases", "case", None, purpose, Outcome.DENIED, reason)])  # fmt: skip
        raise GraphQLError("this unit is outside your jurisdiction", extensions={"code": "FORBIDDEN"})
    await require_read_models(ctx, "read.cases")
    days = [None if d is None else start_of_day(d + timedelta(days=n)) for d, n in
            ((wanted.received_from, 0), (wanted.received_to, 1))]  # fmt: skip
    cases, position, more = await ctx.reader.cases(), start, True
    found: list[CaseState] = []
    while more and len(found) <= first:  # `overdue` is judged on the folded case: read on until the page is full
        batch = first + 1 if wanted.overdue is None else 100
        ids = [r[0] for r in await ctx.reader.pool.fetch(
            f"SELECT case_id FROM read.cases WHERE {_CASE_UNIT[level]} = $1 AND case_id > $2"
            " AND ($3::text IS NULL OR stage = $3) AND ($4::text IS NULL OR $4 = ANY(case_types))"
            " AND ($5::text IS NULL OR risk_level = $5) AND ($6::timestamptz IS NULL OR received_at >= $6)"
            " AND ($7::timestamptz IS NULL OR received_at < $7) ORDER BY case_id LIMIT $8",
            unit, position, wanted.stage, wanted.case_type, wanted.risk_level, *days, batch)]  # fmt: skip
        more = len(ids) == batch
        for case_id in ids:
            position = case_id
            state = await cases.load(case_id)
            if state is None:
                continue
            late = any(d.status.value == "overdue" for d in state.deadlines(now))
            if wanted.overdue is None or late == wanted.overdue:
                found.append(state)
            if len(found) > first:
                break
    edges = [
        CaseEdge(cursor=cursor_of("CaseCursor", c.case_id), node=Case.of(c, now, None, None, purpose))
        for c in found[:first]
    ]
    served = [Access(ctx.request_id, "cases", "case", e.node.case_id, purpose, Outcome.ALLOWED) for e in edges]
    await record(ctx.registry.pool, principal, served)
    page = relay.PageInfo(has_next_page=len(found) > first, has_previous_page=bool(start),
                          start_cursor=edges[0].cursor if edges else None,
                          end_cursor=edges[-1].cursor if edges else None)  # fmt: skip
    return CaseConnection(edges=edges, page_info=page)


@strawberry.type
class Query(AggregateQuery, FeedQuery, DuplicateQuery, IntegrationQuery):
    @strawberry.field(description="Any object by its global id (null if out of reach or if there is none).")
    async def node(self, info: Info, id: strawberry.ID) -> relay.Node | None:
        try:
            global_id = relay.GlobalID.from_id(id)
        except (GlobalIDValueError, InvalidGlobalIDError) as exc:
            raise bad_input("id", "is not a global id of this API") from exc
        if global_id.type_name not in _NODE_TYPES:
            return None  # no object of that kind: as for one out of reach
        found: relay.Node | None = await global_id.resolve_node(info, required=False)
        return found

    @strawberry.field(description="The principal the bearer token names.")
    def me(self, info: Info) -> PrincipalType:
        p = context(info).principal
        return PrincipalType(subject=p.subject, role=p.role.value, unit=p.unit, expires_at=p.expires_at)

    @strawberry.field(description="An administrative unit by its code, as it was on `on` (default today).")
    async def unit(self, info: Info, code: str, on: date | None = None) -> AdministrativeUnit | None:
        ctx = context(info)
        on = on or ctx.today()
        units = await ctx.units()
        try:
            view = units.find(code, on)
        except RegistryError as exc:
            raise bad_input("code", "must be 2 (province), 3 (district) or 5 (commune) digits") from exc
        return None if view is None else AdministrativeUnit.of(view, on)

    @strawberry.field(description="A child's record by its id; `purpose` says why it is read (logged).")
    async def child(
        self, info: Info, child_id: strawberry.ID, purpose: str,
        as_of: Annotated[str | None, strawberry.argument(description=AS_OF)] = None,
        as_of_time: Annotated[datetime | None, strawberry.argument(description=AS_OF_TIME)] = None,
    ) -> Child | None:  # fmt: skip
        given = await _given_purpose(info, "child", child_id, purpose)
        point = await point_of(info, as_of, as_of_time)
        return await read_child(context(info), "child", str(child_id), given, point)

    @strawberry.field(
        description="The children living in a unit on `on` (default: today, or the day of `asOf`), in the "
        "structure of that day (a commune or province; a district of 2025-06-30 from 2025-07-01), by id; each "
        "record served is logged with `purpose`."
    )
    async def children(
        self, info: Info, unit: str, purpose: str, first: int = 20, after: str | None = None,
        group: str | None = None, on: date | None = None,
        as_of: Annotated[str | None, strawberry.argument(description=AS_OF)] = None,
        as_of_time: Annotated[datetime | None, strawberry.argument(description=AS_OF_TIME)] = None,
        name: Annotated[str | None, strawberry.argument(
            description="Words of the name: without diacritics ('hoa') they match with or without them; with "
            "them ('Hòa'), exactly. At most 5,000 records are searched per page: follow `endCursor`.")] = None,
    ) -> ChildConnection:  # fmt: skip
        given = purpose_of(purpose, "purpose")
        point = await point_of(info, as_of, as_of_time)
        return await list_children(context(info), unit, given, first, after, group, on, point, name)

    @strawberry.field(
        description="The cases handled in a unit now (a commune or province of today's map, or a district of "
        "2025-06-30), by id, narrowed by stage, type, risk, overdue and the day received; each case served is "
        "logged with `purpose`."
    )
    async def cases(
        self, info: Info, unit: str, purpose: str, first: int = 20, after: str | None = None,
        stage: str | None = None, case_type: str | None = None, risk_level: str | None = None,
        overdue: Annotated[bool | None, strawberry.argument(
            description="true: a legal time limit of the current cycle has passed unmet.")] = None,
        received_from: date | None = None, received_to: date | None = None,
    ) -> CaseConnection:  # fmt: skip
        wanted = CaseFilter(stage, case_type, risk_level, overdue, received_from, received_to)
        return await list_cases(context(info), unit, purpose_of(purpose, "purpose"), first, after, wanted)

    @strawberry.field(description="Several objects by their global ids (each null if out of reach or none).")
    async def nodes(self, info: Info, ids: list[strawberry.ID]) -> list[relay.Node | None]:
        if len(ids) > MAX_PAGE:
            raise bad_input("ids", f"at most {MAX_PAGE} at once")
        return [await Query.node(self, info, id) for id in ids]

    @strawberry.field(description="A case by its id; `purpose` says why it is read (logged).")
    async def case(
        self, info: Info, case_id: strawberry.ID, purpose: str,
        as_of: Annotated[str | None, strawberry.argument(description=AS_OF)] = None,
        as_of_time: Annotated[datetime | None, strawberry.argument(description=AS_OF_TIME)] = None,
    ) -> Case | None:  # fmt: skip
        given = await _given_purpose(info, "case", case_id, purpose)
        point = await point_of(info, as_of, as_of_time)
        return await read_case(context(info), "case", str(case_id), given, point)

    @strawberry.field(description="Who read which record, when and why (auditors; this read is logged too).")
    async def access_log(
        self, info: Info, purpose: str, first: int = 50, after: str | None = None, record_kind: str | None = None,
        record_id: str | None = None, subject: str | None = None,
    ) -> AccessLogConnection:  # fmt: skip
        given = purpose_of(purpose, "purpose")
        return await access_log_page(context(info), "accessLog", given, first, after, record_kind=record_kind,
                                     record_id=record_id, subject=subject)  # fmt: skip


WRITTEN = (
    "The cursor of the last event written (as an event's globalCursor; also the response's X-Registry-Written "
    "header): a later read sent with it as X-Registry-After sees this write, on a read replica too."
)


@strawberry.type(description="The record after a command, or why the command was not carried out.")
class ChildPayload:
    child: Child | None
    position: int | None = strawberry.field(description="The global position of the last event written.")
    user_errors: list[UserError]
    global_cursor: str | None = strawberry.field(default=None, description=WRITTEN)


def _metadata(ctx: Context, reason: str | None) -> Metadata:
    p = ctx.principal
    return Metadata(actor_id=p.subject, actor_role=p.role.value, jurisdiction=p.unit, correlation_id=ctx.request_id,
                    reason=reason, source="graphql")  # fmt: skip


def refused(code: str, message: str, field: str | None) -> ChildPayload:
    note_error(code)
    return ChildPayload(child=None, position=None, user_errors=[UserError(code=code, message=message, field=field)])


async def run_child_command(
    ctx: Context, command: ChildCommand, key: str, expected: int | None, reason: str | None
) -> ChildPayload:
    """Carry out a command on a child's record for the caller, within its role and jurisdiction."""
    principal, today = ctx.principal, ctx.today()
    if not principal.allows(Action.WRITE):
        return refused("FORBIDDEN", "your role does not record changes", None)
    register, units = await ctx.registry.children(), await ctx.units()
    if isinstance(command, RegisterChild):
        try:
            place = units.place(command.commune_code, command.residence_from)
        except RegistryError as exc:
            return ChildPayload(child=None, position=None, user_errors=[user_error(exc)])
        if not principal.covers(place):
            return refused("FORBIDDEN", "that commune is outside your jurisdiction", "input.communeCode")
    else:
        # A merge changes two records: the survivor must lie within the caller's jurisdiction as well.
        records = [("input.childId", command.child_id)]
        if isinstance(command, MergeChild):
            records.append(("input.survivorId", command.survivor_id))
        for name, child_id in records:
            state = await register.load(child_id) if _plausible_id(child_id) else None
            residence = None if state is None else state.residence_on(today)
            if residence is None or not principal.covers(units.place(residence.commune_code, residence.valid_from)):
                return refused("NOT_FOUND", "no such record within your jurisdiction", name)
    try:
        result = await register.execute(command, _metadata(ctx, reason),
                                        idempotency_key=f"api:{principal.subject}:{key}",
                                        expected_version=expected)  # fmt: skip
    except RegistryError as exc:
        return ChildPayload(child=None, position=None, user_errors=[user_error(exc)])
    ctx.wrote(result.cursor)
    state = await register.load(result.stream_id.split(":", 1)[1])
    assert state is not None  # it was just written
    return ChildPayload(child=Child.of(state, today), position=result.positions[-1], user_errors=[],
                        global_cursor=result.cursor.token())  # fmt: skip


@strawberry.type(description="The case after a command, or why the command was not carried out.")
class CasePayload:
    case: Case | None
    position: int | None = strawberry.field(description="The global position of the last event written.")
    user_errors: list[UserError]
    global_cursor: str | None = strawberry.field(default=None, description=WRITTEN)


def case_refused(code: str, message: str, field: str | None) -> CasePayload:
    note_error(code)
    return CasePayload(case=None, position=None, user_errors=[UserError(code=code, message=message, field=field)])


def choice(kind: type[StrEnum], value: str, field: str) -> Any:
    """The enum member named by `value`, or an INVALID_CHOICE error naming the input field."""
    try:
        return kind(value)
    except ValueError:
        raise ChoiceError(field, f"must be one of {', '.join(m.value for m in kind)}") from None


class ChoiceError(Exception):
    """An input value the command cannot take, with the code the caller sees and the field it is in."""

    def __init__(self, field: str, message: str, code: str = "INVALID_CHOICE") -> None:
        super().__init__(message)
        self.field = field
        self.code = code


async def run_case_command(
    ctx: Context, command: CaseCommand, key: str, expected: int | None, reason: str | None
) -> CasePayload:
    """Carry out a command on a case for the caller, within its role and jurisdiction (the case's current
    commune; for a report, the commune it is reported to)."""
    principal, now = ctx.principal, datetime.now(UTC)
    if not principal.allows(Action.WRITE):
        return case_refused("FORBIDDEN", "your role does not record changes", None)
    cases, units = await ctx.registry.cases(), await ctx.units()
    if isinstance(command, ReceiveReport):
        day = command.at.astimezone(VIETNAM).date()
        try:
            place = units.place(command.commune_code, day)
        except RegistryError as exc:
            return CasePayload(case=None, position=None, user_errors=[user_error(exc)])
        if not principal.covers(place):
            return case_refused("FORBIDDEN", "that commune is outside your jurisdiction", "input.communeCode")
    else:
        state = await cases.load(command.case_id) if _plausible_id(command.case_id) else None
        here = None if state is None else state.jurisdictions[-1]
        if here is None or not principal.covers(units.place(here.commune_code, here.since.astimezone(VIETNAM).date())):
            return case_refused("NOT_FOUND", "no such case within your jurisdiction", "input.caseId")
    try:
        result = await cases.execute(command, _metadata(ctx, reason), idempotency_key=f"api:{principal.subject}:{key}",
                                     expected_version=expected)  # fmt: skip
    except RegistryError as exc:
        return CasePayload(case=None, position=None, user_errors=[user_error(exc)])
    ctx.wrote(result.cursor)
    state = await cases.load(command.case_id)
    assert state is not None  # it was just written
    return CasePayload(case=Case.of(state, now, None), position=result.positions[-1], user_errors=[],
                       global_cursor=result.cursor.token())  # fmt: skip


# -- the commands as mutations -----------------------------------------------------------------------------------

# What each command is on an officer's paperwork, and where the law asks for it (the commands' own rules cite it).
COMMANDS: dict[type, str] = {
    RegisterChild: "Đăng ký trẻ em: enter a child in the register (Law on Children 2016 Art. 10; Decree 56/2017).",
    CorrectChild: "Đính chính hồ sơ: correct fields of the record (`changes` maps field names to their new values).",
    MoveChild: "Chuyển nơi cư trú: the child moves to another commune from `on`.",
    ClassifyChild: "Xác định trẻ em có hoàn cảnh đặc biệt: the child enters a group of Law on Children Art. 10(1).",
    DeclassifyChild: "Đưa ra khỏi nhóm: the child leaves a group of Art. 10(1) from `on`.",
    FlagAtRisk: "Trẻ em có nguy cơ: the child is at risk of a category (Decree 56/2017 Art. 8).",
    ClearAtRisk: "Hết nguy cơ: the risk of a category is over from `on`.",
    RecordSupport: "Trợ giúp: a support given to the child (Law on Children Arts. 47-50).",
    RecordDisability: "Khuyết tật: the level of disability certified (Law on Persons with Disabilities 2010).",
    RecordSchoolStatus: "Tình trạng đi học: the child's schooling from `on`.",
    RecordDeath: "Trẻ em tử vong: the child died on `on`.",
    MergeChild: "Gộp hồ sơ trùng: this (duplicate) record is merged into `survivorId`; both histories stay.",
    EraseChildData: "Xóa dữ liệu cá nhân: the child's personal data is erased (crypto-shredding) on a legal basis.",
    ReceiveReport: "Tiếp nhận thông tin (Mẫu 01): a report of a child at risk or harmed; a case begins "
    "(Decree 56/2017 Art. 25).",
    AssessRisk: "Đánh giá nguy cơ ban đầu (Mẫu 02): the first assessment of the risk (Decree 56/2017 Art. 26).",
    ApplyEmergencyMeasure: "Biện pháp khẩn cấp: an emergency protection measure applied (Decree 56/2017 Art. 26(3)).",
    EndEmergencyMeasure: "Kết thúc biện pháp khẩn cấp: the emergency measure ends.",
    CompleteDetailedAssessment: "Đánh giá chi tiết (Mẫu 03): the detailed assessment (Decree 56/2017 Art. 27).",
    SubmitPlan: "Kế hoạch hỗ trợ, can thiệp (Mẫu 04): the plan is submitted (Decree 56/2017 Art. 28).",
    ApprovePlan: "Phê duyệt kế hoạch (Mẫu 05): the commune chairman approves the plan (Decree 56/2017 Art. 28).",
    RejectPlan: "Không phê duyệt: the commune chairman sends the plan back, with the reason.",
    DeliverService: "Thực hiện kế hoạch: a service of the plan delivered (Decree 56/2017 Art. 29).",
    ReferCase: "Chuyển tuyến: the case is referred to another service or organisation.",
    ReviewPlan: "Theo dõi, đánh giá (Mẫu 06): a review of the plan and of the harm (Decree 56/2017 Art. 30).",
    RevisePlan: "Điều chỉnh kế hoạch: the plan is to be revised; a new one follows.",
    CloseCase: "Đóng hồ sơ: the case is closed (Decree 56/2017 Art. 30(2)).",
    ReopenCase: "Mở lại hồ sơ: a closed case is reopened; a new cycle of deadlines begins.",
    TransferCase: "Chuyển hồ sơ: the case moves to another commune, each keeping its own period.",
    LinkChild: "Bổ sung trẻ em: another registered child is concerned by the case.",
    AssignOfficer: "Phân công: the officer responsible for the case.",
}
_NEW = {RegisterChild: "child_id", ReceiveReport: "case_id"}  # commands that start a record: the id may be omitted


def _graphql_type(hint: Any, owner: str) -> Any:
    """The GraphQL input type of a command field's Python type: enums as strings (checked as INVALID_CHOICE, naming
    the field), tuples as lists, nested records as inputs of their own, mappings as JSON."""
    args = [a for a in get_args(hint) if a is not type(None)]
    if get_origin(hint) in (Union, UnionType) and len(args) == 1:
        return Optional[_graphql_type(args[0], owner)]  # noqa: UP045 (a runtime type, built here)
    if get_origin(hint) is tuple:
        return list[_graphql_type(args[0], owner)]  # type: ignore[misc]
    if get_origin(hint) is dict:
        return JSON
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        return str
    if isinstance(hint, type) and (is_dataclass(hint) or issubclass(hint, BaseModel)):
        return _input_of(hint, None)
    return hint


def _members(kind: type) -> list[tuple[str, Any, Any]]:
    """(name, type, default) of a command's or a nested record's fields (dataclass or pydantic model)."""
    hints = get_type_hints(kind)
    if is_dataclass(kind):
        return [(f.name, hints[f.name], f.default) for f in fields(kind)]
    model = cast(type[BaseModel], kind)
    return [(n, hints[n], MISSING if f.is_required() else f.default) for n, f in model.model_fields.items()]


_INPUTS: dict[type, type] = {}


def _input_of(kind: type, new_id: str | None) -> type:
    """The strawberry input of a command (with idempotencyKey, and expectedVersion unless it starts a record)."""
    if kind in _INPUTS:
        return _INPUTS[kind]
    annotations: dict[str, Any] = {}
    namespace: dict[str, Any] = {}
    for name, hint, default in _members(kind):
        gql = _graphql_type(hint, kind.__name__)
        if name == new_id:
            annotations[name] = Optional[strawberry.ID]  # noqa: UP045
            namespace[name] = strawberry.field(default=None, description="Default: made from the idempotency key.")
            continue
        if gql is str and name.endswith("_id"):
            gql = strawberry.ID
        choices = get_args(hint)[0] if get_origin(hint) is tuple else hint
        described = (f"One of: {', '.join(m.value for m in choices)}."
                     if isinstance(choices, type) and issubclass(choices, StrEnum) else None)  # fmt: skip
        annotations[name] = gql
        if default is MISSING:
            namespace[name] = strawberry.field(description=described)
        elif isinstance(default, tuple):
            namespace[name] = strawberry.field(default_factory=list, description=described)
        else:
            namespace[name] = strawberry.field(default=default.value if isinstance(default, StrEnum) else default,
                                               description=described)  # fmt: skip
    if kind in COMMANDS:
        annotations["idempotency_key"] = strawberry.ID
        namespace["idempotency_key"] = strawberry.field(
            description="Sending the command again with it changes nothing."
        )
        if new_id is None:
            annotations["expected_version"] = int
            namespace["expected_version"] = strawberry.field(
                description="The record's version the decision was made on (CONCURRENCY_CONFLICT if it has changed)."
            )
        if "reason" not in annotations:
            annotations["reason"] = Optional[str]  # noqa: UP045
            namespace["reason"] = strawberry.field(default=None, description="Why: kept in the event's metadata.")
    made = strawberry.input(type(f"{kind.__name__}Input", (), {"__annotations__": annotations, **namespace}),
                            description=COMMANDS.get(kind))  # fmt: skip
    _INPUTS[kind] = made
    return made


def _value(hint: Any, value: Any, path: str) -> Any:
    """An input value as the command's field takes it (an enum member, a tuple, a nested record)."""
    if value is None:
        return None
    args = [a for a in get_args(hint) if a is not type(None)]
    if get_origin(hint) in (Union, UnionType):
        return _value(args[0], value, path)
    if get_origin(hint) is tuple:
        return tuple(_value(args[0], item, f"{path}.{n}") for n, item in enumerate(value))
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        return choice(hint, value, path)
    if isinstance(hint, type) and (is_dataclass(hint) or issubclass(hint, BaseModel)):
        return hint(**{name: _value(h, getattr(value, name), f"{path}.{camel(name)}")
                       for name, h, _ in _members(hint)})  # fmt: skip
    if get_origin(hint) is dict:
        if not isinstance(value, dict):
            raise ChoiceError(path, "must be an object of field names and values", "NOT_AN_OBJECT")
        return dict(value)
    return str(value) if hint is str else value


def _mutation(kind: type) -> Any:
    new_id = _NEW.get(kind)
    given = _input_of(kind, new_id)
    is_case = kind in get_args(CaseCommand)
    hints = {name: hint for name, hint, _ in _members(kind)}

    async def resolve(info: Info, input: Any) -> ChildPayload | CasePayload:
        ctx = context(info)
        key = str(input.idempotency_key)
        raw = {name: getattr(input, name) for name in hints}
        if new_id is not None and raw[new_id] is None:
            # The id follows from the caller and the idempotency key, so that the command sent again (a lost
            # answer) names the same record and is recognised.
            raw[new_id] = str(uuid.uuid5(_IDS, f"{'case:' if is_case else ''}{ctx.principal.subject}:{key}"))
        try:
            command = kind(**{name: _value(hints[name], v, f"input.{camel(name)}") for name, v in raw.items()})
        except ChoiceError as exc:
            return (case_refused if is_case else refused)(exc.code, f"{exc.field}: {exc}", exc.field)
        if new_id is not None:
            expected = 0 if getattr(input, new_id) else None  # a caller's own id must be new
        else:
            expected = input.expected_version
        reason = getattr(input, "reason", None)
        if is_case:
            return await run_case_command(ctx, command, key, expected, reason)
        return await run_child_command(ctx, command, key, expected, reason)

    resolve.__annotations__ = {"info": Info, "input": given, "return": CasePayload if is_case else ChildPayload}
    return strawberry.mutation(resolver=resolve, description=COMMANDS[kind])


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


Mutation = strawberry.type(
    type(
        "Mutation",
        (IntegrationMutation, DuplicateMutation),
        {_snake(kind.__name__): _mutation(kind) for kind in COMMANDS},
    ),
    description="The commands of the registers, one each; nothing is written on any error.",
)

_NODE_TYPES = {"AdministrativeUnit", "Case", "Child"}


def _mask(error: GraphQLError) -> bool:
    """Mask everything but the errors the API raises on purpose (with a code) and GraphQL's own."""
    original = error.original_error
    if original is None:
        return False  # parse and validation errors: about the query, not the server
    if isinstance(original, GraphQLError) and (original.extensions or {}).get("code"):
        return False
    log.error("unexpected error in %s: %s", error.path, type(original).__name__, exc_info=original)
    return True


class ReportAsOf(SchemaExtension):
    """Echo the point each root read was made at in the response's `extensions` (`asOf`, by field)."""

    def get_results(self) -> dict[str, Any]:
        ctx = self.execution_context.context
        return {"asOf": ctx.as_of} if isinstance(ctx, Context) and ctx.as_of else {}


_RULES = [depth_rule(10, None, None), aliases_rule(10), CostRule, StorableLiterals]


class Schema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        """Log what went wrong without the query's text (strawberry's default logs it, and a query can hold a
        child's name in a literal): the error's code and path, and the request's id in the context."""
        request = getattr(getattr(execution_context, "context", None), "request_id", "-")
        for error in errors:
            code = (error.extensions or {}).get("code") or ("UNEXPECTED" if error.original_error else "INVALID_QUERY")
            note_error(code)
            log.info("request %s: GraphQL error %s at %s", request, code, error.path or "-")


schema = Schema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    types=[AdministrativeUnit, Case, Child],
    config=StrawberryConfig(disable_field_suggestions=True, relay_max_results=100, sort_schema=True),
    extensions=[
        lambda: MaxTokensLimiter(max_token_count=2000),  # before the parser cache: its options are part of the key
        lambda: ParserCache(maxsize=256),
        # The rules are made once, so that a document validated once is found in the cache by the next request
        # (strawberry's QueryDepthLimiter and MaxAliasesLimiter make a new rule class for every request).
        lambda: AddValidationRules(_RULES),
        lambda: ValidationCache(maxsize=256),  # a validated document, with its errors, from one request to the next
        StorableVariables,  # after the cache: it adds to the document's errors
        lambda: MaskErrors(should_mask_error=_mask),
        ReportCost,
        ReportAsOf,
        MeasureOperation,
    ],
)


def sdl() -> str:
    return schema.as_str() + "\n"


__all__ = ["PURPOSE_HEADER", "Context", "Versions", "schema", "sdl"]
