"""The application layer of the administrative units: decide against the store's units, then append.

Unit rules look across units (a parent in force, a free code, a live merge
target), so two writers deciding at once could each pass a check the other
breaks. Writers of unit events therefore hold one PostgreSQL advisory lock
(`units_lock`) from reading the units to appending the last event: unit
changes are rare administrative acts, and serialising them costs nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date

from pydantic import BaseModel

from .events import Metadata, NewEvent
from .gazetteer import Gazetteer
from .law import start_of_day
from .store import AppendResult, EventStore, driver_errors
from .units import STREAM_TYPE, Change, Reorganise, UnitCommand, decide, reorganise

# "REGUNITS" in ASCII: the advisory lock key of unit writers, on every database.
_LOCK_KEY = int.from_bytes(b"REGUNITS", "big") >> 1


def as_new_event(event: BaseModel, undated: date) -> NewEvent:
    """A decided unit event, to append: its business time is the start of its effective date
    (`undated` for a unit in force since before records begin)."""
    day = getattr(event, "effective_date", None) or undated
    return NewEvent(type(event).__name__, event, start_of_day(day))


@asynccontextmanager
async def units_lock(store: EventStore) -> AsyncIterator[None]:
    """Hold the unit writers' lock (a session lock on one pooled connection, released on exit)."""
    with driver_errors():
        async with store.pool.acquire() as conn:
            await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
            try:
                yield
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)


async def execute(
    store: EventStore, units: Gazetteer, command: UnitCommand | Reorganise, metadata: Metadata
) -> list[AppendResult]:
    """Decide `command` against the units the store holds now and append its events.

    A command that breaks a rule raises a typed error naming the field and
    writes nothing. `units` is brought up to date before and after.
    """
    async with units_lock(store):
        await units.refresh(store)
        if isinstance(command, Reorganise):
            changes = reorganise(command, units)
        else:
            target = command.unit_id
            state = units.get(target)
            changes = [Change(target, 0 if state is None else state.version, tuple(decide(state, command, units)))]
        results = []
        today = date.today()
        for change in changes:
            events = [as_new_event(e, today) for e in change.events]
            results.append(await store.append(change.stream_id, STREAM_TYPE, change.expected_version, events, metadata))
        await units.refresh(store)
    return results


__all__ = ["as_new_event", "execute", "units_lock"]
