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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel

from .children import (
    PARTS,
    STREAM_TYPE,
    ChildCommand,
    ChildState,
    Context,
    EraseChildData,
    InvalidChildChange,
    MergeChild,
    RegisterChild,
    absorb,
    decide,
    evolve,
)
from .errors import ConcurrencyError, InvalidInput
from .events import Horizon, Metadata
from .gazetteer import Gazetteer
from .law import VIETNAM
from .sealing import Keyring
from .service import ATTEMPTS, Decided, SealedStreams, decide_again
from .store import AppendResult, EventStore, StreamAppend


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
        self._streams = SealedStreams[ChildState](
            store, keyring, PARTS, STREAM_TYPE, evolve, erasure_event="ChildDataErased", clock=clock
        )
        self._units = units
        self._clock = clock

    @property
    def keyring(self) -> Keyring:
        """The children's data keys (for readers that open sealed parts themselves: the change feed)."""
        return self._streams.keyring

    async def load(self, child_id: str, *, known: Horizon | None = None) -> ChildState | None:
        """The record as the store holds it (None if there is none); personal data opened with the child's key;
        with `known`, as the registry knew it then."""
        return await self._streams.load(child_id, known=known)

    async def load_many(self, child_ids: list[str], *, known: Horizon | None = None) -> dict[str, ChildState | None]:
        """Several records at once (a page of the register): their events and keys each read in one query."""
        return await self._streams.load_many(child_ids, known=known)

    async def execute(
        self, command: ChildCommand, metadata: Metadata, *, idempotency_key: str | None = None,
        expected_version: int | None = None,
    ) -> AppendResult:  # fmt: skip
        """Decide `command` and append its events; a rule broken is a typed error and writes nothing.

        With `expected_version` (the version the caller saw; 0 for a new record), a record that has moved on
        since is a ConcurrencyError carrying the current version, and the command is not decided again.
        """
        streams = self._streams
        child_id = command.child_id
        if (done := await streams.recorded(idempotency_key, child_id, command)) is not None:
            if isinstance(command, MergeChild):  # finish a merge a crash interrupted
                await self._absorb(command.survivor_id, child_id, metadata, f"{idempotency_key}:absorbed")
            return done

        async def attempt() -> AppendResult:
            state = await self.load(child_id)
            current = 0 if state is None else state.version
            if expected_version is not None and current != expected_version:
                raise ConcurrencyError(streams.stream(child_id), expected_version, current)
            survivor = await self.load(command.survivor_id) if isinstance(command, MergeChild) else None
            today = self._clock().astimezone(VIETNAM).date()
            events = decide(state, command, Context(today, self._units, survivor))
            return await streams.append(child_id, state, events, metadata, idempotency_key, command)

        result = await decide_again(attempt, retry=expected_version is None and not isinstance(command, RegisterChild))
        if isinstance(command, MergeChild):
            key = None if idempotency_key is None else f"{idempotency_key}:absorbed"
            await self._absorb(command.survivor_id, child_id, metadata, key)
        if isinstance(command, EraseChildData):
            await streams.keyring.destroy(child_id)
        return result

    async def execute_batch(self, requests: Sequence[Batched], *, write: bool = True) -> list[BatchOutcome]:
        """Carry out the commands of many records, one transaction for all of them (bulk work: an import).

        Each request plans its commands from its record as stored (None: not registered yet); they are decided one
        after the other on that record, so a row of an import that registers a child and classifies it is one
        append. A request whose plan or commands break a rule writes nothing and carries its error; the others
        are written together, all or nothing. If another writer changed one of the records meanwhile, the whole
        batch is read, planned and decided again (as `execute` does for one command). Merges and erasures change
        more than one thing and are not taken here. With `write` False, everything is decided and nothing is
        written (a dry run). `prepare_batch` and `write_batch` are its two halves, for a caller that does other
        work while a batch is written (an import reads its next rows).
        """
        for number in range(ATTEMPTS):
            prepared = await self.prepare_batch(requests, write=write)
            try:
                return await self.write_batch(prepared)
            except ConcurrencyError:
                if number == ATTEMPTS - 1:
                    raise
                await asyncio.sleep(random.uniform(0, 0.005 * (number + 1)))
        raise AssertionError("unreachable")

    async def prepare_batch(self, requests: Sequence[Batched], *, write: bool = True) -> PreparedBatch:
        """A batch read, planned, decided and sealed (the data keys of new records made): all but the write."""
        ids = [r.child_id for r in requests]
        if len(set(ids)) != len(ids):
            raise InvalidChildChange("requests", "repeated", "a batch names each record once")
        states = await self.load_many(ids)
        context = Context(self._clock().astimezone(VIETNAM).date(), self._units)
        outcomes: dict[str, BatchOutcome] = {}
        decided: list[Decided[ChildState]] = []
        for request in requests:
            state = states[request.child_id]
            try:
                events = _decide_all(state, request, context)
            except _Refused as refused:
                outcomes[request.child_id] = BatchOutcome(request.child_id, None, refused.error, state, 0,
                                                          refused.command)  # fmt: skip
                continue
            if events and write:
                decided.append(Decided(request.child_id, state, events, request.metadata))
            else:
                outcomes[request.child_id] = BatchOutcome(request.child_id, None, None, state, len(events))
        return PreparedBatch(ids, outcomes, decided, await self._streams.seal_many(decided))

    async def write_batch(self, prepared: PreparedBatch) -> list[BatchOutcome]:
        """Write a prepared batch in one transaction; ConcurrencyError (nothing written) if a record moved on since
        it was read: prepare it again."""
        results = await self._streams.store.append_batch(prepared.appends)
        outcomes = dict(prepared.outcomes)
        for d, result in zip(prepared.decided, results, strict=True):
            outcomes[d.subject_id] = BatchOutcome(d.subject_id, result, None, d.state, len(d.events))
        return [outcomes[child_id] for child_id in prepared.ids]

    async def _absorb(self, survivor_id: str, merged_id: str, metadata: Metadata, key: str | None) -> None:
        if await self._streams.recorded(key, survivor_id) is not None:
            return

        async def attempt() -> AppendResult:
            survivor = await self.load(survivor_id)
            assert survivor is not None  # decided against it a moment ago; records are never removed
            return await self._streams.append(survivor_id, survivor, [absorb(survivor, merged_id)], metadata, key)

        await decide_again(attempt)


