"""The administrative units as of any date: lookups, the tree, the 2025 crosswalk and name search.

An in-memory index folded from the administrative-unit events (about 14,000
units and 28,000 events; a few megabytes). It is what the rest of the
registry asks about units: the children and cases aggregates (a commune code
that exists on a date), projections and the API (paths, lists, search). It is
also the `Directory` the units aggregate decides against.

Every query takes the day it is asked about. "Former district" questions
after 2025-07-01 go through `former_districts` (see the README's design notes).
"""

from __future__ import annotations

import asyncio
import gc
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

from pydantic import BaseModel

from .errors import InvalidInput, NotFound
from .events import START, RecordedEvent
from .law import TWO_TIER_FROM
from .store import EventStore
from .units import (
    EVENT_TYPES,
    REORGANISATION_STREAM_TYPE,
    STREAM_TYPE,
    VIETNAMESE_KIND,
    Kind,
    Level,
    UnitState,
    Version,
    evolve,
    full_name,
    level_of,
)

REFERENCE_STREAM_TYPES = (STREAM_TYPE, REORGANISATION_STREAM_TYPE)

_SPACES = re.compile(r"\s+")
_NOT_WORD = re.compile(r"[^0-9a-z ]+")


@lru_cache(maxsize=65_536)  # unit names are few (about 15,000); search folds them on every query
def fold(text: str) -> str:
    """Lower case without diacritics, for search: 'Tuần Giáo' -> 'tuan giao', 'Đắk Lắk' -> 'dak lak'."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()
    return _SPACES.sub(" ", _NOT_WORD.sub(" ", plain)).strip()


@dataclass(frozen=True, slots=True)
class UnitView:
    """A unit as it was on one day (`valid_from`/`valid_to`: its whole life, `to` exclusive)."""

    unit_id: str
    code: str
    level: Level
    kind: Kind
    name: str
    parent_id: str | None
    valid_from: date | None
    valid_to: date | None

    @property
    def full_name(self) -> str:
        return full_name(self.kind, self.name)

    @property
    def parent_code(self) -> str | None:
        return None if self.parent_id is None else self.parent_id.split(":")[1]


@dataclass(frozen=True, slots=True)
class Successor:
    unit: UnitView
    default: bool


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a record made under a commune from a day lies, in both structures (README, design notes).

    `province`: the commune's province on that day; `district`: the district for district reports (the legacy
    district the record was made under, or, for a commune of the two-tier map, the one former district its
    territory lay in, if it was formed within one); `commune_now`, `province_now`: in the structure in force today
    (the default successor). "??" where a code is not in the gazetteer.
    """

    commune: str
    province: str
    district: str | None
    commune_now: str
    province_now: str

    def unit(self, level: Level, on: date) -> str | None:
        """The unit of `level` this record counts in, in the structure in force on `on`."""
        if level is Level.DISTRICT:
            return self.district
        if level is Level.COMMUNE:
            return self.commune_now if on >= TWO_TIER_FROM else self.commune
        return self.province_now if on >= TWO_TIER_FROM else self.province


FAR = date(9999, 12, 30)  # "today's structure": the units in force with no end in sight
_FREEZE_AFTER = 10_000  # unit events folded at once: the first load of the units


def _view(state: UnitState, version: Version) -> UnitView:
    return UnitView(
        state.unit_id, state.code, state.level, version.kind, version.name, version.parent_id,
        state.established, state.valid_to,
    )  # fmt: skip


