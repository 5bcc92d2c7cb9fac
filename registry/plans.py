"""Plans and their targets (Kế hoạch thực hiện công tác trẻ em): what a province or district set out to reach.

Every year a People's Committee (UBND) issues a plan for its child work with
measurable targets (chỉ tiêu): An Giang's Kế hoạch 177/KH-UBND of 28/02/2024
numbers 24 of them (seed S004), Hồng Ngự's 2020 plan sets three (S002). The
targets follow the national indicator set (Thông tư 13/2021/TT-BLĐTBXH) and
the definitions of domain.md section 5.1, whose indicator codes they use, so
that progress can be measured against the figures the registry computes
(projections/indicators.py) or that officers enter (registry/observations.py).

A pure core in the manner of the other aggregates: `decide(state, command,
units)` returns the events a command produces or raises `InvalidPlan` naming
the field, and `evolve(state, event)` folds an event. One stream per plan,
`plan:{plan_id}`:

- `PlanIssued`: the issuing unit (a code in force on the day of issue), the
  document (number and date), the period (years) and the indicators;
- `PlanRevised`: a later decision replaces indicators (same code) or adds
  new ones, with the decision and its reason;
- `PlanIndicatorWithdrawn`: a decision drops an indicator, with its reason.

An indicator's target is a decimal in its unit of measure (`Measure`): a
percentage as 0-100 ("dưới 5%" is 5), a rate per 100,000 children, per 1,000
live births, a count, or whole dong. `direction` says which side of the target
is met: `at_most` ("giảm ... xuống dưới 5%"), `at_least` ("đạt 90%"), and for
targets of change, `reduce_by` / `increase_by` a percentage of a baseline (a
fixed year, "so với năm 2023", or else the previous year, "hằng năm"); their
measure is `percent_change`, the change itself (-20 is a fall by a fifth).
`strict` marks the targets the plan words as strictly below or above ("dưới",
"trên") rather than "xuống", "đạt". `applies_to` marks a target set for each
unit of a lower level ("cấp xã 20 triệu đồng/01 xã").

Plans carry no personal data.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from .errors import ConcurrencyError, InvalidInput
from .events import Metadata, NewEvent, build
from .hashing import canonical_json
from .law import start_of_day
from .service import decide_again
from .store import AppendResult, EventStore
from .units import Level, level_of

STREAM_TYPE = "plan"
PLAN_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,79}$")
INDICATOR_CODE = r"^[a-z][a-z0-9_]{1,59}$"

# The levels from the top down: a target may be set for the issuing level or any level below it.
_RANK = {Level.PROVINCE: 0, Level.DISTRICT: 1, Level.COMMUNE: 2}


class InvalidPlan(InvalidInput):
    """Raised when a plan, a revision or a withdrawal breaks a rule; nothing is written."""


class Measure(StrEnum):
    """Đơn vị tính of a target."""

    PERCENT = "percent"  # tỷ lệ %, 0-100
    PERCENT_CHANGE = "percent_change"  # mức tăng/giảm so với năm gốc, % (negative: a fall)
    PER_100K = "per_100k"  # tỷ suất trên 100.000 trẻ em
    PER_1000_LIVE_BIRTHS = "per_1000_live_births"  # tỷ suất trên 1.000 trẻ đẻ sống
    COUNT = "count"  # số lượng (trẻ em, xã, ...)
    VND = "vnd"  # đồng


class Direction(StrEnum):
    AT_MOST = "at_most"  # giảm xuống (dưới) ...
    AT_LEAST = "at_least"  # đạt (trên) ...
    REDUCE_BY = "reduce_by"  # giảm ...% so với năm gốc
    INCREASE_BY = "increase_by"  # tăng ...% so với năm gốc


# A ratio (numerator / denominator) times its scale is the figure in the measure's unit.
SCALE: dict[Measure, int] = {Measure.PERCENT: 100, Measure.PER_100K: 100_000, Measure.PER_1000_LIVE_BIRTHS: 1000}

# The range a target (and an observed figure) can take in each measure.
_BOUNDS: dict[Measure, tuple[Decimal, Decimal]] = {
    Measure.PERCENT: (Decimal(0), Decimal(100)),
    Measure.PER_100K: (Decimal(0), Decimal(100_000)),
    Measure.PER_1000_LIVE_BIRTHS: (Decimal(0), Decimal(1000)),
    Measure.COUNT: (Decimal(0), Decimal(10**12)),
    Measure.VND: (Decimal(0), Decimal(10**15)),
    Measure.PERCENT_CHANGE: (Decimal(-100), Decimal(10_000)),
}
WHOLE = frozenset({Measure.COUNT, Measure.VND})  # counted in whole units
CHANGES = frozenset({Direction.REDUCE_BY, Direction.INCREASE_BY})


def check_amount(measure: Measure, amount: Decimal, at: str) -> None:
    """A typed error naming the field `at` if `amount` is outside the range of `measure`, or not whole where needed."""
    low, high = _BOUNDS[measure]
    if not low <= amount <= high:
        raise InvalidPlan(at, "out_of_range", f"must lie between {low} and {high} for {measure.value}")
    if measure in WHOLE and amount != amount.to_integral_value():
        raise InvalidPlan(at, "not_whole", f"must be a whole number for {measure.value}")


class PlanIndicator(BaseModel):
    """Một chỉ tiêu của kế hoạch: an indicator with its target, as the plan words it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(pattern=INDICATOR_CODE)  # domain.md section 5.1, e.g. cisc_rate
    number: str = Field(min_length=1, max_length=20)  # the plan's own label: "8" for An Giang's chỉ tiêu 8
    title: str = Field(min_length=1, max_length=500)  # Vietnamese, as in the plan
    measure: Measure
    direction: Direction
    strict: bool = False  # "dưới" / "trên": the target itself is not met
    target: Decimal = Field(max_digits=18, decimal_places=4)
    deadline_year: int = Field(ge=2000, le=2100)
    baseline_year: int | None = Field(default=None, ge=2000, le=2100)  # reduce_by/increase_by; None: previous year
    applies_to: Level | None = None  # None: the issuing unit itself
    source_text: str = Field(min_length=1, max_length=2000)  # the plan's sentence, verbatim


