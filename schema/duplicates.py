"""The officers' review queue of suspected duplicate child records (hồ sơ trùng lặp) in the API.

`duplicates(unit:, status:)` lists the suspected pairs with a record in a unit within the caller's reach, highest
score first (projections/duplicate_queue.py: ids, codes and scores only, never a name); `dismissDuplicate` says
the two records are two children (registry/duplicate_review.py); a merge is `mergeChild` (the Child aggregate's
command: both histories stay), after which the queue shows the pair as merged. Every pair served is written to
the access log with the purpose given.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Annotated

import strawberry
from graphql import GraphQLError
from strawberry import relay
from strawberry.types import Info

from projections.duplicate_queue import QueuedPair, queue, queued_pair
from registry.access import Action, reaches
from registry.access_log import Access, Outcome, record
from registry.duplicate_review import DismissReason, DuplicateReviews, QueueStatus
from registry.errors import InvalidInput, RegistryError
from registry.events import Metadata
from registry.units import level_of

from .context import UserError, bad_input, context, purpose_of, require_read_models, user_error
from .cost import MAX_PAGE


@strawberry.type(description="A pair of child records that may be one child, as the review queue shows it.")
class DuplicatePair:
    pair_id: strawberry.ID
    child_ids: list[strawberry.ID] = strawberry.field(description="Read each with `child` (its own purpose).")
    score: str = strawberry.field(description="How likely the two are one child, 0-1.")
    reasons: list[str] = strawberry.field(description="e.g. same_personal_id, same_name, same_birth_date, "
                                          "different_sex (the signals against are listed too).")  # fmt: skip
    status: str = strawberry.field(description="pending, dismissed, merged or erased.")
    found_by: str
    found_at: datetime
    resolved_at: datetime | None
    dismissed_reason: str | None
    merged_into: strawberry.ID | None
    communes_now: list[str] = strawberry.field(description="Where each record lies today (its commune's code).")
    version: int = strawberry.field(description="The pair's review version (for `dismissDuplicate`).")

    @classmethod
    def of(cls, pair: QueuedPair) -> DuplicatePair:
        return cls(pair_id=strawberry.ID(pair.pair_id), child_ids=[strawberry.ID(c) for c in pair.child_ids],
                   score=str(pair.score), reasons=list(pair.reasons), status=pair.status.value,
                   found_by=pair.found_by, found_at=pair.found_at, resolved_at=pair.resolved_at,
                   dismissed_reason=pair.dismissed_reason,
                   merged_into=None if pair.merged_into is None else strawberry.ID(pair.merged_into),
                   communes_now=[p.commune_now for p in pair.places], version=pair.version)  # fmt: skip


@strawberry.type
class DuplicatePairEdge:
    cursor: str
    node: DuplicatePair


@strawberry.type(description="A page of the review queue, highest score first.")
class DuplicatePairConnection:
    edges: list[DuplicatePairEdge]
    page_info: relay.PageInfo


@strawberry.type
class DuplicateQuery:
    @strawberry.field(
        description="The review queue of suspected duplicate child records with a record in a unit of your reach "
        "(a commune or province of today's map, or a district of 2025-06-30), highest score first; each pair "
        "served is logged with `purpose`."
    )
    async def duplicates(
        self, info: Info, unit: str, purpose: str, status: Annotated[str, strawberry.argument(
            description="pending (default), dismissed, merged, erased or any.")] = "pending",
        first: int = 20, after: str | None = None,
    ) -> DuplicatePairConnection:  # fmt: skip
        ctx = context(info)
        given = purpose_of(purpose, "purpose")
        if not 1 <= first <= MAX_PAGE:
            raise bad_input("first", f"must be between 1 and {MAX_PAGE}")
        if status != "any" and status not in {s.value for s in QueueStatus}:
            raise bad_input("status", f"must be one of {', '.join(s.value for s in QueueStatus)} or any")
        try:
            level_of(unit, "unit")
        except RegistryError as exc:
            raise bad_input("unit", "must be 2 (province), 3 (district) or 5 (commune) digits") from exc
        principal, units = ctx.principal, await ctx.units()
        if not (principal.allows(Action.READ_RECORD) and reaches(principal, units, unit, ctx.today())):
            await record(ctx.registry.pool, principal, [Access(ctx.request_id, "duplicates", "child", None, given,
                                                               Outcome.DENIED, "jurisdiction")])  # fmt: skip
            raise GraphQLError("this unit is outside your jurisdiction", extensions={"code": "FORBIDDEN"})
        await require_read_models(ctx, "read.duplicate_pairs")
        try:
            found = await queue(ctx.reader.pool, unit, status=None if status == "any" else QueueStatus(status),
                                after=after, limit=first + 1)  # fmt: skip
        except InvalidInput as exc:
            raise bad_input(exc.field, exc.message) from exc
        page = found[:first]
        # A pair shows which records may be one child: the reading of each is logged, as a record's is.
        served = [Access(ctx.request_id, "duplicates", "child", child, given, Outcome.ALLOWED)
                  for p in page for child in p.child_ids]  # fmt: skip
        await record(ctx.registry.pool, principal, served)
        edges = [DuplicatePairEdge(cursor=p.cursor, node=DuplicatePair.of(p)) for p in page]
        info_ = relay.PageInfo(has_next_page=len(found) > first, has_previous_page=after is not None,
                               start_cursor=edges[0].cursor if edges else None,
                               end_cursor=edges[-1].cursor if edges else None)  # fmt: skip
        return DuplicatePairConnection(edges=edges, page_info=info_)


@strawberry.input(description="Không trùng: the two records of a suspected pair are two children.")
class DismissDuplicateInput:
    pair_id: strawberry.ID
    reason: str = strawberry.field(description=f"One of: {', '.join(r.value for r in DismissReason)}.")
    expected_version: int = strawberry.field(description="The pair's version the decision was made on.")
    idempotency_key: strawberry.ID = strawberry.field(description="Sending it again changes nothing.")


@strawberry.type(description="The pair after the decision, or why it was not taken; nothing was written then.")
class DuplicatePayload:
    pair: DuplicatePair | None
    user_errors: list[UserError]


def _refused(code: str, message: str, field: str | None) -> DuplicatePayload:
    return DuplicatePayload(pair=None, user_errors=[UserError(code=code, message=message, field=field)])


@strawberry.type
class DuplicateMutation:
    @strawberry.mutation(description="Không trùng: dismiss a suspected pair (the two records are two children); a "
                         "pair that is one child is merged with `mergeChild` instead.")  # fmt: skip
    async def dismiss_duplicate(self, info: Info, input: DismissDuplicateInput) -> DuplicatePayload:
        ctx = context(info)
        principal = ctx.principal
        if not principal.allows(Action.WRITE):
            return _refused("FORBIDDEN", "your role does not record changes", None)
        try:
            reason = DismissReason(input.reason)
        except ValueError:
            return _refused("INVALID_CHOICE", f"must be one of {', '.join(r.value for r in DismissReason)}",
                            "input.reason")  # fmt: skip
        pair = await queued_pair(ctx.registry.pool, str(input.pair_id)) if len(str(input.pair_id)) <= 100 else None
        # At least one of the pair's records must lie within the caller's jurisdiction (as the queue shows them).
        if pair is None or not any(principal.covers(place) for place in pair.places):
            return _refused("NOT_FOUND", "no such pair within your jurisdiction", "input.pairId")
        metadata = Metadata(actor_id=principal.subject, actor_role=principal.role.value, jurisdiction=principal.unit,
                            correlation_id=ctx.request_id, source="graphql")  # fmt: skip
        try:
            await DuplicateReviews(ctx.registry.store).dismiss(
                pair.pair_id, reason, metadata, idempotency_key=f"api:{principal.subject}:{input.idempotency_key}",
                expected_version=input.expected_version)  # fmt: skip
        except RegistryError as exc:
            return DuplicatePayload(pair=None, user_errors=[user_error(exc)])
        dismissed = replace(pair, status=QueueStatus.DISMISSED, dismissed_reason=reason.value, version=pair.version + 1)
        return DuplicatePayload(pair=DuplicatePair.of(dismissed), user_errors=[])


__all__ = ["DuplicateMutation", "DuplicateQuery"]