class Gazetteer:
    """Every administrative unit over time, folded from events; implements `units.Directory`."""

    def __init__(self) -> None:
        self._units: dict[str, UnitState] = {}
        self._by_code: dict[str, list[str]] = {}
        self._children: dict[str, set[str]] = {}
        self._predecessors: dict[str, set[str]] = {}
        self._names: dict[str, set[str]] = {}  # folded name -> unit ids that ever bore it
        self._province_codes: frozenset[str] = frozenset()
        self._placements: Placements | None = None  # `place` remembered, until a unit changes
        self.cursor = START  # how far into the global order `refresh` has read
        self._refreshing = asyncio.Lock()

    # -- folding ---------------------------------------------------------

    def apply(self, unit_id: str, event: BaseModel) -> UnitState:
        """Fold one decided event of the unit `unit_id`."""
        state = evolve(self._units.get(unit_id), event)
        if state.unit_id != unit_id:
            raise ValueError(f"event of {state.unit_id} applied to {unit_id}")
        self._put(state)
        return state

    async def refresh(self, store: EventStore) -> int:
        """Fold the unit events committed since the last refresh (all of them the first time); return how many.

        Callers sharing a gazetteer may refresh it at the same time: one reads while the others wait, and then
        find nothing new, so no event is folded twice.
        """
        count = 0
        async with self._refreshing:
            async for batch in store.iterate(self.cursor, batch=10_000, stream_types=REFERENCE_STREAM_TYPES):
                for event in batch:
                    self.apply_recorded(event)
                self.cursor = batch[-1].cursor
                count += len(batch)
        if count >= _FREEZE_AFTER:
            # The units live as long as the process: moved out of the cycle collector's reach, so that its full
            # collections (triggered by any work's allocations) no longer walk their hundreds of thousands of
            # objects (measured: a third of a change-feed page's time, and of an import's).
            gc.freeze()
        return count

    def apply_recorded(self, event: RecordedEvent) -> None:
        if event.stream_type != STREAM_TYPE:
            return
        model = EVENT_TYPES[event.event_type].model_validate(event.data)
        self.apply(event.stream_id, model)

    def _put(self, state: UnitState) -> None:
        self._placements = None
        unit = state.unit_id
        known = unit in self._units
        self._units[unit] = state
        if not known:
            self._by_code.setdefault(state.code, []).append(unit)
            if state.level is Level.PROVINCE:
                self._province_codes = self._province_codes | {state.code}
        version = state.current
        if version.parent_id is not None:
            self._children.setdefault(version.parent_id, set()).add(unit)
        self._names.setdefault(fold(version.name), set()).add(unit)
        if state.ended is not None:
            for successor in state.ended.successor_ids:
                self._predecessors.setdefault(successor, set()).add(unit)

    # -- the Directory protocol -------------------------------------------

    def get(self, unit_id: str) -> UnitState | None:
        return self._units.get(unit_id)

    def with_code(self, code: str) -> Iterable[UnitState]:
        return [self._units[u] for u in self._by_code.get(code, ())]

    def children_of(self, unit_id: str) -> Iterable[UnitState]:
        return [self._units[u] for u in sorted(self._children.get(unit_id, ()))]

    # -- queries -----------------------------------------------------------

    def __len__(self) -> int:
        return len(self._units)

    def states(self) -> Iterator[UnitState]:
        return iter(self._units.values())

    def province_codes(self) -> frozenset[str]:
        """Every code a province has borne, before or after the reform (personal ids carry one)."""
        return self._province_codes  # kept as units are folded: every registration asks (an import's thousands)

    def count(self, level: Level, on: date) -> int:
        return sum(1 for s in self._units.values() if s.level is level and s.at(on) is not None)

    def view(self, unit_id: str, on: date) -> UnitView | None:
        """The unit with this id as it was on `on` (None if not in force then)."""
        state = self._units.get(unit_id)
        version = None if state is None else state.at(on)
        return None if state is None or version is None else _view(state, version)

    def unit_id_at(self, code: str, on: date) -> str | None:
        """The id of the unit that bore `code` on `on` (cheaper than find: no view is built)."""
        for unit in self._by_code.get(code, ()):
            if self._units[unit].at(on) is not None:
                return unit
        return None

    def find(self, code: str, on: date) -> UnitView | None:
        """The unit that bore `code` on `on`, or None."""
        level_of(code)
        for unit in self._by_code.get(code, ()):
            found = self.view(unit, on)
            if found is not None:
                return found
        return None

    def lookup(self, code: str, on: date, field: str = "code") -> UnitView:
        """Like find, but a typed error naming the field when no unit bore the code that day."""
        level_of(code, field)
        found = self.find(code, on)
        if found is None:
            raise InvalidInput(field, "unknown_unit", f"no administrative unit has this code on {on.isoformat()}")
        return found

    def children(self, code: str, on: date) -> list[UnitView]:
        """The units directly under `code` on `on`, by code."""
        parent = self.lookup(code, on)
        found = []
        for child in self._children.get(parent.unit_id, ()):
            view = self.view(child, on)
            if view is not None and view.parent_id == parent.unit_id:
                found.append(view)
        return sorted(found, key=lambda v: v.code)

    def provinces(self, on: date) -> list[UnitView]:
        found = []
        for state in self._units.values():
            if state.level is Level.PROVINCE and (version := state.at(on)) is not None:
                found.append(_view(state, version))
        return sorted(found, key=lambda v: v.code)

    def tree(self, on: date) -> Iterator[tuple[int, UnitView]]:
        """(depth, unit) for every unit in force on `on`, depth first, by code: the tree as of that day."""

        def walk(unit: UnitView, depth: int) -> Iterator[tuple[int, UnitView]]:
            yield depth, unit
            for child in self.children(unit.code, on):
                yield from walk(child, depth + 1)

        for province in self.provinces(on):
            yield from walk(province, 0)

    def path(self, code: str, on: date) -> list[UnitView]:
        """The unit and its ancestors on `on`: commune -> district -> province (no district from 2025-07-01)."""
        unit = self.lookup(code, on)
        path = [unit]
        while unit.parent_id is not None:
            parent = self.view(unit.parent_id, on)
            if parent is None:  # cannot happen for decided events; a half-loaded store could show it
                raise NotFound(f"the parent of unit {unit.code} is not in force on {on.isoformat()}")
            path.append(parent)
            unit = parent
        return path

    def communes_of(self, code: str, on: date) -> list[UnitView]:
        """Every commune under a province or district on `on` (the commune itself for a commune)."""
        unit = self.lookup(code, on)
        if unit.level is Level.COMMUNE:
            return [unit]
        found = []
        for child in self.children(code, on):
            found.extend(self.communes_of(child.code, on))
        return sorted(found, key=lambda v: v.code)

    def successors(self, code: str, on: date, to: date) -> list[Successor]:
        """What the unit that bore `code` on `on` had become by `to` (itself if still in force).

        Follows merges, splits and dissolutions through as many steps as
        there were; `default` marks the successor a record moves to when
        nothing more precise says otherwise (the default of every split on
        the way). A legacy commune code resolved to today: `successors(c,
        date(2025, 6, 30), today)`.
        """
        if to < on:
            raise InvalidInput("to", "before_on", "must not be before the date the code is read at")
        start = self.lookup(code, on)
        found: dict[str, bool] = {}

        def follow(unit_id: str, default: bool) -> None:
            state = self._units.get(unit_id)
            if state is None:
                return  # a successor not loaded yet
            if state.at(to) is not None:
                found[unit_id] = found.get(unit_id, False) or default
                return
            ending = state.ended
            if ending is None or ending.effective_date > to:
                return  # established after `to`: nothing to report yet
            for successor in ending.successor_ids:
                is_default = ending.default_id in (None, successor)
                follow(successor, default and is_default)

        follow(start.unit_id, True)
        result = []
        for unit_id, default in found.items():
            view = self.view(unit_id, to)
            assert view is not None
            result.append(Successor(view, default))
        return sorted(result, key=lambda s: (not s.default, s.unit.code))

    def predecessors(self, code: str, on: date) -> list[UnitView]:
        """The units that ended into the unit bearing `code` on `on`, as they were on their last day."""
        unit = self.lookup(code, on)
        found = []
        for before in self._predecessors.get(unit.unit_id, ()):
            state = self._units[before]
            assert state.ended is not None
            view = self.view(before, state.ended.effective_date - timedelta(days=1))
            if view is not None:
                found.append(view)
        return sorted(found, key=lambda v: v.code)

    def placements(self) -> Placements:
        """`place` remembered for the units as they are now (forgotten when a unit changes): for readers that place
        many records (a projection's batch, the change feed)."""
        if self._placements is None:
            self._placements = Placements(self)
        return self._placements

    def place(self, commune: str, day: date) -> Placement:
        """Where a record made under `commune` from `day` lies (see Placement); unknown codes give "??"."""
        if self.find(commune, day) is None:
            return Placement(commune, "??", None, commune, "??")
        path = self.path(commune, day)
        district = next((u.code for u in path if u.level is Level.DISTRICT), None)
        if district is None:
            former = self.former_districts(commune, day)
            district = former[0].code if len(former) == 1 else None
        now = self.successors(commune, day, FAR)
        if not now:
            return Placement(commune, path[-1].code, district, commune, "??")
        current = now[0].unit.code
        return Placement(commune, path[-1].code, district, current, self.path(current, FAR)[-1].code)

    def former_districts(self, code: str, on: date) -> list[UnitView]:
        """The districts of 2025-06-30 whose territory the commune bearing `code` on `on` lies in.

        For a legacy commune (on < 2025-07-01), its own district; for a
        commune of the two-tier map, the districts of the legacy communes it
        was formed from (several where it was formed across a district line).
        """
        last_day = TWO_TIER_FROM - timedelta(days=1)
        unit = self.lookup(code, on)
        if unit.level is not Level.COMMUNE:
            raise InvalidInput("code", "not_a_commune", "must be a commune code")
        districts: dict[str, UnitView] = {}
        pending = [unit.unit_id]
        seen = set()
        while pending:
            current = pending.pop()
            if current in seen:
                continue
            seen.add(current)
            view = self.view(current, last_day)
            if view is not None:  # in force on the last legacy day: its district then
                parent = None if view.parent_id is None else self.view(view.parent_id, last_day)
                if parent is not None and parent.level is Level.DISTRICT:
                    districts[parent.code] = parent
                continue
            pending.extend(self._predecessors.get(current, ()))
        return sorted(districts.values(), key=lambda v: v.code)

    def search(
        self, text: str, on: date | None = None, *, level: Level | None = None, limit: int = 20
    ) -> list[UnitView]:
        """Units whose name matches `text`, with or without diacritics ('Tuần Giáo' = 'tuan giao').

        The type word may be given ('huyen tuan giao'). Exact names first,
        then names starting with the text, then names with a word starting
        with it, then names containing it. Where the text has diacritics,
        names matching them come before names matching only without them
        ('Hòa' finds Hòa Bình before Hoàn Kiếm). Then by level and code.
        `on` limits the result to units in force that day (each shown as it
        was then); without it, every unit that ever bore the name is shown
        as it was last.
        """
        wanted = fold(text)
        if not wanted:
            raise InvalidInput("text", "empty", "must contain a letter or a digit")
        if not 1 <= limit <= 1000:
            raise InvalidInput("limit", "out_of_range", "must be between 1 and 1000")
        typed = _SPACES.sub(" ", text.strip().lower())
        with_marks = typed != wanted  # the officer typed diacritics: honour them first
        ranked: list[tuple[tuple[int, int, int, str], UnitView]] = []
        # Every match contains the text, or the text is a type word followed by a part of the name.
        rests = [wanted] + [wanted[len(word) + 1 :] for word in _KIND_WORDS if wanted.startswith(word + " ")]
        for folded, units in self._names.items():
            if not any(rest in folded for rest in rests):
                continue
            for unit_id in units:
                state = self._units[unit_id]
                if level is not None and state.level is not level:
                    continue
                version = state.at(on) if on is not None else state.current
                if version is None or fold(version.name) != folded:
                    continue
                long_name = full_name(version.kind, version.name)
                rank = _match(wanted, folded, fold(long_name))
                if rank is None:
                    continue
                marks = _match(typed, version.name.lower(), long_name.lower())
                marks = 4 if marks is None else marks
                first, second = (marks, rank) if with_marks else (rank, marks)
                order = list(Level).index(state.level)
                ranked.append(((first, second, order, state.code), _view(state, version)))
        ranked.sort(key=lambda item: item[0])
        return [view for _, view in ranked[:limit]]


