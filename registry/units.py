"""Administrative units (đơn vị hành chính): provinces, districts, communes and their life over time.

A pure core, no I/O: `decide(state, command, units)` returns the events a
command produces or raises a typed error naming the field, and
`evolve(state, event)` folds an event into the unit's state. `units` is a
read-only view of every other unit (the `Directory` protocol; the in-memory
`registry.gazetteer.Gazetteer` implements it), because a unit's rules look at
its neighbours: a parent must be in force, a code free, a merge target alive.

Identity. Codes are reused across time: after the 2025 reform 34 of 34 new
province codes and 3,316 of 3,321 new commune codes were codes of a
predecessor, now naming a larger unit. A unit is therefore one incarnation:
its stream id is `unit:{code}:{first day}` (`unit:{code}:initial` for a unit
in force since before the registry's records begin), and at most one unit
with a given code is in force on any day.

Time. Every change has an effective date (business time). A unit is in force
from its establishment (inclusive) until the effective date of its end
(exclusive): a commune merged on 2025-07-01 was last in force on 2025-06-30.
Changes to one unit are recorded in the order they take effect.

The reform of 2025-07-01 is one legal act that ends old units and establishes
new ones under the same codes on the same day; no order of single commands
can do that without an intermediate state that breaks a rule, so it is one
command, `Reorganise`, checked as a whole (`reorganise`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum
from typing import Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from .errors import InvalidInput
from .events import build
from .law import TWO_TIER_FROM

STREAM_TYPE = "administrative_unit"
_E = TypeVar("_E", bound=BaseModel)


class InvalidUnitChange(InvalidInput):
    """Raised when a change to an administrative unit breaks a rule; nothing is written."""


class Level(StrEnum):
    """Cấp hành chính."""

    PROVINCE = "province"  # cấp tỉnh
    DISTRICT = "district"  # cấp huyện (until 2025-06-30)
    COMMUNE = "commune"  # cấp xã


class Kind(StrEnum):
    """Loại đơn vị: the Vietnamese word that precedes the unit's name."""

    PROVINCE = "province"  # Tỉnh
    CITY = "city"  # Thành phố: centrally-run city (province level) or provincial city (district level)
    URBAN_DISTRICT = "urban_district"  # Quận
    RURAL_DISTRICT = "rural_district"  # Huyện
    TOWN = "town"  # Thị xã
    COMMUNE = "commune"  # Xã
    WARD = "ward"  # Phường
    TOWNSHIP = "township"  # Thị trấn (none since 2025-07-01)
    SPECIAL_ZONE = "special_zone"  # Đặc khu (island units since 2025-07-01)


VIETNAMESE_KIND = {
    Kind.PROVINCE: "Tỉnh",
    Kind.CITY: "Thành phố",
    Kind.URBAN_DISTRICT: "Quận",
    Kind.RURAL_DISTRICT: "Huyện",
    Kind.TOWN: "Thị xã",
    Kind.COMMUNE: "Xã",
    Kind.WARD: "Phường",
    Kind.TOWNSHIP: "Thị trấn",
    Kind.SPECIAL_ZONE: "Đặc khu",
}

KINDS_OF_LEVEL = {
    Level.PROVINCE: frozenset({Kind.PROVINCE, Kind.CITY}),
    Level.DISTRICT: frozenset({Kind.URBAN_DISTRICT, Kind.RURAL_DISTRICT, Kind.TOWN, Kind.CITY}),
    Level.COMMUNE: frozenset({Kind.COMMUNE, Kind.WARD, Kind.TOWNSHIP, Kind.SPECIAL_ZONE}),
}

# QĐ 124/2004/QĐ-TTg: 2, 3 and 5 digits (registry/law.py, "unit_code_lengths").
_LEVEL_OF_LENGTH = {2: Level.PROVINCE, 3: Level.DISTRICT, 5: Level.COMMUNE}


