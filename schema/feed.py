"""The change feed over HTTP (`GET /feed`) and GraphQL (`changes`): the national child database follows every change.

Both read the same pages (registry/feed.py: the global order, gap-safe, resumable from the last cursor a follower
kept, at least once) with the same rules:

- the bearer token's role must follow changes (FEED: the integration client; READ_HISTORY: officers and
  auditors); a role with a unit sees the records of its jurisdiction only, and a `unit` filter must lie within it;
- the children's personal data is served only to roles that receive it (RECEIVE_PERSONAL: the national child
  database, which links records by personal identification number, Project 06); a case's sealed part never;
- every record an answer serves is written to the access log with the `purpose` given, one statement per page,
  before the answer leaves.

`GET /feed?purpose=...&after=<cursor>&limit=500&kinds=child,case&unit=12&eventTypes=ChildMoved` answers
`{"events": [...], "next": "<cursor>", "hasMore": true}`; `next` is the cursor to give as `after` for the next page
(it can be past the last event returned when filters left events out), `hasMore` whether the next page can be read
at once (false: the follower is at the head; wait, or poll).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, cast

import strawberry
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import JSONResponse
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from registry.access import Action, Principal, reaches
from registry.access_log import Access, Outcome, record
from registry.access_log import purpose_of as logged_purpose
from registry.errors import InvalidInput, RegistryError
from registry.events import START, Cursor
from registry.feed import KINDS, MAX_PAGE, Feed, FeedEvent, FeedPage, public_data
from registry.gazetteer import Placement
from registry.law import VIETNAM
from registry.runtime import Registry
from registry.units import level_of

from .context import context, purpose_of


class FeedRefused(Exception):
    """A feed request the caller may not make (403) or made wrongly (400), with the code and the field."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.field = field


async def read_feed(
    registry: Registry, principal: Principal, request_id: str, *, purpose: str, after: str | None, limit: int,
    kinds: Sequence[str] | None, event_types: Sequence[str] | None, unit: str | None, operation: str,
) -> FeedPage:  # fmt: skip
    """A page of the feed for `principal`, its records logged; FeedRefused for a request it may not make."""
    if not (principal.allows(Action.FEED) or principal.allows(Action.READ_HISTORY)):
        raise FeedRefused(403, "FORBIDDEN", "your role does not follow changes")
    try:
        purpose = logged_purpose(purpose)
    except InvalidInput as exc:
        raise FeedRefused(400, "BAD_USER_INPUT", str(exc), "purpose") from None
    try:
        cursor = START if not after else Cursor.from_token(after, "after")
    except RegistryError:
        raise FeedRefused(400, "BAD_USER_INPUT", "after: is not a cursor of this feed", "after") from None
    units = await registry.gazetteer(max_age=1.0)
    today = datetime.now(VIETNAM).date()
    if unit is not None:
        try:
            level_of(unit, "unit")
        except RegistryError:
            raise FeedRefused(400, "BAD_USER_INPUT", "unit: must be 2, 3 or 5 digits", "unit") from None
        if not reaches(principal, units, unit, today):
            raise FeedRefused(403, "FORBIDDEN", "this unit is outside your jurisdiction", "unit")

    def within(place: Placement) -> bool:
        if not principal.covers(place):
            return False
        return unit is None or unit in (place.commune_now, place.district, place.province_now)

    personal = principal.allows(Action.RECEIVE_PERSONAL)
    reader = registry.reader  # the feed reads a replica when there is one (registry/replica.py)
    feed = Feed(reader.store, units, (await reader.children()).keyring if personal else None)
    try:
        page = await feed.page(cursor, limit=limit, kinds=tuple(kinds or KINDS), event_types=event_types,
                               within=within, personal=personal)  # fmt: skip
    except InvalidInput as exc:
        raise FeedRefused(400, "BAD_USER_INPUT", str(exc), exc.field) from None
    served = dict.fromkeys((f.kind, f.record_id) for f in page.events)
    await record(registry.pool, principal, [Access(request_id, operation, kind, record_id[:100], purpose,
                                                   Outcome.ALLOWED) for kind, record_id in served])  # fmt: skip
    return page


def _places(event: FeedEvent) -> list[dict[str, str | None]]:
    return [{"commune": p.commune, "district": p.district, "province": p.province, "communeNow": p.commune_now,
             "provinceNow": p.province_now} for p in event.places]  # fmt: skip


def as_json(event: FeedEvent) -> dict[str, Any]:
    """A feed event as the HTTP feed answers it (the GraphQL `ChangeEvent` has the same fields)."""
    e, meta = event.event, event.event.metadata
    return {
        "cursor": e.cursor.token(), "position": e.position, "recordKind": event.kind, "recordId": event.record_id,
        "version": e.version, "eventType": e.event_type, "schemaVersion": e.schema_version,
        "occurredAt": e.occurred_at.isoformat(), "recordedAt": e.recorded_at.isoformat(),
        "actorId": meta.get("actor_id"), "actorRole": meta.get("actor_role"), "reason": meta.get("reason"),
        "source": meta.get("source"), "correlationId": meta.get("correlation_id"), "data": public_data(e),
        "personal": event.personal, "places": _places(event),
    }  # fmt: skip


