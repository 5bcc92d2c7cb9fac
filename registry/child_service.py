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

from collections.abc import Callable
from datetime import UTC, datetime

from .children import (
    PARTS,
    STREAM_TYPE,
    ChildCommand,
    ChildState,
    Context,
    EraseChildData,
    MergeChild,
    RegisterChild,
    absorb,
    decide,
    evolve,
)
from .errors import ConcurrencyError
from .events import Horizon, Metadata
from .gazetteer import Gazetteer
from .law import VIETNAM
from .sealing import Keyring
from .service import SealedStreams, decide_again
from .store import AppendResult, EventStore


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

    async def _absorb(self, survivor_id: str, merged_id: str, metadata: Metadata, key: str | None) -> None:
        if await self._streams.recorded(key, survivor_id) is not None:
            return

        async def attempt() -> AppendResult:
            survivor = await self.load(survivor_id)
            assert survivor is not None  # decided against it a moment ago; records are never removed
            return await self._streams.append(survivor_id, survivor, [absorb(survivor, merged_id)], metadata, key)

        await decide_again(attempt)


__all__ = ["ChildRegister"]
