"""The change feed (luồng dữ liệu thay đổi) for the national child database: the events of child and case records in
the global order, a page at a time, from the last cursor a follower saw.

A page is read with the store's gap-safe rule (EventStore.read_all: in (transaction_id, position) order, below the
oldest running transaction), so an event whose transaction commits late is never skipped: no follower reads past
it before it commits. The page names the cursor to resume from, which is the last event it *read*: when filters
leave events out, the next page does not read them again. Delivery is at least once: a follower that loses a
page's answer, or stops half-way through one, asks again from the last cursor it kept and gets the same events
again.

Each event says where its record lay just before it and just after it (a move or a transfer lies in both
communes), in both structures of units (Gazetteer.place: the commune the record was made under, its district or
former district, and today's commune and province); a unit filter keeps the events of the records that lay in the
unit then, named in today's structure (a commune or province of the two-tier map, or a district of 2025-06-30).

Personal data: the sealed part of a child's events (name, personal identification number, caregivers' names,
address below the commune) is opened only when the caller may have it, and reads `{"erased": true}` once the
child's data was erased. A case's sealed part (the reporter, the account of what was reported) is never served.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from . import cases, children
from .collector import cycle_collection_paused
from .errors import InvalidInput
from .events import Cursor, RecordedEvent
from .gazetteer import Gazetteer, Placement
from .law import VIETNAM
from .personal import Erased
from .sealing import Keyring, unseal
from .store import EventStore

KINDS = {"child": children.STREAM_TYPE, "case": cases.STREAM_TYPE}
_KIND_OF = {stream_type: kind for kind, stream_type in KINDS.items()}
MAX_PAGE = 1000
_SCAN = 10  # pages' worth of events a filtered page reads at most before it answers (with what it found)


@dataclass(frozen=True, slots=True)
class FeedEvent:
    event: RecordedEvent
    kind: str  # "child" or "case"
    record_id: str
    places: tuple[Placement, ...]  # where the record lay just before the event (if it existed) and just after
    personal: dict[str, Any] | None = None  # the opened personal part (`{"erased": True}`); None: not served


@dataclass(frozen=True, slots=True)
class FeedPage:
    events: list[FeedEvent]
    next: Cursor  # resume after this cursor (the last event read)
    more: bool  # the page stopped at its size: more events can be read at once


Within = Callable[[Placement], bool]


class Feed:
    """Pages of the change feed, read from the store (or a replica's store) and placed with the gazetteer."""

    def __init__(self, store: EventStore, units: Gazetteer, keyring: Keyring | None = None) -> None:
        self.store = store
        self.units = units
        self.keyring = keyring  # the children's keys: only a feed that serves personal data has them

    async def page(
        self, after: Cursor, *, limit: int = 500, kinds: Sequence[str] = tuple(KINDS),
        event_types: Sequence[str] | None = None, within: Within | None = None, personal: bool = False,
    ) -> FeedPage:  # fmt: skip
        """Up to `limit` events after `after` of the record kinds asked, of `event_types` (any: None), of records
        lying `within` (any: None); with `personal`, each child event's personal part opened."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput("limit", "out_of_range", f"must be between 1 and {MAX_PAGE}")
        for index, kind in enumerate(kinds):
            if kind not in KINDS:
                raise InvalidInput(f"kinds.{index}", "unknown_kind", f"must be one of {', '.join(KINDS)}")
        if personal and self.keyring is None:
            raise ValueError("a feed that serves personal data needs the children's keyring")
        types = sorted({KINDS[k] for k in kinds})
        wanted = None if event_types is None else set(event_types)
        with cycle_collection_paused():  # a page makes many short-lived objects and no cycles (registry/collector.py)
            found, cursor, more = await self._read(after, limit, types, wanted, within)
            if personal:
                found = await self._open(found)
        return FeedPage(found, cursor, more)

    async def _read(
        self, after: Cursor, limit: int, types: list[str], wanted: set[str] | None, within: Within | None
    ) -> tuple[list[FeedEvent], Cursor, bool]:
        """The events the filters keep, up to `limit`; the cursor of the last event read; whether more follow."""
        found: list[FeedEvent] = []
        cursor, scanned = after, 0
        while scanned < _SCAN * limit:
            batch = await self.store.read_all(cursor, limit=limit, stream_types=types)
            places = await self._places(batch)
            for event in batch:
                cursor, scanned = event.cursor, scanned + 1
                if wanted is not None and event.event_type not in wanted:
                    continue
                where = places[(event.stream_id, event.version)]
                if within is not None and not any(within(p) for p in where):
                    continue
                found.append(FeedEvent(event, _KIND_OF[event.stream_type], event.stream_id.split(":", 1)[1], where))
                if len(found) == limit:
                    return found, cursor, True
            if len(batch) < limit:
                return found, cursor, False
        return found, cursor, True

    async def _places(self, batch: list[RecordedEvent]) -> dict[tuple[str, int], tuple[Placement, ...]]:
        """Where each event's record lay just before and just after it, from the communes its stream names (plain
        data: a child's residence, a case's commune), read with the stream's earlier events in one query."""
        streams = await self.store.read_streams(sorted({e.stream_id for e in batch}))
        placements = self.units.placements()
        placed: dict[tuple[str, int], tuple[Placement, ...]] = {}
        for stream_id, events in streams.items():
            here: tuple[str, date] | None = None
            for event in events:
                before = here
                here = _commune_after(event, here)
                sides = {s for s in (before, here) if s is not None}
                placed[(stream_id, event.version)] = tuple(placements.place(c, d) for c, d in sorted(sides))
        return placed

    async def _open(self, found: list[FeedEvent]) -> list[FeedEvent]:
        """The personal part of each child event opened with the child's key (`{"erased": True}` without it)."""
        assert self.keyring is not None
        ids = sorted(
            {f.record_id for f in found if f.kind == "child" and f.event.event_type in children.PARTS.personal}
        )
        keys = await self.keyring.get_many(ids) if ids else {}
        opened = []
        for f in found:
            if f.record_id not in keys or f.event.event_type not in children.PARTS.personal:
                opened.append(f)
                continue
            event = unseal(f.event.event_type, f.event.data, keys[f.record_id], f.event.stream_id, children.PARTS)
            part = dict(event)["personal"]
            value = {"erased": True} if isinstance(part, Erased) else part.model_dump(mode="json")
            opened.append(FeedEvent(f.event, f.kind, f.record_id, f.places, value))
        return opened


def _commune_after(event: RecordedEvent, here: tuple[str, date] | None) -> tuple[str, date] | None:
    """The commune (and since when) a record lies in after `event`, from the event's own plain fields."""
    data = event.data
    if event.event_type == "ChildRegistered":
        return str(data["commune_code"]), date.fromisoformat(str(data["residence_from"]))
    if event.event_type == "ChildMoved":
        return str(data["to_commune"]), date.fromisoformat(str(data["on"]))
    if event.event_type in ("ReportReceived", "CaseTransferred"):
        code = data["commune_code"] if event.event_type == "ReportReceived" else data["to_commune"]
        at = event.occurred_at.astimezone(VIETNAM).date()
        return str(code), at
    return here


def public_data(event: RecordedEvent) -> dict[str, Any]:
    """An event's data without its sealed part (what every follower may see)."""
    return {k: v for k, v in event.data.items() if k != "personal"}


__all__ = ["KINDS", "MAX_PAGE", "Feed", "FeedEvent", "FeedPage", "public_data"]
