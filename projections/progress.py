"""Progress of a unit against a plan (tiến độ thực hiện chỉ tiêu): each target, the figure for the year, met or not.

For every indicator in force in the plan (registry/plans.py), the figure for
the unit and the calendar year comes from, in this order:

1. the registry's own events, through `projections.indicators.compute`, when
   the indicator is one it computes (`INDICATORS`) and the figure exists (a
   rate needs the child population entered for the year);
2. else the latest figure an officer entered (registry/observations.py), if
   it is in the indicator's measure;
3. else none, with the reason ("not observed").

Computed values are ratios; they are put into the target's measure exactly
(numerator / denominator x 100 for a percentage, x 100,000 per 100,000
children, x 1,000 per 1,000 live births; a count is the numerator; a change
is the ratio of change x 100), and compared with the target as fractions, so
"dưới 5%" is not met by a rounded 4.99995. `compute` measures a change
against the year before; a target against a fixed baseline ("giảm 20% ... so
với năm 2023", S004 chỉ tiêu 9) read in a later year is measured against the
baseline year's count instead. Each row says where its figure
came from: the `Value` with the records behind it, or the position of the
observation's event.

A target set for each unit of a lower level (`applies_to`, e.g. 20 million
dong per commune in Hồng Ngự's plan, seed S002) is not measured on a unit of
another level: its row says so rather than compare a district's total with
one commune's target.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal

import asyncpg

from registry.errors import InvalidInput, NotFound
from registry.observations import latest
from registry.plans import SCALE, Direction, Measure, PlanIndicator, is_met, load
from registry.store import EventStore
from registry.units import Level

from .indicators import INDICATORS, Value, compute

NOT_OBSERVED = "not observed"
_PLACES = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class Progress:
    """One target of the plan against the unit's figure for the year."""

    code: str
    number: str  # the plan's label of the target ("8" for An Giang's chỉ tiêu 8)
    title: str
    measure: Measure
    direction: Direction
    strict: bool
    target: Decimal
    deadline_year: int
    due: bool  # the year asked is the deadline year or later
    actual: Decimal | None  # the figure in the target's measure, rounded to 4 places (compared unrounded)
    met: bool | None  # None when there is no figure
    source: Literal["computed", "observed"] | None
    reason: str | None = None  # why there is no figure, or why one was not used
    numerator: int | None = None
    denominator: int | None = None
    computed: Value | None = None  # the computed value with its records (source "computed")
    observation_position: int | None = None  # the event of the figure entered (source "observed")


def in_measure(measure: Measure, value: Value) -> Fraction | None:
    """A computed value in the target's measure, exactly; None if there is none."""
    if measure in (Measure.COUNT, Measure.VND):
        return Fraction(value.numerator)
    if value.value is None:
        return None
    ratio = Fraction(value.value)
    if value.denominator:
        exact = Fraction(value.numerator, value.denominator) - (1 if measure is Measure.PERCENT_CHANGE else 0)
        if abs(float(exact) - value.value) < 1e-12:
            ratio = exact  # the exact figure behind the float
    return ratio * (100 if measure is Measure.PERCENT_CHANGE else SCALE[measure])


def _rounded(figure: Fraction) -> Decimal:
    return (Decimal(figure.numerator) / Decimal(figure.denominator)).quantize(_PLACES)


async def progress(
    conn: asyncpg.Connection, store: EventStore, plan_id: str, unit: str, level: Level, year: int,
    *, schema: str = "read", projection: str = "child_register", case_schema: str | None = None,
    case_projection: str = "case_register",
) -> list[Progress]:  # fmt: skip
    """Each indicator in force in the plan against the unit's figure for the calendar year `year`.

    `schema`/`projection` and `case_schema`/`case_projection` name the read
    models, as for `compute`. Raises NotFound for an unknown plan, and
    InvalidInput (field "year") for a year before the plan's period or after
    its last deadline.
    """
    plan = await load(store, plan_id)
    if plan is None:
        raise NotFound(f"no plan {plan_id}")
    last = max([plan.issued.end_year, *(i.deadline_year for i in plan.indicators)])
    if not plan.issued.start_year <= year <= last:
        raise InvalidInput("year", "outside_plan", f"must lie between {plan.issued.start_year} and {last}")
    ask = _Ask(conn, store, unit, level, year, dict(schema=schema, projection=projection, case_schema=case_schema,
                                                    case_projection=case_projection))  # fmt: skip
    return [await _row(ask, indicator) for indicator in plan.indicators]


@dataclass(frozen=True, slots=True)
class _Ask:
    conn: asyncpg.Connection
    store: EventStore
    unit: str
    level: Level
    year: int
    models: dict[str, Any]  # the read models' schemas and projection names, passed to `compute`

    async def compute(self, code: str, year: int) -> Value:
        return await compute(self.conn, self.store, code, self.level, self.unit, date(year, 1, 1),
                             date(year, 12, 31), **self.models)  # fmt: skip

    async def computed(self, indicator: PlanIndicator) -> Value:
        """The computed value; a change against a fixed baseline year ("so với năm 2023") is measured against
        that year's count, which `compute` gives as the denominator of the year after it."""
        value = await self.compute(indicator.code, self.year)
        base = indicator.baseline_year
        if indicator.measure is not Measure.PERCENT_CHANGE or base is None or base == self.year - 1:
            return value
        then = await self.compute(indicator.code, base + 1)  # its denominator: the baseline year's count
        change = value.numerator / then.denominator - 1 if then.denominator else None
        records = [f"baseline {base}: {r}" for r in then.denominator_records]
        return replace(value, denominator=then.denominator, value=change, denominator_records=records)


async def _row(ask: _Ask, indicator: PlanIndicator) -> Progress:
    base = Progress(
        indicator.code, indicator.number, indicator.title, indicator.measure, indicator.direction, indicator.strict,
        indicator.target, indicator.deadline_year, ask.year >= indicator.deadline_year, None, None, None,
    )  # fmt: skip

    def row(figure: Fraction, source: Literal["computed", "observed"], **more: Any) -> Progress:
        return replace(base, actual=_rounded(figure), met=is_met(indicator, figure), source=source, **more)

    if indicator.applies_to is not None and indicator.applies_to != ask.level:
        return replace(base, reason=f"the target is set for each {indicator.applies_to.value}")
    reasons = []
    if indicator.code in INDICATORS:
        value = await ask.computed(indicator)
        figure = in_measure(indicator.measure, value)
        if figure is not None:
            return row(figure, "computed", numerator=value.numerator, denominator=value.denominator, computed=value)
        reasons.append("not computable (no denominator for the year)")
    found = await latest(ask.store, ask.unit, indicator.code, ask.year)
    if found is not None:
        observed, position = found
        if observed.measure is indicator.measure:
            return row(Fraction(observed.value), "observed", numerator=observed.numerator,
                       denominator=observed.denominator, observation_position=position)  # fmt: skip
        reasons.append(f"observed in {observed.measure.value}, not in {indicator.measure.value}")
    else:
        reasons.append(NOT_OBSERVED)
    return replace(base, reason="; ".join(reasons))


__all__ = ["NOT_OBSERVED", "Progress", "in_measure", "progress"]
