"""The review of suspected duplicates (rà soát hồ sơ trùng lặp): one stream per pair of child records.

A pair found by the duplicate detection (registry/duplicates.py, projections/duplicates.py) is recorded as
`DuplicateSuspected`, with its score, its reasons and how it was found; an officer then either merges the two
records (the children register's MergeChild: the duplicate points to the survivor, both histories stay) or
dismisses the pair (`DuplicateDismissed`: "not the same child", twins, siblings, namesakes). A pair is resolved
as merged once either record is merged, whoever merged it and why; the review queue (projections/duplicate_queue.py)
follows both the reviews and the children's streams.

The stream id is derived from the pair (`duplicate_review:{pair_id}`, pair_id a uuid5 of the two child ids in
order), so finding the same pair again, in the same run or a later one, names the same stream: it is written
once, and a dismissed pair is never put before an officer again.

Nothing personal is written here: record ids, codes and the score. An officer's reasons are codes too, not free
text, so that no name can slip into the review's events.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .child_service import ChildRegister
from .children import MergeChild
from .duplicates import SCORER_VERSION, KeyKind, Match, Reason, pair_id, pair_of
from .errors import ConcurrencyError, IdempotencyConflict, InvalidInput
from .events import Metadata, NewEvent, RecordedEvent
from .service import ATTEMPTS, decide_again, fingerprint
from .store import AppendResult, EventStore, StreamAppend

STREAM_TYPE = "duplicate_review"
_SCORE = r"^(0\.\d\d|1\.00)$"


def stream_id(pair: str) -> str:
    return f"{STREAM_TYPE}:{pair}"


class InvalidReview(InvalidInput):
    """Raised when a command on a duplicate review breaks a rule; nothing is written."""


class FoundBy(StrEnum):
    BATCH = "batch"  # a run over the register (or a unit of it)
    CHECK = "check"  # one record checked against the register (a registration, an import's row)


class QueueStatus(StrEnum):
    """Where a suspected pair stands in the officers' review queue (projections/duplicate_queue.py)."""

    PENDING = "pending"
    DISMISSED = "dismissed"
    MERGED = "merged"
    ERASED = "erased"


class DismissReason(StrEnum):
    """Why an officer found the two records to be two children."""

    NOT_SAME_CHILD = "not_same_child"  # không phải cùng một trẻ
    TWINS = "twins"  # sinh đôi
    SIBLINGS = "siblings"  # anh chị em ruột
    NAMESAKES = "namesakes"  # trùng tên


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DuplicateSuspected(_Event):
    """Two child records may be one child: the pair (child ids in order), the score and its reasons."""

    child_ids: list[str] = Field(min_length=2, max_length=2)
    score: str = Field(pattern=_SCORE)  # a probability, two decimals: the store takes no floats
    reasons: list[Reason] = Field(min_length=1)
    keys: list[KeyKind] = Field(min_length=1)  # the blocking keys the two records share: how they were found
    found_by: FoundBy
    scorer: int = Field(ge=1)  # the version of the scoring rules (registry/duplicates.py SCORER_VERSION)

    @field_validator("child_ids")
    @classmethod
    def _in_order(cls, ids: list[str]) -> list[str]:
        if not all(0 < len(i) <= 100 for i in ids) or ids[0] >= ids[1]:
            raise ValueError("two different child ids, in order")
        return ids


class DuplicateDismissed(_Event):
    """An officer found the two records to be two children (who: the event's actor)."""

    reason: DismissReason


EVENT_TYPES: dict[str, type[BaseModel]] = {m.__name__: m for m in (DuplicateSuspected, DuplicateDismissed)}


@dataclass(frozen=True, slots=True)
class ReviewState:
    pair_id: str
    child_ids: tuple[str, str]
    score: str
    reasons: tuple[Reason, ...]
    keys: tuple[KeyKind, ...]
    found_by: FoundBy
    dismissed: DismissReason | None = None
    version: int = 1


