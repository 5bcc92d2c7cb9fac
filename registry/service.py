"""What the application services of sealed aggregates share: load and unseal, seal and append, retry.

The children register and the case register (registry/child_service.py,
registry/case_service.py) each decide with their own aggregate; reading a
stream (opening its personal part with the subject's key), appending at the
expected version (sealing on the way), idempotency keys checked before
deciding, and deciding again when another writer won the race are the same
for both, and live here.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, is_dataclass
from datetime import UTC, date, datetime
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel

from .errors import ConcurrencyError, IdempotencyConflict
from .events import Horizon, Metadata, NewEvent, RecordedEvent
from .law import start_of_day
from .personal import Parts, event_type
from .sealing import Keyring, seal, unseal
from .store import AppendResult, EventStore, StreamAppend

ATTEMPTS = 10  # decisions per command when other writers keep winning the race for the same record
_T = TypeVar("_T")


class Versioned(Protocol):
    @property
    def version(self) -> int: ...


S = TypeVar("S", bound=Versioned)


class SealedStreams(Generic[S]):
    """The streams of one aggregate (`{stream_type}:{id}`), their personal parts sealed with a key per subject."""

    def __init__(
        self,
        store: EventStore,
        keyring: Keyring,
        parts: Parts,
        stream_type: str,
        evolve: Callable[[S | None, BaseModel], S],
        *,
        erasure_event: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.keyring = keyring
        self.clock = clock
        self._parts = parts
        self._type = stream_type
        self._evolve = evolve
        self._erasure = erasure_event

    def stream(self, subject_id: str) -> str:
        return f"{self._type}:{subject_id}"

    async def load(self, subject_id: str, *, before: datetime | None = None, known: Horizon | None = None) -> S | None:
        """The subject's state as stored (None if it has no stream), personal parts opened with its key; with
        `before`, as the world was just before that time (only events that occurred earlier are folded); with
        `known`, as the registry knew it then (only the events recorded by then are folded)."""
        events = await self.store.read_stream(self.stream(subject_id))
        key = await self.keyring.get(subject_id) if any(e.event_type in self._parts.personal for e in events) else None
        return await self._fold(subject_id, events, key, before, known)

    async def load_many(
        self, subject_ids: list[str], *, before: datetime | None = None, known: Horizon | None = None
    ) -> dict[str, S | None]:
        """Several subjects' states, their events and their keys each read in one query (a page of a register);
        `before` and `known` as for `load`."""
        streams = await self.store.read_streams([self.stream(s) for s in subject_ids])
        keys = await self.keyring.get_many(subject_ids)
        return {s: await self._fold(s, streams[self.stream(s)], keys[s], before, known) for s in subject_ids}

    async def _fold(
        self, subject_id: str, events: list[RecordedEvent], key: bytes | None, before: datetime | None,
        known: Horizon | None,
    ) -> S | None:  # fmt: skip
        if known is not None:
            events = [e for e in events if known.includes(e)]
        if before is not None:
            events = [e for e in events if e.occurred_at < before]
        if not events:
            return None
        if self._erasure is not None and any(e.event_type == self._erasure for e in events):
            await self.keyring.destroy(subject_id)  # completes an erasure a crash interrupted
            key = None
        state: S | None = None
        for event in events:
            state = self._evolve(state, unseal(event.event_type, event.data, key, event.stream_id, self._parts))
        return state

    async def recorded(
        self, idempotency_key: str | None, subject_id: str, command: object = None
    ) -> AppendResult | None:
        """The first result of a command repeated under its idempotency key (checked before deciding again); the
        key sent with another command is an IdempotencyConflict."""
        if idempotency_key is None:
            return None
        done = await self.store.recorded(idempotency_key, None if command is None else fingerprint(command))
        if done is not None and done.stream_id != self.stream(subject_id):
            raise IdempotencyConflict(idempotency_key, self.stream(subject_id))
        return done

    async def append(
        self,
        subject_id: str,
        state: S | None,
        events: list[BaseModel],
        metadata: Metadata,
        idempotency_key: str | None,
        command: object = None,
    ) -> AppendResult:
        """Seal and append decided events at the version `state` was read at; the idempotency key stands for
        `command` when given (sealing makes the events of the same command differ from one decision to the next)."""
        stream = self.stream(subject_id)
        key = None
        if any(event_type(e) in self._parts.personal for e in events):
            key = await self.keyring.create(subject_id) if state is None else await self.keyring.get(subject_id)
            assert key is not None  # an erased subject takes no commands (decide refused it)
        now = self.clock()
        new = [
            NewEvent(event_type(e), seal(e, key, stream, self._parts) if key else e, _occurred(e, now)) for e in events
        ]
        version = 0 if state is None else state.version
        request = None if command is None else fingerprint(command)
        return await self.store.append(stream, self._type, version, new, metadata, idempotency_key=idempotency_key,
                                       request_fingerprint=request)  # fmt: skip

    async def seal_many(self, decided: Sequence[Decided[S]]) -> list[StreamAppend]:
        """The decided events of several subjects sealed, ready for one EventStore.append_batch, each at the version
        its state was read at; the keys of new subjects are made, and those of known ones read, in one statement
        each (a key made for an append that never happens is harmless: the next one finds it)."""
        personal = [d for d in decided if any(event_type(e) in self._parts.personal for e in d.events)]
        new = [d.subject_id for d in personal if d.state is None]
        known = [d.subject_id for d in personal if d.state is not None]
        keys: dict[str, bytes | None] = {}
        if new:
            keys.update(await self.keyring.create_many(new))
        if known:
            keys.update(await self.keyring.get_many(known))
        now = self.clock()
        appends = []
        for d in decided:
            stream, key = self.stream(d.subject_id), keys.get(d.subject_id)
            events = [NewEvent(event_type(e), seal(e, key, stream, self._parts) if key else e, _occurred(e, now))
                      for e in d.events]  # fmt: skip
            appends.append(StreamAppend(stream, self._type, 0 if d.state is None else d.state.version, events,
                                        d.metadata))  # fmt: skip
        return appends


@dataclass(frozen=True, slots=True)
class Decided(Generic[S]):
    """The events decided for one subject of a batch, on the state they were decided on."""

    subject_id: str
    state: S | None
    events: list[BaseModel]
    metadata: Metadata


def fingerprint(command: object) -> bytes:
    """What an idempotency key stands for: the command's kind and every field, canonically encoded."""
    fields = asdict(command) if is_dataclass(command) and not isinstance(command, type) else {"value": repr(command)}
    text = json.dumps({"command": type(command).__name__, **fields}, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).digest()


async def decide_again(attempt: Callable[[], Awaitable[_T]], *, retry: bool = True) -> _T:
    """Run a load-decide-append attempt; on ConcurrencyError decide again on the new state (up to ATTEMPTS)."""
    for number in range(ATTEMPTS):
        try:
            return await attempt()
        except ConcurrencyError:
            if not retry or number == ATTEMPTS - 1:
                raise
            # A short random wait, growing with the attempts, so that writers racing for one record spread out.
            await asyncio.sleep(random.uniform(0, 0.005 * (number + 1)))
    raise AssertionError("unreachable")


def _occurred(event: BaseModel, now: datetime) -> datetime:
    """Business time: the event's own time (`at`), or the start of the day a dated fact happened (`on`), or now."""
    values: dict[str, Any] = dict(event)
    moment = values.get("at")
    if isinstance(moment, datetime):
        return moment
    day = values.get("on")
    return start_of_day(day) if isinstance(day, date) else now


__all__ = ["ATTEMPTS", "Decided", "SealedStreams", "decide_again", "fingerprint"]
