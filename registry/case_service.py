"""The case register's application layer: load a case, decide with the actor's role, seal, append.

As for children (registry/service.py): commands are decided on the case as
stored, decided again when another writer wins the race, and an idempotency
key returns the first result. The actor (id and role) comes from the
metadata of the command, so the role that approved a plan is the role
recorded with its event. The reporter's identity and the account are sealed
with a key per case (`case_keys`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from .cases import (
    PARTS,
    STREAM_TYPE,
    Actor,
    CaseCommand,
    CaseState,
    Context,
    LinkChild,
    ReceiveReport,
    decide,
    evolve,
)
from .child_service import ChildRegister
from .errors import ConcurrencyError
from .events import Horizon, Metadata
from .gazetteer import Gazetteer
from .law import VIETNAM
from .sealing import Keyring
from .service import SealedStreams, decide_again
from .store import AppendResult, EventStore


class CaseRegister:
    """Quản lý trường hợp: commands on child-protection cases, through the Case aggregate."""

    def __init__(
        self,
        store: EventStore,
        keyring: Keyring,
        units: Gazetteer,
        children: ChildRegister,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._streams = SealedStreams[CaseState](store, keyring, PARTS, STREAM_TYPE, evolve, clock=clock)
        self._units = units
        self._children = children
        self._clock = clock

    async def load(
        self, case_id: str, *, before: datetime | None = None, known: Horizon | None = None
    ) -> CaseState | None:
        """The case as stored (None if there is none); with `before`, as it stood just before that time; with
        `known`, as the registry knew it then."""
        return await self._streams.load(case_id, before=before, known=known)

    async def load_many(
        self, case_ids: list[str], *, before: datetime | None = None, known: Horizon | None = None
    ) -> dict[str, CaseState | None]:
        """Several cases at once (a page of a unit's cases: an export), their events and keys each read in one
        query; `before` and `known` as for `load`."""
        return await self._streams.load_many(case_ids, before=before, known=known)

    async def cases_of(self, child_id: str) -> list[str]:
        """The ids of the cases that concern a child, oldest first (reads every case event: until projections)."""
        found: list[str] = []
        async for batch in self._streams.store.iterate(stream_types=[STREAM_TYPE]):
            for event in batch:
                listed = event.data.get("child_ids")
                ids = [*(listed if isinstance(listed, list) else []), event.data.get("child_id")]
                case_id = event.stream_id.split(":", 1)[1]
                if child_id in ids and case_id not in found:
                    found.append(case_id)
        return found

    async def execute(
        self, command: CaseCommand, metadata: Metadata, *, idempotency_key: str | None = None,
        expected_version: int | None = None,
    ) -> AppendResult:  # fmt: skip
        """Decide `command` as the metadata's actor and append its events; a broken rule writes nothing.

        With `expected_version` (the version the caller saw; 0 for a new case), a case that has moved on since is
        a ConcurrencyError carrying the current version, and the command is not decided again.
        """
        streams = self._streams
        if (done := await streams.recorded(idempotency_key, command.case_id, command)) is not None:
            return done
        wanted = list(command.child_ids) if isinstance(command, ReceiveReport) else []
        if isinstance(command, LinkChild):
            wanted.append(command.child_id)
        known = {child for child in wanted if await self._children.load(child) is not None}
        units = self._units

        def commune_exists(code: str, at: datetime) -> bool:
            return len(code) == 5 and units.find(code, at.astimezone(VIETNAM).date()) is not None

        async def attempt() -> AppendResult:
            state = await self.load(command.case_id)
            current = 0 if state is None else state.version
            if expected_version is not None and current != expected_version:
                raise ConcurrencyError(streams.stream(command.case_id), expected_version, current)
            context = Context(self._clock(), Actor(metadata.actor_id, metadata.actor_role), commune_exists,
                              known.__contains__)  # fmt: skip
            events = decide(state, command, context)
            return await streams.append(command.case_id, state, events, metadata, idempotency_key, command)

        return await decide_again(attempt, retry=expected_version is None and not isinstance(command, ReceiveReport))


__all__ = ["CaseRegister"]
