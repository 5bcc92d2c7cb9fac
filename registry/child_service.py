"""The children register's application layer: load a child's stream, decide, seal, append.

A command is decided against the record as the store holds it now. If
another writer appended to the same record in between, the append fails with
ConcurrencyError and the command is decided again on the new state (safe for
every child command: decide re-checks every rule); a registration is not
retried (the record exists). An idempotency key from the caller makes a
repeated command return its first result without being decided again.

A merge appends to two streams: the duplicate first (it points to the
survivor), then the survivor (ChildMergeAbsorbed). An erasure appends
ChildDataErased, then destroys the child's key; a record whose erasure is
recorded reads as erased even if the key outlived a crash in between, and
the next load destroys it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel

from .children import (
    PARTS,
    PERSONAL_EVENTS,
    STREAM_TYPE,
    ChildCommand,
    ChildState,
    Context,
    EraseChildData,
    MergeChild,
    RegisterChild,
    absorb,
    decide,
    event_type,
    evolve,
    stream_id,
)
from .errors import ConcurrencyError, IdempotencyConflict
from .events import Metadata, NewEvent
from .gazetteer import Gazetteer
from .law import VIETNAM, start_of_day
from .sealing import Keyring, seal, unseal
from .store import AppendResult, EventStore

ATTEMPTS = 10  # decisions per command when other writers keep winning the race for the same record


class ChildRegister:
    """Sổ theo dõi trẻ em: commands on child records, through the Child aggregate."""

    def __init__(
        self,
        store: EventStore,
        keyring: Keyring,
        units: Gazetteer,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._keyring = keyring
        self._units = units
        self._clock = clock

    async def load(self, child_id: str) -> ChildState | None:
        """The record as the store holds it (None if there is none); personal data opened with the child's key."""
        events = await self._store.read_stream(stream_id(child_id))
        if not events:
            return None
        erased = any(e.event_type == "ChildDataErased" for e in events)
        if erased:
            await self._keyring.destroy(child_id)  # completes an erasure a crash interrupted
        key = None if erased else await self._keyring.get(child_id)
        state: ChildState | None = None
        for event in events:
            state = evolve(state, unseal(event.event_type, event.data, key, event.stream_id, PARTS))
        return state

    async def execute(
        self, command: ChildCommand, metadata: Metadata, *, idempotency_key: str | None = None
    ) -> AppendResult:
        """Decide `command` and append its events; a rule broken is a typed error and writes nothing."""
        stream = stream_id(command.child_id)
        if idempotency_key is not None and (done := await self._store.recorded(idempotency_key)) is not None:
            if done.stream_id != stream:
                raise IdempotencyConflict(idempotency_key, stream)
            if isinstance(command, MergeChild):  # finish a merge a crash interrupted
                await self._absorb(command.survivor_id, command.child_id, metadata, f"{idempotency_key}:absorbed")
            return done
        for attempt in range(ATTEMPTS):
            state = await self.load(command.child_id)
            survivor = await self.load(command.survivor_id) if isinstance(command, MergeChild) else None
            today = self._clock().astimezone(VIETNAM).date()
            events = decide(state, command, Context(today, self._units, survivor))
            try:
                result = await self._append(stream, state, events, metadata, idempotency_key)
                break
            except ConcurrencyError:
                if isinstance(command, RegisterChild) or attempt == ATTEMPTS - 1:
                    raise
                await _back_off(attempt)
        if isinstance(command, MergeChild):
            key = None if idempotency_key is None else f"{idempotency_key}:absorbed"
            await self._absorb(command.survivor_id, command.child_id, metadata, key)
        if isinstance(command, EraseChildData):
            await self._keyring.destroy(command.child_id)
        return result

    async def _absorb(self, survivor_id: str, merged_id: str, metadata: Metadata, key: str | None) -> None:
        if key is not None and await self._store.recorded(key) is not None:
            return
        for attempt in range(ATTEMPTS):
            survivor = await self.load(survivor_id)
            assert survivor is not None  # decided against it a moment ago; records are never removed
            try:
                await self._append(stream_id(survivor_id), survivor, [absorb(survivor, merged_id)], metadata, key)
                return
            except ConcurrencyError:
                if attempt == ATTEMPTS - 1:
                    raise
                await _back_off(attempt)

    async def _append(
        self,
        stream: str,
        state: ChildState | None,
        events: list[BaseModel],
        metadata: Metadata,
        idempotency_key: str | None,
    ) -> AppendResult:
        child_id = stream.split(":", 1)[1]
        key = None
        if any(event_type(e) in PERSONAL_EVENTS for e in events):
            key = await self._keyring.create(child_id) if state is None else await self._keyring.get(child_id)
            assert key is not None  # an erased record takes no commands (decide refused it)
        now = self._clock()
        new = [NewEvent(event_type(e), seal(e, key, stream, PARTS) if key else e, _occurred(e, now)) for e in events]
        version = 0 if state is None else state.version
        return await self._store.append(stream, STREAM_TYPE, version, new, metadata, idempotency_key=idempotency_key)


async def _back_off(attempt: int) -> None:
    """A short random wait, growing with the attempts, so that writers racing for one record spread out."""
    await asyncio.sleep(random.uniform(0, 0.005 * (attempt + 1)))


def _occurred(event: BaseModel, now: datetime) -> datetime:
    """Business time: the start of the day a dated fact happened on (a move, a support), else now."""
    values: dict[str, Any] = dict(event)
    day = values.get("on")
    return start_of_day(day) if isinstance(day, date) else now


__all__ = ["ChildRegister"]