def level_of(code: str, field: str = "code") -> Level:
    """The level a code belongs to, by its number of digits; a typed error for anything else."""
    if not isinstance(code, str) or not code.isascii() or not code.isdigit() or len(code) not in _LEVEL_OF_LENGTH:
        raise InvalidUnitChange(field, "invalid_code", "must be 2 (province), 3 (district) or 5 (commune) digits")
    return _LEVEL_OF_LENGTH[len(code)]


def unit_id(code: str, since: date | None) -> str:
    """The stream id of the unit with this code established on `since` (None: before records begin)."""
    return f"unit:{code}:{'initial' if since is None else since.isoformat()}"


def code_of(unit_id: str) -> str:
    return unit_id.split(":")[1]


def full_name(kind: Kind, name: str) -> str:
    """'Huyện Tuần Giáo': the name as officers write it."""
    return f"{VIETNAMESE_KIND[kind]} {name}"


# -- events ------------------------------------------------------------------


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    basis: str = Field(min_length=1, max_length=500)
    """The legal act or official list the change rests on."""


class UnitEstablished(_Event):
    """Thành lập: a unit comes into force (or is recorded as in force since before records begin)."""

    code: str
    level: Level
    kind: Kind
    name: str = Field(min_length=1, max_length=200)
    parent_id: str | None
    effective_date: date | None


class UnitRenamed(_Event):
    """Đổi tên: a new name, or a new kind (a township becomes a commune, a district a town)."""

    name: str = Field(min_length=1, max_length=200)
    kind: Kind
    effective_date: date


class UnitReparented(_Event):
    """Điều chỉnh địa giới: the unit moves under another parent (every commune on 2025-07-01)."""

    parent_id: str
    effective_date: date


class UnitMerged(_Event):
    """Sáp nhập: the unit's whole territory goes into another unit of its level; the unit ends."""

    into_id: str
    effective_date: date


class UnitSplit(_Event):
    """Chia tách: the unit is divided between several units of its level; the unit ends.

    `default_id` is the successor a record under this unit is moved to when
    nothing more precise (an address) says otherwise.
    """

    into_ids: list[str] = Field(min_length=2)
    default_id: str
    effective_date: date


class UnitDissolved(_Event):
    """Giải thể: the unit ends without a successor of its level (every district on 2025-07-01).

    `successor_ids` names units of any level that took over its territory,
    e.g. an island district that became a special zone at commune level.
    """

    successor_ids: list[str] = Field(default_factory=list)
    effective_date: date


