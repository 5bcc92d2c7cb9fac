"""The child record (hồ sơ trẻ em): one stream of events per child, pure decide/evolve, no I/O.

`decide(state, command, context)` returns the events a command produces or
raises a typed error naming the field; `evolve(state, event)` folds an event
in. `context` brings what a rule needs from outside the stream: today's
date, the administrative units (a commune code must exist on the date it is
used), and, for a merge, the surviving record.

Personal data that may have to be erased (the child's name, personal
identification number, the caregivers' names, the address below the commune)
travels in the `personal` part of the few events that carry it. In the
domain that part is an `Identity`; at rest it is `Sealed` with the child's
own key, and once the key is destroyed it reads as `Erased`
(registry/sealing.py). The events are generic in that part
(`ChildRegistered[Identity]`, `ChildRegistered[Sealed]`), so no event needs
rewriting when a child's data is erased: only the key goes.

Time: every event says when it happened (a date of the world: a move, a
support given last month) apart from when it was recorded (the store's
recorded_at). A child is a child until the 16th birthday (Law on Children
2016 Art. 1): that is computed from the date of birth, never stored, and
every group membership ends on that day.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .circumstances import ETHNIC_GROUPS, GROUPS, MONEY_SUPPORTS, AtRiskCategory, SupportKind, SupportLevel
from .errors import InvalidInput
from .events import build
from .law import CHILD_AGE_LIMIT
from .personal import ERASED, Erased, Parts, Sealed, event_type

STREAM_TYPE = "child"


def stream_id(child_id: str) -> str:
    return f"child:{child_id}"


class InvalidChildChange(InvalidInput):
    """Raised when a command on a child record breaks a rule; nothing is written."""


class Sex(StrEnum):
    MALE = "male"
    FEMALE = "female"
    UNKNOWN = "unknown"


class DatePrecision(StrEnum):
    """How much of a date of birth is known (an abandoned child's may be estimated)."""

    DAY = "day"
    MONTH = "month"
    YEAR = "year"


class BirthRegistration(StrEnum):
    """Đăng ký khai sinh."""

    REGISTERED = "registered"
    NOT_REGISTERED = "not_registered"
    UNKNOWN = "unknown"


class Relation(StrEnum):
    FATHER = "father"
    MOTHER = "mother"
    RELATIVE = "relative"  # người thân thích
    NON_RELATIVE = "non_relative"
    GUARDIAN = "guardian"  # người giám hộ
    FACILITY = "facility"  # cơ sở trợ giúp xã hội


class CaregiverStatus(StrEnum):
    ALIVE = "alive"
    DECEASED = "deceased"
    MISSING = "missing"
    IMPRISONED = "imprisoned"
    IN_FACILITY = "in_facility"
    INCAPABLE = "incapable"  # mất năng lực hành vi dân sự


class DisabilityLevel(StrEnum):
    NONE = "none"
    MILD = "mild"  # nhẹ
    SEVERE = "severe"  # nặng
    SEVERE_SPECIAL = "severe_special"  # đặc biệt nặng


class SchoolStatus(StrEnum):
    NOT_SCHOOL_AGE = "not_school_age"
    PRESCHOOL = "preschool"
    PRIMARY = "primary"
    LOWER_SECONDARY = "lower_secondary"
    UPPER_SECONDARY = "upper_secondary"
    DROPPED_OUT = "dropped_out"
    NEVER_ENROLLED = "never_enrolled"


# -- the personal part -------------------------------------------------------


def _text(value: str) -> str:
    """Vietnamese text as one form (NFC) with single spaces: 'Tuần' typed either way is one name."""
    return " ".join(unicodedata.normalize("NFC", value).split())


class Identity(BaseModel):
    """Thông tin cá nhân: what erasure removes. Sealed at rest with the child's own key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    full_name: str = Field(min_length=1, max_length=200)
    personal_id: str | None = None  # số định danh cá nhân, 12 digits
    personal_id_mismatch_reason: str | None = Field(default=None, max_length=500)
    caregiver_names: list[str | None] = Field(default_factory=list)  # in the order of `caregivers`
    address: str | None = Field(default=None, max_length=300)  # thôn/ấp/bản, street: below the commune

    @field_validator("full_name", "address")
    @classmethod
    def _normalise(cls, value: str | None) -> str | None:
        return None if value is None else _text(value)

    @field_validator("caregiver_names")
    @classmethod
    def _normalise_all(cls, values: list[str | None]) -> list[str | None]:
        return [None if value is None or not value.strip() else _text(value) for value in values]


P = TypeVar("P", Identity, Sealed, Erased)


class Caregiver(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    relation: Relation
    status: CaregiverStatus = CaregiverStatus.ALIVE


class Details(BaseModel):
    """The record's fields that are not erased: what statistics and rules need."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    date_of_birth: date
    date_of_birth_precision: DatePrecision = DatePrecision.DAY
    sex: Sex
    ethnicity: str | None = None  # GSO code, 01-54
    birth_registration: BirthRegistration = BirthRegistration.UNKNOWN
    caregivers: list[Caregiver] = Field(default_factory=list)


# -- events --------------------------------------------------------------------


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChildRegistered(_Event, Generic[P]):
    """Đăng ký: a child enters the register, living in a commune from a date."""

    child_id: str
    details: Details
    commune_code: str
    residence_from: date
    personal: P


class ChildDetailsCorrected(_Event, Generic[P]):
    """Đính chính: fields of the record corrected, with the reason; the whole new version is kept."""

    fields: list[str] = Field(min_length=1)
    reason: str = Field(min_length=1, max_length=1000)
    details: Details
    personal: P


class ChildMoved(_Event, Generic[P]):
    """Chuyển nơi cư trú: the child lives in another commune from `on`."""

    from_commune: str
    to_commune: str
    on: date
    personal: P  # the new address below the commune


class ChildClassified(_Event):
    """The child is found to be in a group of Art. 10(1) (and sub-group) from `on`."""

    group: str
    subgroup: str | None
    on: date
    evidence: str = Field(min_length=1, max_length=500)  # the decision, assessment or document


class ChildDeclassified(_Event):
    group: str
    on: date  # the first day the child is no longer in the group
    reason: str = Field(min_length=1, max_length=1000)


class ChildFlaggedAtRisk(_Event):
    """Trẻ em có nguy cơ: at risk of falling into special circumstances, by category."""

    category: AtRiskCategory
    on: date
    note: str | None = Field(default=None, max_length=1000)


class ChildAtRiskCleared(_Event):
    category: AtRiskCategory
    on: date
    reason: str = Field(min_length=1, max_length=1000)


class SupportRecorded(_Event):
    """A support received, at a level of protection (Law Arts. 47-50)."""

    kind: SupportKind
    level: SupportLevel
    provider: str = Field(min_length=1, max_length=300)
    on: date
    amount_vnd: int | None = Field(default=None, ge=0)  # whole dong; money supports only


class DisabilityRecorded(_Event):
    level: DisabilityLevel
    on: date
    certificate: str | None = Field(default=None, max_length=200)


class SchoolStatusRecorded(_Event):
    status: SchoolStatus
    on: date
    school: str | None = Field(default=None, max_length=300)


class ChildDied(_Event):
    on: date


class ChildMergedInto(_Event):
    """This record was a duplicate: it points to the surviving record and takes no more commands."""

    survivor_id: str
    reason: str = Field(min_length=1, max_length=1000)


class ChildMergeAbsorbed(_Event):
    """On the surviving record: a duplicate now points here (its history stays in its own stream)."""

    merged_id: str


class ChildDataErased(_Event):
    """The child's key was destroyed: the personal part of every event is unreadable from now on."""

    legal_basis: str = Field(min_length=1, max_length=500)


PERSONAL_EVENTS: dict[str, Any] = {"ChildRegistered": ChildRegistered, "ChildDetailsCorrected": ChildDetailsCorrected,
                                   "ChildMoved": ChildMoved}  # fmt: skip
PLAIN_EVENTS: dict[str, type[BaseModel]] = {
    model.__name__: model
    for model in (
        ChildClassified,
        ChildDeclassified,
        ChildFlaggedAtRisk,
        ChildAtRiskCleared,
        SupportRecorded,
        DisabilityRecorded,
        SchoolStatusRecorded,
        ChildDied,
        ChildMergedInto,
        ChildMergeAbsorbed,
        ChildDataErased,
    )  # fmt: skip
}


PARTS = Parts(PERSONAL_EVENTS, PLAIN_EVENTS, Identity)


# -- state -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Residence:
    commune_code: str
    valid_from: date


@dataclass(frozen=True, slots=True)
class Spell:
    """A time in a group or at-risk category: from `start` until `end` (exclusive; None: open)."""

    code: str
    subgroup: str | None
    start: date
    end: date | None
    evidence: str


@dataclass(frozen=True, slots=True)
class ChildState:
    child_id: str
    details: Details
    personal: Identity | Erased
    residences: tuple[Residence, ...]
    groups: tuple[Spell, ...] = ()
    at_risk: tuple[Spell, ...] = ()
    supports: tuple[SupportRecorded, ...] = ()
    disability: DisabilityRecorded | None = None
    school: SchoolStatusRecorded | None = None
    died_on: date | None = None
    merged_into: str | None = None
    absorbed: tuple[str, ...] = ()
    erased: bool = False
    version: int = 1

    @property
    def sixteenth_birthday(self) -> date:
        return add_years(self.details.date_of_birth, CHILD_AGE_LIMIT)

    def is_child_on(self, day: date) -> bool:
        """Under 16 and alive on `day` (Law on Children 2016 Art. 1): computed, never stored."""
        alive = self.died_on is None or day < self.died_on
        return self.details.date_of_birth <= day < self.sixteenth_birthday and alive

    def residence_on(self, day: date) -> Residence:
        """The residence in force on `day` (the first one, for a day before the record's first residence)."""
        return ([r for r in self.residences if r.valid_from <= day] or list(self.residences[:1]))[-1]

    def commune_on(self, day: date) -> str | None:
        found = None
        for residence in self.residences:
            if residence.valid_from <= day:
                found = residence.commune_code
        return found

    @property
    def commune(self) -> str:
        return self.residences[-1].commune_code

    def groups_on(self, day: date) -> list[Spell]:
        """The groups the child is in on `day`: open spells end at the 16th birthday and at death."""
        return [s for s in self.groups if s.start <= day < self._end(s) and self.is_child_on(day)]

    def _end(self, spell: Spell) -> date:
        ends = [self.sixteenth_birthday] + [e for e in (spell.end, self.died_on) if e is not None]
        return min(ends)


def add_years(day: date, years: int) -> date:
    """The same day `years` later; 29 February becomes 1 March in a common year (the day is completed)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return date(day.year + years, 3, 1)


def evolve(state: ChildState | None, event: BaseModel) -> ChildState:
    """Fold one event into the record (the event was decided, so it is applied as is)."""
    if isinstance(event, ChildRegistered):
        personal = event.personal if isinstance(event.personal, Identity | Erased) else ERASED
        return ChildState(
            event.child_id, event.details, personal, (Residence(event.commune_code, event.residence_from),)
        )
    if state is None:
        raise ValueError(f"{event_type(event)} before ChildRegistered")
    state = replace(state, version=state.version + 1)
    if isinstance(event, ChildDetailsCorrected):
        return replace(state, details=event.details, personal=_readable(event.personal, state))
    if isinstance(event, ChildMoved):
        personal = state.personal
        if isinstance(personal, Identity) and isinstance(event.personal, Identity):
            personal = personal.model_copy(update={"address": event.personal.address})
        return replace(state, residences=(*state.residences, Residence(event.to_commune, event.on)), personal=personal)
    if isinstance(event, ChildClassified):
        spell = Spell(event.group, event.subgroup, event.on, None, event.evidence)
        return replace(state, groups=(*state.groups, spell))
    if isinstance(event, ChildDeclassified):
        return replace(state, groups=_close(state.groups, event.group, event.on))
    if isinstance(event, ChildFlaggedAtRisk):
        spell = Spell(event.category.value, None, event.on, None, event.note or "")
        return replace(state, at_risk=(*state.at_risk, spell))
    if isinstance(event, ChildAtRiskCleared):
        return replace(state, at_risk=_close(state.at_risk, event.category.value, event.on))
    if isinstance(event, SupportRecorded):
        return replace(state, supports=(*state.supports, event))
    if isinstance(event, DisabilityRecorded):
        return replace(state, disability=event)
    if isinstance(event, SchoolStatusRecorded):
        return replace(state, school=event)
    if isinstance(event, ChildDied):
        return replace(state, died_on=event.on)
    if isinstance(event, ChildMergedInto):
        return replace(state, merged_into=event.survivor_id)
    if isinstance(event, ChildMergeAbsorbed):
        return replace(state, absorbed=(*state.absorbed, event.merged_id))
    if isinstance(event, ChildDataErased):
        return replace(state, personal=ERASED, erased=True)
    raise TypeError(f"not a child event: {type(event).__name__}")


def _readable(personal: Identity | Sealed | Erased, state: ChildState) -> Identity | Erased:
    return personal if isinstance(personal, Identity) and not state.erased else ERASED


def _close(spells: tuple[Spell, ...], code: str, day: date) -> tuple[Spell, ...]:
    return tuple(replace(s, end=day) if s.code == code and s.end is None else s for s in spells)


# -- commands ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewCaregiver:
    relation: Relation
    status: CaregiverStatus = CaregiverStatus.ALIVE
    name: str | None = None


@dataclass(frozen=True, slots=True)
class RegisterChild:
    child_id: str
    full_name: str
    date_of_birth: date
    sex: Sex
    commune_code: str
    residence_from: date
    date_of_birth_precision: DatePrecision = DatePrecision.DAY
    ethnicity: str | None = None
    personal_id: str | None = None
    personal_id_mismatch_reason: str | None = None
    birth_registration: BirthRegistration = BirthRegistration.UNKNOWN
    caregivers: tuple[NewCaregiver, ...] = ()
    address: str | None = None


CORRECTABLE = ("full_name", "date_of_birth", "date_of_birth_precision", "sex", "ethnicity", "personal_id",
               "personal_id_mismatch_reason", "birth_registration", "caregivers", "address")  # fmt: skip


@dataclass(frozen=True, slots=True)
class CorrectChild:
    """Correct fields of the record: `changes` maps field names of CORRECTABLE to their new values."""

    child_id: str
    changes: dict[str, Any]
    reason: str


@dataclass(frozen=True, slots=True)
class MoveChild:
    child_id: str
    to_commune: str
    on: date
    address: str | None = None


@dataclass(frozen=True, slots=True)
class ClassifyChild:
    child_id: str
    group: str
    on: date
    evidence: str
    subgroup: str | None = None


@dataclass(frozen=True, slots=True)
class DeclassifyChild:
    child_id: str
    group: str
    on: date
    reason: str


@dataclass(frozen=True, slots=True)
class FlagAtRisk:
    child_id: str
    category: AtRiskCategory
    on: date
    note: str | None = None


@dataclass(frozen=True, slots=True)
class ClearAtRisk:
    child_id: str
    category: AtRiskCategory
    on: date
    reason: str


@dataclass(frozen=True, slots=True)
class RecordSupport:
    child_id: str
    kind: SupportKind
    level: SupportLevel
    provider: str
    on: date
    amount_vnd: int | None = None


@dataclass(frozen=True, slots=True)
class RecordDisability:
    child_id: str
    level: DisabilityLevel
    on: date
    certificate: str | None = None


@dataclass(frozen=True, slots=True)
class RecordSchoolStatus:
    child_id: str
    status: SchoolStatus
    on: date
    school: str | None = None


@dataclass(frozen=True, slots=True)
class RecordDeath:
    child_id: str
    on: date


@dataclass(frozen=True, slots=True)
class MergeChild:
    """Merge this (duplicate) record into `survivor_id`: decided on the duplicate, absorbed by the survivor."""

    child_id: str
    survivor_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class EraseChildData:
    child_id: str
    legal_basis: str


ChildCommand = (
    RegisterChild | CorrectChild | MoveChild | ClassifyChild | DeclassifyChild | FlagAtRisk | ClearAtRisk
    | RecordSupport | RecordDisability | RecordSchoolStatus | RecordDeath | MergeChild | EraseChildData
)  # fmt: skip


class Communes(Protocol):
    """What the children register asks of the administrative units (registry.gazetteer.Gazetteer)."""

    def find(self, code: str, on: date) -> Any: ...

    def province_codes(self) -> frozenset[str]: ...


@dataclass(frozen=True)
class Context:
    today: date
    units: Communes
    survivor: ChildState | None = None  # for MergeChild: the record merged into


# -- decide ------------------------------------------------------------------


def decide(state: ChildState | None, command: ChildCommand, context: Context) -> list[BaseModel]:
    """The events `command` produces, or a typed error naming the field; pure."""
    if isinstance(command, RegisterChild):
        if state is not None:
            raise InvalidChildChange("child_id", "already_registered", "a child with this id is registered")
        return [_register(command, context)]
    if state is None:
        raise InvalidChildChange("child_id", "unknown_child", "no child record with this id")
    if state.merged_into is not None:
        raise InvalidChildChange("child_id", "merged", "the record was merged into another; use the surviving one")
    if state.erased:
        raise InvalidChildChange("child_id", "erased", "the record's personal data was erased; it takes no changes")
    if isinstance(command, EraseChildData):
        return [_valid(ChildDataErased, legal_basis=command.legal_basis)]
    if isinstance(command, CorrectChild):
        return [_correct(state, command, context)]
    if isinstance(command, MergeChild):
        return [_merge(state, command, context)]
    if isinstance(command, RecordDeath):
        if state.died_on is not None:
            raise InvalidChildChange("on", "already_deceased", "the child's death is recorded already")
        _within_life(state, command.on, context, "on")
        if command.on <= max(_fact_dates(state)):
            raise InvalidChildChange("on", "before_recorded_events", "is not after facts already recorded")
        return [ChildDied(on=command.on)]
    if isinstance(command, MoveChild):
        return [_move(state, command, context)]
    if isinstance(command, ClassifyChild | DeclassifyChild):
        return [_classify(state, command, context)]
    if isinstance(command, FlagAtRisk | ClearAtRisk):
        return [_at_risk(state, command, context)]
    if isinstance(command, RecordSupport):
        _within_life(state, command.on, context, "on")
        money = command.kind in MONEY_SUPPORTS
        if money and command.amount_vnd is None:
            raise InvalidChildChange("amount_vnd", "missing", "a support in money needs its amount in dong")
        if not money and command.amount_vnd is not None:
            raise InvalidChildChange("amount_vnd", "not_money", "only supports in money have an amount")
        return [_valid(SupportRecorded, kind=command.kind, level=command.level, provider=command.provider,
                       on=command.on, amount_vnd=command.amount_vnd)]  # fmt: skip
    if isinstance(command, RecordDisability):
        _within_life(state, command.on, context, "on")
        return [_valid(DisabilityRecorded, level=command.level, on=command.on, certificate=command.certificate)]
    if isinstance(command, RecordSchoolStatus):
        _within_life(state, command.on, context, "on")
        return [_valid(SchoolStatusRecorded, status=command.status, on=command.on, school=command.school)]
    raise TypeError(f"not a child command: {type(command).__name__}")


def _register(c: RegisterChild, context: Context) -> ChildRegistered[Identity]:
    if not c.child_id or len(c.child_id) > 100:
        raise InvalidChildChange("child_id", "invalid", "must be 1-100 characters")
    caregivers = [Caregiver(relation=g.relation, status=g.status) for g in c.caregivers]
    details = _valid(Details, date_of_birth=c.date_of_birth, date_of_birth_precision=c.date_of_birth_precision,
                     sex=c.sex, ethnicity=c.ethnicity, birth_registration=c.birth_registration,
                     caregivers=caregivers)  # fmt: skip
    identity = _valid(Identity, full_name=c.full_name, personal_id=c.personal_id,
                      personal_id_mismatch_reason=c.personal_id_mismatch_reason,
                      caregiver_names=[g.name for g in c.caregivers], address=c.address)  # fmt: skip
    _check_record(details, identity, context, registering_on=context.today)
    if c.residence_from < c.date_of_birth:
        raise InvalidChildChange("residence_from", "before_birth", "is before the date of birth")
    if c.residence_from > context.today:
        raise InvalidChildChange("residence_from", "in_the_future", "is after today")
    _check_commune(c.commune_code, c.residence_from, context, "commune_code")
    return ChildRegistered[Identity](child_id=c.child_id, details=details, commune_code=c.commune_code,
                                     residence_from=c.residence_from, personal=identity)  # fmt: skip


def _correct(state: ChildState, c: CorrectChild, context: Context) -> ChildDetailsCorrected[Identity]:
    unknown = sorted(set(c.changes) - set(CORRECTABLE))
    if unknown:
        raise InvalidChildChange(f"changes.{unknown[0]}", "not_correctable", "is not a correctable field")
    if not c.changes:
        raise InvalidChildChange("changes", "empty", "names no field")
    if not isinstance(state.personal, Identity):
        raise InvalidChildChange("child_id", "erased", "the record's personal data was erased")
    details = state.details.model_dump()
    personal = state.personal.model_dump()
    for name, value in c.changes.items():
        if name == "caregivers":
            givers = [g if isinstance(g, NewCaregiver) else NewCaregiver(**g) for g in value]
            details["caregivers"] = [Caregiver(relation=g.relation, status=g.status) for g in givers]
            personal["caregiver_names"] = [g.name for g in givers]
        elif name in Details.model_fields:
            details[name] = value
        else:
            personal[name] = value
    new_details = _valid(Details, **details, prefix="changes")
    new_personal = _valid(Identity, **personal, prefix="changes")
    if (new_details, new_personal) == (state.details, state.personal):
        raise InvalidChildChange("changes", "no_change", "changes nothing")
    _check_record(new_details, new_personal, context, registering_on=None, state=state)
    return _valid(ChildDetailsCorrected[Identity], fields=sorted(c.changes), reason=c.reason,
                  details=new_details, personal=new_personal)  # fmt: skip


def _check_record(
    details: Details,
    identity: Identity,
    context: Context,
    *,
    registering_on: date | None,
    state: ChildState | None = None,
) -> None:
    born = details.date_of_birth
    if born > context.today:
        raise InvalidChildChange("date_of_birth", "in_the_future", "is after today")
    if registering_on is not None and add_years(born, CHILD_AGE_LIMIT) <= registering_on:
        raise InvalidChildChange("date_of_birth", "not_a_child", f"the person is {CHILD_AGE_LIMIT} or older today")
    if state is not None:
        earliest = min(_fact_dates(state))
        if state.died_on is not None and state.died_on <= born:
            raise InvalidChildChange("date_of_birth", "after_death", "is not before the date of death")
        if born > earliest:
            raise InvalidChildChange("date_of_birth", "after_recorded_events", "is after dates already recorded")
    if details.ethnicity is not None and details.ethnicity not in ETHNIC_GROUPS:
        raise InvalidChildChange("ethnicity", "unknown_ethnicity", "is not a code of the 54 ethnic groups (01-54)")
    if len(identity.caregiver_names) != len(details.caregivers):
        raise InvalidChildChange("caregivers", "mismatch", "names and caregivers differ in number")
    if identity.personal_id is not None:
        check_personal_id(identity.personal_id, details, context.units.province_codes(),
                          identity.personal_id_mismatch_reason)  # fmt: skip


def check_personal_id(number: str, details: Details, provinces: frozenset[str], override: str | None) -> None:
    """Số định danh cá nhân: 12 digits; digits 1-3 a province code, 4 sex and century, 5-6 the year of birth.

    The structure is that of Circular 59/2021/TT-BCA (registry/law.py,
    "personal_id_structure", to verify). A number inconsistent with the
    record's sex or year of birth is refused unless the officer gives the
    reason it is accepted anyway (real records have errors to correct, not to
    block): `personal_id_mismatch_reason`. The format is never overridden.
    """
    if len(number) != 12 or not number.isascii() or not number.isdigit():
        raise InvalidChildChange("personal_id", "invalid_format", "must be 12 digits")
    if number[0] != "0" or number[1:3] not in provinces:
        raise InvalidChildChange("personal_id", "unknown_province", "digits 1-3 are not a province code")
    digit = int(number[3])
    century = 1900 + 100 * (digit // 2)
    year = century + int(number[4:6])
    problems = []
    if year != details.date_of_birth.year:
        problems.append(("personal_id", "year_mismatch", "digits 4-6 do not give the year of birth"))
    if details.sex is not Sex.UNKNOWN and (digit % 2 == 1) != (details.sex is Sex.FEMALE):
        problems.append(("personal_id", "sex_mismatch", "digit 4 does not match the sex"))
    if problems and not (override and override.strip()):
        raise InvalidChildChange(*problems[0])


def _check_commune(code: str, day: date, context: Context, field_name: str) -> None:
    if not isinstance(code, str) or len(code) != 5 or not code.isdigit():
        raise InvalidChildChange(field_name, "invalid_code", "must be a 5-digit commune code")
    if context.units.find(code, day) is None:
        raise InvalidChildChange(field_name, "unknown_commune", f"no commune has this code on {day.isoformat()}")


def _within_life(state: ChildState, day: date, context: Context, field_name: str) -> None:
    """A fact about the child must fall within the child's life, and not after today."""
    if day < state.details.date_of_birth:
        raise InvalidChildChange(field_name, "before_birth", "is before the date of birth")
    if state.died_on is not None and day >= state.died_on:
        raise InvalidChildChange(field_name, "after_death", "is on or after the date of death")
    if day > context.today:
        raise InvalidChildChange(field_name, "in_the_future", "is after today")


def _fact_dates(state: ChildState) -> list[date]:
    """The dates of every dated fact on the record (a birth or death must not leave any outside the life)."""
    dates = [r.valid_from for r in state.residences]
    dates += [d for s in state.groups + state.at_risk for d in (s.start, s.end) if d is not None]
    dates += [s.on for s in state.supports]
    dates += [f.on for f in (state.disability, state.school) if f is not None]
    return dates


def _move(state: ChildState, c: MoveChild, context: Context) -> ChildMoved[Identity]:
    _within_life(state, c.on, context, "on")
    if c.on <= state.residences[-1].valid_from:
        raise InvalidChildChange("on", "before_last_move", "is not after the child's latest residence began")
    if c.to_commune == state.commune:
        raise InvalidChildChange("to_commune", "same_commune", "the child already lives in this commune")
    _check_commune(c.to_commune, c.on, context, "to_commune")
    if not isinstance(state.personal, Identity):
        raise InvalidChildChange("child_id", "erased", "the record's personal data was erased")
    personal = state.personal.model_copy(update={"address": None if c.address is None else _text(c.address)})
    return ChildMoved[Identity](from_commune=state.commune, to_commune=c.to_commune, on=c.on, personal=personal)


def _classify(state: ChildState, c: ClassifyChild | DeclassifyChild, context: Context) -> BaseModel:
    group = GROUPS.get(c.group)
    if group is None:
        raise InvalidChildChange("group", "unknown_group", "is not a group of Law on Children Art. 10(1)")
    _within_life(state, c.on, context, "on")
    open_spell = next((s for s in state.groups if s.code == c.group and s.end is None), None)
    if isinstance(c, DeclassifyChild):
        if open_spell is None:
            raise InvalidChildChange("group", "not_classified", "the child is not in this group")
        if c.on <= open_spell.start:
            raise InvalidChildChange("on", "before_classification", "is not after the child entered the group")
        return _valid(ChildDeclassified, group=c.group, on=c.on, reason=c.reason)
    if c.on >= state.sixteenth_birthday:
        raise InvalidChildChange("on", "aged_out", f"the child was {CHILD_AGE_LIMIT} by then (Law on Children Art. 1)")
    if open_spell is not None:
        raise InvalidChildChange("group", "already_classified", "the child is in this group already")
    if c.subgroup is not None and c.subgroup not in group.subgroups:
        raise InvalidChildChange("subgroup", "unknown_subgroup", "is not a sub-group of this group")
    if c.subgroup is None and group.subgroups:
        raise InvalidChildChange("subgroup", "missing", "this group has sub-groups: name one")
    last = max((s.end or s.start for s in state.groups if s.code == c.group), default=None)
    if last is not None and c.on < last:
        raise InvalidChildChange("on", "overlaps", "is before the end of the child's last time in this group")
    return _valid(ChildClassified, group=c.group, subgroup=c.subgroup, on=c.on, evidence=c.evidence)


def _at_risk(state: ChildState, c: FlagAtRisk | ClearAtRisk, context: Context) -> BaseModel:
    _within_life(state, c.on, context, "on")
    open_spell = next((s for s in state.at_risk if s.code == c.category.value and s.end is None), None)
    if isinstance(c, ClearAtRisk):
        if open_spell is None:
            raise InvalidChildChange("category", "not_flagged", "the child is not flagged at risk in this category")
        if c.on <= open_spell.start:
            raise InvalidChildChange("on", "before_flag", "is not after the flag was raised")
        return _valid(ChildAtRiskCleared, category=c.category, on=c.on, reason=c.reason)
    if c.on >= state.sixteenth_birthday:
        raise InvalidChildChange("on", "aged_out", f"the child was {CHILD_AGE_LIMIT} by then (Law on Children Art. 1)")
    if open_spell is not None:
        raise InvalidChildChange("category", "already_flagged", "the child is flagged in this category already")
    last = max((s.end or s.start for s in state.at_risk if s.code == c.category.value), default=None)
    if last is not None and c.on < last:
        raise InvalidChildChange("on", "overlaps", "is before the end of the last flag in this category")
    return _valid(ChildFlaggedAtRisk, category=c.category, on=c.on, note=c.note)


def _merge(state: ChildState, c: MergeChild, context: Context) -> ChildMergedInto:
    survivor = context.survivor
    if c.survivor_id == state.child_id:
        raise InvalidChildChange("survivor_id", "self", "a record cannot be merged into itself")
    if survivor is None or survivor.child_id != c.survivor_id:
        raise InvalidChildChange("survivor_id", "unknown_child", "no child record with this id")
    if survivor.merged_into is not None or survivor.erased:
        raise InvalidChildChange("survivor_id", "not_active", "the surviving record is merged or erased")
    return _valid(ChildMergedInto, survivor_id=c.survivor_id, reason=c.reason)


def absorb(survivor: ChildState, merged_id: str) -> ChildMergeAbsorbed:
    """The survivor's side of a merge (decided with MergeChild on the duplicate)."""
    if survivor.merged_into is not None or survivor.erased:
        raise InvalidChildChange("survivor_id", "not_active", "the surviving record is merged or erased")
    return ChildMergeAbsorbed(merged_id=merged_id)


_M = TypeVar("_M", bound=BaseModel)


def _valid(model: type[_M], prefix: str = "", **values: Any) -> _M:
    return build(model, values, InvalidChildChange, prefix)


def replay(events: Sequence[BaseModel]) -> ChildState | None:
    state = None
    for event in events:
        state = evolve(state, event)
    return state


__all__ = [
    "CORRECTABLE",
    "ERASED",
    "PARTS",
    "PERSONAL_EVENTS",
    "PLAIN_EVENTS",
    "STREAM_TYPE",
    "BirthRegistration",
    "Caregiver",
    "CaregiverStatus",
    "ChildAtRiskCleared",
    "ChildClassified",
    "ChildCommand",
    "ChildDataErased",
    "ChildDeclassified",
    "ChildDetailsCorrected",
    "ChildDied",
    "ChildFlaggedAtRisk",
    "ChildMergeAbsorbed",
    "ChildMergedInto",
    "ChildMoved",
    "ChildRegistered",
    "ChildState",
    "ClassifyChild",
    "ClearAtRisk",
    "Context",
    "CorrectChild",
    "DatePrecision",
    "DeclassifyChild",
    "Details",
    "DisabilityLevel",
    "DisabilityRecorded",
    "EraseChildData",
    "Erased",
    "FlagAtRisk",
    "Identity",
    "InvalidChildChange",
    "MergeChild",
    "MoveChild",
    "NewCaregiver",
    "RecordDeath",
    "RecordDisability",
    "RecordSchoolStatus",
    "RecordSupport",
    "RegisterChild",
    "Relation",
    "Residence",
    "SchoolStatus",
    "SchoolStatusRecorded",
    "Sealed",
    "Sex",
    "Spell",
    "SupportRecorded",
    "absorb",
    "add_years",
    "check_personal_id",
    "decide",
    "event_type",
    "evolve",
    "replay",
    "stream_id",
]