class PlanIssued(BaseModel):
    """Kế hoạch được ban hành: the issuing unit, the document, the period and the indicators."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    plan_id: str = Field(pattern=PLAN_ID.pattern)
    title: str = Field(min_length=1, max_length=500)
    issuing_unit: str  # the code of the People's Committee's unit, in force on `issued_on`
    document_number: str | None = Field(default=None, min_length=1, max_length=100)  # None: left blank
    issued_on: date
    issued_on_precision: Literal["day", "month"] = "day"  # "month": the day is blank in the document
    start_year: int = Field(ge=2000, le=2100)
    end_year: int = Field(ge=2000, le=2100)
    source: str = Field(min_length=1, max_length=500)  # where the text comes from
    indicators: list[PlanIndicator] = Field(min_length=1, max_length=200)


class PlanRevised(BaseModel):
    """Điều chỉnh kế hoạch: indicators replaced (same code) or added by a later decision."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    plan_id: str
    decision: str = Field(min_length=1, max_length=200)  # e.g. "Quyết định 123/QĐ-UBND"
    decided_on: date
    reason: str = Field(min_length=1, max_length=2000)
    indicators: list[PlanIndicator] = Field(min_length=1, max_length=200)


class PlanIndicatorWithdrawn(BaseModel):
    """Bãi bỏ một chỉ tiêu: a decision drops an indicator from the plan."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    plan_id: str
    code: str
    decision: str = Field(min_length=1, max_length=200)
    decided_on: date
    reason: str = Field(min_length=1, max_length=2000)


EVENT_TYPES: dict[str, type[BaseModel]] = {
    "PlanIssued": PlanIssued,
    "PlanRevised": PlanRevised,
    "PlanIndicatorWithdrawn": PlanIndicatorWithdrawn,
}


def stream_id(plan_id: str) -> str:
    return f"plan:{plan_id}"


# -- state ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlanState:
    """A plan as its events leave it: the indicators in force, in the plan's order, and what was withdrawn."""

    issued: PlanIssued
    indicators: tuple[PlanIndicator, ...]
    revisions: tuple[PlanRevised, ...] = ()
    withdrawn: tuple[PlanIndicatorWithdrawn, ...] = ()
    version: int = 1

    @property
    def plan_id(self) -> str:
        return self.issued.plan_id

    @property
    def level(self) -> Level:
        return level_of(self.issued.issuing_unit)

    def indicator(self, code: str) -> PlanIndicator | None:
        return next((i for i in self.indicators if i.code == code), None)