async def feed_endpoint(request: Request) -> JSONResponse:
    """GET /feed: a page of the change feed (schema/app.py has authenticated the bearer token)."""
    principal: Principal = request.scope["state"]["principal"]
    query = request.query_params
    try:
        limit = int(query.get("limit", "500"))
    except ValueError:
        return _refusal(FeedRefused(400, "BAD_USER_INPUT", "limit: must be a whole number", "limit"))

    def listed(name: str) -> list[str] | None:
        value = query.get(name)
        return None if not value else [v.strip() for v in value.split(",") if v.strip()]

    request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
    try:
        page = await read_feed(request.app.state.registry, principal, request_id,
                               purpose=query.get("purpose", ""), after=query.get("after"), limit=limit,
                               kinds=listed("kinds"), event_types=listed("eventTypes"), unit=query.get("unit"),
                               operation="feed")  # fmt: skip
    except FeedRefused as refused:
        return _refusal(refused)
    return JSONResponse({"events": [as_json(e) for e in page.events], "next": page.next.token(),
                         "hasMore": page.more})  # fmt: skip


def _refusal(refused: FeedRefused) -> JSONResponse:
    extensions = {"code": refused.code, **({"field": refused.field} if refused.field else {})}
    return JSONResponse({"errors": [{"message": str(refused), "extensions": extensions}]}, status_code=refused.status)


@strawberry.type(description="Where a record lay, in both structures of units (before the reform and today's).")
class Place:
    commune: str = strawberry.field(description="The commune it was recorded under.")
    district: str | None = strawberry.field(description="Its district, or former district (2025-06-30).")
    province: str
    commune_now: str
    province_now: str


@strawberry.type(description="An event of the change feed: a child's or a case's record changed.")
class ChangeEvent:
    global_cursor: str
    position: int
    record_kind: str
    record_id: str
    version: int
    event_type: str
    schema_version: int
    occurred_at: datetime
    recorded_at: datetime
    actor_id: str | None
    actor_role: str | None
    reason: str | None
    source: str | None
    correlation_id: str | None
    data: JSON = strawberry.field(description="The event's fields without its sealed part.")
    personal: JSON | None = strawberry.field(
        description="A child's personal part (name, personal id, caregivers' names, address), for roles that receive "
        'personal data; {"erased": true} once erased; null otherwise.'
    )
    places: list[Place] = strawberry.field(description="Where the record lay just before the event and just after.")


@strawberry.type
class ChangeEdge:
    cursor: str
    node: ChangeEvent


@strawberry.type(description="A page of the change feed: `pageInfo.endCursor` is where to go on from, even when "
                 "filters left every event of the page out.")  # fmt: skip
class ChangeConnection:
    edges: list[ChangeEdge]
    page_info: relay.PageInfo


def _argument(field: str | None) -> str | None:
    """The GraphQL argument a feed parameter is (`kinds.0` is `recordKinds.0`)."""
    return "recordKinds" + field[len("kinds") :] if field is not None and field.startswith("kinds") else field


def _change(event: FeedEvent) -> ChangeEvent:
    e = event.event
    meta = {key: None if value is None else str(value) for key, value in e.metadata.items()}
    return ChangeEvent(
        global_cursor=e.cursor.token(), position=e.position, record_kind=event.kind, record_id=event.record_id,
        version=e.version, event_type=e.event_type, schema_version=e.schema_version, occurred_at=e.occurred_at,
        recorded_at=e.recorded_at, actor_id=meta.get("actor_id"), actor_role=meta.get("actor_role"),
        reason=meta.get("reason"), source=meta.get("source"), correlation_id=meta.get("correlation_id"),
        data=cast(JSON, public_data(e)), personal=cast(JSON, event.personal),
        places=[Place(commune=p.commune, district=p.district, province=p.province, commune_now=p.commune_now,
                      province_now=p.province_now) for p in event.places],
    )  # fmt: skip


@strawberry.type
class FeedQuery:
    @strawberry.field(
        description="The change feed: events of child and case records in the global order after `after` (the "
        "`endCursor` of the last page kept; from the start without it), of your jurisdiction, narrowed to a unit, "
        "record kinds and event types; each record served is logged with `purpose`. The same as GET /feed."
    )
    async def changes(
        self, info: Info, purpose: str, after: str | None = None, first: int = 100, unit: str | None = None,
        record_kinds: Annotated[list[str] | None, strawberry.argument(description="child and/or case.")] = None,
        event_types: list[str] | None = None,
    ) -> ChangeConnection:  # fmt: skip
        ctx = context(info)
        given = purpose_of(purpose, "purpose")
        if not 1 <= first <= 100:
            raise GraphQLError("first: must be between 1 and 100", extensions={"code": "BAD_USER_INPUT",
                               "field": "first"})  # fmt: skip
        try:
            page = await read_feed(ctx.registry, ctx.principal, ctx.request_id, purpose=given, after=after,
                                   limit=first, kinds=record_kinds, event_types=event_types, unit=unit,
                                   operation="changes")  # fmt: skip
        except FeedRefused as refused:
            field = _argument(refused.field)
            extensions = {"code": refused.code, **({"field": field} if field else {})}
            raise GraphQLError(str(refused), extensions=extensions) from None
        edges = [ChangeEdge(cursor=e.event.cursor.token(), node=_change(e)) for e in page.events]
        return ChangeConnection(edges=edges, page_info=relay.PageInfo(
            has_next_page=page.more, has_previous_page=after is not None,
            start_cursor=edges[0].cursor if edges else None, end_cursor=page.next.token()))  # fmt: skip


__all__ = ["MAX_PAGE", "FeedQuery", "as_json", "feed_endpoint", "read_feed"]