_KIND_WORDS = sorted({fold(word) for word in VIETNAMESE_KIND.values()})


class Placements:
    """Gazetteer.place remembered (Gazetteer.placements: one per state of the units).

    The answer depends only on the unit in force on the day and on which side of the reform the day falls (a
    commune that carried on changed province then), so that is the key; the exact (commune, day) pairs asked
    before are answered first, without a look at the units.
    """

    def __init__(self, units: Gazetteer) -> None:
        self.units = units
        self._places: dict[tuple[str | None, bool, str], Placement] = {}
        self._days: dict[tuple[str, date], Placement] = {}

    def place(self, commune: str, day: date) -> Placement:
        found = self._days.get((commune, day))
        if found is not None:
            return found
        key = (self.units.unit_id_at(commune, day), day >= TWO_TIER_FROM, commune)
        found = self._places.get(key)
        if found is None:
            found = self._places[key] = self.units.place(commune, day)
        if len(self._days) > 200_000:
            self._days.clear()
        self._days[(commune, day)] = found
        return found


def _match(wanted: str, name: str, with_kind: str) -> int | None:
    if wanted in (name, with_kind):
        return 0
    if name.startswith(wanted) or with_kind.startswith(wanted):
        return 1
    if f" {wanted}" in f" {name}" or f" {wanted}" in f" {with_kind}":
        return 2  # a word of the name starts with it
    if wanted in name:
        return 3
    return None


__all__ = ["FAR", "REFERENCE_STREAM_TYPES", "Gazetteer", "Placement", "Successor", "UnitView", "fold"]