class ReorganisationApplied(BaseModel):
    """Sắp xếp đơn vị hành chính: written after every unit event of a reorganisation, as its record."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    effective_date: date
    basis: str = Field(min_length=1, max_length=500)
    established: int
    ended: int
    changed: int
    source: str


UnitEvent = UnitEstablished | UnitRenamed | UnitReparented | UnitMerged | UnitSplit | UnitDissolved
EVENT_TYPES: dict[str, type[BaseModel]] = {
    model.__name__: model
    for model in (UnitEstablished, UnitRenamed, UnitReparented, UnitMerged, UnitSplit, UnitDissolved)
}
REORGANISATION_STREAM_TYPE = "reorganisation"


def reorganisation_stream(effective_date: date) -> str:
    return f"reorganisation:{effective_date.isoformat()}"


# -- state -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Version:
    """What a unit was from `valid_from` until its next version (or its end)."""

    valid_from: date | None
    name: str
    kind: Kind
    parent_id: str | None


@dataclass(frozen=True, slots=True)
class Ending:
    effective_date: date
    how: Literal["merged", "split", "dissolved"]
    successor_ids: tuple[str, ...]
    default_id: str | None
    basis: str


@dataclass(frozen=True, slots=True)
class UnitState:
    unit_id: str
    code: str
    level: Level
    versions: tuple[Version, ...]
    ended: Ending | None = None
    version: int = 1  # of the stream

    @property
    def established(self) -> date | None:
        return self.versions[0].valid_from

    @property
    def current(self) -> Version:
        return self.versions[-1]

    @property
    def valid_to(self) -> date | None:
        """The first day the unit is no longer in force (None: still in force)."""
        return None if self.ended is None else self.ended.effective_date

    def at(self, day: date) -> Version | None:
        """The unit as it was on `day`, or None if it was not in force."""
        if self.ended is not None and day >= self.ended.effective_date:
            return None
        found = None
        for version in self.versions:
            if version.valid_from is not None and version.valid_from > day:
                break
            found = version
        return found

    def spans(self) -> Iterable[tuple[date | None, date | None, Version]]:
        """(from, to, version) for each version: from inclusive, to exclusive, None unbounded."""
        versions = self.versions
        for index, version in enumerate(versions):
            to = versions[index + 1].valid_from if index + 1 < len(versions) else self.valid_to
            if to is None or version.valid_from is None or to > version.valid_from:
                yield version.valid_from, to, version


class Directory(Protocol):
    """What decide may ask about the other units."""

    def get(self, unit_id: str) -> UnitState | None: ...

    def with_code(self, code: str) -> Iterable[UnitState]: ...

    def children_of(self, unit_id: str) -> Iterable[UnitState]: ...


def evolve(state: UnitState | None, event: BaseModel) -> UnitState:
    """Fold one event into a unit's state (the event was decided, so it is applied as is)."""
    if isinstance(event, UnitEstablished):
        first = Version(event.effective_date, event.name, event.kind, event.parent_id)
        return UnitState(unit_id(event.code, event.effective_date), event.code, event.level, (first,))
    if state is None:
        raise ValueError(f"{type(event).__name__} before UnitEstablished")
    now = state.current
    if isinstance(event, UnitRenamed):
        return _versioned(state, replace(now, valid_from=event.effective_date, name=event.name, kind=event.kind))
    if isinstance(event, UnitReparented):
        return _versioned(state, replace(now, valid_from=event.effective_date, parent_id=event.parent_id))
    if isinstance(event, UnitMerged):
        ending = Ending(event.effective_date, "merged", (event.into_id,), event.into_id, event.basis)
    elif isinstance(event, UnitSplit):
        ending = Ending(event.effective_date, "split", tuple(event.into_ids), event.default_id, event.basis)
    elif isinstance(event, UnitDissolved):
        ending = Ending(event.effective_date, "dissolved", tuple(event.successor_ids), None, event.basis)
    else:
        raise TypeError(f"not an administrative unit event: {type(event).__name__}")
    return replace(state, ended=ending, version=state.version + 1)


def _versioned(state: UnitState, version: Version) -> UnitState:
    versions = state.versions
    if versions[-1].valid_from == version.valid_from:  # two changes on one day: the later one stands
        versions = versions[:-1]
    return replace(state, versions=(*versions, version), version=state.version + 1)


# -- commands ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EstablishUnit:
    code: str
    kind: Kind
    name: str
    parent_id: str | None
    effective_date: date | None
    basis: str

    @property
    def unit_id(self) -> str:
        return unit_id(self.code, self.effective_date)


@dataclass(frozen=True, slots=True)
class RenameUnit:
    unit_id: str
    name: str
    kind: Kind
    effective_date: date
    basis: str


@dataclass(frozen=True, slots=True)
class ReparentUnit:
    unit_id: str
    parent_id: str
    effective_date: date
    basis: str


@dataclass(frozen=True, slots=True)
class MergeUnit:
    unit_id: str
    into_id: str
    effective_date: date
    basis: str


@dataclass(frozen=True, slots=True)
class SplitUnit:
    unit_id: str
    into_ids: tuple[str, ...]
    default_id: str
    effective_date: date
    basis: str


@dataclass(frozen=True, slots=True)
class DissolveUnit:
    unit_id: str
    effective_date: date
    basis: str
    successor_ids: tuple[str, ...] = ()


UnitCommand = EstablishUnit | RenameUnit | ReparentUnit | MergeUnit | SplitUnit | DissolveUnit
EndCommand = MergeUnit | SplitUnit | DissolveUnit


@dataclass(frozen=True, slots=True)
class Reorganise:
    """One legal act: end, establish, move and rename units, all effective the same day."""

    effective_date: date
    basis: str
    ends: Sequence[EndCommand] = ()
    establishments: Sequence[EstablishUnit] = ()
    changes: Sequence[RenameUnit | ReparentUnit] = ()