@dataclass(frozen=True, slots=True)
class Batched:
    """One record's part of a batch (ChildRegister.execute_batch): what to do, given the record as stored."""

    child_id: str
    plan: Callable[[ChildState | None], Sequence[ChildCommand]]  # may raise InvalidInput: the request is refused
    metadata: Metadata


@dataclass(frozen=True, slots=True)
class PreparedBatch:
    """A batch decided and sealed, not yet written (ChildRegister.prepare_batch)."""

    ids: list[str]
    outcomes: dict[str, BatchOutcome]  # the requests refused, and those with nothing to write
    decided: list[Decided[ChildState]]
    appends: list[StreamAppend]


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What a request of a batch came to: written (`result`), refused (`error`), or nothing to do (neither)."""

    child_id: str
    result: AppendResult | None
    error: InvalidInput | None
    before: ChildState | None  # the record the request was planned on
    events: int = 0  # decided (and, unless a dry run, written)
    failed: ChildCommand | None = None  # the command that broke a rule (None: the plan itself refused)


class _Refused(Exception):
    def __init__(self, error: InvalidInput, command: ChildCommand | None) -> None:
        self.error = error
        self.command = command


def _decide_all(state: ChildState | None, request: Batched, context: Context) -> list[BaseModel]:
    """The events of a request's commands, each decided on the record as the ones before it left it."""
    try:
        commands = request.plan(state)
    except InvalidInput as exc:
        raise _Refused(exc, None) from None
    events: list[BaseModel] = []
    for command in commands:
        try:
            if command.child_id != request.child_id:
                raise InvalidChildChange("child_id", "other_record", "a request's commands are for its own record")
            if isinstance(command, MergeChild | EraseChildData):
                raise InvalidChildChange("command", "not_batchable", "merges and erasures are carried out one by one")
            for event in decide(state, command, context):
                state = evolve(state, event)
                events.append(event)
        except InvalidInput as exc:
            raise _Refused(exc, command) from None
    return events


__all__ = ["BatchOutcome", "Batched", "ChildRegister", "PreparedBatch"]