def evolve(state: PlanState | None, event: BaseModel) -> PlanState:
    """Fold one event into the plan; pure."""
    if isinstance(event, PlanIssued):
        if state is not None:
            raise ValueError(f"plan {event.plan_id} issued twice")
        return PlanState(event, tuple(event.indicators))
    if state is None:
        raise ValueError(f"{type(event).__name__} before the plan was issued")
    if isinstance(event, PlanRevised):
        new = {i.code: i for i in event.indicators}
        kept = tuple(new.pop(i.code, i) for i in state.indicators)
        withdrawn = tuple(w for w in state.withdrawn if w.code not in new)
        return replace(state, indicators=kept + tuple(new.values()), revisions=(*state.revisions, event),
                       withdrawn=withdrawn, version=state.version + 1)  # fmt: skip
    if isinstance(event, PlanIndicatorWithdrawn):
        return replace(state, indicators=tuple(i for i in state.indicators if i.code != event.code),
                       withdrawn=(*state.withdrawn, event), version=state.version + 1)  # fmt: skip
    raise ValueError(f"not a plan event: {type(event).__name__}")


# -- commands ------------------------------------------------------------------


class Units(Protocol):
    """What deciding needs of the administrative units (registry.gazetteer.Gazetteer implements it)."""

    def lookup(self, code: str, on: date, field: str = "code") -> Any: ...


@dataclass(frozen=True, slots=True)
class IssuePlan:
    plan_id: str
    title: str
    issuing_unit: str
    document_number: str | None
    issued_on: date
    start_year: int
    end_year: int
    source: str
    indicators: Sequence[Mapping[str, Any] | PlanIndicator]
    issued_on_precision: Literal["day", "month"] = "day"


@dataclass(frozen=True, slots=True)
class RevisePlan:
    plan_id: str
    decision: str
    decided_on: date
    reason: str
    indicators: Sequence[Mapping[str, Any] | PlanIndicator]


@dataclass(frozen=True, slots=True)
class WithdrawIndicator:
    plan_id: str
    code: str
    decision: str
    decided_on: date
    reason: str


PlanCommand = IssuePlan | RevisePlan | WithdrawIndicator


def decide(state: PlanState | None, command: PlanCommand, units: Units) -> list[BaseModel]:
    """The events `command` produces for the plan in `state`, or an `InvalidPlan` naming the field; pure."""
    if isinstance(command, IssuePlan):
        return [_issue(state, command, units)]
    if state is None:
        raise InvalidPlan("plan_id", "unknown_plan", "no plan was issued under this id")
    if command.decided_on < state.issued.issued_on:
        raise InvalidPlan("decided_on", "before_issue", "must not be before the plan was issued")
    if isinstance(command, RevisePlan):
        return [_revise(state, command)]
    if state.indicator(command.code) is None:
        reason = "withdrawn" if any(w.code == command.code for w in state.withdrawn) else "unknown_indicator"
        raise InvalidPlan("code", reason, "is not an indicator in force in this plan")
    values = dict(plan_id=state.plan_id, code=command.code, decision=command.decision,
                  decided_on=command.decided_on, reason=command.reason)  # fmt: skip
    return [build(PlanIndicatorWithdrawn, values, InvalidPlan)]


def _issue(state: PlanState | None, c: IssuePlan, units: Units) -> PlanIssued:
    values = dict(plan_id=c.plan_id, title=c.title, issuing_unit=c.issuing_unit, document_number=c.document_number,
                  issued_on=c.issued_on, issued_on_precision=c.issued_on_precision, start_year=c.start_year,
                  end_year=c.end_year, source=c.source, indicators=list(c.indicators))  # fmt: skip
    event = build(PlanIssued, values, InvalidPlan)
    if state is not None:
        raise InvalidPlan("plan_id", "already_issued", "a plan was already issued under this id")
    if event.end_year < event.start_year:
        raise InvalidPlan("end_year", "before_start", "must not be before start_year")
    if event.issued_on.year > event.end_year:
        raise InvalidPlan("issued_on", "after_period", "must not be after the plan's period")
    level = level_of(event.issuing_unit, "issuing_unit")
    units.lookup(event.issuing_unit, event.issued_on, "issuing_unit")  # the unit must exist on the day of issue
    _check_indicators(event.indicators, event.start_year, level)
    return event