@dataclass(frozen=True, slots=True)
class Change:
    """Events decided for one stream: append them at `expected_version`."""

    stream_id: str
    expected_version: int
    events: tuple[BaseModel, ...]


# -- decide ------------------------------------------------------------------


def decide(state: UnitState | None, command: UnitCommand, units: Directory) -> list[BaseModel]:
    """The events `command` produces for the unit in `state`, or a typed error; pure."""
    if isinstance(command, EstablishUnit):
        return [_establish(state, command, units)]
    current = _existing(state, command.unit_id, command.effective_date)
    if isinstance(command, RenameUnit):
        return [_rename(current, command)]
    if isinstance(command, ReparentUnit):
        return [_reparent(current, command, units)]
    event = _end(current, command, units)
    _check_successors(current, command, units)
    _check_no_children(current, command.effective_date, units)
    return [event]


def _establish(state: UnitState | None, c: EstablishUnit, units: Directory) -> UnitEstablished:
    level = level_of(c.code)
    if state is not None:
        raise InvalidUnitChange("code", "already_established", "a unit with this code was established on that date")
    _check_kind(level, c.kind)
    event = _event(UnitEstablished, code=c.code, level=level, kind=c.kind, name=c.name,
                   parent_id=c.parent_id, effective_date=c.effective_date, basis=c.basis)  # fmt: skip
    if level is Level.DISTRICT and c.effective_date is not None and c.effective_date >= TWO_TIER_FROM:
        raise InvalidUnitChange("level", "no_district_level", "there is no district level since 2025-07-01")
    for other in units.with_code(c.code):
        if _overlaps(other, c.effective_date):
            raise InvalidUnitChange("code", "code_in_use", "another unit with this code is in force from that date")
    _check_parent(level, c.parent_id, c.effective_date, units)
    return event


def _existing(state: UnitState | None, unit: str, day: date) -> UnitState:
    if state is None:
        raise InvalidUnitChange("unit_id", "unknown_unit", "no such administrative unit")
    if state.ended is not None:
        raise InvalidUnitChange("unit_id", "unit_ended", "the unit is no longer in force")
    established = state.established
    if established is not None and day < established:
        raise InvalidUnitChange("effective_date", "before_establishment", "is before the unit was established")
    last = state.current.valid_from
    if last is not None and day < last:
        raise InvalidUnitChange("effective_date", "before_last_change", "is before the unit's latest change")
    return state


def _rename(state: UnitState, c: RenameUnit) -> UnitRenamed:
    _check_kind(state.level, c.kind)
    event = _event(UnitRenamed, name=c.name, kind=c.kind, effective_date=c.effective_date, basis=c.basis)
    if (event.name, event.kind) == (state.current.name, state.current.kind):
        raise InvalidUnitChange("name", "no_change", "is the unit's name and kind already")
    return event


def _reparent(state: UnitState, c: ReparentUnit, units: Directory) -> UnitReparented:
    event = _event(UnitReparented, parent_id=c.parent_id, effective_date=c.effective_date, basis=c.basis)
    if c.parent_id == state.current.parent_id:
        raise InvalidUnitChange("parent_id", "no_change", "is the unit's parent already")
    _check_parent(state.level, c.parent_id, c.effective_date, units)
    return event


def _end(state: UnitState, c: EndCommand, units: Directory) -> BaseModel:
    if isinstance(c, MergeUnit):
        return _event(UnitMerged, into_id=c.into_id, effective_date=c.effective_date, basis=c.basis)
    if isinstance(c, SplitUnit):
        if len(set(c.into_ids)) != len(c.into_ids) or len(c.into_ids) < 2:
            raise InvalidUnitChange("into_ids", "invalid_split", "must name at least two different units")
        if c.default_id not in c.into_ids:
            raise InvalidUnitChange("default_id", "not_a_successor", "must be one of into_ids")
        return _event(UnitSplit, into_ids=list(c.into_ids), default_id=c.default_id,
                      effective_date=c.effective_date, basis=c.basis)  # fmt: skip
    if len(set(c.successor_ids)) != len(c.successor_ids):
        raise InvalidUnitChange("successor_ids", "duplicate", "names a unit twice")
    return _event(UnitDissolved, successor_ids=list(c.successor_ids), effective_date=c.effective_date, basis=c.basis)