def evolve(state: ReviewState | None, event: BaseModel, pair: str) -> ReviewState:
    if isinstance(event, DuplicateSuspected):
        first, second = event.child_ids
        return ReviewState(pair, (first, second), event.score, tuple(event.reasons), tuple(event.keys),
                           event.found_by)  # fmt: skip
    if state is None:
        raise ValueError(f"{type(event).__name__} before DuplicateSuspected")
    state = replace(state, version=state.version + 1)
    if isinstance(event, DuplicateDismissed):
        return replace(state, dismissed=event.reason)
    raise TypeError(f"not a duplicate review event: {type(event).__name__}")


# -- commands ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SuspectDuplicate:
    """Record a pair found by the detection (nothing is written if the pair was found before)."""

    child_a: str
    child_b: str
    match: Match
    keys: tuple[KeyKind, ...]
    found_by: FoundBy = FoundBy.BATCH

    @property
    def pair_id(self) -> str:
        return pair_id(self.child_a, self.child_b)


@dataclass(frozen=True, slots=True)
class DismissDuplicate:
    pair_id: str
    reason: DismissReason


@dataclass(frozen=True, slots=True)
class Records:
    """What a review needs to know of its two records (from their own streams)."""

    merged: bool = False  # either was merged into a record (the pair is resolved)
    erased: bool = False  # either record's personal data was erased (it takes no more commands)


def decide(
    state: ReviewState | None, command: SuspectDuplicate | DismissDuplicate, records: Records
) -> list[BaseModel]:
    """The events of a command on a review, or a typed error naming the field; pure."""
    if isinstance(command, SuspectDuplicate):
        if state is not None:
            return []  # found again: already suspected, dismissed or merged
        try:
            first, second = pair_of(command.child_a, command.child_b)
        except ValueError:
            raise InvalidReview("child_b", "same_record", "a record is not a duplicate of itself") from None
        if not command.keys:
            raise InvalidReview("keys", "missing", "names no blocking key the two records share")
        if not command.match.reasons:
            raise InvalidReview("match", "no_reasons", "a suspicion needs its reasons")
        return [DuplicateSuspected(child_ids=[first, second], score=command.match.text,
                                   reasons=list(command.match.reasons), keys=sorted(set(command.keys)),
                                   found_by=command.found_by, scorer=SCORER_VERSION)]  # fmt: skip
    if state is None:
        raise InvalidReview("pair_id", "unknown_pair", "no suspected duplicate has this id")
    if records.merged:
        raise InvalidReview("pair_id", "already_merged", "a record of the pair was merged: the pair is resolved")
    if records.erased:
        raise InvalidReview("pair_id", "record_erased", "a record of the pair was erased: there is nothing to review")
    if state.dismissed is not None:
        raise InvalidReview("pair_id", "already_dismissed", "the pair was dismissed already")
    return [DuplicateDismissed(reason=command.reason)]


# -- the application layer -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Suspected:
    """What came of recording a batch of suspicions."""

    written: list[str] = field(default_factory=list)  # the pair ids recorded now
    known: list[str] = field(default_factory=list)  # found before (pending, dismissed or merged): nothing written