def _revise(state: PlanState, c: RevisePlan) -> PlanRevised:
    values = dict(plan_id=state.plan_id, decision=c.decision, decided_on=c.decided_on, reason=c.reason,
                  indicators=list(c.indicators))  # fmt: skip
    event = build(PlanRevised, values, InvalidPlan)
    _check_indicators(event.indicators, state.issued.start_year, state.level)
    if all(state.indicator(i.code) == i for i in event.indicators):
        raise InvalidPlan("indicators", "no_change", "the revision changes no indicator")
    return event


def _check_indicators(indicators: Sequence[PlanIndicator], start_year: int, level: Level) -> None:
    seen: set[str] = set()
    for n, indicator in enumerate(indicators):
        at = f"indicators.{n}"
        if indicator.code in seen:
            raise InvalidPlan(f"{at}.code", "duplicate", "another indicator of the plan has this code")
        seen.add(indicator.code)
        check_target(indicator, start_year, level, at)


def check_target(indicator: PlanIndicator, start_year: int, level: Level, at: str = "indicator") -> None:
    """The rules between an indicator's fields (each field alone is checked by its schema)."""
    changes = indicator.direction in CHANGES
    if changes != (indicator.measure is Measure.PERCENT_CHANGE):
        message = "reduce_by and increase_by targets, and only they, are measured in percent_change"
        raise InvalidPlan(f"{at}.measure", "direction_mismatch", message)
    if changes:
        most = Decimal(100) if indicator.direction is Direction.REDUCE_BY else Decimal(10_000)
        if not Decimal(0) < indicator.target <= most:
            raise InvalidPlan(f"{at}.target", "out_of_range", f"a change must be above 0 and at most {most}")
    else:
        check_amount(indicator.measure, indicator.target, f"{at}.target")
        if indicator.baseline_year is not None:
            raise InvalidPlan(f"{at}.baseline_year", "not_a_change", "only reduce_by and increase_by have a baseline")
    if indicator.deadline_year < start_year:
        raise InvalidPlan(f"{at}.deadline_year", "before_period", "must not be before the plan's start year")
    if indicator.baseline_year is not None and indicator.baseline_year >= indicator.deadline_year:
        raise InvalidPlan(f"{at}.baseline_year", "not_before_deadline", "must be before the deadline year")
    if indicator.applies_to is not None and _RANK[indicator.applies_to] < _RANK[level]:
        raise InvalidPlan(f"{at}.applies_to", "above_issuer", "must be the issuing unit's level or a lower one")


def is_met(indicator: PlanIndicator, actual: Any) -> bool:
    """Whether a figure (in the indicator's measure; for changes, the change in percent) meets the target.

    `actual` is anything that compares with a Decimal exactly (Decimal, int, fractions.Fraction).
    """
    target = indicator.target
    if indicator.direction is Direction.AT_MOST:
        return bool(actual < target if indicator.strict else actual <= target)
    if indicator.direction is Direction.AT_LEAST:
        return bool(actual > target if indicator.strict else actual >= target)
    if indicator.direction is Direction.REDUCE_BY:
        return bool(-actual > target if indicator.strict else -actual >= target)
    return bool(actual > target if indicator.strict else actual >= target)


# -- the application layer -------------------------------------------------------


def fold(events: Sequence[tuple[str, Mapping[str, Any]]]) -> PlanState | None:
    """Fold stored events (type, data) into a plan."""
    state: PlanState | None = None
    for event_type, data in events:
        state = evolve(state, EVENT_TYPES[event_type].model_validate(data))
    return state


async def load(store: EventStore, plan_id: str) -> PlanState | None:
    """The plan as the store holds it (None if it was never issued)."""
    return fold([(e.event_type, e.data) for e in await store.read_stream(stream_id(plan_id))])


def _occurred(event: BaseModel) -> date:
    """Business time: the day of the document that issued, revised or withdrew."""
    if isinstance(event, PlanIssued):
        return event.issued_on
    assert isinstance(event, PlanRevised | PlanIndicatorWithdrawn)
    return event.decided_on


async def execute(
    store: EventStore, units: Units, command: PlanCommand, metadata: Metadata, *, idempotency_key: str | None = None
) -> AppendResult:
    """Decide `command` on the stored plan and append its events; a rule broken writes nothing."""
    if idempotency_key is not None and (done := await store.recorded(idempotency_key)) is not None:
        return done

    async def attempt() -> AppendResult:
        state = await load(store, command.plan_id)
        events = decide(state, command, units)
        new = [NewEvent(type(e).__name__, e, start_of_day(_occurred(e))) for e in events]
        version = 0 if state is None else state.version
        return await store.append(stream_id(command.plan_id), STREAM_TYPE, version, new, metadata,
                                  idempotency_key=idempotency_key)  # fmt: skip

    return await decide_again(attempt, retry=not isinstance(command, IssuePlan))