def _check_successors(state: UnitState, c: EndCommand, units: Directory) -> None:
    if isinstance(c, MergeUnit):
        targets: Sequence[tuple[str, str]] = [("into_id", c.into_id)]
    elif isinstance(c, SplitUnit):
        targets = [(f"into_ids.{i}", target) for i, target in enumerate(c.into_ids)]
    else:
        targets = [(f"successor_ids.{i}", target) for i, target in enumerate(c.successor_ids)]
    for name, target_id in targets:
        if target_id == state.unit_id:
            raise InvalidUnitChange(name, "self", "a unit cannot succeed itself")
        target = units.get(target_id)
        if target is None:
            raise InvalidUnitChange(name, "unknown_unit", "no such administrative unit")
        if not isinstance(c, DissolveUnit) and target.level is not state.level:
            raise InvalidUnitChange(name, "wrong_level", "must be a unit of the same level")
        if target.ended is not None:
            raise InvalidUnitChange(name, "target_ended", "the unit is no longer in force")
        if target.at(c.effective_date) is None:
            raise InvalidUnitChange(name, "not_in_force", "the unit is not in force on the effective date")


def _check_no_children(state: UnitState, day: date, units: Directory) -> None:
    """A unit may end only once no unit lies under it from that day on (every commune keeps a parent)."""
    for child in units.children_of(state.unit_id):
        for _, to, version in child.spans():
            if version.parent_id == state.unit_id and (to is None or to > day):
                raise InvalidUnitChange(
                    "unit_id", "has_children", "units still lie under it on or after the effective date"
                )


def _check_kind(level: Level, kind: Kind) -> None:
    if kind not in KINDS_OF_LEVEL[level]:
        raise InvalidUnitChange("kind", "wrong_kind", f"is not a kind of {level.value}")


def _check_parent(level: Level, parent_id: str | None, day: date | None, units: Directory) -> None:
    """A province has no parent; a district lies in a province; a commune in a district until
    2025-07-01 and in a province from then (two-tier local government, NQ 202/2025/QH15)."""
    if level is Level.PROVINCE:
        if parent_id is not None:
            raise InvalidUnitChange("parent_id", "wrong_parent_level", "a province has no parent")
        return
    if parent_id is None:
        raise InvalidUnitChange("parent_id", "missing", f"a {level.value} needs a parent")
    parent = units.get(parent_id)
    if parent is None:
        raise InvalidUnitChange("parent_id", "unknown_unit", "no such administrative unit")
    if level is Level.DISTRICT:
        wanted = Level.PROVINCE
    else:
        wanted = Level.PROVINCE if day is not None and day >= TWO_TIER_FROM else Level.DISTRICT
    if parent.level is not wanted:
        raise InvalidUnitChange("parent_id", "wrong_parent_level", f"must be a {wanted.value} on that date")
    if parent.ended is not None:
        raise InvalidUnitChange("parent_id", "parent_ended", "the parent is no longer in force")
    if day is None:
        if parent.established is not None:
            raise InvalidUnitChange("parent_id", "not_in_force", "the parent was established later")
    elif parent.at(day) is None:
        raise InvalidUnitChange("parent_id", "not_in_force", "the parent is not in force on the effective date")


def _overlaps(unit: UnitState, since: date | None) -> bool:
    """Whether `unit` is in force on any day from `since` (None: from the beginning) on."""
    return unit.valid_to is None or since is None or unit.valid_to > since


def _event(model: type[_E], **values: object) -> _E:
    return build(model, values, InvalidUnitChange)


# -- reorganisation ----------------------------------------------------------


