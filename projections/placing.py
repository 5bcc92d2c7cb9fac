"""What the projections share about units: one gazetteer per store, and where a row lies (both structures).

Every projected row says where it lies: in the structure of its date (the commune and province a record was made
under, its district) and in today's (`commune_now`, `province_now`), so that it can be counted in either and a
province can be served, or sharded, on its own (README, design notes).
"""

from __future__ import annotations

import weakref
from datetime import date

from registry.gazetteer import Gazetteer
from registry.store import EventStore

from .runtime import Projection

_UNITS: weakref.WeakKeyDictionary[EventStore, Gazetteer] = weakref.WeakKeyDictionary()


async def units_of(store: EventStore) -> Gazetteer:
    """The administrative units of a store, brought up to date: one copy in memory for all the projections of a
    process (folding them from the start takes most of a second; a refresh reads only what is new)."""
    units = _UNITS.get(store)
    if units is None:
        units = _UNITS[store] = Gazetteer()
    await units.refresh(store)
    return units


class Placed(Projection):
    """A projection whose rows say where they lie: in the structure of their date and in today's."""

    def __init__(self) -> None:
        self.units = Gazetteer()

    async def prepare(self, store: EventStore) -> None:
        self.units = await units_of(store)

    def _place(self, commune: str, day: date) -> tuple[str, str | None, str, str]:
        """Where a residence or case recorded under `commune` from `day` lies (Gazetteer.place, remembered)."""
        p = self.units.placements().place(commune, day)
        return p.province, p.district, p.commune_now, p.province_now


__all__ = ["Placed", "units_of"]