async def plan_ids(store: EventStore) -> list[str]:
    """The ids of every plan issued, in the order they were recorded."""
    found: dict[str, None] = {}
    async for batch in store.iterate(stream_types=[STREAM_TYPE], batch=1000):
        for event in batch:
            if event.event_type == "PlanIssued":
                found[str(event.data["plan_id"])] = None
    return list(found)


# -- the seed plans ----------------------------------------------------------------

DATA_DIR = Path(__file__).resolve().parent / "data" / "plans"
SEED_METADATA = Metadata(actor_id="system:plans-loader", actor_role="system", source="registry/data/plans")


def read_seed(path: Path) -> IssuePlan:
    """A plan file of registry/data/plans (the fields of `PlanIssued`) as the command that issues it.

    A file that is not a plan is a typed error naming the file and the field.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidPlan(path.name, "unreadable", f"is not a readable JSON file ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise InvalidPlan(path.name, "not_an_object", "must hold one JSON object, the plan")
    try:
        event = build(PlanIssued, data, InvalidPlan)
    except InvalidInput as exc:
        raise InvalidPlan(f"{path.name}:{exc.field}", exc.reason, exc.message) from None
    fields = event.model_dump(exclude={"indicators"})
    return IssuePlan(**fields, indicators=tuple(event.indicators))


def seed_files(directory: Path = DATA_DIR) -> list[Path]:
    return sorted(directory.glob("*.json"))


def check_seed(path: Path, units: Units) -> PlanIssued:
    """Every rule a plan file must pass before it is loaded (the unit must exist on the day of issue)."""
    command = read_seed(path)
    try:
        event = decide(None, command, units)[0]
    except InvalidInput as exc:
        raise type(exc)(f"{path.name}:{exc.field}", exc.reason, exc.message) from None
    assert isinstance(event, PlanIssued)
    return event


@dataclass
class SeedReport:
    """What a load of the seed plans did: plans written, plans already there, plans stored otherwise."""

    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    diverged: list[str] = field(default_factory=list)  # issued with other content: left as they are

    def summary(self) -> str:
        return f"{len(self.written)} written, {len(self.unchanged)} already loaded, {len(self.diverged)} differ"


async def load_seed_plans(
    store: EventStore, units: Units, *, directory: Path = DATA_DIR, metadata: Metadata = SEED_METADATA
) -> SeedReport:
    """Issue the plans of the seed files that the store does not hold yet; idempotent.

    A plan already issued with the same content is left alone (a rerun writes
    nothing); one issued with other content (edited since, by a revision or
    another source) is reported in `diverged` and never overwritten. The
    append carries an idempotency key made of the plan's content, so a retry
    after a lost reply writes nothing either.
    """
    report = SeedReport()
    for path in seed_files(directory):
        event = check_seed(path, units)
        state = await load(store, event.plan_id)
        if state is None:
            digest = hashlib.sha256(canonical_json(event.model_dump(mode="json"))).hexdigest()[:32]
            command = read_seed(path)
            try:
                await execute(store, units, command, metadata, idempotency_key=f"seed-plan:{event.plan_id}:{digest}")
                report.written.append(event.plan_id)
                continue
            except ConcurrencyError:  # another loader issued it a moment ago
                state = await load(store, event.plan_id)
                assert state is not None
        (report.unchanged if state.issued == event else report.diverged).append(event.plan_id)
    return report


__all__ = [
    "CHANGES",
    "DATA_DIR",
    "INDICATOR_CODE",
    "SEED_METADATA",
    "WHOLE",
    "SeedReport",
    "check_seed",
    "load_seed_plans",
    "read_seed",
    "seed_files",
    "EVENT_TYPES",
    "SCALE",
    "STREAM_TYPE",
    "Direction",
    "InvalidPlan",
    "IssuePlan",
    "Measure",
    "PlanCommand",
    "PlanIndicator",
    "PlanIndicatorWithdrawn",
    "PlanIssued",
    "PlanRevised",
    "PlanState",
    "RevisePlan",
    "Units",
    "WithdrawIndicator",
    "check_amount",
    "check_target",
    "decide",
    "evolve",
    "execute",
    "fold",
    "is_met",
    "load",
    "plan_ids",
    "stream_id",
]