@dataclass
class Draft:
    """A directory with uncommitted changes on top: lets a reorganisation be checked as a whole."""

    base: Directory
    states: dict[str, UnitState] = field(default_factory=dict)
    codes: dict[str, set[str]] = field(default_factory=dict)
    children: dict[str, set[str]] = field(default_factory=dict)

    def get(self, unit_id: str) -> UnitState | None:
        state = self.states.get(unit_id)
        return state if state is not None else self.base.get(unit_id)

    def with_code(self, code: str) -> Iterable[UnitState]:
        ids = {u.unit_id for u in self.base.with_code(code)} | self.codes.get(code, set())
        return [s for s in map(self.get, sorted(ids)) if s is not None]

    def children_of(self, unit_id: str) -> Iterable[UnitState]:
        ids = {u.unit_id for u in self.base.children_of(unit_id)} | self.children.get(unit_id, set())
        return [s for s in map(self.get, sorted(ids)) if s is not None]

    def put(self, state: UnitState) -> None:
        self.states[state.unit_id] = state
        self.codes.setdefault(state.code, set()).add(state.unit_id)
        parent = state.current.parent_id
        if parent is not None:
            self.children.setdefault(parent, set()).add(state.unit_id)


def reorganise(act: Reorganise, units: Directory) -> list[Change]:
    """Decide a whole reorganisation, or raise the first rule it breaks (nothing is written).

    Order inside the act: units end (their successors may not exist yet),
    new units are established (their codes are free from that day), units
    move and are renamed; then every successor and every ended unit's
    children are checked against the result.
    """
    draft = Draft(units)
    decided: dict[str, tuple[int, list[BaseModel]]] = {}

    def record(unit: str, state: UnitState | None, events: list[BaseModel]) -> None:
        before, so_far = decided.get(unit, (0 if state is None else state.version, []))
        so_far.extend(events)
        decided[unit] = (before, so_far)
        for event in events:
            state = evolve(state, event)
        assert state is not None
        draft.put(state)

    for index, command in enumerate((*act.ends, *act.establishments, *act.changes)):
        if command.effective_date != act.effective_date:
            raise InvalidUnitChange(f"commands.{index}.effective_date", "not_the_act_date", "must be the act's date")
    for command in act.ends:
        state = _existing(draft.get(command.unit_id), command.unit_id, command.effective_date)
        record(command.unit_id, state, [_end(state, command, draft)])
    for establish in act.establishments:
        state_or_none = draft.get(establish.unit_id)
        record(establish.unit_id, state_or_none, [_establish(state_or_none, establish, draft)])
    for change in act.changes:
        state = _existing(draft.get(change.unit_id), change.unit_id, change.effective_date)
        event = _rename(state, change) if isinstance(change, RenameUnit) else _reparent(state, change, draft)
        record(change.unit_id, state, [event])
    for command in act.ends:
        ended = draft.get(command.unit_id)
        assert ended is not None
        _check_successors(replace(ended, ended=None), command, draft)
        _check_no_children(ended, command.effective_date, draft)
    return [Change(unit, before, tuple(events)) for unit, (before, events) in decided.items()]


__all__ = [
    "EVENT_TYPES",
    "KINDS_OF_LEVEL",
    "REORGANISATION_STREAM_TYPE",
    "STREAM_TYPE",
    "VIETNAMESE_KIND",
    "Change",
    "Directory",
    "DissolveUnit",
    "Draft",
    "Ending",
    "EstablishUnit",
    "InvalidUnitChange",
    "Kind",
    "Level",
    "MergeUnit",
    "RenameUnit",
    "ReorganisationApplied",
    "Reorganise",
    "ReparentUnit",
    "SplitUnit",
    "UnitCommand",
    "UnitDissolved",
    "UnitEstablished",
    "UnitEvent",
    "UnitMerged",
    "UnitRenamed",
    "UnitReparented",
    "UnitSplit",
    "UnitState",
    "Version",
    "code_of",
    "decide",
    "evolve",
    "full_name",
    "level_of",
    "reorganisation_stream",
    "reorganise",
    "unit_id",
]