class DuplicateReviews:
    """The review streams: record suspicions, dismiss a pair, merge its records through the children register."""

    def __init__(self, store: EventStore) -> None:
        self.store = store

    async def load(self, pair: str) -> ReviewState | None:
        return _fold(pair, await self.store.read_stream(stream_id(pair)))

    async def load_many(self, pairs: Sequence[str]) -> dict[str, ReviewState | None]:
        """Several reviews, their events read in one query (None: not suspected)."""
        streams = await self.store.read_streams([stream_id(p) for p in pairs])
        return {p: _fold(p, streams[stream_id(p)]) for p in pairs}

    async def suspect(self, commands: Sequence[SuspectDuplicate], metadata: Metadata) -> Suspected:
        """Record the pairs not found before, all in one transaction; those found before are left as they are.

        Two runs finding the same new pair at once both try to start its stream: one wins, and the other reads
        the streams again and writes the rest.
        """
        by_pair: dict[str, SuspectDuplicate] = {}
        for command in commands:
            by_pair.setdefault(command.pair_id, command)
        now = datetime.now(UTC)
        for number in range(ATTEMPTS):
            states = await self.load_many(list(by_pair))
            known = [p for p, s in states.items() if s is not None]
            appends = []
            for pair, command in by_pair.items():
                events = decide(states[pair], command, Records())
                if events:
                    new = [NewEvent(type(e).__name__, e, now) for e in events]
                    appends.append(StreamAppend(stream_id(pair), STREAM_TYPE, 0, new, metadata))
            try:
                await self.store.append_batch(appends)
            except ConcurrencyError:
                if number == ATTEMPTS - 1:
                    raise
                await asyncio.sleep(random.uniform(0, 0.005 * (number + 1)))
                continue
            return Suspected([a.stream_id.split(":", 1)[1] for a in appends], known)
        raise AssertionError("unreachable")

    async def dismiss(
        self, pair: str, reason: DismissReason, metadata: Metadata, *, idempotency_key: str | None = None,
        expected_version: int | None = None,
    ) -> AppendResult:  # fmt: skip
        """Dismiss a pending pair: the two records are two children. A pair whose record was merged or erased, or
        that was dismissed already, is refused (InvalidReview naming `pair_id`)."""
        command = DismissDuplicate(pair, reason)
        if idempotency_key is not None:
            done = await self.store.recorded(idempotency_key, fingerprint(command))
            if done is not None:
                if done.stream_id != stream_id(pair):
                    raise IdempotencyConflict(idempotency_key, stream_id(pair))
                return done

        async def attempt() -> AppendResult:
            state = await self.load(pair)
            current = 0 if state is None else state.version
            if expected_version is not None and current != expected_version:
                raise ConcurrencyError(stream_id(pair), expected_version, current)
            records = Records() if state is None else await self.records(state.child_ids)
            events = decide(state, command, records)
            new = [NewEvent(type(e).__name__, e, datetime.now(UTC)) for e in events]
            return await self.store.append(stream_id(pair), STREAM_TYPE, current, new, metadata,
                                           idempotency_key=idempotency_key,
                                           request_fingerprint=fingerprint(command))  # fmt: skip

        return await decide_again(attempt, retry=expected_version is None)

    async def merge(
        self, pair: str, survivor_id: str, children: ChildRegister, metadata: Metadata, *,
        idempotency_key: str | None = None,
    ) -> AppendResult:  # fmt: skip
        """Merge the pair's other record into `survivor_id` (MergeChild, decided by the Child aggregate: both
        histories stay); the review is resolved by the merge itself (the queue follows the children's streams)."""
        state = await self.load(pair)
        if state is None:
            raise InvalidReview("pair_id", "unknown_pair", "no suspected duplicate has this id")
        if survivor_id not in state.child_ids:
            raise InvalidReview("survivor_id", "not_in_pair", "is not one of the pair's two records")
        duplicate = state.child_ids[1] if survivor_id == state.child_ids[0] else state.child_ids[0]
        return await children.execute(MergeChild(duplicate, survivor_id, f"duplicate review {pair}"), metadata,
                                      idempotency_key=idempotency_key)  # fmt: skip

    async def records(self, child_ids: Sequence[str]) -> Records:
        """Whether either record was merged or erased, from the event types of their streams (nothing is opened)."""
        streams = await self.store.read_streams([f"child:{c}" for c in child_ids])
        kinds = {e.event_type for events in streams.values() for e in events}
        return Records(merged="ChildMergedInto" in kinds, erased="ChildDataErased" in kinds)


def _fold(pair: str, events: list[RecordedEvent]) -> ReviewState | None:
    state: ReviewState | None = None
    for event in events:
        state = evolve(state, EVENT_TYPES[event.event_type].model_validate(event.data), pair)
    return state


__all__ = [
    "EVENT_TYPES",
    "STREAM_TYPE",
    "DismissDuplicate",
    "DismissReason",
    "DuplicateDismissed",
    "DuplicateReviews",
    "DuplicateSuspected",
    "FoundBy",
    "InvalidReview",
    "Records",
    "ReviewState",
    "SuspectDuplicate",
    "Suspected",
    "decide",
    "evolve",
    "stream_id",
]
